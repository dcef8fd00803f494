package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestObserveQueries checks that the statements per request are exported
// by route, so that _sum over _count is the queries per page view.
func TestObserveQueries(t *testing.T) {
	m := New(Sources{})
	m.ObserveQueries("/cache", 4)
	m.ObserveQueries("/cache", 4)
	m.ObserveQueries("", 0)
	want := `
# HELP atum_http_request_db_queries Statements one request sent to the console's own database (BEGIN and COMMIT included), by route pattern; _sum over _count is the queries per page view.
# TYPE atum_http_request_db_queries histogram
atum_http_request_db_queries_bucket{route="(unmatched)",le="0"} 1
atum_http_request_db_queries_bucket{route="(unmatched)",le="1"} 1
atum_http_request_db_queries_bucket{route="(unmatched)",le="2"} 1
atum_http_request_db_queries_bucket{route="(unmatched)",le="3"} 1
atum_http_request_db_queries_bucket{route="(unmatched)",le="5"} 1
atum_http_request_db_queries_bucket{route="(unmatched)",le="8"} 1
atum_http_request_db_queries_bucket{route="(unmatched)",le="13"} 1
atum_http_request_db_queries_bucket{route="(unmatched)",le="21"} 1
atum_http_request_db_queries_bucket{route="(unmatched)",le="34"} 1
atum_http_request_db_queries_bucket{route="(unmatched)",le="55"} 1
atum_http_request_db_queries_bucket{route="(unmatched)",le="89"} 1
atum_http_request_db_queries_bucket{route="(unmatched)",le="+Inf"} 1
atum_http_request_db_queries_sum{route="(unmatched)"} 0
atum_http_request_db_queries_count{route="(unmatched)"} 1
atum_http_request_db_queries_bucket{route="/cache",le="0"} 0
atum_http_request_db_queries_bucket{route="/cache",le="1"} 0
atum_http_request_db_queries_bucket{route="/cache",le="2"} 0
atum_http_request_db_queries_bucket{route="/cache",le="3"} 0
atum_http_request_db_queries_bucket{route="/cache",le="5"} 2
atum_http_request_db_queries_bucket{route="/cache",le="8"} 2
atum_http_request_db_queries_bucket{route="/cache",le="13"} 2
atum_http_request_db_queries_bucket{route="/cache",le="21"} 2
atum_http_request_db_queries_bucket{route="/cache",le="34"} 2
atum_http_request_db_queries_bucket{route="/cache",le="55"} 2
atum_http_request_db_queries_bucket{route="/cache",le="89"} 2
atum_http_request_db_queries_bucket{route="/cache",le="+Inf"} 2
atum_http_request_db_queries_sum{route="/cache"} 8
atum_http_request_db_queries_count{route="/cache"} 2
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "atum_http_request_db_queries"); err != nil {
		t.Error(err)
	}
}
