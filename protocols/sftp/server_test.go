package sftp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/wharf-gw/wharf/auth"
)

func TestAuthMethods(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{file: true})
	signer, _ := userKey(t)
	other, _ := userKey(t)
	e.addUser("alice", "pw", withKey(signer.PublicKey()))
	e.addUser("kim", "", withKey(signer.PublicKey())) // keys only

	ok := func(what, user string, m ssh.AuthMethod) {
		t.Helper()
		c, err := e.dial(user, m)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		sc, err := sftp.NewClient(c)
		if err != nil {
			t.Fatalf("%s: sftp: %v", what, err)
		}
		if _, err := sc.ReadDir("/"); err != nil {
			t.Fatalf("%s: list: %v", what, err)
		}
		sc.Close()
		c.Close()
	}
	fail := func(what, user string, m ssh.AuthMethod) {
		t.Helper()
		if c, err := e.dial(user, m); err == nil {
			c.Close()
			t.Fatalf("%s: logged in", what)
		}
	}
	ok("password", "alice", ssh.Password("pw"))
	ok("public key", "alice", ssh.PublicKeys(signer))
	ok("public key, keys-only user", "kim", ssh.PublicKeys(signer))
	ok("keyboard-interactive", "alice", ssh.KeyboardInteractive(
		func(user, instruction string, questions []string, echos []bool) ([]string, error) {
			if len(questions) != 1 || echos[0] {
				return nil, errors.New("unexpected challenge")
			}
			return []string{"pw"}, nil
		}))
	// The client offers its keys in turn: a wrong one first is fine.
	ok("second key offered", "alice", ssh.PublicKeys(other, signer))

	fail("bad password", "alice", ssh.Password("nope"))
	fail("unknown user", "bob", ssh.Password("pw"))
	fail("unknown key", "alice", ssh.PublicKeys(other))
	fail("password of a keys-only user", "kim", ssh.Password(""))
	fail("bad keyboard-interactive", "alice", ssh.KeyboardInteractive(
		func(string, string, []string, []bool) ([]string, error) { return []string{"nope"}, nil }))
	if !contains(e.logs.String(), `msg="login failed" component=auth remote=127.0.0.1 protocol=sftp user=alice reason="bad password"`) {
		t.Errorf("no defender line for the failed login:\n%s", e.logs.String())
	}
}

// After too many failures the address is banned: its next connection is
// refused even with the right password.
func TestBan(t *testing.T) {
	t.Parallel()
	dc := auth.DefaultDefender()
	dc.MaxFailures, dc.Delay, dc.MaxDelay = 3, 0, 0
	e := newEnv(t, envOpts{file: true, defender: &dc})
	e.addUser("alice", "pw")
	// Two failures on one connection, one on another.
	_, err := e.dial("alice", ssh.RetryableAuthMethod(ssh.Password("bad"), 2))
	if err == nil {
		t.Fatal("logged in with a bad password")
	}
	if _, err := e.dial("alice", ssh.Password("bad")); err == nil {
		t.Fatal("logged in with a bad password")
	}
	if !contains(e.logs.String(), `msg="address banned"`) {
		t.Fatalf("no ban:\n%s", e.logs.String())
	}
	if c, err := e.dial("alice", ssh.Password("pw")); err == nil {
		c.Close()
		t.Fatal("a banned address logged in")
	}
	if !contains(e.logs.String(), `msg="connection refused" component=sftp remote=127.0.0.1:`) {
		t.Errorf("the banned connection was not refused at connect:\n%s", e.logs.String())
	}
}

// A connection that ends without logging in after its keys were turned
// down counts one failure, whatever the number of keys it offered, and
// none when a later key or the password logs it in: guessing users or keys
// gets banned, an agent holding other keys first does not.
func TestBanKeys(t *testing.T) {
	t.Parallel()
	dc := auth.DefaultDefender()
	dc.MaxFailures, dc.Delay, dc.MaxDelay = 3, 0, 0
	e := newEnv(t, envOpts{file: true, defender: &dc})
	signer, _ := userKey(t)
	other, _ := userKey(t)
	third, _ := userKey(t)
	e.addUser("alice", "pw", withKey(signer.PublicKey()))
	for _, m := range [][]ssh.AuthMethod{{ssh.PublicKeys(other, signer)}, {ssh.PublicKeys(other), ssh.Password("pw")}} {
		c, err := e.dial("alice", m...)
		if err != nil {
			t.Fatalf("login after a wrong key: %v", err)
		}
		c.Close()
	}
	if contains(e.logs.String(), `msg="login failed"`) {
		t.Fatalf("a connection that logged in counted a failure:\n%s", e.logs.String())
	}
	attempts := []struct {
		user, reason string
		keys         []ssh.Signer
	}{
		{"alice", "no key accepted", []ssh.Signer{other, third}},
		{"bob", "unknown user", []ssh.Signer{other}},
		{"alice", "no key accepted", []ssh.Signer{third}},
	}
	for i, a := range attempts {
		if c, err := e.dial(a.user, ssh.PublicKeys(a.keys...)); err == nil {
			c.Close()
			t.Fatalf("%s logged in with keys not theirs", a.user)
		}
		line := fmt.Sprintf(`protocol=sftp user=%s reason=%q failures=%d`, a.user, a.reason, i+1)
		waitFor(t, 5*time.Second, "the defender line "+line, func() bool { return contains(e.logs.String(), line) })
	}
	waitFor(t, 5*time.Second, "a ban", func() bool { return contains(e.logs.String(), `msg="address banned"`) })
	if c, err := e.dial("alice", ssh.PublicKeys(signer)); err == nil {
		c.Close()
		t.Fatal("a banned address logged in")
	}
}

// MaxAuthTries bounds the attempts on one connection.
func TestMaxAuthTries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{file: true, cfg: func(c *Config) { c.MaxAuthTries = 2 }})
	e.addUser("alice", "pw")
	tries := 0
	_, err := e.dial("alice", ssh.RetryableAuthMethod(ssh.PasswordCallback(func() (string, error) {
		tries++
		return "bad", nil
	}), 10))
	if err == nil || tries != 2 {
		t.Fatalf("err %v after %d tries", err, tries)
	}
}

// Per-user and per-address session limits.
func TestSessionLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{file: true, limits: auth.RegistryLimits{PerAddr: 3}})
	e.addUser("alice", "pw", func(u *auth.User) { u.Limits.MaxSessions = 1 })
	e.addUser("bob", "pw")

	firstConn, first := e.conn("alice", "pw")
	var banner string
	cfg := clientConfig("alice", ssh.Password("pw"))
	cfg.BannerCallback = func(msg string) error { banner = msg; return nil }
	if c, err := ssh.Dial("tcp", e.addr, cfg); err == nil {
		c.Close()
		t.Fatal("second session of alice accepted")
	}
	if !contains(banner, "too many sessions for alice (limit 1)") {
		t.Errorf("banner: %q", banner)
	}
	b1, _ := e.conn("bob", "pw")
	e.client("bob", "pw")
	if c, err := e.dial("bob", ssh.Password("pw")); err == nil {
		c.Close()
		t.Fatal("fourth connection from one address accepted")
	}
	if _, err := first.ReadDir("/"); err != nil {
		t.Fatal(err)
	}
	firstConn.Close()
	b1.Close()
	waitFor(t, 5*time.Second, "sessions to end", func() bool { return e.reg.Count() == 1 })
	e.client("alice", "pw")
}

// Drain: idle sessions end at once, new ones are refused, a transfer in
// progress completes and its session ends after it.
func TestDrain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.addUser("alice", "pw")
	e.addUser("bob", "pw")
	idle := e.client("alice", "pw")
	busy := e.client("bob", "pw")
	part1, part2 := randomBytes(t, 3<<20), randomBytes(t, 3<<20)
	f, err := busy.Create("/up.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(part1); err != nil {
		t.Fatal(err)
	}

	drained := make(chan int, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		drained <- e.reg.Drain(ctx)
	}()
	waitFor(t, 5*time.Second, "the idle session to be closed", func() bool {
		_, err := idle.Stat("/")
		return err != nil
	})
	if c, err := e.dial("alice", ssh.Password("pw")); err == nil {
		c.Close()
		t.Fatal("a new session was accepted while draining")
	}
	if _, err := f.Write(part2); err != nil {
		t.Fatalf("the transfer was cut: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("closing the upload: %v", err)
	}
	select {
	case n := <-drained:
		if n != 0 {
			t.Fatalf("drain cut %d sessions short", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("drain did not end after the transfer")
	}
	if _, err := busy.Stat("/"); err == nil {
		t.Fatal("the busy session survived the drain")
	}
	if got := e.object("users/bob/up.bin"); !bytes.Equal(got, append(part1, part2...)) {
		t.Fatalf("upload during the drain: %d bytes", len(got))
	}
}

// Two servers sharing one store present the same generated host keys.
func TestHostKeysShared(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := auth.OpenStore(ctx, auth.StoreConfig{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "wharf.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	e1 := newEnv(t, envOpts{file: true})
	// A second node: same store for host keys (its users live in e1's).
	var mu sync.Mutex
	var servers []*Server
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			s, err := New(Config{}, Deps{Auth: e1.auth, VFS: e1.vfs, Registry: e1.reg, Secrets: store})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			servers = append(servers, s)
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	k1, k2 := servers[0].HostKeys(), servers[1].HostKeys()
	var types []string
	for i := range k1 {
		types = append(types, k1[i].Type)
		if k1[i].Fingerprint != k2[i].Fingerprint || k1[i].AuthorizedKey != k2[i].AuthorizedKey {
			t.Fatalf("host key %d differs: %+v %+v", i, k1[i], k2[i])
		}
	}
	if !slices.Equal(types, []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoRSA}) {
		t.Fatalf("host key types: %v", types)
	}
	fps, err := HostKeyFingerprints(ctx, nil, store)
	if err != nil || !slices.Equal(fps, k1) {
		t.Fatalf("HostKeyFingerprints: %v %+v", err, fps)
	}

	// Both present them on the wire, for every host key algorithm.
	e1.addUser("alice", "pw")
	for _, s := range servers {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go s.Serve(ln)
		defer s.Shutdown(ctx)
		for i, algo := range []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoRSASHA512} {
			var got ssh.PublicKey
			cfg := clientConfig("alice", ssh.Password("pw"))
			cfg.HostKeyAlgorithms = []string{algo}
			cfg.HostKeyCallback = func(_ string, _ net.Addr, k ssh.PublicKey) error { got = k; return nil }
			c, err := ssh.Dial("tcp", ln.Addr().String(), cfg)
			if err != nil {
				t.Fatalf("%s: %v", algo, err)
			}
			c.Close()
			if ssh.FingerprintSHA256(got) != k1[i].Fingerprint {
				t.Fatalf("%s: presented %s, want %s", algo, ssh.FingerprintSHA256(got), k1[i].Fingerprint)
			}
		}
	}
	// ssh-rsa (SHA-1) signatures are not offered.
	cfg := clientConfig("alice", ssh.Password("pw"))
	cfg.HostKeyAlgorithms = []string{ssh.KeyAlgoRSA}
	if c, err := ssh.Dial("tcp", servers[0].Addr().String(), cfg); err == nil {
		c.Close()
		t.Fatal("ssh-rsa host key signature accepted")
	}
}

func TestHostKeyFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := ssh.MarshalPrivateKey(k, "")
	weak := filepath.Join(dir, "rsa2048")
	os.WriteFile(weak, pem.EncodeToMemory(block), 0o600)
	if _, err := HostKeyFingerprints(context.Background(), []string{weak}, nil); err == nil || !contains(err.Error(), "at least 3072 bits") {
		t.Fatalf("2048-bit RSA host key: %v", err)
	}
	if _, err := HostKeyFingerprints(context.Background(), []string{filepath.Join(dir, "missing")}, nil); err == nil {
		t.Fatal("missing host key file accepted")
	}
	if _, err := HostKeyFingerprints(context.Background(), nil, nil); err == nil {
		t.Fatal("no host keys at all accepted")
	}
	keys, err := HostKeyFingerprints(context.Background(), []string{hostKeyFile}, nil)
	if err != nil || len(keys) != 1 || keys[0].Type != ssh.KeyAlgoED25519 || keys[0].Source != hostKeyFile {
		t.Fatalf("ed25519 file: %v %+v", err, keys)
	}
}

// Only modern algorithms: configured SHA-1 ones are refused, and clients
// offering only those cannot connect.
func TestAlgorithms(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{file: true})
	e.addUser("alice", "pw")
	for _, cfg := range []Config{
		{MACs: []string{"hmac-sha1"}},
		{KexAlgorithms: []string{"diffie-hellman-group14-sha1"}},
		{Ciphers: []string{"aes128-cbc"}},
		{Ciphers: []string{"rot13"}},
	} {
		cfg.HostKeyFiles = []string{hostKeyFile}
		if _, err := New(cfg, Deps{Auth: e.auth, VFS: e.vfs, Registry: e.reg}); err == nil {
			t.Errorf("accepted %+v", cfg)
		}
	}
	for _, weak := range []ssh.Config{
		{KeyExchanges: []string{"diffie-hellman-group14-sha1"}},
		{MACs: []string{"hmac-sha1"}, Ciphers: []string{"aes128-ctr"}},
		{Ciphers: []string{"aes128-cbc"}},
	} {
		cfg := clientConfig("alice", ssh.Password("pw"))
		cfg.Config = weak
		if c, err := ssh.Dial("tcp", e.addr, cfg); err == nil {
			c.Close()
			t.Errorf("client with %+v connected", weak)
		}
	}
	for _, good := range []ssh.Config{
		{Ciphers: []string{ssh.CipherChaCha20Poly1305}},
		{Ciphers: []string{ssh.CipherAES256CTR}, MACs: []string{ssh.HMACSHA512ETM}},
		{KeyExchanges: []string{ssh.KeyExchangeECDHP384}},
	} {
		cfg := clientConfig("alice", ssh.Password("pw"))
		cfg.Config = good
		c, err := ssh.Dial("tcp", e.addr, cfg)
		if err != nil {
			t.Errorf("client with %+v: %v", good, err)
			continue
		}
		c.Close()
	}
}

// Only the sftp subsystem of session channels is served.
func TestChannels(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{file: true})
	e.addUser("alice", "pw")
	c, err := e.dial("alice", ssh.Password("pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, req := range []struct {
		typ     string
		payload []byte
	}{
		{"exec", ssh.Marshal(struct{ Command string }{"scp -t /"})},
		{"shell", nil},
		{"pty-req", ssh.Marshal(struct {
			Term          string
			Cols, Rows    uint32
			Width, Height uint32
			Modes         string
		}{"xterm", 80, 24, 0, 0, ""})},
		{"subsystem", ssh.Marshal(struct{ Name string }{"shell"})},
	} {
		ch, _, err := c.OpenChannel("session", nil)
		if err != nil {
			t.Fatal(err)
		}
		ok, err := ch.SendRequest(req.typ, true, req.payload)
		if ok || err != nil {
			t.Errorf("%s: accepted=%v err=%v", req.typ, ok, err)
		}
		ch.Close()
	}
	if _, err := c.Dial("tcp", "127.0.0.1:22"); err == nil {
		t.Error("port forwarding accepted")
	}
	if _, _, err := c.OpenChannel("x11", nil); err == nil {
		t.Error("x11 channel accepted")
	}
	if ok, _, _ := c.SendRequest("tcpip-forward", true, ssh.Marshal(struct {
		Addr string
		Port uint32
	}{"127.0.0.1", 0})); ok {
		t.Error("remote forwarding accepted")
	}

	// The sftp subsystem ends with exit status 0.
	ch, reqs, err := c.OpenChannel("session", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := ch.SendRequest("subsystem", true, ssh.Marshal(struct{ Name string }{"sftp"})); !ok || err != nil {
		t.Fatalf("sftp subsystem: %v %v", ok, err)
	}
	ch.CloseWrite()
	select {
	case req := <-reqs:
		var st struct{ Status uint32 }
		if req == nil || req.Type != "exit-status" || ssh.Unmarshal(req.Payload, &st) != nil || st.Status != 0 {
			t.Fatalf("exit status: %+v", req)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no exit status")
	}
}

// Handshake and idle deadlines.
func TestTimeouts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{file: true, cfg: func(c *Config) {
		c.HandshakeTimeout = 300 * time.Millisecond
		c.AuthTimeout = 300 * time.Millisecond
		c.IdleTimeout = 500 * time.Millisecond
	}})
	e.addUser("alice", "pw")

	// A client that says nothing is cut off.
	nc, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	start := time.Now()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, nc); err != nil {
		t.Fatalf("silent client: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("silent client kept for %v", d)
	}

	// A client that completes the key exchange but never authenticates.
	nc2, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	start = time.Now()
	cfg := clientConfig("alice", ssh.PasswordCallback(func() (string, error) {
		time.Sleep(2 * time.Second)
		return "pw", nil
	}))
	if _, _, _, err := ssh.NewClientConn(nc2, e.addr, cfg); err == nil {
		t.Fatal("slow authentication accepted")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("slow authentication kept for %v", d)
	}

	// An idle session is closed.
	c, err := e.dial("alice", ssh.Password("pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, err := sftp.NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("idle session kept open")
	}
	if _, err := sc.Getwd(); err == nil {
		_, err = sc.ReadDir("/")
		if err == nil {
			t.Fatal("idle session still answers")
		}
	}
}

// An administrator's kick ends a session at once, aborting its upload.
func TestKick(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.addUser("alice", "pw")
	e.putObject("users/alice/f.bin", []byte("old"))
	c := e.client("alice", "pw")
	f, err := c.Create("/f.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(randomBytes(t, 6<<20)); err != nil {
		t.Fatal(err)
	}
	sessions := e.reg.List()
	if len(sessions) != 1 || sessions[0].User != "alice" || sessions[0].Protocol != "sftp" ||
		sessions[0].Transfer != "upload /f.bin" || sessions[0].BytesIn != 6<<20 {
		t.Fatalf("registry: %+v", sessions)
	}
	if !e.reg.Kick(sessions[0].ID) {
		t.Fatal("no session to kick")
	}
	if err := f.Close(); err == nil {
		t.Fatal("the kicked upload was stored")
	}
	waitFor(t, 5*time.Second, "the session to end", func() bool { return e.reg.Count() == 0 })
	if got := e.object("users/alice/f.bin"); string(got) != "old" {
		t.Fatalf("the kicked upload replaced the file: %d bytes", len(got))
	}
	waitFor(t, 10*time.Second, "no multipart upload left", func() bool { return e.multipartUploads() == 0 })
}
