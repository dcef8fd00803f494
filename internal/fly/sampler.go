package fly

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/sampling"
	"github.com/atum/ops-console/internal/store"
)

// sampleLock elects the console instance that lists the fleet this interval.
const sampleLock = 0x666c7965657400 // "flyeet"

// Defaults of Sampler.
const (
	DefaultSecretsEvery  = 5 * time.Minute
	DefaultEventsPerTick = 5
	// keepEvents bounds the events stored per machine.
	keepEvents = 60
)

// Snapshot is the fleet as last listed. Machines and Secrets keep the last
// good answer when a later call failed (Err says why).
type Snapshot struct {
	App string
	// At is the last attempt; ListedAt the last successful listing (zero
	// if none ever succeeded).
	At        time.Time
	ListedAt  time.Time
	Machines  []Machine
	Secrets   []Secret
	SecretsAt time.Time
	Err       string
	// Partial says which details (event logs, secret names) a successful
	// listing could not read.
	Partial string
}

// Sampler lists the fleet at most once per Interval across all console
// instances (an advisory lock elects one, the stored snapshot tells the
// others it is fresh), whatever the number of viewers. Each listing also
// reads the full event log of up to EventsPerTick machines that exited in
// the last hour, most recent first, and the secret names every
// SecretsEvery. After a 429 it sends nothing until Fly's Retry-After.
type Sampler struct {
	Pool          *pgxpool.Pool
	Client        *Client
	Interval      time.Duration
	SecretsEvery  time.Duration
	EventsPerTick int
	// OnSample, when set, runs after this instance stored a listing.
	OnSample func()

	once sync.Once
	smp  *sampling.Sampler[Snapshot]
	last atomic.Pointer[Snapshot]
}

// Tick refreshes the snapshot if it is due and returns the latest one; the
// error is the last listing's.
func (s *Sampler) Tick(ctx context.Context) (Snapshot, error) {
	snap, took, err := s.sampler().Tick(ctx, false)
	if err != nil {
		// Fly's own errors are in the snapshot: this is the console's
		// database.
		return Snapshot{}, store.Console(fmt.Errorf("fly: sample: %w", err))
	}
	if !took {
		return s.latestErr(ctx)
	}
	if snap.Err != "" {
		return snap, errors.New(snap.Err)
	}
	return snap, nil
}

// sampler elects the listing instance; the previous snapshot, read on the
// elected connection, says whether a listing is due and is what a failed
// listing keeps.
func (s *Sampler) sampler() *sampling.Sampler[Snapshot] {
	s.once.Do(func() {
		s.smp = &sampling.Sampler[Snapshot]{Pool: s.Pool, Lock: sampleLock, Interval: s.Interval,
			Last: func(ctx context.Context, conn *pgxpool.Conn) (Snapshot, time.Time, error) {
				last, err := s.latest(ctx, conn)
				if errors.Is(err, ErrNoSnapshot) {
					return last, time.Time{}, nil
				}
				return last, last.At, err
			},
			Take: s.sample,
			OnSample: func() {
				if s.OnSample != nil {
					s.OnSample()
				}
			}}
	})
	return s.smp
}

func (s *Sampler) latestErr(ctx context.Context) (Snapshot, error) {
	snap, err := s.Latest(ctx)
	switch {
	case err == nil && snap.Err != "":
		err = errors.New(snap.Err)
	case err != nil && !errors.Is(err, ErrNoSnapshot):
		err = store.Console(err)
	}
	return snap, err
}

// sample lists the fleet and stores it; the caller holds the election
// lock.
func (s *Sampler) sample(ctx context.Context, conn *pgxpool.Conn, last Snapshot) (Snapshot, error) {
	snap := Snapshot{App: s.Client.App(), At: time.Now().Truncate(time.Microsecond), ListedAt: last.ListedAt,
		Machines: last.Machines, Secrets: last.Secrets, SecretsAt: last.SecretsAt}
	ms, err := s.Client.Machines(ctx)
	if err != nil {
		s.noteLimit(err)
		snap.Err = err.Error()
	} else {
		var partial []string
		snap.Machines, snap.ListedAt = s.withEvents(ctx, ms, last.Machines, &partial), time.Now()
		if time.Since(snap.SecretsAt) >= cmp.Or(s.SecretsEvery, DefaultSecretsEvery) {
			if sec, serr := s.Client.Secrets(ctx); serr != nil {
				s.noteLimit(serr)
				partial = append(partial, serr.Error())
			} else {
				snap.Secrets, snap.SecretsAt = sec, time.Now()
			}
		}
		snap.Partial = strings.Join(partial, "; ")
	}
	// A listing that cost Fly calls is kept even when the caller's deadline
	// ran out while the event logs were read.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.store(sctx, conn, snap); err != nil {
		return snap, err
	}
	s.last.Store(&snap)
	return snap, nil
}

// withEvents replaces the listed events of the machines that exited in
// the last hour with their full event log, most recent exit first, merges
// in the events stored from earlier listings and trims every log to what
// the report needs.
func (s *Sampler) withEvents(ctx context.Context, ms, previous []Machine, errs *[]string) []Machine {
	type cand struct {
		i    int
		exit int64
	}
	var cands []cand
	for i, m := range ms {
		if m.Gone() {
			continue
		}
		var latest int64
		for _, e := range m.Events {
			if e.Type == "exit" && time.Since(e.At()) < time.Hour {
				latest = max(latest, e.Timestamp)
			}
		}
		if latest > 0 {
			cands = append(cands, cand{i, latest})
		}
	}
	slices.SortFunc(cands, func(a, b cand) int { return cmp.Compare(b.exit, a.exit) })
	for n, c := range cands {
		if n >= cmp.Or(s.EventsPerTick, DefaultEventsPerTick) {
			break
		}
		es, err := s.Client.Events(ctx, ms[c.i].ID)
		if err != nil {
			*errs = append(*errs, err.Error())
			if _, limited := IsRateLimited(err); limited || ctx.Err() != nil {
				break
			}
			continue
		}
		ms[c.i].Events = es
	}
	before := map[string][]Event{}
	for _, m := range previous {
		before[m.ID] = m.Events
	}
	for i := range ms {
		ms[i].Events = mergeEvents(before[ms[i].ID], ms[i].Events)
	}
	return ms
}

// mergeEvents joins the events stored from earlier listings with the new
// ones, so exits older than what Fly still lists keep counting, and keeps
// the newest keepEvents.
func mergeEvents(old, fresh []Event) []Event {
	seen := map[string]bool{}
	var es []Event
	for _, e := range append(slices.Clone(fresh), old...) {
		key := e.ID
		if key == "" {
			key = fmt.Sprint(e.Timestamp, "/", e.Type, "/", e.Status)
		}
		if !seen[key] {
			seen[key] = true
			es = append(es, e)
		}
	}
	slices.SortStableFunc(es, func(a, b Event) int { return cmp.Compare(b.Timestamp, a.Timestamp) })
	if len(es) > keepEvents {
		es = es[:keepEvents]
	}
	return es
}

func (s *Sampler) noteLimit(err error) {
	if d, limited := IsRateLimited(err); limited {
		s.sampler().Hold(time.Now().Add(max(d, s.Interval)))
	}
}

func (s *Sampler) store(ctx context.Context, conn *pgxpool.Conn, snap Snapshot) error {
	if snap.Machines == nil {
		snap.Machines = []Machine{}
	}
	if snap.Secrets == nil {
		snap.Secrets = []Secret{}
	}
	machines, err := json.Marshal(snap.Machines)
	if err != nil {
		return err
	}
	secrets, err := json.Marshal(snap.Secrets)
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, `INSERT INTO ops.fleet_snapshots (app, at, listed_at, machines, secrets, secrets_at, error, partial)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (app) DO UPDATE SET at = EXCLUDED.at, listed_at = EXCLUDED.listed_at, machines = EXCLUDED.machines,
			secrets = EXCLUDED.secrets, secrets_at = EXCLUDED.secrets_at, error = EXCLUDED.error, partial = EXCLUDED.partial`,
		snap.App, snap.At, store.NullTime(snap.ListedAt), machines, secrets, store.NullTime(snap.SecretsAt), snap.Err, snap.Partial)
	if err != nil {
		return fmt.Errorf("fly: store snapshot: %w", err)
	}
	return nil
}

// ErrNoSnapshot says the fleet was never listed.
var ErrNoSnapshot = errors.New("fleet not listed yet")

// Latest returns the stored snapshot. When it is the one this instance
// already holds, the machines are neither sent again nor decoded.
func (s *Sampler) Latest(ctx context.Context) (Snapshot, error) { return s.latest(ctx, s.Pool) }

// rowQuerier is a pool or one of its connections.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Sampler) latest(ctx context.Context, db rowQuerier) (Snapshot, error) {
	snap := Snapshot{App: s.Client.App()}
	// Postgres keeps microseconds.
	var held *time.Time
	cached := s.last.Load()
	if cached != nil {
		at := cached.At.Truncate(time.Microsecond)
		held = &at
	}
	var machines, secrets []byte
	var listedAt, secretsAt *time.Time
	err := db.QueryRow(ctx, `
		SELECT at, listed_at, CASE WHEN at = $2 THEN NULL ELSE machines END, CASE WHEN at = $2 THEN NULL ELSE secrets END,
			secrets_at, error, partial
		FROM ops.fleet_snapshots WHERE app = $1`, snap.App, held).
		Scan(&snap.At, &listedAt, &machines, &secrets, &secretsAt, &snap.Err, &snap.Partial)
	if errors.Is(err, pgx.ErrNoRows) {
		return snap, ErrNoSnapshot
	}
	if err != nil {
		return snap, fmt.Errorf("fly: latest fleet: %w", err)
	}
	if machines == nil && held != nil && held.Equal(snap.At) {
		return *cached, nil
	}
	if listedAt != nil {
		snap.ListedAt = *listedAt
	}
	if secretsAt != nil {
		snap.SecretsAt = *secretsAt
	}
	if err := json.Unmarshal(machines, &snap.Machines); err != nil {
		return snap, fmt.Errorf("fly: stored fleet: %w", err)
	}
	if err := json.Unmarshal(secrets, &snap.Secrets); err != nil {
		return snap, fmt.Errorf("fly: stored secrets: %w", err)
	}
	s.last.Store(&snap)
	return snap, nil
}

// Cached returns the snapshot last listed or read by this instance,
// without any I/O; ok is false before the first. Its slices are shared:
// callers must not change them.
func (s *Sampler) Cached() (Snapshot, bool) {
	p := s.last.Load()
	if p == nil {
		return Snapshot{}, false
	}
	return *p, true
}

// Heartbeats returns the platform instances that reported within within.
func Heartbeats(ctx context.Context, pool *pgxpool.Pool, within time.Duration) ([]Heartbeat, error) {
	rows, err := pool.Query(ctx, `
		SELECT instance_id, machine_id, process_group, environment, reported_at FROM ops.instance_heartbeats
		WHERE reported_at > now() - $1 * interval '1 second' ORDER BY machine_id, instance_id`, within.Seconds())
	if err != nil {
		return nil, fmt.Errorf("fly: heartbeats: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Heartbeat, error) {
		var h Heartbeat
		return h, r.Scan(&h.Instance, &h.Machine, &h.Group, &h.Environment, &h.ReportedAt)
	})
}
