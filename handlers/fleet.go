package handlers

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/fly"
	"github.com/atum/ops-console/internal/human"
	"github.com/atum/ops-console/internal/memo"
	"github.com/atum/ops-console/views"
)

// FleetReporter gives the fleet's stored snapshot and what the rules find
// in it; it never calls Fly on the request path.
type FleetReporter interface {
	Report(ctx context.Context) (fly.Snapshot, fly.Report, error)
}

// Fleet is the read-only Fly fleet screen.
type Fleet struct {
	*Base
	// Source is nil when the Fly API is not configured.
	Source FleetReporter
	App    string

	// models shares what every viewer of a second sees alike.
	models memo.Cache[fleetKey, views.Fleet]
}

// fleetKey is one view of the fleet: the listing it shows, and the second
// it is worded at (ages).
type fleetKey struct {
	listed, second int64
}

// Show renders machines per group, drift, heartbeat cross-checks and
// secret names.
func (h *Fleet) Show(c echo.Context) error {
	m := views.Fleet{App: h.App}
	snap, r, err := h.report(c, &m.NotConfigured)
	if err != nil {
		return err
	}
	if m.NotConfigured == "" {
		now := time.Now()
		m, err = h.models.Get(c.Request().Context(), fleetKey{snap.ListedAt.UnixNano(), now.Unix()},
			func(ctx context.Context) (views.Fleet, error) {
				m := fleetModel(h.App, snap, r, now)
				m.Body = renderOnce(ctx, views.FleetBody(m))
				return m, nil
			})
		if err != nil {
			return err
		}
		m.Alerts = h.AlertsOf(c.Request().Context(), "fleet.")
		// Said once: by the open alert when there is one, else by a note.
		m.NoHeartbeatsYet = r.NoHeartbeatsYet && !slices.ContainsFunc(m.Alerts, func(a views.Alert) bool {
			return a.Rule == "fleet.no_heartbeats_yet"
		})
	}
	return Render(c, http.StatusOK, views.FleetPage(h.Page(c, "Fleet", "fleet"), m))
}

// fleetModel is the Fleet page of a snapshot and its report.
func fleetModel(app string, snap fly.Snapshot, r fly.Report, now time.Time) views.Fleet {
	m := views.Fleet{App: app, Listed: listedText(snap, now), NoHeartbeatsYet: r.NoHeartbeatsYet}
	if snap.ListedAt.IsZero() {
		m.Err, m.NotConfigured = "Fly could not be listed: "+snap.Err, "No listing has succeeded yet; the console retries on its own."
		return m
	}
	if snap.Err != "" {
		m.Err = "Showing the last good listing: " + snap.Err
	}
	if snap.Partial != "" {
		m.Partial = "Listed, but some details could not be read (restarts may be under-counted): " + snap.Partial
	}
	for _, g := range r.Groups {
		m.GroupNames = append(m.GroupNames, groupLabel(g.Name))
		fg := views.FleetGroup{Name: groupLabel(g.Name), Anchor: "group-" + anchor(g.Name), Expected: g.Expected, Count: g.Count(),
			Started: g.Started, CrashLoops: g.CrashLoops}
		for _, d := range g.Images {
			fg.Images = append(fg.Images, fly.ShortDigest(d))
		}
		for _, mr := range g.Machines {
			fg.Machines = append(fg.Machines, machineView(mr, r, now))
		}
		m.Groups = append(m.Groups, fg)
	}
	for _, d := range r.Drift {
		m.Drift = append(m.Drift, driftView(d))
	}
	for _, hb := range r.UnknownHeartbeats {
		m.Unknown = append(m.Unknown, views.FleetHeartbeat{Instance: hb.Instance, Machine: hb.Machine, Group: hb.Group,
			Environment: hb.Environment, Reported: human.Ago(hb.ReportedAt, now)})
	}
	for _, s := range snap.Secrets {
		m.Secrets = append(m.Secrets, views.FleetSecret{Name: s.Name, Digest: s.Digest, Updated: s.UpdatedAt})
	}
	m.SecretsListed = human.Ago(snap.SecretsAt, now)
	return m
}

// Machine renders one machine from the snapshot: its row, configuration
// (secrets masked) and stored events.
func (h *Fleet) Machine(c echo.Context) error {
	var none string
	snap, r, err := h.report(c, &none)
	if err != nil {
		return err
	}
	if none != "" {
		return echo.NewHTTPError(http.StatusNotFound, none)
	}
	id := c.Param("id")
	i := slices.IndexFunc(snap.Machines, func(m fly.Machine) bool { return m.ID == id })
	if i < 0 {
		return echo.NewHTTPError(http.StatusNotFound, "Fly does not list a machine "+clip(id, 40)+" in "+h.App)
	}
	p := machineModel(h.App, snap, r, snap.Machines[i], time.Now())
	p.Alerts = h.AlertsOf(c.Request().Context(), "fleet.", id)
	return Render(c, http.StatusOK, views.FleetMachinePageView(h.Page(c, "Machine "+p.Machine.Name, "fleet"), p))
}

// machineModel is one machine's page.
func machineModel(app string, snap fly.Snapshot, r fly.Report, fm fly.Machine, now time.Time) views.FleetMachinePage {
	p := views.FleetMachinePage{App: app, Listed: listedText(snap, now), Group: groupLabel(fm.Group()),
		// A destroyed machine is not in the report.
		Machine: views.FleetMachine{ID: fm.ID, Name: cmp.Or(fm.Name, fm.ID), State: fm.State, Region: fm.Region}}
	for _, g := range r.Groups {
		for _, mr := range g.Machines {
			if mr.ID == fm.ID {
				p.Machine = machineView(mr, r, now)
			}
		}
	}
	p.Details, p.Env = machineDetails(fm)
	for _, e := range fm.Events {
		p.Events = append(p.Events, eventView(e))
	}
	return p
}

// report loads the snapshot; notConfigured is set (and the error nil) when
// there is nothing to show yet.
func (h *Fleet) report(c echo.Context, notConfigured *string) (fly.Snapshot, fly.Report, error) {
	if h.Source == nil {
		*notConfigured = "The Fly Machines API is not configured: set FLY_API_TOKEN (a read-only token) and ATUM_FLY_APP."
		return fly.Snapshot{}, fly.Report{}, nil
	}
	snap, r, err := h.Source.Report(c.Request().Context())
	if fly.IsNoSnapshot(err) {
		*notConfigured = "The fleet has not been listed yet; the first listing runs within a few seconds of someone opening the console."
		return snap, r, nil
	}
	return snap, r, err
}

func machineView(m fly.MachineRow, r fly.Report, now time.Time) views.FleetMachine {
	v := views.FleetMachine{ID: m.ID, Name: m.Name, Href: "/fleet/machines/" + url.PathEscape(m.ID), State: m.State, Region: m.Region,
		Digest: m.Digest, DigestShort: fly.ShortDigest(m.Digest), Release: m.Release, LastStart: human.Ago(m.LastStart, now),
		Restarts10m: m.Restarts10m, Restarts1h: m.Restarts1h, FailingExits: m.FailingExits10m, LastExit: "—", OOM: "—"}
	if m.LastExitCode != nil {
		v.LastExit = fmt.Sprint(*m.LastExitCode)
	}
	if m.LastExitOOM || m.OOM1h > 0 {
		v.OOM = fmt.Sprintf("%d in 1 h", m.OOM1h)
		if m.LastExitOOM {
			v.OOM = "last exit; " + v.OOM
		}
	}
	switch n := len(m.Instances); {
	case n > 0:
		v.Heartbeats = fmt.Sprintf("%d live (%s)", n, strings.Join(m.Instances, ", "))
	case m.State == "started":
		v.Heartbeats = "none"
		// Until the platform's first heartbeat ever, the page says so
		// once instead of flagging every machine.
		if !r.NoHeartbeatsYet {
			v.Flags = append(v.Flags, "NO HEARTBEAT")
		}
	default:
		v.Heartbeats = "—"
	}
	if m.CrashLoop {
		v.Flags = append(v.Flags, "CRASH LOOP")
	}
	if m.GaveUp {
		v.Flags = append(v.Flags, "GAVE UP")
	}
	if m.NoConfig {
		v.Flags = append(v.Flags, "NO CONFIG")
	}
	if m.Wedged {
		v.Flags = append(v.Flags, "WEDGED")
	}
	for _, a := range r.Alerts {
		if a.Machine != m.ID || a.Level != "critical" {
			continue
		}
		v.Bad = true
		if a.Kind == "environment" {
			v.Flags = append(v.Flags, "ENVIRONMENT "+strings.Trim(m.Env["ENVIRONMENT"], "()"))
		}
	}
	return v
}

func driftView(d fly.DriftRow) views.FleetDrift {
	v := views.FleetDrift{Key: d.Key, InGroup: d.InGroup, Across: d.Across}
	for _, cells := range d.Values {
		c := views.FleetDriftCell{Drift: fly.KnownValues(cells) > 1}
		for _, cell := range cells {
			c.Values = append(c.Values, views.FleetValue{Value: cell.Value, Count: len(cell.Machines),
				Machines: strings.Join(cell.Machines, ", "), Missing: cell.Value == fly.Unset || cell.Value == fly.Unknown})
		}
		v.Cells = append(v.Cells, c)
	}
	return v
}

// machineDetails lists a machine's facts and its config.env, with secrets
// masked by name and by value (fly.MaskEnv): secrets belong in Fly
// secrets, which never reach config.env, but fly.toml [env] may still
// hold one, or a URL with its password.
func machineDetails(m fly.Machine) ([]views.KV, []views.KV) {
	details := []views.KV{{Label: "ID", Value: m.ID}, {Label: "Instance", Value: m.InstanceID}, {Label: "Region", Value: m.Region},
		{Label: "Host", Value: cmp.Or(m.HostStatus, "—")}, {Label: "Image digest", Value: cmp.Or(m.ImageRef.Digest, "—")},
		{Label: "Release", Value: cmp.Or(m.Release(), "—")}, {Label: "Created", Value: m.CreatedAt}, {Label: "Updated", Value: m.UpdatedAt}}
	if m.Config == nil {
		details = append(details, views.KV{Label: "Config", Value: "Fly returned no configuration (host " + cmp.Or(m.HostStatus, "unknown") + ")", Flag: "warning"})
		return details, nil
	}
	details = append(details, views.KV{Label: "Image", Value: m.Config.Image})
	if r := m.Config.Restart; r != nil {
		details = append(details, views.KV{Label: "Restart policy", Value: fmt.Sprintf("%s, max %d retries", r.Policy, r.MaxRetries)})
	}
	keys := make([]string, 0, len(m.Config.Env))
	for k := range m.Config.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var env []views.KV
	for _, k := range keys {
		kv := views.KV{Label: k, Value: fly.MaskEnv(k, m.Config.Env[k])}
		if kv.Value != m.Config.Env[k] {
			kv.Value += " (secret hidden; keep secrets in fly secrets)"
		}
		env = append(env, kv)
	}
	return details, env
}

func eventView(e fly.Event) views.FleetEvent {
	v := views.FleetEvent{At: e.At().UTC().Format("2006-01-02 15:04:05Z"), Type: e.Type, Status: e.Status, Source: e.Source}
	if x, rc, ok := e.Exit(); ok {
		v.Exit = fmt.Sprintf("code %d", x.ExitCode)
		if x.OOMKilled {
			v.Exit += ", OOM killed"
		}
		if x.Signal != 0 {
			v.Exit += fmt.Sprintf(", signal %d", x.Signal)
		}
		if x.RequestedStop {
			v.Exit += ", requested"
		}
		if x.Restarting {
			v.Exit += fmt.Sprintf(", restarting (restart %d)", rc)
		}
		v.Failing = x.Failing()
	}
	return v
}

func listedText(s fly.Snapshot, now time.Time) string {
	if s.ListedAt.IsZero() {
		return "never listed successfully"
	}
	return "listed " + human.Ago(s.ListedAt, now)
}

func groupLabel(g string) string { return cmp.Or(g, "(no group)") }

// anchor makes a fragment id from a group name.
func anchor(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return cmp.Or(b.String(), "none")
}
