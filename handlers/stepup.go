package handlers

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/human"
	"github.com/atum/ops-console/views"
)

// StepUpStore is what fresh authentication needs from the operator store.
type StepUpStore interface {
	Authenticate(ctx context.Context, email, password, clientIP string) (auth.Account, error)
	SecondFactor(ctx context.Context, id int64) (auth.SecondFactor, error)
	VerifySecondFactor(ctx context.Context, id int64, code string) (string, error)
	Reauthenticated(ctx context.Context, token, secondFactor string) error
	SaveDraft(ctx context.Context, token string, d auth.Draft) (string, error)
	Draft(ctx context.Context, token, id string) (auth.Draft, error)
	BeginPasskeyAssertion(ctx context.Context, rp *auth.Passkeys, id int64, purpose, token string) (*protocol.CredentialAssertion, error)
	FinishPasskeyAssertion(ctx context.Context, rp *auth.Passkeys, id int64, purpose, token string, response []byte) (auth.Passkey, error)
}

// StepUp asks for fresh authentication before destructive actions: a
// form posted by a session whose operator last proved who they are more
// than Window ago is kept as typed, the operator signs in again (password
// and second factor, or through the identity provider), and the page the
// form was on offers it again with its values. An operator with passkeys
// may confirm with one instead of a code.
type StepUp struct {
	*Base
	Store   StepUpStore
	Cookies Cookies
	Window  time.Duration
	// SSO starts a fresh sign-in at the identity provider for sessions
	// that began there (nil: single sign-on is off).
	SSO SSOStarter
	// Passkeys is the console as a WebAuthn relying party (nil: passkeys
	// cannot be used, as the console's public URL is unknown).
	Passkeys *auth.Passkeys
}

// notKept are form fields never kept in a draft: secrets, and the
// step-up's own fields.
var notKept = []string{"password", "current_password", "new_password", "new_password_again", "code", "draft"}

// Fresh reports whether the signed-in operator proved who they are
// within the window.
func (h *StepUp) Fresh(c echo.Context) bool {
	s := CurrentSession(c)
	return s != nil && s.FreshWithin(h.Window, time.Now())
}

// Ask keeps the posted form and sends the operator to sign in again; it
// audits that the action waits for it. label says what the form does.
func (h *StepUp) Ask(c echo.Context, label string) error {
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "the form could not be read")
	}
	d := auth.Draft{Action: c.Request().URL.Path, ReturnTo: h.returnTo(c), Label: label}
	for _, name := range slices.Sorted(maps.Keys(form)) {
		if slices.Contains(notKept, name) {
			continue
		}
		for _, v := range form[name] {
			d.Fields = append(d.Fields, auth.Field{Name: name, Value: v})
		}
	}
	id, err := h.Store.SaveDraft(c.Request().Context(), h.Cookies.Token(c), d)
	if err != nil {
		return Unavailable("the console's database", err)
	}
	_ = h.Record(c, audit.Entry{Action: "step_up.required", Target: d.Action, Result: audit.Denied,
		Details: map[string]any{"label": label, "window": h.Window.String()}})
	return c.Redirect(http.StatusSeeOther, "/reauth?draft="+url.QueryEscape(id))
}

// returnTo is the page the form was posted from (its Referer on this
// site), or the form's own page.
func (h *StepUp) returnTo(c echo.Context) string {
	r := c.Request()
	if ref, err := url.Parse(r.Referer()); err == nil && ref.Host == r.Host && ref.Path != "/reauth" {
		q := ref.Query()
		q.Del("resume")
		ref.RawQuery = q.Encode()
		return SafeNext(ref.RequestURI())
	}
	return "/"
}

// Form shows the step-up form for a kept draft.
func (h *StepUp) Form(c echo.Context) error {
	d, err := h.Store.Draft(c.Request().Context(), h.Cookies.Token(c), c.QueryParam("draft"))
	if errors.Is(err, auth.ErrNoDraft) {
		return echo.NewHTTPError(http.StatusNotFound, err.Error())
	}
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, d, "")
}

func (h *StepUp) render(c echo.Context, status int, d auth.Draft, msg string) error {
	s := CurrentSession(c)
	m := views.StepUp{DraftID: d.ID, Label: d.Label, Error: msg, Window: minutes(h.Window),
		SignedIn: human.Ago(s.AuthenticatedAt, time.Now()), SSO: s.SignIn.Method == auth.MethodSSO && h.SSO != nil}
	if !m.SSO {
		sf, err := h.Store.SecondFactor(c.Request().Context(), s.Account.ID)
		if err != nil {
			return err
		}
		m.Code, m.Passkey, m.PasskeysOff = factorsOffered(sf, h.Passkeys)
	}
	return Render(c, status, views.StepUpPage(h.Page(c, "Confirm it's you", ""), m))
}

// Submit checks the password (and second factor) of the signed-in
// operator, marks the session fresh and returns to the kept form.
func (h *StepUp) Submit(c echo.Context) error {
	ctx := c.Request().Context()
	s := CurrentSession(c)
	token := h.Cookies.Token(c)
	d, err := h.Store.Draft(ctx, token, c.FormValue("draft"))
	if errors.Is(err, auth.ErrNoDraft) {
		return echo.NewHTTPError(http.StatusNotFound, err.Error())
	}
	if err != nil {
		return err
	}
	fail := func(status int, msg, reason string) error {
		_ = h.Record(c, audit.Entry{Action: "step_up", Target: d.Action, Result: audit.Failure, Details: map[string]any{"reason": reason}})
		return h.render(c, status, d, msg)
	}
	code := strings.TrimSpace(c.FormValue("code"))
	if len(code) > 64 {
		return fail(http.StatusBadRequest, "Enter your password.", "malformed")
	}
	if r, err := h.checkPassword(c, c.FormValue("password")); r != nil || err != nil {
		if r != nil {
			return fail(r.status, r.msg, r.reason)
		}
		return err
	}
	factor := ""
	sf, err := h.Store.SecondFactor(ctx, s.Account.ID)
	if err != nil {
		return err
	}
	switch {
	case sf.Codes():
		if factor, err = h.Store.VerifySecondFactor(ctx, s.Account.ID, code); err != nil {
			if status, msg, reason, ok := codeRefusal(c, err); ok {
				return fail(status, msg, reason)
			}
			return err
		}
	case sf.Passkeys > 0 && h.Passkeys != nil:
		return fail(http.StatusUnauthorized, "Confirm with your passkey: press “Confirm with a passkey”.", "second_factor_missing")
	case sf.Passkeys > 0:
		return fail(http.StatusUnauthorized, passkeysOffHere, "second_factor_missing")
	}
	return h.done(c, d, factor)
}

// passkeysOffHere tells an operator whose only second factor is a passkey
// that this console cannot check it.
const passkeysOffHere = "Your passkeys cannot be used here: this console's public URL (CONSOLE_URL) is not configured. An admin can reset your second factor."

// passwordRefusal is the signed-in operator's password refused: the
// status, what to show and the audit reason.
type passwordRefusal struct {
	status      int
	msg, reason string
}

// checkPassword checks the signed-in operator's password, throttled like
// a sign-in. A wrong, throttled or malformed password comes back as a
// refusal; other errors as they are.
func (h *StepUp) checkPassword(c echo.Context, password string) (*passwordRefusal, error) {
	return checkOwnPassword(c, h.Store, password)
}

// checkOwnPassword checks the signed-in operator's password with store
// (a step-up, a password change), throttled and gated like a sign-in.
func checkOwnPassword(c echo.Context, store interface {
	Authenticate(ctx context.Context, email, password, clientIP string) (auth.Account, error)
}, password string) (*passwordRefusal, error) {
	if password == "" || len(password) > 1024 {
		return &passwordRefusal{http.StatusBadRequest, "Enter your password.", "malformed"}, nil
	}
	_, err := store.Authenticate(c.Request().Context(), CurrentSession(c).Account.Email, password, c.RealIP())
	var throttled *auth.ThrottledError
	var busy *auth.BusyError
	switch {
	case errors.As(err, &throttled):
		retryAfter(c, throttled.RetryAfter)
		return &passwordRefusal{http.StatusTooManyRequests, capitalize(throttled.Error()) + ".", "throttled_by_" + throttled.Scope}, nil
	case errors.As(err, &busy):
		retryAfter(c, busy.RetryAfter)
		return &passwordRefusal{http.StatusServiceUnavailable, capitalize(busy.Error()) + ".", "busy"}, nil
	case errors.Is(err, auth.ErrBadCredentials), errors.Is(err, auth.ErrDisabled), errors.Is(err, auth.ErrDemoInProd):
		return &passwordRefusal{http.StatusUnauthorized, "Wrong password.", reasonCode(err)}, nil
	case err != nil:
		return nil, Unavailable("the console's database", err)
	}
	return nil, nil
}

// done marks the session fresh, audits it and returns to the kept form.
func (h *StepUp) done(c echo.Context, d auth.Draft, factor string) error {
	to, err := h.refresh(c, d, factor)
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// refresh marks the session fresh, audits it and returns the page that
// offers the kept form again.
func (h *StepUp) refresh(c echo.Context, d auth.Draft, factor string) (string, error) {
	if err := h.Store.Reauthenticated(c.Request().Context(), h.Cookies.Token(c), factor); err != nil {
		return "", err
	}
	_ = h.Record(c, audit.Entry{Action: "step_up", Target: d.Action, Result: audit.Success, Details: map[string]any{"second_factor": factor}})
	return withResume(d.ReturnTo, d.ID), nil
}

// withResume adds the kept form's id to the page it returns to.
func withResume(page, id string) string {
	u, err := url.Parse(SafeNext(page))
	if err != nil {
		return "/"
	}
	q := u.Query()
	q.Set("resume", id)
	u.RawQuery = q.Encode()
	return u.RequestURI()
}

// codeRefusal is what a person is told (with the status), and the audit
// log keeps, about a second-factor code refused; ok is false for other
// errors. Too many wrong codes for the account answer 429 with
// Retry-After.
func codeRefusal(c echo.Context, err error) (status int, msg, reason string, ok bool) {
	var throttled *auth.ThrottledError
	switch {
	case errors.As(err, &throttled):
		retryAfter(c, throttled.RetryAfter)
		return http.StatusTooManyRequests, capitalize(throttled.Error()) + ".", "second_factor_locked", true
	case errors.Is(err, auth.ErrCodeReused):
		return http.StatusUnauthorized, capitalize(err.Error()) + ".", "second_factor_reused", true
	case errors.Is(err, auth.ErrBadCode), errors.Is(err, auth.ErrNoSecondFactor):
		return http.StatusUnauthorized, "That code is not right.", "second_factor_wrong", true
	}
	return 0, "", "", false
}

// KeptForm is the form kept as id for the signed-in session, as the page
// it returns to offers it again; nil when there is none.
func (h *StepUp) KeptForm(c echo.Context, id string) *views.KeptForm {
	d, err := h.Store.Draft(c.Request().Context(), h.Cookies.Token(c), id)
	if err != nil {
		return nil
	}
	k := &views.KeptForm{Action: d.Action, Label: d.Label}
	for _, f := range d.Fields {
		k.Fields = append(k.Fields, views.KeptField{Name: f.Name, Value: f.Value})
	}
	return k
}

// minutes says a duration of whole minutes for people ("10 minutes").
func minutes(d time.Duration) string {
	if m := int(d.Minutes()); m != 1 {
		return strconv.Itoa(m) + " minutes"
	}
	return "1 minute"
}
