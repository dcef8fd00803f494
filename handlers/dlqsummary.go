package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/auth"
	"github.com/atum/ops-console/internal/human"
	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/views"
)

// DLQSummaries reads the stored dead-letter summaries.
type DLQSummaries interface {
	Latest(ctx context.Context, region string) (qstash.Summary, error)
}

// DLQSummary is the dead-letter summary screen: each region's latest
// summary, read from the console's database, never from QStash.
type DLQSummary struct {
	*Base
	// Regions lists the configured QStash regions in display order.
	Regions   []string
	Summaries DLQSummaries
}

// summaryDimensionView is how the page titles a dimension, names its
// group of dead letters without a value, and explains it.
var summaryDimensionView = map[qstash.Dimension]struct{ title, empty, note string }{
	qstash.ByQueue:  {"Queue", "(no queue)", ""},
	qstash.ByURL:    {"Destination", "(no URL)", ""},
	qstash.ByStatus: {"Response status", "(no response)", "The status of the last delivery attempt."},
	qstash.ByLabel:  {"Label", "(no label)", "A dead letter with several labels counts under each."},
	qstash.ByDay:    {"Day created (UTC)", "(unknown)", ""},
}

// Show renders every region's latest summary.
func (h *DLQSummary) Show(c echo.Context) error {
	p := h.Page(c, "Dead-letter summary", "queues")
	switch {
	case len(h.Regions) == 0:
		return Render(c, http.StatusOK, views.DLQSummaryPage(p, views.DLQSummary{Err: "QStash is not configured (QSTASH_TOKEN)."}))
	case h.Summaries == nil:
		return Render(c, http.StatusOK, views.DLQSummaryPage(p, views.DLQSummary{Err: "Dead-letter summaries are off on this console."}))
	}
	s := CurrentSession(c)
	m := views.DLQSummary{CanAct: s != nil && s.Account.Role.AtLeast(auth.Operator)}
	now := time.Now()
	for _, region := range h.Regions {
		r := views.DLQSummaryRegion{Key: region, Label: strings.ToUpper(region), ListHref: "/queues?" + url.Values{"region": {region}}.Encode()}
		sum, err := h.Summaries.Latest(c.Request().Context(), region)
		switch {
		case errors.Is(err, qstash.ErrNoSummary):
			r.NotYet = "Not summarised yet: the first summary is taken on the queue sampler's next round."
		case err != nil:
			return Unavailable("the console's database", err)
		default:
			r.Taken = human.Ago(sum.TakenAt, now) + " (" + sum.TakenAt.UTC().Format("2006-01-02 15:04:05Z") + ")"
			r.Scanned, r.Calls, r.Complete, r.Stopped = sum.Scanned, sum.Calls, sum.Complete, sum.Stopped
			for _, d := range qstash.Dimensions {
				r.Dimensions = append(r.Dimensions, summaryDimension(c, region, d, sum.Tallies[d], m.CanAct))
			}
		}
		m.Regions = append(m.Regions, r)
	}
	return Render(c, http.StatusOK, views.DLQSummaryPage(p, m))
}

// summaryDimension is one dimension's table: each group with the
// filtered list it opens and, when canAct, the purge preview of that
// filter.
func summaryDimension(c echo.Context, region string, d qstash.Dimension, t qstash.Tally, canAct bool) views.DLQSummaryDimension {
	dv := summaryDimensionView[d]
	out := views.DLQSummaryDimension{Key: string(d), Title: dv.title, Note: dv.note, More: t.More, MoreCount: t.MoreCount}
	for _, g := range t.Groups {
		row := views.DLQSummaryGroup{Value: g.Value, Empty: dv.empty, Count: g.Count}
		q, why := summaryGroupFilter(region, d, g.Value)
		if q != nil {
			why = summaryFilterRefusal(c, q)
		}
		if row.NoFilter = why; why != "" {
			q = nil
		}
		if q != nil {
			row.Href = "/queues?" + q.Encode()
			if canAct {
				row.Purge = &views.DLQPurgeFilter{Region: region, URL: q.Get("url"), Queue: q.Get("queue"),
					ResponseStatus: q.Get("response_status"), Label: q.Get("label"), From: q.Get("from"), To: q.Get("to")}
			}
		}
		out.Groups = append(out.Groups, row)
	}
	return out
}

// summaryGroupFilter returns the filter parameters of the Queues page
// (those parseDLQFilter reads) that select exactly a group's dead
// letters, or why none does.
func summaryGroupFilter(region string, d qstash.Dimension, v string) (url.Values, string) {
	switch {
	case v == "":
		return nil, "no filter selects these"
	case strings.Contains(v, ","):
		// QStash reads a comma in a filter as "or".
		return nil, "no filter selects exactly this value (it has a comma)"
	case len(v) > 500 || strings.TrimSpace(v) != v || !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0:
		return nil, "no filter selects exactly this value"
	}
	q := url.Values{"region": {region}}
	switch d {
	case qstash.ByQueue:
		q.Set("queue", v)
	case qstash.ByURL:
		q.Set("url", v)
	case qstash.ByLabel:
		q.Set("label", v)
	case qstash.ByStatus:
		if n, err := strconv.Atoi(v); err != nil || n < 100 || n > 599 {
			return nil, "no filter selects this status"
		}
		q.Set("response_status", v)
	case qstash.ByDay:
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			return nil, "no filter selects this day"
		}
		q.Set("from", v)
		q.Set("to", v)
	default:
		return nil, ""
	}
	return q, ""
}

// summaryFilterRefusal is why the dead-letter list (and the purge preview)
// would refuse the filter q, in parseDLQFilter's words; "" when they take
// it. A link never leads to a filter error.
func summaryFilterRefusal(c echo.Context, q url.Values) string {
	req, err := http.NewRequestWithContext(c.Request().Context(), http.MethodGet, "/queues?"+q.Encode(), nil)
	if err != nil {
		return "no filter selects exactly this value"
	}
	if _, _, err := parseDLQFilter(c.Echo().NewContext(req, nil)); err != nil {
		return err.Error()
	}
	return ""
}
