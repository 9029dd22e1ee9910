package auth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/wharf-gw/wharf/auth"
	"github.com/wharf-gw/wharf/internal/testlog"
)

// cheap are argon2id costs that keep tests fast; the real default is
// measured by BenchmarkVerifyPassword.
var cheap = auth.Argon2Params{Memory: 8 * 1024, Time: 1, Threads: 1}

func openSQLite(t testing.TB) auth.Store {
	t.Helper()
	return openSQLiteAt(t, filepath.Join(t.TempDir(), "wharf.db"))
}

func openSQLiteAt(t testing.TB, path string) auth.Store {
	t.Helper()
	s, err := auth.OpenStore(context.Background(), auth.StoreConfig{Driver: "sqlite", DSN: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type env struct {
	store auth.Store
	auth  *auth.Authenticator
	log   *testlog.Buffer
}

func newEnv(t *testing.T, store auth.Store, cfg auth.DefenderConfig) *env {
	t.Helper()
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	d, err := auth.NewDefender(store, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.NewAuthenticator(store, d, cheap, log)
	if err != nil {
		t.Fatal(err)
	}
	return &env{store: store, auth: a, log: logs}
}

func noDelay() auth.DefenderConfig {
	c := auth.DefaultDefender()
	c.Delay, c.MaxDelay, c.MaxFailures = 0, 0, 1000
	return c
}

func addUser(t *testing.T, s auth.Store, name, password string, mutate ...func(*auth.User)) *auth.User {
	t.Helper()
	u := &auth.User{
		Name:    name,
		Enabled: true,
		Home:    auth.Home{Backend: "home", Prefix: "users/" + name + "/"},
		Rules:   []auth.Rule{{Pattern: "/", Perms: "*"}},
	}
	if password != "" {
		h, err := auth.HashPassword(password, cheap)
		if err != nil {
			t.Fatal(err)
		}
		u.PasswordHash = h
	}
	for _, m := range mutate {
		m(u)
	}
	if err := u.Validate([]string{"home", "shared"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

var client = auth.LoginInfo{Protocol: "ftp", Remote: netip.MustParseAddr("203.0.113.7")}

func TestPasswordLogin(t *testing.T) {
	e := newEnv(t, openSQLite(t), noDelay())
	addUser(t, e.store, "alice", "correct horse")
	addUser(t, e.store, "dora", "disabled pw", func(u *auth.User) { u.Enabled = false })
	addUser(t, e.store, "kim", "") // keys only
	ctx := context.Background()
	cases := []struct {
		user, password, reason string
	}{
		{"alice", "wrong", `reason="bad password"`},
		{"nobody", "correct horse", `reason="unknown user"`},
		{"dora", "disabled pw", `reason="user disabled"`},
		{"kim", "anything", `reason="no password set"`},
		{"alice", "", `reason="bad password"`},
	}
	for _, c := range cases {
		p, err := e.auth.Password(ctx, client, c.user, c.password)
		if !errors.Is(err, auth.ErrAuthFailed) || p != nil {
			t.Fatalf("%s/%q: got %v, %v; want ErrAuthFailed", c.user, c.password, p, err)
		}
		if err.Error() != auth.ErrAuthFailed.Error() {
			t.Fatalf("%s: the client would learn more than 'authentication failed': %q", c.user, err)
		}
		if !strings.Contains(e.log.String(), c.reason) {
			t.Fatalf("%s: log lacks %s:\n%s", c.user, c.reason, e.log.String())
		}
	}
	p, err := e.auth.Password(ctx, client, "alice", "correct horse")
	if err != nil || p.User != "alice" {
		t.Fatalf("good password: %v %v", p, err)
	}
	if m, rel := p.Policy.Resolve("/x/y"); m.Backend != "home" || m.Prefix != "users/alice/" || rel != "x/y" {
		t.Fatalf("principal's home: %+v %q", m, rel)
	}
}

func newKey(t *testing.T) (ssh.PublicKey, string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sp, string(ssh.MarshalAuthorizedKey(sp))
}

func TestPublicKeyLogin(t *testing.T) {
	e := newEnv(t, openSQLite(t), noDelay())
	good, line := newKey(t)
	other, _ := newKey(t)
	k, err := auth.ParseKey(line + " laptop")
	if err != nil {
		t.Fatal(err)
	}
	addUser(t, e.store, "kim", "", func(u *auth.User) { u.Keys = []auth.Key{k} })
	addUser(t, e.store, "off", "", func(u *auth.User) { u.Keys = []auth.Key{k}; u.Enabled = false })
	ctx := context.Background()
	if p, err := e.auth.PublicKey(ctx, client, "kim", good); err != nil || p.User != "kim" {
		t.Fatalf("known key: %v %v", p, err)
	}
	// Queries answer without counting anything.
	if !e.auth.HasKey(ctx, "kim", good) || e.auth.HasKey(ctx, "kim", other) || e.auth.HasKey(ctx, "off", good) || e.auth.HasKey(ctx, "nobody", good) {
		t.Fatal("HasKey answers wrongly")
	}
	if strings.Contains(e.log.String(), "login failed") {
		t.Fatalf("a key query was logged as a failed login:\n%s", e.log.String())
	}
	for _, c := range []struct {
		user string
		key  ssh.PublicKey
	}{{"kim", other}, {"nobody", good}, {"off", good}} {
		if _, err := e.auth.PublicKey(ctx, client, c.user, c.key); !errors.Is(err, auth.ErrAuthFailed) {
			t.Fatalf("%s: %v, want ErrAuthFailed", c.user, err)
		}
	}
}

// An unknown user costs what a known one does: no enumeration by timing.
func TestUnknownUserTiming(t *testing.T) {
	// A cost at which hashing dominates a login, as it does in production:
	// a missing dummy hash would make unknown users many times faster.
	costly := auth.Argon2Params{Memory: 32 * 1024, Time: 1, Threads: 1}
	store := openSQLite(t)
	d, err := auth.NewDefender(store, auth.DefenderConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.NewAuthenticator(store, d, costly, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := auth.HashPassword("pw", costly)
	addUser(t, store, "alice", "", func(u *auth.User) { u.PasswordHash = h })
	e := &env{store: store, auth: a}
	ctx := context.Background()
	// Interleaved, so that load on the machine weighs on both alike.
	var known, unknown []time.Duration
	for range 11 {
		for _, u := range []string{"alice", "nobody"} {
			t0 := time.Now()
			e.auth.Password(ctx, client, u, "wrong")
			if u == "alice" {
				known = append(known, time.Since(t0))
			} else {
				unknown = append(unknown, time.Since(t0))
			}
		}
	}
	median := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	r := float64(median(unknown)) / float64(median(known))
	if r < 0.4 || r > 2.5 {
		t.Fatalf("unknown user %v vs known user %v (ratio %.2f): timing tells them apart", median(unknown), median(known), r)
	}
}

func TestDefenderBansAcrossNodes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wharf.db")
	cfg := noDelay()
	cfg.MaxFailures = 3
	cfg.Allow = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	node1 := newEnv(t, openSQLiteAt(t, path), cfg)
	node2 := newEnv(t, openSQLiteAt(t, path), cfg) // a second node on the shared store
	addUser(t, node1.store, "alice", "pw")
	ctx := context.Background()
	for i := range 3 {
		_, err := node1.auth.Password(ctx, client, "alice", "guess")
		if i < 2 && !errors.Is(err, auth.ErrAuthFailed) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
		if i == 2 && !errors.Is(err, auth.ErrBanned) {
			t.Fatalf("failure %d: %v, want ErrBanned", i+1, err)
		}
	}
	if !strings.Contains(node1.log.String(), `msg="address banned" component=auth remote=203.0.113.7 `) {
		t.Fatalf("no ban line:\n%s", node1.log.String())
	}
	// The other node refuses the address, even with the right password.
	if err := node2.auth.Defender().Check(ctx, client.Remote); !errors.Is(err, auth.ErrBanned) {
		t.Fatalf("second node: %v, want ErrBanned", err)
	}
	if _, err := node2.auth.Password(ctx, client, "alice", "pw"); !errors.Is(err, auth.ErrBanned) {
		t.Fatalf("second node login: %v, want ErrBanned", err)
	}
	// Another address still gets in.
	if _, err := node2.auth.Password(ctx, auth.LoginInfo{Protocol: "sftp", Remote: netip.MustParseAddr("198.51.100.1")}, "alice", "pw"); err != nil {
		t.Fatalf("other address: %v", err)
	}
	// The allow list is never banned.
	trusted := auth.LoginInfo{Protocol: "ftp", Remote: netip.MustParseAddr("10.1.2.3")}
	for range 5 {
		node1.auth.Password(ctx, trusted, "alice", "guess")
	}
	if _, err := node1.auth.Password(ctx, trusted, "alice", "pw"); err != nil {
		t.Fatalf("allow-listed address: %v", err)
	}
	// Bans expire.
	bans, err := node2.store.ListBans(ctx, time.Now())
	if err != nil || len(bans) != 1 || bans[0].Key != "203.0.113.7" {
		t.Fatalf("bans: %v %v", bans, err)
	}
	later := time.Now().Add(cfg.BanTime + time.Minute)
	if _, err := node2.store.GetBan(ctx, auth.KindAddr, "203.0.113.7", later); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("ban after it expired: %v", err)
	}
	// Lifting a ban lets the address in at once.
	if err := node2.store.DeleteBan(ctx, auth.KindAddr, "203.0.113.7"); err != nil {
		t.Fatal(err)
	}
	if _, err := node1.auth.Password(ctx, client, "alice", "pw"); err != nil {
		t.Fatalf("after the ban was lifted: %v", err)
	}
}

// Each recent failure lengthens the answer to the next failed login.
func TestDefenderDelay(t *testing.T) {
	cfg := auth.DefaultDefender()
	cfg.Delay, cfg.MaxDelay, cfg.MaxFailures = 40*time.Millisecond, 100*time.Millisecond, 100
	e := newEnv(t, openSQLite(t), cfg)
	addUser(t, e.store, "alice", "pw")
	ctx := context.Background()
	var took []time.Duration
	for range 4 {
		t0 := time.Now()
		e.auth.Password(ctx, client, "alice", "guess")
		took = append(took, time.Since(t0))
	}
	// At least 40, 80, 100 (capped), 100 ms.
	for i, min := range []time.Duration{40, 80, 100, 100} {
		if took[i] < min*time.Millisecond {
			t.Fatalf("failure %d answered after %v, want at least %v ms", i+1, took[i], min)
		}
	}
	if took[3] > 2*time.Second {
		t.Fatalf("delay not capped: %v", took[3])
	}
}
