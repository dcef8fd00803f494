package handlers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
)

// fakeAudit keeps events in memory; it refuses intents while down.
type fakeAudit struct {
	down   bool
	events []audit.Entry
}

func (a *fakeAudit) Record(_ context.Context, e audit.Entry) error {
	if a.down && e.Result == audit.Intent {
		return errors.New("audit: record: connection refused")
	}
	a.events = append(a.events, e)
	return nil
}

// fakeOperators is one operator account in memory; it counts changes.
type fakeOperators struct {
	acct    auth.Account
	changes int
}

func (s *fakeOperators) Profiles(context.Context) ([]auth.Profile, error) {
	return []auth.Profile{{Account: s.acct}}, nil
}

func (s *fakeOperators) Operator(_ context.Context, id int64) (auth.Account, error) {
	if id != s.acct.ID {
		return auth.Account{}, auth.ErrNotFound
	}
	return s.acct, nil
}

func (s *fakeOperators) InviteOperator(_ context.Context, email string, role auth.Role, _ string) (auth.Account, error) {
	s.changes++
	return auth.Account{ID: 9, Email: email, Role: role}, nil
}

func (s *fakeOperators) EndSessionByID(context.Context, int64, string) error {
	s.changes++
	return nil
}

func (s *fakeOperators) ResetSecondFactor(context.Context, int64) error {
	s.changes++
	return nil
}

func (s *fakeOperators) IssueReset(context.Context, int64, string) (string, error) {
	s.changes++
	return "link-token", nil
}

func (s *fakeOperators) SetRole(_ context.Context, _ int64, role auth.Role) (auth.Role, error) {
	s.changes++
	before := s.acct.Role
	s.acct.Role = role
	return before, nil
}

func (s *fakeOperators) SetDisabled(_ context.Context, _ int64, disabled bool) error {
	s.changes++
	s.acct.Disabled = disabled
	return nil
}

func (s *fakeOperators) EndSessions(context.Context, int64) (int64, error) {
	s.changes++
	return 1, nil
}

// TestOperatorChangesRecordTheirIntentFirst runs every operator change
// with the audit log up (intent, then result) and down (503, no change).
func TestOperatorChangesRecordTheirIntentFirst(t *testing.T) {
	tests := []struct {
		name   string
		action string
		form   url.Values
		run    func(*Operators, echo.Context) error
		// changes is how many store changes the action makes; status what
		// it answers.
		changes, status int
	}{
		{"invite", "operator.create", url.Values{"email": {"new@atum.io"}, "role": {"viewer"}},
			func(h *Operators, c echo.Context) error { return h.Create(c) }, 1, http.StatusOK},
		{"role", "operator.role", url.Values{"role": {"operator"}}, func(h *Operators, c echo.Context) error { return h.SetRole(c) }, 1, http.StatusSeeOther},
		{"disable", "operator.disable", nil, func(h *Operators, c echo.Context) error { return h.Disable(c) }, 1, http.StatusSeeOther},
		{"enable", "operator.enable", nil, func(h *Operators, c echo.Context) error { return h.Enable(c) }, 1, http.StatusSeeOther},
		{"end sessions", "operator.sessions.end", nil, func(h *Operators, c echo.Context) error { return h.EndSessions(c) }, 1, http.StatusSeeOther},
		{"end a session", "operator.session.end", nil, func(h *Operators, c echo.Context) error { return h.EndSession(c) }, 1, http.StatusSeeOther},
		{"reset second factor", "operator.second_factor.reset", nil,
			func(h *Operators, c echo.Context) error { return h.ResetSecondFactor(c) }, 2, http.StatusSeeOther},
	}
	for _, tt := range tests {
		for _, down := range []bool{false, true} {
			name := tt.name
			if down {
				name += " with the audit log down"
			}
			t.Run(name, func(t *testing.T) {
				log := &fakeAudit{down: down}
				store := &fakeOperators{acct: auth.Account{ID: 2, Email: "target@atum.io", Role: auth.Viewer}}
				h := &Operators{Base: &Base{Audit: log, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, Store: store}
				req := httptest.NewRequest(http.MethodPost, "/operators/2", strings.NewReader(tt.form.Encode()))
				req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationForm)
				rec := httptest.NewRecorder()
				c := echo.New().NewContext(req, rec)
				c.SetParamNames("id")
				c.SetParamValues("2")
				SetSession(c, &auth.Session{Account: auth.Account{ID: 1, Email: "admin@atum.io", Role: auth.Admin}})
				err := tt.run(h, c)
				if down {
					var he *echo.HTTPError
					if !errors.As(err, &he) || he.Code != http.StatusServiceUnavailable || !strings.Contains(he.Message.(string), "console's database") {
						t.Fatalf("error = %v, want a 503 naming the console's database", err)
					}
					if store.changes != 0 || len(log.events) != 0 {
						t.Fatalf("%d changes and events %+v without an intent", store.changes, log.events)
					}
					return
				}
				if err != nil || rec.Code != tt.status {
					t.Fatalf("status %d, error %v", rec.Code, err)
				}
				if len(log.events) != 2 || log.events[0].Result != audit.Intent || log.events[1].Result != audit.Success ||
					log.events[0].Action != tt.action || log.events[1].Action != tt.action || store.changes != tt.changes {
					t.Errorf("events %+v, %d changes; want intent then success around one change", log.events, store.changes)
				}
			})
		}
	}
}

// TestRefusedChangesWriteNoIntent: a change refused before anything is
// done (an unknown role, demoting oneself) records a failure only.
func TestRefusedChangesWriteNoIntent(t *testing.T) {
	tests := []struct {
		name, id, role string
	}{
		{"unknown role", "2", "god"},
		{"own role", "1", "viewer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &fakeAudit{}
			self := auth.Account{ID: 1, Email: "admin@atum.io", Role: auth.Admin}
			store := &fakeOperators{acct: auth.Account{ID: 2, Email: "target@atum.io", Role: auth.Viewer}}
			if tt.id == "1" {
				store.acct = self
			}
			h := &Operators{Base: &Base{Audit: log, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, Store: store}
			req := httptest.NewRequest(http.MethodPost, "/operators/"+tt.id+"/role", strings.NewReader(url.Values{"role": {tt.role}}.Encode()))
			req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationForm)
			c := echo.New().NewContext(req, httptest.NewRecorder())
			c.SetParamNames("id")
			c.SetParamValues(tt.id)
			SetSession(c, &auth.Session{Account: self})
			_ = h.SetRole(c)
			if store.changes != 0 || len(log.events) != 1 || log.events[0].Result != audit.Failure {
				t.Errorf("%d changes, events %+v; want one failure", store.changes, log.events)
			}
		})
	}
}
