package notify_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/notify"
	"github.com/atum/ops-console/internal/testenv"
)

// startAlertmanager runs the real Alertmanager on a free loopback port
// and returns its base URL. A missing binary fails the test.
func startAlertmanager(t *testing.T) string {
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		t.Fatalf("the prometheus-alertmanager binary is missing (%v): run `make deps` as root, or "+
			"apt-get install -y --no-install-recommends prometheus-alertmanager", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(conf, []byte("route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "--config.file="+conf, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start alertmanager: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Error("alertmanager did not stop within 10s of SIGTERM")
		}
	})
	base := "http://" + addr
	testenv.Eventually(t, 10*time.Second, func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "alertmanager never became ready; its log:\n%s", &out)
	return base
}

type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

func amAlerts(t *testing.T, base string) []amAlert {
	t.Helper()
	resp, err := http.Get(base + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []amAlert
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// The real Alertmanager receives a firing alert with its labels and
// annotations, and ends it when the alert resolves.
func TestAlertmanager(t *testing.T) {
	base := startAlertmanager(t)
	pool, _ := testenv.MigratedPool(t)
	r := newRig(pool, notify.Alertmanager(base, 8*time.Hour))
	r.now = time.Now().Truncate(time.Second)
	r.evaluate(t, crash)
	if n := r.send(t); n != 1 {
		t.Fatalf("attempted %d", n)
	}
	ds, _ := r.engine.Deliveries(t.Context(), 5)
	if len(ds) != 1 || ds[0].State != "sent" {
		t.Fatalf("delivery: %+v", ds)
	}
	var got []amAlert
	testenv.Eventually(t, 5*time.Second, func() bool { got = amAlerts(t, base); return len(got) == 1 },
		"alertmanager lists %d alerts", len(got))
	a := got[0]
	if a.Labels["alertname"] != "fleet.crash-loop" || a.Labels["severity"] != "critical" || a.Labels["subject"] != "group:crash" ||
		a.Annotations["summary"] != crash.Summary || a.Annotations["runbook_url"] != "https://console.example/alerts/runbooks/fleet.crash-loop" ||
		!a.StartsAt.Equal(r.now) || a.EndsAt.Before(time.Now().Add(7*time.Hour)) || a.Status.State != "active" {
		t.Fatalf("alertmanager holds %+v", a)
	}
	r.now = r.now.Add(time.Second)
	r.evaluate(t)
	r.send(t)
	testenv.Eventually(t, 5*time.Second, func() bool {
		for _, a := range amAlerts(t, base) {
			if a.Labels["alertname"] == "fleet.crash-loop" && a.EndsAt.After(time.Now()) {
				return false
			}
		}
		return true
	}, "alertmanager still holds the resolved alert: %s", fmt.Sprint(amAlerts(t, base)))
}
