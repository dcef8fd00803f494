package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/testenv"
)

const testOrigin = "https://console.atum.test"

func TestNewPasskeysTakesTheOriginsHost(t *testing.T) {
	for in, want := range map[string]string{
		"https://console.atum.io":         "https://console.atum.io",
		"https://Console.Atum.io/":        "https://console.atum.io",
		"https://console.atum.io:8443/x":  "https://console.atum.io:8443",
		"http://localhost:8080":           "http://localhost:8080",
		"  https://ops.example.com/ops  ": "https://ops.example.com",
	} {
		p, err := auth.NewPasskeys(in)
		if err != nil || p.Origin() != want {
			t.Errorf("NewPasskeys(%q) = %v, %v; want origin %s", in, p, err, want)
			continue
		}
		if host := strings.Split(strings.TrimPrefix(strings.TrimPrefix(want, "https://"), "http://"), ":")[0]; p.RPID() != host {
			t.Errorf("NewPasskeys(%q).RPID() = %q, want %q", in, p.RPID(), host)
		}
	}
	for _, bad := range []string{"", "console.atum.io", "http://console.atum.io", "https://127.0.0.1", "http://127.0.0.1:8080",
		"https://[::1]:8443", "ftp://console.atum.io", "https://user@console.atum.io"} {
		if p, err := auth.NewPasskeys(bad); err == nil {
			t.Errorf("NewPasskeys(%q) = %s, want an error", bad, p.Origin())
		}
	}
}

// passkeyEnv is a store, a relying party on testOrigin and an operator.
type passkeyEnv struct {
	t    *testing.T
	pool *pgxpool.Pool
	s    *auth.Store
	rp   *auth.Passkeys
	ctx  context.Context
}

func newPasskeyEnv(t *testing.T) *passkeyEnv {
	pool, _ := testenv.MigratedPool(t)
	rp, err := auth.NewPasskeys(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	return &passkeyEnv{t: t, pool: pool, s: auth.NewStore(pool), rp: rp, ctx: context.Background()}
}

func (e *passkeyEnv) operator(email string) auth.Account {
	e.t.Helper()
	a, err := e.s.CreateOperator(e.ctx, email, auth.Operator, "the right password", false)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// register adds a new soft key as a passkey of a under the session token.
func (e *passkeyEnv) register(a auth.Account, token, name string) *softKey {
	e.t.Helper()
	k := newSoftKey(e.t, testOrigin)
	opts, err := e.s.BeginPasskeyRegistration(e.ctx, e.rp, a.ID, token)
	if err != nil {
		e.t.Fatalf("begin registration: %v", err)
	}
	if _, err := e.s.FinishPasskeyRegistration(e.ctx, e.rp, a.ID, token, name, k.create(opts)); err != nil {
		e.t.Fatalf("finish registration: %v", err)
	}
	return k
}

// storedCount is the signature counter stored with a's only passkey.
func (e *passkeyEnv) storedCount(a auth.Account) uint32 {
	e.t.Helper()
	var raw []byte
	if err := e.pool.QueryRow(e.ctx, `SELECT credential FROM ops.passkeys WHERE operator_id = $1`, a.ID).Scan(&raw); err != nil {
		e.t.Fatal(err)
	}
	var c webauthn.Credential
	if err := json.Unmarshal(raw, &c); err != nil {
		e.t.Fatal(err)
	}
	return c.Authenticator.SignCount
}

func TestPasskeyRegistersAndAnswers(t *testing.T) {
	e := newPasskeyEnv(t)
	a := e.operator("pk@atum.io")
	opts, err := e.s.BeginPasskeyRegistration(e.ctx, e.rp, a.ID, "session-a")
	if err != nil {
		t.Fatal(err)
	}
	if o := opts.Response; o.RelyingParty.ID != "console.atum.test" || o.User.Name != "pk@atum.io" || len(o.CredentialExcludeList) != 0 {
		t.Fatalf("creation options = %+v", o)
	}
	k := newSoftKey(t, testOrigin)
	got, err := e.s.FinishPasskeyRegistration(e.ctx, e.rp, a.ID, "session-a", "  Work\tlaptop\n ", k.create(opts))
	if err != nil || got.Name != "Work laptop" || string(got.ID) != string(k.id) {
		t.Fatalf("finish registration = %+v, %v", got, err)
	}
	list, err := e.s.ListPasskeys(e.ctx, a.ID)
	if err != nil || len(list) != 1 || list[0].Name != "Work laptop" || list[0].LastUsedAt != nil {
		t.Fatalf("ListPasskeys = %+v, %v", list, err)
	}
	if id, ok := auth.ParsePasskeyKey(list[0].Key()); !ok || string(id) != string(k.id) {
		t.Fatalf("passkey key does not round-trip: %q", list[0].Key())
	}
	if f, _ := e.s.SecondFactor(e.ctx, a.ID); f.Passkeys != 1 || !f.Enrolled() {
		t.Fatalf("second factor after registration: %+v", f)
	}
	// The registered key is excluded from the next registration.
	again, err := e.s.BeginPasskeyRegistration(e.ctx, e.rp, a.ID, "session-a")
	if err != nil || len(again.Response.CredentialExcludeList) != 1 {
		t.Fatalf("second registration's exclusions: %+v, %v", again, err)
	}
	// The same authenticator registered anyway is refused.
	if _, err := e.s.FinishPasskeyRegistration(e.ctx, e.rp, a.ID, "session-a", "twice", k.create(again)); !errors.Is(err, auth.ErrPasskeyExists) {
		t.Fatalf("the same credential twice: %v", err)
	}

	for _, purpose := range []string{auth.CeremonyLogin, auth.CeremonyStepUp} {
		req, err := e.s.BeginPasskeyAssertion(e.ctx, e.rp, a.ID, purpose, "bound-"+purpose)
		if err != nil || len(req.Response.AllowedCredentials) != 1 || req.Response.RelyingPartyID != "console.atum.test" {
			t.Fatalf("begin %s: %+v, %v", purpose, req, err)
		}
		used, err := e.s.FinishPasskeyAssertion(e.ctx, e.rp, a.ID, purpose, "bound-"+purpose, k.get(req, 1))
		if err != nil || used.Name != "Work laptop" || used.LastUsedAt == nil {
			t.Fatalf("finish %s: %+v, %v", purpose, used, err)
		}
	}
	if n := e.storedCount(a); n != 2 {
		t.Errorf("stored signature counter = %d, want 2", n)
	}
	// A login ceremony cannot be begun for someone without passkeys.
	b := e.operator("nokey@atum.io")
	if _, err := e.s.BeginPasskeyAssertion(e.ctx, e.rp, b.ID, auth.CeremonyLogin, "x"); !errors.Is(err, auth.ErrNoPasskeys) {
		t.Errorf("assertion without passkeys: %v", err)
	}
	if _, err := e.s.BeginPasskeyRegistration(e.ctx, nil, a.ID, "x"); !errors.Is(err, auth.ErrPasskeysOff) {
		t.Errorf("registration with passkeys off: %v", err)
	}
}

func TestPasskeyCeremonyIsUsedOnce(t *testing.T) {
	e := newPasskeyEnv(t)
	a := e.operator("once@atum.io")
	k := newSoftKey(t, testOrigin)
	opts, _ := e.s.BeginPasskeyRegistration(e.ctx, e.rp, a.ID, "s")
	answer := k.create(opts)
	if _, err := e.s.FinishPasskeyRegistration(e.ctx, e.rp, a.ID, "s", "k", answer); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.FinishPasskeyRegistration(e.ctx, e.rp, a.ID, "s", "k", answer); !errors.Is(err, auth.ErrNoCeremony) {
		t.Fatalf("replayed registration: %v", err)
	}

	// An assertion refused (a bad signature) still spends its ceremony:
	// the right answer after it is refused too.
	req, _ := e.s.BeginPasskeyAssertion(e.ctx, e.rp, a.ID, auth.CeremonyLogin, "c")
	good := k.get(req, 1)
	if _, err := e.s.FinishPasskeyAssertion(e.ctx, e.rp, a.ID, auth.CeremonyLogin, "c", tamper(t, good)); !errors.Is(err, auth.ErrPasskeyRefused) {
		t.Fatalf("bad signature: %v", err)
	}
	if _, err := e.s.FinishPasskeyAssertion(e.ctx, e.rp, a.ID, auth.CeremonyLogin, "c", good); !errors.Is(err, auth.ErrNoCeremony) {
		t.Fatalf("answer after a refused one: %v", err)
	}
	// A replayed assertion is refused.
	req, _ = e.s.BeginPasskeyAssertion(e.ctx, e.rp, a.ID, auth.CeremonyLogin, "c")
	good = k.get(req, 1)
	if _, err := e.s.FinishPasskeyAssertion(e.ctx, e.rp, a.ID, auth.CeremonyLogin, "c", good); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.FinishPasskeyAssertion(e.ctx, e.rp, a.ID, auth.CeremonyLogin, "c", good); !errors.Is(err, auth.ErrNoCeremony) {
		t.Fatalf("replayed assertion: %v", err)
	}
	// Garbage is refused without touching a ceremony.
	for _, junk := range []string{"", "{}", `{"id":"AA","rawId":"AA","type":"public-key","response":{}}`, strings.Repeat("x", 70<<10)} {
		if _, err := e.s.FinishPasskeyAssertion(e.ctx, e.rp, a.ID, auth.CeremonyLogin, "c", []byte(junk)); !errors.Is(err, auth.ErrPasskeyRefused) {
			t.Errorf("junk answer %.20q: %v", junk, err)
		}
	}
}

func TestPasskeyCeremonyExpires(t *testing.T) {
	e := newPasskeyEnv(t)
	a := e.operator("late@atum.io")
	k := e.register(a, "s", "k")
	req, _ := e.s.BeginPasskeyAssertion(e.ctx, e.rp, a.ID, auth.CeremonyStepUp, "s")
	var ttl float64
	if err := e.pool.QueryRow(e.ctx, `SELECT extract(epoch FROM expires_at - created_at) FROM ops.webauthn_ceremonies
		WHERE used_at IS NULL`).Scan(&ttl); err != nil || ttl != 300 {
		t.Fatalf("ceremony lives %v s (%v), want 300", ttl, err)
	}
	if _, err := e.pool.Exec(e.ctx, `UPDATE ops.webauthn_ceremonies SET expires_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.FinishPasskeyAssertion(e.ctx, e.rp, a.ID, auth.CeremonyStepUp, "s", k.get(req, 1)); !errors.Is(err, auth.ErrNoCeremony) {
		t.Fatalf("expired ceremony: %v", err)
	}
	// Ceremonies used or expired more than an hour ago are pruned.
	if _, err := e.pool.Exec(e.ctx, `UPDATE ops.webauthn_ceremonies SET expires_at = now() - interval '2 hours',
		used_at = CASE WHEN used_at IS NULL THEN NULL ELSE now() - interval '2 hours' END`); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Prune(e.ctx, 0); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM ops.webauthn_ceremonies`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d ceremonies left after pruning (%v)", left, err)
	}
}

func TestPasskeyCeremonyBelongsToItsOperatorPurposeAndBinding(t *testing.T) {
	e := newPasskeyEnv(t)
	a, b := e.operator("a@atum.io"), e.operator("b@atum.io")
	ka := newSoftKey(t, testOrigin)
	opts, _ := e.s.BeginPasskeyRegistration(e.ctx, e.rp, a.ID, "session-a")
	answer := ka.create(opts)
	// b cannot finish a's registration, not even under a's session, and
	// a cannot finish it under another session; none of it spends it.
	for _, try := range []struct {
		id    int64
		token string
	}{{b.ID, "session-b"}, {b.ID, "session-a"}, {a.ID, "session-b"}} {
		if _, err := e.s.FinishPasskeyRegistration(e.ctx, e.rp, try.id, try.token, "stolen", answer); !errors.Is(err, auth.ErrNoCeremony) {
			t.Errorf("finish a's registration as %d under %s: %v", try.id, try.token, err)
		}
	}
	if list, _ := e.s.ListPasskeys(e.ctx, b.ID); len(list) != 0 {
		t.Fatalf("b got a passkey: %+v", list)
	}
	if _, err := e.s.FinishPasskeyRegistration(e.ctx, e.rp, a.ID, "session-a", "mine", answer); err != nil {
		t.Fatalf("a's own registration after the attempts: %v", err)
	}

	// Assertions: b cannot use a's ceremony; a sign-in ceremony does not
	// step up, nor the reverse.
	req, _ := e.s.BeginPasskeyAssertion(e.ctx, e.rp, a.ID, auth.CeremonyLogin, "challenge-a")
	got := ka.get(req, 1)
	if _, err := e.s.FinishPasskeyAssertion(e.ctx, e.rp, b.ID, auth.CeremonyLogin, "challenge-a", got); !errors.Is(err, auth.ErrNoCeremony) {
		t.Errorf("b finishing a's assertion: %v", err)
	}
	if _, err := e.s.FinishPasskeyAssertion(e.ctx, e.rp, a.ID, auth.CeremonyStepUp, "challenge-a", got); !errors.Is(err, auth.ErrNoCeremony) {
		t.Errorf("a sign-in ceremony used to step up: %v", err)
	}
	if _, err := e.s.FinishPasskeyAssertion(e.ctx, e.rp, a.ID, auth.CeremonyLogin, "challenge-b", got); !errors.Is(err, auth.ErrNoCeremony) {
		t.Errorf("a's ceremony under another challenge: %v", err)
	}
	if _, err := e.s.FinishPasskeyAssertion(e.ctx, e.rp, a.ID, auth.CeremonyLogin, "challenge-a", got); err != nil {
		t.Errorf("a's own assertion after the attempts: %v", err)
	}
	// b's own ceremony answered by a's key: the library refuses a
	// credential b does not own.
	e.register(b, "session-b", "b's key")
	reqB, _ := e.s.BeginPasskeyAssertion(e.ctx, e.rp, b.ID, auth.CeremonyLogin, "challenge-b")
	if _, err := e.s.FinishPasskeyAssertion(e.ctx, e.rp, b.ID, auth.CeremonyLogin, "challenge-b", ka.get(reqB, 1)); !errors.Is(err, auth.ErrPasskeyRefused) {
		t.Errorf("a's key answering b's ceremony: %v", err)
	}
}

func TestPasskeyLimitsAndDelete(t *testing.T) {
	e := newPasskeyEnv(t)
	a, b := e.operator("many@atum.io"), e.operator("other@atum.io")
	for i := range auth.MaxPasskeys - 1 {
		e.register(a, "s", "key "+string(rune('A'+i)))
	}
	// Two registrations begun at nine: only one finishes.
	k1, k2 := newSoftKey(t, testOrigin), newSoftKey(t, testOrigin)
	o1, err1 := e.s.BeginPasskeyRegistration(e.ctx, e.rp, a.ID, "s")
	o2, err2 := e.s.BeginPasskeyRegistration(e.ctx, e.rp, a.ID, "s")
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if _, err := e.s.FinishPasskeyRegistration(e.ctx, e.rp, a.ID, "s", "tenth", k1.create(o1)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.FinishPasskeyRegistration(e.ctx, e.rp, a.ID, "s", "eleventh", k2.create(o2)); !errors.Is(err, auth.ErrTooManyPasskeys) {
		t.Fatalf("eleventh passkey: %v", err)
	}
	if _, err := e.s.BeginPasskeyRegistration(e.ctx, e.rp, a.ID, "s"); !errors.Is(err, auth.ErrTooManyPasskeys) {
		t.Fatalf("begin at the limit: %v", err)
	}
	list, _ := e.s.ListPasskeys(e.ctx, a.ID)
	if len(list) != auth.MaxPasskeys {
		t.Fatalf("%d passkeys, want %d", len(list), auth.MaxPasskeys)
	}
	// Names are cleaned and clipped.
	e.register(b, "t", strings.Repeat("é", 100)+"\x00")
	bl, _ := e.s.ListPasskeys(e.ctx, b.ID)
	if len(bl) != 1 || len([]rune(bl[0].Name)) != auth.MaxPasskeyName || strings.ContainsRune(bl[0].Name, 0) {
		t.Fatalf("long name stored as %q", bl[0].Name)
	}

	// b cannot delete a's passkey; a can, and then has room again.
	if _, err := e.s.DeletePasskey(e.ctx, b.ID, list[0].ID); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("b deleting a's passkey: %v", err)
	}
	gone, err := e.s.DeletePasskey(e.ctx, a.ID, list[0].ID)
	if err != nil || gone.Name != list[0].Name {
		t.Fatalf("DeletePasskey = %+v, %v", gone, err)
	}
	if _, err := e.s.DeletePasskey(e.ctx, a.ID, list[0].ID); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
	if _, err := e.s.BeginPasskeyRegistration(e.ctx, e.rp, a.ID, "s"); err != nil {
		t.Fatalf("begin after a delete: %v", err)
	}
	// Only a few unfinished ceremonies are kept per session.
	for range 8 {
		if _, err := e.s.BeginPasskeyRegistration(e.ctx, e.rp, a.ID, "s"); err != nil {
			t.Fatal(err)
		}
	}
	var live int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM ops.webauthn_ceremonies WHERE operator_id = $1 AND used_at IS NULL`, a.ID).
		Scan(&live); err != nil || live != 5 {
		t.Fatalf("%d unfinished ceremonies kept (%v), want 5", live, err)
	}
}

func TestPasskeyCloneIsRefused(t *testing.T) {
	e := newPasskeyEnv(t)
	a := e.operator("clone@atum.io")
	k := e.register(a, "s", "k")
	req, _ := e.s.BeginPasskeyAssertion(e.ctx, e.rp, a.ID, auth.CeremonyLogin, "c")
	if _, err := e.s.FinishPasskeyAssertion(e.ctx, e.rp, a.ID, auth.CeremonyLogin, "c", k.get(req, 5)); err != nil {
		t.Fatal(err)
	}
	// A copy of the key answers with a counter that did not move.
	req, _ = e.s.BeginPasskeyAssertion(e.ctx, e.rp, a.ID, auth.CeremonyLogin, "c")
	_, err := e.s.FinishPasskeyAssertion(e.ctx, e.rp, a.ID, auth.CeremonyLogin, "c", k.get(req, 0))
	if !errors.Is(err, auth.ErrPasskeyCloned) || !errors.Is(err, auth.ErrPasskeyRefused) {
		t.Fatalf("cloned key: %v", err)
	}
	if n := e.storedCount(a); n != 5 {
		t.Errorf("stored counter = %d after a refused clone, want 5", n)
	}
}

func TestChallengeAnsweredWithAPasskey(t *testing.T) {
	e := newPasskeyEnv(t)
	a, b := e.operator("two@atum.io"), e.operator("mallory@atum.io")
	ka := e.register(a, "s", "k")
	e.register(b, "t", "k")
	tokA, _ := e.s.StartChallenge(e.ctx, a.ID, "/audit", "10.0.0.1")
	tokB, _ := e.s.StartChallenge(e.ctx, b.ID, "/", "10.0.0.2")

	reqA, err := e.s.BeginChallengePasskey(e.ctx, e.rp, tokA)
	if err != nil {
		t.Fatal(err)
	}
	answer := ka.get(reqA, 1)
	// a's answer is refused for b's challenge, and counts against it; the
	// refusal names b, for the audit log.
	if who, _, err := e.s.AnswerChallengeWithPasskey(e.ctx, e.rp, tokB, answer); !errors.Is(err, auth.ErrNoCeremony) || who.ID != b.ID {
		t.Fatalf("a's assertion for b's challenge: %+v, %v", who, err)
	}
	var failures int
	if err := e.pool.QueryRow(e.ctx, `SELECT failures FROM ops.login_challenges WHERE operator_id = $1`, b.ID).Scan(&failures); err != nil || failures != 1 {
		t.Fatalf("b's challenge failures = %d (%v), want 1", failures, err)
	}
	got, next, err := e.s.AnswerChallengeWithPasskey(e.ctx, e.rp, tokA, answer)
	if err != nil || got.ID != a.ID || next != "/audit" {
		t.Fatalf("AnswerChallengeWithPasskey = %+v, %q, %v", got, next, err)
	}
	var method string
	if err := e.pool.QueryRow(e.ctx, `SELECT last_login_method FROM ops.operators WHERE id = $1`, a.ID).Scan(&method); err != nil || method != "password + passkey" {
		t.Errorf("last login method %q, %v", method, err)
	}
	if _, _, err := e.s.Challenge(e.ctx, tokA); !errors.Is(err, auth.ErrNoChallenge) {
		t.Errorf("challenge still live after its answer: %v", err)
	}
	if _, err := e.s.BeginChallengePasskey(e.ctx, e.rp, tokA); !errors.Is(err, auth.ErrNoChallenge) {
		t.Errorf("begin for an answered challenge: %v", err)
	}
	// Refused answers use up b's challenge like wrong codes.
	for i := 1; i < auth.MaxChallengeFailures; i++ {
		if _, err := e.s.BeginChallengePasskey(e.ctx, e.rp, tokB); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.s.AnswerChallengeWithPasskey(e.ctx, e.rp, tokB, []byte("{}")); !errors.Is(err, auth.ErrPasskeyRefused) {
			t.Fatalf("junk answer %d: %v", i, err)
		}
	}
	if _, _, err := e.s.AnswerChallengeWithPasskey(e.ctx, e.rp, tokB, []byte("{}")); !errors.Is(err, auth.ErrNoChallenge) {
		t.Fatalf("after %d refusals: %v", auth.MaxChallengeFailures, err)
	}
}
