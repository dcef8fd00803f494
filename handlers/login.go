package handlers

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/views"
)

// LoginStore is what sign-in needs from the operator store.
type LoginStore interface {
	Authenticate(ctx context.Context, email, password, clientIP string) (auth.Account, error)
	StartSession(ctx context.Context, id int64, via auth.SignIn, clientIP, userAgent string, maxAge time.Duration) (string, error)
	EndSession(ctx context.Context, token string) error
	SecondFactor(ctx context.Context, id int64) (auth.SecondFactor, error)
	StartChallenge(ctx context.Context, id int64, next, clientIP string) (string, error)
	Challenge(ctx context.Context, token string) (auth.Account, string, error)
	AnswerChallenge(ctx context.Context, token, code string) (auth.Account, string, string, error)
	BeginChallengePasskey(ctx context.Context, rp *auth.Passkeys, token string) (*protocol.CredentialAssertion, error)
	AnswerChallengeWithPasskey(ctx context.Context, rp *auth.Passkeys, token string, response []byte) (auth.Account, string, error)
}

// Login signs operators in and out: email and password, then a second
// factor when the operator has one.
type Login struct {
	*Base
	Store   LoginStore
	Cookies Cookies
	MaxAge  time.Duration
	// Password keeps sign-in by email and password (PASSWORD_LOGIN);
	// SSOName names the identity provider when single sign-on is on.
	Password bool
	SSOName  string
	// Passkeys is the console as a WebAuthn relying party (nil: passkeys
	// cannot be used, as the console's public URL is unknown).
	Passkeys *auth.Passkeys

	refused refusals
}

// Form shows the sign-in form.
func (h *Login) Form(c echo.Context) error {
	if CurrentSession(c) != nil {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	m := h.model("", SafeNext(c.QueryParam("next")))
	switch c.QueryParam("done") {
	case "password":
		m.Notice = "Your password is set. Sign in with it."
	case "expired":
		m.Error = capitalize(auth.ErrNoChallenge.Error()) + "."
	}
	return Render(c, http.StatusOK, views.LoginPage(h.Page(c, "Sign in", ""), m))
}

func (h *Login) model(email, next string) views.Login {
	return views.Login{Email: email, Next: next, Password: h.Password, SSO: h.SSOName}
}

// Submit checks the posted email and password, then either starts a new
// session or, for an operator with a second factor, asks for it; it
// audits the outcome either way.
func (h *Login) Submit(c echo.Context) error {
	email := strings.TrimSpace(c.FormValue("email"))
	password := c.FormValue("password")
	next := SafeNext(c.FormValue("next"))
	if !h.Password {
		return h.fail(c, http.StatusForbidden, email, next, "Password sign-in is turned off: sign in with "+h.SSOName+".", "password_login_off")
	}
	if len(email) > 320 || len(password) > 1024 || email == "" || password == "" {
		return h.fail(c, http.StatusBadRequest, email, next, "Enter your email and password.", "malformed")
	}
	ctx := c.Request().Context()
	acct, err := h.Store.Authenticate(ctx, email, password, c.RealIP())
	var throttled *auth.ThrottledError
	var busy *auth.BusyError
	switch {
	case errors.As(err, &throttled):
		retryAfter(c, throttled.RetryAfter)
		return h.fail(c, http.StatusTooManyRequests, email, next, capitalize(throttled.Error())+".", "throttled_by_"+throttled.Scope)
	case errors.As(err, &busy):
		retryAfter(c, busy.RetryAfter)
		status, code := http.StatusServiceUnavailable, "busy"
		if busy.PerAddress {
			status, code = http.StatusTooManyRequests, "busy_address"
		}
		return h.fail(c, status, email, next, capitalize(busy.Error())+".", code)
	case errors.Is(err, auth.ErrBadCredentials), errors.Is(err, auth.ErrDisabled), errors.Is(err, auth.ErrDemoInProd):
		return h.fail(c, http.StatusUnauthorized, email, next, "Wrong email or password.", reasonCode(err))
	case err != nil:
		h.Log.Error("sign-in failed", "error", err)
		return Unavailable("the console's database", err)
	}
	sf, err := h.Store.SecondFactor(ctx, acct.ID)
	if err != nil {
		return Unavailable("the console's database", err)
	}
	if sf.Enrolled() {
		token, err := h.Store.StartChallenge(ctx, acct.ID, next, c.RealIP())
		if err != nil {
			return Unavailable("the console's database", err)
		}
		h.Cookies.SetChallenge(c, token)
		return c.Redirect(http.StatusSeeOther, "/login/2fa")
	}
	return h.signIn(c, acct, auth.SignIn{Method: auth.MethodPassword}, next)
}

// signIn starts a session for acct, ending any session the browser had
// (a session id is never reused across a sign-in), audits it and goes to
// next.
func (h *Login) signIn(c echo.Context, acct auth.Account, via auth.SignIn, next string) error {
	if err := h.startSession(c, acct, via); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// startSession starts a session for acct, ending any session the browser
// had, sets its cookie and audits the sign-in.
func (h *Login) startSession(c echo.Context, acct auth.Account, via auth.SignIn) error {
	ctx := c.Request().Context()
	if old := h.Cookies.Token(c); old != "" {
		_ = h.Store.EndSession(ctx, old)
	}
	token, err := h.Store.StartSession(ctx, acct.ID, via, c.RealIP(), c.Request().UserAgent(), h.MaxAge)
	if err != nil {
		return err
	}
	h.Cookies.Set(c, token, h.MaxAge)
	_ = h.Record(c, audit.Entry{OperatorID: acct.ID, Operator: acct.Email, Role: string(acct.Role),
		Action: "login", Target: "operator:" + acct.Email, Result: audit.Success, Details: map[string]any{"method": via.String()}})
	return nil
}

// SecondFactorForm asks for the second factor of a sign-in whose password
// was right.
func (h *Login) SecondFactorForm(c echo.Context) error {
	acct, _, err := h.Store.Challenge(c.Request().Context(), h.Cookies.Challenge(c))
	if errors.Is(err, auth.ErrNoChallenge) {
		h.Cookies.ClearChallenge(c)
		return h.expired(c)
	}
	if err != nil {
		return Unavailable("the console's database", err)
	}
	return h.secondFactorPage(c, http.StatusOK, acct, "")
}

// secondFactorPage renders the sign-in's second step for acct: the code
// form when they have an authenticator app or recovery codes, the
// passkey button when they have passkeys (or, with no code either, that
// their passkeys cannot be checked here), and msg as an error.
func (h *Login) secondFactorPage(c echo.Context, status int, acct auth.Account, msg string) error {
	m := views.SecondFactorLogin{Email: acct.Email, Error: msg, Code: true}
	if sf, err := h.Store.SecondFactor(c.Request().Context(), acct.ID); err == nil {
		m.Code, m.Passkey, m.PasskeysOff = factorsOffered(sf, h.Passkeys)
	}
	return Render(c, status, views.SecondFactorPage(h.Page(c, "Sign in", ""), m))
}

// SecondFactorSubmit checks the code of a sign-in whose password was
// right and starts the session. A wrong or reused code is audited; after
// auth.MaxChallengeFailures the sign-in starts again from the password.
func (h *Login) SecondFactorSubmit(c echo.Context) error {
	ctx := c.Request().Context()
	token, code := h.Cookies.Challenge(c), strings.TrimSpace(c.FormValue("code"))
	if len(code) > 64 {
		code = ""
	}
	acct, next, method, err := h.Store.AnswerChallenge(ctx, token, code)
	if errors.Is(err, auth.ErrNoChallenge) {
		h.Cookies.ClearChallenge(c)
		h.auditRefusal(c, "second_factor_challenge_gone")
		return h.expired(c)
	}
	if status, msg, reason, ok := codeRefusal(c, err); ok {
		who, _, cerr := h.Store.Challenge(ctx, token)
		if cerr != nil {
			who = acct
		}
		_ = h.Record(c, audit.Entry{OperatorID: who.ID, Operator: who.Email, Role: string(who.Role), Action: "login",
			Target: "operator:" + who.Email, Result: audit.Failure, Details: map[string]any{"reason": reason}})
		if cerr != nil {
			h.Cookies.ClearChallenge(c)
			return h.expired(c)
		}
		return h.secondFactorPage(c, status, who, msg)
	}
	if err != nil {
		return Unavailable("the console's database", err)
	}
	h.Cookies.ClearChallenge(c)
	return h.signIn(c, acct, auth.SignIn{Method: auth.MethodPassword, SecondFactor: method}, next)
}

// expired sends the person back to the sign-in form, saying why.
func (h *Login) expired(c echo.Context) error {
	m := h.model("", "/")
	m.Error = capitalize(auth.ErrNoChallenge.Error()) + "."
	return Render(c, http.StatusUnauthorized, views.LoginPage(h.Page(c, "Sign in", ""), m))
}

func (h *Login) fail(c echo.Context, status int, email, next, msg, code string) error {
	who := AuditEmail(email)
	details := map[string]any{"reason": code}
	record := true
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		// Refused without a password check: audited once a minute per
		// address and reason, so a flood neither fills the log nor keeps
		// the database busy.
		var before int
		record, before = h.refused.note(c.RealIP()+" "+code, time.Now())
		if before > 0 {
			details["refused_before_unaudited"] = before
		}
	}
	if record {
		_ = h.Record(c, audit.Entry{Operator: who, Action: "login", Target: "operator:" + who, Result: audit.Failure, Details: details})
	}
	m := h.model(email, next)
	m.Error = msg
	return Render(c, status, views.LoginPage(h.Page(c, "Sign in", ""), m))
}

// auditRefusal audits a refusal anyone can cause without a password
// (an expired or made-up challenge or link) once a minute per address and
// reason, with the count of those before it.
func (h *Login) auditRefusal(c echo.Context, reason string) {
	record, before := h.refused.note(c.RealIP()+" "+reason, time.Now())
	if !record {
		return
	}
	details := map[string]any{"reason": reason}
	if before > 0 {
		details["refused_before_unaudited"] = before
	}
	_ = h.Record(c, audit.Entry{Action: "login", Result: audit.Failure, Details: details})
}

// refusals counts sign-ins refused without a password check, by address
// and reason, to audit one per minute with the count of those before.
type refusals struct {
	mu   sync.Mutex
	seen map[string]*refusalCount
}

type refusalCount struct {
	at      time.Time
	skipped int
}

// note reports whether this refusal is to be audited and how many of its
// kind went unaudited before it.
func (r *refusals) note(key string, now time.Time) (record bool, before int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil || len(r.seen) > 10000 {
		r.seen = map[string]*refusalCount{}
	}
	rc, ok := r.seen[key]
	if !ok || now.Sub(rc.at) >= time.Minute {
		before := 0
		if ok {
			before = rc.skipped
		}
		r.seen[key] = &refusalCount{at: now}
		return true, before
	}
	rc.skipped++
	return false, 0
}

// AuditEmail is what the audit log keeps of a typed email: the normalised
// address when it is one, otherwise only that it was not one (people type
// their password into the email field).
func AuditEmail(email string) string {
	e, err := auth.ValidateEmail(clipString(email, 320))
	if err != nil {
		return "(not an email address)"
	}
	return e
}

// retryAfter tells the client when to try again (whole seconds, at least 1).
func retryAfter(c echo.Context, d time.Duration) {
	c.Response().Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(d.Seconds())))))
}

// Logout ends the session (POST only) and returns to the sign-in form.
func (h *Login) Logout(c echo.Context) error {
	if token := h.Cookies.Token(c); token != "" {
		if err := h.Store.EndSession(c.Request().Context(), token); err != nil {
			return err
		}
	}
	h.Cookies.Clear(c)
	_ = h.Record(c, audit.Entry{Action: "logout", Result: audit.Success})
	return c.Redirect(http.StatusSeeOther, "/login")
}

func reasonCode(err error) string {
	switch {
	case errors.Is(err, auth.ErrDisabled):
		return "disabled"
	case errors.Is(err, auth.ErrDemoInProd):
		return "demo_operator_outside_demo"
	default:
		return "bad_credentials"
	}
}

// SafeNext keeps a post-login redirect on this site: a local absolute path
// or "/". Browsers drop tabs and newlines from a URL and read a backslash
// as a slash, so "/\t/evil.example" or "/\\evil.example" would leave the
// site: any control character or backslash is refused, as is a second
// leading slash and anything with a scheme or a host.
func SafeNext(next string) string {
	if next == "" || len(next) > 500 || next[0] != '/' || (len(next) > 1 && next[1] == '/') {
		return "/"
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	if u, err := url.Parse(next); err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return next
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func clipString(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// factorsOffered says what an operator with sf can answer with here:
// a code, a passkey (when rp, the console as a relying party, is set),
// or, with neither, passkeys this console cannot check.
func factorsOffered(sf auth.SecondFactor, rp *auth.Passkeys) (code, passkey, passkeysOff bool) {
	code = sf.Codes()
	passkey = sf.Passkeys > 0 && rp != nil
	return code, passkey, sf.Passkeys > 0 && rp == nil && !code
}
