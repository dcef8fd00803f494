package views

// QueueRow is one QStash queue.
type QueueRow struct {
	Name        string
	Lag         int64
	Parallelism int
	Paused      bool
	Updated     string
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
	Sampled    string
	Err        string
	Queues     []QueueRow
	TotalLag   int64
	Filter     DLQFilter
	FilterErr  string
	DLQ        []DLQRow
	DLQErr     string
	NextURL    string
	FirstURL   string
	CanAct     bool
	Purges     []PurgeRow
	RateLimits string
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
}

// PurgeRow is one purge in the list of recent purges.
type PurgeRow struct {
	ID      int64
	Href    string
	Region  string
	State   string
	Count   int
	Created string
	By      string
}

// Purge is one purge: its preview, confirmation, progress and result.
type Purge struct {
	ID      int64
	Region  string
	Filters []Header // name/value pairs of the filters used
	// State is "previewed", "confirmed", "running", "paused", "done",
	// "failed" or "undone".
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
	// Result counts.
	Deleted  int
	Gone     int
	Failed   int
	Pending  int
	Undone   int
	APICalls int
	Elapsed  string
	// CanResume, CanUndo show those buttons.
	CanResume bool
	CanUndo   bool
	Refresh   bool
}
