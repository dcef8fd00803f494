package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atum/ops-console/internal/alerts"
	"github.com/atum/ops-console/internal/devstack"
	"github.com/atum/ops-console/internal/notify"
	"github.com/atum/ops-console/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, devstack.Options{Postgres: true}) }

const secret = "a-webhook-secret-for-tests"

// delivery is one request a receiver accepted.
type delivery struct {
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

// receiver is a real HTTP server that verifies the webhook signature by
// itself (not with the package's Verify) and keeps what it received.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	got    []delivery
	status []int // answers to give, in order; 200 after them
}

func newReceiver(t *testing.T, status ...int) *receiver {
	r := &receiver{t: t, status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		raw, _ := io.ReadAll(req.Body)
		ts := req.Header.Get("X-Atum-Timestamp")
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(ts + "." + string(raw)))
		want := "v1=" + hex.EncodeToString(mac.Sum(nil))
		if !hmac.Equal([]byte(req.Header.Get("X-Atum-Signature")), []byte(want)) {
			t.Errorf("bad signature %q", req.Header.Get("X-Atum-Signature"))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if sec, err := strconv.ParseInt(ts, 10, 64); err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
			t.Errorf("stale or missing timestamp %q", ts)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.status) > 0 {
			code := r.status[0]
			r.status = r.status[1:]
			w.WriteHeader(code)
			return
		}
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("body is not JSON: %v", err)
		}
		r.got = append(r.got, delivery{Header: req.Header.Clone(), Body: body, Raw: raw})
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) received() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// kinds counts the received deliveries by kind.
func kinds(ds []delivery) map[string]int {
	out := map[string]int{}
	for _, d := range ds {
		out[d.Body["kind"].(string)]++
	}
	return out
}

// setup returns an engine writing to the outbox and a sender for targets,
// on pool, with a clock the test moves.
type rig struct {
	engine *alerts.Engine
	sender *notify.Sender
	outbox *notify.Outbox
	now    time.Time
}

func newRig(pool *pgxpool.Pool, targets ...notify.Target) *rig {
	r := &rig{now: time.Now().Truncate(time.Second)}
	r.outbox = &notify.Outbox{Targets: targets, ConsoleURL: "https://console.example", Repeat: 4 * time.Hour}
	r.engine = &alerts.Engine{Pool: pool, DefaultFor: time.Minute, For: map[string]time.Duration{"fleet.crash-loop": 0},
		OnApply: r.outbox.Enqueue}
	r.sender = &notify.Sender{Pool: pool, Targets: targets, Now: func() time.Time { return r.now }, Timeout: 2 * time.Second}
	return r
}

func (r *rig) evaluate(t *testing.T, fs ...alerts.Finding) []alerts.Transition {
	t.Helper()
	ts, ran, err := r.engine.Evaluate(context.Background(), fs, r.now)
	if err != nil || !ran {
		t.Fatalf("evaluate: ran %v, %v", ran, err)
	}
	return ts
}

func (r *rig) send(t *testing.T) int {
	t.Helper()
	n, err := r.sender.Round(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var crash = alerts.Finding{Rule: "fleet.crash-loop", Subject: "machine-1", Group: "crash", Severity: alerts.Critical,
	Summary: "machine-1 exited 3 times", Href: "/fleet"}

// Two engines and two senders on one database, evaluating and sending
// concurrently round after round: each transition reaches the receiver
// exactly once, signed.
func TestExactlyOncePerTransitionAcrossInstances(t *testing.T) {
	pool, dbURL := testenv.MigratedPool(t)
	pool2, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool2.Close)
	rcv := newReceiver(t)
	hook := notify.Webhook(rcv.srv.URL+"/hook", secret, alerts.Warning)
	a, b := newRig(pool, hook), newRig(pool2, hook)
	t0 := a.now
	round := func(at time.Time, fs ...alerts.Finding) {
		var wg sync.WaitGroup
		for _, r := range []*rig{a, b} {
			wg.Go(func() {
				r.now = at
				if _, _, err := r.engine.Evaluate(context.Background(), fs, at); err != nil {
					t.Error(err)
				}
				if _, err := r.sender.Round(context.Background()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	for i := range 5 {
		round(t0.Add(time.Duration(i)*time.Second), crash)
	}
	for i := range 5 {
		round(t0.Add(time.Duration(10+i) * time.Second))
	}
	// A last pass by each sender, in case a row was claimed late.
	a.send(t)
	b.send(t)
	got := rcv.received()
	if k := kinds(got); len(got) != 2 || k["firing"] != 1 || k["resolved"] != 1 {
		t.Fatalf("received %d deliveries %v; want one firing and one resolved", len(got), k)
	}
	first := got[0]
	al := first.Body["alert"].(map[string]any)
	if first.Body["kind"] != "firing" || al["rule"] != "fleet.crash-loop" || al["severity"] != "critical" ||
		al["url"] != "https://console.example/alerts#alert-"+strconv.Itoa(int(al["alert_id"].(float64))) ||
		al["runbook_url"] != "https://console.example/alerts/runbooks/fleet.crash-loop" {
		t.Fatalf("firing body: %s", first.Raw)
	}
	if first.Header.Get("X-Atum-Delivery") == "" {
		t.Fatal("no delivery id header")
	}
	if err := notify.Verify(secret, first.Header, first.Raw, time.Now(), 5*time.Minute); err != nil {
		t.Fatalf("Verify refused a genuine delivery: %v", err)
	}
	if notify.Verify(secret, first.Header, first.Raw, time.Now().Add(6*time.Minute), 5*time.Minute) == nil {
		t.Fatal("Verify accepted a replay older than 5 minutes")
	}
	if notify.Verify("another-secret-entirely", first.Header, first.Raw, time.Now(), 5*time.Minute) == nil {
		t.Fatal("Verify accepted a wrong secret")
	}
	var rows, sent int
	if err := pool.QueryRow(context.Background(), `SELECT count(*), count(*) FILTER (WHERE state = 'sent' AND attempts = 1)
		FROM ops.alert_notifications`).Scan(&rows, &sent); err != nil || rows != 2 || sent != 2 {
		t.Fatalf("outbox: %d rows, %d sent at the first attempt (%v)", rows, sent, err)
	}
}

// A receiver that answers 500 is retried after the backoff, not before,
// and the row is sent once it answers 200; the error is kept meanwhile.
func TestRetryWithBackoff(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	rcv := newReceiver(t, http.StatusInternalServerError, http.StatusInternalServerError)
	r := newRig(pool, notify.Webhook(rcv.srv.URL, secret, alerts.Warning))
	t0 := r.now
	r.evaluate(t, crash)
	if n := r.send(t); n != 1 {
		t.Fatalf("first round attempted %d", n)
	}
	var state, lastErr string
	var attempts int
	var next time.Time
	read := func() {
		t.Helper()
		if err := pool.QueryRow(context.Background(), `SELECT state, attempts, last_error, next_attempt_at FROM ops.alert_notifications`).
			Scan(&state, &attempts, &lastErr, &next); err != nil {
			t.Fatal(err)
		}
	}
	read()
	if state != "pending" || attempts != 1 || !next.Equal(t0.Add(30*time.Second)) || lastErr == "" {
		t.Fatalf("after a 500: %s, %d attempts, next %s, error %q", state, attempts, next.Sub(t0), lastErr)
	}
	r.now = t0.Add(29 * time.Second)
	if n := r.send(t); n != 0 {
		t.Fatalf("retried before the backoff: %d", n)
	}
	r.now = t0.Add(30 * time.Second)
	r.send(t)
	read()
	if attempts != 2 || !next.Equal(t0.Add(90*time.Second)) {
		t.Fatalf("second backoff: %d attempts, next %s", attempts, next.Sub(t0))
	}
	r.now = t0.Add(90 * time.Second)
	r.send(t)
	read()
	if state != "sent" || attempts != 3 || lastErr != "" || len(rcv.received()) != 1 {
		t.Fatalf("after success: %s, %d attempts, %q, %d received", state, attempts, lastErr, len(rcv.received()))
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute,
		16 * time.Minute, 30 * time.Minute, 30 * time.Minute, 30 * time.Minute}
	for i, w := range want {
		if got := notify.Backoff(i + 1); got != w {
			t.Errorf("Backoff(%d) = %s; want %s", i+1, got, w)
		}
	}
}

// A row that keeps failing is given up after MaxAttempts.
func TestGivesUp(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	rcv := newReceiver(t, 500, 500, 500)
	r := newRig(pool, notify.Webhook(rcv.srv.URL, secret, alerts.Warning))
	r.sender.MaxAttempts = 2
	r.evaluate(t, crash)
	r.send(t)
	r.now = r.now.Add(time.Hour)
	r.send(t)
	var state string
	if err := pool.QueryRow(context.Background(), `SELECT state FROM ops.alert_notifications`).Scan(&state); err != nil || state != "failed" {
		t.Fatalf("state %q (%v); want failed", state, err)
	}
	r.now = r.now.Add(time.Hour)
	if n := r.send(t); n != 0 {
		t.Fatalf("a failed row was retried")
	}
}

// A silenced alert sends nothing: not when it fires, not as a repeat,
// not when it resolves.
func TestNothingWhileSilenced(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	rcv := newReceiver(t)
	r := newRig(pool, notify.Webhook(rcv.srv.URL, secret, alerts.Warning))
	slow := alerts.Finding{Rule: "connections.waiting", Severity: alerts.Critical, Summary: "5 clients waiting"}
	r.evaluate(t, slow)
	open, err := r.engine.Open(context.Background())
	if err != nil || len(open) != 1 {
		t.Fatal(open, err)
	}
	if err := r.engine.Silence(context.Background(), open[0].ID, r.now.Add(24*time.Hour), "ada", "maintenance"); err != nil {
		t.Fatal(err)
	}
	t0 := r.now
	for _, d := range []time.Duration{time.Minute, 5 * time.Hour, 10 * time.Hour} {
		r.now = t0.Add(d)
		r.evaluate(t, slow)
	}
	if ts := r.evaluate(t); len(ts) != 1 || ts[0].To != alerts.Resolved {
		t.Fatalf("did not resolve: %+v", ts)
	}
	r.send(t)
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM ops.alert_notifications`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d notifications for a silenced alert (%v)", n, err)
	}
	if got := rcv.received(); len(got) != 0 {
		t.Fatalf("received %d", len(got))
	}
}

// An alert silenced after its firing was sent still sends its
// resolution, so the receiver does not believe it fires forever; a firing
// still queued when the silence starts is skipped, not sent late.
func TestSilenceAfterFiring(t *testing.T) {
	ctx := context.Background()
	pool, _ := testenv.MigratedPool(t)
	rcv := newReceiver(t)
	r := newRig(pool, notify.Webhook(rcv.srv.URL, secret, alerts.Warning))
	r.evaluate(t, crash)
	r.send(t)
	open, err := r.engine.Open(ctx)
	if err != nil || len(open) != 1 {
		t.Fatal(open, err)
	}
	if err := r.engine.Silence(ctx, open[0].ID, r.now.Add(time.Hour), "ada", "known, fixing"); err != nil {
		t.Fatal(err)
	}
	r.now = r.now.Add(time.Minute)
	if ts := r.evaluate(t); len(ts) != 1 || ts[0].To != alerts.Resolved {
		t.Fatalf("did not resolve: %+v", ts)
	}
	r.send(t)
	got := rcv.received()
	if len(got) != 2 || got[0].Body["kind"] != "firing" || got[1].Body["kind"] != "resolved" {
		t.Fatalf("received %+v; want the firing, then the resolution", got)
	}

	// Fires again; silenced before the sender's next round.
	r.now = r.now.Add(time.Minute)
	r.evaluate(t, crash)
	again, err := r.engine.Open(ctx)
	if err != nil || len(again) != 1 {
		t.Fatal(again, err)
	}
	if err := r.engine.Silence(ctx, again[0].ID, r.now.Add(time.Hour), "ada", "still fixing"); err != nil {
		t.Fatal(err)
	}
	if n := r.send(t); n != 0 {
		t.Fatalf("a firing queued before the silence was attempted (%d)", n)
	}
	var state, why string
	if err := pool.QueryRow(ctx, `SELECT state, last_error FROM ops.alert_notifications WHERE alert_id = $1`, again[0].ID).
		Scan(&state, &why); err != nil || state != "skipped" || why == "" {
		t.Fatalf("queued firing: %q %q (%v); want skipped, with why", state, why, err)
	}
	if len(rcv.received()) != 2 {
		t.Fatal("the silenced firing reached the receiver")
	}
}

// A firing alert nobody acknowledged is repeated every interval, once;
// acknowledged, it is not repeated any more.
func TestRepeatUntilAcknowledged(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	rcv := newReceiver(t)
	r := newRig(pool, notify.Webhook(rcv.srv.URL, secret, alerts.Warning))
	t0 := r.now
	r.evaluate(t, crash)
	for _, d := range []time.Duration{time.Hour, 3*time.Hour + 59*time.Minute, 4 * time.Hour, 4*time.Hour + time.Minute,
		7 * time.Hour, 8 * time.Hour, 8*time.Hour + time.Second} {
		r.now = t0.Add(d)
		r.evaluate(t, crash)
		r.send(t)
	}
	if k := kinds(rcv.received()); k["firing"] != 1 || k["repeat"] != 2 || len(k) != 2 {
		t.Fatalf("after 8 h: %v; want one firing and two repeats", k)
	}
	open, _ := r.engine.Open(context.Background())
	if err := r.engine.Acknowledge(context.Background(), open[0].ID, "ada", "on it"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{12 * time.Hour, 16 * time.Hour} {
		r.now = t0.Add(d)
		r.evaluate(t, crash)
		r.send(t)
	}
	if k := kinds(rcv.received()); k["repeat"] != 2 {
		t.Fatalf("repeated once acknowledged: %v", k)
	}
	r.now = t0.Add(17 * time.Hour)
	r.evaluate(t)
	r.send(t)
	if k := kinds(rcv.received()); k["resolved"] != 1 {
		t.Fatalf("no resolution: %v", k)
	}
}

// Slack gets Block Kit: a header with severity and rule, the summary,
// the subject (members), the state and buttons to the alert and its
// runbook; SLACK_MIN_SEVERITY=critical routes warnings elsewhere.
func TestSlackPayload(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	var mu sync.Mutex
	var bodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var b map[string]any
		if err := json.NewDecoder(req.Body).Decode(&b); err != nil || req.Header.Get("Content-Type") != "application/json" {
			t.Errorf("not JSON: %v", err)
		}
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	r := newRig(pool, notify.Slack(srv.URL+"/services/T000/B000/XXXX", alerts.Critical))
	r.engine.For["fleet.drift"] = 0
	m2 := crash
	m2.Subject = "machine-2"
	warn := alerts.Finding{Rule: "fleet.drift", Severity: alerts.Warning, Summary: "drift"}
	ts := r.evaluate(t, crash, m2, warn)
	if len(ts) != 2 || ts[0].Alert.Rule != "fleet.crash-loop" {
		t.Fatalf("transitions: %+v", ts)
	}
	r.send(t)
	if len(bodies) != 1 {
		t.Fatalf("slack got %d messages; want the critical one only", len(bodies))
	}
	b := bodies[0]
	blocks := b["blocks"].([]any)
	header := blocks[0].(map[string]any)
	if header["type"] != "header" || header["text"].(map[string]any)["text"] != "🔴 CRITICAL firing: fleet.crash-loop" {
		t.Fatalf("header: %v", header)
	}
	if s := blocks[1].(map[string]any)["text"].(map[string]any)["text"].(string); s != ts[0].Alert.Summary {
		t.Fatalf("summary block %q", s)
	}
	fields := blocks[2].(map[string]any)["fields"].([]any)
	var texts []string
	for _, f := range fields {
		texts = append(texts, f.(map[string]any)["text"].(string))
	}
	if texts[0] != "*State*\nfiring" || texts[2] != "*Subject*\nmachine-1, machine-2" {
		t.Fatalf("fields: %q", texts)
	}
	actions := blocks[3].(map[string]any)
	els := actions["elements"].([]any)
	if actions["type"] != "actions" || len(els) != 2 ||
		els[0].(map[string]any)["url"] != "https://console.example/alerts#alert-"+strconv.FormatInt(ts[0].Alert.ID, 10) ||
		els[1].(map[string]any)["url"] != "https://console.example/alerts/runbooks/fleet.crash-loop" {
		t.Fatalf("actions: %v", actions)
	}
	if b["text"] == "" {
		t.Fatal("no fallback text")
	}
}

// A target's URL (Slack's holds its token) never appears in the error
// kept on the row and shown on /alerts.
func TestErrorsHideTheURL(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.Error(w, "no such hook "+req.URL.Path, http.StatusNotFound)
	}))
	defer srv.Close()
	r := newRig(pool, notify.Slack(srv.URL+"/services/T000/B000/SECRETTOKEN", alerts.Warning),
		notify.Webhook("http://127.0.0.1:1/closed/SECRETPATH", secret, alerts.Warning))
	r.evaluate(t, crash)
	r.send(t)
	ds, err := r.engine.Deliveries(context.Background(), 10)
	if err != nil || len(ds) != 2 {
		t.Fatal(ds, err)
	}
	for _, d := range ds {
		t.Logf("%s: %s", d.Target, d.LastError)
		if d.LastError == "" || d.State != "pending" || strings.Contains(d.LastError, "SECRET") {
			t.Fatalf("%s: %q", d.Target, d.LastError)
		}
	}
}
