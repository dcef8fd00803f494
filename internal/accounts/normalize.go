package accounts

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/unicode/runenames"
)

// The one normalisation of email addresses (and tenant names), computed
// identically here and in the platform's database by the SQL functions of
// platform_functions.sql, which are generated from the predicates and
// tables of this file (see sqlgen_test.go) and proved equal to them by
// the tests, character by character:
//
//  1. NFKC (fullwidth letters, ligatures, NBSP become plain characters),
//     skipped for a string holding a character whose NFKC differs between
//     Go's Unicode tables and PostgreSQL's (see nfkcUnstable);
//  2. full Unicode case folding (cases.Fold: "ẞ" and "ß" fold to "ss",
//     "Σ", "σ" and "ς" to "σ"), never the database's locale;
//  3. white space and invisible characters (see invisible) trimmed from
//     both ends.
//
// ASCII text takes a short path with the same result: A–Z lower-cased,
// ASCII white space trimmed.

// NormalizeEmail returns the normalised form of an email address: the
// form twins share and the platform's expression indexes hold
// (atum_norm_email in SQL).
func NormalizeEmail(s string) string {
	if isASCII(s) {
		return strings.Trim(asciiLower(s), asciiSpace)
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	if !strings.ContainsFunc(s, nfkcUnstable) {
		s = norm.NFKC.String(s)
	}
	return strings.TrimFunc(cases.Fold().String(s), invisible)
}

// EmailSkeleton is the confusable skeleton of an address's normalised
// form: two addresses that render alike have the same skeleton
// (atum_email_skeleton in SQL).
func EmailSkeleton(email string) string { return Skeleton(NormalizeEmail(email)) }

// EmailDomain returns the part of a normalised address after its last
// "@", or "" without one (atum_email_domain in SQL takes the raw
// address).
func EmailDomain(normalised string) string {
	i := strings.LastIndexByte(normalised, '@')
	if i < 0 {
		return ""
	}
	return normalised[i+1:]
}

// Skeleton maps each character of a normalised text to its UTS #39
// prototype (Cyrillic "а" to Latin "a", "m" to "rn", "1" to "l") and drops
// default-ignorable characters, so that lookalikes share one skeleton
// (atum_skeleton in SQL). The mapping is per character (skeletonRune).
func Skeleton(normalised string) string {
	var b strings.Builder
	for _, r := range normalised {
		if r < utf8.RuneSelf {
			b.WriteString(asciiSkeleton[r])
		} else {
			b.WriteString(skeletonRune(r))
		}
	}
	return b.String()
}

// asciiSpace is the ASCII white space (the White_Space characters below
// U+0080).
const asciiSpace = "\t\n\v\f\r "

var asciiSkeleton = func() (t [utf8.RuneSelf]string) {
	for r := range t {
		t[r] = skeletonRune(rune(r))
	}
	return t
}()

// skeletonRune is the skeleton of one character: "" for a
// default-ignorable one, the confusables skeleton (NFD, prototype, NFD)
// for a character that can stand in a normalised text, and the character
// itself otherwise. Hangul syllables are kept whole: their NFD would only
// split them into jamo, which NFKC composes again.
func skeletonRune(r rune) string {
	s := string(r)
	switch {
	case ignorable(r):
		return ""
	case r >= 0xAC00 && r <= 0xD7A3, !skeletonDomain(r):
		return s
	}
	return confusables.Skeleton(s)
}

// skeletonDomain reports whether r can stand in a normalised text: NFKC
// leaves it alone and case folding too.
func skeletonDomain(r rune) bool {
	s := string(r)
	return norm.NFKC.IsNormalString(s) && cases.Fold().String(s) == s
}

// invisible reports the characters trimmed from both ends: White_Space
// and the ignorable ones.
func invisible(r rune) bool { return unicode.Is(unicode.White_Space, r) || ignorable(r) }

// ignorable reports default-ignorable characters (they render as
// nothing): Other_Default_Ignorable_Code_Point, variation selectors and
// format characters (zero-width space, joiners, word joiner, bidi
// controls, BOM, tags), except those that render (prepended
// concatenation marks, interlinear annotation and Egyptian format
// controls).
func ignorable(r rune) bool {
	switch {
	case unicode.Is(unicode.White_Space, r), r >= 0xFFF9 && r <= 0xFFFB, r >= 0x13430 && r <= 0x1345F,
		unicode.Is(unicode.Prepended_Concatenation_Mark, r):
		return false
	}
	return unicode.In(r, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector, unicode.Cf)
}

// unicode15Additions are the characters Unicode 15.0 (Go's tables) added
// whose NFKC PostgreSQL 15 (Unicode 14.0) computes differently: a
// decomposition or a combining class it does not know.
// TestNormalisationMatchesPostgresForEveryCharacter finds them.
var unicode15Additions = &unicode.RangeTable{R32: []unicode.Range32{
	{Lo: 0x10EFD, Hi: 0x10EFF, Stride: 1}, {Lo: 0x11F41, Hi: 0x11F42, Stride: 1}, {Lo: 0x1E030, Hi: 0x1E06D, Stride: 1},
	{Lo: 0x1E08F, Hi: 0x1E08F, Stride: 1}, {Lo: 0x1E4EC, Hi: 0x1E4EF, Stride: 1},
}}

// nfkcUnstable reports a character whose NFKC may differ between Go and
// the database: unassigned in Go's tables (a newer PostgreSQL may know
// it), or added by Unicode 15.0 (PostgreSQL 15 does not know it). A
// string holding one is not NFKC-normalised on either side.
func nfkcUnstable(r rune) bool {
	return unicode.Is(unicode15Additions, r) ||
		!unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// maxListedRunes caps the characters one warning lists.
const maxListedRunes = 5

// EmailWarnings says what makes an address suspicious to the eye: white
// space or invisible characters around it, non-ASCII characters (each
// named, e.g. "U+0430 CYRILLIC SMALL LETTER A") and letters of more than
// one script ("mixes Latin and Cyrillic letters"). Nil for a plain
// address.
func EmailWarnings(email string) []string {
	var out []string
	if strings.TrimFunc(email, invisible) != email {
		out = append(out, "starts or ends with white space or invisible characters")
	}
	if w := nonASCIIWarning(email); w != "" {
		out = append(out, w)
	}
	if scripts := letterScripts(email); len(scripts) > 1 {
		out = append(out, "mixes "+joinAnd(scripts)+" letters")
	}
	return out
}

func nonASCIIWarning(email string) string {
	var names []string
	seen := map[rune]bool{}
	for _, r := range email {
		if r < utf8.RuneSelf || seen[r] {
			continue
		}
		seen[r] = true
		if len(names) < maxListedRunes {
			names = append(names, RuneName(r))
		}
	}
	if len(seen) == 0 {
		return ""
	}
	if more := len(seen) - len(names); more > 0 {
		names = append(names, fmt.Sprintf("%d more", more))
	}
	return "contains non-ASCII characters: " + strings.Join(names, ", ")
}

// RuneName names a character for people: "U+00A0 NO-BREAK SPACE".
func RuneName(r rune) string {
	if n := runenames.Name(r); n != "" && !strings.HasPrefix(n, "<") {
		return fmt.Sprintf("%U %s", r, n)
	}
	return fmt.Sprintf("%U", r)
}

// letterScripts lists the scripts of s's letters in order of appearance.
func letterScripts(s string) []string {
	var out []string
	for _, r := range s {
		if !unicode.IsLetter(r) {
			continue
		}
		for name, table := range unicode.Scripts {
			if name != "Common" && name != "Inherited" && unicode.Is(table, r) && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out
}

func joinAnd(list []string) string {
	if len(list) < 2 {
		return strings.Join(list, "")
	}
	return strings.Join(list[:len(list)-1], ", ") + " and " + list[len(list)-1]
}
