package config

import (
	"fmt"
	"strings"
	"time"
)

// Queues holds the settings of bulk actions on dead letters.
type Queues struct {
	// ApprovalKinds are the bulk actions ("purge", "retry") that need a
	// second operator above ApprovalAbove messages (0: every one of them);
	// none when empty.
	ApprovalKinds []string
	ApprovalAbove int
	// ApprovalExpiry is how long a request waits for its approval.
	ApprovalExpiry time.Duration
	// ArchiveRetention is how long the copies of purged (and retried)
	// messages are kept after the action ended.
	ArchiveRetention time.Duration
}

// loadQueues reads APPROVAL_ACTIONS (default "purge,retry"; "none"),
// APPROVAL_ABOVE (default 1000), APPROVAL_EXPIRY (default 1h) and
// PURGE_ARCHIVE_RETENTION (default 30 days).
func (c *Config) loadQueues(getenv func(string) string) []error {
	var errs []error
	q := &c.Queues
	switch v := strings.ToLower(strings.TrimSpace(getenv("APPROVAL_ACTIONS"))); v {
	case "":
		q.ApprovalKinds = []string{"purge", "retry"}
	case "none":
	default:
		seen := map[string]bool{}
		for _, k := range strings.Split(v, ",") {
			k = strings.TrimSpace(k)
			if k != "purge" && k != "retry" {
				errs = append(errs, &Error{Var: "APPROVAL_ACTIONS", Msg: fmt.Sprintf("lists %q; want purge, retry (comma-separated) or none", k)})
				continue
			}
			if !seen[k] {
				seen[k] = true
				q.ApprovalKinds = append(q.ApprovalKinds, k)
			}
		}
	}
	var err error
	if q.ApprovalAbove, err = intVar(getenv, "APPROVAL_ABOVE", 1000, 0, 200000); err != nil {
		errs = append(errs, err)
	}
	if q.ApprovalExpiry, err = durationVar(getenv, "APPROVAL_EXPIRY", time.Hour, time.Minute, 7*24*time.Hour); err != nil {
		errs = append(errs, err)
	}
	if q.ArchiveRetention, err = durationVar(getenv, "PURGE_ARCHIVE_RETENTION", 30*24*time.Hour, time.Hour, 365*24*time.Hour); err != nil {
		errs = append(errs, err)
	}
	return errs
}
