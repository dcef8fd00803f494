package views

// AccountHit is one search result.
type AccountHit struct {
	Kind    string
	Label   string
	Detail  string
	Href    string
	Deleted bool
	Exact   bool
	// The search list's columns. Match says how the hit was found
	// ("exact", "lookalike", "prefix", "domain", "contains", "tenant",
	// "id"); Lookalike marks an address that only renders like the one
	// searched; Warnings say what makes the address suspicious.
	Match     string
	Lookalike bool
	Warnings  []string
	// Tenant is the user's tenant (the tenant's name for a tenant hit),
	// TenantHref its page, TenantFlags its state ("soft-deleted",
	// "suspended", "missing"); Workspaces counts its live workspaces and
	// Users a tenant's live users; LastLogin is a user's last sign-in.
	Tenant      string
	TenantHref  string
	TenantFlags []string
	Workspaces  string
	Users       string
	LastLogin   string
}

// Accounts is the account search page.
type Accounts struct {
	Query      string
	Reason     string
	NeedReason bool
	Error      string
	Searched   bool
	Hits       []AccountHit
}

// KV is one labelled value.
type KV struct {
	Label string
	Value string
	Flag  string // "", "warning" or "problem"
}

// DiagnosisLine is one line of the diagnosis checklist.
type DiagnosisLine struct {
	Name    string
	Verdict string
	Detail  string
	// NoHeartbeatsYet marks the line saying that no platform instance
	// reports heartbeats yet; it links the contract.
	NoHeartbeatsYet bool
}

// AccountPage is one user's or tenant's page.
type AccountPage struct {
	Kind       string // "user" or "tenant"
	ID         string
	User       []KV
	Tenant     []KV
	Workspaces []KV
	// WorkspaceRows are the newest workspaces; WorkspacesNote says how many
	// of how many are listed.
	WorkspaceRows  []AccountWorkspace
	WorkspacesNote string
	Duplicates     []AccountHit
	Cache          []KV
	Diagnosis      AccountDiagnosis
	Audit          []AuditRow
	TenantID       string
	TenantSlug     string
	Protected      bool
	ProtectKind    string
	ProtectID      string
	CanSupport     bool
	CanAdmin       bool
	// QStashHref opens the tenant's QStash messages (support and up, and
	// only for a slug QStash can label); QStashNote says why it is missing
	// for support.
	QStashHref string
	QStashNote string
	FormError  string
	Flash      string
	// LookupReason is the reason (ticket) the page was opened for, kept
	// in its links and forms; NeedReason says one is required.
	LookupReason string
	NeedReason   bool
	// TenantProtected says the tenant is protected: its cache entry is
	// invalidated only by an admin overriding the protection.
	TenantProtected bool
	// Trail is the protection history, the timeline and the summary for
	// the ticket.
	Trail AccountTrail
}

// AccountWorkspace is one of a tenant's workspaces.
type AccountWorkspace struct {
	ID, Name, Created, Deleted string
}
