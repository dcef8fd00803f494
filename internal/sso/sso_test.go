package sso_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/devidp"
	"github.com/atum/ops-console/internal/devstack"
	"github.com/atum/ops-console/internal/sso"
	"github.com/atum/ops-console/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, devstack.Options{Postgres: true}) }

// The console's callback: never contacted, the agent stops there.
const redirectURL = "http://127.0.0.1:1/sso/callback"

var testUsers = []devidp.User{
	{ID: "u-alice", Email: "Alice@ATUM.io", EmailVerified: true, Groups: []string{"ops-admins", "staff"}, Name: "Alice"},
	{ID: "u-bob", Email: "bob@atum.io", EmailVerified: false},
	{ID: "u-nomail", EmailVerified: true},
	{ID: "u-sub", Email: "dave@eu.atum.io", EmailVerified: true},
	{ID: "u-lookalike", Email: "eve@notatum.io", EmailVerified: true},
}

type env struct {
	idp    *devidp.Provider
	pool   *pgxpool.Pool
	client *sso.Client
	cfg    sso.Config
}

func setup(t *testing.T, tweak func(*sso.Config)) *env {
	t.Helper()
	idp, err := devidp.Start(devidp.Options{
		Clients: []devidp.Client{{ID: "console", Secret: "s3cret", RedirectURIs: []string{redirectURL}}},
		Users:   testUsers,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Close)
	pool, _ := testenv.MigratedPool(t)
	cfg := sso.Config{Issuer: idp.Issuer(), ClientID: "console", ClientSecret: "s3cret", RedirectURL: redirectURL, RoleClaim: "groups"}
	if tweak != nil {
		tweak(&cfg)
	}
	return &env{idp: idp, pool: pool, client: sso.New(cfg, pool), cfg: cfg}
}

func (e *env) begin(t *testing.T, flow sso.Flow, fresh bool) (authURL, state string) {
	t.Helper()
	authURL, state, err := e.client.Begin(context.Background(), flow, fresh)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	return authURL, state
}

// signIn runs the browser's part: to the provider and back to the
// callback, whose query it returns.
func signIn(t *testing.T, a *devidp.Agent, authURL, user string) url.Values {
	t.Helper()
	q, _, err := a.SignIn(context.Background(), authURL, user)
	if err != nil {
		t.Fatalf("sign in at the provider: %v", err)
	}
	if q.Get("code") == "" {
		t.Fatalf("no code in the callback: %v", q)
	}
	return q
}

// refusal asserts err is a *sso.Refusal with code.
func refusal(t *testing.T, err error, code string) *sso.Refusal {
	t.Helper()
	var r *sso.Refusal
	if !errors.As(err, &r) || r.Code != code {
		t.Fatalf("got %v, want refusal %s", err, code)
	}
	if r.Message == "" {
		t.Errorf("refusal %s has no message", code)
	}
	return r
}

var login = sso.Flow{Purpose: sso.PurposeLogin, Next: "/fleet?tab=db"}

func TestFullFlow(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	before := time.Now().Add(-time.Second)
	authURL, state := e.begin(t, login, false)

	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if !strings.HasPrefix(authURL, e.idp.Issuer()+"/") || q.Get("state") != state || q.Get("client_id") != "console" ||
		q.Get("redirect_uri") != redirectURL || q.Get("response_type") != "code" {
		t.Errorf("authorization URL %s", authURL)
	}
	if q.Get("scope") != "openid email profile" || q.Get("code_challenge_method") != "S256" ||
		len(q.Get("code_challenge")) < 43 || len(q.Get("nonce")) < 43 || len(state) < 43 {
		t.Errorf("scope, PKCE, nonce or state wrong in %s", authURL)
	}
	if q.Has("prompt") || q.Has("max_age") {
		t.Errorf("a plain login forces a fresh authentication: %s", authURL)
	}
	// Only the state's hash is stored, for ten minutes.
	sum := sha256.Sum256([]byte(state))
	var ttl time.Duration
	var verifier string
	if err := e.pool.QueryRow(ctx, `SELECT expires_at - created_at, verifier FROM ops.oidc_logins WHERE state_hash = $1`, sum[:]).Scan(&ttl, &verifier); err != nil {
		t.Fatalf("flow row by state hash: %v", err)
	}
	if ttl != 10*time.Minute || verifier == "" || verifier == q.Get("code_challenge") {
		t.Errorf("ttl %v, verifier %q", ttl, verifier)
	}

	cb := signIn(t, devidp.NewAgent(redirectURL), authURL, "u-alice")
	id, flow, err := e.client.Finish(ctx, cb, state)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if id.Issuer != e.idp.Issuer() || id.Subject != "u-alice" || id.Email != "alice@atum.io" ||
		!slices.Equal(id.Groups, []string{"ops-admins", "staff"}) {
		t.Errorf("identity %+v", id)
	}
	if id.AuthTime.Before(before.Truncate(time.Second)) || id.AuthTime.After(time.Now()) {
		t.Errorf("auth time %v, want about now", id.AuthTime)
	}
	if flow.Purpose != sso.PurposeLogin || flow.Next != "/fleet?tab=db" || flow.SessionHash != nil {
		t.Errorf("flow %+v", flow)
	}
	// The same callback again (a replay) is refused.
	_, _, err = e.client.Finish(ctx, cb, state)
	refusal(t, err, sso.CodeStateReplayed)
}

func TestConcurrentFinishesAdmitOne(t *testing.T) {
	e := setup(t, nil)
	authURL, state := e.begin(t, login, false)
	cb := signIn(t, devidp.NewAgent(redirectURL), authURL, "u-alice")
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, _, errs[i] = e.client.Finish(context.Background(), cb, state) })
	}
	wg.Wait()
	ok, replayed := 0, 0
	for _, err := range errs {
		var r *sso.Refusal
		switch {
		case err == nil:
			ok++
		case errors.As(err, &r) && r.Code == sso.CodeStateReplayed:
			replayed++
		default:
			t.Errorf("unexpected: %v", err)
		}
	}
	if ok != 1 || replayed != len(errs)-1 {
		t.Errorf("%d passed and %d were refused as replays, want 1 and %d", ok, replayed, len(errs)-1)
	}
}

func TestPKCEVerifierIsSent(t *testing.T) {
	e := setup(t, nil)
	authURL, state := e.begin(t, login, false)
	cb := signIn(t, devidp.NewAgent(redirectURL), authURL, "u-alice")
	// Another verifier than the one the challenge was made from.
	if _, err := e.pool.Exec(context.Background(), `UPDATE ops.oidc_logins SET verifier = $1`, "x"+strings.Repeat("y", 50)); err != nil {
		t.Fatal(err)
	}
	_, _, err := e.client.Finish(context.Background(), cb, state)
	if r := refusal(t, err, sso.CodeExchangeFailed); r.Detail != "invalid_grant" {
		t.Errorf("detail %q, want invalid_grant", r.Detail)
	}
}

func TestStateChecks(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	authURL, state := e.begin(t, login, false)
	cb := signIn(t, devidp.NewAgent(redirectURL), authURL, "u-alice")

	_, _, err := e.client.Finish(ctx, cb, "")
	refusal(t, err, sso.CodeStateMissing)
	noState := url.Values{"code": cb["code"]}
	_, _, err = e.client.Finish(ctx, noState, state)
	refusal(t, err, sso.CodeStateMissing)
	_, _, err = e.client.Finish(ctx, cb, state+"x")
	refusal(t, err, sso.CodeStateMismatch)
	// Refusing a mismatch does not use the flow up: its own browser
	// completes it.
	if _, _, err := e.client.Finish(ctx, cb, state); err != nil {
		t.Fatalf("after a mismatch, the right cookie: %v", err)
	}

	unknown := url.Values{"code": cb["code"], "state": {"not-a-state-we-issued"}}
	_, _, err = e.client.Finish(ctx, unknown, "not-a-state-we-issued")
	refusal(t, err, sso.CodeStateUnknown)

	authURL, state = e.begin(t, login, false)
	cb = signIn(t, devidp.NewAgent(redirectURL), authURL, "u-alice")
	if _, err := e.pool.Exec(ctx, `UPDATE ops.oidc_logins SET expires_at = now() - interval '1 second' WHERE used_at IS NULL`); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.client.Finish(ctx, cb, state)
	refusal(t, err, sso.CodeStateExpired)
}

func TestNonceMismatch(t *testing.T) {
	e := setup(t, nil)
	authURL, state := e.begin(t, login, false)
	cb := signIn(t, devidp.NewAgent(redirectURL), authURL, "u-alice")
	if _, err := e.pool.Exec(context.Background(), `UPDATE ops.oidc_logins SET nonce = 'another-nonce'`); err != nil {
		t.Fatal(err)
	}
	_, _, err := e.client.Finish(context.Background(), cb, state)
	refusal(t, err, sso.CodeNonceMismatch)
}

func TestWrongAudience(t *testing.T) {
	e := setup(t, nil)
	e.idp.SetAudienceOverride("other-app")
	authURL, state := e.begin(t, login, false)
	cb := signIn(t, devidp.NewAgent(redirectURL), authURL, "u-alice")
	_, _, err := e.client.Finish(context.Background(), cb, state)
	refusal(t, err, sso.CodeWrongAudience)
}

func TestEmailChecks(t *testing.T) {
	e := setup(t, func(c *sso.Config) { c.AllowedDomains = []string{"Atum.IO"} })
	cases := []struct{ user, code string }{
		{"u-bob", sso.CodeEmailUnverified},
		{"u-nomail", sso.CodeEmailMissing},
		{"u-sub", sso.CodeDomainNotAllowed},       // a subdomain is another domain
		{"u-lookalike", sso.CodeDomainNotAllowed}, // no suffix matching
		{"u-alice", ""},                           // case-insensitive
	}
	for _, tc := range cases {
		authURL, state := e.begin(t, login, false)
		cb := signIn(t, devidp.NewAgent(redirectURL), authURL, tc.user)
		id, _, err := e.client.Finish(context.Background(), cb, state)
		if tc.code == "" {
			if err != nil || id.Email != "alice@atum.io" {
				t.Errorf("%s: %+v, %v", tc.user, id, err)
			}
			continue
		}
		refusal(t, err, tc.code)
	}
}

func TestStepUpNeedsFreshAuthentication(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	browser := devidp.NewAgent(redirectURL)
	authURL, state := e.begin(t, login, false)
	if _, _, err := e.client.Finish(ctx, signIn(t, browser, authURL, "u-alice"), state); err != nil {
		t.Fatal(err)
	}
	stepUp := sso.Flow{Purpose: sso.PurposeStepUp, Next: "/switches", SessionHash: []byte{1, 2, 3}}

	// Without fresh, the provider reuses its session: auth_time is that of
	// the first sign-in. The flow is made to look two minutes younger than
	// that session, beyond the 30 s allowed for clock skew.
	authURL, state = e.begin(t, stepUp, false)
	cb, prompted, err := browser.SignIn(ctx, authURL, "")
	if err != nil || prompted {
		t.Fatalf("the provider did not reuse its session: prompted %v, %v", prompted, err)
	}
	if _, err := e.pool.Exec(ctx, `UPDATE ops.oidc_logins SET created_at = created_at + interval '2 minutes' WHERE used_at IS NULL`); err != nil {
		t.Fatal(err)
	}
	_, flow, err := e.client.Finish(ctx, cb, state)
	refusal(t, err, sso.CodeStaleAuthentication)
	if flow.Purpose != sso.PurposeStepUp || !slices.Equal(flow.SessionHash, []byte{1, 2, 3}) || flow.Next != "/switches" {
		t.Errorf("refused step-up returned flow %+v", flow)
	}

	// The same for a login is fine: only a step-up needs fresh proof.
	authURL, state = e.begin(t, login, false)
	cb, _, _ = browser.SignIn(ctx, authURL, "")
	if _, err := e.pool.Exec(ctx, `UPDATE ops.oidc_logins SET created_at = created_at + interval '2 minutes' WHERE used_at IS NULL`); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.client.Finish(ctx, cb, state); err != nil {
		t.Errorf("login with an older provider session: %v", err)
	}

	// fresh asks for a new authentication, which passes.
	authURL, state = e.begin(t, stepUp, true)
	if u, _ := url.Parse(authURL); u.Query().Get("prompt") != "login" || u.Query().Get("max_age") != "0" {
		t.Fatalf("fresh step-up URL %s", authURL)
	}
	cb, prompted, err = browser.SignIn(ctx, authURL, "u-alice")
	if err != nil || !prompted {
		t.Fatalf("fresh step-up did not show the login page: %v", err)
	}
	id, flow, err := e.client.Finish(ctx, cb, state)
	if err != nil || flow.Purpose != sso.PurposeStepUp || time.Since(id.AuthTime) > 5*time.Second {
		t.Errorf("fresh step-up: %+v %+v %v", id, flow, err)
	}
}

func TestProviderError(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	authURL, state := e.begin(t, login, false)
	cb, err := devidp.NewAgent(redirectURL).Cancel(ctx, authURL)
	if err != nil {
		t.Fatal(err)
	}
	_, flow, err := e.client.Finish(ctx, cb, state)
	if r := refusal(t, err, sso.CodeProviderError); r.Detail != "access_denied" {
		t.Errorf("detail %q", r.Detail)
	}
	if flow.Next != login.Next {
		t.Errorf("flow %+v", flow)
	}
	// The flow is used up: it cannot be completed afterwards.
	cb.Del("error")
	cb.Set("code", "anything")
	_, _, err = e.client.Finish(ctx, cb, state)
	refusal(t, err, sso.CodeStateReplayed)

	// The provider's error code is cut down before it reaches a log.
	hostile := url.Values{"error": {"<script>alert(1)</script>\n" + strings.Repeat("A", 200)}}
	_, _, err = e.client.Finish(ctx, hostile, "")
	r := refusal(t, err, sso.CodeProviderError)
	if len(r.Detail) > 40 || strings.ContainsAny(r.Detail, "<>\n ") || strings.ContainsAny(r.Error(), "<>\n") {
		t.Errorf("detail %q, error %q", r.Detail, r.Error())
	}
}

func TestBeginValidates(t *testing.T) {
	e := setup(t, nil)
	for _, f := range []sso.Flow{
		{Purpose: "admin", Next: "/"},
		{Purpose: sso.PurposeLogin, Next: "//evil.example/"},
		{Purpose: sso.PurposeLogin, Next: "https://evil.example/"},
		{Purpose: sso.PurposeLogin, Next: "/\\evil.example"},
		{Purpose: sso.PurposeLogin, Next: "/a\tb"},
		{Purpose: sso.PurposeStepUp, Next: "/"},
	} {
		if _, _, err := e.client.Begin(context.Background(), f, false); err == nil {
			t.Errorf("Begin accepted %+v", f)
		}
	}
	var n int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM ops.oidc_logins`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d flows stored, %v", n, err)
	}
}

func TestPrune(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	// Four flows: expired two hours ago, used 90 minutes ago, used five
	// minutes ago (kept, so that a replay is still told apart), and live.
	// The console prunes them with sessions (auth.Store.Prune).
	for _, set := range []string{
		`expires_at = now() - interval '2 hours'`,
		`used_at = now() - interval '90 minutes'`,
		`used_at = now() - interval '5 minutes'`,
		`next = '/live'`,
	} {
		_, state := e.begin(t, login, false)
		sum := sha256.Sum256([]byte(state))
		if _, err := e.pool.Exec(ctx, `UPDATE ops.oidc_logins SET `+set+` WHERE state_hash = $1`, sum[:]); err != nil {
			t.Fatal(err)
		}
	}
	if err := auth.NewStore(e.pool).Prune(ctx, 7*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM ops.oidc_logins WHERE used_at > now() - interval '1 hour' OR next = '/live'`).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d of the 2 recent flows left (%v)", n, err)
	}
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM ops.oidc_logins`).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d flows left, want 2 (%v)", n, err)
	}
}

func TestNoDiscoveryAtNewAndBoundedBegin(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	// A provider that accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		for len(accepted) > 0 {
			(<-accepted).Close()
		}
	})
	c := sso.New(sso.Config{Issuer: "http://" + ln.Addr().String(), ClientID: "console", RedirectURL: redirectURL}, pool)
	time.Sleep(100 * time.Millisecond)
	if len(accepted) != 0 {
		t.Fatal("New contacted the provider")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err = c.Begin(ctx, login, false)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Begin against a hung provider: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Begin took %v, not bounded by its context", took)
	}
	if len(accepted) == 0 {
		t.Error("Begin did not try discovery")
	}
}

func TestDiscoveryFailureIsRetried(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := sso.New(sso.Config{Issuer: "http://" + addr, ClientID: "console", ClientSecret: "s3cret", RedirectURL: redirectURL}, pool)
	ctx := context.Background()
	if _, _, err := c.Begin(ctx, login, false); err == nil {
		t.Fatal("Begin with the provider down succeeded")
	}
	if err := c.Ready(ctx); err == nil {
		t.Fatal("Ready with the provider down")
	}
	idp, err := devidp.Start(devidp.Options{
		Addr:    addr,
		Clients: []devidp.Client{{ID: "console", Secret: "s3cret", RedirectURIs: []string{redirectURL}}},
		Users:   testUsers,
	})
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	defer idp.Close()
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("Ready with the provider up: %v", err)
	}
	authURL, state, err := c.Begin(ctx, login, false)
	if err != nil {
		t.Fatalf("Begin once the provider is up: %v", err)
	}
	id, _, err := c.Finish(ctx, signIn(t, devidp.NewAgent(redirectURL), authURL, "u-alice"), state)
	if err != nil || id.Subject != "u-alice" {
		t.Fatalf("Finish: %+v, %v", id, err)
	}
	// Once discovered, a provider down is an ordinary error, not a refusal.
	authURL, state, err = c.Begin(ctx, login, false)
	if err != nil {
		t.Fatal(err)
	}
	cb := signIn(t, devidp.NewAgent(redirectURL), authURL, "u-alice")
	idp.Close()
	_, _, err = c.Finish(ctx, cb, state)
	var r *sso.Refusal
	if err == nil || errors.As(err, &r) {
		t.Errorf("token exchange with the provider down: %v, want an ordinary error", err)
	}
}
