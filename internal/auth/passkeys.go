package auth

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5"
)

// MaxPasskeys is how many passkeys an operator may register.
const MaxPasskeys = 10

// MaxPasskeyName is the longest name, in characters, a passkey may have.
const MaxPasskeyName = 60

// PasskeyRPName names the console in the browser's passkey prompts.
const PasskeyRPName = "ATUM Ops Console"

// Errors of passkey registration and use; callers compare with
// errors.Is. Each is fit to show the operator.
var (
	ErrPasskeysOff     = errors.New("passkeys are not available on this console (its public URL is not configured)")
	ErrTooManyPasskeys = fmt.Errorf("you have %d passkeys, the most allowed; remove one first", MaxPasskeys)
	ErrNoPasskeys      = errors.New("no passkey is registered")
	ErrPasskeyExists   = errors.New("that passkey is already registered")
	ErrNoCeremony      = errors.New("this passkey request expired or was already used; try again")
	ErrPasskeyRefused  = errors.New("that passkey was not accepted")
	// ErrPasskeyCloned is an ErrPasskeyRefused: the authenticator's
	// signature counter went backwards, so two copies of the key may exist.
	ErrPasskeyCloned = fmt.Errorf("%w: its signature counter went backwards, so it may have been copied", ErrPasskeyRefused)
)

// Passkeys is the console as a WebAuthn relying party: its origin (scheme,
// host and port, as browsers see it) and its RP ID (the origin's host).
// A passkey works only on the origin it was registered for.
type Passkeys struct {
	wa     *webauthn.WebAuthn
	origin string
}

// NewPasskeys returns the relying party for the console's public origin,
// e.g. "https://console.atum.io" (a path is ignored). Browsers offer
// passkeys only in secure contexts, so the origin must be https, or http
// on localhost; the host must be a name, not an IP address.
func NewPasskeys(origin string) (*Passkeys, error) {
	u, err := url.Parse(strings.TrimSpace(origin))
	if err != nil || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("auth: passkeys: %q is not an absolute URL", origin)
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname())
	switch {
	case net.ParseIP(host) != nil:
		return nil, fmt.Errorf("auth: passkeys: %q: the host must be a name, not an IP address", origin)
	case scheme == "http" && host != "localhost" && !strings.HasSuffix(host, ".localhost"):
		return nil, fmt.Errorf("auth: passkeys: %q: browsers offer passkeys over https only (or http://localhost)", origin)
	case scheme != "http" && scheme != "https":
		return nil, fmt.Errorf("auth: passkeys: %q: the scheme must be https", origin)
	}
	o := scheme + "://" + host
	if p := u.Port(); p != "" {
		o += ":" + p
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID: host, RPDisplayName: PasskeyRPName, RPOrigins: []string{o},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementPreferred, UserVerification: protocol.VerificationPreferred,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: CeremonyTTL, TimeoutUVD: CeremonyTTL},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: CeremonyTTL, TimeoutUVD: CeremonyTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("auth: passkeys: %w", err)
	}
	return &Passkeys{wa: wa, origin: o}, nil
}

// Origin is the origin passkeys are registered for and used on.
func (p *Passkeys) Origin() string { return p.origin }

// RPID is the relying party id: the origin's host.
func (p *Passkeys) RPID() string { return p.wa.Config.RPID }

// Passkey is a registered passkey as the console lists it.
type Passkey struct {
	// ID is the credential id the authenticator chose.
	ID         []byte
	Name       string
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// Key names the passkey in URLs: its id, base64url-encoded.
func (k Passkey) Key() string { return base64.RawURLEncoding.EncodeToString(k.ID) }

// ParsePasskeyKey reverses Passkey.Key.
func ParsePasskeyKey(key string) ([]byte, bool) {
	if key == "" || len(key) > 1400 {
		return nil, false
	}
	id, err := base64.RawURLEncoding.DecodeString(key)
	return id, err == nil && len(id) > 0
}

// CleanPasskeyName trims name, drops control characters and clips it to
// MaxPasskeyName characters; an empty name becomes "Passkey".
func CleanPasskeyName(name string) string {
	name = strings.Join(strings.FieldsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if r := []rune(name); len(r) > MaxPasskeyName {
		name = strings.TrimSpace(string(r[:MaxPasskeyName]))
	}
	if name == "" {
		return "Passkey"
	}
	return name
}

// ListPasskeys returns operator id's passkeys, oldest first.
func (s *Store) ListPasskeys(ctx context.Context, id int64) ([]Passkey, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, created_at, last_used_at FROM ops.passkeys
		WHERE operator_id = $1 ORDER BY created_at, id`, id)
	if err != nil {
		return nil, fmt.Errorf("auth: list passkeys: %w", err)
	}
	defer rows.Close()
	var out []Passkey
	for rows.Next() {
		var k Passkey
		if err := rows.Scan(&k.ID, &k.Name, &k.CreatedAt, &k.LastUsedAt); err != nil {
			return nil, fmt.Errorf("auth: list passkeys: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeletePasskey removes operator id's passkey with credential id key and
// returns it; ErrNotFound when the operator has no such passkey.
func (s *Store) DeletePasskey(ctx context.Context, id int64, key []byte) (Passkey, error) {
	k := Passkey{ID: key}
	err := s.pool.QueryRow(ctx, `DELETE FROM ops.passkeys WHERE operator_id = $1 AND id = $2
		RETURNING name, created_at, last_used_at`, id, key).Scan(&k.Name, &k.CreatedAt, &k.LastUsedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Passkey{}, ErrNotFound
	}
	if err != nil {
		return Passkey{}, fmt.Errorf("auth: delete passkey: %w", err)
	}
	return k, nil
}

// operatorUser is an operator as go-webauthn sees it: the user handle is
// the operator id as 8 big-endian bytes, the name their email.
type operatorUser struct {
	id    int64
	email string
	creds []webauthn.Credential
}

// WebAuthnID is the user handle: the operator id, 8 bytes big-endian.
func (u operatorUser) WebAuthnID() []byte { return binary.BigEndian.AppendUint64(nil, uint64(u.id)) }

// WebAuthnName is the operator's email.
func (u operatorUser) WebAuthnName() string { return u.email }

// WebAuthnDisplayName is the operator's email.
func (u operatorUser) WebAuthnDisplayName() string { return u.email }

// WebAuthnCredentials are the operator's registered passkeys.
func (u operatorUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// loadUser reads operator id and their credentials; with lock, the rows
// are locked until q's transaction ends. It fails with ErrNotFound.
func loadUser(ctx context.Context, q pgx.Tx, id int64, lock bool) (operatorUser, error) {
	forUpdate := ""
	if lock {
		forUpdate = " FOR UPDATE"
	}
	u := operatorUser{id: id}
	err := q.QueryRow(ctx, `SELECT email FROM ops.operators WHERE id = $1`+forUpdate, id).Scan(&u.email)
	if errors.Is(err, pgx.ErrNoRows) {
		return operatorUser{}, ErrNotFound
	}
	if err != nil {
		return operatorUser{}, err
	}
	rows, err := q.Query(ctx, `SELECT credential FROM ops.passkeys WHERE operator_id = $1 ORDER BY created_at, id`+forUpdate, id)
	if err != nil {
		return operatorUser{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return operatorUser{}, err
		}
		var c webauthn.Credential
		if err := json.Unmarshal(raw, &c); err != nil {
			return operatorUser{}, fmt.Errorf("stored passkey is unreadable: %w", err)
		}
		u.creds = append(u.creds, c)
	}
	return u, rows.Err()
}
