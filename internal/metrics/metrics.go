// Package metrics exports the console's figures for Prometheus on a
// listener of its own (METRICS_ADDR), never on the public port. Platform
// figures are read at scrape time from what the console already holds:
// the watch monitor's states, the samplers' latest snapshots and the
// last Fly listing. A scrape never calls an upstream; it reads the
// console's own database for stored snapshots under a short deadline,
// and not at all while background sampling is paused.
package metrics

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/atum/ops-console/internal/serve"
)

// Path is where the metrics are served.
const Path = "/metrics"

// namespace prefixes every metric of the console.
const namespace = "atum"

// Metrics is the console's registry: the platform collector, the Go
// runtime and process collectors, and the console's own request and
// probe figures. It never uses Prometheus's global registry.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.HistogramVec
	probes   *prometheus.HistogramVec
	failures *prometheus.CounterVec
	queries  *prometheus.HistogramVec
}

// New returns the registry with every collector registered.
func New(src Sources) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "http_request_duration_seconds",
		Help:    "Time to answer a request on the public port, by route pattern, method and status class.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 1.5, 2.5, 5, 15, 60},
	}, []string{"route", "method", "status"})
	m.probes = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "probe_duration_seconds",
		Help:    "Time one background check of a watched system took.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2, 5, 10, 30},
	}, []string{"system"})
	m.failures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "probe_errors_total",
		Help: "Background checks of a watched system that failed or could not check it.",
	}, []string{"system"})
	m.queries = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "http_request_db_queries",
		Help:    "Statements one request sent to the console's own database (BEGIN and COMMIT included), by route pattern; _sum over _count is the queries per page view.",
		Buckets: []float64{0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89},
	}, []string{"route"})
	m.reg.MustRegister(m.requests, m.probes, m.failures, m.queries, newPlatform(src),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is the registry behind Handler, for tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveRequest records one answered request. route is the route
// pattern ("/queues/dlq/:id"), empty when no route matched.
func (m *Metrics) ObserveRequest(method, route string, status int, d time.Duration) {
	if route == "" {
		route = "(unmatched)"
	}
	m.requests.WithLabelValues(route, methodLabel(method), statusClass(status)).Observe(d.Seconds())
}

// ObserveQueries records the statements one request sent to the
// console's database. route is as for ObserveRequest.
func (m *Metrics) ObserveQueries(route string, queries int64) {
	if route == "" {
		route = "(unmatched)"
	}
	m.queries.WithLabelValues(route).Observe(float64(queries))
}

// ObserveProbe records one background check of a system.
func (m *Metrics) ObserveProbe(system string, d time.Duration, err error) {
	m.probes.WithLabelValues(system).Observe(d.Seconds())
	c := m.failures.WithLabelValues(system) // the series exists from the first check
	if err != nil {
		c.Inc()
	}
}

// methodLabel keeps the method label to the methods HTTP defines.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// statusClass is "2xx", "4xx" …, or "unknown".
func statusClass(s int) string {
	if s < 100 || s > 599 {
		return "unknown"
	}
	return strconv.Itoa(s/100) + "xx"
}

// Handler answers GET and HEAD /metrics and nothing else: no session,
// no other route of the console.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError, MaxRequestsInFlight: 4, Timeout: 10 * time.Second,
	}))
	return mux
}

// Serve answers on ln until ctx ends, then shuts down within a second.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	return serve.Until(ctx, &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}, ln, time.Second)
}
