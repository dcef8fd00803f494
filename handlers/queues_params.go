package handlers

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/internal/qstash"
	"github.com/atum/ops-console/views"
)

// Dead-letter list sizes: the page lists defaultDLQCount unless ?count=
// asks for 1 to qstash.MaxPage.
const defaultDLQCount = 50

// maxCursor bounds a cursor's length. QStash documents cursors as opaque
// strings; the ones seen (and the double's) are base64url or
// "<unix ms>-<n>", far shorter than this.
const maxCursor = 200

// cursorRE is what a cursor may hold: base64 (either alphabet), digits,
// "-", ".", ":" and "=", nothing that could end or extend the query.
var cursorRE = regexp.MustCompile(`^[A-Za-z0-9_.:=+/-]+$`)

// queueNameRE is a QStash queue name (alphanumerics, "-", "." and "_").
var queueNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// scheduleIDRE is a schedule id, as conservative as dead-letter ids.
var scheduleIDRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

// listParams are the dead-letter list's query parameters, checked.
type listParams struct {
	filter qstash.Filter
	cursor string
	count  int
}

// listQueryKeys are the list's query parameters that reach QStash; each
// may be given once.
var listQueryKeys = []string{"region", "url", "queue", "schedule", "response_status", "label", "from", "to", "cursor", "count"}

// parseListParams checks every list parameter that reaches QStash: an
// error names the parameter and says what is accepted.
func parseListParams(c echo.Context) (listParams, error) {
	q := c.QueryParams()
	for _, k := range listQueryKeys {
		if len(q[k]) > 1 {
			return listParams{}, fmt.Errorf("%s is given %d times; give it once", k, len(q[k]))
		}
	}
	f, _, err := parseDLQFilter(c)
	if err != nil {
		return listParams{}, err
	}
	p := listParams{filter: f, count: defaultDLQCount}
	if p.cursor = q.Get("cursor"); p.cursor != "" {
		if err := checkCursor(p.cursor); err != nil {
			return listParams{}, err
		}
	}
	if s := q.Get("count"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > qstash.MaxPage {
			return listParams{}, fmt.Errorf("count %q is not a page size (1–%d)", clip(s, 20), qstash.MaxPage)
		}
		p.count = n
	}
	return p, nil
}

// checkCursor refuses a cursor QStash could not have given: longer than
// maxCursor or with characters outside cursorRE.
func checkCursor(s string) error {
	if len(s) > maxCursor || !cursorRE.MatchString(s) {
		return errors.New("the page cursor is not one QStash gives (at most 200 letters, digits and - _ . : = + /); start again from the first page")
	}
	return nil
}

func dlqFilterView(c echo.Context) views.DLQFilter {
	v := func(k string) string {
		if s := c.QueryParam(k); s != "" {
			return s
		}
		return c.FormValue(k)
	}
	return views.DLQFilter{URL: v("url"), Queue: v("queue"), Schedule: v("schedule"), ResponseStatus: v("response_status"),
		Label: v("label"), From: v("from"), To: v("to")}
}

// filterForm is the filter form's values by input name.
func filterForm(f views.DLQFilter) map[string]string {
	return map[string]string{"url": f.URL, "queue": f.Queue, "schedule": f.Schedule, "response_status": f.ResponseStatus,
		"label": f.Label, "from": f.From, "to": f.To}
}

// parseDLQFilter reads the filter form; it also returns the filters as
// name/value pairs for the purge record. A comma is refused in every
// filter: QStash reads it as "or" between two values.
func parseDLQFilter(c echo.Context) (qstash.Filter, map[string]string, error) {
	fv := dlqFilterView(c)
	f := qstash.Filter{URL: strings.TrimSpace(fv.URL), Queue: strings.TrimSpace(fv.Queue), Schedule: strings.TrimSpace(fv.Schedule),
		Label: strings.TrimSpace(fv.Label)}
	labels := map[string]string{}
	for _, kv := range []struct {
		k, v string
		re   *regexp.Regexp
		what string
	}{
		{"url", f.URL, nil, ""},
		{"queue", f.Queue, queueNameRE, "a queue name (letters, digits, - . _)"},
		{"schedule", f.Schedule, scheduleIDRE, "a schedule id (letters, digits, - _ . :)"},
		{"label", f.Label, nil, ""},
	} {
		switch {
		case kv.v == "":
			continue
		case len(kv.v) > 500:
			return f, nil, fmt.Errorf("the %s filter is longer than 500 characters", kv.k)
		case strings.Contains(kv.v, ","):
			return f, nil, fmt.Errorf("the %s filter holds a comma, which QStash reads as \"or\" between two values; filter on one value", kv.k)
		case kv.re != nil && !kv.re.MatchString(kv.v):
			return f, nil, fmt.Errorf("the %s filter %q is not %s", kv.k, clip(kv.v, 40), kv.what)
		}
		labels[kv.k] = kv.v
	}
	if s := strings.TrimSpace(fv.ResponseStatus); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 100 || n > 599 {
			return f, nil, fmt.Errorf("response status %q is not an HTTP status (100–599)", clip(s, 20))
		}
		f.ResponseStatus, labels["response status"] = n, s
	}
	for _, d := range []struct {
		name, val string
		dst       *time.Time
		end       bool
	}{{"from", fv.From, &f.From, false}, {"to", fv.To, &f.To, true}} {
		if s := strings.TrimSpace(d.val); s != "" {
			t, err := time.Parse("2006-01-02", s)
			if err != nil {
				return f, nil, fmt.Errorf("%s %q is not a date (YYYY-MM-DD)", d.name, clip(s, 20))
			}
			if d.end {
				t = t.Add(24*time.Hour - time.Millisecond)
			}
			*d.dst, labels[d.name] = t, s
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.From.After(f.To) {
		return f, nil, errors.New("from must not be after to")
	}
	return f, labels, nil
}
