package neon_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/atum/ops-console/internal/neon"
	"github.com/atum/ops-console/internal/testenv"
)

func TestMaskQuery(t *testing.T) {
	tests := []struct {
		name, query, want string
	}{
		{"string", `SELECT * FROM users WHERE email = 'alice@example.com'`, `SELECT * FROM users WHERE email = '?'`},
		{"doubled quote", `SELECT 'it''s a secret', 1`, `SELECT '?', ?`},
		{"escape string", `SELECT E'tok\'en\\', x`, `SELECT '?', x`},
		{"lower-case escape string", `SELECT e'a\'b'`, `SELECT '?'`},
		{"plain string keeps backslash", `SELECT 'C:\', 'two'`, `SELECT '?', '?'`},
		{"bit and hex strings", `SELECT B'1010', X'1F', N'national'`, `SELECT '?', '?', '?'`},
		{"unicode string", `SELECT U&'d\0061t\+000061'`, `SELECT '?'`},
		{"dollar quoted", `SELECT $$it's a 'secret'$$, 2`, `SELECT '?', ?`},
		{"tagged dollar quote", `DO $fn$ BEGIN PERFORM 'x'; END $fn$`, `DO '?'`},
		{"parameters stay", `SELECT * FROM t WHERE a = $1 AND b = $2`, `SELECT * FROM t WHERE a = $1 AND b = $2`},
		{"numbers", `SELECT 42, 3.14, .5, 1e-5, 0x1F, 1_000 FROM t LIMIT 10`, `SELECT ?, ?, ?, ?, ?, ? FROM t LIMIT ?`},
		{"negative number", `SELECT -7`, `SELECT -?`},
		{"identifiers with digits", `SELECT col1, t2.x FROM tbl_2024 t2`, `SELECT col1, t2.x FROM tbl_2024 t2`},
		{"identifier with dollar", `SELECT a$1 FROM t`, `SELECT a$1 FROM t`},
		{"quoted identifier", `SELECT "it's" FROM "T""x" WHERE "a" = 'b'`, `SELECT "it's" FROM "T""x" WHERE "a" = '?'`},
		{"cut off string", `INSERT INTO tokens VALUES ('eyJhbGciOiJIUzI1NiJ9.eyJzdWIi`, `INSERT INTO tokens VALUES ('?'`},
		{"cut off dollar quote", `SELECT $q$ secret text`, `SELECT '?'`},
		{"typed literal", `SELECT interval '1 day', DATE '2026-12-01'`, `SELECT interval '?', DATE '?'`},
		{"line comment", "-- don't touch\nSELECT * FROM users WHERE email = 'alice@x.io'", "-- …\nSELECT * FROM users WHERE email = '?'"},
		{"line comment at the end", `SELECT 1 -- it's 'a@b.c'`, `SELECT ? -- …`},
		{"block comment", `/* route='/users/alice@x.io' */ SELECT 1`, `/* … */ SELECT ?`},
		{"nested block comment", `SELECT /* a /* it's */ b' */ 'c'`, `SELECT /* … */ '?'`},
		{"cut off block comment", `SELECT 'a' /* it's`, `SELECT '?' /* … */`},
		{"no literals", `SELECT now()`, `SELECT now()`},
		{"empty", ``, ``},
		{"unicode identifier", `SELECT größe FROM t WHERE n = 'ü'`, `SELECT größe FROM t WHERE n = '?'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := neon.MaskQuery(tt.query)
			if got != tt.want {
				t.Errorf("MaskQuery(%q)\n got %q\nwant %q", tt.query, got, tt.want)
			}
			if again := neon.MaskQuery(got); again != got {
				t.Errorf("masking twice changes %q to %q", got, again)
			}
		})
	}
}

// TestReadUsageMasksLiterals runs a statement with an email and a token
// inlined, as a client-side driver would, and reads it back masked.
func TestReadUsageMasksLiterals(t *testing.T) {
	ctx := context.Background()
	pool, dbURL := testenv.MigratedPool(t)
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = "atum:api:m1:77"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `BEGIN; SELECT 'alice@example.com' AS email, E'tok\'_Xk29vQpL7mZr4' AS token, 4242 AS n`); err != nil {
		t.Fatal(err)
	}
	u, err := neon.ReadUsage(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	var q string
	for _, b := range u.IdleInTxList {
		if b.Application == "atum:api:m1:77" {
			q = b.Query
		}
	}
	if !strings.Contains(q, "AS email") {
		t.Fatalf("the session's query was not read: %q", q)
	}
	for _, secret := range []string{"alice", "example.com", "Xk29", "4242"} {
		if strings.Contains(q, secret) {
			t.Errorf("query %q shows %q", q, secret)
		}
	}
}
