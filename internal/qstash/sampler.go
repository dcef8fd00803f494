package qstash

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/sampling"
	"github.com/atum/ops-console/internal/store"
)

// sampleLock elects the console instance that lists queues this interval.
const sampleLock = 0x71737461736800 // "qstash"

// Snapshot is one region's queues as last listed.
type Snapshot struct {
	Region string
	// At is when the latest listing was attempted; ListedAt when one last
	// succeeded (zero if never). Queues are from ListedAt.
	At       time.Time
	ListedAt time.Time
	Queues   []Queue
	// Err is why the latest attempt failed, or "".
	Err string
}

// result is the snapshot, failing with its error when the latest attempt
// failed: a region stays failing while QStash stays down, whichever
// console instance made the attempt.
func (s Snapshot) result() (Snapshot, error) {
	if s.Err != "" {
		return s, errors.New(s.Err)
	}
	return s, nil
}

// TotalLag sums the queues' depth.
func (s Snapshot) TotalLag() int64 {
	var n int64
	for _, q := range s.Queues {
		n += q.Lag
	}
	return n
}

// Sampler lists each region's queues at most once per Interval across all
// console instances (one call per region), whatever the number of viewers,
// and backs off after a 429 until QStash's reset.
type Sampler struct {
	Pool     *pgxpool.Pool
	Clients  map[string]*Client
	Interval time.Duration
	// OnSample, when set, runs after this instance stored a region's
	// snapshot.
	OnSample func()

	mu      sync.Mutex
	regions map[string]*sampling.Sampler[Snapshot]
}

// Tick refreshes one region's snapshot if it is due, and returns the
// latest one.
func (s *Sampler) Tick(ctx context.Context, region string) (Snapshot, error) {
	c, ok := s.Clients[region]
	if !ok {
		return Snapshot{}, ErrUnknownRegion
	}
	snap, took, err := s.sampler(region, c).Tick(ctx, false)
	if err != nil {
		// QStash's own errors are in the snapshot: this is the console's
		// database.
		return Snapshot{}, store.Console(fmt.Errorf("qstash: sample: %w", err))
	}
	if !took {
		return s.latestResult(ctx, region)
	}
	return snap.result()
}

// sampler returns the region's sampler: each region is due, and backs off
// after a 429, on its own.
func (s *Sampler) sampler(region string, c *Client) *sampling.Sampler[Snapshot] {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.regions[region]; r != nil {
		return r
	}
	r := &sampling.Sampler[Snapshot]{Pool: s.Pool, Lock: sampleLock, Interval: s.Interval,
		Last: func(ctx context.Context, conn *pgxpool.Conn) (Snapshot, time.Time, error) {
			var at time.Time
			err := conn.QueryRow(ctx, `SELECT COALESCE(max(at), 'epoch') FROM ops.queue_snapshots WHERE region = $1`, region).Scan(&at)
			return Snapshot{}, at, err
		},
		OnSample: func() {
			if s.OnSample != nil {
				s.OnSample()
			}
		}}
	r.Take = func(ctx context.Context, conn *pgxpool.Conn, _ Snapshot) (Snapshot, error) {
		return s.sample(ctx, conn, r, c, region)
	}
	if s.regions == nil {
		s.regions = map[string]*sampling.Sampler[Snapshot]{}
	}
	s.regions[region] = r
	return r
}

func (s *Sampler) latestResult(ctx context.Context, region string) (Snapshot, error) {
	snap, err := s.Latest(ctx, region)
	if err != nil {
		if !errors.Is(err, ErrNoSnapshot) {
			err = store.Console(err)
		}
		return snap, err
	}
	return snap.result()
}

// sample lists the region's queues and stores them; the caller holds the
// election lock.
func (s *Sampler) sample(ctx context.Context, conn *pgxpool.Conn, r *sampling.Sampler[Snapshot], c *Client, region string) (Snapshot, error) {
	snap := Snapshot{Region: region, At: time.Now()}
	qs, err := c.Queues(ctx)
	if d, limited := IsRateLimited(err); limited {
		r.Hold(time.Now().Add(max(d, s.Interval)))
	}
	if err != nil {
		snap.Err = err.Error()
		// Keep the last good queues, and when they were listed, with the
		// new error.
		if last, lerr := s.Latest(ctx, region); lerr == nil {
			snap.Queues, snap.ListedAt = last.Queues, last.ListedAt
		}
	} else {
		snap.Queues, snap.ListedAt = qs, snap.At
	}
	doc, err := json.Marshal(snap.Queues)
	if err != nil {
		return snap, err
	}
	_, err = conn.Exec(ctx, `INSERT INTO ops.queue_snapshots (region, at, listed_at, queues, error) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (region) DO UPDATE SET at = EXCLUDED.at, listed_at = EXCLUDED.listed_at, queues = EXCLUDED.queues, error = EXCLUDED.error`,
		region, snap.At, store.NullTime(snap.ListedAt), doc, snap.Err)
	return snap, err
}

// ErrNoSnapshot says a region's queues were never listed.
var ErrNoSnapshot = errors.New("queues not listed yet")

// Latest returns a region's stored snapshot.
func (s *Sampler) Latest(ctx context.Context, region string) (Snapshot, error) {
	snap := Snapshot{Region: region}
	var doc []byte
	var listed *time.Time
	err := s.Pool.QueryRow(ctx, `SELECT at, listed_at, queues, error FROM ops.queue_snapshots WHERE region = $1`, region).
		Scan(&snap.At, &listed, &doc, &snap.Err)
	if listed != nil {
		snap.ListedAt = *listed
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return snap, ErrNoSnapshot
	}
	if err != nil {
		return snap, fmt.Errorf("qstash: latest queues: %w", err)
	}
	return snap, json.Unmarshal(doc, &snap.Queues)
}
