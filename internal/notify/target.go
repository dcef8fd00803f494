package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/atum/ops-console/internal/alerts"
	"github.com/atum/ops-console/internal/config"
)

// Target is one place notifications go.
type Target struct {
	// Name is stored with each outbox row: slack, webhook or alertmanager.
	Name string
	// MinSeverity is warning (everything) or critical.
	MinSeverity string
	// RepeatAcked repeats acknowledged alerts too (Alertmanager expires
	// an alert that is not posted again).
	RepeatAcked bool
	// build turns a message into a request body and its headers.
	build func(m Message, now time.Time) (url string, body []byte, header http.Header, err error)
}

// Accepts reports whether an alert of severity goes to t.
func (t Target) Accepts(severity string) bool {
	return t.MinSeverity != alerts.Critical || severity == alerts.Critical
}

// Targets builds the configured targets.
func Targets(c config.Notify) []Target {
	var out []Target
	if c.SlackWebhookURL != "" {
		out = append(out, Slack(c.SlackWebhookURL, c.SlackMinSeverity))
	}
	if c.WebhookURL != "" {
		out = append(out, Webhook(c.WebhookURL, c.WebhookSecret, c.WebhookMinSeverity))
	}
	if c.AlertmanagerURL != "" {
		out = append(out, Alertmanager(c.AlertmanagerURL, 2*c.RepeatInterval))
	}
	return out
}

func jsonHeader() http.Header { return http.Header{"Content-Type": {"application/json"}} }

// Webhook posts signed JSON to url: the body is
// {"id", "kind", "attempt", "sent_at", "alert"}, signed with HMAC-SHA256
// over timestamp + "." + body (see Sign).
func Webhook(url, secret, minSeverity string) Target {
	return Target{Name: "webhook", MinSeverity: minSeverity, build: func(m Message, now time.Time) (string, []byte, http.Header, error) {
		body, err := json.Marshal(struct {
			ID      int64     `json:"id"`
			Kind    string    `json:"kind"`
			Attempt int       `json:"attempt"`
			SentAt  time.Time `json:"sent_at"`
			Alert   Payload   `json:"alert"`
		}{m.ID, m.Kind, m.Attempt, now.UTC(), m.Alert})
		if err != nil {
			return "", nil, nil, err
		}
		ts := strconv.FormatInt(now.Unix(), 10)
		h := jsonHeader()
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, "v1="+Sign(secret, ts, body))
		h.Set(HeaderDelivery, strconv.FormatInt(m.ID, 10))
		return url, body, h, nil
	}}
}

// Signature headers of the webhook.
const (
	HeaderTimestamp = "X-Atum-Timestamp"
	HeaderSignature = "X-Atum-Signature"
	HeaderDelivery  = "X-Atum-Delivery"
)

// Sign is the hex HMAC-SHA256 of timestamp + "." + body under secret.
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte("."))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a webhook delivery as a receiver should: the signature
// over the timestamp and the body, compared in constant time, and a
// timestamp no older (nor further ahead) than tolerance, which refuses
// replays.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts := h.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("no valid timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("timestamp %s is outside the %s window", ts, tolerance)
	}
	got, ok := strings.CutPrefix(h.Get(HeaderSignature), "v1=")
	want := Sign(secret, ts, body)
	if !ok || !hmac.Equal([]byte(got), []byte(want)) {
		return errors.New("bad signature")
	}
	return nil
}

// Slack posts Block Kit messages to an incoming webhook.
func Slack(url, minSeverity string) Target {
	return Target{Name: "slack", MinSeverity: minSeverity, build: func(m Message, _ time.Time) (string, []byte, http.Header, error) {
		body, err := json.Marshal(SlackMessage(m))
		return url, body, jsonHeader(), err
	}}
}

// SlackMessage is the Block Kit message of m.
func SlackMessage(m Message) map[string]any {
	a := m.Alert
	state := strings.ToUpper(a.Severity) + " " + m.Kind
	switch m.Kind {
	case KindRepeat:
		state = strings.ToUpper(a.Severity) + " still firing"
	case KindResolved:
		state = "resolved"
	}
	icon := map[string]string{alerts.Critical: "🔴", alerts.Warning: "🟠"}[a.Severity]
	if m.Kind == KindResolved {
		icon = "✅"
	}
	header := truncate(fmt.Sprintf("%s %s: %s", icon, state, a.Rule), 150)
	subject := a.Subject
	if len(a.Members) > 0 {
		subject = strings.Join(a.Members, ", ")
	}
	if subject == "" {
		subject = "the platform"
	}
	blocks := []any{
		map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": header}},
		map[string]any{"type": "section", "text": mrkdwn(truncate(escape(a.Summary), 3000))},
		map[string]any{"type": "section", "fields": []any{
			mrkdwn("*State*\n" + a.State), mrkdwn("*Severity*\n" + a.Severity),
			mrkdwn(truncate("*Subject*\n"+escape(subject), 2000)), mrkdwn("*Rule*\n`" + escape(a.Rule) + "`"),
		}},
	}
	if a.URL != "" {
		blocks = append(blocks, map[string]any{"type": "actions", "elements": []any{
			button("Open in the console", a.URL), button("Runbook", a.RunbookURL),
		}})
	}
	return map[string]any{"text": header + " — " + truncate(a.Summary, 500), "blocks": blocks}
}

func mrkdwn(s string) map[string]any { return map[string]any{"type": "mrkdwn", "text": s} }

func button(text, url string) map[string]any {
	return map[string]any{"type": "button", "text": map[string]any{"type": "plain_text", "text": text}, "url": url}
}

// escape quotes Slack's control characters.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// Alertmanager posts to an Alertmanager's /api/v2/alerts. A firing alert
// ends endsAfter after each post unless posted again (repeats go on
// while acknowledged); a resolution ends it at once.
func Alertmanager(base string, endsAfter time.Duration) Target {
	return Target{Name: "alertmanager", RepeatAcked: true, MinSeverity: alerts.Warning,
		build: func(m Message, now time.Time) (string, []byte, http.Header, error) {
			a := m.Alert
			starts := now
			if a.FiredAt != nil {
				starts = *a.FiredAt
			}
			ends := now.Add(endsAfter)
			if m.Kind == KindResolved {
				// Alertmanager keeps a later end time unless this one is
				// already past.
				ends = now
				if a.ResolvedAt != nil && a.ResolvedAt.Before(now) {
					ends = *a.ResolvedAt
				}
			}
			annotations := map[string]string{"summary": a.Summary}
			if a.RunbookURL != "" {
				annotations["runbook_url"] = a.RunbookURL
			}
			body, err := json.Marshal([]map[string]any{{
				"labels":       map[string]string{"alertname": a.Rule, "severity": a.Severity, "subject": a.Subject},
				"annotations":  annotations,
				"startsAt":     starts.UTC().Format(time.RFC3339),
				"endsAt":       ends.UTC().Format(time.RFC3339),
				"generatorURL": a.URL,
			}})
			return base + "/api/v2/alerts", body, jsonHeader(), err
		}}
}

// deliver sends m to t once, within ctx. Its error never contains the
// target's URL (a secret).
func (t Target) deliver(ctx context.Context, client *http.Client, m Message, now time.Time) error {
	u, body, h, err := t.build(m, now)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return errors.New("bad target URL")
	}
	req.Header = h
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return errors.New("no answer within the deadline")
		}
		return fmt.Errorf("%s: %s", t.Name, scrub(err.Error(), u))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s: %s", t.Name, resp.Status, scrub(strings.TrimSpace(string(snippet)), u))
	}
	return nil
}

// scrub removes the target's URL (and its path, which holds Slack's
// token) from s.
func scrub(s, target string) string {
	s = strings.ReplaceAll(s, target, "<target>")
	if p, err := url.Parse(target); err == nil && len(p.Path) > 1 {
		s = strings.ReplaceAll(s, p.Path, "/…")
	}
	return s
}
