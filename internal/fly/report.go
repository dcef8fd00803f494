package fly

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/atum/ops-console/internal/store"
)

// Crash-loop thresholds: FailingExits non-requested failing exits within
// CrashWindow make a crash loop.
const (
	CrashWindow  = 10 * time.Minute
	FailingExits = 3
)

// DriftKeys are the environment settings compared across machines and
// groups by default.
var DriftKeys = []string{"ENVIRONMENT", "DB_POOL_SIZE", "DATABASE_MAX_OVERFLOW", "SUSPEND_REDIS", "WEB_CONCURRENCY"}

// ConcurrencyKey names the services' concurrency limits in the drift table.
const ConcurrencyKey = "[services] concurrency"

// Unset and Unknown are the drift values of a key a machine does not set,
// and of a machine whose configuration Fly could not return.
const (
	Unset   = "(unset)"
	Unknown = "(config unavailable)"
)

// flyGroups are process groups flyctl creates for itself.
var flyGroups = map[string]bool{"fly_app_release_command": true, "fly_app_console": true}

// Heartbeat is one platform instance's latest report, as the cross-check
// needs it.
type Heartbeat struct {
	Instance, Machine, Group, Environment string
	ReportedAt                            time.Time
}

// Options are what the report compares the fleet with.
type Options struct {
	Now time.Time
	// ExpectedEnvironment is the ENVIRONMENT every machine must have.
	ExpectedEnvironment string
	// Groups are the process groups the budget plans for; others are
	// unexpected (none are when empty).
	Groups []string
	// Keys are the environment settings compared (DriftKeys when nil).
	Keys []string
	// Heartbeats are the live instances' reports (nil: not known, no
	// cross-check); HeartbeatGrace is how long a machine may run before its
	// first one is due.
	Heartbeats     []Heartbeat
	HeartbeatGrace time.Duration
	// NoHeartbeatsYet says that no platform instance has ever reported a
	// heartbeat to this database (store.FirstHeartbeat): the platform has
	// not adopted the contract yet, so the running machines make one
	// no_heartbeats_yet finding instead of one heartbeat finding each.
	// It counts only with Heartbeats known and empty.
	NoHeartbeatsYet bool
}

// MachineRow is one machine as /fleet shows it.
type MachineRow struct {
	ID, Name, State, Region, Group string
	Image, Digest, Release         string
	HostStatus                     string
	NoConfig                       bool
	LastStart                      time.Time
	// Restarts10m and Restarts1h count exits the restart policy answered
	// with a restart; FailingExits10m the failing exits in CrashWindow.
	Restarts10m, Restarts1h, FailingExits10m int
	LastExitCode                             *int
	LastExitOOM                              bool
	OOM1h                                    int
	RestartCount                             int
	CrashLoop, GaveUp                        bool
	// Wedged is a machine stuck in a transient state longer than Fly's
	// own thresholds; Since is when it last changed.
	Wedged bool
	Since  time.Time
	// Instances are the live heartbeats from this machine.
	Instances []string
	// Env holds the compared settings' values.
	Env map[string]string
}

// GroupReport is one process group.
type GroupReport struct {
	Name       string
	Expected   bool
	Machines   []MachineRow
	Started    int
	Images     []string
	CrashLoops int
}

// Count is the machines that count in the connection budget: every one
// that is not gone (a stopped machine may be started again at any time).
func (g GroupReport) Count() int { return len(g.Machines) }

// DriftCell is one value of a key within a group and the machines with it.
type DriftCell struct {
	Value    string
	Machines []string
}

// DriftRow is one key's values per group.
type DriftRow struct {
	Key string
	// Values has one entry per group, in the report's group order.
	Values [][]DriftCell
	// InGroup is set when a group's machines disagree; Across when groups
	// disagree with each other.
	InGroup, Across bool
}

// Alert is one finding, most severe first in Report.Alerts.
type Alert struct {
	Level   string // "critical" or "warning"
	Kind    string // crash-loop, environment, drift, image, group, heartbeat, no_heartbeats_yet, unknown-machine, config, wedged
	Text    string
	Machine string
}

// Report is the fleet seen through the console's rules.
type Report struct {
	Groups []GroupReport
	Drift  []DriftRow
	Alerts []Alert
	// UnknownHeartbeats are live instances on machines Fly does not list.
	UnknownHeartbeats []Heartbeat
	// EnvironmentSecret is set when ENVIRONMENT is an app secret, whose
	// value is not visible and overrides config.env.
	EnvironmentSecret bool
	// NoHeartbeatsYet is set when heartbeats were cross-checked and no
	// platform instance has ever reported one (see Options): machines
	// without heartbeats are then not flagged one by one.
	NoHeartbeatsYet bool
}

// Running returns the ids of started machines, flyctl's own release-command
// and console machines aside.
func (r Report) Running() []string {
	var out []string
	for _, g := range r.Groups {
		if flyGroups[g.Name] {
			continue
		}
		for _, m := range g.Machines {
			if m.State == "started" {
				out = append(out, m.ID)
			}
		}
	}
	return out
}

// Counts returns the machines per group that count in the connection
// budget; flyctl's own groups (release command, console) do not.
func (r Report) Counts() map[string]int {
	out := map[string]int{}
	for _, g := range r.Groups {
		if !flyGroups[g.Name] {
			out[g.Name] = g.Count()
		}
	}
	return out
}

// Analyze builds the report from the listed machines and secret names.
func Analyze(machines []Machine, secrets []Secret, o Options) Report {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Keys == nil {
		o.Keys = DriftKeys
	}
	r := Report{NoHeartbeatsYet: o.NoHeartbeatsYet && o.Heartbeats != nil && len(o.Heartbeats) == 0}
	for _, s := range secrets {
		if s.Name == "ENVIRONMENT" {
			r.EnvironmentSecret = true
		}
	}
	byMachine := map[string][]string{}
	known := map[string]bool{}
	for _, m := range machines {
		known[m.ID] = true
	}
	for _, h := range o.Heartbeats {
		if known[h.Machine] {
			byMachine[h.Machine] = append(byMachine[h.Machine], h.Instance)
		} else {
			r.UnknownHeartbeats = append(r.UnknownHeartbeats, h)
		}
	}
	groups := map[string]*GroupReport{}
	for _, name := range o.Groups {
		groups[name] = &GroupReport{Name: name, Expected: true}
	}
	for _, m := range machines {
		if m.Gone() {
			continue
		}
		row := machineRow(m, o)
		row.Instances = byMachine[m.ID]
		g := groups[row.Group]
		if g == nil {
			g = &GroupReport{Name: row.Group, Expected: len(o.Groups) == 0 || flyGroups[row.Group]}
			groups[row.Group] = g
		}
		g.Machines = append(g.Machines, row)
	}
	for _, g := range groups {
		images := map[string]bool{}
		for _, m := range g.Machines {
			if m.State == "started" {
				g.Started++
			}
			if m.CrashLoop {
				g.CrashLoops++
			}
			if m.Digest != "" {
				images[m.Digest] = true
			}
		}
		for d := range images {
			g.Images = append(g.Images, d)
		}
		sort.Strings(g.Images)
		slices.SortFunc(g.Machines, func(a, b MachineRow) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
		r.Groups = append(r.Groups, *g)
	}
	slices.SortFunc(r.Groups, func(a, b GroupReport) int {
		// Planned groups in plan order, then the rest by name.
		ia, ib := slices.Index(o.Groups, a.Name), slices.Index(o.Groups, b.Name)
		if ia < 0 {
			ia = len(o.Groups)
		}
		if ib < 0 {
			ib = len(o.Groups)
		}
		return cmp.Or(cmp.Compare(ia, ib), cmp.Compare(a.Name, b.Name))
	})
	r.Drift = drift(r.Groups, append(slices.Clone(o.Keys), ConcurrencyKey))
	r.Alerts = alerts(r, o)
	return r
}

// machineRow reads one machine's state, configuration and events.
func machineRow(m Machine, o Options) MachineRow {
	row := MachineRow{ID: m.ID, Name: cmp.Or(m.Name, m.ID), State: m.State, Region: m.Region, Group: m.Group(),
		Digest: m.ImageRef.Digest, Release: m.Release(), HostStatus: m.HostStatus, NoConfig: m.Config == nil,
		Env: map[string]string{}}
	if c := m.config(); c != nil {
		row.Image = c.Image
	}
	for _, k := range append(slices.Clone(o.Keys), ConcurrencyKey) {
		row.Env[k] = envValue(m.Config, k)
	}
	events := slices.Clone(m.Events)
	slices.SortStableFunc(events, func(a, b Event) int { return cmp.Compare(b.Timestamp, a.Timestamp) }) // newest first
	var lastExit *ExitEvent
	for _, e := range events {
		age := o.Now.Sub(e.At())
		if (e.Type == "start" || e.Type == "launch") && e.Status == "started" && row.LastStart.IsZero() {
			row.LastStart = e.At()
		}
		x, rc, ok := e.Exit()
		if !ok {
			continue
		}
		if lastExit == nil {
			lastExit = &x
			code := x.ExitCode
			row.LastExitCode, row.LastExitOOM = &code, x.OOMKilled
		}
		if age > time.Hour {
			continue
		}
		if x.OOMKilled {
			row.OOM1h++
		}
		if x.Restarting {
			row.Restarts1h++
		}
		if age > CrashWindow {
			continue
		}
		if x.Restarting {
			row.Restarts10m++
		}
		if x.Failing() {
			row.FailingExits10m++
		}
		row.RestartCount = max(row.RestartCount, rc)
	}
	row.Since = lastChange(m, events)
	if limit, transient := wedgedAfter[m.State]; transient && !row.Since.IsZero() && o.Now.Sub(row.Since) > limit {
		row.Wedged = true
	}
	row.CrashLoop = row.FailingExits10m >= FailingExits || row.RestartCount >= FailingExits
	row.GaveUp = (m.State == "stopped" || m.State == "failed") && lastExit != nil && lastExit.Failing()
	return row
}

// wedgedAfter are Fly's own thresholds for a machine stuck in a
// transient state.
var wedgedAfter = map[string]time.Duration{"starting": 5 * time.Minute, "stopping": 5 * time.Minute,
	"restarting": 5 * time.Minute, "destroying": 5 * time.Minute, "updating": 10 * time.Minute}

// lastChange is the machine's updated_at or its newest event, whichever is
// later; zero when neither is known.
func lastChange(m Machine, newestFirst []Event) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, m.UpdatedAt)
	if len(newestFirst) > 0 && newestFirst[0].At().After(t) {
		t = newestFirst[0].At()
	}
	return t
}

// envValue is a compared setting's value on a machine, secrets masked.
func envValue(c *Config, key string) string {
	if c == nil {
		return Unknown
	}
	if key == ConcurrencyKey {
		var parts []string
		for _, s := range c.Services {
			if s.Concurrency != nil {
				parts = append(parts, fmt.Sprintf("%s soft %d / hard %d", cmp.Or(s.Concurrency.Type, "connections"),
					s.Concurrency.SoftLimit, s.Concurrency.HardLimit))
			}
		}
		if len(parts) == 0 {
			return Unset
		}
		return strings.Join(parts, "; ")
	}
	if v, ok := c.Env[key]; ok {
		return MaskEnv(key, v)
	}
	return Unset
}

// drift tabulates each key's values per group.
func drift(groups []GroupReport, keys []string) []DriftRow {
	var out []DriftRow
	for _, k := range keys {
		row := DriftRow{Key: k}
		seen := map[string]bool{}
		for _, g := range groups {
			var cells []DriftCell
			for _, m := range g.Machines {
				v := m.Env[k]
				i := slices.IndexFunc(cells, func(c DriftCell) bool { return c.Value == v })
				if i < 0 {
					cells = append(cells, DriftCell{Value: v})
					i = len(cells) - 1
				}
				cells[i].Machines = append(cells[i].Machines, m.ID)
			}
			slices.SortFunc(cells, func(a, b DriftCell) int { return cmp.Compare(len(b.Machines), len(a.Machines)) })
			for _, c := range cells {
				if c.Value != Unknown {
					seen[c.Value] = true
				}
			}
			row.InGroup = row.InGroup || KnownValues(cells) > 1
			row.Values = append(row.Values, cells)
		}
		row.Across = len(seen) > 1
		out = append(out, row)
	}
	return out
}

// knownValues counts a group's distinct values, machines without config
// aside.
func KnownValues(cells []DriftCell) int {
	n := 0
	for _, c := range cells {
		if c.Value != Unknown {
			n++
		}
	}
	return n
}

// alerts lists the findings, critical first.
func alerts(r Report, o Options) []Alert {
	var crit, warn []Alert
	for _, g := range r.Groups {
		if !g.Expected {
			warn = append(warn, Alert{Level: "warning", Kind: "group", Text: fmt.Sprintf(
				"unexpected process group %q with %d machines: it is not in the connection budget, and the next deploy destroys groups fly.toml does not define", groupName(g.Name), len(g.Machines))})
		}
		if g.Expected && len(g.Machines) == 0 && !flyGroups[g.Name] {
			warn = append(warn, Alert{Level: "warning", Kind: "group", Text: fmt.Sprintf("process group %q is planned but Fly lists no machines for it", g.Name)})
		}
		if len(g.Images) > 1 {
			warn = append(warn, Alert{Level: "warning", Kind: "image", Text: fmt.Sprintf(
				"group %s runs %d different images: %s", groupName(g.Name), len(g.Images), strings.Join(shortDigests(g.Images), ", "))})
		}
		for _, m := range g.Machines {
			crit, warn = machineAlerts(m, r, o, crit, warn)
		}
	}
	for _, d := range r.Drift {
		// ENVIRONMENT has its own alerts, per machine.
		if !d.InGroup || d.Key == "ENVIRONMENT" {
			continue
		}
		for i, cells := range d.Values {
			if KnownValues(cells) > 1 {
				var parts []string
				for _, c := range cells {
					parts = append(parts, fmt.Sprintf("%s on %d", c.Value, len(c.Machines)))
				}
				warn = append(warn, Alert{Level: "warning", Kind: "drift", Text: fmt.Sprintf(
					"%s differs within group %s: %s", d.Key, groupName(r.Groups[i].Name), strings.Join(parts, ", "))})
			}
		}
	}
	crit = collapseCrashLoops(crit)
	if r.NoHeartbeatsYet {
		warn = collapseSilent(warn)
	}
	for _, h := range r.UnknownHeartbeats {
		warn = append(warn, Alert{Level: "warning", Kind: "unknown-machine", Machine: h.Machine, Text: fmt.Sprintf(
			"instance %s reports heartbeats from machine %s, which Fly does not list for this app (another app or environment writing to this database?)", h.Instance, h.Machine)})
	}
	return append(crit, warn...)
}

func machineAlerts(m MachineRow, r Report, o Options, crit, warn []Alert) ([]Alert, []Alert) {
	label := fmt.Sprintf("machine %s (%s)", m.Name, groupName(m.Group))
	if m.CrashLoop {
		crit = append(crit, Alert{Level: "critical", Kind: "crash-loop", Machine: m.ID, Text: fmt.Sprintf(
			"crash loop: %s exited %d times in 10 min (last exit code %s%s); every boot hits Redis and Postgres",
			label, m.FailingExits10m, exitCodeText(m.LastExitCode), oomText(m.LastExitOOM))})
	} else if m.GaveUp {
		crit = append(crit, Alert{Level: "critical", Kind: "crash-loop", Machine: m.ID, Text: fmt.Sprintf(
			"%s is %s after failing exits (last exit code %s%s): the restart policy gave up",
			label, m.State, exitCodeText(m.LastExitCode), oomText(m.LastExitOOM))})
	}
	if m.Wedged {
		warn = append(warn, Alert{Level: "warning", Kind: "wedged", Machine: m.ID, Text: fmt.Sprintf(
			"%s has been %s for %s (Fly treats more than %s as stuck)", label, m.State, o.Now.Sub(m.Since).Round(time.Second), wedgedAfter[m.State])})
	}
	want := o.ExpectedEnvironment
	switch env := m.Env["ENVIRONMENT"]; {
	case want == "" || env == want:
	case env == Unknown:
		warn = append(warn, Alert{Level: "warning", Kind: "config", Machine: m.ID, Text: fmt.Sprintf(
			"%s: Fly returned no configuration (host %s); ENVIRONMENT cannot be checked", label, cmp.Or(m.HostStatus, "unknown"))})
	case r.EnvironmentSecret:
		warn = append(warn, Alert{Level: "warning", Kind: "environment", Machine: m.ID, Text: fmt.Sprintf(
			"%s has ENVIRONMENT=%s in its config; a secret named ENVIRONMENT overrides it, but its value is not visible here", label, env)})
	default:
		got := "ENVIRONMENT is unset"
		if env != Unset {
			got = "ENVIRONMENT=" + env
		}
		crit = append(crit, Alert{Level: "critical", Kind: "environment", Machine: m.ID, Text: fmt.Sprintf(
			"%s runs without ENVIRONMENT=%s (%s): it may fall back to a local database", label, want, got)})
	}
	if o.Heartbeats != nil && m.State == "started" && len(m.Instances) == 0 && !flyGroups[m.Group] &&
		(m.LastStart.IsZero() || o.Now.Sub(m.LastStart) > o.HeartbeatGrace) {
		warn = append(warn, Alert{Level: "warning", Kind: "heartbeat", Machine: m.ID, Text: fmt.Sprintf(
			"%s is running but sends no heartbeat (another database, or an old build?)", label)})
	}
	return crit, warn
}

// maxCrashAlerts is how many machines get a crash-loop alert of their own;
// beyond that one alert names them all (a restart storm).
const maxCrashAlerts = 3

func collapseCrashLoops(crit []Alert) []Alert {
	var loops, rest []Alert
	for _, a := range crit {
		if a.Kind == "crash-loop" {
			loops = append(loops, a)
		} else {
			rest = append(rest, a)
		}
	}
	if len(loops) <= maxCrashAlerts {
		return crit
	}
	ids := make([]string, len(loops))
	for i, a := range loops {
		ids[i] = a.Machine
	}
	return append([]Alert{{Level: "critical", Kind: "crash-loop", Text: fmt.Sprintf(
		"restart storm: %d machines are crash-looping or gave up (%s); every boot hits Redis and Postgres", len(loops), strings.Join(ids, ", "))}}, rest...)
}

// collapseSilent replaces the machines' heartbeat findings with one
// no_heartbeats_yet finding, for a platform that never reported a
// heartbeat: every running machine is silent because the contract is not
// adopted yet, not because each machine went wrong.
func collapseSilent(warn []Alert) []Alert {
	var rest []Alert
	n := 0
	for _, a := range warn {
		if a.Kind == "heartbeat" {
			n++
		} else {
			rest = append(rest, a)
		}
	}
	if n == 0 {
		return warn
	}
	machines := fmt.Sprintf("%d running machines are", n)
	if n == 1 {
		machines = "1 running machine is"
	}
	return append(rest, Alert{Level: "warning", Kind: "no_heartbeats_yet", Text: fmt.Sprintf(
		"%s; until one does, %s not checked one by one for a missing heartbeat", store.NoHeartbeatsYet, machines)})
}

func groupName(g string) string {
	if g == "" {
		return "(no group)"
	}
	return g
}

func exitCodeText(c *int) string {
	if c == nil {
		return "unknown"
	}
	return fmt.Sprint(*c)
}

func oomText(oom bool) string {
	if oom {
		return ", OOM killed"
	}
	return ""
}

// ShortDigest shortens an image digest to its first 12 hex digits.
func ShortDigest(d string) string {
	_, hex, ok := strings.Cut(d, ":")
	if !ok {
		hex = d
	}
	if len(hex) > 12 {
		hex = hex[:12]
	}
	return hex
}

func shortDigests(ds []string) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = ShortDigest(d)
	}
	return out
}
