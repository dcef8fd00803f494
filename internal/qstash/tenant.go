package qstash

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// The platform's contract for messages about a tenant (README, "Contracts
// with the platform"): each carries the label TenantLabelPrefix + slug
// (Upstash-Label) and the forwarded header TenantHeader with the slug
// (published as Upstash-Forward-X-Atum-Tenant).
const (
	TenantLabelPrefix = "tenant-"
	TenantHeader      = "X-Atum-Tenant"
)

// ErrInvalidLabel says a label or tenant slug cannot be sent to QStash.
var ErrInvalidLabel = errors.New("qstash: invalid label")

// labelRE is what QStash accepts as a label.
var labelRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)

// tenantSlugRE is what the console takes for a tenant slug: lower-case
// letters, digits, "-" and "_", starting with a letter or a digit, so that
// its label is one QStash accepts and it is one path segment.
var tenantSlugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// CheckLabel fails with ErrInvalidLabel unless label is one QStash
// accepts: 1 to 100 letters, digits, ".", "_" or "-".
func CheckLabel(label string) error {
	if !labelRE.MatchString(label) {
		return fmt.Errorf("%w: %q is not 1 to 100 letters, digits, . _ or -", ErrInvalidLabel, clipText(label, 40))
	}
	return nil
}

// CheckTenantSlug fails with ErrInvalidLabel unless slug is a tenant slug
// the console looks messages up by (see tenantSlugRE).
func CheckTenantSlug(slug string) error {
	if !tenantSlugRE.MatchString(slug) {
		return fmt.Errorf("%w: %q is not a tenant slug (1 to 63 lower-case letters, digits, - or _, starting with a letter or digit)",
			ErrInvalidLabel, clipText(slug, 40))
	}
	return nil
}

// TenantLabel returns the label of a tenant's messages, after checking
// the slug.
func TenantLabel(slug string) (string, error) {
	if err := CheckTenantSlug(slug); err != nil {
		return "", err
	}
	label := TenantLabelPrefix + slug
	return label, CheckLabel(label)
}

// HasLabel reports whether m carries label (in labels or the deprecated
// label field).
func HasLabel(m Message, label string) bool {
	if m.Label == label {
		return true
	}
	for _, l := range m.Labels {
		if l == label {
			return true
		}
	}
	return false
}

// ForTenant reports whether m carries the forwarded tenant header with
// slug. QStash gives a dead letter's forwarded headers back without their
// Upstash-Forward- prefix; both forms are matched, names in any case.
func ForTenant(m Message, slug string) bool {
	for k, vs := range m.Header {
		if !strings.EqualFold(k, TenantHeader) && !strings.EqualFold(k, "Upstash-Forward-"+TenantHeader) {
			continue
		}
		for _, v := range vs {
			if strings.TrimSpace(v) == slug {
				return true
			}
		}
	}
	return false
}

// Lister lists one page of dead letters (Client.ListDLQ, or a PageCache's
// List bound to a client).
type Lister func(ctx context.Context, f Filter, cursor string, count int) (Page, error)

// scanWindows are the creation windows a scan lists, newest first: the
// last hour, the day before it, the week before that, then everything
// older (0). QStash promises no order within a listing, so a scan goes
// window by window to read the newest dead letters first.
var scanWindows = []time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 0}

// Scan is what ScanNewest read.
type Scan struct {
	// Matches are the dead letters keep chose.
	Matches []Message
	// Scanned counts the dead letters read; Pages the calls made.
	Scanned, Pages int
	// Since is the start of the newest windows read to their end: every
	// dead letter created since was scanned (zero when none was).
	// Covered counts those; the others are some of the older ones.
	Since   time.Time
	Covered int
	// Complete is set when every dead letter was scanned.
	Complete bool
}

// ScanNewest reads at most maxPages full pages of dead letters, newest
// creation windows first (see scanWindows; now is their end), and keeps
// those keep chooses. It stops at the first error, returning what it read
// with it.
func ScanNewest(ctx context.Context, list Lister, now time.Time, maxPages int, keep func(Message) bool) (Scan, error) {
	var s Scan
	prev := time.Duration(0)
	for i, w := range scanWindows {
		var f Filter
		if w != 0 {
			f.From = now.Add(-w)
		}
		if i > 0 {
			f.To = now.Add(-prev - time.Millisecond)
		}
		prev = w
		for cursor := ""; ; {
			if s.Pages == maxPages {
				return s, nil
			}
			p, err := list(ctx, f, cursor, MaxPage)
			if err != nil {
				return s, err
			}
			s.Pages++
			s.Scanned += len(p.Messages)
			for _, m := range p.Messages {
				if keep(m) {
					s.Matches = append(s.Matches, m)
				}
			}
			if cursor = p.Cursor; cursor == "" {
				break
			}
		}
		s.Covered = s.Scanned
		if w == 0 {
			s.Complete = true
		} else {
			s.Since = f.From
		}
	}
	return s, nil
}
