// Package admin is wharf's HTTP control plane: the REST API under /api/v1
// (users, keys, sessions, bans, backends; admin bearer tokens), the
// OpenAPI document describing it, /healthz, /readyz and /metrics.
//
// Handlers decode the request, call a small interface (the identity store,
// the session registry, the defender, health checks) and encode the
// answer; they return errors, and one writer (problem.go) turns every
// error into an application/problem+json response. Nothing here knows a
// protocol or the storage layer: server hands in what is needed.
package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wharf-gw/wharf/auth"
)

// Store is what the admin API needs of the identity store; auth.Store
// has it.
type Store interface {
	CreateUser(ctx context.Context, u *auth.User) error
	GetUser(ctx context.Context, name string) (*auth.User, error)
	UpdateUser(ctx context.Context, u *auth.User) error
	DeleteUser(ctx context.Context, name string) error
	ListUsers(ctx context.Context, prefix, after string, limit int) ([]*auth.User, error)

	GetAdmin(ctx context.Context, name string) (*auth.Admin, error)
	CreateToken(ctx context.Context, t *auth.Token) error
	GetToken(ctx context.Context, id string) (*auth.Token, error)
	DeleteToken(ctx context.Context, id string) error

	ListNodes(ctx context.Context) ([]*auth.Node, error)

	ListBans(ctx context.Context, now time.Time) ([]*auth.Ban, error)
	DeleteBan(ctx context.Context, kind, key string) error
	ClearFailures(ctx context.Context, kind, key string) error
}

// Sessions is this node's session table; *auth.Registry is one.
type Sessions interface {
	List() []auth.SessionInfo
	Kick(id uint64) bool
	KickUser(user string) int
	Draining() bool
}

// Defender slows and bans password guessing; *auth.Defender is one.
type Defender interface {
	Check(ctx context.Context, addr netip.Addr) error
	Failure(ctx context.Context, li auth.LoginInfo, user, reason string) error
	Success(ctx context.Context, addr netip.Addr)
}

var (
	_ Store    = auth.Store(nil)
	_ Sessions = (*auth.Registry)(nil)
	_ Defender = (*auth.Defender)(nil)
)

// Config tunes the admin API. The zero value is usable: every zero field
// takes its default.
type Config struct {
	// LoginTTL is the lifetime of the tokens POST /api/v1/auth/login
	// issues (default 1h).
	LoginTTL time.Duration
	// CheckTimeout bounds each readiness check (default 2s).
	CheckTimeout time.Duration
	// CheckCache is how long readiness results are reused (default 2s).
	// /readyz turns 503 at most CheckCache+CheckTimeout after a check
	// starts failing.
	CheckCache time.Duration
	// NodeStale is how old a node's last heartbeat may be for the node to
	// count as alive (default 30s).
	NodeStale time.Duration
	// MaxBody bounds request bodies (default 1 MiB).
	MaxBody int64
	// PageLimit is the default page size of lists (default 100), MaxPage
	// the largest a client may ask for (default 1000).
	PageLimit, MaxPage int
}

func (c Config) withDefaults() Config {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.LoginTTL, time.Hour)
	def(&c.CheckTimeout, 2*time.Second)
	def(&c.CheckCache, 2*time.Second)
	def(&c.NodeStale, 30*time.Second)
	if c.MaxBody <= 0 {
		c.MaxBody = 1 << 20
	}
	if c.PageLimit <= 0 {
		c.PageLimit = 100
	}
	if c.MaxPage <= 0 {
		c.MaxPage = 1000
	}
	c.PageLimit = min(c.PageLimit, c.MaxPage)
	return c
}

// Deps are what server hands the admin API.
type Deps struct {
	Store    Store    // required
	Sessions Sessions // required: this node's registry
	Defender Defender // required: failed admin logins go through it
	// Argon2 is the cost of new password hashes (zero: auth.DefaultArgon2).
	Argon2 auth.Argon2Params
	// Backends are the configured backend names; users may only name
	// these. nil skips the check.
	Backends []string
	// Checks decide readiness: the store, every backend's round trip, the
	// listeners.
	Checks []Check
	// Metrics are served at /metrics; nil makes a fresh set over Sessions.
	Metrics *Metrics
	Log     *slog.Logger     // nil: discard
	Now     func() time.Time // nil: time.Now
}

// Admin is the admin API of one node.
type Admin struct {
	cfg      Config
	store    Store
	sessions Sessions
	defender Defender
	argon2   auth.Argon2Params
	backends []string
	metrics  *Metrics
	ready    *readiness
	log      *slog.Logger
	now      func() time.Time
	dummy    string        // hash verified for unknown admins, so they cost the same
	hashing  chan struct{} // bounds the password hashes computed at once
	router   chi.Router
	// openapiDoc is the encoded OpenAPI document.
	openapiDoc []byte
}

// New returns the admin API over deps.
func New(cfg Config, deps Deps) (*Admin, error) {
	switch {
	case deps.Store == nil:
		return nil, errors.New("admin: Deps.Store is required")
	case deps.Sessions == nil:
		return nil, errors.New("admin: Deps.Sessions is required")
	case deps.Defender == nil:
		return nil, errors.New("admin: Deps.Defender is required")
	}
	for _, c := range deps.Checks {
		if c.Name == "" || c.Run == nil {
			return nil, errors.New("admin: every check needs a Name and a Run function")
		}
	}
	a := &Admin{
		cfg:      cfg.withDefaults(),
		store:    deps.Store,
		sessions: deps.Sessions,
		defender: deps.Defender,
		argon2:   deps.Argon2,
		backends: deps.Backends,
		metrics:  deps.Metrics,
		log:      deps.Log,
		now:      deps.Now,
		hashing:  make(chan struct{}, 2*runtime.GOMAXPROCS(0)),
	}
	if a.argon2 == (auth.Argon2Params{}) {
		a.argon2 = auth.DefaultArgon2()
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.log = a.log.With("component", "admin")
	if a.now == nil {
		a.now = time.Now
	}
	if a.metrics == nil {
		a.metrics = NewMetrics(deps.Sessions, nil)
	}
	var err error
	if a.dummy, err = auth.HashPassword("wharf-admin-dummy-password", a.argon2); err != nil {
		return nil, err
	}
	if a.openapiDoc, err = openapiJSON(); err != nil {
		return nil, err
	}
	a.ready = newReadiness(deps.Checks, a.cfg.CheckTimeout, a.cfg.CheckCache, a.now, a.log)
	a.router = a.routes()
	return a, nil
}

// Handler returns the HTTP handler of the whole admin listener.
func (a *Admin) Handler() http.Handler { return a.router }

// Metrics returns the metrics the rest of wharf counts into.
func (a *Admin) Metrics() *Metrics { return a.metrics }
