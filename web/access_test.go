package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/web"
)

// enrolTOTP sets up an authenticator app for the signed-in client c and
// returns its secret and recovery codes.
func enrolTOTP(t *testing.T, h *harness, c *http.Client) (string, []string) {
	t.Helper()
	b := body(h.post(c, "/account/totp", nil))
	m := regexp.MustCompile(`data-testid="totp-secret">([A-Z2-7]+)<`).FindStringSubmatch(b)
	if m == nil || !strings.Contains(b, `data-testid="totp-qr"`) || !strings.Contains(b, `src="data:image/png;base64,`) {
		t.Fatalf("no QR code and secret on the enrolment page: %s", b)
	}
	secret := m[1]
	if resp := h.post(c, "/account/totp/confirm", url.Values{"code": {"000000"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a wrong first code turned TOTP on: %d", resp.StatusCode)
	}
	code, _ := totp.GenerateCode(secret, time.Now())
	b = body(h.post(c, "/account/totp/confirm", url.Values{"code": {code}}))
	codes := regexp.MustCompile(`<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>`).FindAllStringSubmatch(b, -1)
	if len(codes) != auth.RecoveryCodeCount {
		t.Fatalf("%d recovery codes shown after enrolment: %s", len(codes), b)
	}
	var out []string
	for _, c := range codes {
		out = append(out, c[1])
	}
	return secret, out
}

// signInWithCode signs email in with the password, then answers the
// second step with code; it returns the answer to the code.
func signInWithCode(t *testing.T, h *harness, c *http.Client, email, code string) *http.Response {
	t.Helper()
	resp := h.post(c, "/login", url.Values{"email": {email}, "password": {password}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login/2fa" {
		t.Fatalf("password of an operator with TOTP: %d to %q, want the second step", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := h.get(c, "/login/2fa"); resp.StatusCode != http.StatusOK {
		t.Fatalf("second step page: %d", resp.StatusCode)
	}
	return h.post(c, "/login/2fa", url.Values{"code": {code}})
}

// TOTP: a wrong code and a replayed code are refused and audited, a
// recovery code works once, and the password alone never signs in.
func TestTOTPSignIn(t *testing.T) {
	h := newHarness(t)
	op := h.operator("op@atum.io", auth.Operator)
	secret, recovery := enrolTOTP(t, h, op)

	c := h.client()
	if resp := signInWithCode(t, h, c, "op@atum.io", "123456"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body(resp), "not right") {
		t.Fatalf("wrong code: %d", resp.StatusCode)
	}
	if resp := h.get(c, "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatal("the password alone opened the console")
	}
	next, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	if resp := h.post(c, "/login/2fa", url.Values{"code": {next}}); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("right code: %d %s", resp.StatusCode, body(resp))
	}
	if resp := h.get(c, "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("signed in with a code, / answers %d", resp.StatusCode)
	}
	// The same code again, within its window, from another browser.
	if resp := signInWithCode(t, h, h.client(), "op@atum.io", next); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body(resp), "already used") {
		t.Fatalf("a replayed code: %d", resp.StatusCode)
	}
	// A recovery code works once.
	rc := h.client()
	if resp := signInWithCode(t, h, rc, "op@atum.io", strings.ToUpper(recovery[0])); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("recovery code: %d %s", resp.StatusCode, body(resp))
	}
	if resp := signInWithCode(t, h, h.client(), "op@atum.io", recovery[0]); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a recovery code used twice: %d", resp.StatusCode)
	}
	if got := h.reasons(); len(got) < 3 || got[0] != "second_factor_reused" || got[1] != "second_factor_reused" || got[2] != "second_factor_wrong" {
		t.Fatalf("audited refusals %v", got)
	}
	if b := body(h.get(rc, "/account")); !strings.Contains(b, "9 recovery codes left") || !strings.Contains(b, "password + recovery") {
		t.Fatalf("account page after a recovery code: %s", b)
	}

	// Five wrong codes end the second step: the password is needed again.
	x := h.client()
	signInWithCode(t, h, x, "op@atum.io", "000001").Body.Close()
	for range auth.MaxChallengeFailures - 1 {
		h.post(x, "/login/2fa", url.Values{"code": {"000001"}}).Body.Close()
	}
	good, _ := totp.GenerateCode(secret, time.Now().Add(-30*time.Second))
	if resp := h.post(x, "/login/2fa", url.Values{"code": {good}}); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body(resp), "sign in again") {
		t.Fatalf("after five wrong codes: %d", resp.StatusCode)
	}
}

// An operator whose role requires a second factor, signed in with a
// password alone, can only set one up; then the console opens.
func TestSecondFactorRequiredByRole(t *testing.T) {
	h := newHarness(t, func(d *web.Deps) { d.Access.Required = func(r auth.Role) bool { return r.AtLeast(auth.Operator) } })
	viewer := h.operator("v@atum.io", auth.Viewer)
	if resp := h.get(viewer, "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("a viewer (no second factor required): %d", resp.StatusCode)
	}
	op := h.operator("op@atum.io", auth.Operator)
	if resp := h.get(op, "/queues"); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
		t.Fatalf("an operator without a second factor opened /queues: %d", resp.StatusCode)
	}
	if b := body(h.get(op, "/account")); !strings.Contains(b, `data-testid="second-factor-required"`) {
		t.Fatal("the account page does not say a second factor is required")
	}
	sw, _ := h.switches.Get(context.Background(), "SUSPEND_REDIS")
	if resp := h.post(op, "/switches/SUSPEND_REDIS", toggleForm("true", sw.Version, "x", "SUSPEND_REDIS")); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("an operator without a second factor flipped a switch: %d", resp.StatusCode)
	}
	enrolTOTP(t, h, op)
	if resp := h.get(op, "/queues"); resp.StatusCode != http.StatusOK {
		t.Fatalf("after enrolment /queues answers %d", resp.StatusCode)
	}
}

// A destructive action from a session whose sign-in is older than the
// window asks for the password and code again, keeps what was typed, and
// offers it again on the page it came from.
func TestStepUpKeepsTheForm(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	op := h.operator("op@atum.io", auth.Operator)
	secret, _ := enrolTOTP(t, h, op)
	h.staleSessions(t)
	sw, _ := h.switches.Get(ctx, "SUSPEND_REDIS")
	form := toggleForm("true", sw.Version, "crash loop <b>hammers</b> Redis", "SUSPEND_REDIS")
	resp := h.post(op, "/switches/SUSPEND_REDIS", form, "Referer", h.ts.URL+"/switches?x=1")
	resp.Body.Close()
	reauth := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(reauth, "/reauth?draft=") {
		t.Fatalf("stale session: %d to %q", resp.StatusCode, reauth)
	}
	if on, _ := h.switches.Get(ctx, "SUSPEND_REDIS"); on.Enabled {
		t.Fatal("the switch flipped without a fresh sign-in")
	}
	page := body(h.get(op, reauth))
	if !strings.Contains(page, "flip a switch") || !strings.Contains(page, `name="code"`) {
		t.Fatalf("step-up page: %s", page)
	}
	draft := regexp.MustCompile(`name="draft" value="([^"]+)"`).FindStringSubmatch(page)[1]
	// Another session cannot read or use the kept form.
	other := h.operator("other@atum.io", auth.Operator)
	if resp := h.get(other, reauth); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another session opened the kept form: %d", resp.StatusCode)
	}
	code, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	if resp := h.post(op, "/reauth", url.Values{"draft": {draft}, "password": {"wrong password"}, "code": {code}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("step-up with a wrong password: %d", resp.StatusCode)
	}
	if resp := h.post(op, "/reauth", url.Values{"draft": {draft}, "password": {password}, "code": {"999999"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("step-up with a wrong code: %d", resp.StatusCode)
	}
	resp = h.post(op, "/reauth", url.Values{"draft": {draft}, "password": {password}, "code": {code}})
	resp.Body.Close()
	back := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(back, "/switches?") || !strings.Contains(back, "x=1") || !strings.Contains(back, "resume=") {
		t.Fatalf("after the step-up: %d to %q", resp.StatusCode, back)
	}
	kept := body(h.get(op, back))
	if !strings.Contains(kept, `data-testid="kept-form"`) || !strings.Contains(kept, "crash loop &lt;b&gt;hammers&lt;/b&gt; Redis") ||
		!strings.Contains(kept, `action="/switches/SUSPEND_REDIS"`) {
		t.Fatalf("the kept form, escaped, is not offered again: %s", kept)
	}
	if resp := h.post(op, "/switches/SUSPEND_REDIS", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the kept form: %d %s", resp.StatusCode, body(resp))
	}
	if on, _ := h.switches.Get(ctx, "SUSPEND_REDIS"); !on.Enabled {
		t.Fatal("the switch did not flip after the step-up")
	}
	for _, action := range []string{"step_up.required", "step_up"} {
		if len(h.events(action)) == 0 {
			t.Errorf("%s not audited", action)
		}
	}
}

// Probing Redis needs a fresh sign-in only while it is suspended.
func TestRedisProbeWhileSuspendedNeedsStepUp(t *testing.T) {
	h := newHarness(t)
	op := h.operator("op@atum.io", auth.Operator)
	h.staleSessions(t)
	if resp := h.post(op, "/cache/probe", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/cache#redis" {
		t.Fatalf("probe while not suspended: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := h.pool.Exec(context.Background(), `UPDATE ops.kill_switches SET enabled = true WHERE name = 'SUSPEND_REDIS'`); err != nil {
		t.Fatal(err)
	}
	resp := h.post(op, "/cache/probe", nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/reauth?draft=") {
		t.Fatalf("probe while suspended from a stale session: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// An operator changes their own password with the current one; their
// other sessions end. An admin resetting someone's second factor ends
// their sessions too, and they sign in with the password alone after.
func TestPasswordChangeAndFactorReset(t *testing.T) {
	h := newHarness(t)
	op := h.operator("op@atum.io", auth.Operator)
	elsewhere := h.client()
	h.post(elsewhere, "/login", url.Values{"email": {"op@atum.io"}, "password": {password}}).Body.Close()
	bad := url.Values{"current_password": {"wrong"}, "new_password": {"a new long password"}, "new_password_again": {"a new long password"}}
	if resp := h.post(op, "/account/password", bad); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("change with a wrong current password: %d", resp.StatusCode)
	}
	bad.Set("current_password", password)
	bad.Set("new_password_again", "something else entirely")
	if resp := h.post(op, "/account/password", bad); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("mismatched new passwords: %d", resp.StatusCode)
	}
	bad.Set("new_password_again", "a new long password")
	if resp := h.post(op, "/account/password", bad); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("change: %d %s", resp.StatusCode, body(resp))
	}
	if resp := h.get(op, "/"); resp.StatusCode != http.StatusOK {
		t.Fatal("the session that changed the password ended")
	}
	if resp := h.get(elsewhere, "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatal("another session survived the password change")
	}
	if _, err := h.store.Authenticate(context.Background(), "op@atum.io", "a new long password", "127.0.0.5"); err != nil {
		t.Fatalf("the new password does not work: %v", err)
	}

	enrolTOTP(t, h, op)
	admin := h.operator("admin@atum.io", auth.Admin)
	a, _ := h.store.Operator(context.Background(), 1)
	if resp := h.post(admin, "/operators/"+itoa(a.ID)+"/second-factor/reset", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reset: %d %s", resp.StatusCode, body(resp))
	}
	if resp := h.get(op, "/"); resp.StatusCode != http.StatusSeeOther {
		t.Fatal("a session survived the reset of its second factor")
	}
	resp := h.post(h.client(), "/login", url.Values{"email": {"op@atum.io"}, "password": {"a new long password"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("after the reset the password signs in alone: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if ev := h.events("operator.second_factor.reset"); len(ev) != 2 {
		t.Fatalf("reset audit: %+v", ev)
	}
}

// A person who has the password cannot guess codes without end by
// starting the sign-in again: after auth.MaxFactorFailures wrong codes
// the account's codes are refused (429) until the window passes.
func TestWrongCodesAcrossSignInsLockTheAccount(t *testing.T) {
	h := newHarness(t)
	op := h.operator("op@atum.io", auth.Operator)
	secret, _ := enrolTOTP(t, h, op)
	wrong := 0
	for wrong < auth.MaxFactorFailures {
		c := h.client()
		signInWithCode(t, h, c, "op@atum.io", "000000").Body.Close()
		wrong++
		for i := 1; i < auth.MaxChallengeFailures && wrong < auth.MaxFactorFailures; i++ {
			h.post(c, "/login/2fa", url.Values{"code": {"000000"}}).Body.Close()
			wrong++
		}
	}
	code, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	resp := signInWithCode(t, h, h.client(), "op@atum.io", code)
	if b := body(resp); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(b, "many wrong codes for this account") {
		t.Fatalf("the right code after %d wrong ones: %d", wrong, resp.StatusCode)
	}
	if got := h.reasons(); got[0] != "second_factor_locked" {
		t.Fatalf("audited %v", got)
	}
}

// Every destructive action the console offers asks for a fresh sign-in:
// the route table says so, so none can be added without a decision.
func TestDestructiveRoutesNeedAFreshSignIn(t *testing.T) {
	h := newHarness(t)
	want := []string{"/queues/purges/:id/confirm", "/queues/purges/:id/undo", "/switches/:name", "/accounts/:kind/:id/protection",
		"/operators", "/operators/:id/role", "/operators/:id/disable", "/operators/:id/enable", "/operators/:id/sessions/end",
		"/operators/:id/sessions/:session/end", "/operators/:id/second-factor/reset", "/operators/:id/password-link",
		"/operators/throttles/clear", "/queues/queues/:name/pause", "/queues/queues/:name/resume", "/queues/queues/:name/parallelism"}
	steps := map[string]string{}
	for _, r := range h.server.Routes {
		if r.Method == http.MethodPost {
			steps[r.Path] = r.StepUp
		}
	}
	for _, p := range want {
		if label, ok := steps[p]; !ok || label == "" {
			t.Errorf("POST %s does not ask for a fresh sign-in (registered %v)", p, ok)
		}
	}
}
