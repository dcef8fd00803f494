package watch

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/testenv"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestStatesAndRedaction(t *testing.T) {
	var fail atomic.Bool
	m := New(time.Hour, func(s string) string { return "[" + s + "]" }, quietLog(),
		Check{Key: "a", Name: "A", Probe: func(context.Context) (string, error) {
			if fail.Load() {
				return "", errors.New("token=abc refused")
			}
			return "fine", nil
		}},
		Check{Key: "b", Name: "B"},
	)
	snap := m.Snapshot()
	if snap[0].State != Pending || snap[1].State != NotConfigured {
		t.Fatalf("initial states = %s, %s", snap[0].State, snap[1].State)
	}
	c := m.checks[0]
	if st := m.ProbeOnce(context.Background(), c); st.State != OK || st.Detail != "fine" || st.LastOK.IsZero() {
		t.Fatalf("after a good probe: %+v", st)
	}
	fail.Store(true)
	st := m.ProbeOnce(context.Background(), c)
	if st.State != Failing || st.Err != "[token=abc refused]" || st.Failures != 1 || st.LastOK.IsZero() {
		t.Fatalf("after a failed probe: %+v", st)
	}
	m.ProbeOnce(context.Background(), c)
	if st, _ := m.Get("a"); st.Failures != 2 {
		t.Fatalf("failures = %d", st.Failures)
	}
	fail.Store(false)
	if st := m.ProbeOnce(context.Background(), c); st.State != OK || st.Failures != 0 || st.Err != "" {
		t.Fatalf("after recovery: %+v", st)
	}
}

func TestProbeTimeout(t *testing.T) {
	m := New(time.Hour, func(s string) string { return s }, quietLog())
	c := Check{Key: "slow", Timeout: 50 * time.Millisecond, Probe: func(ctx context.Context) (string, error) {
		<-ctx.Done()
		return "", ctx.Err()
	}}
	m.status["slow"] = Status{Key: "slow"}
	start := time.Now()
	if st := m.ProbeOnce(context.Background(), c); st.State != Failing || time.Since(start) > time.Second {
		t.Fatalf("slow probe: %+v after %s", st, time.Since(start))
	}
}

// TestRunBacksOffWhileFailing counts probes of a failing system: with a
// 20 ms interval, backoff doubles the wait after each failure.
func TestRunBacksOffWhileFailing(t *testing.T) {
	var failing, healthy atomic.Int64
	m := New(20*time.Millisecond, func(s string) string { return s }, quietLog(),
		Check{Key: "down", Probe: func(context.Context) (string, error) { failing.Add(1); return "", errors.New("down") }},
		Check{Key: "up", Probe: func(context.Context) (string, error) { healthy.Add(1); return "ok", nil }},
	)
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	m.Run(ctx)
	// Healthy: about 700/20 = 35 probes. Failing: 20+20+40+80+160+320 ms → about 6.
	if h, f := healthy.Load(), failing.Load(); h < 15 || f > 8 || f < 3 {
		t.Fatalf("probes: healthy %d, failing %d; want steady vs backed off", h, f)
	}
}

func TestRefreshWakesLoops(t *testing.T) {
	var n atomic.Int64
	m := New(time.Hour, func(s string) string { return s }, quietLog(),
		Check{Key: "x", Probe: func(context.Context) (string, error) { n.Add(1); return "", nil }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	testenv.Eventually(t, 10*time.Second, func() bool { return n.Load() >= 1 }, "no first probe")
	// With an hour's interval only Refresh brings a second probe. A
	// Refresh that lands while the first probe is still being recorded
	// finds the loop not yet waiting, so refresh until the loop answers.
	if _, ok := testenv.Poll(10*time.Second, func() bool {
		if n.Load() >= 2 {
			return true
		}
		m.Refresh()
		return false
	}); !ok {
		t.Fatalf("Refresh did not wake the loop: %d probes", n.Load())
	}
}

func TestGatePausesProbesAndActivityWakesThem(t *testing.T) {
	var n atomic.Int64
	act := NewActivity(time.Hour)
	m := New(10*time.Millisecond, func(s string) string { return s }, quietLog(),
		Check{Key: "x", Probe: func(context.Context) (string, error) { n.Add(1); return "", nil }})
	m.Gate = act.Active
	act.OnWake = m.Refresh
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)
	// A quiet period: no probe may run while nobody uses the console.
	time.Sleep(100 * time.Millisecond)
	if n.Load() != 0 || act.Active() {
		t.Fatalf("probes ran while nobody used the console: %d", n.Load())
	}
	act.Touch()
	if _, ok := testenv.Poll(10*time.Second, func() bool { return n.Load() >= 3 }); !ok || !act.Active() || act.Last().IsZero() {
		t.Fatalf("probes after activity: %d", n.Load())
	}
}

// notCheckedErr plays the console's own database failing during a probe.
type notCheckedErr struct{}

func (notCheckedErr) Error() string    { return "the console's database: timeout" }
func (notCheckedErr) NotChecked() bool { return true }

// A probe that could not check its system (the console's database did
// not answer) keeps the system's last state, says why, and is neither a
// failure nor a fresh check.
func TestNotCheckedKeepsTheLastState(t *testing.T) {
	var outcome atomic.Int32
	m := New(time.Hour, func(s string) string { return s }, quietLog(),
		Check{Key: "redis", Name: "Redis", Probe: func(context.Context) (string, error) {
			switch outcome.Load() {
			case 1:
				return "", notCheckedErr{}
			case 2:
				return "", errors.New("redis: i/o timeout")
			}
			return "ok", nil
		}})
	c := m.checks[0]
	good := m.ProbeOnce(context.Background(), c)
	outcome.Store(1)
	st := m.ProbeOnce(context.Background(), c)
	if st.State != OK || st.Failures != 0 || !st.CheckedAt.Equal(good.CheckedAt) || st.NotChecked == "" || st.NotCheckedAt.IsZero() {
		t.Fatalf("not checked: %+v", st)
	}
	outcome.Store(2)
	if st := m.ProbeOnce(context.Background(), c); st.State != Failing || st.NotChecked != "" {
		t.Fatalf("a real failure after: %+v", st)
	}
}

func TestWatchModes(t *testing.T) {
	always, active, off := NewWatch(Always, time.Minute), NewWatch(WhileActive, time.Minute), NewWatch(Off, time.Minute)
	if !always.Watching() || active.Watching() || off.Watching() {
		t.Fatalf("before any use: always %v, active %v, off %v", always.Watching(), active.Watching(), off.Watching())
	}
	for _, a := range []*Activity{always, active, off} {
		a.Touch()
	}
	if !always.Watching() || !active.Watching() || off.Watching() {
		t.Fatalf("after a use: always %v, active %v, off %v", always.Watching(), active.Watching(), off.Watching())
	}
}
