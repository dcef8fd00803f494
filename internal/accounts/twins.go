package accounts

import (
	"fmt"
	"strings"
	"time"
)

// party is a user or one of its twins, as the diagnosis compares them.
type party struct {
	self       bool
	email      string
	lookalike  bool
	tenant     string
	tenantGone bool
	// workspaces counts live workspaces of a tenant not soft-deleted.
	workspaces int
	lastLogin  *time.Time
	deleted    bool
}

func selfParty(a Account, lookalike bool) party {
	p := party{self: true, email: a.User.Email, lookalike: lookalike, lastLogin: a.User.LastLoginAt, deleted: a.User.DeletedAt != nil}
	if a.Tenant == nil {
		p.tenantGone = true
		return p
	}
	p.tenant, p.tenantGone = a.Tenant.Slug, a.Tenant.DeletedAt != nil
	if !p.tenantGone {
		p.workspaces = a.LiveWorkspaces
	}
	return p
}

func twinParty(h Hit) party {
	p := party{email: h.Email, lookalike: h.Lookalike, tenant: h.Tenant, tenantGone: h.TenantDeleted, lastLogin: h.LastLogin, deleted: h.Deleted}
	if !h.TenantDeleted {
		p.workspaces = h.Workspaces
	}
	return p
}

// quoted is the party's email as a line shows it: a lookalike's with
// its non-ASCII characters escaped, so that the difference shows.
func (p party) quoted() string {
	if p.lookalike {
		return fmt.Sprintf("%+q", p.email)
	}
	return fmt.Sprintf("%q", p.email)
}

// name is how a line refers to the party.
func (p party) name() string {
	if p.self {
		return "this account"
	}
	return p.quoted()
}

// facts says the party's tenant, live workspaces and last sign-in.
func (p party) facts() string {
	tenant := "tenant " + p.tenant
	switch {
	case p.tenant == "":
		tenant = "its tenant is missing"
	case p.tenantGone:
		tenant += " (soft-deleted)"
	}
	login := "never signed in"
	if p.lastLogin != nil {
		login = "last sign-in " + stamp(*p.lastLogin)
	}
	facts := []string{tenant, plural(p.workspaces, "live workspace"), login}
	if p.deleted {
		facts = append(facts, "the user is soft-deleted")
	}
	return p.quoted() + " (" + strings.Join(facts, ", ") + ")"
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04Z") }

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// twinChecks are the lines about a user's twins: those whose email
// differs only in case, spaces or Unicode form, and lookalikes.
func twinChecks(a Account) []Check {
	if a.TwinsUnchecked != "" {
		return []Check{{Name: "Twins and lookalikes", Verdict: Warning, Detail: "not checked: " + a.TwinsUnchecked}}
	}
	var same, alike []Hit
	for _, h := range a.Duplicates {
		if h.Lookalike {
			alike = append(alike, h)
		} else {
			same = append(same, h)
		}
	}
	return []Check{twinCheck(a, same, false), twinCheck(a, alike, true)}
}

// twinCheck says which of the user and its twins holds the workspaces
// and which one the customer probably signs into.
func twinCheck(a Account, twins []Hit, lookalike bool) Check {
	c := Check{Name: "Accounts differing only in case, spaces or Unicode form", Verdict: OK,
		Detail: "no other user has this email in another case, spacing or Unicode form"}
	if lookalike {
		c.Name, c.Detail = "Accounts that look identical", "no other user's email looks identical to this one"
	}
	if len(twins) == 0 {
		return c
	}
	parties := []party{selfParty(a, lookalike)}
	for _, h := range twins {
		parties = append(parties, twinParty(h))
	}
	c.Detail = twinIntro(parties) + " " + holdersText(parties) + " " + signInText(parties)
	c.Verdict, c.Cause, c.rank = twinVerdict(parties)
	return c
}

func twinIntro(parties []party) string {
	self, twins := parties[0], parties[1:]
	var facts []string
	for _, p := range twins {
		facts = append(facts, p.facts())
	}
	if self.lookalike {
		return strings.Join(facts, "; ") + " " + verb(len(twins), "looks", "look") + " identical to this account's email " +
			self.quoted() + " but " + verb(len(twins), "is another address.", "are other addresses.")
	}
	return fmt.Sprintf("%s %s the normalised email of %s: %s.", plural(len(twins), "other user"),
		verb(len(twins), "shares", "share"), self.quoted(), strings.Join(facts, "; "))
}

func verb(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// holders names the parties that hold live workspaces.
func holders(parties []party) []string {
	var names []string
	for _, p := range parties {
		if p.workspaces > 0 {
			names = append(names, p.name())
		}
	}
	return names
}

func holdersText(parties []party) string {
	h := holders(parties)
	switch {
	case len(h) == 0:
		return verb(len(parties)-1, "Neither holds", "None of them holds") + " live workspaces."
	case len(h) == len(parties):
		return verb(len(parties)-1, "Both hold", "All of them hold") + " live workspaces."
	}
	return "The live workspaces are in " + strings.Join(h, " and ") + "."
}

// signer is the party with the most recent sign-in; ok is false when
// none has signed in.
func signer(parties []party) (p party, ok bool) {
	for _, q := range parties {
		if q.lastLogin != nil && (!ok || q.lastLogin.After(*p.lastLogin)) {
			p, ok = q, true
		}
	}
	return p, ok
}

func signInText(parties []party) string {
	p, ok := signer(parties)
	if !ok {
		return verb(len(parties)-1, "Neither has", "None of them has") + " signed in yet."
	}
	return "The customer probably signs into " + p.name() + " (the most recent sign-in, " + stamp(*p.lastLogin) + ")."
}

// twinVerdict is a problem when the customer probably signs into an
// account without workspaces while a twin holds them, or into a twin
// rather than this account.
func twinVerdict(parties []party) (verdict, cause string, rank int) {
	self := parties[0]
	p, ok := signer(parties)
	h := holders(parties)
	switch {
	case !ok:
		return Warning, fmt.Sprintf("There is an account %s this one, and none has signed in yet: the customer may be using either.", kinship(self)), rankUnusedTwin
	case p.workspaces == 0 && len(h) > 0:
		return Problem, fmt.Sprintf("The customer probably signs into %s (last sign-in %s), which has no live workspaces, while the workspaces are in %s.",
			p.name(), stamp(*p.lastLogin), strings.Join(h, " and ")), rankEmptyTwin
	case !p.self:
		return Problem, fmt.Sprintf("The customer probably signs into %s (last sign-in %s), an account %s this one, not into this account.",
			p.name(), stamp(*p.lastLogin), kinship(self)), rankOtherTwin
	}
	return Warning, "", 0
}

func kinship(self party) string {
	if self.lookalike {
		return "whose email looks identical to"
	}
	return "whose email differs only in case, spaces or Unicode form from"
}
