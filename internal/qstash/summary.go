package qstash

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/sampling"
	"github.com/atum/ops-console/internal/store"
)

// summaryLock elects the console instance that summarises the dead-letter
// queues this interval.
const summaryLock = 0x646c7173756d00 // "dlqsum"

// Defaults of a Summariser.
const (
	// DefaultSummaryCalls is the call budget of one region's summary: 20
	// pages of 100, 2,000 dead letters.
	DefaultSummaryCalls = 20
	// DefaultSummaryTime bounds one region's summary, waits for 429s
	// included.
	DefaultSummaryTime = 30 * time.Second
	// DefaultSummaryInterval is how often a region is summarised when the
	// Summariser names no interval.
	DefaultSummaryInterval = 5 * time.Minute
	// TopGroups is how many groups of each dimension a summary keeps.
	TopGroups = 20
)

// Dimension is what a summary counts dead letters by.
type Dimension string

// The dimensions of a summary.
const (
	ByQueue  Dimension = "queue"
	ByURL    Dimension = "url"
	ByStatus Dimension = "status"
	ByLabel  Dimension = "label"
	ByDay    Dimension = "day"
)

// Dimensions lists every dimension in the order pages show them.
var Dimensions = []Dimension{ByQueue, ByURL, ByStatus, ByLabel, ByDay}

// Group is one value of a dimension ("" for dead letters without one) and
// how many dead letters have it.
type Group struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// Tally is one dimension's TopGroups largest groups, by count then value,
// and what the groups left out add up to.
type Tally struct {
	Groups []Group `json:"groups"`
	// More is how many groups were left out; MoreCount how many dead
	// letters (for labels: labels) they hold.
	More      int `json:"more,omitempty"`
	MoreCount int `json:"moreCount,omitempty"`
}

// Summary is one region's dead letters counted by dimension. Unless
// Complete, the scan stopped early (Stopped says why) and every figure is
// a lower bound. A dead letter with several labels counts under each.
type Summary struct {
	Region   string
	TakenAt  time.Time
	Complete bool
	// Scanned is how many dead letters were read, in Calls API calls.
	Scanned int
	Calls   int
	Stopped string
	Tallies map[Dimension]Tally
}

// ErrNoSummary says a region's dead letters were never summarised.
var ErrNoSummary = errors.New("dead letters not summarised yet")

// Summariser counts each region's dead letters by queue, destination,
// response status, label and day (UTC), paging GET /v2/dlq within a call
// and a time budget, at most once per Interval across all console
// instances, and stores the latest summary per region so that pages read
// it without calling QStash.
type Summariser struct {
	Pool    *pgxpool.Pool
	Clients map[string]*Client
	// Regions is the order Kick summarises in (nil: the Clients' keys,
	// sorted).
	Regions []string
	// Interval is how often a region is summarised (zero:
	// DefaultSummaryInterval).
	Interval time.Duration
	// Calls is the most API calls one region's summary makes, 429s
	// included (zero: DefaultSummaryCalls).
	Calls int
	// Time bounds one region's summary, waits for 429s included (zero:
	// DefaultSummaryTime).
	Time time.Duration
	// Background bounds the summaries Kick starts (nil:
	// context.Background()); Log, when set, hears of their failures.
	Background context.Context
	Log        *slog.Logger

	mu      sync.Mutex
	regions map[string]*sampling.Sampler[Summary]
	busy    atomic.Bool
}

// Kick summarises every region that is due, one after the other in the
// background, and returns at once; it does nothing while this instance is
// still at it. Call it on the queue sampler's schedule.
func (s *Summariser) Kick() {
	if s == nil || !s.busy.CompareAndSwap(false, true) {
		return
	}
	bg := cmp.Or(s.Background, context.Background())
	go func() {
		defer s.busy.Store(false)
		for _, region := range s.regionKeys() {
			// The time budget bounds QStash; the rest is for the database.
			ctx, cancel := context.WithTimeout(bg, s.timeBudget()+10*time.Second)
			_, _, err := s.Tick(ctx, region, false)
			cancel()
			if err != nil && bg.Err() == nil && s.Log != nil {
				s.Log.Warn("dead-letter summary failed", "region", region, "error", err.Error())
			}
		}
	}()
}

// Tick summarises a region unless it was summarised within the interval
// (unless force), another instance is at it, or QStash asked to be left
// alone; took reports whether it did. QStash's failures are in the
// summary: err is the console database's.
func (s *Summariser) Tick(ctx context.Context, region string, force bool) (sum Summary, took bool, err error) {
	c, ok := s.Clients[region]
	if !ok {
		return Summary{}, false, ErrUnknownRegion
	}
	sum, took, err = s.sampler(region, c).Tick(ctx, force)
	if err != nil {
		return sum, took, store.Console(fmt.Errorf("qstash: summary: %w", err))
	}
	return sum, took, nil
}

func (s *Summariser) regionKeys() []string {
	if s.Regions != nil {
		return s.Regions
	}
	keys := make([]string, 0, len(s.Clients))
	for k := range s.Clients {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (s *Summariser) timeBudget() time.Duration { return cmp.Or(s.Time, DefaultSummaryTime) }

func (s *Summariser) callBudget() int { return max(cmp.Or(s.Calls, DefaultSummaryCalls), 1) }

// sampler returns the region's sampler: each region is due, and backs off
// after a 429, on its own.
func (s *Summariser) sampler(region string, c *Client) *sampling.Sampler[Summary] {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.regions[region]; r != nil {
		return r
	}
	r := &sampling.Sampler[Summary]{Pool: s.Pool, Lock: summaryLock, Interval: cmp.Or(s.Interval, DefaultSummaryInterval),
		Last: func(ctx context.Context, conn *pgxpool.Conn) (Summary, time.Time, error) {
			var at time.Time
			err := conn.QueryRow(ctx, `SELECT COALESCE(max(taken_at), 'epoch') FROM ops.dlq_summaries WHERE region = $1`, region).Scan(&at)
			return Summary{}, at, err
		}}
	r.Take = func(ctx context.Context, conn *pgxpool.Conn, _ Summary) (Summary, error) {
		sum, wait := s.scan(ctx, c, region)
		if wait > 0 {
			r.Hold(time.Now().Add(wait))
		}
		return sum, saveSummary(ctx, conn, sum)
	}
	if s.regions == nil {
		s.regions = map[string]*sampling.Sampler[Summary]{}
	}
	s.regions[region] = r
	return r
}

// scan pages through the region's dead letters within the budgets and
// counts them; wait is how long QStash asked to be left alone when a 429
// stopped it.
func (s *Summariser) scan(ctx context.Context, c *Client, region string) (sum Summary, wait time.Duration) {
	sum = Summary{Region: region, TakenAt: time.Now()}
	budget, deadline := s.callBudget(), sum.TakenAt.Add(s.timeBudget())
	qctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	counts := dlqCounter{}
	cursor := ""
	for {
		if !time.Now().Before(deadline) {
			sum.Stopped = fmt.Sprintf("the time budget of %s was spent", s.timeBudget())
			break
		}
		if sum.Calls >= budget {
			sum.Stopped = "the call budget of " + plural(budget, "call") + " was spent"
			break
		}
		sum.Calls++
		page, err := c.ListDLQ(qctx, Filter{}, cursor, MaxPage)
		if d, limited := IsRateLimited(err); limited {
			if time.Now().Add(d).After(deadline) {
				sum.Stopped, wait = fmt.Sprintf("QStash asked to wait %s (429), beyond the time budget of %s", d.Round(time.Millisecond), s.timeBudget()), d
				break
			}
			if waitOut(qctx, d) == nil {
				continue
			}
			err = qctx.Err()
		}
		if err != nil {
			sum.Stopped = "QStash failed: " + clipReason(err.Error(), 300)
			if ctx.Err() == nil && qctx.Err() != nil {
				sum.Stopped = fmt.Sprintf("the time budget of %s was spent", s.timeBudget())
			}
			break
		}
		sum.Scanned += len(page.Messages)
		for _, m := range page.Messages {
			counts.add(m)
		}
		if page.Cursor == "" {
			sum.Complete = true
			break
		}
		cursor = page.Cursor
	}
	sum.Tallies = counts.tallies()
	return sum, wait
}

// waitOut waits d unless ctx ends first (its error).
func waitOut(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// plural is "1 call" or "n calls".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func clipReason(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// dlqCounter counts dead letters per dimension and value.
type dlqCounter map[Dimension]map[string]int

func (c dlqCounter) add(m Message) {
	inc := func(d Dimension, v string) {
		if c[d] == nil {
			c[d] = map[string]int{}
		}
		c[d][v]++
	}
	inc(ByQueue, m.QueueName)
	inc(ByURL, m.URL)
	status := ""
	if m.ResponseStatus > 0 {
		status = strconv.Itoa(m.ResponseStatus)
	}
	inc(ByStatus, status)
	day := ""
	if m.CreatedAt > 0 {
		day = time.UnixMilli(m.CreatedAt).UTC().Format(time.DateOnly)
	}
	inc(ByDay, day)
	labels := slices.Clone(m.Labels)
	if m.Label != "" {
		labels = append(labels, m.Label)
	}
	slices.Sort(labels)
	labels = slices.Compact(labels)
	if len(labels) == 0 {
		labels = []string{""}
	}
	for _, l := range labels {
		inc(ByLabel, l)
	}
}

// tallies keeps each dimension's TopGroups largest groups.
func (c dlqCounter) tallies() map[Dimension]Tally {
	out := make(map[Dimension]Tally, len(Dimensions))
	for _, d := range Dimensions {
		t := Tally{Groups: []Group{}}
		for v, n := range c[d] {
			t.Groups = append(t.Groups, Group{Value: v, Count: n})
		}
		slices.SortFunc(t.Groups, func(a, b Group) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Value, b.Value))
		})
		if len(t.Groups) > TopGroups {
			for _, g := range t.Groups[TopGroups:] {
				t.More, t.MoreCount = t.More+1, t.MoreCount+g.Count
			}
			t.Groups = t.Groups[:TopGroups]
		}
		out[d] = t
	}
	return out
}

// saveSummary stores a region's summary in place of the last; the caller
// holds the election lock.
func saveSummary(ctx context.Context, conn *pgxpool.Conn, sum Summary) error {
	doc, err := json.Marshal(sum.Tallies)
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, `INSERT INTO ops.dlq_summaries (region, taken_at, complete, scanned, calls, stopped_reason, groups)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (region) DO UPDATE SET taken_at = EXCLUDED.taken_at, complete = EXCLUDED.complete, scanned = EXCLUDED.scanned,
			calls = EXCLUDED.calls, stopped_reason = EXCLUDED.stopped_reason, groups = EXCLUDED.groups`,
		sum.Region, sum.TakenAt, sum.Complete, sum.Scanned, sum.Calls, sum.Stopped, doc)
	return err
}

// Latest returns a region's stored summary; ErrNoSummary when there is
// none.
func (s *Summariser) Latest(ctx context.Context, region string) (Summary, error) {
	sum := Summary{Region: region}
	var doc []byte
	err := s.Pool.QueryRow(ctx, `SELECT taken_at, complete, scanned, calls, stopped_reason, groups FROM ops.dlq_summaries WHERE region = $1`, region).
		Scan(&sum.TakenAt, &sum.Complete, &sum.Scanned, &sum.Calls, &sum.Stopped, &doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return sum, ErrNoSummary
	}
	if err != nil {
		return sum, fmt.Errorf("qstash: latest summary: %w", err)
	}
	if err := json.Unmarshal(doc, &sum.Tallies); err != nil {
		return sum, fmt.Errorf("qstash: latest summary: %w", err)
	}
	return sum, nil
}
