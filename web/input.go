package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/atum/ops-console/handlers"
	"github.com/atum/ops-console/internal/audit"
)

// Input limits: a request with a longer value is refused with the limit
// in the message, never cut silently.
const (
	// MaxPathBytes bounds the URL path.
	MaxPathBytes = 1024
	// MaxQueryValueBytes bounds each query-string value (search terms,
	// filters, cursors).
	MaxQueryValueBytes = 1000
	// MaxFormValueBytes bounds each posted form value (reasons, notes).
	MaxFormValueBytes = 4000
	// MaxValues bounds the number of query and form values together.
	MaxValues = 200
)

// InputError says which value of a request was refused and why.
type InputError struct {
	// Where is "path", "query" or "form"; Name the parameter.
	Where, Name, Problem string
}

func (e *InputError) Error() string {
	if e.Where == "path" {
		return "The address " + e.Problem + "."
	}
	return fmt.Sprintf("The %s value %q %s.", e.Where, clipName(e.Name), e.Problem)
}

func clipName(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// checkValue reports what is wrong with one value, or "". Query and path
// values may hold no control character at all; form values may hold tab
// and line breaks (reasons and notes are typed in text areas).
func checkValue(v string, limit int, multiline bool) string {
	if len(v) > limit {
		return fmt.Sprintf("is %d bytes long; at most %d are accepted", len(v), limit)
	}
	if !utf8.ValidString(v) {
		return "is not valid UTF-8"
	}
	for _, r := range v {
		switch {
		case r == 0:
			return "holds a NUL character"
		case multiline && (r == '\t' || r == '\n' || r == '\r'):
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return "holds a control character"
		}
	}
	return ""
}

// CheckRequest validates every path, query and form value of r against
// the limits above, before anything reaches Postgres, Redis or QStash.
func CheckRequest(r *http.Request) error {
	if p := checkValue(r.URL.Path, MaxPathBytes, false); p != "" {
		return &InputError{Where: "path", Problem: p}
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return &InputError{Where: "query", Name: "?", Problem: "is not a valid query string"}
	}
	n := 0
	for name, vs := range q {
		for _, v := range append([]string{name}, vs...) {
			n++
			if p := checkValue(v, MaxQueryValueBytes, false); p != "" {
				return &InputError{Where: "query", Name: name, Problem: p}
			}
		}
	}
	if r.Method != http.MethodPost {
		return tooMany(n)
	}
	if err := r.ParseForm(); err != nil {
		return &InputError{Where: "form", Name: "?", Problem: "is not a valid form body"}
	}
	for name, vs := range r.PostForm {
		for _, v := range append([]string{name}, vs...) {
			n++
			if p := checkValue(v, MaxFormValueBytes, true); p != "" {
				return &InputError{Where: "form", Name: name, Problem: p}
			}
		}
	}
	return tooMany(n)
}

func tooMany(n int) error {
	if n > MaxValues {
		return &InputError{Where: "query", Name: "*", Problem: fmt.Sprintf("list has %d values; at most %d are accepted", n, MaxValues)}
	}
	return nil
}

// checkInput refuses a request with bad input with a 400 naming the value
// and the problem (never the value itself), and audits the refusal when
// an operator is signed in or the request is a sign-in.
func checkInput(base *handlers.Base) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if isInfra(c.Path()) {
				return next(c)
			}
			err := CheckRequest(c.Request())
			if err == nil {
				return next(c)
			}
			ie, _ := err.(*InputError)
			if handlers.CurrentSession(c) != nil || c.Path() == "/login" {
				_ = base.Record(c, audit.Entry{Action: "request.refused", Target: c.Request().Method + " " + routeOrPath(c),
					Result: audit.Failure, Details: map[string]any{"where": ie.Where, "name": clipName(ie.Name), "problem": ie.Problem}})
			}
			return echo.NewHTTPError(http.StatusBadRequest, err.Error())
		}
	}
}

// routeOrPath names the route matched, or "unknown route".
func routeOrPath(c echo.Context) string {
	if p := c.Path(); p != "" {
		return p
	}
	return "unknown route"
}
