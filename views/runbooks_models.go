package views

// Runbook is an alert rule's runbook as shown on /alerts and on its own
// page.
type Runbook struct {
	Rule    string
	Title   string
	Meaning string
	Causes  []string
	// Actions are the safe actions, the first to try first.
	Actions []RunbookLink
	// TeamURL is the team's own runbook for the rule, "" when none.
	TeamURL string
	// Path is the console's page for this runbook.
	Path string
}

// RunbookLink is one action of a runbook: what it does and where.
type RunbookLink struct {
	Label string
	Href  string
}
