package views

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// productName is the product name shown in the header and the tab title.
const productName = "ATUM Ops Console"

// envKey returns the normalised environment name if it is one of the four
// known environments, or "" when it is not.
func envKey(env string) string {
	e := strings.ToLower(strings.TrimSpace(env))
	switch e {
	case "production", "staging", "development", "demo":
		return e
	}
	return ""
}

// envClass returns the banner's CSS class for env: env-production,
// env-staging, env-development, env-demo, or env-unknown for anything else.
func envClass(env string) string {
	if k := envKey(env); k != "" {
		return "env-" + k
	}
	return "env-unknown"
}

// envLabel returns the banner text for env. An unknown or empty environment
// is named as such rather than silently shown as one of the known ones.
func envLabel(env string) string {
	switch envKey(env) {
	case "production":
		return "PRODUCTION"
	case "staging":
		return "STAGING"
	case "development":
		return "DEVELOPMENT"
	case "demo":
		return "DEMO — DEMO DATA"
	}
	if strings.TrimSpace(env) == "" {
		return "ENVIRONMENT NOT SET"
	}
	return "UNKNOWN ENVIRONMENT " + strings.ToUpper(strings.TrimSpace(env))
}

// dbIdentityText is the one-line identity of the console's database.
func dbIdentityText(db DBIdentity) string {
	if db.Err != "" {
		return "database identity unavailable: " + db.Err
	}
	return fmt.Sprintf("db %s/%s as %s · PostgreSQL %s · system id %s",
		db.Host, db.Database, db.User, db.ServerVersion, db.SystemID)
}

// flashClass maps a flash kind to its CSS class.
func flashClass(kind string) string {
	if kind == "ok" {
		return "flash-ok"
	}
	return "flash-error"
}

// alertClass maps an alert level to its CSS class; anything not a warning
// is shown as critical so an unexpected level is never understated.
func alertClass(level string) string {
	if level == "warning" {
		return "alert-warning"
	}
	return "alert-critical"
}

// stateClass maps a tile state to its CSS modifier ("ok", "error",
// "pending" or "not_configured"); unknown states show as "error".
func stateClass(state string) string {
	switch state {
	case "ok", "error", "pending", "not_configured":
		return state
	}
	return "error"
}

// titleText is the document title for a page title.
func titleText(title string) string {
	if title == "" {
		return productName
	}
	return title + " · " + productName
}

// defaultRole is the role preselected in the add-operator form: the one
// entered before an error, else the least privileged role.
func defaultRole(entered string) string {
	if entered != "" {
		return entered
	}
	return "viewer"
}

// readNote is what the systems strip says after a system's state: its
// error (with when it last answered), or why it was not checked lately.
func readNote(t Tile) string {
	switch {
	case t.Err != "" && t.Detail != "":
		return t.Detail + ": " + t.Err
	case t.Err != "":
		return t.Err
	case strings.HasPrefix(t.Detail, "not checked"):
		return t.Detail
	}
	return ""
}

// clipText shortens s to n characters, marking the cut with an ellipsis.
func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// passkeyScript is the script that runs passkey ceremonies.
const passkeyScript = "js/passkey.js"

// withScript returns p loading the static script name as well when on.
func withScript(p Page, name string, on bool) Page {
	if on && !slices.Contains(p.Scripts, name) {
		p.Scripts = append(slices.Clip(p.Scripts), name)
	}
	return p
}

// queueControlURL is where a queue's pause or resume form posts.
func queueControlURL(q QueueRow) string {
	action := "pause"
	if q.Paused {
		action = "resume"
	}
	return "/queues/queues/" + url.PathEscape(q.Name) + "/" + action
}
