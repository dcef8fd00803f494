package views

// DLQSummary is the dead-letter summary page: each region's latest
// summary, read from the console's database.
type DLQSummary struct {
	// Err says why there is nothing to show (QStash not configured).
	Err     string
	Regions []DLQSummaryRegion
	// CanAct offers a purge preview per group (operators and above).
	CanAct bool
}

// DLQSummaryRegion is one region's latest summary.
type DLQSummaryRegion struct {
	Key   string // "eu", "us"
	Label string
	// ListHref is the region's unfiltered dead-letter list.
	ListHref string
	// Taken says when the summary was taken and how long ago; empty when
	// there is none yet (NotYet says why) or it could not be read (Err).
	Taken  string
	NotYet string
	Err    string
	// Scanned dead letters in Calls API calls; unless Complete the scan
	// stopped early (Stopped says why) and every count is a lower bound.
	Scanned    int
	Calls      int
	Complete   bool
	Stopped    string
	Dimensions []DLQSummaryDimension
}

// DLQSummaryDimension is one table of a summary: the largest groups of a
// dimension, and what the rest add up to.
type DLQSummaryDimension struct {
	Key   string // "queue", "url", "status", "label", "day"
	Title string
	// Note explains how the dimension counts, when it needs saying.
	Note   string
	Groups []DLQSummaryGroup
	// More groups hold MoreCount dead letters.
	More      int
	MoreCount int
}

// DLQSummaryGroup is one value of a dimension and its count, with the
// filtered dead-letter list it opens.
type DLQSummaryGroup struct {
	// Value is the group's value as QStash has it (untrusted text); Empty
	// names the group of dead letters without one.
	Value string
	Empty string
	Count int
	// Href is the dead-letter list filtered to the group; empty when no
	// filter selects exactly it (NoFilter says why).
	Href     string
	NoFilter string
	// Purge is the filter a purge preview of the group posts (nil: none,
	// or the viewer may not purge).
	Purge *DLQPurgeFilter
}

// DLQPurgeFilter is what a purge preview form posts: the same fields as
// the Queues page's purge form.
type DLQPurgeFilter struct {
	Region         string
	URL            string
	Queue          string
	Schedule       string
	ResponseStatus string
	Label          string
	From           string
	To             string
}
