// Package handlers holds one small handler struct per screen. A handler
// parses input, calls a service and renders a view; it never talks to an
// upstream on the request path when a snapshot will do.
package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/fragment"
	"github.com/atum/ops-console/internal/human"
	"github.com/atum/ops-console/internal/memo"
	"github.com/atum/ops-console/internal/watch"
	"github.com/atum/ops-console/views"
)

// Auditor appends to the audit log.
type Auditor interface {
	Record(ctx context.Context, e audit.Entry) error
}

// NavEntry is a screen in the navigation and the role that may open it.
type NavEntry struct {
	Key   string
	Label string
	Path  string
	Role  auth.Role
}

// Base holds what every page needs: the environment, the database
// identity, the navigation and the audit log.
type Base struct {
	Env      string
	Version  string
	Identity func() views.DBIdentity
	Nav      []NavEntry
	Audit    Auditor
	Log      *slog.Logger
	// Systems gives the latest state of the watched systems; Reads names
	// the systems each screen (by navigation key) reads.
	Systems Snapshotter
	Reads   map[string][]string
	// Markers gives the history charts their event markers (nil: none).
	Markers MarkerReader
	// Alerts gives the open alerts the rules raised, from memory (nil:
	// none); screens show those of their system.
	Alerts func(ctx context.Context) []views.Alert
	// Changes counts the changes made through this console instance (nil:
	// none). What is rendered once for every viewer is keyed by it, so
	// that nobody sees a section rendered before their own change.
	Changes func() uint64
	// Kept returns the form kept across a step-up as id for the request's
	// session (nil: none), offered again on the page it returns to.
	Kept func(c echo.Context, id string) *views.KeptForm
	// FreshAuth reports whether the signed-in operator proved who they
	// are within the step-up window; AskStepUp keeps the posted form and
	// asks them to (label says what the form does). A handler whose
	// action needs it only sometimes (probing Redis while suspended)
	// calls them itself.
	FreshAuth func(c echo.Context) bool
	AskStepUp func(c echo.Context, label string) error

	// charts keeps the charts rendered this second.
	charts memo.Cache[chartKey, *fragment.Fragment]
}

// chartKey is one chart as viewers see it: which chart (screen and
// range), the second its axis ends at, and the changes made through this
// instance (its markers may show them).
type chartKey struct {
	name            string
	second, changes int64
}

// changes is Changes, or 0 without it.
func (b *Base) changes() int64 {
	if b.Changes == nil {
		return 0
	}
	return int64(b.Changes())
}

// sharedChart gives chart, named name and ending at second, rendered once
// for every viewer who sees it alike (the same markers included); on a
// failure each viewer renders it.
func (b *Base) sharedChart(ctx context.Context, name string, second int64, chart views.Chart) views.Chart {
	f, err := b.charts.Get(ctx, chartKey{name, second, b.changes()}, func(ctx context.Context) (*fragment.Fragment, error) {
		return fragment.New(ctx, views.ChartView(chart))
	})
	if err == nil {
		chart.Rendered = f
	}
	return chart
}

// AlertsOf lists the open alerts whose rule starts with prefix (e.g.
// "cache."), and those saying the alerts could not be evaluated. With
// subjects, only alerts about one of them (or listing one) are kept.
func (b *Base) AlertsOf(ctx context.Context, prefix string, subjects ...string) []views.Alert {
	if b.Alerts == nil {
		return nil
	}
	var out []views.Alert
	for _, a := range b.Alerts(ctx) {
		switch {
		case a.Rule == "" && len(subjects) == 0:
		case !strings.HasPrefix(a.Rule, prefix):
			continue
		case len(subjects) > 0 && !slices.Contains(subjects, a.Subject) && !slices.ContainsFunc(a.Members, func(m string) bool {
			return slices.Contains(subjects, m)
		}):
			continue
		}
		out = append(out, a)
	}
	return out
}

// ScreenReads names the systems each screen reads, by navigation key.
var ScreenReads = map[string][]string{
	"connections": {"postgres", "platform", "pgbouncer"},
	"cache":       {"postgres", "redis"},
	"switches":    {"postgres"},
	"queues":      {"postgres", "qstash"},
	"accounts":    {"platform", "postgres", "redis"},
	"fleet":       {"postgres", "fly"},
	"audit":       {"postgres"},
	"alerts":      {"postgres"},
	"operators":   {"postgres"},
	"timeline":    {"postgres"},
}

const (
	sessionKey      = "atum.session"
	staleSessionKey = "atum.session.checked"
)

// SetSession stores the signed-in operator's session on the request.
func SetSession(c echo.Context, s *auth.Session) { c.Set(sessionKey, s) }

// SetStaleSession stores a session that could not be checked now because
// the console's database does not answer; it was last checked at.
func SetStaleSession(c echo.Context, s *auth.Session, at time.Time) {
	c.Set(sessionKey, s)
	c.Set(staleSessionKey, at)
}

// CurrentSession returns the signed-in operator's session, or nil.
func CurrentSession(c echo.Context) *auth.Session {
	s, _ := c.Get(sessionKey).(*auth.Session)
	return s
}

// Page returns the layout data for a page titled title, highlighting the
// navigation entry active.
func (b *Base) Page(c echo.Context, title, active string) views.Page {
	p := views.Page{Title: title, Active: active, Env: b.Env, Version: b.Version}
	if at, ok := c.Get(staleSessionKey).(time.Time); ok {
		p.Degraded = "The console's own database is not answering, so your session was not checked now (last checked " +
			human.Ago(at, time.Now()) + "). Pages show what this console instance still has in memory; actions are refused until it answers."
	}
	s := CurrentSession(c)
	if s == nil {
		// Before sign-in a page names the environment only: no database
		// host, user or system id, and no system states.
		return p
	}
	if b.Identity != nil {
		p.DB = b.Identity()
	}
	p.Reads = b.reads(active)
	a := s.Account
	p.User = &views.Operator{ID: a.ID, Email: a.Email, Role: string(a.Role)}
	if id := c.QueryParam("resume"); id != "" && b.Kept != nil {
		p.Kept = b.Kept(c, id)
	}
	for _, n := range b.Nav {
		if a.Role.AtLeast(n.Role) {
			p.Nav = append(p.Nav, views.NavItem{Key: n.Key, Label: n.Label, Path: n.Path})
		}
	}
	return p
}

// reads is the state of the systems screen active reads, configured ones
// only.
func (b *Base) reads(active string) []views.Tile {
	keys := b.Reads[active]
	if b.Systems == nil || len(keys) == 0 {
		return nil
	}
	now := time.Now()
	var out []views.Tile
	for _, st := range b.Systems.Snapshot() {
		if st.State != watch.NotConfigured && slices.Contains(keys, st.Key) {
			out = append(out, Tile(st, now))
		}
	}
	return out
}

// System returns the latest state of one watched system.
func (b *Base) System(key string) (watch.Status, bool) {
	if b.Systems == nil {
		return watch.Status{}, false
	}
	for _, st := range b.Systems.Snapshot() {
		if st.Key == key {
			return st, true
		}
	}
	return watch.Status{}, false
}

// Render writes a templ component with status. It renders into a buffer
// first, so a failed render becomes a clean error, not half a page. The
// render ignores the request's cancellation: it is in-memory work, and
// error pages are rendered after the request timeout's context has ended.
func Render(c echo.Context, status int, comp templ.Component) error {
	p := pages.Get().(*fragment.Page)
	defer func() {
		if p.Len() <= maxPooledPage {
			p.Reset()
			pages.Put(p)
		}
	}()
	p.Reset()
	if err := comp.Render(context.WithoutCancel(c.Request().Context()), p); err != nil {
		return err
	}
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	res.WriteHeader(status)
	var n int64
	var err error
	if w := pageWriter(res.Writer); w != nil && p.Fragments() > 0 {
		n, err = w.WritePage(p)
	} else {
		n, err = p.WriteTo(res.Writer)
	}
	res.Size += n
	return err
}

// renderOnce renders c, a section every viewer who shares it sees alike,
// once and compressed; nil if that failed (each viewer then renders the
// section itself).
func renderOnce(ctx context.Context, c templ.Component) templ.Component {
	f, err := fragment.New(ctx, c)
	if err != nil {
		return nil
	}
	return f
}

// renderedOnce keeps, for a second, a section rendered once per distinct
// model: viewers whose model is alike share it.
type renderedOnce[M comparable] struct {
	cache memo.Cache[M, *fragment.Fragment]
}

// of returns view(m) rendered once for every viewer with the same m this
// second, or view(m) itself if that failed.
func (r *renderedOnce[M]) of(ctx context.Context, m M, view func(M) templ.Component) templ.Component {
	f, err := r.cache.Get(ctx, m, func(ctx context.Context) (*fragment.Fragment, error) { return fragment.New(ctx, view(m)) })
	if err != nil {
		return view(m)
	}
	return f
}

// pageWriter finds the writer under w (through the writers wrapping it)
// that sends pages itself, if any.
func pageWriter(w http.ResponseWriter) fragment.Writer {
	for {
		if pw, ok := w.(fragment.Writer); ok {
			return pw
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
}

// pages keeps rendered pages' memory for the next render.
var pages = sync.Pool{New: func() any { return new(fragment.Page) }}

// maxPooledPage is the largest page whose memory is kept.
const maxPooledPage = 1 << 20

// RenderError renders the error page.
func (b *Base) RenderError(c echo.Context, status int, msg string) error {
	return Render(c, status, views.ErrorPageView(b.Page(c, http.StatusText(status), ""), views.ErrorPage{Status: status, Message: msg}))
}

// Record appends an audit event for the current request: operator, role,
// client IP and request id are filled in. A failure is logged and
// returned; callers of destructive actions must stop on it.
func (b *Base) Record(c echo.Context, e audit.Entry) error {
	if s := CurrentSession(c); s != nil && e.OperatorID == 0 {
		e.OperatorID, e.Operator, e.Role = s.Account.ID, s.Account.Email, string(s.Account.Role)
	}
	e.ClientIP = c.RealIP()
	e.RequestID = c.Response().Header().Get(echo.HeaderXRequestID)
	err := b.Audit.Record(c.Request().Context(), e)
	if err != nil {
		b.Log.Error("audit write failed", "action", e.Action, "result", e.Result, "error", err)
	}
	return err
}

// shownRows is how many rows a long table lists until the viewer asks for
// them all (?all=1): a fleet of 200 instances keeps its pages light.
const shownRows = 50

// attentionFirst orders rows that need attention first, keeping the
// order among equals, and keeps the first shownRows of them unless all;
// the Rows it returns say so and link to href for the rest.
func attentionFirst[T any](rows []T, all bool, href string, attention func(T) bool) ([]T, views.Rows) {
	rank := func(r T) int {
		if attention(r) {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(rows, func(a, b T) int { return rank(a) - rank(b) })
	more := views.Rows{Shown: len(rows), Total: len(rows), AllHref: href}
	if !all && len(rows) > shownRows {
		rows, more.Shown = rows[:shownRows], shownRows
	}
	return rows, more
}
