package devidp

import (
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

const (
	loginPath     = "/login"
	sessionCookie = "devidp_session"
)

// session is a browser signed in at the provider.
type session struct {
	userID   string
	authTime time.Time
}

var loginTemplate = template.Must(template.New("login").Funcs(template.FuncMap{
	"join": func(s []string) string { return strings.Join(s, ", ") },
}).Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Development identity provider: sign in</title></head>
<body>
<main id="devidp-login">
<h1>Development identity provider</h1>
<p id="devidp-warning"><strong>For tests and demos only.</strong> There are no passwords: anyone who can open this page can sign in as any user listed.</p>
<p>Signing in to <code id="devidp-client">{{.ClientID}}</code>.</p>
<form id="devidp-form" method="post" action="/login">
<input type="hidden" name="authRequestID" value="{{.RequestID}}">
<ul id="devidp-users">
{{- range .Users}}
<li><button type="submit" name="user" value="{{.ID}}" data-email="{{.Email}}">Sign in as {{.Email}}</button>
{{- if .Groups}} <small>groups: {{join .Groups}}</small>{{end}}
{{- if not .EmailVerified}} <small>(email not verified)</small>{{end}}</li>
{{- else}}
<li id="devidp-no-users">No users are configured.</li>
{{- end}}
</ul>
<p><button type="submit" id="devidp-cancel" name="cancel" value="1">Cancel</button></p>
</form>
</main>
</body>
</html>
`))

// loginPage shows the users to pick from, or completes the request at
// once when the browser's session may be reused.
func (p *Provider) loginPage(w http.ResponseWriter, r *http.Request) {
	a, err := p.store.request(r.URL.Query().Get("authRequestID"))
	if err != nil {
		http.Error(w, "unknown or expired sign-in request", http.StatusBadRequest)
		return
	}
	if sess, ok := p.session(r); ok && !a.mustLogIn(sess.authTime, time.Now()) {
		p.finishLogin(w, r, a.id, sess.userID, sess.authTime)
		return
	}
	if a.promptNone() {
		p.abandon(w, r, a, oidc.ErrLoginRequired())
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	err = loginTemplate.Execute(w, struct {
		ClientID, RequestID string
		Users               []User
	}{a.req.ClientID, a.id, p.store.listUsers()})
	if err != nil {
		slog.Error("devidp: login page", "err", err)
	}
}

// loginSubmit signs the chosen user in, or cancels the request.
func (p *Provider) loginSubmit(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	a, err := p.store.request(r.PostForm.Get("authRequestID"))
	if err != nil {
		http.Error(w, "unknown or expired sign-in request", http.StatusBadRequest)
		return
	}
	if r.PostForm.Has("cancel") {
		p.abandon(w, r, a, oidc.ErrAccessDenied().WithDescription("The user cancelled the sign-in."))
		return
	}
	u, ok := p.store.user(r.PostForm.Get("user"))
	if !ok {
		http.Error(w, "unknown user", http.StatusBadRequest)
		return
	}
	now := time.Now()
	id, err := randomID()
	if err != nil {
		http.Error(w, "no randomness", http.StatusInternalServerError)
		return
	}
	p.store.mu.Lock()
	p.store.sessions[id] = session{userID: u.ID, authTime: now}
	p.store.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	p.finishLogin(w, r, a.id, u.ID, now)
}

// finishLogin marks the request signed in and sends the browser to the op
// package's callback, which redirects to the client with a code.
func (p *Provider) finishLogin(w http.ResponseWriter, r *http.Request, requestID, userID string, authTime time.Time) {
	if err := p.store.complete(requestID, userID, authTime); err != nil {
		http.Error(w, "unknown or expired sign-in request", http.StatusBadRequest)
		return
	}
	callback := op.AuthCallbackURL(p.op)(op.ContextWithIssuer(r.Context(), p.issuer), requestID)
	http.Redirect(w, r, callback, http.StatusFound)
}

// abandon ends request a and returns err to the client's redirect URI.
func (p *Provider) abandon(w http.ResponseWriter, r *http.Request, a *authRequest, err *oidc.Error) {
	_ = p.store.DeleteAuthRequest(r.Context(), a.id)
	op.AuthRequestError(w, r, a, err, p.op)
}

// session returns the browser's live session, if it has one.
func (p *Provider) session(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	p.store.mu.Lock()
	defer p.store.mu.Unlock()
	s, ok := p.store.sessions[c.Value]
	if ok {
		_, ok = p.store.userLocked(s.userID)
	}
	return s, ok
}
