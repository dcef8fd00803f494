package web

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/atum/ops-console/internal/auth"
)

// StaleSessionFor is how long a session checked against the database may
// still open read-only pages while the database does not answer. Ending a
// session on this instance forgets it at once; on another instance it
// takes effect when the database answers again or after this long.
const StaleSessionFor = 5 * time.Minute

// SessionFresh is how long a session checked against the database opens
// pages (GET and HEAD) on this instance without another check. A session
// ended, or an operator disabled or demoted, on this instance is
// forgotten at once; on another instance it takes effect within this
// long. Every change (POST) is checked against the database.
const SessionFresh = time.Second

// sessionMemory remembers the sessions this instance checked recently, so
// that a stalled console database does not lock everybody out of the
// pages that render from memory. It holds token hashes, never tokens.
type sessionMemory struct {
	mu sync.Mutex
	m  map[[32]byte]checkedSession
}

type checkedSession struct {
	s  auth.Session
	at time.Time
}

func newSessionMemory() *sessionMemory {
	return &sessionMemory{m: map[[32]byte]checkedSession{}}
}

// remember stores a session just checked against the database.
func (m *sessionMemory) remember(token string, s auth.Session) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.m) >= 5000 {
		m.pruneLocked(time.Now())
	}
	m.m[sha256.Sum256([]byte(token))] = checkedSession{s: s, at: time.Now()}
}

// recall returns a session checked within StaleSessionFor and not past
// its absolute expiry, and when it was checked.
func (m *sessionMemory) recall(token string) (auth.Session, time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := sha256.Sum256([]byte(token))
	cs, ok := m.m[k]
	now := time.Now()
	if !ok || now.Sub(cs.at) > StaleSessionFor || !cs.s.ExpiresAt.After(now) {
		delete(m.m, k)
		return auth.Session{}, time.Time{}, false
	}
	return cs.s, cs.at, true
}

// forget drops one session.
func (m *sessionMemory) forget(token string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, sha256.Sum256([]byte(token)))
}

// forgetOperator drops every session of one operator.
func (m *sessionMemory) forgetOperator(id int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, cs := range m.m {
		if cs.s.Account.ID == id {
			delete(m.m, k)
		}
	}
}

func (m *sessionMemory) pruneLocked(now time.Time) {
	for k, cs := range m.m {
		if now.Sub(cs.at) > StaleSessionFor {
			delete(m.m, k)
		}
	}
	if len(m.m) >= 5000 {
		clear(m.m)
	}
}

// forgetfulStore is the session store with the memory kept in step: a
// session ended, or an operator disabled or demoted here, is forgotten
// at once.
type forgetfulStore struct {
	SessionStore
	mem *sessionMemory
}

func (f forgetfulStore) EndSession(ctx context.Context, token string) error {
	f.mem.forget(token)
	return f.SessionStore.EndSession(ctx, token)
}

func (f forgetfulStore) EndSessions(ctx context.Context, id int64) (int64, error) {
	f.mem.forgetOperator(id)
	return f.SessionStore.EndSessions(ctx, id)
}

func (f forgetfulStore) SetDisabled(ctx context.Context, id int64, disabled bool) error {
	f.mem.forgetOperator(id)
	return f.SessionStore.SetDisabled(ctx, id, disabled)
}

func (f forgetfulStore) SetRole(ctx context.Context, id int64, role auth.Role) (auth.Role, error) {
	f.mem.forgetOperator(id)
	return f.SessionStore.SetRole(ctx, id, role)
}

func (f forgetfulStore) EndSessionByID(ctx context.Context, id int64, sessionID string) error {
	f.mem.forgetOperator(id)
	return f.SessionStore.EndSessionByID(ctx, id, sessionID)
}

func (f forgetfulStore) ResetSecondFactor(ctx context.Context, id int64) error {
	f.mem.forgetOperator(id)
	return f.SessionStore.ResetSecondFactor(ctx, id)
}

func (f forgetfulStore) ChangePassword(ctx context.Context, id int64, password, keepToken string) (int64, error) {
	f.mem.forgetOperator(id)
	return f.SessionStore.ChangePassword(ctx, id, password, keepToken)
}

func (f forgetfulStore) UseReset(ctx context.Context, token, password string) (auth.Account, error) {
	a, err := f.SessionStore.UseReset(ctx, token, password)
	if err == nil {
		f.mem.forgetOperator(a.ID)
	}
	return a, err
}

func (f forgetfulStore) Reauthenticated(ctx context.Context, token, secondFactor string) error {
	f.mem.forget(token)
	return f.SessionStore.Reauthenticated(ctx, token, secondFactor)
}

func (f forgetfulStore) SetSessionFactor(ctx context.Context, token, factor string) error {
	f.mem.forget(token)
	return f.SessionStore.SetSessionFactor(ctx, token, factor)
}

func (f forgetfulStore) AdmitSSO(ctx context.Context, in auth.SSOIdentity) (auth.Account, error) {
	a, err := f.SessionStore.AdmitSSO(ctx, in)
	if err == nil {
		f.mem.forgetOperator(a.ID) // a role from the groups claim may have changed
	}
	return a, err
}
