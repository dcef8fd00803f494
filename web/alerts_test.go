package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/alerts"
	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/web"
)

// Operators acknowledge and silence an alert on /alerts, audited; viewers
// see it and cannot act.
func TestAlertsAcknowledgeAndSilence(t *testing.T) {
	var engine *alerts.Engine
	h := newHarness(t, func(d *web.Deps) {
		engine = &alerts.Engine{DefaultFor: 0}
		d.AlertStore = engine
	})
	engine.Pool = h.pool
	if _, ran, err := engine.Evaluate(context.Background(), []alerts.Finding{{Rule: "fleet.crash-loop", Subject: "m1",
		Severity: alerts.Critical, Summary: "machine <b>m1</b> is crash-looping", Href: "/fleet"}}, time.Now()); err != nil || !ran {
		t.Fatalf("evaluate: %v %v", ran, err)
	}
	open, _ := engine.Open(context.Background())
	id := open[0].ID
	viewer := h.operator("v@atum.io", auth.Viewer)
	page := body(h.get(viewer, "/alerts"))
	if !strings.Contains(page, "machine &lt;b&gt;m1&lt;/b&gt; is crash-looping") || strings.Contains(page, `data-testid="ack-form"`) {
		t.Fatalf("viewer's /alerts:\n%.2000s", page)
	}
	path := "/alerts/" + strconv.FormatInt(id, 10)
	if resp := h.post(viewer, path+"/ack", url.Values{"note": {"x"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer ack: %d", resp.StatusCode)
	}
	op := h.operator("o@atum.io", auth.Operator)
	if resp := h.post(op, path+"/ack", url.Values{"note": {""}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("ack without a note: %d", resp.StatusCode)
	}
	if resp := h.post(op, path+"/ack", url.Values{"note": {"restarting the worker"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("ack: %d %s", resp.StatusCode, body(resp))
	}
	if resp := h.post(op, path+"/silence", url.Values{"for": {"1h"}, "reason": {"deploy"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("silence: %d %s", resp.StatusCode, body(resp))
	}
	if resp := h.post(op, path+"/silence", url.Values{"for": {"1y"}, "reason": {"x"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("silence for a year: %d", resp.StatusCode)
	}
	page = body(h.get(op, "/alerts"))
	for _, want := range []string{"acknowledged by o@atum.io", "restarting the worker", "silenced by o@atum.io", "deploy", "acknowledged", "silenced"} {
		if !strings.Contains(page, want) {
			t.Errorf("/alerts lacks %q", want)
		}
	}
	ack, sil := h.events("alert.acknowledge"), h.events("alert.silence")
	if len(ack) != 2 || ack[0].Result != "success" || ack[1].Result != "intent" || len(sil) < 2 {
		t.Fatalf("audit: ack %+v silence %+v", ack, sil)
	}
	if resp := h.post(op, "/alerts/999999/ack", url.Values{"note": {"x"}}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("ack of an unknown alert: %d", resp.StatusCode)
	}
}
