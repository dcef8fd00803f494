package flydouble_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/flydouble"
)

func start(t *testing.T, o flydouble.Options) (*flydouble.Server, string) {
	t.Helper()
	o.Token, o.App = "tok", "atum"
	d := flydouble.New(o)
	u, err := d.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	d.Put(flydouble.Machine{ID: "a1", State: "started", Region: "fra", Group: "api"})
	d.Put(flydouble.Machine{ID: "w1", State: "stopped", Region: "ams", Group: "worker"})
	d.Put(flydouble.Machine{ID: "x1", State: "destroyed", Region: "fra", Group: "api"})
	return d, u
}

func call(t *testing.T, method, url, token string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func ids(t *testing.T, body string) string {
	t.Helper()
	var ms []struct{ ID string }
	if err := json.Unmarshal([]byte(body), &ms); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return strings.Join(out, ",")
}

func TestAuthAppsAndFilters(t *testing.T) {
	_, u := start(t, flydouble.Options{NoRateLimits: true})
	if st, _, _ := call(t, "GET", u+"/v1/apps/atum/machines", ""); st != http.StatusUnauthorized {
		t.Fatalf("no token: %d", st)
	}
	if st, _, _ := call(t, "GET", u+"/v1/apps/other/machines", "tok"); st != http.StatusNotFound {
		t.Fatalf("other app: %d", st)
	}
	for q, want := range map[string]string{"": "a1,w1", "?include_deleted=true": "a1,w1,x1", "?region=ams": "w1",
		"?metadata.fly_process_group=api": "a1"} {
		st, _, body := call(t, "GET", u+"/v1/apps/atum/machines"+q, "tok")
		if st != 200 || ids(t, body) != want {
			t.Errorf("list%s = %d %s, want %s", q, st, ids(t, body), want)
		}
	}
	if st, _, body := call(t, "GET", u+"/v1/apps/atum/machines/nope", "tok"); st != http.StatusNotFound || !strings.Contains(body, "machine not found") {
		t.Fatalf("unknown machine: %d %s", st, body)
	}
}

// TestRateLimitsAndDangerousCalls: the buckets refill with the real clock,
// so a call past the burst is refused only when it comes soon enough after
// the first; on a machine too busy for that the call proves nothing.
func TestRateLimitsAndDangerousCalls(t *testing.T) {
	d, u := start(t, flydouble.Options{})
	list := u + "/v1/apps/atum/machines"
	var codes []int
	began := time.Now()
	for range 4 {
		st, h, _ := call(t, "GET", list, "tok")
		codes = append(codes, st)
		if st == http.StatusTooManyRequests && h.Get("Retry-After") != "1" {
			t.Fatalf("429 without Retry-After")
		}
	}
	// From here on the list bucket gains a token per second.
	listed := time.Now()
	if codes[2] != 200 || codes[3] != http.StatusTooManyRequests && listed.Sub(began) < time.Second {
		t.Fatalf("list: burst of 3 then 429, got %v in %s", codes, listed.Sub(began))
	}
	// Other actions and identifiers have buckets of their own; Get Machine
	// bursts to 10 and refills 5 a second.
	began = time.Now()
	for i := range 11 {
		st, _, _ := call(t, "GET", u+"/v1/apps/atum/machines/a1", "tok")
		if i < 10 && st != 200 || i == 10 && st != http.StatusTooManyRequests && time.Since(began) < 200*time.Millisecond {
			t.Fatalf("get #%d: %d", i+1, st)
		}
	}
	// A list call sent a second after the last one finds a token again.
	for {
		sent := time.Now()
		st, _, _ := call(t, "GET", list, "tok")
		if st == 200 {
			break
		}
		if waited := sent.Sub(listed); waited >= time.Second {
			t.Fatalf("list %s after the 429: %d", waited.Round(time.Millisecond), st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st, _, _ := call(t, "POST", u+"/v1/apps/atum/machines/a1/restart", "tok"); st != http.StatusMethodNotAllowed {
		t.Fatalf("restart: %d", st)
	}
	call(t, "GET", u+"/v1/apps/atum/secrets?show_secrets=true", "tok")
	if bad := d.Dangerous(); len(bad) != 2 {
		t.Fatalf("dangerous calls %+v", bad)
	}
}

func TestCrashLoopScriptAndLatency(t *testing.T) {
	d, u := start(t, flydouble.Options{NoRateLimits: true, Latency: 50 * time.Millisecond})
	d.CrashLoop("a1", 3, time.Minute, 1, false)
	began := time.Now()
	st, _, body := call(t, "GET", u+"/v1/apps/atum/machines/a1/events", "tok")
	if time.Since(began) < 50*time.Millisecond {
		t.Fatal("latency not applied")
	}
	var es []struct {
		Type    string
		Request map[string]any
	}
	if err := json.Unmarshal([]byte(body), &es); st != 200 || err != nil || len(es) != 6 || es[0].Type != "start" || es[1].Type != "exit" {
		t.Fatalf("events %d %v: %s", st, err, body)
	}
	if es[1].Request["restart_count"] != float64(3) {
		t.Fatalf("newest exit %+v", es[1].Request)
	}
}
