package admin

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// handlerFunc is the shape of every handler: it writes a success itself
// and returns any failure, which writeError turns into problem+json.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// h adapts a handlerFunc to net/http.
func (a *Admin) h(f handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := f(w, r); err != nil {
			a.writeError(w, r, err)
		}
	}
}

// routes builds the router. openapi.go describes every route registered
// here, and a test keeps the two equal.
func (a *Admin) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(a.accessLog, a.recoverer)
	r.NotFound(a.h(func(w http.ResponseWriter, r *http.Request) error {
		return problemf(kindNotFound, "no such endpoint: %s", r.URL.Path)
	}))
	r.MethodNotAllowed(a.h(func(w http.ResponseWriter, r *http.Request) error {
		return problemf(kindMethodNotAllowed, "%s is not allowed on %s", r.Method, r.URL.Path)
	}))

	// Public: probes and scrapes.
	r.Get("/healthz", a.h(a.healthz))
	r.Get("/readyz", a.h(a.readyz))
	r.Method(http.MethodGet, "/metrics", a.metrics.Handler())

	r.Route("/api/v1", func(r chi.Router) {
		r.Use(noStore, a.limitBody)
		r.Post("/auth/login", a.h(a.login))

		r.Group(func(r chi.Router) {
			r.Use(a.authenticate)
			r.Get("/openapi.json", a.h(a.openapi))
			r.Get("/auth/me", a.h(a.me))
			r.Post("/auth/logout", a.h(a.logout))

			r.Get("/users", a.h(a.listUsers))
			r.Post("/users", a.h(a.createUser))
			r.Get("/users/{name}", a.h(a.getUser))
			r.Put("/users/{name}", a.h(a.replaceUser))
			r.Patch("/users/{name}", a.h(a.patchUser))
			r.Delete("/users/{name}", a.h(a.deleteUser))
			r.Post("/users/{name}/enable", a.h(a.enableUser(true)))
			r.Post("/users/{name}/disable", a.h(a.enableUser(false)))
			r.Put("/users/{name}/password", a.h(a.setPassword))
			r.Delete("/users/{name}/password", a.h(a.removePassword))
			r.Post("/users/{name}/keys", a.h(a.addKey))
			r.Delete("/users/{name}/keys/{fingerprint}", a.h(a.removeKey))
			r.Delete("/users/{name}/sessions", a.h(a.kickUser))

			r.Get("/sessions", a.h(a.listSessions))
			r.Delete("/sessions/{id}", a.h(a.kickSession))

			r.Get("/bans", a.h(a.listBans))
			r.Delete("/bans/{kind}/{key}", a.h(a.liftBan))

			r.Get("/backends", a.h(a.listBackends))
			r.Get("/nodes", a.h(a.listNodes))
		})
	})
	return r
}

// noStore keeps API answers (tokens among them) out of caches.
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// limitBody bounds request bodies to Config.MaxBody.
func (a *Admin) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBody)
		next.ServeHTTP(w, r)
	})
}
