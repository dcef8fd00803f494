package timeline

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Range limits of the timeline page.
const (
	DefaultRange = 24 * time.Hour
	MaxRange     = 14 * 24 * time.Hour
)

// InputLayout is how the page's form shows and reads a time (UTC).
const InputLayout = "2006-01-02T15:04"

// Filter is the timeline page's selection: [From, To) and the systems
// (none means all).
type Filter struct {
	From, To time.Time
	Systems  []string
}

// timeLayouts are the accepted forms of from and to, in UTC, with the
// span each covers: a "to" of 15:04 includes that whole minute.
var timeLayouts = []struct {
	layout string
	span   time.Duration
}{
	{time.RFC3339Nano, 0},
	{"2006-01-02T15:04:05", time.Second},
	{InputLayout, time.Minute},
	{"2006-01-02 15:04:05", time.Second},
	{"2006-01-02 15:04", time.Minute},
	{"2006-01-02", 24 * time.Hour},
}

// ParseFilter reads from, to (UTC; YYYY-MM-DDTHH:MM, with seconds, RFC
// 3339 or a bare date) and system (several allowed, each one of known)
// from q. Without from and to it is the DefaultRange up to now; the range
// is at most MaxRange. Errors say what is wrong in words for the page.
func ParseFilter(q url.Values, now time.Time, known []string) (Filter, error) {
	var f Filter
	to, err := parseTime(q.Get("to"), "to", true)
	if err != nil {
		return f, err
	}
	from, err := parseTime(q.Get("from"), "from", false)
	if err != nil {
		return f, err
	}
	switch {
	case to.IsZero() && from.IsZero():
		to, from = now, now.Add(-DefaultRange)
	case to.IsZero():
		to = from.Add(DefaultRange)
		if to.After(now) && from.Before(now) {
			to = now
		}
	case from.IsZero():
		from = to.Add(-DefaultRange)
	}
	if !from.Before(to) {
		return f, fmt.Errorf("from (%s) must be before to (%s)", from.UTC().Format(InputLayout), to.UTC().Format(InputLayout))
	}
	if d := to.Sub(from); d > MaxRange {
		return f, fmt.Errorf("the time range is at most 14 days; this one is %s", spanText(d))
	}
	f.From, f.To = from.UTC(), to.UTC()
	vals := q["system"]
	if len(vals) > 2*len(known)+2 {
		return f, fmt.Errorf("too many system filters (%d)", len(vals))
	}
	for _, v := range vals {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if !slices.Contains(known, v) {
			return f, fmt.Errorf("system %q is not one of %s", clip(v, 40), strings.Join(known, ", "))
		}
		if !slices.Contains(f.Systems, v) {
			f.Systems = append(f.Systems, v)
		}
	}
	return f, nil
}

// parseTime reads one bound; a "to" covers the whole unit it names.
func parseTime(s, name string, end bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if len(s) <= 40 {
		for _, l := range timeLayouts {
			if t, err := time.ParseInLocation(l.layout, s, time.UTC); err == nil {
				if end {
					t = t.Add(l.span)
				}
				return t, nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("%s %q is not a time: use YYYY-MM-DDTHH:MM in UTC (or a date, YYYY-MM-DD)", name, clip(s, 40))
}

// Query returns f as query parameters, for links.
func (f Filter) Query() url.Values {
	q := url.Values{}
	q.Set("from", FormatInput(f.From, false))
	q.Set("to", FormatInput(f.To, true))
	for _, s := range f.Systems {
		q.Add("system", s)
	}
	return q
}

// FormatInput formats a bound for the form; an end bound shows the last
// minute it includes, so that submitting the form again keeps the range.
func FormatInput(t time.Time, end bool) string {
	if end {
		t = t.Add(-time.Nanosecond)
	}
	return t.UTC().Format(InputLayout)
}

func spanText(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%.1f days", d.Hours()/24)
	}
	return d.Round(time.Minute).String()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
