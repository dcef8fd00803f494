package audit_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/atum/ops-console/internal/audit"
	"github.com/atum/ops-console/internal/devstack"
	"github.com/atum/ops-console/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m, devstack.Options{Postgres: true}) }

func TestAuditLogIsAppendOnly(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	ctx := context.Background()
	log := audit.New(pool)
	if err := log.Record(ctx, audit.Entry{Operator: "a@x.io", Action: "login", Result: audit.Success}); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		`UPDATE ops.audit_events SET result = 'failure'`,
		`DELETE FROM ops.audit_events`,
		`TRUNCATE ops.audit_events`,
	} {
		if _, err := pool.Exec(ctx, sql); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want append-only refusal", sql, err)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM ops.audit_events WHERE result = 'success'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("events after tampering = %d (%v), want 1", n, err)
	}
}

func TestRecordRedactsSecrets(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	ctx := context.Background()
	log := audit.New(pool)
	err := log.Record(ctx, audit.Entry{Action: "operator.create", Result: audit.Success, Details: map[string]any{
		"password": "hunter2hunter2", "nested": map[string]any{"QSTASH_TOKEN": "tok_123", "ok": "kept"},
		"list": []any{map[string]any{"Authorization": "Bearer abc"}}, "role": "admin"}})
	if err != nil {
		t.Fatal(err)
	}
	events, err := log.List(ctx, audit.Filter{})
	if err != nil || len(events) != 1 {
		t.Fatalf("List = %v, %v", events, err)
	}
	d := events[0].DetailsJSON
	for _, secret := range []string{"hunter2hunter2", "tok_123", "Bearer abc"} {
		if strings.Contains(d, secret) {
			t.Errorf("details %s hold %q", d, secret)
		}
	}
	if !strings.Contains(d, "kept") || !strings.Contains(d, "admin") {
		t.Errorf("details lost non-secret values: %s", d)
	}
}

func TestListFilters(t *testing.T) {
	pool, _ := testenv.MigratedPool(t)
	ctx := context.Background()
	log := audit.New(pool)
	for _, e := range []audit.Entry{
		{Operator: "alice@atum.io", Action: "login", Result: audit.Success},
		{Operator: "bob@atum.io", Action: "login", Result: audit.Failure},
		{Operator: "alice@atum.io", Action: "operator.create", Target: "operator:carol@atum.io", Result: audit.Success},
		{Operator: "alice@atum.io", Action: "operator.role", Target: "operator:100%_real@atum.io", Result: audit.Failure},
	} {
		if err := log.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	today := time.Now().UTC().Format("2006-01-02")
	tests := []struct {
		query string
		want  int
	}{
		{"", 4},
		{"operator=ALICE", 3},
		{"action=operator.", 2},
		{"result=failure", 2},
		{"target=100%25_", 1},
		{"target=%25", 1}, // a literal %, not a wildcard
		{"from=" + today + "&to=" + today, 4},
		{"to=2000-01-01", 0},
	}
	for _, tt := range tests {
		q, _ := url.ParseQuery(tt.query)
		f, err := audit.ParseFilter(q)
		if err != nil {
			t.Fatalf("%s: %v", tt.query, err)
		}
		got, err := log.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != tt.want {
			t.Errorf("%q: %d events, want %d", tt.query, len(got), tt.want)
		}
	}
	// Paging with the keyset cursor returns older events only.
	all, _ := log.List(ctx, audit.Filter{})
	older, _ := log.List(ctx, audit.Filter{Before: all[1].ID})
	if len(older) != 2 || older[0].ID >= all[1].ID {
		t.Errorf("page before %d = %d events", all[1].ID, len(older))
	}
}

func TestParseFilterRejectsBadInput(t *testing.T) {
	for _, q := range []string{"result=deleted", "from=yesterday", "to=2026-13-01", "before=-3", "before=abc",
		"from=2026-02-02&to=2026-01-01", "action=" + strings.Repeat("x", 201)} {
		v, _ := url.ParseQuery(q)
		if _, err := audit.ParseFilter(v); err == nil {
			t.Errorf("ParseFilter(%q) accepted bad input", q)
		}
	}
}

func TestWriteCSVDefusesFormulas(t *testing.T) {
	var buf bytes.Buffer
	err := audit.WriteCSV(&buf, []audit.Event{{ID: 1, At: time.Now(), Entry: audit.Entry{
		Operator: "=HYPERLINK(\"http://evil\")", Action: "login", Target: "+1", Reason: "a,b \"quoted\"\nline", Result: "success"}}})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(recs) != 2 {
		t.Fatalf("CSV unreadable: %v %v", recs, err)
	}
	if recs[1][2] != "'=HYPERLINK(\"http://evil\")" || recs[1][6] != "'+1" || recs[1][7] != "a,b \"quoted\"\nline" {
		t.Errorf("row = %q", recs[1])
	}
}

func TestWriteCSVDefusesEveryLocale(t *testing.T) {
	tests := []struct {
		name, cell, want string
	}{
		{"plain", "alice@atum.io", "alice@atum.io"},
		{"equals", "=1+1", "'=1+1"},
		{"plus", "+1", "'+1"},
		{"minus", "-2", "'-2"},
		{"at", "@SUM(A1)", "'@SUM(A1)"},
		{"tab", "\t=1", "'\t'=1"},
		{"carriage return", "\rx", "'\rx"},
		{"leading spaces", "  =1", "'  '=1"},
		{"after semicolon", "x;=cmd|' /C calc'!A0", "'x;'=cmd|' /C calc'!A0"},
		{"after comma and space", "a, -1", "'a, '-1"},
		{"after pipe", "a|@x", "'a|'@x"},
		{"after tab", "a\t+1", "'a\t'+1"},
		{"after line break", "a\n=1", "'a\n'=1"},
		{"full-width equals", "\uff1dcmd", "'\uff1dcmd"},
		{"inside a word", "a=b-c@d", "a=b-c@d"},
		{"quotes", `say "hi", then go`, `say "hi", then go`},
		{"json details", `{"filter":"a=1","rows":2}`, `{"filter":"a=1","rows":2}`},
		{"invalid utf-8", "\xff;=x", "'\xff;'=x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := audit.WriteCSV(&buf, []audit.Event{{ID: 7, At: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
				Entry: audit.Entry{Operator: tt.cell, Action: "login", Reason: tt.cell, Result: audit.Failure, Details: nil}, DetailsJSON: tt.cell}})
			if err != nil {
				t.Fatal(err)
			}
			raw := buf.String()
			lines := strings.SplitN(raw, "\r\n", 2)
			if !strings.HasPrefix(lines[1], `"7","2026-12-01T00:00:00Z","`) {
				t.Errorf("row not quoted cell by cell: %q", lines[1])
			}
			r := csv.NewReader(strings.NewReader(raw))
			recs, err := r.ReadAll()
			if err != nil || len(recs) != 2 || len(recs[1]) != 11 {
				t.Fatalf("CSV read back: %q, %v", recs, err)
			}
			for _, i := range []int{2, 7, 10} { // operator, reason, details
				if recs[1][i] != tt.want {
					t.Errorf("cell %d = %q, want %q", i, recs[1][i], tt.want)
				}
			}
			// Split as a spreadsheet in a locale with another separator
			// would: no piece of the row may start a formula.
			for _, sep := range []string{";", "\t", "|", ","} {
				for _, piece := range strings.Split(strings.ReplaceAll(raw, "\r\n", sep), sep) {
					p := strings.TrimLeft(strings.TrimPrefix(strings.TrimLeft(piece, " "), `"`), " ")
					if p != "" && strings.ContainsAny(p[:1], "=+-@") {
						t.Errorf("split on %q, a piece starts a formula: %q", sep, piece)
					}
				}
			}
		})
	}
}

func TestRedactValue(t *testing.T) {
	tests := []struct {
		name, key, value, want string
	}{
		{"plain target", "target", "operator:alice@atum.io", "operator:alice@atum.io"},
		{"secret name", "token", "abc", "[redacted]"},
		{"token value", "target", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX2hlcmU", "[redacted]"},
		{"bearer", "target", "Bearer abc", "[redacted]"},
		{"url with password", "url", "https://u:hunter2@hooks.example/x", "https://u:[redacted]@hooks.example/x"},
		{"url with token parameter", "url", "https://hooks.example/x?token=abc&id=2", "https://hooks.example/x?token=[redacted]&id=2"},
		{"url with key in path", "url", "https://hooks.example/services/Xk29vQpL7mZr4TnB8wYc", "https://hooks.example/services/[redacted]"},
		{"label", "label", "billing-retry", "billing-retry"},
		{"date", "from", "2026-12-01", "2026-12-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := audit.RedactValue(tt.key, tt.value); got != tt.want {
				t.Errorf("RedactValue(%q, %q) = %q, want %q", tt.key, tt.value, got, tt.want)
			}
		})
	}
}

func TestRedactQuery(t *testing.T) {
	tests := []struct {
		name, query, want string
	}{
		{"plain", "operator=alice&result=failure", "operator=alice&result=failure"},
		{"token target", "target=ghp_aBcDeFgHiJkLmNoPqRsTuV&action=login", "action=login&target=[redacted]"},
		{"secret parameter", "api_key=abc&from=2026-12-01", "api_key=[redacted]&from=2026-12-01"},
		{"partial", "target=" + url.QueryEscape("redis://:pw@h:6379"), "target=redis%3A%2F%2F%3A[redacted]%40h%3A6379"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			if got := audit.RedactQuery(q); got != tt.want {
				t.Errorf("RedactQuery(%q) = %q, want %q", tt.query, got, tt.want)
			}
		})
	}
	got := audit.RedactMap(map[string]string{"url": "https://x.example/?sig=abc", "queue": "emails"})
	if got["url"] != "https://x.example/?sig=[redacted]" || got["queue"] != "emails" {
		t.Errorf("RedactMap = %v", got)
	}
}
