package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Sender delivers due outbox rows. Every console instance may run one:
// a row is claimed (leased) by one of them at a time.
type Sender struct {
	Pool    *pgxpool.Pool
	Targets []Target
	// Client sends; http.DefaultClient when nil.
	Client *http.Client
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Timeout bounds one delivery (10 s by default).
	Timeout time.Duration
	// MaxAttempts gives up on a row (state failed) after so many
	// attempts (8 by default: about an hour of retries).
	MaxAttempts int
	// Active, when set, gates Run: nothing is polled while it says no
	// (a scaled-to-zero database stays asleep).
	Active func() bool
	// Log receives failures; their text never holds a target's URL.
	Log *slog.Logger
	// Redact, when set, also cleans every error kept or logged.
	Redact func(string) string
}

func (s *Sender) clean(err error) string {
	if s.Redact != nil {
		return s.Redact(err.Error())
	}
	return err.Error()
}

// Backoff is the wait after the attempt-th failed attempt: 30 s, 1 m,
// 2 m … capped at 30 min.
func Backoff(attempt int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < attempt && d < 30*time.Minute; i++ {
		d *= 2
	}
	return min(d, 30*time.Minute)
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sender) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return 10 * time.Second
}

// Run delivers due rows every interval until ctx ends.
func (s *Sender) Run(ctx context.Context, every time.Duration) {
	for {
		if s.Active == nil || s.Active() {
			if _, err := s.Round(ctx); err != nil && ctx.Err() == nil && s.Log != nil {
				s.Log.Warn("notifications: round failed", "error", s.clean(err))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// Round delivers every row due now, one claim at a time, and returns how
// many it attempted. Firings and repeats of an alert silenced since they
// were written are skipped first.
func (s *Sender) Round(ctx context.Context) (int, error) {
	if _, err := s.Pool.Exec(ctx, `
		UPDATE ops.alert_notifications n SET state = 'skipped', last_error = 'silenced before it was sent'
		FROM ops.alerts a
		WHERE n.state = 'pending' AND n.kind IN ('firing', 'repeat') AND a.id = n.alert_id AND a.silenced_until > $1`, s.now()); err != nil {
		return 0, fmt.Errorf("notify: skip silenced: %w", err)
	}
	n := 0
	for ctx.Err() == nil {
		ok, err := s.one(ctx)
		if err != nil || !ok {
			return n, err
		}
		n++
	}
	return n, ctx.Err()
}

// one claims one due row (leasing it past the delivery's deadline, so
// that no other instance takes it meanwhile), delivers it and records
// the outcome.
func (s *Sender) one(ctx context.Context) (bool, error) {
	now := s.now()
	var m Message
	var target string
	var payload []byte
	err := s.Pool.QueryRow(ctx, `
		UPDATE ops.alert_notifications SET attempts = attempts + 1, next_attempt_at = $2
		WHERE id = (SELECT id FROM ops.alert_notifications WHERE state = 'pending' AND next_attempt_at <= $1
		            ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING id, kind, target, payload, attempts`, now, now.Add(2*s.timeout()+time.Minute)).
		Scan(&m.ID, &m.Kind, &target, &payload, &m.Attempt)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("notify: claim: %w", err)
	}
	limit := s.MaxAttempts
	if limit <= 0 {
		limit = 8
	}
	if err := json.Unmarshal(payload, &m.Alert); err != nil {
		return true, s.record(ctx, m, limit, now, err)
	}
	var tg *Target
	for i := range s.Targets {
		if s.Targets[i].Name == target {
			tg = &s.Targets[i]
		}
	}
	if tg == nil {
		return true, s.record(ctx, m, 0, now, errors.New("target "+target+" is no longer configured"))
	}
	client := s.Client
	if client == nil {
		client = noRedirects
	}
	dctx, cancel := context.WithTimeout(ctx, s.timeout())
	// The wall clock signs and stamps the request: the receiver compares
	// it with its own.
	err = tg.deliver(dctx, client, m, time.Now())
	cancel()
	if err != nil && s.Log != nil {
		s.Log.Warn("notification not delivered", "target", target, "alert", m.Alert.AlertID, "kind", m.Kind, "attempt", m.Attempt, "error", s.clean(err))
	}
	return true, s.record(ctx, m, limit, s.now(), err)
}

// record stores a delivery's outcome: sent, retried after Backoff, or
// failed after limit attempts.
func (s *Sender) record(ctx context.Context, m Message, limit int, now time.Time, failure error) error {
	// The outcome is recorded even when ctx ends meanwhile, within a
	// deadline of its own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var err error
	if failure == nil {
		_, err = s.Pool.Exec(ctx, `UPDATE ops.alert_notifications SET state = 'sent', sent_at = $2, last_error = '' WHERE id = $1`, m.ID, now)
	} else {
		_, err = s.Pool.Exec(ctx, `
			UPDATE ops.alert_notifications SET state = CASE WHEN attempts >= $3 THEN 'failed' ELSE 'pending' END,
			       next_attempt_at = $2, last_error = $4
			WHERE id = $1`, m.ID, now.Add(Backoff(m.Attempt)), limit, s.clean(failure))
	}
	if err != nil {
		return fmt.Errorf("notify: record: %w", err)
	}
	return nil
}

// noRedirects is the default client: a redirect is answered as a failure,
// never followed, so the signed body and its headers go only to the
// configured target.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
