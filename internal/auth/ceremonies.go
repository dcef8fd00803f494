package auth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// CeremonyTTL is how long a passkey ceremony may take from begin to
// finish.
const CeremonyTTL = 5 * time.Minute

// What a passkey ceremony is for. A ceremony finishes only for the
// purpose it began with.
const (
	// CeremonyRegister adds a passkey, under a session.
	CeremonyRegister = "register"
	// CeremonyLogin answers a sign-in challenge.
	CeremonyLogin = "login"
	// CeremonyStepUp confirms a session's operator again.
	CeremonyStepUp = "step_up"
)

// keepCeremonies is how many unfinished ceremonies one session or
// challenge keeps per purpose; beginning another drops the oldest.
const keepCeremonies = 5

// maxResponse bounds the browser's answer to a ceremony.
const maxResponse = 64 << 10

// BeginPasskeyRegistration starts adding a passkey for operator id,
// bound to the session of token, and returns the creation options for
// navigator.credentials.create. The operator's passkeys are excluded, so
// an authenticator is not registered twice. It fails with
// ErrTooManyPasskeys or ErrNotFound.
func (s *Store) BeginPasskeyRegistration(ctx context.Context, rp *Passkeys, id int64, token string) (*protocol.CredentialCreation, error) {
	if rp == nil {
		return nil, ErrPasskeysOff
	}
	var creation *protocol.CredentialCreation
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		u, err := loadUser(ctx, tx, id, false)
		if err != nil {
			return err
		}
		if len(u.creds) >= MaxPasskeys {
			return ErrTooManyPasskeys
		}
		var sd *webauthn.SessionData
		creation, sd, err = rp.wa.BeginRegistration(u, webauthn.WithExclusions(webauthn.Credentials(u.creds).CredentialDescriptors()))
		if err != nil {
			return fmt.Errorf("begin registration: %w", err)
		}
		return saveCeremony(ctx, tx, id, CeremonyRegister, token, sd)
	})
	if err != nil {
		return nil, wrapPasskey("begin passkey registration", err)
	}
	return creation, nil
}

// FinishPasskeyRegistration checks the browser's answer (the JSON of the
// PublicKeyCredential navigator.credentials.create gave) to a
// registration operator id began under the session of token, and stores
// the passkey under name (see CleanPasskeyName). The ceremony is used up
// whatever the outcome. It fails with ErrNoCeremony (unknown, expired,
// used, another operator's or another session's), ErrPasskeyRefused,
// ErrTooManyPasskeys or ErrPasskeyExists.
func (s *Store) FinishPasskeyRegistration(ctx context.Context, rp *Passkeys, id int64, token, name string, response []byte) (Passkey, error) {
	if rp == nil {
		return Passkey{}, ErrPasskeysOff
	}
	if len(response) > maxResponse {
		return Passkey{}, ErrPasskeyRefused
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return Passkey{}, fmt.Errorf("%w: %v", ErrPasskeyRefused, err)
	}
	sd, err := s.takeCeremony(ctx, id, CeremonyRegister, token, parsed.Response.CollectedClientData.Challenge)
	if err != nil {
		return Passkey{}, err
	}
	k := Passkey{Name: CleanPasskeyName(name)}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		u, err := loadUser(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if len(u.creds) >= MaxPasskeys {
			return ErrTooManyPasskeys
		}
		cred, err := rp.wa.CreateCredential(u, sd, parsed)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrPasskeyRefused, err)
		}
		raw, err := json.Marshal(cred)
		if err != nil {
			return err
		}
		k.ID = cred.ID
		return tx.QueryRow(ctx, `INSERT INTO ops.passkeys (id, operator_id, name, credential) VALUES ($1, $2, $3, $4)
			RETURNING created_at`, cred.ID, id, k.Name, raw).Scan(&k.CreatedAt)
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return Passkey{}, ErrPasskeyExists
	}
	if err != nil {
		return Passkey{}, wrapPasskey("finish passkey registration", err)
	}
	return k, nil
}

// BeginPasskeyAssertion starts a check that operator id holds one of
// their passkeys, for purpose (CeremonyLogin or CeremonyStepUp), bound to
// token (the sign-in challenge's or the session's), and returns the
// request options for navigator.credentials.get. It fails with
// ErrNoPasskeys or ErrNotFound.
func (s *Store) BeginPasskeyAssertion(ctx context.Context, rp *Passkeys, id int64, purpose, token string) (*protocol.CredentialAssertion, error) {
	if rp == nil {
		return nil, ErrPasskeysOff
	}
	if purpose != CeremonyLogin && purpose != CeremonyStepUp {
		return nil, fmt.Errorf("auth: passkey assertion for %q", purpose)
	}
	var assertion *protocol.CredentialAssertion
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		u, err := loadUser(ctx, tx, id, false)
		if err != nil {
			return err
		}
		if len(u.creds) == 0 {
			return ErrNoPasskeys
		}
		var sd *webauthn.SessionData
		assertion, sd, err = rp.wa.BeginLogin(u)
		if err != nil {
			return fmt.Errorf("begin assertion: %w", err)
		}
		return saveCeremony(ctx, tx, id, purpose, token, sd)
	})
	if err != nil {
		return nil, wrapPasskey("begin passkey assertion", err)
	}
	return assertion, nil
}

// FinishPasskeyAssertion checks the browser's answer (the JSON of the
// PublicKeyCredential navigator.credentials.get gave) to an assertion
// operator id began for purpose under token. On success it records the
// passkey's new signature counter and last use, and returns the passkey.
// The ceremony is used up whatever the outcome. An answer whose counter
// did not move forward fails with ErrPasskeyCloned and changes nothing.
// It fails with ErrNoCeremony (unknown, expired, used, another
// operator's, another purpose's or bound to another token) or
// ErrPasskeyRefused.
func (s *Store) FinishPasskeyAssertion(ctx context.Context, rp *Passkeys, id int64, purpose, token string, response []byte) (Passkey, error) {
	if rp == nil {
		return Passkey{}, ErrPasskeysOff
	}
	if len(response) > maxResponse {
		return Passkey{}, ErrPasskeyRefused
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return Passkey{}, fmt.Errorf("%w: %v", ErrPasskeyRefused, err)
	}
	sd, err := s.takeCeremony(ctx, id, purpose, token, parsed.Response.CollectedClientData.Challenge)
	if err != nil {
		return Passkey{}, err
	}
	var k Passkey
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		u, err := loadUser(ctx, tx, id, true)
		if err != nil {
			return err
		}
		cred, err := rp.wa.ValidateLogin(u, sd, parsed)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrPasskeyRefused, err)
		}
		if cred.Authenticator.CloneWarning {
			return ErrPasskeyCloned
		}
		raw, err := json.Marshal(cred)
		if err != nil {
			return err
		}
		k.ID = cred.ID
		return tx.QueryRow(ctx, `UPDATE ops.passkeys SET credential = $3, last_used_at = now()
			WHERE operator_id = $1 AND id = $2 RETURNING name, created_at, last_used_at`, id, cred.ID, raw).
			Scan(&k.Name, &k.CreatedAt, &k.LastUsedAt)
	})
	if err != nil {
		return Passkey{}, wrapPasskey("finish passkey assertion", err)
	}
	return k, nil
}

// ceremonyID is the stored name of a ceremony: the SHA-256 of its
// challenge as the browser echoes it (base64url).
func ceremonyID(challenge string) []byte {
	sum := sha256.Sum256([]byte(challenge))
	return sum[:]
}

// saveCeremony stores sd for CeremonyTTL as operator id's ceremony for
// purpose, bound to token, and drops the oldest unfinished ceremonies of
// that binding beyond keepCeremonies.
func saveCeremony(ctx context.Context, tx pgx.Tx, id int64, purpose, token string, sd *webauthn.SessionData) error {
	data, err := json.Marshal(sd)
	if err != nil {
		return fmt.Errorf("save ceremony: %w", err)
	}
	bound := hashToken(token)
	if _, err := tx.Exec(ctx, `INSERT INTO ops.webauthn_ceremonies (id, operator_id, purpose, bound_to, session_data, expires_at)
		VALUES ($1, $2, $3, $4, $5, now() + $6::interval)`,
		ceremonyID(sd.Challenge), id, purpose, bound, data, CeremonyTTL.String()); err != nil {
		return fmt.Errorf("save ceremony: %w", err)
	}
	_, err = tx.Exec(ctx, `DELETE FROM ops.webauthn_ceremonies WHERE bound_to = $1 AND purpose = $2 AND id NOT IN (
		SELECT id FROM ops.webauthn_ceremonies WHERE bound_to = $1 AND purpose = $2 AND used_at IS NULL
		ORDER BY created_at DESC LIMIT $3)`, bound, purpose, keepCeremonies)
	return err
}

// takeCeremony uses up the live ceremony with challenge that operator id
// began for purpose under token and returns its session data, or fails
// with ErrNoCeremony. The ceremony is spent before the answer is checked,
// so that no answer is tried twice against it.
func (s *Store) takeCeremony(ctx context.Context, id int64, purpose, token, challenge string) (webauthn.SessionData, error) {
	if token == "" || challenge == "" || len(challenge) > 200 {
		return webauthn.SessionData{}, ErrNoCeremony
	}
	var raw []byte
	err := s.pool.QueryRow(ctx, `UPDATE ops.webauthn_ceremonies SET used_at = now()
		WHERE id = $1 AND operator_id = $2 AND purpose = $3 AND bound_to = $4 AND used_at IS NULL AND expires_at > now()
		RETURNING session_data`, ceremonyID(challenge), id, purpose, hashToken(token)).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return webauthn.SessionData{}, ErrNoCeremony
	}
	if err != nil {
		return webauthn.SessionData{}, fmt.Errorf("auth: take passkey ceremony: %w", err)
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal(raw, &sd); err != nil {
		return webauthn.SessionData{}, fmt.Errorf("auth: take passkey ceremony: %w", err)
	}
	return sd, nil
}

// wrapPasskey adds context to unexpected errors and leaves the sentinel
// errors as they are, fit to show.
func wrapPasskey(op string, err error) error {
	for _, e := range []error{ErrNotFound, ErrPasskeysOff, ErrTooManyPasskeys, ErrNoPasskeys, ErrPasskeyExists, ErrNoCeremony, ErrPasskeyRefused} {
		if errors.Is(err, e) {
			return err
		}
	}
	if err == nil {
		return nil
	}
	return fmt.Errorf("auth: %s: %w", op, err)
}
