package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharf-gw/wharf/admin"
	"github.com/wharf-gw/wharf/auth"
)

var cheap = auth.Argon2Params{Memory: 8 * 1024, Time: 1, Threads: 1}

const adminPassword = "correct horse battery staple"

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// toggle is a check whose outcome a test sets.
type toggle struct {
	err   atomic.Pointer[error]
	calls atomic.Int32
	hang  atomic.Bool
}

func (c *toggle) set(err error) { c.err.Store(&err) }

func (c *toggle) run(ctx context.Context) error {
	c.calls.Add(1)
	if c.hang.Load() {
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // and answers late, as a stuck call might
		return ctx.Err()
	}
	if p := c.err.Load(); p != nil {
		return *p
	}
	return nil
}

// env is an admin API over a real SQLite store, served by httptest.
type env struct {
	t        *testing.T
	store    auth.Store
	registry *auth.Registry
	clock    *clock
	admin    *admin.Admin
	srv      *httptest.Server
	token    string // a valid admin token
	store0   *toggle
	backend  *toggle // the check of backend "local"
}

type envOptions struct {
	backends []string
	defender auth.DefenderConfig
	cfg      admin.Config
}

func newEnv(t *testing.T, opts ...func(*envOptions)) *env {
	t.Helper()
	o := envOptions{
		backends: []string{"local"},
		defender: auth.DefenderConfig{Enabled: true, MaxFailures: 3, Window: time.Minute, BanTime: time.Hour},
	}
	for _, f := range opts {
		f(&o)
	}
	ctx := context.Background()
	store, err := auth.OpenStore(ctx, auth.StoreConfig{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "wharf.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	def, err := auth.NewDefender(store, o.defender, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: store, registry: auth.NewRegistry(auth.RegistryLimits{}, nil),
		clock: &clock{t: time.Now()}, store0: &toggle{}, backend: &toggle{}}
	hash, err := auth.HashPassword(adminPassword, cheap)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateAdmin(ctx, &auth.Admin{Name: "root", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	secret, tok, err := auth.NewToken("root", "test", e.clock.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	e.token = secret
	e.admin, err = admin.New(o.cfg, admin.Deps{
		Store:    store,
		Sessions: e.registry,
		Defender: def,
		Argon2:   cheap,
		Backends: o.backends,
		Checks: []admin.Check{
			{Name: "sqlite", Kind: admin.CheckStore, Run: e.store0.run},
			{Name: "local", Kind: admin.CheckBackend, Run: e.backend.run},
		},
		Now: e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.admin.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

// answer is a response with its body read.
type answer struct {
	*http.Response
	body []byte
}

func (a answer) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("%s %s: decoding %q: %v", a.Request.Method, a.Request.URL.Path, a.body, err)
	}
}

func (a answer) problem(t *testing.T) admin.Problem {
	t.Helper()
	if ct := a.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("%s %s: Content-Type %q, want application/problem+json (status %d, body %s)",
			a.Request.Method, a.Request.URL.Path, ct, a.StatusCode, a.body)
	}
	var p admin.Problem
	a.json(t, &p)
	if p.Status != a.StatusCode || p.Title == "" || !strings.HasPrefix(p.Type, "urn:wharf:problem:") {
		t.Fatalf("%s %s: malformed problem %+v for status %d", a.Request.Method, a.Request.URL.Path, p, a.StatusCode)
	}
	return p
}

// do sends a request with the env's token. body is JSON-encoded unless it
// is a string (sent as it is) or nil. headers are name, value pairs;
// "Authorization", "" sends none.
func (e *env) do(method, path string, body any, headers ...string) answer {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return answer{Response: resp, body: b}
}

// want fails unless the answer has status.
func (a answer) want(t *testing.T, status int) answer {
	t.Helper()
	if a.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", a.Request.Method, a.Request.URL.Path, a.StatusCode, status, a.body)
	}
	return a
}

// openSession registers a logged-in session of user in the registry; a
// kick closes it.
func (e *env) openSession(protocol, user, remote string) *auth.Conn {
	e.t.Helper()
	var c *auth.Conn
	c, err := e.registry.Open(protocol, netip.MustParseAddrPort(remote), func() { c.Close() })
	if err != nil {
		e.t.Fatal(err)
	}
	if err := c.Login(user, 0); err != nil {
		e.t.Fatal(err)
	}
	return c
}

func TestNewRequiresDeps(t *testing.T) {
	if _, err := admin.New(admin.Config{}, admin.Deps{}); err == nil {
		t.Fatal("New without a store: no error")
	}
	e := newEnv(t)
	_, err := admin.New(admin.Config{}, admin.Deps{Store: e.store, Sessions: e.registry,
		Defender: &auth.Defender{}, Checks: []admin.Check{{Name: "x"}}})
	if err == nil || !strings.Contains(err.Error(), "Run") {
		t.Fatalf("New with a check without Run: %v", err)
	}
}
