package timeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/devstack"
	"github.com/atum/ops-console/internal/fly"
	"github.com/atum/ops-console/internal/testenv"
	"github.com/atum/ops-console/internal/timeline"
)

func TestMain(m *testing.M) { testenv.Main(m, devstack.Options{Postgres: true}) }

const hostile = `<script>alert(1)</script>`

// seed writes one event of every source around now and returns now.
func seed(t *testing.T, pool *pgxpool.Pool) time.Time {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	// Kill switch: turned on 3 h ago with a revert after 1 h, which took
	// effect 2 h ago; and a change 30 h ago, outside the default range.
	exec(`INSERT INTO ops.kill_switch_changes (name, at, enabled, reason, changed_by, revert_at, version) VALUES
		('SUSPEND_REDIS', $1, true, $3, 'op@atum.io', $2, 2),
		('SUSPEND_REDIS', $4, false, 'old', 'old@atum.io', NULL, 1)`, ago(3*time.Hour), ago(2*time.Hour), "crash loop "+hostile, ago(30*time.Hour))
	// A purge previewed 5 h ago, confirmed and finished.
	exec(`INSERT INTO ops.dlq_purges (id, region, filters, state, total, deleted, gone, failed, created_by, created_at,
			confirmed_by, confirmed_at, finished_at)
		VALUES (7, 'eu', '{}', 'done', 300, 298, 2, 0, 'a@atum.io', $1, 'b@atum.io', $2, $3)`,
		ago(5*time.Hour), ago(4*time.Hour+50*time.Minute), ago(4*time.Hour+40*time.Minute))
	// Audit: a retry, a protection, a role change, a throttle clear, and
	// intents and failures that are not events.
	audit := func(at time.Time, action, target, reason, result string, details map[string]any) {
		b, _ := json.Marshal(details)
		exec(`INSERT INTO ops.audit_events (at, operator, role, action, target, reason, result, details)
			VALUES ($1, 'op@atum.io', 'operator', $2, $3, $4, $5, $6)`, at, action, target, reason, result, b)
	}
	audit(ago(2*time.Hour+time.Minute), "dlq.retry", "qstash:eu", "", "intent", nil)
	audit(ago(2*time.Hour+30*time.Second), "dlq.retry", "qstash:eu", "", "success",
		map[string]any{"retried": []string{"a", "b"}, "gone": []string{"c"}, "failed": map[string]string{}})
	audit(ago(time.Hour), "account.protect", "tenant:0b5f3c1e-3f0a-4c8e-9a55-5a1d2f0e9b11", "VIP "+hostile, "success", nil)
	audit(ago(50*time.Minute), "account.unprotect", "tenant:x", "", "failure", nil)
	audit(ago(30*time.Minute), "operator.role", "operator:v@atum.io", "", "success", map[string]any{"before": "viewer", "after": "admin"})
	audit(ago(20*time.Minute), "login.throttle.clear", "throttle:address  10.0.0.1", "", "success", map[string]any{"found": true})
	audit(ago(10*time.Minute), "account.view", "tenant:x", "", "success", nil)

	// Fly: a machine launched 6 h ago, updated 90 min ago, then exited out
	// of memory and started again; another app's machine is not read.
	ev := func(typ, status string, at time.Time, request string) fly.Event {
		e := fly.Event{Type: typ, Status: status, Source: "flyd", Timestamp: at.UnixMilli()}
		if request != "" {
			e.Request = json.RawMessage(request)
		}
		return e
	}
	m := fly.Machine{ID: "e784079b449483", Name: "api-" + hostile, State: "started",
		Config:   &fly.Config{Image: "registry.fly.io/atum:deployment-2", Metadata: map[string]string{fly.MetaProcessGroup: "api", fly.MetaReleaseVersion: "7"}},
		ImageRef: fly.ImageRef{Repository: "atum", Tag: "deployment-2", Digest: "sha256:0123456789abcdef0123"},
		Events: []fly.Event{
			ev("start", "started", ago(79*time.Minute), ""),
			ev("exit", "stopped", ago(80*time.Minute), `{"exit_event":{"exit_code":137,"oom_killed":true,"restarting":true},"restart_count":1}`),
			ev("update", "replaced", ago(90*time.Minute), ""),
			ev("launch", "created", ago(6*time.Hour), ""),
			ev("stop", "stopped", ago(100*time.Minute), ""),
		}}
	other := fly.Machine{ID: "other1", Events: []fly.Event{ev("launch", "created", ago(time.Hour), "")}}
	for app, ms := range map[string][]fly.Machine{"atum": {m}, "elsewhere": {other}} {
		b, _ := json.Marshal(ms)
		exec(`INSERT INTO ops.fleet_snapshots (app, at, machines) VALUES ($1, now(), $2)`, app, b)
	}
	return now
}

func whats(es []timeline.Event) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.System+" "+e.Kind+": "+e.What)
	}
	return out
}

func TestReadJoinsEverySourceNewestFirst(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	now := seed(t, pool)
	tl := timeline.New(timeline.Standard(pool, "atum")...)
	if got, want := tl.Systems(), []string{"fly", "switches", "queues", "accounts", "operators"}; !slices.Equal(got, want) {
		t.Fatalf("Systems = %v, want %v", got, want)
	}
	r := tl.Read(context.Background(), now.Add(-24*time.Hour), now.Add(time.Second), nil)
	if len(r.Notes) != 0 {
		t.Fatalf("notes: %v", r.Notes)
	}
	want := []string{
		"operators throttle: sign-in throttle cleared: address  10.0.0.1",
		"operators operator: operator v@atum.io role changed from viewer to admin",
		"accounts protection: tenant 0b5f3c1e-3f0a-4c8e-9a55-5a1d2f0e9b11 protected: VIP " + hostile,
		"fly start: api machine api-" + hostile + " (e784079b449483) started",
		"fly exit: api machine api-" + hostile + " (e784079b449483) exited: out of memory, restarting (restart 1)",
		"fly release: api machine api-" + hostile + " (e784079b449483) updated: now on release 7, image atum:deployment-2 (0123456789ab)",
		"switches switch: SUSPEND_REDIS reverted by itself to OFF",
		"queues retry: 2 dead letter(s) retried in eu (1 already gone, 0 failed)",
		"switches switch: SUSPEND_REDIS turned ON: crash loop " + hostile + " (to revert by itself at " +
			now.Add(-2*time.Hour).Format("2006-01-02 15:04Z") + ")",
		"queues purge: purge #7 finished in eu: 298 deleted, 2 already gone, 0 failed",
		"queues purge: purge #7 confirmed: deleting 300 dead letter(s) in eu",
		"queues purge: purge #7 previewed: 300 dead letter(s) frozen in eu",
		"fly release: api machine api-" + hostile + " (e784079b449483) launched",
	}
	got := whats(r.Events)
	if !slices.Equal(got, want) {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := 1; i < len(r.Events); i++ {
		if r.Events[i].At.After(r.Events[i-1].At) {
			t.Fatalf("not newest first at %d: %v after %v", i, r.Events[i].At, r.Events[i-1].At)
		}
	}
	byKind := map[string]timeline.Event{}
	for _, e := range r.Events {
		byKind[e.Kind] = e
	}
	for kind, w := range map[string]struct{ who, href string }{
		timeline.KindStart:      {"fly", "/fleet/machines/e784079b449483"},
		timeline.KindSwitch:     {"op@atum.io", "/switches#switch-SUSPEND_REDIS"},
		timeline.KindPurge:      {"a@atum.io", "/queues/purges/7"},
		timeline.KindProtection: {"op@atum.io", "/accounts/tenants/0b5f3c1e-3f0a-4c8e-9a55-5a1d2f0e9b11"},
		timeline.KindRetry:      {"op@atum.io", "/audit?action=dlq.retry&from=" + now.Add(-2*time.Hour).Format("2006-01-02") + "&target=qstash%3Aeu&to=" + now.Add(-2*time.Hour).Format("2006-01-02")},
	} {
		if e := byKind[kind]; e.Who != w.who || e.Href != w.href {
			t.Errorf("%s: who %q href %q, want %q %q", kind, e.Who, e.Href, w.who, w.href)
		}
	}
}

func TestReadFiltersByTimeAndSystem(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	now := seed(t, pool)
	tl := timeline.New(timeline.Standard(pool, "atum")...)
	ctx := context.Background()

	r := tl.Read(ctx, now.Add(-24*time.Hour), now, []string{timeline.Switches, timeline.Accounts})
	for _, e := range r.Events {
		if e.System != timeline.Switches && e.System != timeline.Accounts {
			t.Errorf("system filter let through %s: %s", e.System, e.What)
		}
	}
	if len(r.Events) != 3 {
		t.Errorf("switches and accounts: %v", whats(r.Events))
	}

	// 95 to 75 minutes ago: the update, the exit and the start only.
	r = tl.Read(ctx, now.Add(-95*time.Minute), now.Add(-75*time.Minute), nil)
	if got := whats(r.Events); len(got) != 3 || !strings.Contains(got[0], "started") || !strings.Contains(got[2], "updated") {
		t.Errorf("window: %v", got)
	}
	// The change 30 h ago is there with a wider range.
	r = tl.Read(ctx, now.Add(-31*time.Hour), now, []string{timeline.Switches})
	if got := whats(r.Events); len(got) != 3 || !strings.Contains(got[2], "turned OFF: old") {
		t.Errorf("31 h of switches: %v", got)
	}
}

// fakeSource is a source that answers events, an error, or nothing until
// its context ends.
type fakeSource struct {
	name, system string
	events       []timeline.Event
	err          error
	hang         bool
}

func (f fakeSource) Name() string   { return f.name }
func (f fakeSource) System() string { return f.system }
func (f fakeSource) Events(ctx context.Context, q timeline.Query) ([]timeline.Event, error) {
	if f.hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return f.events, f.err
}

func TestFailingSourceIsANoteAndTheRestRender(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	now := seed(t, pool)
	tl := timeline.New(timeline.Standard(pool, "atum")...).With(
		fakeSource{name: "alert transitions", system: "alerts", err: errors.New("relation ops.alerts does not exist")},
		fakeSource{name: "stuck source", system: "alerts", hang: true},
	)
	// Long enough for the real sources to open their connections on a
	// busy machine; the stuck one still ends there.
	tl.Timeout = time.Second
	// A broken standard source too: its table is gone.
	if _, err := pool.Exec(context.Background(), `DROP TABLE ops.dlq_purge_items, ops.dlq_purges`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := tl.Read(context.Background(), now.Add(-24*time.Hour), now, nil)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("read took %s with a stuck source", took)
	}
	var notes []string
	for _, n := range r.Notes {
		notes = append(notes, n.Text)
	}
	joined := strings.Join(notes, "\n")
	for _, want := range []string{"alert transitions could not be read: relation ops.alerts does not exist",
		"stuck source could not be read: no answer in time", "dead-letter purges could not be read"} {
		if !strings.Contains(joined, want) {
			t.Errorf("notes %q lack %q", joined, want)
		}
	}
	if len(r.Events) != 10 { // all but the purge's three
		t.Errorf("events with failing sources: %v", whats(r.Events))
	}
	if !slices.Contains(tl.Systems(), "alerts") {
		t.Errorf("an added source's system is not filterable: %v", tl.Systems())
	}
}

func TestLimitIsNoted(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	now := seed(t, pool)
	tl := timeline.New(timeline.Standard(pool, "atum")...)
	tl.Limit = 2
	r := tl.Read(context.Background(), now.Add(-24*time.Hour), now, []string{timeline.Fly})
	if len(r.Events) != 2 || len(r.Notes) != 1 || !strings.Contains(r.Notes[0].Text, "only the newest 2") {
		t.Fatalf("limited: %v %v", whats(r.Events), r.Notes)
	}
	tl.Limit = 100
	all := tl.Read(context.Background(), now.Add(-24*time.Hour), now, []string{timeline.Fly})
	tl.Limit = len(all.Events)
	if exact := tl.Read(context.Background(), now.Add(-24*time.Hour), now, []string{timeline.Fly}); len(all.Events) <= 2 ||
		len(exact.Events) != len(all.Events) || len(exact.Notes) != 0 {
		t.Fatalf("exactly the limit (%d): %d events, notes %v", len(all.Events), len(exact.Events), exact.Notes)
	}
}

func TestMarkersAreReleasesFlipsAndPurges(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	now := seed(t, pool)
	tl := timeline.New(timeline.Standard(pool, "")...)
	ms, err := tl.Markers(context.Background(), now.Add(-24*time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	got := whats(ms)
	want := []string{
		"fly release: machine other1 launched",
		"fly release: api machine api-" + hostile + " (e784079b449483) updated: now on release 7, image atum:deployment-2 (0123456789ab)",
		"switches switch: SUSPEND_REDIS reverted by itself to OFF",
		"switches switch: SUSPEND_REDIS turned ON: crash loop " + hostile + " (to revert by itself at " +
			now.Add(-2*time.Hour).Format("2006-01-02 15:04Z") + ")",
		"queues purge: purge #7 finished in eu: 298 deleted, 2 already gone, 0 failed",
		"queues purge: purge #7 confirmed: deleting 300 dead letter(s) in eu",
		"fly release: api machine api-" + hostile + " (e784079b449483) launched",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("markers:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseFilter(t *testing.T) {
	now := time.Date(2026, 12, 2, 7, 30, 15, 0, time.UTC)
	known := []string{"fly", "switches", "queues", "accounts", "operators"}
	day := 24 * time.Hour
	for _, tc := range []struct {
		name     string
		q        string
		from, to time.Time
		systems  []string
		err      string
	}{
		{name: "default", q: "", from: now.Add(-day), to: now},
		{name: "minutes, to inclusive", q: "from=2026-12-01T10:00&to=2026-12-01T12:30",
			from: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), to: time.Date(2026, 12, 1, 12, 31, 0, 0, time.UTC)},
		{name: "dates", q: "from=2026-11-20&to=2026-11-21",
			from: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), to: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)},
		{name: "from only", q: "from=2026-12-02T01:00", from: time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC), to: now},
		{name: "to only", q: "to=2026-11-30T00:00:00Z", from: time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), to: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)},
		{name: "systems", q: "system=fly&system=queues&system=fly&system=", from: now.Add(-day), to: now, systems: []string{"fly", "queues"}},
		{name: "14 days", q: "from=2026-11-18T07:30&to=2026-12-02T07:29", from: time.Date(2026, 11, 18, 7, 30, 0, 0, time.UTC), to: time.Date(2026, 12, 2, 7, 30, 0, 0, time.UTC)},
		{name: "too long", q: "from=2026-11-01&to=2026-12-01", err: "at most 14 days"},
		{name: "not a time", q: "from=yesterday", err: `from "yesterday" is not a time`},
		{name: "bad to", q: "to=2026-13-01T00:00", err: `to "2026-13-01T00:00" is not a time`},
		{name: "reversed", q: "from=2026-12-01T12:00&to=2026-12-01T11:00", err: "must be before"},
		{name: "unknown system", q: "system=redis", err: `system "redis" is not one of fly, switches`},
		{name: "hostile system", q: "system=" + url.QueryEscape(hostile), err: "is not one of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tc.q)
			f, err := timeline.ParseFilter(q, now, known)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !f.From.Equal(tc.from) || !f.To.Equal(tc.to) || !slices.Equal(f.Systems, tc.systems) {
				t.Fatalf("filter = %v..%v %v, want %v..%v %v", f.From, f.To, f.Systems, tc.from, tc.to, tc.systems)
			}
			// The form shows the range so that submitting it again keeps it.
			again, err := timeline.ParseFilter(f.Query(), now, known)
			if err != nil || !again.To.Equal(f.To.Truncate(time.Minute).Add(time.Minute)) && !again.To.Equal(f.To) {
				t.Fatalf("round trip: %v %v", again, err)
			}
		})
	}
}

// countingSource counts its reads.
type countingSource struct {
	reads  *atomic.Int32
	events []timeline.Event
}

func (countingSource) Name() string   { return "counted" }
func (countingSource) System() string { return "switches" }
func (c countingSource) Events(context.Context, timeline.Query) ([]timeline.Event, error) {
	c.reads.Add(1)
	return c.events, nil
}

// Viewers of one chart window share one read of the sources; the events
// are still cut to each chart's exact window, and Forget reads afresh.
func TestMarkersAreShared(t *testing.T) {
	now := time.Now()
	var reads atomic.Int32
	flip := timeline.Event{At: now.Add(-10 * time.Minute), System: "switches", What: "flip", Mark: true}
	tl := timeline.New(countingSource{reads: &reads, events: []timeline.Event{flip}})
	for i := range 20 {
		evs, err := tl.Markers(context.Background(), now.Add(-time.Hour), now.Add(time.Duration(i)*time.Millisecond))
		if err != nil || len(evs) != 1 {
			t.Fatalf("view %d: %v %v", i, evs, err)
		}
	}
	if evs, _ := tl.Markers(context.Background(), now.Add(-9*time.Minute), now); len(evs) != 0 {
		t.Fatalf("an event before the chart's window is on it: %v", evs)
	}
	if n := reads.Load(); n > 3 {
		t.Fatalf("21 views read the sources %d times", n)
	}
	before := reads.Load()
	tl.Forget()
	tl.Markers(context.Background(), now.Add(-time.Hour), now)
	if reads.Load() != before+1 {
		t.Fatal("Forget did not make the next view read the sources")
	}
}
