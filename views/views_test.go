package views

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/a-h/templ"
	"golang.org/x/net/html"

	"github.com/atum/ops-console/static"
)

// hostile is a tenant-supplied string that must never reach a page unescaped.
const hostile = `<script>alert(1)</script>`

// render renders c into a string, failing the test on error.
func render(t *testing.T, c templ.Component) string {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	return buf.String()
}

// parse parses a rendered page, failing the test on error.
func parse(t *testing.T, s string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc
}

// attr returns the value of n's attribute key and whether it is present.
func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// findAll returns every element below n for which match is true.
func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

// byTestID returns the elements with data-testid id.
func byTestID(doc *html.Node, id string) []*html.Node {
	return findAll(doc, func(n *html.Node) bool {
		v, ok := attr(n, "data-testid")
		return ok && v == id
	})
}

// one returns the single element with data-testid id.
func one(t *testing.T, doc *html.Node, id string) *html.Node {
	t.Helper()
	got := byTestID(doc, id)
	if len(got) != 1 {
		t.Fatalf("data-testid=%q: found %d elements, want 1", id, len(got))
	}
	return got[0]
}

// text returns the text content of n with whitespace collapsed.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// hasClass reports whether n's class attribute contains class.
func hasClass(n *html.Node, class string) bool {
	v, _ := attr(n, "class")
	for _, c := range strings.Fields(v) {
		if c == class {
			return true
		}
	}
	return false
}

// samplePage is a signed-in page in env.
func samplePage(env string) Page {
	return Page{
		Title:  "Overview",
		Active: "overview",
		Env:    env,
		DB: DBIdentity{
			Host:          "db.internal",
			Database:      "ops",
			User:          "console",
			ServerVersion: "17.2",
			SystemID:      "7412345678901234567",
		},
		User: &Operator{ID: 1, Email: "ada@example.com", Role: "admin"},
		Nav: []NavItem{
			{Key: "overview", Label: "Overview", Path: "/"},
			{Key: "audit", Label: "Audit", Path: "/audit"},
			{Key: "operators", Label: "Operators", Path: "/operators"},
		},
		Flash:   Flash{Kind: "ok", Text: "Saved"},
		Version: "v1.2.3",
	}
}

// pages renders every page component with sample data holding hostile
// strings wherever tenant or operator text can appear.
func pages() map[string]templ.Component {
	p := samplePage("production")
	anon := samplePage("production")
	anon.User = nil
	anon.Nav = nil
	anon.Flash = Flash{}
	return map[string]templ.Component{
		"login": LoginPage(anon, Login{Email: hostile, Error: hostile, Next: hostile}),
		"overview": OverviewPage(p, Overview{
			Tiles: []Tile{
				{Key: "neon", Name: "Neon Postgres", State: "ok", StateLabel: "OK", Detail: "PostgreSQL 17", Checked: "3s ago", Href: "/connections"},
				{Key: "redis", Name: "Upstash Redis", State: "error", StateLabel: "Error", Err: hostile, Checked: "12s ago"},
				{Key: "qstash", Name: "QStash", State: "not_configured", StateLabel: "Not configured", Checked: "never"},
			},
			Alerts: []Alert{
				{Level: "critical", Text: hostile, Href: "/connections"},
				{Level: "warning", Text: "Cache hit rate low"},
			},
		}),
		"overview-empty": OverviewPage(p, Overview{}),
		"fleet": FleetPage(p, Fleet{App: hostile, Listed: hostile, Err: hostile, Alerts: []Alert{{Level: "critical", Text: hostile, Href: "/fleet"}},
			Groups: []FleetGroup{{Name: hostile, Anchor: "group-x", Images: []string{hostile}, Machines: []FleetMachine{{
				ID: hostile, Name: hostile, Href: "/fleet/machines/x", State: hostile, Region: hostile, Digest: hostile, DigestShort: hostile,
				Release: hostile, LastStart: hostile, LastExit: hostile, OOM: hostile, Heartbeats: hostile, Flags: []string{hostile}}}}},
			GroupNames: []string{hostile}, Drift: []FleetDrift{{Key: hostile, InGroup: true, Cells: []FleetDriftCell{{Values: []FleetValue{{Value: hostile, Count: 1, Machines: hostile}}}}}},
			Unknown: []FleetHeartbeat{{Instance: hostile, Machine: hostile, Group: hostile, Environment: hostile, Reported: hostile}},
			Secrets: []FleetSecret{{Name: hostile, Digest: hostile, Updated: hostile}}}),
		"fleet-machine": FleetMachinePageView(p, FleetMachinePage{App: hostile, Group: hostile, Listed: hostile,
			Machine: FleetMachine{State: hostile, Flags: []string{hostile}}, Details: []KV{{Label: hostile, Value: hostile}},
			Env: []KV{{Label: hostile, Value: hostile}}, Events: []FleetEvent{{At: hostile, Type: hostile, Status: hostile, Source: hostile, Exit: hostile}}}),
		"audit": AuditPage(p, Audit{
			Filter: AuditFilter{Operator: hostile, Result: "ok", From: "2026-01-01"},
			Rows: []AuditRow{{
				ID: 9, At: "2026-01-02 10:00:00", Operator: "ada@example.com", Role: "admin",
				ClientIP: "10.0.0.1", Action: "cache.invalidate", Target: hostile, Reason: hostile,
				Result: "ok", RequestID: "req-1", Details: hostile,
			}},
			Error:     hostile,
			NextURL:   "/audit?before=9",
			ExportURL: "/audit/export.csv?result=ok",
			Results:   []string{"ok", "error", "denied"},
		}),
		"audit-empty": AuditPage(p, Audit{Results: []string{"ok"}}),
		"operators": OperatorsPage(p, Operators{
			Rows: []OperatorRow{
				{ID: 1, Email: "ada@example.com", Role: "admin", CreatedAt: "2026-01-01", LastLogin: "now", Sessions: 1, Self: true},
				{ID: 2, Email: hostile, Role: "support", CreatedAt: "2026-01-01", LastLogin: "never"},
				{ID: 3, Email: "old@example.com", Role: "viewer", Disabled: true, CreatedAt: "2025-01-01", LastLogin: "2025-06-01"},
			},
			Roles:    []string{"viewer", "support", "operator", "admin"},
			Error:    hostile,
			NewEmail: hostile,
		}),
		"error": ErrorPageView(p, ErrorPage{Status: 404, Message: hostile}),
	}
}

func TestEnvBanner(t *testing.T) {
	tests := []struct {
		env       string
		wantClass string
		wantText  string
	}{
		{"production", "env-production", "PRODUCTION"},
		{"staging", "env-staging", "STAGING"},
		{"development", "env-development", "DEVELOPMENT"},
		{"demo", "env-demo", "DEMO — DEMO DATA"},
		{"", "env-unknown", "ENVIRONMENT NOT SET"},
		{"prod", "env-unknown", "UNKNOWN ENVIRONMENT PROD"},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			doc := parse(t, render(t, FleetPage(samplePage(tt.env), Fleet{})))
			banner := one(t, doc, "env-banner")
			if !hasClass(banner, tt.wantClass) {
				c, _ := attr(banner, "class")
				t.Errorf("banner class = %q, want it to contain %q", c, tt.wantClass)
			}
			if got := text(banner); !strings.Contains(got, tt.wantText) {
				t.Errorf("banner text = %q, want it to contain %q", got, tt.wantText)
			}
			if tt.env != "demo" && strings.Contains(text(banner), "DEMO DATA") {
				t.Errorf("banner of %q says DEMO DATA", tt.env)
			}
			id := text(one(t, doc, "db-identity"))
			want := "db db.internal/ops as console · PostgreSQL 17.2 · system id 7412345678901234567"
			if id != want {
				t.Errorf("db identity = %q, want %q", id, want)
			}
		})
	}
}

func TestEnvBannerOnEveryPage(t *testing.T) {
	for name, c := range pages() {
		t.Run(name, func(t *testing.T) {
			doc := parse(t, render(t, c))
			if !hasClass(one(t, doc, "env-banner"), "env-production") {
				t.Error("banner is not the production banner")
			}
			one(t, doc, "db-identity")
		})
	}
}

func TestDBIdentityError(t *testing.T) {
	p := samplePage("staging")
	p.DB = DBIdentity{Err: hostile}
	out := render(t, FleetPage(p, Fleet{}))
	doc := parse(t, out)
	got := text(one(t, doc, "db-identity"))
	if want := "database identity unavailable: " + hostile; got != want {
		t.Errorf("db identity = %q, want %q", got, want)
	}
	if strings.Contains(out, "<script>") {
		t.Error("identity error is not escaped")
	}
}

func TestHostileTextEscaped(t *testing.T) {
	for name, c := range pages() {
		t.Run(name, func(t *testing.T) {
			out := render(t, c)
			if strings.Contains(out, "<script>") || strings.Contains(out, "alert(1)</script>") {
				t.Errorf("literal <script> in output:\n%s", out)
			}
		})
	}
	// The hostile text must still be there, as text, where it belongs.
	all := pages()
	checks := []struct {
		page, testid string
	}{
		{"overview", "tile-error"},
		{"operators", "operator-2"},
		{"operators", "form-error"},
		{"audit", "audit-row"},
		{"login", "login-error"},
	}
	for _, c := range checks {
		t.Run(c.page+"/"+c.testid, func(t *testing.T) {
			doc := parse(t, render(t, all[c.page]))
			if got := text(one(t, doc, c.testid)); !strings.Contains(got, hostile) {
				t.Errorf("text = %q, want it to contain %q", got, hostile)
			}
		})
	}
}

var (
	styleAttr    = regexp.MustCompile(`(?i)<[^>]*\sstyle\s*=`)
	eventAttr    = regexp.MustCompile(`(?i)<[^>]*\son[a-z]+\s*=`)
	jsURL        = regexp.MustCompile(`(?i)(href|action|src)\s*=\s*"\s*javascript:`)
	styleElement = regexp.MustCompile(`(?i)<style[\s>]`)
)

// hashedCSS is the stylesheet's content-hashed URL, cacheable for a year.
var hashedCSS = regexp.MustCompile(`^/static/css/console\.[0-9a-f]{12}\.css$`)

func TestCSPCompatible(t *testing.T) {
	for name, c := range pages() {
		t.Run(name, func(t *testing.T) {
			out := render(t, c)
			doc := parse(t, out)
			scripts := findAll(doc, func(n *html.Node) bool { return n.Data == "script" })
			if len(scripts) != 1 {
				t.Errorf("found %d <script> elements, want 1", len(scripts))
			}
			for _, s := range scripts {
				src, ok := attr(s, "src")
				if !ok || src != static.Path("js/console.js") {
					t.Errorf("script without our src: src=%q", src)
				}
				if s.FirstChild != nil {
					t.Errorf("script with inline content %q", text(s))
				}
			}
			if styled := findAll(doc, func(n *html.Node) bool { _, ok := attr(n, "style"); return ok }); len(styled) > 0 {
				t.Errorf("%d elements with a style attribute", len(styled))
			}
			for _, re := range []*regexp.Regexp{styleAttr, eventAttr, jsURL, styleElement} {
				if m := re.FindString(out); m != "" {
					t.Errorf("CSP violation %q", m)
				}
			}
			links := findAll(doc, func(n *html.Node) bool {
				rel, _ := attr(n, "rel")
				return n.Data == "link" && rel == "stylesheet"
			})
			if len(links) != 1 {
				t.Fatalf("found %d stylesheets, want 1", len(links))
			}
			if href, _ := attr(links[0], "href"); href != static.Path("css/console.css") || !hashedCSS.MatchString(href) {
				t.Errorf("stylesheet href = %q", href)
			}
		})
	}
}

func TestLayoutDocument(t *testing.T) {
	out := render(t, FleetPage(samplePage("staging"), Fleet{}))
	if !strings.HasPrefix(strings.ToLower(out), "<!doctype html>") {
		t.Errorf("page does not start with a doctype: %.40q", out)
	}
	doc := parse(t, out)
	htmlEl := findAll(doc, func(n *html.Node) bool { return n.Data == "html" })[0]
	if lang, _ := attr(htmlEl, "lang"); lang != "en" {
		t.Errorf("lang = %q, want en", lang)
	}
	titles := findAll(doc, func(n *html.Node) bool { return n.Data == "title" })
	if len(titles) != 1 || text(titles[0]) != "Overview · ATUM Ops Console" {
		t.Errorf("title = %v", titles)
	}
	h1 := findAll(doc, func(n *html.Node) bool { return n.Data == "h1" })
	if len(h1) != 1 || text(h1[0]) != "Overview" {
		t.Errorf("h1 = %v", h1)
	}
	active := one(t, doc, "nav-overview")
	if !hasClass(active, "active") {
		t.Error("active nav entry is not highlighted")
	}
	if v, _ := attr(active, "aria-current"); v != "page" {
		t.Errorf("aria-current = %q, want page", v)
	}
	if hasClass(one(t, doc, "nav-audit"), "active") {
		t.Error("inactive nav entry is highlighted")
	}
	flash := one(t, doc, "flash")
	if !hasClass(flash, "flash-ok") || text(flash) != "Saved" {
		t.Errorf("flash = %q", text(flash))
	}
	if got := text(one(t, doc, "version")); got != "v1.2.3" {
		t.Errorf("version = %q", got)
	}
}

func TestNoFlashWithoutKind(t *testing.T) {
	p := samplePage("demo")
	p.Flash = Flash{}
	doc := parse(t, render(t, FleetPage(p, Fleet{})))
	if n := len(byTestID(doc, "flash")); n != 0 {
		t.Errorf("found %d flash elements, want 0", n)
	}
}

// logoutForms returns the forms posting to /logout.
func logoutForms(doc *html.Node) []*html.Node {
	return findAll(doc, func(n *html.Node) bool {
		action, _ := attr(n, "action")
		return n.Data == "form" && action == "/logout"
	})
}

func TestLogoutFormOnlyWhenSignedIn(t *testing.T) {
	signedIn := samplePage("production")
	doc := parse(t, render(t, FleetPage(signedIn, Fleet{})))
	forms := logoutForms(doc)
	if len(forms) != 1 {
		t.Fatalf("signed in: found %d logout forms, want 1", len(forms))
	}
	if m, _ := attr(forms[0], "method"); m != "post" {
		t.Errorf("logout method = %q, want post", m)
	}
	if got := text(one(t, doc, "user")); !strings.Contains(got, "ada@example.com") || !strings.Contains(got, "admin") {
		t.Errorf("user box = %q, want email and role", got)
	}

	anon := signedIn
	anon.User = nil
	for name, c := range map[string]templ.Component{
		"login": LoginPage(anon, Login{}),
		"fleet": FleetPage(anon, Fleet{}),
		"error": ErrorPageView(anon, ErrorPage{Status: 500, Message: "boom"}),
	} {
		t.Run(name, func(t *testing.T) {
			doc := parse(t, render(t, c))
			if n := len(logoutForms(doc)); n != 0 {
				t.Errorf("signed out: found %d logout forms, want 0", n)
			}
			if n := len(byTestID(doc, "user")); n != 0 {
				t.Errorf("signed out: user box shown")
			}
		})
	}
}

func TestLoginForm(t *testing.T) {
	p := samplePage("production")
	p.User, p.Nav, p.Title = nil, nil, "Sign in"
	doc := parse(t, render(t, LoginPage(p, Login{Email: "ada@example.com", Next: "/audit", Password: true})))
	if n := len(byTestID(doc, "sso-button")); n != 0 {
		t.Errorf("single sign-on offered while off")
	}
	form := one(t, doc, "login-form")
	if action, _ := attr(form, "action"); action != "/login" {
		t.Errorf("action = %q, want /login", action)
	}
	if method, _ := attr(form, "method"); method != "post" {
		t.Errorf("method = %q, want post", method)
	}
	inputs := map[string]*html.Node{}
	for _, in := range findAll(form, func(n *html.Node) bool { return n.Data == "input" }) {
		name, _ := attr(in, "name")
		inputs[name] = in
	}
	want := map[string]struct{ typ, autocomplete, value string }{
		"email":    {"email", "username", "ada@example.com"},
		"password": {"password", "current-password", ""},
		"next":     {"hidden", "", "/audit"},
	}
	for name, w := range want {
		in, ok := inputs[name]
		if !ok {
			t.Errorf("no input named %q", name)
			continue
		}
		if typ, _ := attr(in, "type"); typ != w.typ {
			t.Errorf("%s: type = %q, want %q", name, typ, w.typ)
		}
		if ac, _ := attr(in, "autocomplete"); ac != w.autocomplete {
			t.Errorf("%s: autocomplete = %q, want %q", name, ac, w.autocomplete)
		}
		if v, _ := attr(in, "value"); v != w.value {
			t.Errorf("%s: value = %q, want %q", name, v, w.value)
		}
		if name != "next" {
			if _, ok := attr(in, "required"); !ok {
				t.Errorf("%s is not required", name)
			}
		}
	}
	if n := len(byTestID(doc, "login-error")); n != 0 {
		t.Errorf("login error shown without an error")
	}
	if n := len(findAll(doc, func(n *html.Node) bool { return n.Data == "nav" })); n != 0 {
		t.Errorf("login page has a nav")
	}

	// Single sign-on only: its button, keeping next, and no password form.
	doc = parse(t, render(t, LoginPage(p, Login{Next: "/audit?x=1", SSO: "Google"})))
	sso := one(t, doc, "sso-button")
	if href, _ := attr(sso, "href"); href != "/login/sso?next=%2Faudit%3Fx%3D1" || text(sso) != "Sign in with Google" {
		t.Errorf("SSO button %q → %q", text(sso), href)
	}
	if n := len(byTestID(doc, "login-form")); n != 0 {
		t.Errorf("password form shown with PASSWORD_LOGIN=false")
	}
	one(t, doc, "password-off")
}

func TestOverview(t *testing.T) {
	doc := parse(t, render(t, pages()["overview"]))
	neon := one(t, doc, "tile-neon")
	if !hasClass(neon, "tile") || !hasClass(neon, "state-ok") {
		c, _ := attr(neon, "class")
		t.Errorf("neon tile class = %q", c)
	}
	links := findAll(neon, func(n *html.Node) bool { return n.Data == "a" })
	if len(links) != 1 {
		t.Fatalf("neon tile has %d links, want 1", len(links))
	}
	if href, _ := attr(links[0], "href"); href != "/connections" {
		t.Errorf("neon tile href = %q", href)
	}
	if got := text(neon); !strings.Contains(got, "OK") || !strings.Contains(got, "PostgreSQL 17") || !strings.Contains(got, "checked 3s ago") {
		t.Errorf("neon tile text = %q", got)
	}
	if !hasClass(one(t, doc, "tile-redis"), "state-error") {
		t.Error("redis tile is not in the error state")
	}
	if !hasClass(one(t, doc, "tile-qstash"), "state-not_configured") {
		t.Error("qstash tile is not in the not_configured state")
	}
	alerts := byTestID(doc, "alert")
	if len(alerts) != 2 || !hasClass(alerts[0], "alert-critical") || !hasClass(alerts[1], "alert-warning") {
		t.Errorf("alerts not rendered with their levels")
	}

	empty := parse(t, render(t, pages()["overview-empty"]))
	if got := text(one(t, empty, "alerts")); !strings.Contains(got, "No open alerts") {
		t.Errorf("empty alerts = %q", got)
	}
}

func TestAudit(t *testing.T) {
	doc := parse(t, render(t, pages()["audit"]))
	form := one(t, doc, "audit-filter")
	if a, _ := attr(form, "action"); a != "/audit" {
		t.Errorf("filter action = %q", a)
	}
	if m, _ := attr(form, "method"); m != "get" {
		t.Errorf("filter method = %q", m)
	}
	names := map[string]bool{}
	for _, n := range findAll(form, func(n *html.Node) bool { return n.Data == "input" || n.Data == "select" }) {
		name, _ := attr(n, "name")
		names[name] = true
	}
	for _, want := range []string{"operator", "action", "target", "result", "from", "to"} {
		if !names[want] {
			t.Errorf("filter has no field %q", want)
		}
	}
	selected := findAll(form, func(n *html.Node) bool {
		_, sel := attr(n, "selected")
		return n.Data == "option" && sel
	})
	if len(selected) != 1 || text(selected[0]) != "ok" {
		t.Errorf("selected result options = %d, want the single option ok", len(selected))
	}
	if href, _ := attr(one(t, doc, "audit-export"), "href"); href != "/audit/export.csv?result=ok" {
		t.Errorf("export href = %q", href)
	}
	if href, _ := attr(one(t, doc, "audit-older"), "href"); href != "/audit?before=9" {
		t.Errorf("older href = %q", href)
	}
	table := one(t, doc, "audit-table")
	var heads []string
	for _, th := range findAll(table, func(n *html.Node) bool { return n.Data == "th" }) {
		heads = append(heads, text(th))
	}
	wantHeads := "Time (UTC),Operator,Role,Client IP,Action,Target,Reason,Result,Request ID,Details"
	if got := strings.Join(heads, ","); got != wantHeads {
		t.Errorf("columns = %q, want %q", got, wantHeads)
	}
	if len(byTestID(doc, "audit-row")) != 1 {
		t.Error("want one audit row")
	}

	empty := parse(t, render(t, pages()["audit-empty"]))
	if got := text(one(t, empty, "audit-empty")); got != "No events match" {
		t.Errorf("empty state = %q", got)
	}
	for _, id := range []string{"audit-older", "audit-export", "form-error"} {
		if len(byTestID(empty, id)) != 0 {
			t.Errorf("%s shown on an empty page", id)
		}
	}
}

// formActions returns the actions of the POST forms below n.
func formActions(n *html.Node) []string {
	var out []string
	for _, f := range findAll(n, func(n *html.Node) bool { return n.Data == "form" }) {
		if m, _ := attr(f, "method"); m == "post" {
			a, _ := attr(f, "action")
			out = append(out, a)
		}
	}
	return out
}

func TestOperators(t *testing.T) {
	doc := parse(t, render(t, pages()["operators"]))
	one(t, doc, "operators-table")

	self := one(t, doc, "operator-1")
	if !strings.Contains(text(self), "(you)") {
		t.Error("own row does not say (you)")
	}
	if got := strings.Join(formActions(self), ","); got != "/operators/1/sessions/end" {
		t.Errorf("own row forms = %q, want only the end-sessions form", got)
	}

	active := one(t, doc, "operator-2")
	if strings.Contains(text(active), "(you)") {
		t.Error("other row says (you)")
	}
	if got, want := strings.Join(formActions(active), ","), "/operators/2/role,/operators/2/disable,/operators/2/sessions/end"; got != want {
		t.Errorf("active row forms = %q, want %q", got, want)
	}
	roleSelects := findAll(active, func(n *html.Node) bool {
		name, _ := attr(n, "name")
		return n.Data == "select" && name == "role"
	})
	if len(roleSelects) != 1 {
		t.Fatalf("active row has %d role selects, want 1", len(roleSelects))
	}
	sel := findAll(roleSelects[0], func(n *html.Node) bool { _, ok := attr(n, "selected"); return ok })
	if len(sel) != 1 || text(sel[0]) != "support" {
		t.Error("role select does not preselect the current role")
	}

	disabled := one(t, doc, "operator-3")
	if got, want := strings.Join(formActions(disabled), ","), "/operators/3/role,/operators/3/enable,/operators/3/sessions/end"; got != want {
		t.Errorf("disabled row forms = %q, want %q", got, want)
	}
	if !strings.Contains(text(disabled), "disabled") {
		t.Error("disabled row does not say disabled")
	}

	add := one(t, doc, "add-operator-form")
	if a, _ := attr(add, "action"); a != "/operators" {
		t.Errorf("add form action = %q, want /operators", a)
	}
	if m, _ := attr(add, "method"); m != "post" {
		t.Errorf("add form method = %q, want post", m)
	}
	fields := map[string]*html.Node{}
	for _, n := range findAll(add, func(n *html.Node) bool { return n.Data == "input" || n.Data == "select" }) {
		name, _ := attr(n, "name")
		fields[name] = n
	}
	for _, name := range []string{"email", "role"} {
		if fields[name] == nil {
			t.Errorf("add form has no field %q", name)
		}
	}
	if fields["password"] != nil {
		t.Error("the invite form asks the admin to choose a password")
	}
	if fe := one(t, doc, "form-error"); fe.Parent != add.Parent {
		t.Error("form error is not next to the add form")
	}
}

func TestErrorPage(t *testing.T) {
	doc := parse(t, render(t, pages()["error"]))
	if got := text(one(t, doc, "error-status")); got != "404" {
		t.Errorf("status = %q", got)
	}
	back := findAll(one(t, doc, "error-page"), func(n *html.Node) bool { return n.Data == "a" })
	if len(back) != 1 {
		t.Fatalf("error page has %d links, want 1", len(back))
	}
	if href, _ := attr(back[0], "href"); href != "/" {
		t.Errorf("back link href = %q", href)
	}
}

func TestFleetNotConfigured(t *testing.T) {
	doc := parse(t, render(t, FleetPage(samplePage("demo"), Fleet{NotConfigured: "The Fly Machines API is not configured"})))
	if got := text(one(t, doc, "fleet-not-configured")); !strings.Contains(got, "not configured") {
		t.Errorf("not-configured text %q", got)
	}
}
