package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Check kinds. A check of kind CheckBackend is named after its backend
// and also answers GET /api/v1/backends.
const (
	CheckStore    = "store"
	CheckBackend  = "backend"
	CheckListener = "listener"
)

// Check is one condition of readiness: the store answers, a backend
// answers a real round trip, a listener accepts.
type Check struct {
	Name string // "sqlite", "local", "ftp :2121"
	Kind string // CheckStore, CheckBackend, CheckListener, or another word
	// Run returns nil when the condition holds. It should honour ctx;
	// one that does not is reported as timed out all the same.
	Run func(ctx context.Context) error
}

// CheckResult is the outcome of a Check.
type CheckResult struct {
	Name     string    `json:"name"`
	Kind     string    `json:"kind,omitempty"`
	OK       bool      `json:"ok"`
	Error    string    `json:"error,omitempty"`
	Duration float64   `json:"duration_seconds"`
	Checked  time.Time `json:"checked"`
}

// readiness runs the checks, each bounded by timeout, and reuses the
// results for up to cache.
type readiness struct {
	checks  []Check
	timeout time.Duration
	cache   time.Duration
	now     func() time.Time
	log     *slog.Logger

	mu   sync.Mutex // held while the checks run: one run at a time
	last []CheckResult
	at   time.Time
}

func newReadiness(checks []Check, timeout, cache time.Duration, now func() time.Time, log *slog.Logger) *readiness {
	return &readiness{checks: checks, timeout: timeout, cache: cache, now: now, log: log}
}

// results returns the results of every check, at most cache old. The
// checks do not end with ctx: their results are shared with the callers
// after this one.
func (rd *readiness) results(ctx context.Context) []CheckResult {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.last != nil && rd.now().Sub(rd.at) < rd.cache {
		return rd.last
	}
	out := make([]CheckResult, len(rd.checks))
	var wg sync.WaitGroup
	for i, c := range rd.checks {
		wg.Go(func() { out[i] = rd.run(context.WithoutCancel(ctx), c) })
	}
	wg.Wait()
	for i, r := range out {
		was := rd.last == nil || rd.last[i].OK
		switch {
		case !r.OK && was:
			rd.log.Warn("readiness check failed", "check", r.Name, "kind", r.Kind, "err", r.Error)
		case r.OK && !was:
			rd.log.Info("readiness check passes again", "check", r.Name, "kind", r.Kind)
		}
	}
	rd.last, rd.at = out, rd.now()
	return out
}

func (rd *readiness) run(ctx context.Context, c Check) CheckResult {
	ctx, cancel := context.WithTimeout(ctx, rd.timeout)
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	r := CheckResult{Name: c.Name, Kind: c.Kind, OK: err == nil, Duration: time.Since(start).Seconds(), Checked: rd.now().UTC()}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		r.Error = "timed out after " + rd.timeout.String()
	case err != nil:
		r.Error = err.Error()
	}
	return r
}

// healthz answers 200 while the process serves HTTP at all.
func (a *Admin) healthz(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyStatus is the body of /readyz. Errors are left out (the endpoint
// is public): GET /api/v1/backends and the log have them.
type readyStatus struct {
	Ready    bool          `json:"ready"`
	Draining bool          `json:"draining"`
	Failed   []string      `json:"failed"` // "draining" or "KIND NAME"
	Checks   []CheckResult `json:"checks"`
}

// readyz answers 200 when this node should get new clients: it is not
// draining and every check passes. Draining answers 503 at once.
func (a *Admin) readyz(w http.ResponseWriter, r *http.Request) error {
	st := readyStatus{Ready: true, Failed: []string{}, Checks: []CheckResult{}}
	if a.sessions.Draining() {
		st.Ready, st.Draining, st.Failed = false, true, []string{"draining"}
		return writeJSON(w, http.StatusServiceUnavailable, st)
	}
	for _, c := range a.ready.results(r.Context()) {
		if !c.OK {
			st.Ready = false
			st.Failed = append(st.Failed, c.label())
			c.Error = "failed"
		}
		st.Checks = append(st.Checks, c)
	}
	if !st.Ready {
		return writeJSON(w, http.StatusServiceUnavailable, st)
	}
	return writeJSON(w, http.StatusOK, st)
}

// label names a check in /readyz: "backend local", "store".
func (c CheckResult) label() string {
	if c.Kind == "" || c.Kind == c.Name {
		return c.Name
	}
	return c.Kind + " " + c.Name
}

// backendStatus is a configured backend and its latest check.
type backendStatus struct {
	Name  string       `json:"name"`
	Check *CheckResult `json:"check"` // null when no check covers it
}

type backendList struct {
	Backends []backendStatus `json:"backends"`
}

// listBackends lists the configured backends with their reachability,
// checked live (or at most Config.CheckCache ago).
func (a *Admin) listBackends(w http.ResponseWriter, r *http.Request) error {
	results := map[string]CheckResult{}
	var order []string
	for _, c := range a.ready.results(r.Context()) {
		if c.Kind == CheckBackend {
			results[c.Name] = c
			order = append(order, c.Name)
		}
	}
	out := backendList{Backends: []backendStatus{}}
	seen := map[string]bool{}
	for _, name := range append(append([]string{}, a.backends...), order...) {
		if seen[name] {
			continue
		}
		seen[name] = true
		b := backendStatus{Name: name}
		if c, ok := results[name]; ok {
			b.Check = &c
		}
		out.Backends = append(out.Backends, b)
	}
	return writeJSON(w, http.StatusOK, out)
}
