package handlers

import (
	"fmt"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/human"
	"github.com/atum/ops-console/views"
)

// purgeRows fills the queues page's recent purges and retries, and those
// waiting for a second operator.
func (h *Queues) purgeRows(c echo.Context, m *views.Queues) error {
	ctx, now := c.Request().Context(), time.Now()
	purges, err := h.Purger.Recent(ctx, 10)
	if err != nil {
		return err
	}
	for _, p := range purges {
		m.Purges = append(m.Purges, views.PurgeRow{ID: p.ID, Kind: p.Kind, Href: fmt.Sprintf("/queues/purges/%d", p.ID), Region: p.Region,
			State: p.State, Count: p.Total, Created: human.Ago(p.CreatedAt, now), By: p.CreatedBy})
	}
	waiting, err := h.Purger.Awaiting(ctx)
	if err != nil {
		return err
	}
	me := CurrentSession(c).Account
	for _, p := range waiting {
		m.Approvals = append(m.Approvals, views.ApprovalRow{ID: p.ID, Kind: p.Kind, Href: fmt.Sprintf("/queues/purges/%d", p.ID),
			Region: p.Region, Count: p.Total, RequestedBy: p.ConfirmedBy, Expires: human.Until(p.ApprovalExpires, now),
			Own: p.RequestedByID == me.ID})
	}
	return nil
}
