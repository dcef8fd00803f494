package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/human"
	"github.com/atum/ops-console/internal/memo"
	"github.com/atum/ops-console/internal/switches"
	"github.com/atum/ops-console/views"
)

// SwitchStore reads and changes kill switches.
type SwitchStore interface {
	List(ctx context.Context) ([]switches.Switch, error)
	Get(ctx context.Context, name string) (switches.Switch, error)
	Set(ctx context.Context, c switches.Change) (switches.Switch, error)
	History(ctx context.Context, name string, limit int) ([]switches.HistoryEntry, error)
	LiveInstances(ctx context.Context) ([]switches.Instance, error)
	// FirstHeartbeat is when a platform instance first reported a
	// heartbeat, zero when none ever did.
	FirstHeartbeat(ctx context.Context) (time.Time, error)
}

// Switches shows the kill switches and changes them.
type Switches struct {
	*Base
	Store SwitchStore
	// Changed is told after every change (to wake samplers).
	Changed func()

	// shared shares what every viewer of a second sees alike.
	shared memo.Cache[propagationKey, propagationView]
	// histories keeps each switch's history per version of the switch.
	histories memo.Cache[historyKey, historyView]
}

// revertChoices are the automatic revert delays offered.
var revertChoices = []views.Choice{{Value: "", Label: "never (stay until changed)"}, {Value: "15m", Label: "after 15 minutes"},
	{Value: "1h", Label: "after 1 hour"}, {Value: "4h", Label: "after 4 hours"}, {Value: "24h", Label: "after 24 hours"}}

// List renders every switch with its propagation and history.
func (h *Switches) List(c echo.Context) error {
	m, err := h.page(c, nil)
	if err != nil {
		return err
	}
	return Render(c, http.StatusOK, views.SwitchesPage(h.Page(c, "Kill switches", "switches"), m))
}

// propagationKey is one view of a switch's propagation: the switch's
// state, the second it is worded at, and the screen and its listing.
type propagationKey struct {
	name    string
	version int64
	enabled bool
	second  int64
	screen  string
	all     bool
	// noHeartbeatsYet hides the propagation until the first heartbeat.
	noHeartbeatsYet bool
}

// propagationView is the part of a switch's panel every viewer sees
// alike: how far the change reached, and the live instances.
type propagationView struct {
	text      string
	pending   []string
	instances []views.SwitchInstance
	more      views.Rows
	// head is the switch's head and instances rendered once (nil if
	// that failed: each viewer renders them).
	head templ.Component
}

// propagate compares each live instance's report with s, those needing
// attention first, listing shownRows of them unless all.
func propagate(s switches.Switch, live []switches.Instance, now time.Time, screen string, all bool) propagationView {
	var pv propagationView
	p := switches.Propagate(s, live)
	pv.text = fmt.Sprintf("%s applied on %d of %d live instances", onOff(s.Enabled), p.Applied, p.Live)
	if len(p.Forced) > 0 {
		pv.text += fmt.Sprintf("; %d forced by SUSPEND_REDIS=true in their environment", len(p.Forced))
	}
	pv.pending = p.Pending
	forced := map[string]bool{}
	for _, id := range p.Forced {
		forced[id] = true
	}
	for _, i := range live {
		row := views.SwitchInstance{Instance: i.ID, Machine: i.Machine, Group: i.Group, Applied: onOff(i.Suspended), Source: i.Source,
			AppliedAt: "—", LastSeen: human.Ago(i.LastSeen, now), Status: "applied"}
		if i.Version != nil {
			row.Version = *i.Version
		}
		if i.AppliedAt != nil {
			row.AppliedAt = human.Ago(*i.AppliedAt, now)
		}
		switch {
		case forced[i.ID]:
			row.Status = "forced by env"
		case !i.Applied(s):
			row.Status = "pending"
		}
		pv.instances = append(pv.instances, row)
	}
	if screen == "/cache" {
		// Here the switch lists the instances that did not apply it;
		// every live instance is on /switches.
		pv.instances = slices.DeleteFunc(pv.instances, func(i views.SwitchInstance) bool { return i.Status == "applied" })
		pv.more = views.Rows{Shown: len(pv.instances), Total: len(live), AllHref: "/switches#switch-" + url.PathEscape(s.Name)}
		return pv
	}
	pv.instances, pv.more = attentionFirst(pv.instances, all, screen+"?all=1#switch-"+url.PathEscape(s.Name),
		func(i views.SwitchInstance) bool { return i.Status != "applied" })
	return pv
}

// formState carries a failed toggle form back to the page.
type formState struct {
	name, reason, revert, err string
}

func (h *Switches) page(c echo.Context, form *formState) (views.Switches, error) {
	ctx := c.Request().Context()
	all, err := h.Store.List(ctx)
	if err != nil {
		return views.Switches{}, err
	}
	live, err := h.Store.LiveInstances(ctx)
	if err != nil {
		return views.Switches{}, err
	}
	m := views.Switches{NoHeartbeatsYet: h.noHeartbeatsYet(ctx, live)}
	for _, s := range all {
		v, err := h.View(c, s, live, m.NoHeartbeatsYet)
		if err != nil {
			return m, err
		}
		if form != nil && form.name == s.Name {
			v.FormReason, v.FormRevert, v.FormError = form.reason, form.revert, form.err
		}
		m.Switches = append(m.Switches, v)
	}
	return m, nil
}

// noHeartbeatsYet reports whether no platform instance has ever reported
// a heartbeat: none is live, and none ever came. Not knowing (the read
// failed) counts as no, which keeps the usual panel.
func (h *Switches) noHeartbeatsYet(ctx context.Context, live []switches.Instance) bool {
	if len(live) > 0 {
		return false
	}
	first, err := h.Store.FirstHeartbeat(ctx)
	return err == nil && first.IsZero()
}

// View builds one switch's panel: state, propagation over the live
// instances, history and (for operators) the toggle form. With
// noHeartbeatsYet (no platform instance ever reported a heartbeat) the
// panel leaves out the propagation and instances: the page says so once.
func (h *Switches) View(c echo.Context, s switches.Switch, live []switches.Instance, noHeartbeatsYet bool) (views.SwitchView, error) {
	now := time.Now()
	v := views.SwitchView{Name: s.Name, Enabled: s.Enabled, State: onOff(s.Enabled), Reason: s.Reason, ChangedBy: s.ChangedBy,
		ChangedAt: human.Ago(s.ChangedAt, now), Version: s.Version, RevertChoices: revertChoices, NoHeartbeatsYet: noHeartbeatsYet}
	if sess := CurrentSession(c); sess != nil {
		v.CanToggle = sess.Account.Role.AtLeast(auth.Operator)
	}
	if s.RevertAt != nil {
		if s.RevertAt.After(now) {
			v.Reverts = "at " + s.RevertAt.UTC().Format("15:04:05Z") + fmt.Sprintf(" (in %s), back to %s", s.RevertAt.Sub(now).Round(time.Second), onOff(!s.Stored))
		} else {
			v.Reverts = "reverted by itself at " + s.RevertAt.UTC().Format("2006-01-02 15:04:05Z")
		}
	}
	screen := "/switches"
	if strings.HasPrefix(c.Request().URL.Path, "/cache") {
		screen = "/cache"
	}
	all := c.QueryParam("all") == "1"
	base := v
	pv, err := h.shared.Get(c.Request().Context(), propagationKey{s.Name, s.Version, s.Enabled, now.Unix(), screen, all, noHeartbeatsYet},
		func(ctx context.Context) (propagationView, error) {
			pv := propagate(s, live, now, screen, all)
			head := base
			head.Propagation, head.Pending, head.Instances, head.More = pv.text, pv.pending, pv.instances, pv.more
			pv.head = renderOnce(ctx, views.SwitchHead(head))
			return pv, nil
		})
	if err != nil {
		return v, err
	}
	v.Propagation, v.Pending, v.Instances, v.More = pv.text, pv.pending, pv.instances, pv.more
	v.Head = pv.head
	hv, err := h.histories.Get(c.Request().Context(), historyKey{s.Name, s.Version}, func(ctx context.Context) (historyView, error) {
		return h.history(ctx, s.Name)
	})
	if err != nil {
		return v, err
	}
	v.History = hv.rows
	v.HistoryTable = hv.table
	return v, nil
}

// historyKey is a switch's history as of one version of the switch.
type historyKey struct {
	name    string
	version int64
}

// historyView is a switch's last changes, and their table rendered once
// (nil if that failed).
type historyView struct {
	rows  []views.SwitchChange
	table templ.Component
}

// history reads switch name's last 20 changes and renders them.
func (h *Switches) history(ctx context.Context, name string) (historyView, error) {
	var hv historyView
	hist, err := h.Store.History(ctx, name, 20)
	if err != nil {
		return hv, err
	}
	for _, e := range hist {
		ch := views.SwitchChange{At: e.At.UTC().Format("2006-01-02 15:04:05Z"), State: onOff(e.Enabled), Reason: e.Reason,
			ChangedBy: e.ChangedBy, Version: e.Version}
		if e.RevertAt != nil {
			ch.Reverts = e.RevertAt.UTC().Format("2006-01-02 15:04:05Z")
		}
		hv.rows = append(hv.rows, ch)
	}
	hv.table = renderOnce(ctx, views.SwitchHistory(hv.rows))
	return hv, nil
}

// Toggle changes a switch: the reason is required, the operator types the
// switch's name to confirm, and the change applies only to the version
// the operator saw (a concurrent change wins, and this one is refused).
func (h *Switches) Toggle(c echo.Context) error {
	name := c.Param("name")
	ctx := c.Request().Context()
	form := &formState{name: name, reason: strings.TrimSpace(c.FormValue("reason")), revert: c.FormValue("revert_after")}
	ch, problem := parseToggle(c, name, form)
	sess := CurrentSession(c).Account
	actor := audit.Entry{OperatorID: sess.ID, Operator: sess.Email, Role: string(sess.Role), ClientIP: c.RealIP(),
		RequestID: c.Response().Header().Get(echo.HeaderXRequestID)}
	if problem != "" {
		_ = h.Record(c, audit.Entry{Action: "killswitch.set", Target: "switch:" + name, Reason: form.reason, Result: audit.Failure,
			Details: map[string]any{"error": problem}})
		form.err = problem
		return h.rerender(c, http.StatusBadRequest, form)
	}
	ch.Actor = actor
	now, err := h.Store.Set(ctx, ch)
	switch {
	case errors.Is(err, switches.ErrNotFound):
		return echo.NewHTTPError(http.StatusNotFound, "no kill switch named "+clip(name, 64))
	case errors.Is(err, switches.ErrConflict):
		form.err = fmt.Sprintf("%s was changed by %s %s (it is now %s, version %d) after you opened this page. Nothing was changed: review the new state and submit again.",
			name, now.ChangedBy, human.Ago(now.ChangedAt, time.Now()), onOff(now.Enabled), now.Version)
		return h.rerender(c, http.StatusConflict, form)
	case err != nil:
		h.Log.Error("kill switch change failed", "switch", name, "error", err)
		// The change rolled back with its audit event; record the attempt
		// (this too fails if the database is down, and is then only logged).
		_ = h.Record(c, audit.Entry{Action: "killswitch.set", Target: "switch:" + name, Reason: form.reason, Result: audit.Error,
			Details: map[string]any{"error": err.Error(), "requested": onOff(ch.Enabled)}})
		return echo.NewHTTPError(http.StatusServiceUnavailable,
			"The console's database did not take the change, so "+name+" was NOT changed and nothing was recorded. Try again when it answers.")
	}
	if h.Changed != nil {
		h.Changed()
	}
	back := "/switches"
	if c.FormValue("back") == "/cache" {
		back = "/cache"
	}
	return c.Redirect(http.StatusSeeOther, back+"#switch-"+name)
}

func parseToggle(c echo.Context, name string, form *formState) (switches.Change, string) {
	ch := switches.Change{Name: name, Reason: form.reason}
	switch c.FormValue("enabled") {
	case "true":
		ch.Enabled = true
	case "false":
	default:
		return ch, "The form did not say whether to turn the switch on or off."
	}
	v, err := strconv.ParseInt(c.FormValue("version"), 10, 64)
	if err != nil || v <= 0 {
		return ch, "The form did not carry the switch's version; reload the page."
	}
	ch.Version = v
	switch {
	case form.reason == "":
		return ch, "Give a reason: it goes to the audit log and the switch's history."
	case len(form.reason) > 500:
		return ch, "The reason is longer than 500 characters."
	case strings.TrimSpace(c.FormValue("confirm")) != name:
		return ch, "Type the switch's name, " + name + ", to confirm."
	}
	if form.revert != "" {
		ok := false
		for _, rc := range revertChoices {
			ok = ok || rc.Value == form.revert
		}
		d, err := time.ParseDuration(form.revert)
		if !ok || err != nil {
			return ch, "Choose an automatic revert time from the list."
		}
		ch.RevertAfter = d
	}
	return ch, ""
}

func (h *Switches) rerender(c echo.Context, status int, form *formState) error {
	m, err := h.page(c, form)
	if err != nil {
		return err
	}
	return Render(c, status, views.SwitchesPage(h.Page(c, "Kill switches", "switches"), m))
}

func onOff(b bool) string {
	if b {
		return "ON"
	}
	return "OFF"
}
