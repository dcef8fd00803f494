package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/atum/ops-console/handlers"
	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/web"
)

// passkeyConsole is a harness with passkeys on, served for the browser at
// http://localhost:PORT: WebAuthn needs a secure context and an RP ID
// that is a host name, and of the loopback addresses only localhost is
// both (http://127.0.0.1 is a secure context, but an IP address cannot
// be an RP ID). It returns the harness and that origin.
func passkeyConsole(t *testing.T) (*harness, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	rp, err := auth.NewPasskeys(origin)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(d *web.Deps) { d.Access.Passkeys = rp })
	ts := httptest.NewUnstartedServer(h.server.Echo)
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close)
	return h, origin
}

// passkeyBrowser starts Chromium with a virtual authenticator (CTAP2,
// built in, holding resident keys, always verifying its user).
func passkeyBrowser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	ctx, problems := browser(t)
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	_, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
			HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
		}})
	if err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return ctx, problems
}

// passkeySteps runs browser actions in order, failing the test at the first
// that fails.
func passkeySteps(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	for i, a := range actions {
		if _, err := chromedp.Run(ctx, a); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](
				`Array.from(document.querySelectorAll("[data-passkey-status], .error-box")).map(e => e.textContent).join(" | ")`))
			t.Fatalf("%s, step %d at %s: %v (page says %q)", what, i+1, loc, err, status)
		}
	}
}

// passkeyPasswordSignIn signs email in through the form, up to where waitFor
// shows.
func passkeyPasswordSignIn(t *testing.T, ctx context.Context, origin, email, waitFor string) {
	t.Helper()
	passkeySteps(t, ctx, "sign in as "+email,
		chromedp.Navigate(origin+"/login"),
		chromedp.WaitVisible(`input[name="email"]`),
		chromedp.SendKeys(`input[name="email"]`, email),
		chromedp.SendKeys(`input[name="password"]`, password),
		chromedp.Submit(`input[name="password"]`),
		chromedp.WaitVisible(waitFor))
}

// passkeyRegister adds a passkey named name on /account.
func passkeyRegister(t *testing.T, ctx context.Context, origin, name string) {
	t.Helper()
	passkeySteps(t, ctx, "add a passkey",
		chromedp.Navigate(origin+"/account"),
		chromedp.WaitVisible(`[data-testid="passkey-add-form"] input[name="name"]`),
		chromedp.SendKeys(`[data-testid="passkey-add-form"] input[name="name"]`, name),
		chromedp.Click(`[data-testid="passkey-add-form"] button[type="submit"]`),
		chromedp.WaitVisible(`[data-testid="passkey-row"]`))
}

func TestPasskeyRegistersAndSignsInInBrowser(t *testing.T) {
	h, origin := passkeyConsole(t)
	ctx := context.Background()
	a, err := h.store.CreateOperator(ctx, "pk@atum.io", auth.Operator, password, false)
	if err != nil {
		t.Fatal(err)
	}
	bctx, problems := passkeyBrowser(t)
	passkeyPasswordSignIn(t, bctx, origin, "pk@atum.io", `[data-testid="tile-postgres"]`)
	passkeyRegister(t, bctx, origin, "Virtual key")
	row, err := chromedp.Run(bctx, chromedp.Text(`[data-testid="passkey-row"]`))
	if err != nil || !strings.Contains(row, "Virtual key") || !strings.Contains(row, "never") {
		t.Fatalf("passkey row = %q (%v)", row, err)
	}
	if ev := h.events("second_factor.passkey.add"); len(ev) != 1 || ev[0].Result != audit.Success || ev[0].Operator != "pk@atum.io" {
		t.Fatalf("registration not audited: %+v", ev)
	}
	if f, _ := h.store.SecondFactor(ctx, a.ID); f.Passkeys != 1 {
		t.Fatalf("second factor after registration: %+v", f)
	}

	// Sign out, then in: the password, then the passkey.
	passkeySteps(t, bctx, "sign out",
		chromedp.Submit(`form[action="/logout"] button`),
		chromedp.WaitVisible(`input[name="password"]`))
	passkeyPasswordSignIn(t, bctx, origin, "pk@atum.io", `[data-passkey="login"]`)
	if n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="second-factor-form"]').length`)); err != nil || n != 0 {
		t.Fatalf("a code form is offered to an operator with only a passkey (%d, %v)", n, err)
	}
	passkeySteps(t, bctx, "use the passkey",
		chromedp.Click(`[data-passkey="login"]`),
		chromedp.WaitVisible(`[data-testid="tile-postgres"]`))
	logins := h.events("login")
	if len(logins) == 0 || logins[0].Result != audit.Success || logins[0].Operator != "pk@atum.io" ||
		!strings.Contains(logins[0].DetailsJSON, "password + passkey") {
		t.Fatalf("the passkey sign-in is not audited as such: %+v", logins)
	}
	keys, err := h.store.ListPasskeys(ctx, a.ID)
	if err != nil || len(keys) != 1 || keys[0].LastUsedAt == nil {
		t.Fatalf("passkey after use: %+v, %v", keys, err)
	}
	signIn, err := chromedp.Run(bctx, chromedp.Evaluate[string](`fetch("/account").then(r => r.text()).then(t => new DOMParser().parseFromString(t, "text/html").querySelector('[data-testid="account-signin"]').textContent)`, chromedp.EvalAwaitPromise))
	if err != nil || !strings.Contains(signIn, "password + passkey") {
		t.Fatalf("the session says it began with %q (%v)", signIn, err)
	}
	if p := problems(); len(p) > 0 {
		t.Fatalf("the pages raised errors: %v", p)
	}
}

// passkeyAssertionJS answers the sign-in's passkey request in the page and
// returns the PublicKeyCredential's JSON without sending it.
const passkeyAssertionJS = `(async () => {
  const buf = s => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4)), c => c.charCodeAt(0)).buffer;
  const enc = b => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const res = await fetch("/login/2fa/passkey/begin", {method: "POST"});
  const o = (await res.json()).publicKey;
  o.challenge = buf(o.challenge);
  o.allowCredentials.forEach(c => { c.id = buf(c.id); });
  const cred = await navigator.credentials.get({publicKey: o});
  const r = cred.response;
  return JSON.stringify({id: cred.id, rawId: enc(cred.rawId), type: cred.type, clientExtensionResults: {},
    response: {clientDataJSON: enc(r.clientDataJSON), authenticatorData: enc(r.authenticatorData),
      signature: enc(r.signature), userHandle: r.userHandle ? enc(r.userHandle) : undefined}});
})()`

func TestPasskeyForAnotherOperatorsChallengeIsRefused(t *testing.T) {
	h, origin := passkeyConsole(t)
	ctx := context.Background()
	if _, err := h.store.CreateOperator(ctx, "alice@atum.io", auth.Operator, password, false); err != nil {
		t.Fatal(err)
	}
	bctx, _ := passkeyBrowser(t)
	passkeyPasswordSignIn(t, bctx, origin, "alice@atum.io", `[data-testid="tile-postgres"]`)
	passkeyRegister(t, bctx, origin, "Alice's key")
	passkeySteps(t, bctx, "sign out", chromedp.Submit(`form[action="/logout"] button`), chromedp.WaitVisible(`input[name="password"]`))
	passkeyPasswordSignIn(t, bctx, origin, "alice@atum.io", `[data-passkey="login"]`)
	// Alice's browser answers her own challenge's passkey request.
	answer, err := chromedp.Run(bctx, chromedp.Evaluate[string](passkeyAssertionJS, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("assertion in the browser: %v", err)
	}

	// Bob, with a password and an authenticator app, owes a second factor.
	bob, err := h.store.CreateOperator(ctx, "bob@atum.io", auth.Operator, password, false)
	if err != nil {
		t.Fatal(err)
	}
	key, err := h.store.StartTOTP(ctx, bob.ID, "test")
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(key.Secret(), time.Now())
	if _, err := h.store.ConfirmTOTP(ctx, bob.ID, code); err != nil {
		t.Fatal(err)
	}
	c := h.client()
	post := func(path string, form url.Values) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, origin+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := post("/login", url.Values{"email": {"bob@atum.io"}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login/2fa" {
		t.Fatalf("bob's password: %d → %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp.Body.Close()
	// Alice's answer sent with Bob's challenge is refused and counted.
	req, _ := http.NewRequest(http.MethodPost, origin+"/login/2fa/passkey/finish", bytes.NewReader([]byte(answer)))
	req.Header.Set("Content-Type", "application/json")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var got handlers.PasskeyAnswer
	_ = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || got.Error == "" || got.Redirect != "" || sessionCookie(resp) != nil {
		t.Fatalf("alice's passkey for bob's challenge: %d %+v", resp.StatusCode, got)
	}
	var failures int
	if err := h.pool.QueryRow(ctx, `SELECT failures FROM ops.login_challenges WHERE operator_id = $1`, bob.ID).Scan(&failures); err != nil || failures != 1 {
		t.Fatalf("bob's challenge failures = %d (%v), want 1", failures, err)
	}
	logins := h.events("login")
	if len(logins) == 0 || logins[0].Result != audit.Failure || logins[0].Operator != "bob@atum.io" ||
		!strings.Contains(logins[0].DetailsJSON, "second_factor_wrong") || !strings.Contains(logins[0].DetailsJSON, "passkey") {
		t.Fatalf("the refusal is not audited as a wrong second factor of bob's: %+v", logins[0])
	}
	// Bob's challenge does not take a passkey he does not have either.
	resp = post("/login/2fa/passkey/begin", nil)
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("passkey begin for bob: %d", resp.StatusCode)
	}
	resp.Body.Close()

	// The same answer still signs Alice in from her own browser: it was
	// refused for whose challenge it was sent with, not for itself.
	status, err := chromedp.Run(bctx, chromedp.Evaluate[int](`fetch("/login/2fa/passkey/finish", {method: "POST",
		headers: {"Content-Type": "application/json"}, body: `+passkeyJSString(answer)+`}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil || status != http.StatusOK {
		t.Fatalf("alice's own answer: %d (%v)", status, err)
	}
}

// passkeyJSString quotes s as a JavaScript string literal.
func passkeyJSString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestPasskeyConfirmsAStepUpInBrowser(t *testing.T) {
	h, origin := passkeyConsole(t)
	ctx := context.Background()
	a, err := h.store.CreateOperator(ctx, "up@atum.io", auth.Operator, password, false)
	if err != nil {
		t.Fatal(err)
	}
	bctx, problems := passkeyBrowser(t)
	passkeyPasswordSignIn(t, bctx, origin, "up@atum.io", `[data-testid="tile-postgres"]`)
	passkeyRegister(t, bctx, origin, "Laptop")
	// The sign-in is now older than the step-up window.
	if _, err := h.pool.Exec(ctx, `UPDATE ops.sessions SET authenticated_at = now() - interval '1 hour' WHERE operator_id = $1`, a.ID); err != nil {
		t.Fatal(err)
	}
	passkeySteps(t, bctx, "remove the passkey, confirming with it",
		chromedp.Navigate(origin+"/account"),
		chromedp.WaitVisible(`[data-testid="passkey-remove-form"]`),
		chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`),
		chromedp.Submit(`[data-testid="passkey-remove-form"] button`),
		chromedp.WaitVisible(`[data-testid="step-up-passkey"]`),
		chromedp.SendKeys(`input[name="password"]`, password),
		chromedp.Click(`[data-testid="step-up-passkey"]`),
		chromedp.WaitVisible(`[data-testid="kept-form-submit"]`),
		chromedp.Click(`[data-testid="kept-form-submit"]`),
		chromedp.WaitVisible(`[data-testid="passkeys-empty"]`))
	ups := h.events("step_up")
	if len(ups) == 0 || ups[0].Result != audit.Success || !strings.Contains(ups[0].DetailsJSON, `"second_factor": "passkey"`) {
		t.Fatalf("the step-up is not audited with its passkey: %+v", ups)
	}
	if ev := h.events("second_factor.passkey.remove"); len(ev) != 1 || !strings.Contains(ev[0].DetailsJSON, "Laptop") {
		t.Fatalf("removal not audited: %+v", ev)
	}
	if p := problems(); len(p) > 0 {
		t.Fatalf("the pages raised errors: %v", p)
	}
}

// TestPasskeyRoutesKeepTheirGuards checks the passkey endpoints without
// a browser: a session is needed where the route table says so, the
// sign-in's need a live challenge, adding one needs a fresh sign-in, and
// a cross-site post is refused.
func TestPasskeyRoutesKeepTheirGuards(t *testing.T) {
	h, origin := passkeyConsole(t)
	ctx := context.Background()
	do := func(c *http.Client, path, ctype, body string, hdr ...string) (*http.Response, handlers.PasskeyAnswer) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, origin+path, strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a handlers.PasskeyAnswer
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			_ = json.NewDecoder(resp.Body).Decode(&a)
		}
		return resp, a
	}
	for _, r := range h.server.Routes {
		if !strings.Contains(r.Path, "passkey") || r.Public {
			continue
		}
		if resp, _ := do(h.client(), strings.ReplaceAll(r.Path, ":passkey", "AAAA"), "", ""); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without a session: %d", r.Method, r.Path, resp.StatusCode)
		}
	}
	for _, path := range []string{"/login/2fa/passkey/begin", "/login/2fa/passkey/finish"} {
		resp, a := do(h.client(), path, "application/json", "{}")
		if resp.StatusCode != http.StatusUnauthorized || a.Redirect != "/login?done=expired" || a.Error == "" {
			t.Errorf("%s without a challenge: %d %+v", path, resp.StatusCode, a)
		}
	}

	a, err := h.store.CreateOperator(ctx, "guard@atum.io", auth.Operator, password, false)
	if err != nil {
		t.Fatal(err)
	}
	c := h.client()
	resp, _ := do(c, "/login", "application/x-www-form-urlencoded", url.Values{"email": {"guard@atum.io"}, "password": {password}}.Encode())
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	// Fresh: the options come back.
	resp, _ = do(c, "/account/passkeys/begin", "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("begin while fresh: %d", resp.StatusCode)
	}
	// A cross-site post is refused before any handler.
	if resp, _ := do(c, "/account/passkeys/begin", "", "", "Sec-Fetch-Site", "cross-site"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site begin: %d", resp.StatusCode)
	}
	// Stale: the JSON endpoints say to step up; the form goes to /reauth.
	if _, err := h.pool.Exec(ctx, `UPDATE ops.sessions SET authenticated_at = now() - interval '1 hour' WHERE operator_id = $1`, a.ID); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/account/passkeys/begin", "/account/passkeys/finish?name=x"} {
		if resp, ans := do(c, path, "application/json", "{}"); resp.StatusCode != http.StatusForbidden || !ans.StepUp {
			t.Errorf("%s while stale: %d %+v", path, resp.StatusCode, ans)
		}
	}
	resp, _ = do(c, "/account/passkeys", "application/x-www-form-urlencoded", "name=Key")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/reauth?draft=") {
		t.Errorf("adding while stale: %d → %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Nothing to remove of someone else's, nor a key that is not one.
	for _, key := range []string{"AAAA", "not*base64"} {
		if _, err := h.pool.Exec(ctx, `UPDATE ops.sessions SET authenticated_at = now() WHERE operator_id = $1`, a.ID); err != nil {
			t.Fatal(err)
		}
		if resp, _ := do(c, "/account/passkeys/"+key+"/delete", "", ""); resp.StatusCode != http.StatusNotFound {
			t.Errorf("removing %q: %d", key, resp.StatusCode)
		}
	}
}
