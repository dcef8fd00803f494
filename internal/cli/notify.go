package cli

import (
	"context"
	"strings"
	"time"

	"github.com/atum/ops-console/internal/notify"
)

// notifyEvery is how often each console instance looks for due
// notifications.
const notifyEvery = 5 * time.Second

// startNotifications has the alert evaluation write the configured
// targets' notifications into the outbox, in its own transaction, and
// runs this instance's sender. Every instance sends; none sends a row
// twice. It must run before the alerts are first evaluated.
func (a *app) startNotifications(ctx context.Context) {
	targets := notify.Targets(a.cfg.Notify)
	if len(targets) == 0 {
		return
	}
	outbox := &notify.Outbox{Targets: targets, ConsoleURL: a.cfg.Notify.ConsoleURL, Repeat: a.cfg.Notify.RepeatInterval}
	a.alertEngine.OnApply = outbox.Enqueue
	var names []string
	for _, t := range targets {
		names = append(names, t.Name)
	}
	a.log.Info("alert notifications on", "targets", strings.Join(names, ", "), "repeat", a.cfg.Notify.RepeatInterval.String())
	s := &notify.Sender{Pool: a.pool, Targets: targets, Active: a.activity.Watching, Log: a.log, Redact: a.redact}
	go s.Run(ctx, notifyEvery)
}
