package handlers

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/views"
)

// Bounds of the tenant page: the first tenantDLQCount dead letters with
// the tenant's label, its messages in the newest MaxPage log entries with
// it, and a scan of at most tenantScanPages pages of dead letters for the
// forwarded header. The scan's windows end at a time rounded down to
// tenantScanClock, so that viewers within it share its pages.
const (
	tenantDLQCount  = defaultDLQCount
	tenantScanPages = 5
	tenantScanClock = 5 * time.Second
	// tenantReserve is what a part keeps of its UpstreamBudget after
	// waiting out a 429: the second call.
	tenantReserve = 300 * time.Millisecond
)

// Tenant renders one tenant's QStash messages in a region (support and
// up; each view audited as qstash.tenant.view): its dead letters by label,
// its recent messages from QStash's logs by label, and dead letters
// without the label found by the forwarded tenant header in a bounded
// scan. The three parts are read at once, each within UpstreamBudget; a
// part QStash fails, refuses (429) or does not answer for says so, and
// the page is still shown. A slug that is not one is a 400 before any
// call. With AccountReasonRequired the page first asks for the reason
// (ticket), recorded on the view and kept in the region links.
func (h *Queues) Tenant(c echo.Context) error {
	slug := c.Param("slug")
	label, err := qstash.TenantLabel(slug)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "not a tenant slug (1 to 63 lower-case letters, digits, - or _, starting with a letter or digit)")
	}
	if len(c.QueryParams()["region"]) > 1 {
		return echo.NewHTTPError(http.StatusBadRequest, "give region once")
	}
	if done, err := h.askReason(c, h.AccountReasonRequired, "this tenant's QStash messages"); done {
		return err
	}
	reason := lookupReason(c)
	m := views.QueuesTenant{Slug: slug, Label: label, Header: "Upstash-Forward-" + qstash.TenantHeader}
	p := h.Page(c, "QStash messages of tenant "+slug, "queues")
	if len(h.Clients) == 0 {
		m.Err = "QStash is not configured (QSTASH_TOKEN)."
		return Render(c, http.StatusOK, views.QueuesTenantPage(p, m))
	}
	region, cl, err := h.region(c)
	if err != nil {
		return err
	}
	m.Region = region
	for _, r := range h.Regions {
		m.Regions = append(m.Regions, views.Region{Key: r, Label: strings.ToUpper(r), Active: r == region,
			Href: views.WithReason("/queues/tenant/"+url.PathEscape(slug)+"?region="+url.QueryEscape(r), reason)})
	}
	if c.Request().Method == http.MethodHead {
		return Render(c, http.StatusOK, views.QueuesTenantPage(p, m)) // nothing read, nothing to audit
	}
	if err := h.Record(c, audit.Entry{Action: "qstash.tenant.view", Target: "tenant:" + slug, Reason: reason, Result: audit.Success,
		Details: map[string]any{"region": region, "label": label}, Account: audit.Account{Slug: slug}}); err != nil {
		return Unavailable("the console's database (audit log)", err)
	}
	h.tenantParts(c.Request().Context(), cl, slug, &m)
	return Render(c, http.StatusOK, views.QueuesTenantPage(p, m))
}

// tenantParts reads the page's three parts at the same time and fills m.
func (h *Queues) tenantParts(ctx context.Context, cl *qstash.Client, slug string, m *views.QueuesTenant) {
	var wg sync.WaitGroup
	var logs qstash.LogPage
	var logsErr error
	wg.Go(func() { h.tenantDLQ(ctx, cl, m) })
	wg.Go(func() { logs, logsErr = h.tenantLogs(ctx, cl, m.Label) })
	wg.Go(func() { h.tenantScan(ctx, cl, slug, m) })
	wg.Wait()
	if logsErr != nil {
		m.MessagesErr = readFailure(logsErr, "the tenant's logs", "its recent messages are not shown")
		return
	}
	inDLQ := map[string]string{}
	for _, r := range slices.Concat(m.DLQ, m.Scan) {
		inDLQ[r.MessageID] = r.Href
	}
	m.Messages = tenantMessageRows(logs.Logs, inDLQ)
	m.MessagesNote = fmt.Sprintf("From QStash's newest %d log entries with this label (%d messages).", qstash.MaxPage, len(m.Messages))
	if logs.Cursor == "" {
		m.MessagesNote = fmt.Sprintf("Every message with this label in QStash's logs (%d; logs are kept for a limited time).", len(m.Messages))
	}
}

// tenantDLQ lists the first page of dead letters with the tenant's label
// within UpstreamBudget, or its last good copy when QStash refuses or does
// not answer.
func (h *Queues) tenantDLQ(ctx context.Context, cl *qstash.Client, m *views.QueuesTenant) {
	f := qstash.Filter{Label: m.Label}
	m.DLQAllHref = "/queues?" + url.Values{"region": {m.Region}, "label": {m.Label}}.Encode()
	ctx, cancel := context.WithTimeout(ctx, UpstreamBudget)
	defer cancel()
	var page qstash.Page
	err := qstash.Patiently(ctx, tenantReserve, func(ctx context.Context) error {
		var err error
		page, err = h.Pages.List(ctx, cl, f, "", tenantDLQCount)
		return err
	})
	if err != nil {
		// As on /queues: a 429 shows the last good copy with its age;
		// any other failure is said as well, above the copy.
		good, at, ok := h.Pages.LastGood(cl, f, "", tenantDLQCount)
		ok = ok && staleWorthy(err)
		if _, limited := qstash.IsRateLimited(err); !limited || !ok {
			m.DLQErr = readFailure(err, "the tenant's dead letters", "no earlier copy of them is kept")
		}
		if !ok {
			return
		}
		page, m.DLQStale = good, staleNote(err, "this list", at)
	}
	for _, msg := range page.Messages {
		m.DLQ = append(m.DLQ, dlqRow(m.Region, msg))
	}
	m.DLQMore = page.Cursor != ""
}

// tenantLogs reads the newest log entries with label, within
// UpstreamBudget, shared among viewers for a second.
func (h *Queues) tenantLogs(ctx context.Context, cl *qstash.Client, label string) (qstash.LogPage, error) {
	ctx, cancel := context.WithTimeout(ctx, UpstreamBudget)
	defer cancel()
	var logs qstash.LogPage
	err := qstash.Patiently(ctx, tenantReserve, func(ctx context.Context) error {
		var err error
		logs, err = h.Pages.LabelLogs(ctx, cl, label)
		return err
	})
	return logs, err
}

// tenantScan scans the newest dead letters for those without the
// tenant's label whose forwarded tenant header names it, within
// UpstreamBudget, and says how many it scanned.
func (h *Queues) tenantScan(ctx context.Context, cl *qstash.Client, slug string, m *views.QueuesTenant) {
	ctx, cancel := context.WithTimeout(ctx, UpstreamBudget)
	defer cancel()
	list := func(ctx context.Context, f qstash.Filter, cursor string, count int) (qstash.Page, error) {
		return h.Pages.ListForScan(ctx, cl, f, cursor, count)
	}
	keep := func(msg qstash.Message) bool { return !qstash.HasLabel(msg, m.Label) && qstash.ForTenant(msg, slug) }
	s, err := qstash.ScanNewest(ctx, list, time.Now().Truncate(tenantScanClock), tenantScanPages, keep)
	slices.SortStableFunc(s.Matches, func(a, b qstash.Message) int { return cmp.Compare(b.CreatedAt, a.CreatedAt) }) // newest first
	for _, msg := range s.Matches {
		m.Scan = append(m.Scan, dlqRow(m.Region, msg))
	}
	m.ScanNote = scanNote(s)
	if err != nil {
		m.ScanErr = readFailure(err, "the dead letters to scan", "the scan stopped there")
	}
}

// scanNote says which dead letters a scan read.
func scanNote(s qstash.Scan) string {
	since := s.Since.UTC().Format("2006-01-02 15:04:05Z")
	switch {
	case s.Complete && s.Scanned == 0:
		return "This region's dead-letter queue is empty."
	case s.Complete:
		return fmt.Sprintf("Scanned all %d dead letters in this region.", s.Scanned)
	case s.Scanned == 0:
		return "No dead letters were scanned."
	case s.Since.IsZero():
		return fmt.Sprintf("Scanned %d dead letters of the last hour, not all of them (QStash lists them in no promised order).", s.Scanned)
	case s.Covered == s.Scanned:
		return fmt.Sprintf("Scanned %d newest dead letters: every one created since %s.", s.Scanned, since)
	}
	return fmt.Sprintf("Scanned %d newest dead letters: every one created since %s, and %d older ones (up to %d pages of %d).",
		s.Scanned, since, s.Scanned-s.Covered, tenantScanPages, qstash.MaxPage)
}

// tenantMessageRows makes one row per message from log entries, latest
// change first; inDLQ links a message to its dead letter on this page.
func tenantMessageRows(logs []qstash.LogEntry, inDLQ map[string]string) []views.TenantMessageRow {
	logs = slices.Clone(logs)
	// QStash lists logs newest first; keep that order among equal times.
	slices.SortStableFunc(logs, func(a, b qstash.LogEntry) int { return cmp.Compare(b.Time, a.Time) })
	var rows []views.TenantMessageRow
	at := map[string]int{}
	for _, l := range logs {
		if l.MessageID == "" {
			continue
		}
		if i, seen := at[l.MessageID]; seen {
			// An older entry fills in what the latest one leaves out.
			rows[i].URL, rows[i].Queue = cmp.Or(rows[i].URL, views.ShownURL(l.URL)), cmp.Or(rows[i].Queue, l.QueueName)
			continue
		}
		labels := slices.Clone(l.Labels)
		if l.Label != "" && !slices.Contains(labels, l.Label) {
			labels = append(labels, l.Label)
		}
		at[l.MessageID] = len(rows)
		rows = append(rows, views.TenantMessageRow{At: time.UnixMilli(l.Time).UTC().Format("2006-01-02 15:04:05Z"),
			MessageID: l.MessageID, State: l.State, Status: l.ResponseStatus, URL: views.ShownURL(l.URL), Queue: l.QueueName,
			Error: views.ShownText(l.Error), Labels: views.ShownText(strings.Join(labels, ", ")), Href: inDLQ[l.MessageID]})
	}
	return rows
}
