// Package switches holds the kill switches (ops.kill_switches, platform
// contract 1): their state, audited compare-and-set changes published with
// NOTIFY, their history, and how far a change has reached the platform's
// instances (from ops.instance_heartbeats).
package switches

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/store"
)

// SuspendRedis is the switch that makes every platform instance bypass Redis.
const SuspendRedis = "SUSPEND_REDIS"

// Channel is the NOTIFY channel every change is published on, with the
// payload "NAME:VERSION".
const Channel = "ops_kill_switches"

// LiveWithin is how recent a heartbeat must be for an instance to count
// as live.
const LiveWithin = 45 * time.Second

// Errors callers compare with errors.Is.
var (
	ErrNotFound = errors.New("no such kill switch")
	ErrConflict = errors.New("the switch was changed by someone else meanwhile")
)

// Switch is a kill switch's stored and effective state.
type Switch struct {
	Name string
	// Enabled is the effective state: a switch past its revert time counts
	// as reverted.
	Enabled   bool
	Stored    bool
	Reason    string
	ChangedBy string
	ChangedAt time.Time
	RevertAt  *time.Time
	Version   int64
}

// Store reads and changes kill switches.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a Store over the console's database.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

const switchColumns = `name, CASE WHEN revert_at IS NOT NULL AND revert_at <= now() THEN NOT enabled ELSE enabled END,
	enabled, reason, changed_by, changed_at, revert_at, version`

func scanSwitch(r pgx.Row) (Switch, error) {
	var s Switch
	err := r.Scan(&s.Name, &s.Enabled, &s.Stored, &s.Reason, &s.ChangedBy, &s.ChangedAt, &s.RevertAt, &s.Version)
	return s, err
}

// List returns every switch, by name.
func (st *Store) List(ctx context.Context) ([]Switch, error) {
	rows, err := st.pool.Query(ctx, `SELECT `+switchColumns+` FROM ops.kill_switches ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("switches: list: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Switch, error) { return scanSwitch(r) })
}

// Get returns one switch.
func (st *Store) Get(ctx context.Context, name string) (Switch, error) {
	s, err := scanSwitch(st.pool.QueryRow(ctx, `SELECT `+switchColumns+` FROM ops.kill_switches WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return Switch{}, ErrNotFound
	}
	if err != nil {
		return Switch{}, fmt.Errorf("switches: get %s: %w", name, err)
	}
	return s, nil
}

// Change is one requested change of a switch.
type Change struct {
	Name    string
	Enabled bool
	Reason  string
	// Version is the version the operator saw; the change applies only if
	// the switch is still at it.
	Version int64
	// RevertAfter, when positive, reverts the change by itself after it.
	RevertAfter time.Duration
	// Actor is the audit entry's who and where; Action, Target, Result and
	// Details are filled in here.
	Actor audit.Entry
}

var nameRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)

// Set applies c as a compare-and-set on the version, in one transaction
// with its history row, its audit event (before and after) and a NOTIFY.
// A lost race returns ErrConflict with the switch as it now is, and the
// refusal is audited too. Nothing is half-written: if Postgres fails,
// neither the change nor its audit event exists.
func (st *Store) Set(ctx context.Context, c Change) (Switch, error) {
	if !nameRE.MatchString(c.Name) {
		return Switch{}, ErrNotFound
	}
	var after Switch
	var conflict *Switch
	err := pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		before, err := scanSwitch(tx.QueryRow(ctx, `SELECT `+switchColumns+` FROM ops.kill_switches WHERE name = $1 FOR UPDATE`, c.Name))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		e := c.Actor
		e.Action, e.Target, e.Reason = "killswitch.set", "switch:"+c.Name, c.Reason
		if before.Version != c.Version {
			conflict = &before
			e.Result = audit.Failure
			e.Details = map[string]any{"conflict": true, "expected_version": c.Version, "current_version": before.Version,
				"requested": onOff(c.Enabled), "current": onOff(before.Enabled), "changed_by": before.ChangedBy}
			return audit.RecordIn(ctx, tx, e)
		}
		var revertAt *time.Time
		if c.RevertAfter > 0 {
			t := time.Now().Add(c.RevertAfter)
			revertAt = &t
		}
		after, err = scanSwitch(tx.QueryRow(ctx, `
			UPDATE ops.kill_switches SET enabled = $2, reason = $3, changed_by = $4, changed_at = now(), revert_at = $5, version = version + 1
			WHERE name = $1 RETURNING `+switchColumns, c.Name, c.Enabled, c.Reason, c.Actor.Operator, revertAt))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO ops.kill_switch_changes (name, enabled, reason, changed_by, revert_at, version) VALUES ($1, $2, $3, $4, $5, $6)`,
			c.Name, c.Enabled, c.Reason, c.Actor.Operator, revertAt, after.Version); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, fmt.Sprintf("%s:%d", c.Name, after.Version)); err != nil {
			return err
		}
		e.Result = audit.Success
		e.Details = map[string]any{"before": onOff(before.Enabled), "after": onOff(after.Enabled),
			"version_before": before.Version, "version_after": after.Version}
		if revertAt != nil {
			e.Details["reverts_at"] = revertAt.UTC().Format(time.RFC3339)
		}
		return audit.RecordIn(ctx, tx, e)
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Switch{}, err
		}
		return Switch{}, fmt.Errorf("switches: set %s: %w", c.Name, err)
	}
	if conflict != nil {
		return *conflict, ErrConflict
	}
	return after, nil
}

func onOff(b bool) string {
	if b {
		return "ON"
	}
	return "OFF"
}

// HistoryEntry is one past change.
type HistoryEntry struct {
	At        time.Time
	Enabled   bool
	Reason    string
	ChangedBy string
	RevertAt  *time.Time
	Version   int64
}

// History returns a switch's latest changes, newest first.
func (st *Store) History(ctx context.Context, name string, limit int) ([]HistoryEntry, error) {
	rows, err := st.pool.Query(ctx, `SELECT at, enabled, reason, changed_by, revert_at, version
		FROM ops.kill_switch_changes WHERE name = $1 ORDER BY id DESC LIMIT $2`, name, limit)
	if err != nil {
		return nil, fmt.Errorf("switches: history: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (HistoryEntry, error) {
		var h HistoryEntry
		err := r.Scan(&h.At, &h.Enabled, &h.Reason, &h.ChangedBy, &h.RevertAt, &h.Version)
		return h, err
	})
}

// Instance is a live platform instance's report of SUSPEND_REDIS.
type Instance struct {
	ID        string
	Machine   string
	Group     string
	Suspended bool
	Source    string
	Version   *int64
	AppliedAt *time.Time
	LastSeen  time.Time
}

// Applied reports whether the instance applied state s.
func (i Instance) Applied(s Switch) bool {
	if i.Source == "env" {
		return i.Suspended // forced: it cannot follow the database
	}
	return i.Suspended == s.Enabled && i.Version != nil && *i.Version >= s.Version
}

// LiveInstances returns the instances with a heartbeat within LiveWithin.
func (st *Store) LiveInstances(ctx context.Context) ([]Instance, error) {
	rows, err := st.pool.Query(ctx, `
		SELECT instance_id, machine_id, process_group, suspend_redis, suspend_redis_source, switch_version, switch_applied_at, reported_at
		FROM ops.instance_heartbeats WHERE reported_at > now() - $1 * interval '1 second'
		ORDER BY process_group, machine_id, instance_id`, LiveWithin.Seconds())
	if err != nil {
		return nil, fmt.Errorf("switches: instances: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Instance, error) {
		var i Instance
		err := r.Scan(&i.ID, &i.Machine, &i.Group, &i.Suspended, &i.Source, &i.Version, &i.AppliedAt, &i.LastSeen)
		return i, err
	})
}

// FirstHeartbeat returns when a platform instance first reported a
// heartbeat, or the zero time when none ever did (store.FirstHeartbeat).
func (st *Store) FirstHeartbeat(ctx context.Context) (time.Time, error) {
	return store.FirstHeartbeat(ctx, st.pool)
}

// Propagation summarises how far s has reached the live instances:
// Applied of Live, the instances still Pending, and those Forced by
// SUSPEND_REDIS=true in their environment.
type Propagation struct {
	Live    int
	Applied int
	Pending []string
	Forced  []string
}

// Propagate compares each live instance's report with s.
func Propagate(s Switch, live []Instance) Propagation {
	p := Propagation{Live: len(live)}
	for _, i := range live {
		switch {
		case i.Source == "env":
			// SUSPEND_REDIS=true in its environment: it agrees with an ON
			// switch and cannot follow an OFF one; either way it is not
			// waiting for anything.
			p.Forced = append(p.Forced, i.ID)
			if i.Suspended == s.Enabled {
				p.Applied++
			}
		case i.Applied(s):
			p.Applied++
		default:
			p.Pending = append(p.Pending, i.ID)
		}
	}
	return p
}
