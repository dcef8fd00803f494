package devidp

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Lifetimes of what the storage keeps.
const (
	requestTTL     = 10 * time.Minute
	accessTokenTTL = 5 * time.Minute
)

var errUnsupported = errors.New("devidp: not supported")

// storage keeps everything in memory; it implements op.Storage.
type storage struct {
	key         *signingKey
	groupsClaim string

	mu       sync.Mutex
	clients  map[string]Client
	users    []User
	requests map[string]*authRequest
	codes    map[string]string // code → request id
	tokens   map[string]accessToken
	sessions map[string]session
}

var _ op.Storage = (*storage)(nil)

// accessToken is an access token issued, by its id.
type accessToken struct {
	subject string
	scopes  []string
	expires time.Time
}

func newStorage(clients []Client, users []User, groupsClaim string) (*storage, error) {
	s := &storage{
		groupsClaim: groupsClaim,
		clients:     map[string]Client{},
		requests:    map[string]*authRequest{},
		codes:       map[string]string{},
		tokens:      map[string]accessToken{},
		sessions:    map[string]session{},
	}
	for _, c := range clients {
		if c.ID == "" || c.Secret == "" || len(c.RedirectURIs) == 0 {
			return nil, fmt.Errorf("devidp: client %q needs an id, a secret and a redirect URI", c.ID)
		}
		if _, dup := s.clients[c.ID]; dup {
			return nil, fmt.Errorf("devidp: client %q listed twice", c.ID)
		}
		s.clients[c.ID] = c
	}
	s.setUsers(users)
	var err error
	if s.key, err = newSigningKey(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *storage) setUsers(users []User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users = slices.Clone(users)
	for id, sess := range s.sessions {
		if _, ok := s.userLocked(sess.userID); !ok {
			delete(s.sessions, id)
		}
	}
}

func (s *storage) user(id string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.userLocked(id)
}

func (s *storage) userLocked(id string) (User, bool) {
	for _, u := range s.users {
		if u.ID == id {
			return u, true
		}
	}
	return User{}, false
}

func (s *storage) listUsers() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.users)
}

func randomID() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("devidp: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// CreateAuthRequest implements op.AuthStorage. It requires PKCE (S256).
func (s *storage) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	if r.CodeChallenge == "" || r.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE with code_challenge_method=S256 is required")
	}
	id, err := randomID()
	if err != nil {
		return nil, err
	}
	a := &authRequest{id: id, created: time.Now(), req: *r}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[id] = a
	c := *a
	return &c, nil
}

// request returns a copy of the live request id.
func (s *storage) request(id string) (*authRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.requests[id]
	if !ok || time.Since(a.created) > requestTTL {
		return nil, errors.New("devidp: unknown or expired auth request")
	}
	c := *a
	return &c, nil
}

// complete marks request id as signed in by userID at authTime.
func (s *storage) complete(id, userID string, authTime time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.requests[id]
	if !ok {
		return errors.New("devidp: unknown auth request")
	}
	a.userID, a.authTime, a.done = userID, authTime, true
	return nil
}

// AuthRequestByID implements op.AuthStorage.
func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	return s.request(id)
}

// AuthRequestByCode implements op.AuthStorage.
func (s *storage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	id, ok := s.codes[code]
	s.mu.Unlock()
	if !ok {
		return nil, errors.New("devidp: unknown code")
	}
	return s.request(id)
}

// SaveAuthCode implements op.AuthStorage.
func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

// DeleteAuthRequest implements op.AuthStorage; it ends the request's code
// too, so a code is used once.
func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for code, rid := range s.codes {
		if rid == id {
			delete(s.codes, code)
		}
	}
	return nil
}

// CreateAccessToken implements op.AuthStorage.
func (s *storage) CreateAccessToken(_ context.Context, r op.TokenRequest) (string, time.Time, error) {
	id, err := randomID()
	if err != nil {
		return "", time.Time{}, err
	}
	exp := time.Now().Add(accessTokenTTL)
	s.mu.Lock()
	defer s.mu.Unlock()
	for tid, t := range s.tokens {
		if time.Now().After(t.expires) {
			delete(s.tokens, tid)
		}
	}
	s.tokens[id] = accessToken{subject: r.GetSubject(), scopes: r.GetScopes(), expires: exp}
	return id, exp, nil
}

// CreateAccessAndRefreshTokens implements op.AuthStorage; there are no
// refresh tokens.
func (s *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errUnsupported
}

// TokenRequestByRefreshToken implements op.AuthStorage.
func (s *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

// TerminateSession implements op.AuthStorage: it ends the user's sessions.
func (s *storage) TerminateSession(_ context.Context, userID, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, sess := range s.sessions {
		if sess.userID == userID {
			delete(s.sessions, id)
		}
	}
	return nil
}

// RevokeToken implements op.AuthStorage.
func (s *storage) RevokeToken(_ context.Context, tokenID, _, _ string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, tokenID)
	return nil
}

// GetRefreshTokenInfo implements op.AuthStorage.
func (s *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

// SigningKey implements op.AuthStorage.
func (s *storage) SigningKey(context.Context) (op.SigningKey, error) { return s.key, nil }

// SignatureAlgorithms implements op.AuthStorage.
func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

// KeySet implements op.AuthStorage.
func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{s.key}}, nil
}

// GetClientByClientID implements op.OPStorage.
func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return nil, errors.New("devidp: unknown client")
	}
	return opClient{c}, nil
}

// AuthorizeClientIDSecret implements op.OPStorage.
func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	s.mu.Lock()
	c, ok := s.clients[id]
	s.mu.Unlock()
	if !ok || subtle.ConstantTimeCompare([]byte(c.Secret), []byte(secret)) != 1 {
		return errors.New("devidp: wrong client credentials")
	}
	return nil
}

// SetUserinfoFromScopes implements op.OPStorage; it is deprecated there,
// and SetUserinfoFromRequest does the work.
func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest implements op.CanSetUserinfoFromRequest: the
// claims of the ID token.
func (s *storage) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, r op.IDTokenRequest, scopes []string) error {
	return s.fillUserinfo(info, r.GetSubject(), scopes)
}

// SetUserinfoFromToken implements op.OPStorage: the userinfo endpoint.
func (s *storage) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, tokenID, _, _ string) error {
	s.mu.Lock()
	t, ok := s.tokens[tokenID]
	s.mu.Unlock()
	if !ok || time.Now().After(t.expires) {
		return errors.New("devidp: unknown or expired access token")
	}
	return s.fillUserinfo(info, t.subject, t.scopes)
}

// fillUserinfo sets the claims of user id that scopes allow, and the
// groups claim.
func (s *storage) fillUserinfo(info *oidc.UserInfo, id string, scopes []string) error {
	u, ok := s.user(id)
	if !ok {
		return errors.New("devidp: unknown user")
	}
	info.Subject = u.ID
	if slices.Contains(scopes, oidc.ScopeEmail) {
		info.Email = u.Email
		info.EmailVerified = oidc.Bool(u.EmailVerified)
	}
	if slices.Contains(scopes, oidc.ScopeProfile) {
		info.Name = u.Name
		info.PreferredUsername = u.Email
	}
	if len(u.Groups) > 0 {
		info.AppendClaims(s.groupsClaim, slices.Clone(u.Groups))
	}
	return nil
}

// SetIntrospectionFromToken implements op.OPStorage; not supported.
func (s *storage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errUnsupported
}

// GetPrivateClaimsFromScopes implements op.OPStorage: none.
func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID implements op.OPStorage; JWT profile is not
// supported.
func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errUnsupported
}

// ValidateJWTProfileScopes implements op.OPStorage; not supported.
func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errUnsupported
}

// Health implements op.Storage.
func (s *storage) Health(context.Context) error { return nil }
