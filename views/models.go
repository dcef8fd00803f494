// Package views holds the console's templ components and the view models
// they render. View models carry display-ready values: handlers format
// times, counts and states before they reach a template.
package views

import "github.com/a-h/templ"

// Page is what the base layout needs on every page.
type Page struct {
	// Title is the page title shown in the browser tab and the heading.
	Title string
	// Active is the key of the navigation entry to highlight.
	Active string
	// Env is the environment name: production, staging, development or demo.
	Env string
	// DB identifies the database the console is connected to.
	DB DBIdentity
	// User is the signed-in operator; nil on the login page.
	User *Operator
	// Nav lists the navigation entries the user's role may open.
	Nav []NavItem
	// Flash is a one-line message shown above the content.
	Flash Flash
	// Version is the console's build version.
	Version string
	// Degraded, when set, says above the content that the console itself
	// is running without its database (the session was checked earlier).
	Degraded string
	// Reads is the latest state of each system the page reads, shown
	// above the content so a page is honest about what it could not see.
	Reads []Tile
	// Kept is a form kept across a step-up, offered again above the
	// content of the page it was posted from.
	Kept *KeptForm
	// Scripts are the static scripts the page loads besides console.js
	// ("js/passkey.js"), set by the templates that need them.
	Scripts []string
}

// Flash is a one-line message with a kind: "ok", "error" or "" for none.
type Flash struct {
	Kind string
	Text string
}

// DBIdentity is the identity of the console's own database, never a password.
type DBIdentity struct {
	Host          string
	Database      string
	User          string
	ServerVersion string
	SystemID      string
	// Err is set when the identity could not be read.
	Err string
}

// Operator is the signed-in operator.
type Operator struct {
	ID    int64
	Email string
	Role  string
}

// NavItem is one entry of the main navigation.
type NavItem struct {
	Key   string
	Label string
	Path  string
}

// Tile is one system on the Overview.
type Tile struct {
	Key  string
	Name string
	// State is "not_configured", "ok", "error" or "pending".
	State string
	// StateLabel is the human text for State.
	StateLabel string
	// Detail is a short line about what was found (version, counts).
	Detail string
	// Err is the last error, redacted.
	Err string
	// Checked is how long ago the last check ran ("12s ago"), or "never".
	Checked string
	// Href links to the system's screen.
	Href string
}

// Alert is an open alert shown on the Overview.
type Alert struct {
	// Level is "warning" or "critical".
	Level string
	Text  string
	Href  string
	// Rule, Subject and Group are the alert's identity for the alert
	// engine (see internal/alerts); pages leave them empty.
	Rule    string
	Subject string
	Group   string
	// Members are the subjects a grouped alert lists.
	Members []string
	// ID is the stored alert's id (0 for a live, unstored alert); State
	// its state; Since when it fired; Acked and Silenced who handles it
	// and who quieted it, in words ("" when nobody).
	ID       int64
	State    string
	Since    string
	Acked    string
	Silenced string
	// Runbook is the rule's runbook, shown on /alerts (nil elsewhere).
	Runbook *Runbook
}

// AlertsView is the /alerts page.
type AlertsView struct {
	Open    []Alert
	History []AlertEvent
	// Notifications is the delivery state of the alert notifications.
	Notifications NotificationsView
	// CanAct is true for operators and admins.
	CanAct bool
	Err    string
	// Body, when set, is AlertsBody rendered once for every viewer.
	Body templ.Component
}

// AlertEvent is one line of the alerts' history.
type AlertEvent struct {
	At      string
	Kind    string
	Summary string
	Actor   string
	Note    string
}

// Overview is the Overview page.
type Overview struct {
	Tiles  []Tile
	Alerts []Alert
}

// Login is the login page.
type Login struct {
	Email string
	Error string
	Next  string
	// Password offers the email and password form; SSO names the
	// identity provider of the single sign-on button ("" when off).
	Password bool
	SSO      string
	// Notice is a message that is not an error ("Your password is set").
	Notice string
}

// AuditFilter is the audit page's filter form, as entered.
type AuditFilter struct {
	Operator string
	Action   string
	Target   string
	Result   string
	From     string
	To       string
}

// AuditRow is one audit event, formatted.
type AuditRow struct {
	ID        int64
	At        string
	Operator  string
	Role      string
	ClientIP  string
	Action    string
	Target    string
	Reason    string
	Result    string
	RequestID string
	Details   string
}

// Audit is the audit page.
type Audit struct {
	Filter AuditFilter
	Rows   []AuditRow
	// Error is a filter validation error shown above the table.
	Error string
	// NextURL pages to older events; empty on the last page.
	NextURL string
	// ExportURL downloads the filtered events as CSV.
	ExportURL string
	// Results lists the result values offered in the filter.
	Results []string
}

// OperatorRow is one operator on the operators page.
type OperatorRow struct {
	ID        int64
	Email     string
	Role      string
	Disabled  bool
	CreatedAt string
	LastLogin string
	Sessions  int
	// Self marks the signed-in admin's own row.
	Self bool
	// SignIn says how the operator can sign in; SecondFactor their
	// second factor. FactorMissing marks one their role requires and
	// they lack.
	SignIn        string
	SecondFactor  string
	HasFactor     bool
	FactorMissing bool
	// SessionRows are their live sessions, each endable.
	SessionRows []SessionRow
}

// PasswordLink is a one-time password link, shown once to the admin who
// issued it.
type PasswordLink struct {
	Email, URL, ValidFor string
}

// Operators is the operators page.
type Operators struct {
	Rows  []OperatorRow
	Roles []string
	// Error is a form error shown above the add form.
	Error string
	// NewEmail and NewRole keep the add form's values after an error.
	NewEmail string
	NewRole  string
	// Throttles are the sign-in throttles counting now; ThrottleErr says
	// why they could not be read.
	Throttles   []ThrottleRow
	ThrottleErr string
	// Password and SSO say which sign-ins are on; Created names an
	// operator just invited; Link is a password link just issued.
	Password bool
	SSO      bool
	Created  string
	Link     *PasswordLink
}

// ThrottleRow is one sign-in throttle counter on the Operators page.
type ThrottleRow struct {
	// Scope is "address", "account_address" or "account"; ScopeLabel says
	// it in words.
	Scope      string
	ScopeLabel string
	Email      string
	Address    string
	Failures   int
	// State is "blocking until 12:34:56Z" or "counting".
	State       string
	Blocking    bool
	LastFailure string
}

// ErrorPage is a full-page error.
type ErrorPage struct {
	Status  int
	Message string
}
