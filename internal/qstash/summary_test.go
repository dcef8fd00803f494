package qstash_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/internal/qstashdouble"
	"github.com/atum/ops-console/internal/testenv"
)

// summaryFixture is a QStash double, a client on it and a migrated
// database.
type summaryFixture struct {
	qs   *qstashdouble.Server
	c    *qstash.Client
	pool *pgxpool.Pool
}

func newSummaryFixture(t *testing.T) summaryFixture {
	t.Helper()
	qs := qstashdouble.New(qstashdouble.Options{Token: "summary-token"})
	base, err := qs.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { qs.Close() })
	c, err := qstash.NewClient("eu", base, "summary-token", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	pool, _ := testenv.MigratedPool(t)
	return summaryFixture{qs: qs, c: c, pool: pool}
}

func (f summaryFixture) summariser() *qstash.Summariser {
	return &qstash.Summariser{Pool: f.pool, Clients: map[string]*qstash.Client{"eu": f.c}, Interval: time.Minute}
}

// listCalls counts the DLQ listings the double answered.
func (f summaryFixture) listCalls() int {
	n := 0
	for _, r := range f.qs.Requests() {
		if r.Method == http.MethodGet && r.Path == "/v2/dlq" {
			n++
		}
	}
	return n
}

// seed adds n dead letters spread over 3 queues (one group without a
// queue), 25 destinations, 4 statuses (one without a response), labels
// (some none, some two) and 4 days, and returns what a summary must count.
func (f summaryFixture) seed(n int) map[qstash.Dimension]map[string]int {
	want := map[qstash.Dimension]map[string]int{}
	count := func(d qstash.Dimension, v string) {
		if want[d] == nil {
			want[d] = map[string]int{}
		}
		want[d][v]++
	}
	day0 := time.Date(2026, 11, 20, 23, 59, 0, 0, time.UTC)
	for i := range n {
		m := qstashdouble.DLQMessage{
			QueueName:      []string{"billing", "emails", ""}[i%3],
			URL:            fmt.Sprintf("https://api.atum.example/hook/%02d", i%25),
			ResponseStatus: []int{500, 502, 404, 0}[i%4],
			CreatedAt:      day0.Add(time.Duration(i%4)*24*time.Hour + time.Duration(i)*time.Millisecond).UnixMilli(),
		}
		count(qstash.ByQueue, m.QueueName)
		count(qstash.ByURL, m.URL)
		count(qstash.ByStatus, map[int]string{500: "500", 502: "502", 404: "404", 0: ""}[m.ResponseStatus])
		count(qstash.ByDay, fmt.Sprintf("2026-11-%02d", 20+i%4))
		switch {
		case i%7 == 0:
			count(qstash.ByLabel, "")
		case i%10 == 1:
			m.Labels = []string{"deploy-b", "canary"}
			count(qstash.ByLabel, "deploy-b")
			count(qstash.ByLabel, "canary")
		default:
			m.Labels = []string{"deploy-" + strconv.Itoa(i%2)}
			count(qstash.ByLabel, m.Labels[0])
		}
		f.qs.AddDLQ(m)
	}
	return want
}

// top is what a tally of counts must hold: the 20 largest groups by count
// then value, and the number and total of the rest.
func top(counts map[string]int) qstash.Tally {
	t := qstash.Tally{Groups: []qstash.Group{}}
	for v, n := range counts {
		t.Groups = append(t.Groups, qstash.Group{Value: v, Count: n})
	}
	slices.SortFunc(t.Groups, func(a, b qstash.Group) int {
		return cmp.Or(b.Count-a.Count, strings.Compare(a.Value, b.Value))
	})
	for len(t.Groups) > qstash.TopGroups {
		t.More, t.MoreCount = t.More+1, t.MoreCount+t.Groups[len(t.Groups)-1].Count
		t.Groups = t.Groups[:len(t.Groups)-1]
	}
	return t
}

// TestSummaryCountsEveryDeadLetter: 350 dead letters in 4 calls, counted
// right by every dimension, stored and read back.
func TestSummaryCountsEveryDeadLetter(t *testing.T) {
	f := newSummaryFixture(t)
	want := f.seed(350)
	s := f.summariser()
	ctx := context.Background()
	sum, took, err := s.Tick(ctx, "eu", false)
	if err != nil || !took {
		t.Fatalf("Tick: took %v, %v", took, err)
	}
	if !sum.Complete || sum.Scanned != 350 || sum.Calls != 4 || sum.Stopped != "" || f.listCalls() != 4 {
		t.Fatalf("summary: complete %v, scanned %d in %d calls (double saw %d), stopped %q", sum.Complete, sum.Scanned, sum.Calls, f.listCalls(), sum.Stopped)
	}
	for _, d := range qstash.Dimensions {
		if got, exp := sum.Tallies[d], top(want[d]); !reflect.DeepEqual(got, exp) {
			t.Errorf("%s:\n got %+v\nwant %+v", d, got, exp)
		}
	}
	if u := sum.Tallies[qstash.ByURL]; len(u.Groups) != 20 || u.More != 5 || u.MoreCount != 70 {
		t.Errorf("destinations: %d groups and %d more (%d dead letters); want 20 and 5 more (70)", len(u.Groups), u.More, u.MoreCount)
	}
	stored, err := s.Latest(ctx, "eu")
	if err != nil {
		t.Fatal(err)
	}
	if !stored.TakenAt.Equal(sum.TakenAt.Truncate(time.Microsecond)) || !stored.Complete || stored.Scanned != 350 || stored.Calls != 4 ||
		!reflect.DeepEqual(stored.Tallies, sum.Tallies) {
		t.Fatalf("stored summary differs: %+v", stored)
	}
	if _, took, err := s.Tick(ctx, "eu", false); took || err != nil || f.listCalls() != 4 {
		t.Fatalf("a second Tick within the interval: took %v, %v, %d calls", took, err, f.listCalls())
	}
	if _, err := s.Latest(ctx, "us"); !errors.Is(err, qstash.ErrNoSummary) {
		t.Fatalf("Latest of a region never summarised: %v", err)
	}
	if _, _, err := s.Tick(ctx, "us", false); !errors.Is(err, qstash.ErrUnknownRegion) {
		t.Fatalf("Tick of an unknown region: %v", err)
	}
}

// TestSummaryCallBudget: 2 calls over 350 dead letters count at least 200,
// and say why.
func TestSummaryCallBudget(t *testing.T) {
	f := newSummaryFixture(t)
	f.seed(350)
	s := f.summariser()
	s.Calls = 2
	sum, _, err := s.Tick(context.Background(), "eu", false)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Complete || sum.Scanned != 200 || sum.Calls != 2 || f.listCalls() != 2 || !strings.Contains(sum.Stopped, "call budget of 2 calls") {
		t.Fatalf("summary: complete %v, scanned %d in %d calls (double saw %d), stopped %q", sum.Complete, sum.Scanned, sum.Calls, f.listCalls(), sum.Stopped)
	}
	total := 0
	for _, g := range sum.Tallies[qstash.ByQueue].Groups {
		total += g.Count
	}
	stored, err := s.Latest(context.Background(), "eu")
	if total != 200 || err != nil || stored.Complete || stored.Scanned != 200 || stored.Stopped != sum.Stopped {
		t.Fatalf("queues add up to %d; stored %+v, %v", total, stored, err)
	}
}

// TestSummary429: a 429 whose wait fits the time budget is waited out; one
// beyond it stops the summary early, says so and holds the region.
func TestSummary429(t *testing.T) {
	f := newSummaryFixture(t)
	f.seed(150)
	ctx := context.Background()

	s := f.summariser()
	s.Time = 3 * time.Second
	f.qs.FailNext(1, http.StatusTooManyRequests)
	sum, _, err := s.Tick(ctx, "eu", false)
	if err != nil || !sum.Complete || sum.Scanned != 150 || sum.Calls != 3 {
		t.Fatalf("a 429 within the budget: complete %v, scanned %d in %d calls, stopped %q, %v", sum.Complete, sum.Scanned, sum.Calls, sum.Stopped, err)
	}

	s = f.summariser()
	s.Time = 300 * time.Millisecond
	f.qs.FailNext(1000, http.StatusTooManyRequests)
	start := time.Now()
	sum, took, err := s.Tick(ctx, "eu", true)
	if err != nil || !took || sum.Complete || sum.Scanned != 0 || !strings.Contains(sum.Stopped, "(429), beyond the time budget of 300ms") {
		t.Fatalf("a 429 beyond the budget: took %v, complete %v, scanned %d, stopped %q, %v", took, sum.Complete, sum.Scanned, sum.Stopped, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("the summary took %s with a time budget of 300ms", d)
	}
	if stored, err := s.Latest(ctx, "eu"); err != nil || stored.Complete || stored.Stopped != sum.Stopped {
		t.Fatalf("stored after the 429: %+v, %v", stored, err)
	}
	calls := f.listCalls()
	if _, took, err := s.Tick(ctx, "eu", true); took || err != nil || f.listCalls() != calls {
		t.Fatalf("a forced Tick right after the 429: took %v, %v; %d more calls", took, err, f.listCalls()-calls)
	}
}

// TestTwoSummarisersTakeOneSummaryPerInterval ticks two summarisers (two
// console instances) on one database from 10 goroutines for 1.2 s at a
// 300 ms interval: the summaries stand at least 0.8 intervals apart, one
// DLQ listing each.
func TestTwoSummarisersTakeOneSummaryPerInterval(t *testing.T) {
	f := newSummaryFixture(t)
	f.seed(5)
	const interval = 300 * time.Millisecond
	a, b := f.summariser(), f.summariser()
	a.Interval, b.Interval = interval, interval
	start := time.Now()
	deadline := start.Add(1200 * time.Millisecond)
	var mu sync.Mutex
	var taken []time.Time
	var wg sync.WaitGroup
	for g := range 10 {
		s := a
		if g%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for time.Now().Before(deadline) {
				sum, took, err := s.Tick(context.Background(), "eu", false)
				if err != nil {
					t.Error(err)
					return
				}
				if took {
					mu.Lock()
					taken = append(taken, sum.TakenAt)
					mu.Unlock()
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	slices.SortFunc(taken, time.Time.Compare)
	most := int(time.Since(start)/(interval*8/10)) + 1
	if len(taken) < 2 || len(taken) > most || f.listCalls() != len(taken) {
		t.Fatalf("%d summaries in %s (at most %d), %d listings", len(taken), time.Since(start).Round(time.Millisecond), most, f.listCalls())
	}
	for i := 1; i < len(taken); i++ {
		if gap := taken[i].Sub(taken[i-1]); gap < interval*8/10 {
			t.Fatalf("summaries %s apart", gap)
		}
	}
}

// TestKickSummarisesInTheBackground: Kick returns at once and the summary
// appears; a Kick while it runs starts nothing more.
func TestKickSummarisesInTheBackground(t *testing.T) {
	f := newSummaryFixture(t)
	f.seed(120)
	f.qs.SetLatency(50 * time.Millisecond)
	s := f.summariser()
	start := time.Now()
	s.Kick()
	s.Kick()
	if d := time.Since(start); d > 40*time.Millisecond {
		t.Fatalf("Kick took %s", d)
	}
	testenv.Eventually(t, 10*time.Second, func() bool {
		sum, err := s.Latest(context.Background(), "eu")
		return err == nil && sum.Complete && sum.Scanned == 120
	}, "no summary after Kick")
	if n := f.listCalls(); n != 2 {
		t.Fatalf("%d listings, want 2", n)
	}
}
