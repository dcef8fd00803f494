package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/alerts"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/notify"
	"github.com/atum/ops-console/web"
)

// /alerts shows each notification's delivery state: a receiver that
// answers 500 shows as retrying with its error and next attempt, and the
// target's URL never reaches the page.
func TestAlertsShowNotificationDelivery(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "receiver down", http.StatusInternalServerError)
	}))
	defer srv.Close()
	hookURL := srv.URL + "/hooks/SECRETPATH"
	targets := []notify.Target{notify.Webhook(hookURL, "a-secret-of-16-chars", alerts.Warning)}
	outbox := &notify.Outbox{Targets: targets, ConsoleURL: "https://ops.example.com", Repeat: 4 * time.Hour}
	var engine *alerts.Engine
	h := newHarness(t, func(d *web.Deps) {
		engine = &alerts.Engine{DefaultFor: 0, OnApply: outbox.Enqueue}
		d.AlertStore = engine
	})
	engine.Pool = h.pool
	if _, ran, err := engine.Evaluate(context.Background(), []alerts.Finding{{Rule: "fleet.crash-loop", Subject: "m1",
		Severity: alerts.Critical, Summary: "m1 is crash-looping"}}, time.Now()); err != nil || !ran {
		t.Fatalf("evaluate: %v %v", ran, err)
	}
	sender := &notify.Sender{Pool: h.pool, Targets: targets}
	if n, err := sender.Round(context.Background()); err != nil || n != 1 {
		t.Fatalf("round: %d %v", n, err)
	}
	page := body(h.get(h.operator("v@atum.io", auth.Viewer), "/alerts"))
	i := strings.Index(page, `data-testid="notifications"`)
	if i < 0 {
		t.Fatalf("/alerts has no notifications section:\n%.3000s", page)
	}
	section := page[i:]
	for _, want := range []string{`data-testid="notification"`, "fleet.crash-loop", "firing", "webhook", "pending",
		"answered 500", "next attempt in"} {
		if !strings.Contains(section, want) {
			t.Errorf("the notifications section lacks %q:\n%.3000s", want, section)
		}
	}
	if strings.Contains(page, "SECRETPATH") || strings.Contains(page, srv.URL) {
		t.Fatal("the page shows the webhook's URL")
	}
}
