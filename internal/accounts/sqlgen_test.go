package accounts

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
)

// The SQL functions of platform_functions.sql are generated here, from
// the very predicates and tables NormalizeEmail and Skeleton use:
//
//	go generate ./internal/accounts/
//
// (go test -run TestPlatformFunctionsFile -update). Without -update the
// test fails when the file differs from what the Go code would generate
// now, e.g. after an upgrade of golang.org/x/text.

//go:generate go test -run TestPlatformFunctionsFile -update .

var update = flag.Bool("update", false, "rewrite platform_functions.sql")

func TestPlatformFunctionsFile(t *testing.T) {
	want := generatePlatformFunctions()
	if *update {
		if err := os.WriteFile("platform_functions.sql", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if PlatformFunctions != want {
		t.Fatal("platform_functions.sql is not what the Go tables generate now: run go generate ./internal/accounts/ (and tell the platform team: their functions and indexes must be replaced)")
	}
}

func generatePlatformFunctions() string {
	var b strings.Builder
	b.WriteString(sqlHeader)
	fmt.Fprintf(&b, normSQL, sqlClass(nfkcUnstable), jsonMap(foldTable()), sqlClass(invisible), sqlClass(invisible))
	ascii, all := skeletonTables()
	fmt.Fprintf(&b, skeletonSQL, asciiChain(ascii), jsonMap(all))
	b.WriteString(emailSQL)
	return b.String()
}

const sqlHeader = `-- The ops console's normalisation of email addresses and names, for the
-- platform's database. Generated from the console's Go code (internal/accounts,
-- go generate): do not edit. Needs PostgreSQL 15 or later with the UTF8
-- encoding. After a new version of these functions, rebuild the indexes that use
-- them (REINDEX INDEX CONCURRENTLY ...): their stored values would be stale.
--
-- atum_norm_email(text): NFKC, Unicode case folding, white space and invisible
--   characters trimmed from both ends (locale-independent).
-- atum_skeleton(text): the confusable skeleton (UTS #39 prototypes, per
--   character; default-ignorable characters dropped) of a normalised text.
-- atum_email_skeleton, atum_email_domain, atum_email_domain_skeleton: of an address.

`

const normSQL = `CREATE OR REPLACE FUNCTION atum_norm_email(email text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
    t text;
BEGIN
    IF octet_length(email) = char_length(email) THEN -- ASCII
        RETURN btrim(lower(email COLLATE "C"), E'\u0009\u000a\u000b\u000c\u000d ');
    END IF;
    t := email;
    IF t COLLATE "C" !~ E'[%s]' THEN
        t := normalize(t, NFKC);
    END IF;
    -- Case folding, each character through the map (plpgsql keeps the plan,
    -- so the map is read once per session).
    t := (SELECT coalesce(string_agg(coalesce(m.fold ->> u.c, u.c), '' ORDER BY u.i), '')
          FROM (SELECT $map$%s$map$::jsonb AS fold) AS m,
               unnest(string_to_array(t, NULL)) WITH ORDINALITY AS u(c, i));
    RETURN regexp_replace(t, E'^[%s]+|[%s]+$', '', 'g');
END $fn$;

`

const skeletonSQL = `CREATE OR REPLACE FUNCTION atum_skeleton(t text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
BEGIN
    IF octet_length(t) = char_length(t) THEN
        RETURN %s;
    END IF;
    RETURN (SELECT coalesce(string_agg(coalesce(m.skel ->> u.c, u.c), '' ORDER BY u.i), '')
            FROM (SELECT $map$%s$map$::jsonb AS skel) AS m,
                 unnest(string_to_array(t, NULL)) WITH ORDINALITY AS u(c, i));
END $fn$;

`

const emailSQL = `CREATE OR REPLACE FUNCTION atum_email_skeleton(email text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN atum_skeleton(atum_norm_email(email));

CREATE OR REPLACE FUNCTION atum_email_domain(email text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN coalesce(substring(atum_norm_email(email) FROM '@([^@]*)$'), '');

CREATE OR REPLACE FUNCTION atum_email_domain_skeleton(email text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN atum_skeleton(atum_email_domain(email));
`

// allRunes calls f for every character a PostgreSQL text can hold.
func allRunes(f func(r rune)) {
	for r := rune(1); r <= unicode.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		f(r)
	}
}

// foldTable is cases.Fold of every character it changes.
func foldTable() map[rune]string {
	m := map[rune]string{}
	fold := cases.Fold()
	allRunes(func(r rune) {
		if f := fold.String(string(r)); f != string(r) {
			m[r] = f
		}
	})
	return m
}

// skeletonTables are skeletonRune of every character it changes: the
// ASCII ones and all.
func skeletonTables() (ascii, all map[rune]string) {
	ascii, all = map[rune]string{}, map[rune]string{}
	allRunes(func(r rune) {
		if s := skeletonRune(r); s != string(r) {
			all[r] = s
			if r < utf8.RuneSelf {
				ascii[r] = s
			}
		}
	})
	return ascii, all
}

// asciiChain is SQL mapping the ASCII characters of m in t: replace()
// for the multi-character mappings, then one translate() for the others.
// No mapping may produce a character another one maps, so the order does
// not matter.
func asciiChain(m map[rune]string) string {
	expr, from, to := "t", "", ""
	for _, r := range sortedKeys(m) {
		for _, o := range m[r] {
			if _, ok := m[o]; ok {
				panic(fmt.Sprintf("skeleton of %q maps a mapped character %q", r, o))
			}
		}
		if utf8.RuneCountInString(m[r]) == 1 {
			from, to = from+string(r), to+m[r]
			continue
		}
		expr = fmt.Sprintf("replace(%s, %s, %s)", expr, sqlString(string(r)), sqlString(m[r]))
	}
	return fmt.Sprintf("translate(%s, %s, %s)", expr, sqlString(from), sqlString(to))
}

func sortedKeys(m map[rune]string) []rune {
	keys := make([]rune, 0, len(m))
	for r := range m {
		keys = append(keys, r)
	}
	slices.Sort(keys)
	return keys
}

// sqlString is an E-string literal of s, ASCII only: other characters as
// \u or \U escapes.
func sqlString(s string) string {
	var b strings.Builder
	b.WriteString("E'")
	for _, r := range s {
		b.WriteString(sqlEscape(r))
	}
	b.WriteString("'")
	return b.String()
}

func sqlEscape(r rune) string {
	switch {
	case r == '\'' || r == '\\':
		return `\` + string(r)
	case r >= ' ' && r < utf8.RuneSelf && r != 0x7f:
		return string(r)
	case r <= 0xFFFF:
		return fmt.Sprintf(`\u%04x`, r)
	}
	return fmt.Sprintf(`\U%08x`, r)
}

// sqlClass is the inside of a regular expression bracket holding every
// character in, as ranges of E-string escapes (none is special in a bracket:
// the classes hold no ASCII punctuation).
func sqlClass(in func(rune) bool) string {
	var b strings.Builder
	lo, hi := rune(-1), rune(-1)
	flush := func() {
		if lo >= 0 {
			b.WriteString(sqlEscape(lo))
			if hi > lo {
				b.WriteString("-" + sqlEscape(hi))
			}
		}
	}
	allRunes(func(r rune) {
		if !in(r) {
			return
		}
		if r < utf8.RuneSelf && strings.ContainsRune(`]\^-[`, r) {
			panic(fmt.Sprintf("class holds %q", r))
		}
		if r != hi+1 {
			flush()
			lo = r
		}
		hi = r
	})
	flush()
	return b.String()
}

// jsonMap is m as a JSON object, ASCII only (others as \u escapes, in
// surrogate pairs beyond U+FFFF), keys sorted.
func jsonMap(m map[rune]string) string {
	var b strings.Builder
	b.WriteString("{")
	for i, r := range sortedKeys(m) {
		if i > 0 {
			b.WriteString(",")
		}
		if i%8 == 0 {
			b.WriteString("\n")
		}
		b.WriteString(jsonString(string(r)) + ":" + jsonString(m[r]))
	}
	b.WriteString("}")
	return b.String()
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteString(`"`)
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteString(`\` + string(r))
		case r >= ' ' && r < utf8.RuneSelf && r != 0x7f && r != '$':
			b.WriteRune(r)
		case r > 0xFFFF:
			r1, r2 := utf16Surrogates(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	b.WriteString(`"`)
	return b.String()
}

func utf16Surrogates(r rune) (rune, rune) {
	r -= 0x10000
	return 0xD800 + (r>>10)&0x3FF, 0xDC00 + r&0x3FF
}
