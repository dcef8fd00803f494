package views

import (
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/atum/ops-console/static"
)

// scriptSrcs lists the src of every script of doc, failing on inline ones.
func scriptSrcs(t *testing.T, doc *html.Node) []string {
	t.Helper()
	var out []string
	for _, s := range findAll(doc, func(n *html.Node) bool { return n.Data == "script" }) {
		if s.FirstChild != nil {
			t.Errorf("inline script %q", text(s))
		}
		src, _ := attr(s, "src")
		out = append(out, src)
	}
	return out
}

func TestPasskeyScriptOnlyWherePasskeysAre(t *testing.T) {
	withKey := static.Path("js/console.js") + " " + static.Path("js/passkey.js")
	for name, c := range map[string]struct {
		page  func() string
		want  string
		check func(t *testing.T, doc *html.Node)
	}{
		"sign-in with a passkey only": {
			page: func() string {
				return render(t, SecondFactorPage(samplePage("staging"), SecondFactorLogin{Email: "a@x.io", Passkey: true}))
			},
			want: withKey,
			check: func(t *testing.T, doc *html.Node) {
				if len(byTestID(doc, "second-factor-form")) != 0 {
					t.Error("a code form without a code to type")
				}
				b := findAll(doc, func(n *html.Node) bool { v, _ := attr(n, "data-passkey"); return v == "login" })
				if len(b) != 1 {
					t.Fatalf("%d passkey buttons, want 1", len(b))
				}
				if begin, _ := attr(b[0], "data-begin"); begin != "/login/2fa/passkey/begin" {
					t.Errorf("data-begin = %q", begin)
				}
			},
		},
		"sign-in with a code only": {
			page: func() string {
				return render(t, SecondFactorPage(samplePage("staging"), SecondFactorLogin{Email: "a@x.io", Code: true}))
			},
			want: static.Path("js/console.js"),
			check: func(t *testing.T, doc *html.Node) {
				one(t, doc, "second-factor-form")
				if len(byTestID(doc, "second-factor-passkey")) != 0 {
					t.Error("a passkey button without a passkey")
				}
			},
		},
		"step-up with a passkey": {
			page: func() string {
				return render(t, StepUpPage(samplePage("staging"), StepUp{DraftID: "d+1", Label: "purge", Passkey: true}))
			},
			want: withKey,
			check: func(t *testing.T, doc *html.Node) {
				b := one(t, doc, "step-up-passkey")
				if finish, _ := attr(b, "data-finish"); finish != "/reauth/passkey/finish?draft=d%2B1" {
					t.Errorf("data-finish = %q", finish)
				}
				if n := len(findAll(one(t, doc, "step-up-form"), func(n *html.Node) bool {
					typ, _ := attr(n, "type")
					return n.Data == "button" && typ == "submit"
				})); n != 0 {
					t.Errorf("%d submit buttons: the password alone would not do", n)
				}
			},
		},
		"account with passkeys on": {
			page: func() string {
				return render(t, SecurityPage(samplePage("staging"), Security{Email: "a@x.io", PasskeysOn: true, Passkeys: 1,
					PasskeyRows: []PasskeyRow{{Key: "a-b_c", Name: "<b>key</b>", Added: "2026-12-01 10:00Z", LastUsed: "never"}}}))
			},
			want: withKey,
			check: func(t *testing.T, doc *html.Node) {
				rm := one(t, doc, "passkey-remove-form")
				if a, _ := attr(rm, "action"); a != "/account/passkeys/a-b_c/delete" {
					t.Errorf("remove action = %q", a)
				}
				if !strings.Contains(text(one(t, doc, "passkey-name")), "<b>key</b>") {
					t.Error("the passkey's name is not shown as typed")
				}
				add := one(t, doc, "passkey-add-form")
				if a, _ := attr(add, "action"); a != "/account/passkeys" {
					t.Errorf("add action = %q", a)
				}
				if v, _ := attr(add, "data-passkey"); v != "register" {
					t.Errorf("add form data-passkey = %q", v)
				}
			},
		},
		"account with passkeys off": {
			page: func() string {
				return render(t, SecurityPage(samplePage("staging"), Security{Email: "a@x.io", Passkeys: 1,
					PasskeyRows: []PasskeyRow{{Key: "k", Name: "old", Added: "2026-12-01 10:00Z", LastUsed: "never"}}}))
			},
			want: static.Path("js/console.js"),
			check: func(t *testing.T, doc *html.Node) {
				one(t, doc, "passkey-remove-form")
				one(t, doc, "passkeys-off")
				if len(byTestID(doc, "passkey-add-form")) != 0 {
					t.Error("an add form while passkeys are off")
				}
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			doc := parse(t, c.page())
			if got := strings.Join(scriptSrcs(t, doc), " "); got != c.want {
				t.Errorf("scripts = %q, want %q", got, c.want)
			}
			c.check(t, doc)
		})
	}
}
