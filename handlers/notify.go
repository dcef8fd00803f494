package handlers

import (
	"context"
	"time"

	"github.com/atum/ops-console/internal/alerts"
	"github.com/atum/ops-console/internal/human"
	"github.com/atum/ops-console/views"
)

// DeliveryLog lists the recent alert notifications and their delivery
// state; an AlertStore that implements it shows them on /alerts.
type DeliveryLog interface {
	Deliveries(ctx context.Context, limit int) ([]alerts.Delivery, error)
}

// notificationsView is the delivery state shown on /alerts. A failure to
// read it is shown in its section: the alerts above still render.
func notificationsView(ctx context.Context, store AlertStore, now time.Time) views.NotificationsView {
	var m views.NotificationsView
	log, ok := store.(DeliveryLog)
	if !ok {
		return m
	}
	ds, err := log.Deliveries(ctx, 50)
	if err != nil {
		m.Err = "Notifications could not be read from the console's database."
		return m
	}
	for _, d := range ds {
		n := views.Notification{AlertID: d.AlertID, Rule: d.Rule, Kind: d.Kind, Target: d.Target, State: d.State,
			Attempts: d.Attempts, Error: d.LastError, At: human.Ago(d.CreatedAt, now)}
		if d.SentAt != nil {
			n.Sent = human.Ago(*d.SentAt, now)
		}
		if d.State == "pending" && d.NextAt.After(now) {
			n.Next = "in " + d.NextAt.Sub(now).Round(time.Second).String()
		}
		m.Recent = append(m.Recent, n)
	}
	return m
}
