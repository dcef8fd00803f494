// Package alerts keeps the console's alerts: each has an identity (the
// rule and its subject), a lifecycle (pending → firing → resolved) stored
// in Postgres, first and last seen, a "for" duration against flapping and
// a severity. Findings of one rule about several subjects can group into
// one alert that lists them. Operators acknowledge and silence alerts.
// The elected console instance evaluates the rules' findings after each
// round of samples; pages only read what is stored.
package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/store"
)

// Severities.
const (
	Warning  = "warning"
	Critical = "critical"
)

// States.
const (
	Pending  = "pending"
	Firing   = "firing"
	Resolved = "resolved"
)

// Finding is one rule holding for one subject at one evaluation.
type Finding struct {
	// Rule names the rule, e.g. "cache.redis_jump"; Subject what it holds
	// for, e.g. an instance id ("" for the whole platform).
	Rule    string
	Subject string
	// Group, when set, merges the findings of one rule that share it into
	// one alert listing their subjects (eight instances, one alert).
	Group    string
	Severity string
	Summary  string
	Href     string
}

// Round is what one evaluation of every rule found.
type Round struct {
	Findings []Finding
	// Unknown lists the rules, by name or prefix ("fleet."), whose source
	// could not be read this round: their open alerts stay as they are,
	// neither resolved nor refreshed, so a source that fails for a moment
	// does not resolve and then fire again everything it raised.
	Unknown []string
}

// unknown reports whether rule is one the round could not evaluate.
func (r Round) unknown(rule string) bool {
	return slices.ContainsFunc(r.Unknown, func(p string) bool { return strings.HasPrefix(rule, p) })
}

// identity is what an alert is: its rule and subject (or group).
func (f Finding) identity() (rule, subject string) {
	if f.Group != "" {
		return f.Rule, "group:" + f.Group
	}
	return f.Rule, f.Subject
}

// Alert is a stored alert.
type Alert struct {
	ID        int64
	Rule      string
	Subject   string
	Severity  string
	State     string
	Summary   string
	Href      string
	Members   []string
	FirstSeen time.Time
	LastSeen  time.Time
	FiredAt   *time.Time
	// ResolvedAt is set once resolved.
	ResolvedAt *time.Time
	AckedAt    *time.Time
	AckedBy    string
	AckNote    string
	// SilencedUntil is set while (and after) a silence; Silenced says
	// whether it holds now.
	SilencedUntil *time.Time
	SilencedBy    string
	SilenceReason string
}

// Silenced reports whether a silence holds at now.
func (a Alert) Silenced(now time.Time) bool {
	return a.SilencedUntil != nil && a.SilencedUntil.After(now)
}

// Transition is an alert changing state at an evaluation: what a
// notifier sends.
type Transition struct {
	Alert Alert
	// From and To are states ("" From for a new alert).
	From, To string
}

// Engine evaluates findings into stored alerts.
type Engine struct {
	Pool *pgxpool.Pool
	// For is how long a rule must hold before its alert fires, by rule;
	// DefaultFor for rules not listed. A rule listed with 0 fires at once.
	For        map[string]time.Duration
	DefaultFor time.Duration
	// OnApply, when set, runs at the end of each evaluation's transaction
	// with its transitions: notifications are written there, so each
	// transition is notified exactly once.
	OnApply func(ctx context.Context, tx pgx.Tx, ts []Transition, now time.Time) error
}

// lockKey elects the console instance that evaluates.
const lockKey = 0x616c65727473 // "alerts"

func (e *Engine) forRule(rule string) time.Duration {
	if d, ok := e.For[rule]; ok {
		return d
	}
	return e.DefaultFor
}

// merged is the findings of one identity at one evaluation.
type merged struct {
	rule, subject, severity, summary, href string
	members                                []string
}

func merge(findings []Finding) []merged {
	byID := map[[2]string]*merged{}
	var order [][2]string
	for _, f := range findings {
		rule, subject := f.identity()
		k := [2]string{rule, subject}
		m, ok := byID[k]
		if !ok {
			m = &merged{rule: rule, subject: subject, severity: f.Severity, summary: f.Summary, href: f.Href}
			byID[k], order = m, append(order, k)
		}
		if f.Severity == Critical {
			m.severity = Critical
		}
		if f.Subject != "" && !slices.Contains(m.members, f.Subject) {
			m.members = append(m.members, f.Subject)
		}
	}
	out := make([]merged, 0, len(order))
	for _, k := range order {
		m := byID[k]
		slices.Sort(m.members)
		if n := len(m.members); n > 1 && strings.HasPrefix(m.subject, "group:") {
			m.summary = fmt.Sprintf("%s — and %d more: %s", m.summary, n-1, strings.Join(m.members, ", "))
		}
		out = append(out, *m)
	}
	return out
}

// Evaluate applies one round of findings at now, if this instance is
// elected (ran is false otherwise): new identities become pending (or
// firing when their rule's "for" is 0), pending ones that held for their
// rule's "for" fire, open ones no longer found resolve (a pending one is
// cleared). It returns the transitions to notify.
func (e *Engine) Evaluate(ctx context.Context, findings []Finding, now time.Time) (ts []Transition, ran bool, err error) {
	return e.EvaluateFunc(ctx, func(context.Context) (Round, error) { return Round{Findings: findings}, nil }, now)
}

// EvaluateFunc is Evaluate with the rules run by find, and only on the
// elected instance: the others spend nothing on a round they would lose.
// Open alerts of the round's unknown rules are left as they are.
func (e *Engine) EvaluateFunc(ctx context.Context, find func(context.Context) (Round, error), now time.Time) (ts []Transition, ran bool, err error) {
	ran, err = store.Elect(ctx, e.Pool, lockKey, func(conn *pgxpool.Conn) error {
		r, err := find(ctx)
		if err != nil {
			return err
		}
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			ts, err = e.apply(ctx, tx, r, now)
			return err
		})
	})
	return ts, ran, err
}

func (e *Engine) apply(ctx context.Context, tx pgx.Tx, r Round, now time.Time) ([]Transition, error) {
	found := merge(r.Findings)
	open, err := list(ctx, tx, `WHERE state <> 'resolved' FOR UPDATE`)
	if err != nil {
		return nil, err
	}
	byID := map[[2]string]Alert{}
	for _, a := range open {
		byID[[2]string{a.Rule, a.Subject}] = a
	}
	var ts []Transition
	seen := map[[2]string]bool{}
	for _, m := range found {
		k := [2]string{m.rule, m.subject}
		seen[k] = true
		a, exists := byID[k]
		t, err := e.upsert(ctx, tx, a, exists, m, now)
		if err != nil {
			return nil, err
		}
		if t != nil {
			ts = append(ts, *t)
		}
	}
	for k, a := range byID {
		if seen[k] || r.unknown(a.Rule) {
			continue
		}
		kind := "resolved"
		if a.State == Pending {
			kind = "cleared"
		}
		if _, err := tx.Exec(ctx, `UPDATE ops.alerts SET state = 'resolved', resolved_at = $2 WHERE id = $1`, a.ID, now); err != nil {
			return nil, fmt.Errorf("alerts: resolve: %w", err)
		}
		if err := event(ctx, tx, a.ID, now, kind, "", ""); err != nil {
			return nil, err
		}
		if a.State == Firing {
			a.State, a.ResolvedAt = Resolved, &now
			ts = append(ts, Transition{Alert: a, From: Firing, To: Resolved})
		}
	}
	if e.OnApply != nil {
		if err := e.OnApply(ctx, tx, ts, now); err != nil {
			return nil, err
		}
	}
	return ts, nil
}

// upsert records one identity found at now and returns its transition,
// if any.
func (e *Engine) upsert(ctx context.Context, tx pgx.Tx, a Alert, exists bool, m merged, now time.Time) (*Transition, error) {
	if m.members == nil {
		m.members = []string{}
	}
	members, _ := json.Marshal(m.members)
	fire := e.forRule(m.rule) <= 0 || (exists && now.Sub(a.FirstSeen) >= e.forRule(m.rule))
	state := Pending
	if fire {
		state = Firing
	}
	if !exists {
		err := tx.QueryRow(ctx, `
			INSERT INTO ops.alerts (rule, subject, severity, state, summary, href, members, first_seen, last_seen, fired_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, CASE WHEN $4 = 'firing' THEN $8::timestamptz END) RETURNING id`,
			m.rule, m.subject, m.severity, state, m.summary, m.href, members, now).Scan(&a.ID)
		if err != nil {
			return nil, fmt.Errorf("alerts: insert: %w", err)
		}
		if err := event(ctx, tx, a.ID, now, state, "", ""); err != nil {
			return nil, err
		}
		a = Alert{ID: a.ID, Rule: m.rule, Subject: m.subject, Severity: m.severity, State: state, Summary: m.summary,
			Href: m.href, Members: m.members, FirstSeen: now, LastSeen: now}
		if fire {
			a.FiredAt = &now
			return &Transition{Alert: a, To: Firing}, nil
		}
		return nil, nil
	}
	_, err := tx.Exec(ctx, `
		UPDATE ops.alerts SET severity = $2, state = $3, summary = $4, href = $5, members = $6, last_seen = $7,
		       fired_at = CASE WHEN fired_at IS NULL AND $3 = 'firing' THEN $7::timestamptz ELSE fired_at END
		WHERE id = $1`, a.ID, m.severity, state, m.summary, m.href, members, now)
	if err != nil {
		return nil, fmt.Errorf("alerts: update: %w", err)
	}
	if a.State == Pending && fire {
		if err := event(ctx, tx, a.ID, now, Firing, "", ""); err != nil {
			return nil, err
		}
		a.State, a.FiredAt, a.Summary, a.Severity, a.Members, a.LastSeen = Firing, &now, m.summary, m.severity, m.members, now
		return &Transition{Alert: a, From: Pending, To: Firing}, nil
	}
	return nil, nil
}

func event(ctx context.Context, tx pgx.Tx, id int64, at time.Time, kind, actor, note string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO ops.alert_events (alert_id, at, kind, actor, note) VALUES ($1, $2, $3, $4, $5)`,
		id, at, kind, actor, note); err != nil {
		return fmt.Errorf("alerts: event: %w", err)
	}
	return nil
}

const alertColumns = `id, rule, subject, severity, state, summary, href, members, first_seen, last_seen, fired_at, resolved_at,
	acked_at, COALESCE(acked_by, ''), COALESCE(ack_note, ''), silenced_until, COALESCE(silenced_by, ''), COALESCE(silence_reason, '')`

func list(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, where string, args ...any) ([]Alert, error) {
	rows, err := q.Query(ctx, `SELECT `+alertColumns+` FROM ops.alerts `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("alerts: list: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Alert, error) {
		var a Alert
		var members []byte
		err := r.Scan(&a.ID, &a.Rule, &a.Subject, &a.Severity, &a.State, &a.Summary, &a.Href, &members, &a.FirstSeen, &a.LastSeen,
			&a.FiredAt, &a.ResolvedAt, &a.AckedAt, &a.AckedBy, &a.AckNote, &a.SilencedUntil, &a.SilencedBy, &a.SilenceReason)
		if err == nil {
			err = json.Unmarshal(members, &a.Members)
		}
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("alerts: list: %w", err)
	}
	return out, nil
}

// Open lists the pending and firing alerts, critical first, then the
// oldest first.
func (e *Engine) Open(ctx context.Context) ([]Alert, error) {
	return list(ctx, e.Pool, `WHERE state <> 'resolved'
		ORDER BY severity = 'critical' DESC, state = 'firing' DESC, first_seen, id`)
}

// Resolved lists the most recently resolved alerts.
func (e *Engine) Resolved(ctx context.Context, limit int) ([]Alert, error) {
	return list(ctx, e.Pool, `WHERE state = 'resolved' ORDER BY resolved_at DESC, id DESC LIMIT $1`, limit)
}

// Event is one entry of an alert's history.
type Event struct {
	AlertID int64
	Rule    string
	Summary string
	At      time.Time
	Kind    string
	Actor   string
	Note    string
}

// History lists the newest events of every alert.
func (e *Engine) History(ctx context.Context, limit int) ([]Event, error) {
	rows, err := e.Pool.Query(ctx, `
		SELECT ev.alert_id, a.rule, a.summary, ev.at, ev.kind, ev.actor, ev.note
		FROM ops.alert_events ev JOIN ops.alerts a ON a.id = ev.alert_id
		ORDER BY ev.at DESC, ev.id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("alerts: history: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var ev Event
		return ev, r.Scan(&ev.AlertID, &ev.Rule, &ev.Summary, &ev.At, &ev.Kind, &ev.Actor, &ev.Note)
	})
	if err != nil {
		return nil, fmt.Errorf("alerts: history: %w", err)
	}
	return out, nil
}

// ErrNotOpen says the alert is unknown or already resolved.
var ErrNotOpen = errors.New("alerts: no open alert with this id")

// Acknowledge records that by is handling alert id, with a note.
func (e *Engine) Acknowledge(ctx context.Context, id int64, by, note string) error {
	return e.act(ctx, id, "acknowledged", by, note,
		`UPDATE ops.alerts SET acked_at = now(), acked_by = $2, ack_note = $3 WHERE id = $1 AND state <> 'resolved'`, by, note)
}

// Silence holds alert id's notifications (and its place on the Overview)
// until until, for reason.
func (e *Engine) Silence(ctx context.Context, id int64, until time.Time, by, reason string) error {
	return e.act(ctx, id, "silenced", by, fmt.Sprintf("until %s: %s", until.UTC().Format("2006-01-02 15:04Z"), reason),
		`UPDATE ops.alerts SET silenced_until = $4, silenced_by = $2, silence_reason = $3 WHERE id = $1 AND state <> 'resolved'`,
		by, reason, until)
}

// Unsilence ends alert id's silence.
func (e *Engine) Unsilence(ctx context.Context, id int64, by string) error {
	return e.act(ctx, id, "unsilenced", by, "",
		`UPDATE ops.alerts SET silenced_until = NULL WHERE id = $1 AND state <> 'resolved'`)
}

// act runs one operator action on an open alert with its history entry.
func (e *Engine) act(ctx context.Context, id int64, kind, by, note, sql string, args ...any) error {
	return pgx.BeginFunc(ctx, e.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sql, append([]any{id}, args...)...)
		if err != nil {
			return fmt.Errorf("alerts: %s: %w", kind, err)
		}
		if tag.RowsAffected() == 0 {
			return ErrNotOpen
		}
		return event(ctx, tx, id, time.Now(), kind, by, note)
	})
}
