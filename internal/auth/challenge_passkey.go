package auth

import (
	"context"
	"errors"

	"github.com/go-webauthn/webauthn/protocol"
)

// MethodPasskey is the second factor a passkey answers with.
const MethodPasskey = "passkey"

// BeginChallengePasskey starts a passkey check for the operator owing
// the live sign-in challenge of token, bound to that challenge, and
// returns the request options for navigator.credentials.get. It fails
// with ErrNoChallenge or ErrNoPasskeys.
func (s *Store) BeginChallengePasskey(ctx context.Context, rp *Passkeys, token string) (*protocol.CredentialAssertion, error) {
	acct, _, err := s.Challenge(ctx, token)
	if err != nil {
		return nil, err
	}
	return s.BeginPasskeyAssertion(ctx, rp, acct.ID, CeremonyLogin, token)
}

// AnswerChallengeWithPasskey checks response, the browser's answer to a
// passkey check begun with BeginChallengePasskey, as the second factor
// owed by the challenge of token. On success it does what a right code
// does (see AnswerChallenge), with the method "passkey", and returns the
// operator and next. A refused answer (ErrPasskeyRefused, or
// ErrNoCeremony for one begun under another challenge, by another
// operator, or already used) counts against the challenge like a wrong
// code, and comes back with the operator who owes the challenge (for
// the audit log); after MaxChallengeFailures, and for a dead challenge,
// it fails with ErrNoChallenge.
func (s *Store) AnswerChallengeWithPasskey(ctx context.Context, rp *Passkeys, token string, response []byte) (Account, string, error) {
	if token == "" || len(token) > 100 {
		return Account{}, "", ErrNoChallenge
	}
	h := hashToken(token)
	acct, next, err := s.reserveAnswer(ctx, h)
	if err != nil {
		return Account{}, "", err
	}
	_, err = s.FinishPasskeyAssertion(ctx, rp, acct.ID, CeremonyLogin, token, response)
	if errors.Is(err, ErrPasskeyRefused) || errors.Is(err, ErrNoCeremony) {
		return acct, "", err // the reserved attempt stays a failure
	}
	if err != nil {
		s.refundAnswer(ctx, h)
		return Account{}, "", err
	}
	if err := s.completeChallenge(ctx, h, acct.ID, MethodPasskey); err != nil {
		return Account{}, "", err
	}
	return acct, next, nil
}
