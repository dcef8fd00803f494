package views

// Purge is one bulk action on frozen dead letters, a purge or a retry:
// its preview, confirmation, approval, progress and result.
type Purge struct {
	ID int64
	// Kind is "purge" or "retry".
	Kind    string
	Region  string
	Filters []Header // name/value pairs of the filters used
	// State is "previewed", "awaiting_approval", "running", "paused",
	// "done", "discarded", "undone", "rejected" or "expired".
	State     string
	StateNote string
	Count     int
	Sample    []DLQRow
	Created   string
	CreatedBy string
	// NeedTyped is set when the count must be typed to confirm (> 50).
	NeedTyped bool
	CanAct    bool
	FormError string
	// Flash says what the last action did ("" for nothing).
	Flash string
	// Overrides are the headers a retry sends (confirmed) and
	// OverrideFields the inputs to set them (previewed retry).
	Overrides      []Header
	OverrideFields []OverrideField
	// Approval: NeedsApproval says the confirmation will wait for a
	// second operator (ApprovalRule says when that is needed);
	// RequestedBy, Expires, ApprovedBy and RejectedBy describe the
	// request; CanApprove is set for an operator other than the
	// requester, OwnRequest for the requester.
	NeedsApproval bool
	ApprovalRule  string
	RequestedBy   string
	Expires       string
	ApprovedBy    string
	RejectedBy    string
	CanApprove    bool
	OwnRequest    bool
	// Result counts.
	Deleted  int
	Retried  int
	Gone     int
	Failed   int
	Pending  int
	Undone   int
	APICalls int
	Elapsed  string
	// Failures lists failed retries (dead-letter id, why).
	Failures []Header
	// CanResume, CanUndo show those buttons; ArchivePruned says the
	// message copies are gone (no undo, no sample bodies).
	CanResume     bool
	CanUndo       bool
	ArchivePruned bool
	Refresh       bool
}

// OverrideField is one header a retry may override, with its form name,
// a hint of its form and the value typed so far.
type OverrideField struct {
	Header string
	Name   string
	Hint   string
	Value  string
}

// ApprovalRow is a bulk action waiting for a second operator, listed on
// the queues page.
type ApprovalRow struct {
	ID          int64
	Href        string
	Kind        string
	Region      string
	Count       int
	RequestedBy string
	Expires     string
	Own         bool
}
