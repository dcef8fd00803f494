package views

// QueuesTenant is the page of one tenant's QStash messages in one region:
// its dead letters by label, its recent messages from QStash's logs by
// label, and the dead letters without the label that a bounded scan found
// by the forwarded tenant header. Each part says on its own when QStash
// could not be read for it.
type QueuesTenant struct {
	Slug    string
	Label   string
	Header  string
	Regions []Region
	Region  string
	// Err is set when QStash is not configured: no part is read.
	Err string

	// DLQ is the first page of dead letters with the label; DLQAllHref
	// opens the dead-letter list filtered to the label; DLQMore says the
	// list goes on there. DLQStale says the rows are a last good copy.
	DLQ        []DLQRow
	DLQErr     string
	DLQStale   string
	DLQMore    bool
	DLQAllHref string

	// Messages are the messages with the label in QStash's newest log
	// entries, one row each, latest change first; MessagesNote says how
	// far back they go.
	Messages     []TenantMessageRow
	MessagesErr  string
	MessagesNote string

	// Scan are the dead letters without the label whose forwarded tenant
	// header names the tenant; ScanNote says how many were scanned.
	Scan     []DLQRow
	ScanErr  string
	ScanNote string
}

// TenantMessageRow is one message of a tenant as its latest log entry
// shows it.
type TenantMessageRow struct {
	At        string // UTC
	MessageID string
	State     string
	// Status is the destination's HTTP status (0: none).
	Status int
	// URL is the destination, Error what QStash recorded and Labels the
	// message's labels: shown with their secrets masked.
	URL    string
	Queue  string
	Error  string
	Labels string
	// Href opens the message's dead letter when this page lists it.
	Href string
}
