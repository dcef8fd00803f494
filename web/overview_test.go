package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/views"
	"github.com/atum/ops-console/web"
)

// The Overview lists critical alerts before warnings, whatever order the
// rules gave them in.
func TestOverviewSortsCriticalFirst(t *testing.T) {
	h := newHarness(t, func(d *web.Deps) {
		d.Alerts = func(context.Context) []views.Alert {
			return []views.Alert{{Level: "warning", Text: "first warning"}, {Level: "critical", Text: "the critical one"},
				{Level: "warning", Text: "second warning"}}
		}
	})
	page := body(h.get(h.operator("v@atum.io", auth.Viewer), "/"))
	c, w1, w2 := strings.Index(page, "the critical one"), strings.Index(page, "first warning"), strings.Index(page, "second warning")
	if c < 0 || w1 < 0 || w2 < 0 || c > w1 || w1 > w2 {
		t.Fatalf("alert order: critical at %d, warnings at %d and %d", c, w1, w2)
	}
}
