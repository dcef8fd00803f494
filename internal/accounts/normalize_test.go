package accounts

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"github.com/atum/ops-console/internal/testenv"
)

// trickyStrings are addresses and names the normalisation must get the
// same in Go and in SQL.
var trickyStrings = []string{
	"", " ", "\u00a0", "\u200b", "rish@brennan.ca", "rish@brennan.ca\u00a0", "\trish@brennan.ca", "\u200brish@brennan.ca",
	"rish@brennan.ca\u200c\u200d\u2060\ufeff", "\u3000rish@brennan.ca\u2003", "ri\u200bsh@brennan.ca", "RISH@BRENNAN.CA",
	"ｒｉｓｈ＠ｂｒｅｎｎａｎ．ｃａ", "rish@brenn\u0430n.ca", "\ufb01nance@ex.com", "\ufb03@\ufb00.de", "İstanbul@x.tr", "ıi@x.tr",
	"Straße@x.de", "STRAẞE@X.DE", "ΣΊΣΥΦΟΣ@x.gr", "σίσυφος@x.gr", "ὈΔΥΣΣΕΎΣ@x.gr", "Пётр@почта.рф", "😀@emoji.example",
	"👩‍💻@x.io", "e\u0301@x.fr", "\u00e9@x.fr", "\u0301leading@x", "a\u0316\u0301@x", "\u212b@\u212a.ohm\u2126", "𝐚𝐛𝐜@x",
	"\u2163@roman", "㎏@x", "\uac00\u1100\u1161@ko", "\u1100\u1161\u11a8@ko", "\u0378@unassigned", "\U0001e030@new15",
	"a\U0001e08f\u0301@new15", "\ue000@private", "\u202eevil@x", "x\ufe0f@vs", "\u00ad@soft", "\u115f\u3164@fillers",
	"\U000e0041@tag", "MiXeD@ExAmPle.COM ", "user1@tenant-1.example", "\u0131\u0307@x", "ǅ@x", "ﬆ@x", "ŉ@x", "ΐ@x",
	"\u1e9e@x", "\u0345@x", "ᾈ@x", "\u00b5@x", "\u017f@x", "\u0587@x", "\u1f80@x", "m0|1%\"`@x", "\x7f@x",
}

func TestNormalizeEmailExamples(t *testing.T) {
	for in, want := range map[string]string{
		"  Rish@Brennan.CA\u00a0": "rish@brennan.ca", "\trish@brennan.ca": "rish@brennan.ca",
		"\u200brish@brennan.ca\ufeff": "rish@brennan.ca", "ｒｉｓｈ＠ｂｒｅｎｎａｎ．ｃａ": "rish@brennan.ca",
		"\ufb01@x": "fi@x", "STRAẞE@x": "strasse@x", "Straße@x": "strasse@x", "ΣΊΣΥΦΟΣ": "σίσυφοσ", "σίσυφος": "σίσυφοσ",
		"İ": "i\u0307", "ı": "ı", "ri\u200bsh@x": "ri\u200bsh@x",
	} {
		if got := NormalizeEmail(in); got != want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", in, got, want)
		}
	}
	if a, b := EmailSkeleton("rish@brenn\u0430n.ca"), EmailSkeleton("rish@brennan.ca"); a != b {
		t.Errorf("the Cyrillic lookalike's skeleton %q differs from %q", a, b)
	}
	if a, b := EmailSkeleton("ri\u200bsh@brennan.ca"), EmailSkeleton("rish@brennan.ca"); a != b {
		t.Errorf("an inner zero-width space is not dropped from the skeleton: %q, %q", a, b)
	}
	if EmailSkeleton("rish@brennan.ca") == EmailSkeleton("rish@brennan.co") {
		t.Error("different addresses share a skeleton")
	}
	if d := EmailDomain(NormalizeEmail("A@b@Brennan.CA ")); d != "brennan.ca" {
		t.Errorf("domain = %q", d)
	}
}

// TestASCIIShortcuts proves the ASCII paths equal the general
// definitions for every ASCII character.
func TestASCIIShortcuts(t *testing.T) {
	for c := rune(1); c < utf8.RuneSelf; c++ {
		for _, s := range []string{string(c), "A" + string(c) + "b", string(c) + "x" + string(c)} {
			general := strings.TrimFunc(cases.Fold().String(norm.NFKC.String(s)), invisible)
			if got := NormalizeEmail(s); got != general {
				t.Errorf("NormalizeEmail(%q) = %q, the definition gives %q", s, got, general)
			}
		}
	}
}

func TestEmailWarnings(t *testing.T) {
	if w := EmailWarnings("rish@brennan.ca"); w != nil {
		t.Errorf("a plain address has warnings: %q", w)
	}
	w := strings.Join(EmailWarnings("rish@brenn\u0430n.ca"), "; ")
	if !strings.Contains(w, "mixes Latin and Cyrillic letters") || !strings.Contains(w, "U+0430 CYRILLIC SMALL LETTER A") {
		t.Errorf("Cyrillic lookalike: %q", w)
	}
	w = strings.Join(EmailWarnings("rish@brennan.ca\u00a0"), "; ")
	if !strings.Contains(w, "starts or ends with white space") || !strings.Contains(w, "U+00A0 NO-BREAK SPACE") {
		t.Errorf("NBSP twin: %q", w)
	}
	if w := strings.Join(EmailWarnings("\trish@brennan.ca"), "; "); !strings.Contains(w, "white space") || strings.Contains(w, "non-ASCII") {
		t.Errorf("tab twin: %q", w)
	}
	if w := strings.Join(EmailWarnings("ｒｉｓｈ＠ｂｒｅｎｎａｎ．ｃａ"), "; "); !strings.Contains(w, "U+FF52 FULLWIDTH LATIN SMALL LETTER R") || !strings.Contains(w, "more") {
		t.Errorf("fullwidth twin: %q", w)
	}
}

// functionsPool is a database with PlatformFunctions created.
func functionsPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, _ := testenv.MigratedPool(t)
	if _, err := pool.Exec(context.Background(), PlatformFunctions); err != nil {
		t.Fatal(err)
	}
	return pool
}

// compareSQL runs fn over every input in SQL and returns the inputs
// whose result differs from want's.
func compareSQL(t *testing.T, pool *pgxpool.Pool, fn string, in []string, want func(string) string) []string {
	t.Helper()
	var bad []string
	for start := 0; start < len(in); start += 20000 {
		batch := in[start:min(len(in), start+20000)]
		var got []string
		err := pool.QueryRow(context.Background(), `SELECT array_agg(`+fn+`(x) ORDER BY i) FROM unnest($1::text[]) WITH ORDINALITY AS u(x, i)`, batch).Scan(&got)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range batch {
			if w := want(s); got[i] != w {
				bad = append(bad, fmt.Sprintf("%+q: Go %+q, SQL %+q", s, w, got[i]))
			}
		}
	}
	return bad
}

func TestNormalisationMatchesPostgresOnTrickyStrings(t *testing.T) {
	pool := functionsPool(t)
	for fn, goFn := range map[string]func(string) string{
		"atum_norm_email": NormalizeEmail, "atum_email_skeleton": EmailSkeleton, "atum_skeleton": Skeleton,
		"atum_email_domain":          func(s string) string { return EmailDomain(NormalizeEmail(s)) },
		"atum_email_domain_skeleton": func(s string) string { return Skeleton(EmailDomain(NormalizeEmail(s))) },
	} {
		if bad := compareSQL(t, pool, fn, trickyStrings, goFn); len(bad) > 0 {
			t.Errorf("%s differs from Go on %d strings:\n%s", fn, len(bad), strings.Join(bad, "\n"))
		}
	}
}

// probes are strings around one character: alone (trimming), between
// letters that fold and compose, and after a combining mark.
func probes(r rune) []string {
	s := string(r)
	return []string{s, "A" + s + "\u0301", "\u0301" + s + "b", s + "\u0334"}
}

// TestNormalisationMatchesPostgresForEveryCharacter runs atum_norm_email
// over every assigned character in a few contexts (and over a sample of
// unassigned and private ones), so a difference between Go's and the
// database's Unicode tables cannot hide.
func TestNormalisationMatchesPostgresForEveryCharacter(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	pool := functionsPool(t)
	var in []string
	allRunes(func(r rune) {
		if !nfkcUnstable(r) && !unicode.Is(unicode.Co, r) || r%61 == 0 || unicode.Is(unicode15Additions, r) {
			in = append(in, probes(r)...)
		}
	})
	bad := compareSQL(t, pool, "atum_norm_email", in, NormalizeEmail)
	if len(bad) > 0 {
		t.Fatalf("%d of %d probes differ, e.g.:\n%s", len(bad), len(in), strings.Join(bad[:min(20, len(bad))], "\n"))
	}
}

// TestNFKCDiffersOnlyOnUnstableCharacters proves the skip rule needed and
// sufficient: PostgreSQL's own normalize() agrees with Go on every
// assigned character but those of unicode15Additions, where it differs.
func TestNFKCDiffersOnlyOnUnstableCharacters(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	pool := functionsPool(t)
	var in []string
	var of []rune
	allRunes(func(r rune) {
		if !nfkcUnstable(r) && !unicode.Is(unicode.Co, r) || unicode.Is(unicode15Additions, r) {
			for _, p := range probes(r) {
				in, of = append(in, p), append(of, r)
			}
		}
	})
	bad := map[rune]bool{}
	for start := 0; start < len(in); start += 50000 {
		batch := in[start:min(len(in), start+50000)]
		var out []string
		if err := pool.QueryRow(context.Background(), `SELECT array_agg(normalize(x, NFKC) ORDER BY i) FROM unnest($1::text[]) WITH ORDINALITY AS u(x, i)`, batch).Scan(&out); err != nil {
			t.Fatal(err)
		}
		for i, s := range batch {
			if norm.NFKC.String(s) != out[i] {
				bad[of[start+i]] = true
			}
		}
	}
	for r := range bad {
		if !unicode.Is(unicode15Additions, r) {
			t.Errorf("PostgreSQL's NFKC differs from Go's on %s, which is not in unicode15Additions", RuneName(r))
		}
	}
	allRunes(func(r rune) {
		if unicode.Is(unicode15Additions, r) && !bad[r] {
			t.Errorf("%s is in unicode15Additions, but PostgreSQL normalises it as Go does", RuneName(r))
		}
	})
}

// TestSkeletonMatchesPostgresOverTheWholeTable runs atum_skeleton over
// every character the skeleton maps, alone (the ASCII path for ASCII
// ones) and among non-ASCII ones.
func TestSkeletonMatchesPostgresOverTheWholeTable(t *testing.T) {
	pool := functionsPool(t)
	_, all := skeletonTables()
	in := []string{"m0%\"|`1", "é" + "m0%\"|`1"}
	for r := range all {
		in = append(in, string(r), "é"+string(r)+"m", "a"+string(r)+"z")
	}
	for c := rune(1); c < utf8.RuneSelf; c++ {
		in = append(in, string(c), "é"+string(c))
	}
	if len(all) < 2000 {
		t.Fatalf("the skeleton table has only %d characters", len(all))
	}
	if bad := compareSQL(t, pool, "atum_skeleton", in, Skeleton); len(bad) > 0 {
		t.Fatalf("atum_skeleton differs from Go on %d strings, e.g.:\n%s", len(bad), strings.Join(bad[:min(20, len(bad))], "\n"))
	}
}
