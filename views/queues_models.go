package views

import "github.com/atum/ops-console/internal/secret"

// Masked replaces a secret in a header's value, a destination URL or a
// label, on every page and for every role.
const Masked = "[redacted]"

func mask(string) string { return Masked }

// ShownHeader is a header's value as any page may show it: all of it
// masked when the name marks a secret (Authorization, Cookie, X-Api-Key,
// also after Upstash-Forward-), else every credential in it (a bearer
// token, a URL password, ?token=…). See secret.MaskHeader.
func ShownHeader(name, value string) string { return secret.MaskHeader(name, value, mask) }

// ShownURL is a message's destination URL as any page may show it: its
// password, secret-named parameters and token-looking parts masked (a
// webhook's secret often sits in its path). See secret.Mask.
func ShownURL(u string) string { return secret.Mask("url", u, mask) }

// ShownText is free text from a message (its labels) as any page may show
// it, every credential in it masked. See secret.MaskText.
func ShownText(s string) string { return secret.MaskText(s, mask) }

// QueueRow is one QStash queue.
type QueueRow struct {
	Name        string
	Lag         int64
	Parallelism int
	Paused      bool
	Updated     string
	// Controllable says the name is one the pause and resume forms can
	// post (a queue name QStash would give).
	Controllable bool
}

// DLQFilter is the dead-letter filter form, as entered.
type DLQFilter struct {
	URL            string
	Queue          string
	Schedule       string
	ResponseStatus string
	Label          string
	From           string // YYYY-MM-DD
	To             string
}

// DLQRow is one dead letter in the list.
type DLQRow struct {
	DLQID          string
	MessageID      string
	URL            string
	Method         string
	Queue          string
	ResponseStatus int
	Created        string
	Labels         string
	// Href opens the message.
	Href string
}

// Region is a QStash region the console can reach.
type Region struct {
	Key    string // "eu", "us"
	Label  string
	Href   string
	Active bool
}

// Queues is the Queues page: queues, and the dead-letter queue with
// filters, cursor paging, retry and purge.
type Queues struct {
	Regions []Region
	Region  string
	// Sampled says how old the queue figures are; Err what failed.
	Sampled   string
	Err       string
	Queues    []QueueRow
	TotalLag  int64
	Filter    DLQFilter
	FilterErr string
	DLQ       []DLQRow
	DLQErr    string
	NextURL   string
	FirstURL  string
	CanAct    bool
	// Production asks for the queue's name typed before pausing or
	// resuming it.
	Production bool
	Purges     []PurgeRow
	// Approvals are the purges and retries waiting for a second
	// operator.
	Approvals  []ApprovalRow
	RateLimits string
	// Stale, when QStash could not be read now, says that the dead
	// letters listed are the page's last good copy and how old it is.
	Stale string
	// Count is the page size asked for ("" for the default), kept by the
	// filter and retry forms.
	Count string
}

// Header is one HTTP header.
type Header struct {
	Name  string
	Value string
}

// Body is a message body as the page shows it: text, or base64 when it
// is not UTF-8; cut after a limit with a link to the rest.
type Body struct {
	Text      string
	Base64    bool
	Truncated bool
	Size      int
	FullHref  string
}

// DLQMessage is one dead letter in full.
type DLQMessage struct {
	Region          string
	DLQID           string
	MessageID       string
	URL             string
	Method          string
	Queue           string
	Schedule        string
	Labels          string
	Headers         []Header
	Body            Body
	ResponseStatus  int
	ResponseHeaders []Header
	ResponseBody    Body
	MaxRetries      int
	Created         string
	NotBefore       string
	CallerIP        string
	CanAct          bool
	BackHref        string
	// ShowContent is set for support and above, once the view is audited:
	// header values (secrets masked) and bodies are shown. Without it
	// the page lists header names only, and ContentNote says why.
	ShowContent bool
	ContentNote string
	// Stale, when QStash could not be read now, says that this is the
	// dead letter's last good copy and how old it is.
	Stale string
	// Lifecycle is the message's state changes from QStash's logs, oldest
	// first (CREATED → ACTIVE → DELIVERED, or ERROR → RETRY → FAILED);
	// LifecycleNote says why they are missing when they are.
	Lifecycle     []LifecycleRow
	LifecycleNote string
}

// LifecycleRow is one state change of a message.
type LifecycleRow struct {
	At, State string
	// Status is the destination's HTTP status (0: none); Error is what
	// QStash recorded, secrets masked.
	Status int
	Error  string
}

// PurgeRow is one purge or bulk retry in the list of recent ones.
type PurgeRow struct {
	ID      int64
	Kind    string
	Href    string
	Region  string
	State   string
	Count   int
	Created string
	By      string
}
