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

	mu      sync.Mutex
	backoff map[string]time.Time
}

// Tick refreshes one region's snapshot if it is due, and returns the
// latest one.
func (s *Sampler) Tick(ctx context.Context, region string) (Snapshot, error) {
	c, ok := s.Clients[region]
	if !ok {
		return Snapshot{}, ErrUnknownRegion
	}
	s.mu.Lock()
	until := s.backoff[region]
	s.mu.Unlock()
	if time.Now().Before(until) {
		return s.latestResult(ctx, region)
	}
	var snap Snapshot
	var sampled bool
	_, err := store.Elect(ctx, s.Pool, sampleLock, func(conn *pgxpool.Conn) (err error) {
		snap, sampled, err = s.sample(ctx, conn, c, region)
		return err
	})
	if err != nil {
		// QStash's own errors are in the snapshot: this is the console's
		// database.
		return Snapshot{}, store.Console(fmt.Errorf("qstash: sample: %w", err))
	}
	if !sampled {
		return s.latestResult(ctx, region)
	}
	return snap.result()
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

// sample lists the region's queues unless they were listed within the
// interval; the caller holds the election lock.
func (s *Sampler) sample(ctx context.Context, conn *pgxpool.Conn, c *Client, region string) (Snapshot, bool, error) {
	var recent bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM ops.queue_snapshots WHERE region = $1 AND at > now() - $2 * interval '1 second')`,
		region, (s.Interval * 8 / 10).Seconds()).Scan(&recent); err != nil || recent {
		return Snapshot{}, false, err
	}
	snap := Snapshot{Region: region, At: time.Now()}
	qs, err := c.Queues(ctx)
	if d, limited := IsRateLimited(err); limited {
		s.mu.Lock()
		if s.backoff == nil {
			s.backoff = map[string]time.Time{}
		}
		s.backoff[region] = time.Now().Add(max(d, s.Interval))
		s.mu.Unlock()
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
		return snap, true, err
	}
	_, err = conn.Exec(ctx, `INSERT INTO ops.queue_snapshots (region, at, listed_at, queues, error) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (region) DO UPDATE SET at = EXCLUDED.at, listed_at = EXCLUDED.listed_at, queues = EXCLUDED.queues, error = EXCLUDED.error`,
		region, snap.At, store.NullTime(snap.ListedAt), doc, snap.Err)
	return snap, true, err
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
