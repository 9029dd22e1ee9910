package admin

import (
	"fmt"
	"net/http"
	"time"
)

// statusWriter remembers the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// accessLog logs every request: changes (and refusals of them) at info
// level with the admin who made them, the rest at debug level.
func (a *Admin) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		// The authenticated caller is known only inside; the holder
		// lets authenticate report it back out.
		holder := &caller{}
		next.ServeHTTP(sw, r.WithContext(withCallerHolder(r.Context(), holder)))
		level := a.log.Debug
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			level = a.log.Info
		}
		level("admin request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"admin", holder.Admin, "remote", r.RemoteAddr, "duration", time.Since(start).Round(time.Microsecond))
	})
}

// recoverer turns a panic in a handler into a 500 problem.
func (a *Admin) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.writeError(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
