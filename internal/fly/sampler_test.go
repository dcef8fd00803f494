package fly_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/fly"
	"github.com/atum/ops-console/internal/flydouble"
	"github.com/atum/ops-console/internal/testenv"
)

// TestSamplerListsOncePerIntervalAcrossInstances runs two console
// instances' samplers, each ticking every 20 ms for 4.5 s as if many people
// were looking: the double sees one listing per interval, no 429, the
// secret names once, and the full event log of the crash-looping machine.
func TestSamplerListsOncePerIntervalAcrossInstances(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	d, _ := double(t, flydouble.Options{})
	// Three crashes 4 min apart: the list's newest five events hold only
	// two of them; the event log holds all three.
	d.CrashLoop("api2", 3, 4*time.Minute, 1, false)
	ctx, cancel := context.WithTimeout(context.Background(), 4500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	var samplers []*fly.Sampler
	for range 2 {
		c, err := fly.NewClient(d.URL(), "atum", token, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		s := &fly.Sampler{Pool: pool, Client: c, Interval: 1100 * time.Millisecond}
		samplers = append(samplers, s)
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					s.Tick(ctx) //nolint:errcheck
					time.Sleep(20 * time.Millisecond)
				}
			}()
		}
	}
	wg.Wait()
	count := map[string]int{}
	var lists []time.Time
	calls := d.Calls()
	for _, c := range calls {
		count[c.Action]++
		if c.Status == http.StatusTooManyRequests {
			t.Fatalf("429 for %s", c.Path)
		}
		if c.Action == "list" {
			lists = append(lists, c.At)
		}
	}
	t.Logf("calls at the double in 4.5 s with 2 instances × 3 tickers: %v", count)
	// The deadline may cut the last listing short before its events call.
	events := count["events"]
	if len(calls) > 0 && calls[len(calls)-1].Action == "list" {
		events++
	}
	if count["list"] < 4 || count["list"] > 6 || count["secrets"] != 1 || events != count["list"] {
		t.Fatalf("calls %v: want one list (and one events call for api2) per 0.8 × 1.1 s, secrets once", count)
	}
	// Listings start at least 880 ms apart; the double sees them a little
	// later each, by up to the tolerance on a busy machine.
	const tolerance = 150 * time.Millisecond
	for i := 1; i < len(lists); i++ {
		if gap := lists[i].Sub(lists[i-1]); gap < 880*time.Millisecond-tolerance {
			t.Fatalf("two listings %s apart", gap)
		}
	}
	snap, err := samplers[1].Latest(context.Background())
	if err != nil || snap.Err != "" || len(snap.Machines) != 4 || len(snap.Secrets) != 2 {
		t.Fatalf("snapshot %+v, %v", snap, err)
	}
	r := fly.Analyze(snap.Machines, snap.Secrets, fly.Options{ExpectedEnvironment: "production"})
	if m := row(t, r, "api2"); !m.CrashLoop || m.FailingExits10m != 3 {
		t.Fatalf("api2 %+v", m)
	}
	if c, ok := samplers[0].Cached(); !ok || len(c.Machines) != 4 {
		t.Fatal("no cached snapshot")
	}
}

// TestSamplerBacksOffAfter429 keeps the last machines with the error and
// sends nothing until Retry-After has passed.
func TestSamplerBacksOffAfter429(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	d, c := double(t, flydouble.Options{})
	s := &fly.Sampler{Pool: pool, Client: c, Interval: 100 * time.Millisecond}
	ctx := context.Background()
	first, err := s.Tick(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The sampler reads the real clock: wait until the interval is over.
	time.Sleep(time.Until(first.At.Add(s.Interval)))
	d.Force429(1)
	began := time.Now()
	snap, err := s.Tick(ctx)
	ended := time.Now()
	if err == nil || len(snap.Machines) != 4 || snap.ListedAt.IsZero() {
		t.Fatalf("after a 429: %+v, %v", snap, err)
	}
	// The double's Retry-After is 1 s: the back-off started during that
	// Tick, so it lasts past began+1s and is over by ended+1s. Only a Tick
	// that returned before began+1s surely ran inside it.
	n := len(d.Calls())
	inside := 0
	for inside < 5 {
		time.Sleep(120 * time.Millisecond)
		_, err := s.Tick(ctx)
		if !time.Now().Before(began.Add(time.Second)) {
			break
		}
		inside++
		if err == nil {
			t.Fatal("the stored error must stay until the next listing")
		}
		if got := len(d.Calls()); got != n {
			t.Fatalf("%d calls during the back-off", got-n)
		}
	}
	if inside == 0 {
		t.Fatal("no Tick ran inside the back-off")
	}
	time.Sleep(time.Until(ended.Add(time.Second)))
	if _, err := s.Tick(ctx); err != nil {
		t.Fatalf("after Retry-After: %v", err)
	}
	if got := len(d.Calls()); got != n+1 {
		t.Fatalf("%d calls after the back-off, want 1", got-n)
	}
}

// TestSamplerKeepsAListingWhoseEventLogsFailed: a 429 on an event log
// leaves the listing good (no error), with the missing detail noted.
func TestSamplerKeepsAListingWhoseEventLogsFailed(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	d, c := double(t, flydouble.Options{})
	d.CrashLoop("api1", 2, time.Minute, 1, false)
	d.Force429(1, "events")
	s := &fly.Sampler{Pool: pool, Client: c, Interval: time.Minute}
	snap, err := s.Tick(context.Background())
	if err != nil || snap.ListedAt.IsZero() || len(snap.Machines) != 4 || !strings.Contains(snap.Partial, "machine events: HTTP 429") {
		t.Fatalf("snapshot %+v, %v", snap, err)
	}
	fresh := &fly.Sampler{Pool: pool, Client: c} // reads the row, not this instance's copy
	if stored, err := fresh.Latest(context.Background()); err != nil || stored.Partial != snap.Partial || stored.Err != "" {
		t.Fatalf("stored %+v, %v", stored, err)
	}
}

// TestSamplerKeepsEventsFlyNoLongerLists: exits stored from an earlier
// listing still count when later events push them out of the list (which
// then shows no exit, so no event log is read).
func TestSamplerKeepsEventsFlyNoLongerLists(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	d, c := double(t, flydouble.Options{NoRateLimits: true})
	d.CrashLoop("api1", 2, time.Minute, 1, false)
	s := &fly.Sampler{Pool: pool, Client: c, Interval: 100 * time.Millisecond}
	ctx := context.Background()
	first, err := s.Tick(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		d.AddEvents("api1", flydouble.Event{Type: "update", Status: "updated", Source: "user", At: time.Now()})
	}
	// The sampler reads the real clock: wait until the interval is over.
	time.Sleep(time.Until(first.At.Add(s.Interval)))
	snap, err := s.Tick(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := fly.Analyze(snap.Machines, nil, fly.Options{ExpectedEnvironment: "production"})
	if m := row(t, r, "api1"); m.FailingExits10m != 2 {
		t.Fatalf("api1 failing exits %d, want the 2 stored earlier", m.FailingExits10m)
	}
	for _, m := range snap.Machines {
		if m.ID == "api1" && len(m.Events) != 8 {
			t.Fatalf("api1 keeps %d events, want the 4 stored and the 4 new of the 5 listed, once each", len(m.Events))
		}
	}
}
