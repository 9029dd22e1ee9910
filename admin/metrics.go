package admin

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wharf-gw/wharf/auth"
)

// SessionLister lists this node's sessions; *auth.Registry is one.
type SessionLister interface {
	List() []auth.SessionInfo
}

// Budget is the upload memory budget; *storage.Budget is one.
type Budget interface {
	Limit() int64
	InUse() int64
}

// Metrics are wharf's Prometheus metrics, in a registry of their own (the
// global default registry is never used). The counting methods are safe
// for concurrent use and do nothing on a nil *Metrics. Label values must
// come from small fixed sets (protocol names, operation names, error
// kinds), never from clients.
type Metrics struct {
	reg           *prometheus.Registry
	logins        *prometheus.CounterVec
	transfers     *prometheus.CounterVec
	transferBytes *prometheus.CounterVec
	operations    *prometheus.HistogramVec
	backendCalls  *prometheus.HistogramVec
	backendErrors *prometheus.CounterVec
	errors        *prometheus.CounterVec
	bans          prometheus.Counter
}

// NewMetrics makes the metrics, with the Go runtime and process
// collectors, wharf_sessions read from sessions at each scrape, and the
// upload budget gauges when budget is not nil.
func NewMetrics(sessions SessionLister, budget Budget) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wharf_logins_total",
			Help: "Logins by protocol and result (ok, failed, banned)."}, []string{"protocol", "result"}),
		transfers: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wharf_transfers_total",
			Help: "Completed file transfers by protocol and direction (upload, download)."}, []string{"protocol", "direction"}),
		transferBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wharf_transfer_bytes_total",
			Help: "Bytes of file transfers by protocol and direction (upload, download)."}, []string{"protocol", "direction"}),
		operations: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wharf_operation_duration_seconds",
			Help: "Latency of protocol operations (list, stat, open, rename, ...).", Buckets: latencyBuckets},
			[]string{"protocol", "op"}),
		backendCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wharf_backend_call_duration_seconds",
			Help: "Latency of backend (bucket) calls by operation.", Buckets: latencyBuckets}, []string{"op"}),
		backendErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wharf_backend_call_errors_total",
			Help: "Failed backend (bucket) calls by operation."}, []string{"op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wharf_errors_total",
			Help: "Errors returned to clients by protocol and kind (not_found, permission, unavailable, ...)."},
			[]string{"protocol", "kind"}),
		bans: prometheus.NewCounter(prometheus.CounterOpts{Name: "wharf_bans_total",
			Help: "Addresses banned by this node's defender."}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.logins, m.transfers, m.transferBytes, m.operations, m.backendCalls, m.backendErrors, m.errors, m.bans,
	)
	if sessions != nil {
		m.reg.MustRegister(newSessionCollector(sessions))
	}
	if budget != nil {
		m.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wharf_upload_budget_bytes",
				Help: "Memory all uploads together may use for buffers."}, func() float64 { return float64(budget.Limit()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "wharf_upload_budget_used_bytes",
				Help: "Memory uploads use for buffers now."}, func() float64 { return float64(budget.InUse()) }),
		)
	}
	return m
}

var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, ErrorHandling: promhttp.ContinueOnError})
}

// Registry is the registry the metrics are in, for server to add more
// collectors (database pool statistics, say).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Login counts a login of protocol ("ftp", "ftps", "sftp", "admin") with
// result "ok", "failed" or "banned".
func (m *Metrics) Login(protocol, result string) {
	if m != nil {
		m.logins.WithLabelValues(protocol, result).Inc()
	}
}

// Transfer counts a finished transfer of n bytes in direction "upload" or
// "download".
func (m *Metrics) Transfer(protocol, direction string, n int64) {
	if m != nil {
		m.transfers.WithLabelValues(protocol, direction).Inc()
		m.TransferBytes(protocol, direction, n)
	}
}

// TransferBytes counts bytes of a transfer still running (call Transfer
// with 0 when it ends), so that long transfers show as they go.
func (m *Metrics) TransferBytes(protocol, direction string, n int64) {
	if m != nil && n > 0 {
		m.transferBytes.WithLabelValues(protocol, direction).Add(float64(n))
	}
}

// Operation records how long a protocol operation ("list", "stat",
// "rename", ...) took.
func (m *Metrics) Operation(protocol, op string, d time.Duration) {
	if m != nil {
		m.operations.WithLabelValues(protocol, op).Observe(d.Seconds())
	}
}

// BackendCall records how long a backend call ("get", "put", "list",
// "copy", "delete", ...) took, and counts it as failed if err is not nil.
func (m *Metrics) BackendCall(op string, d time.Duration, err error) {
	if m != nil {
		m.backendCalls.WithLabelValues(op).Observe(d.Seconds())
		if err != nil {
			m.backendErrors.WithLabelValues(op).Inc()
		}
	}
}

// Error counts an error of kind ("not_found", "permission",
// "unavailable", ...) returned to a client of protocol.
func (m *Metrics) Error(protocol, kind string) {
	if m != nil {
		m.errors.WithLabelValues(protocol, kind).Inc()
	}
}

// Ban counts an address banned by the defender.
func (m *Metrics) Ban() {
	if m != nil {
		m.bans.Inc()
	}
}

// sessionCollector reports wharf_sessions{protocol} from the registry at
// each scrape. A protocol once seen (and the usual ones) keeps a series,
// at 0 when idle, so that it never vanishes.
type sessionCollector struct {
	sessions SessionLister
	desc     *prometheus.Desc

	mu   sync.Mutex
	seen map[string]bool
}

func newSessionCollector(s SessionLister) *sessionCollector {
	return &sessionCollector{sessions: s,
		desc: prometheus.NewDesc("wharf_sessions", "Sessions open on this node by protocol.", []string{"protocol"}, nil),
		seen: map[string]bool{"ftp": true, "ftps": true, "sftp": true}}
}

func (c *sessionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *sessionCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[string]int{}
	for _, s := range c.sessions.List() {
		counts[s.Protocol]++
	}
	c.mu.Lock()
	for p := range counts {
		c.seen[p] = true
	}
	protocols := make([]string, 0, len(c.seen))
	for p := range c.seen {
		protocols = append(protocols, p)
	}
	c.mu.Unlock()
	for _, p := range protocols {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[p]), p)
	}
}
