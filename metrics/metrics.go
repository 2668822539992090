// Package metrics is sluice's Prometheus instrumentation: what an operator
// of several instances watches (grants, completes, rejections by code,
// bytes proxied, request latency by route, identity key refreshes).
//
// A Metrics has a registry of its own rather than Prometheus's global one,
// so that two servers in one process (the multi-instance tests) do not
// collide, and /metrics shows exactly sluice's series plus the Go runtime's.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluicehq/sluice"
)

// Metrics holds sluice's series. Build it with New; it is safe for
// concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	grants   *prometheus.CounterVec   // by method
	finished *prometheus.CounterVec   // by state and reject code
	rejects  *prometheus.CounterVec   // API error answers, by code
	latency  *prometheus.HistogramVec // by route pattern, method and status
	jwks     *prometheus.CounterVec   // by issuer and result
	// BytesProxied counts upload bytes that passed through sluice itself
	// (proxy and resumable uploads) rather than straight to the store.
	// Add to it as the bytes are written to the store.
	BytesProxied prometheus.Counter
	// store counts the embedded store's requests by S3 operation (empty
	// with an external store, which counts its own).
	store *prometheus.CounterVec
}

var _ sluice.Observer = (*Metrics)(nil)

// New returns a Metrics with every series registered and at zero.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		grants: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_grants_issued_total",
			Help: "Upload grants issued (presigned URLs handed out), by method.",
		}, []string{"method"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_grants_finished_total",
			Help: "Grants that left pending: state complete, rejected (with the reject code) or expired.",
		}, []string{"state", "code"}),
		rejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_http_rejects_total",
			Help: "API requests answered with an error, by error code.",
		}, []string{"code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "sluice_http_request_duration_seconds",
			Help: "API request latency, by route pattern, method and HTTP status.",
			// From a cached-token grant (~1 ms) to a slow complete that
			// hashes a large object.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method", "status"}),
		jwks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_jwks_refreshes_total",
			Help: "Fetches of an issuer's signing keys (JWKS), by issuer and result (ok or error).",
		}, []string{"issuer", "result"}),
		BytesProxied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sluice_proxied_bytes_total",
			Help: "Upload bytes that passed through sluice to the store.",
		}),
		store: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_store_requests_total",
			Help: "Requests the embedded store served, by S3 operation (PutObject, HeadObject, GetObjectRange, UploadPart, ...), including sluice's in-process writes.",
		}, []string{"op"}),
	}
	m.reg.MustRegister(m.grants, m.finished, m.rejects, m.latency, m.jwks, m.BytesProxied, m.store,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The methods and states a dashboard plots exist from the start, so a
	// rate() over them is 0 rather than "no data" on a fresh instance.
	for _, method := range []string{sluice.MethodPUT, sluice.MethodPOST} {
		m.grants.WithLabelValues(method)
	}
	m.finished.WithLabelValues(string(sluice.GrantComplete), "")
	m.finished.WithLabelValues(string(sluice.GrantExpired), "")
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is where the series live, for tests and for callers that add
// series of their own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// GrantIssued counts a recorded grant.
func (m *Metrics) GrantIssued(g *sluice.Grant) { m.grants.WithLabelValues(g.Method).Inc() }

// GrantFinished counts a grant leaving pending.
func (m *Metrics) GrantFinished(g *sluice.Grant) {
	m.finished.WithLabelValues(string(g.State), string(g.RejectCode)).Inc()
}

// ObserveRequest records one API request: its latency under the route
// pattern that matched (never the raw path, whose IDs would make a series
// per upload) and, when it failed, its error code.
func (m *Metrics) ObserveRequest(route, method string, status int, code sluice.Code, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.latency.WithLabelValues(route, method, strconv.Itoa(status)).Observe(d.Seconds())
	if code != "" {
		m.rejects.WithLabelValues(string(code)).Inc()
	}
}

// KeysFetched counts one fetch of an issuer's keys; err is its outcome.
func (m *Metrics) KeysFetched(issuer string, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.jwks.WithLabelValues(issuer, result).Inc()
}

// StoreRequest counts one request the embedded store served, by S3
// operation: what the same upload would cost in requests on a hosted store
// (docs/COST.md).
func (m *Metrics) StoreRequest(op string) { m.store.WithLabelValues(op).Inc() }
