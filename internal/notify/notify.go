// Package notify tells the world about alerts. The evaluation that moves
// an alert writes one outbox row per matching target in its own
// transaction (Outbox.Enqueue, installed as the engine's OnApply), so a
// transition is notified exactly once however many console instances
// run. Any instance then claims due rows with FOR UPDATE SKIP LOCKED and
// delivers them (Sender), retrying failures with exponential backoff.
package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/atum/ops-console/internal/alerts"
)

// Kinds of notification.
const (
	KindFiring   = "firing"
	KindResolved = "resolved"
	KindRepeat   = "repeat"
)

// Payload is the alert as a notification carries it, frozen when the
// outbox row is written.
type Payload struct {
	AlertID    int64      `json:"alert_id"`
	Rule       string     `json:"rule"`
	Subject    string     `json:"subject"`
	Severity   string     `json:"severity"`
	State      string     `json:"state"`
	Summary    string     `json:"summary"`
	Members    []string   `json:"members"`
	FiredAt    *time.Time `json:"fired_at,omitempty"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	// URL is the alert on the console (empty without CONSOLE_URL);
	// RunbookURL its rule's runbook: the team's own (ALERT_RUNBOOK_URLS),
	// else the console's page.
	URL        string `json:"url,omitempty"`
	RunbookURL string `json:"runbook_url,omitempty"`
}

// Message is one delivery attempt of one outbox row.
type Message struct {
	// ID is the outbox row: receivers deduplicate on it.
	ID      int64
	Kind    string
	Attempt int
	Alert   Payload
}

// Outbox writes notifications in the evaluation's transaction.
type Outbox struct {
	Targets []Target
	// ConsoleURL is the console's public URL, for links.
	ConsoleURL string
	// Repeat is how often a firing alert that nobody acknowledged or
	// silenced is notified again; 0 never.
	Repeat time.Duration
}

// payload freezes alert a for a notification.
func (o *Outbox) payload(a alerts.Alert) Payload {
	p := Payload{AlertID: a.ID, Rule: a.Rule, Subject: a.Subject, Severity: a.Severity, State: a.State, Summary: a.Summary,
		Members: a.Members, FiredAt: a.FiredAt, ResolvedAt: a.ResolvedAt}
	if p.Members == nil {
		p.Members = []string{}
	}
	if o.ConsoleURL != "" {
		p.URL = fmt.Sprintf("%s/alerts#alert-%d", o.ConsoleURL, a.ID)
	}
	// The team's own runbook when configured, else the console's page.
	p.RunbookURL = alerts.RunbookPath(a.Rule)
	if strings.HasPrefix(p.RunbookURL, "/") {
		p.RunbookURL = o.ConsoleURL + p.RunbookURL
		if o.ConsoleURL == "" {
			p.RunbookURL = ""
		}
	}
	return p
}

// Enqueue records the notifications of one evaluation: one row per
// transition to firing or resolved and per target whose severity route
// matches, and the repeats that are due. A silenced alert gets no firing
// and no repeat; a resolution is sent only where a firing was, silenced
// or not, so that no receiver is left believing it still fires.
func (o *Outbox) Enqueue(ctx context.Context, tx pgx.Tx, ts []alerts.Transition, now time.Time) error {
	for _, t := range ts {
		if t.Alert.Silenced(now) && t.To != alerts.Resolved {
			continue
		}
		body, err := json.Marshal(o.payload(t.Alert))
		if err != nil {
			return err
		}
		for _, tg := range o.Targets {
			if !tg.Accepts(t.Alert.Severity) {
				continue
			}
			switch t.To {
			case alerts.Firing:
				_, err = tx.Exec(ctx, `
					INSERT INTO ops.alert_notifications (alert_id, kind, target, payload, next_attempt_at, created_at)
					VALUES ($1, 'firing', $2, $3, $4, $4)`, t.Alert.ID, tg.Name, body, now)
			case alerts.Resolved:
				_, err = tx.Exec(ctx, `
					INSERT INTO ops.alert_notifications (alert_id, kind, target, payload, next_attempt_at, created_at)
					SELECT $1, 'resolved', $2, $3, $4, $4
					WHERE EXISTS (SELECT 1 FROM ops.alert_notifications
					              WHERE alert_id = $1 AND target = $2 AND kind IN ('firing', 'repeat'))`, t.Alert.ID, tg.Name, body, now)
			}
			if err != nil {
				return fmt.Errorf("notify: enqueue: %w", err)
			}
		}
	}
	return o.repeats(ctx, tx, now)
}

// repeats enqueues a repeat for every firing, unsilenced alert (and,
// unless the target repeats acknowledged alerts too, unacknowledged) whose
// last notification to a target is older than Repeat.
func (o *Outbox) repeats(ctx context.Context, tx pgx.Tx, now time.Time) error {
	if o.Repeat <= 0 {
		return nil
	}
	for _, tg := range o.Targets {
		rows, err := tx.Query(ctx, `
			SELECT a.id, a.rule, a.subject, a.severity, a.summary, a.members, a.fired_at
			FROM ops.alerts a
			WHERE a.state = 'firing' AND (a.silenced_until IS NULL OR a.silenced_until <= $2)
			  AND ($3 OR a.acked_at IS NULL) AND ($4 OR a.severity = 'critical')
			  AND COALESCE((SELECT max(n.created_at) FROM ops.alert_notifications n
			                WHERE n.alert_id = a.id AND n.target = $1 AND n.kind IN ('firing', 'repeat')), a.fired_at) <= $5
			ORDER BY a.id`, tg.Name, now, tg.RepeatAcked, tg.MinSeverity != alerts.Critical, now.Add(-o.Repeat))
		if err != nil {
			return fmt.Errorf("notify: repeats: %w", err)
		}
		due, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (alerts.Alert, error) {
			a := alerts.Alert{State: alerts.Firing}
			var members []byte
			err := r.Scan(&a.ID, &a.Rule, &a.Subject, &a.Severity, &a.Summary, &members, &a.FiredAt)
			if err == nil {
				err = json.Unmarshal(members, &a.Members)
			}
			return a, err
		})
		if err != nil {
			return fmt.Errorf("notify: repeats: %w", err)
		}
		for _, a := range due {
			body, err := json.Marshal(o.payload(a))
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `
				INSERT INTO ops.alert_notifications (alert_id, kind, target, payload, next_attempt_at, created_at)
				VALUES ($1, 'repeat', $2, $3, $4, $4)`, a.ID, tg.Name, body, now); err != nil {
				return fmt.Errorf("notify: repeat: %w", err)
			}
		}
	}
	return nil
}
