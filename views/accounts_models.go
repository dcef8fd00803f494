package views

// AccountHit is one search result.
type AccountHit struct {
	Kind    string
	Label   string
	Detail  string
	Href    string
	Deleted bool
	Exact   bool
}

// Accounts is the account search page.
type Accounts struct {
	Query      string
	Reason     string
	NeedReason bool
	Error      string
	Searched   bool
	Hits       []AccountHit
}

// KV is one labelled value.
type KV struct {
	Label string
	Value string
	Flag  string // "", "warning" or "problem"
}

// DiagnosisLine is one line of the diagnosis checklist.
type DiagnosisLine struct {
	Name    string
	Verdict string
	Detail  string
}

// AccountPage is one user's or tenant's page.
type AccountPage struct {
	Kind       string // "user" or "tenant"
	ID         string
	User       []KV
	Tenant     []KV
	Workspaces []KV
	// WorkspaceRows are the newest workspaces; WorkspacesNote says how many
	// of how many are listed.
	WorkspaceRows  []AccountWorkspace
	WorkspacesNote string
	Duplicates     []AccountHit
	Cache          []KV
	Diagnosis      []DiagnosisLine
	Audit          []AuditRow
	TenantID       string
	TenantSlug     string
	Protected      bool
	ProtectKind    string
	ProtectID      string
	CanSupport     bool
	CanAdmin       bool
	// QStashHref opens the tenant's QStash messages (support and up, and
	// only for a slug QStash can label); QStashNote says why it is missing
	// for support.
	QStashHref string
	QStashNote string
	FormError  string
	Flash      string
}

// AccountWorkspace is one of a tenant's workspaces.
type AccountWorkspace struct {
	ID, Name, Created, Deleted string
}
