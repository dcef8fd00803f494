package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/testenv"
)

// TestPrometheusScrapesMetrics serves the console with METRICS_ADDR set,
// has the real Prometheus scrape its metrics listener every second, and
// queries Prometheus until it holds the console database's state and the
// requests made to the public port. The public port serves no /metrics.
func TestPrometheusScrapesMetrics(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("the prometheus binary is missing (%v): run `make deps` as root, or "+
			"apt-get install -y --no-install-recommends prometheus", err)
	}
	dbURL := testenv.NewDatabase(t)
	env, _, _ := testEnv(map[string]string{"ENVIRONMENT": "development", "DATABASE_URL": dbURL}, "")
	if code := Run(context.Background(), []string{"migrate"}, env); code != 0 {
		t.Fatal("migrate failed")
	}
	metricsAddr := "127.0.0.1:" + freePort(t)
	env, _, stderr := testEnv(map[string]string{"ENVIRONMENT": "development", "DATABASE_URL": dbURL,
		"CHECK_INTERVAL": "1s", "WATCH": "always", "METRICS_ADDR": metricsAddr}, "")
	base, stop := serveInBackground(t, env)
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()

	get := func(u string) (int, string) {
		resp, err := http.Get(u)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { code, _ := get(base + "/healthz"); return code == 200 },
		"the console did not serve /healthz; stderr:\n%s", stderr)
	const logins = 3
	for range logins {
		if code, _ := get(base + "/login"); code != 200 {
			t.Fatalf("GET /login: %d", code)
		}
	}
	if code, _ := get(base + "/metrics"); code != http.StatusNotFound {
		t.Fatalf("GET /metrics on the public port: %d; want 404", code)
	}
	if code, body := get("http://" + metricsAddr + "/metrics"); code != 200 {
		t.Fatalf("GET /metrics on METRICS_ADDR: %d %s", code, body)
	}

	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, `global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: atum-console
    metrics_path: /metrics
    static_configs:
      - targets: [%q]
`, metricsAddr), 0o644); err != nil {
		t.Fatal(err)
	}
	promAddr := "127.0.0.1:" + freePort(t)
	var promLog syncBuffer
	cmd := exec.Command(bin, "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &promLog, &promLog
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Error("prometheus did not stop within 10s of SIGTERM")
		}
	}()

	// query returns the single value of an instant query, or false.
	query := func(q string) (float64, bool) {
		code, body := get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(q))
		if code != 200 {
			return 0, false
		}
		var r struct {
			Status string
			Data   struct {
				Result []struct {
					Value [2]any
				}
			}
		}
		if json.Unmarshal([]byte(body), &r) != nil || r.Status != "success" || len(r.Data.Result) != 1 {
			return 0, false
		}
		s, _ := r.Data.Result[0].Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		return v, err == nil
	}
	for _, c := range []struct {
		query string
		ok    func(float64) bool
	}{
		{`up{job="atum-console"}`, func(v float64) bool { return v == 1 }},
		{`atum_system_state{system="postgres",state="ok"}`, func(v float64) bool { return v == 1 }},
		{`sum(atum_http_request_duration_seconds_count{route="/login",method="GET",status="2xx"})`, func(v float64) bool { return v >= logins }},
		{`atum_metrics_source_up{source="kill_switches"}`, func(v float64) bool { return v == 1 }},
		{`sum(atum_probe_duration_seconds_count{system="postgres"})`, func(v float64) bool { return v >= 1 }},
	} {
		var last float64
		testenv.Eventually(t, 20*time.Second, func() bool {
			v, ok := query(c.query)
			last = v
			return ok && c.ok(v)
		}, "Prometheus never saw %s as expected; prometheus log:\n%s", c.query, &promLog)
		t.Logf("%s = %v after %s", c.query, last, time.Since(start).Round(10*time.Millisecond))
	}
}
