// Package sampling takes samples of another system at most once per
// interval across all console instances: an advisory lock on the
// console's database elects one instance per tick, which takes a sample
// unless one was stored within 0.8 intervals, and a system that asked the
// console to back off (a 429) is left alone until it said.
package sampling

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/store"
)

// Sampler takes one kind of sample, of type T, at most once per Interval
// across all console instances. Fill in its fields before the first Tick;
// it is safe for concurrent use.
type Sampler[T any] struct {
	// Pool is the console's database.
	Pool *pgxpool.Pool
	// Lock is the advisory lock key electing the sampling instance.
	Lock int64
	// Interval is how often a sample is due.
	Interval time.Duration
	// Last reads, on the elected connection, the newest stored sample and
	// when it was taken (zero if none). Take receives prev.
	Last func(ctx context.Context, conn *pgxpool.Conn) (prev T, at time.Time, err error)
	// Take reads the system and stores a new sample on the elected
	// connection.
	Take func(ctx context.Context, conn *pgxpool.Conn, prev T) (T, error)
	// OnSample, when set, runs after Take stored a sample, once the
	// election lock is released.
	OnSample func()

	mu    sync.Mutex
	until time.Time
}

// Tick takes a sample unless Hold holds the sampler, another console
// instance holds the election lock, or (unless force) a sample was taken
// within 0.8 intervals. took reports whether Take ran; err is Take's error
// as it returned it, or the console database's marked by store.Console.
func (s *Sampler[T]) Tick(ctx context.Context, force bool) (sample T, took bool, err error) {
	if time.Now().Before(s.HeldUntil()) {
		return sample, false, nil
	}
	_, err = store.Elect(ctx, s.Pool, s.Lock, func(conn *pgxpool.Conn) error {
		prev, at, err := s.Last(ctx, conn)
		if err != nil {
			return store.Console(err)
		}
		if !force && time.Since(at) < s.Interval*8/10 {
			return nil
		}
		took = true
		sample, err = s.Take(ctx, conn, prev)
		return err
	})
	if err == nil && took && s.OnSample != nil {
		s.OnSample()
	}
	return sample, took, err
}

// Hold keeps Tick from taking anything before until (a system's
// Retry-After); a later Hold never shortens an earlier one.
func (s *Sampler[T]) Hold(until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if until.After(s.until) {
		s.until = until
	}
}

// HeldUntil returns until when Hold holds the sampler; it holds it no
// longer once that time passed.
func (s *Sampler[T]) HeldUntil() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.until
}
