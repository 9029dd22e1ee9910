package ftp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	ftpc "github.com/jlaffaye/ftp"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"

	"github.com/wharf-gw/wharf/auth"
	"github.com/wharf-gw/wharf/internal/testlog"
	"github.com/wharf-gw/wharf/protocols/ftp"
	"github.com/wharf-gw/wharf/storage"
	"github.com/wharf-gw/wharf/storage/storagetest"
)

var s3srv storagetest.SharedS3

func TestMain(m *testing.M) {
	code := m.Run()
	s3srv.Close()
	os.Exit(code)
}

// cheap are argon2id costs that keep logins fast in tests.
var cheap = auth.Argon2Params{Memory: 8 * 1024, Time: 1, Threads: 1}

// Key prefixes of the reference namespace in the bucket.
const (
	homePrefix = "users/alice/"
	roPrefix   = "shared/ro/"
	rwPrefix   = "shared/rw/"
)

type options struct {
	s3       bool
	native   bool                  // on local disk, write files natively (as wharf serve does), not through fileblob
	s3srv    *storagetest.S3Server // a server of the test's own instead of the shared one
	cfg      func(*ftp.Config)
	defender func(*auth.DefenderConfig)
	limits   auth.RegistryLimits
	store    auth.Store // shared with another server; default a fresh SQLite store
}

// env is a running FTP server over the reference namespace: alice (password
// "alice-pw") has her home at "/", a read-only /folder1 and a read-write
// /folder2, on one bucket (S3 or local disk).
type env struct {
	t        testing.TB
	store    auth.Store
	auth     *auth.Authenticator
	reg      *auth.Registry
	srv      *ftp.Server
	cfg      ftp.Config
	logs     *testlog.Buffer
	bucket   *blob.Bucket
	s3       *storagetest.S3Server // nil on local disk
	s3Bucket string
}

func newEnv(t testing.TB, o options) *env {
	t.Helper()
	e := &env{t: t, logs: &testlog.Buffer{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() { // FTP_TEST_LOGS=1 shows the log of passing tests too
		if t.Failed() || os.Getenv("FTP_TEST_LOGS") != "" {
			t.Logf("server log:\n%s", e.logs.String())
		}
	})
	ctx := context.Background()

	e.store = o.store
	if e.store == nil {
		st, err := auth.OpenStore(ctx, auth.StoreConfig{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "wharf.db")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		e.store = st
	}
	dcfg := auth.DefaultDefender()
	dcfg.Delay, dcfg.MaxDelay, dcfg.MaxFailures = 0, 0, 1000
	if o.defender != nil {
		o.defender(&dcfg)
	}
	def, err := auth.NewDefender(e.store, dcfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if e.auth, err = auth.NewAuthenticator(e.store, def, cheap, log); err != nil {
		t.Fatal(err)
	}
	e.reg = auth.NewRegistry(o.limits, nil)

	opts := storage.BackendOptions{PartSize: storage.MinPartSize, Concurrency: 2}
	if o.s3 {
		e.s3 = o.s3srv
		if e.s3 == nil {
			e.s3 = s3srv.Get(t)
		}
		e.s3Bucket = e.s3.NewBucket(t)
		e.bucket = e.s3.OpenBucket(t, e.s3Bucket)
		opts.S3Bucket = e.s3Bucket
	} else {
		dir := t.TempDir()
		b, err := fileblob.OpenBucket(dir, &fileblob.Options{NoTempDir: true, CreateDir: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		e.bucket = b
		if o.native {
			opts.LocalDir = dir
		}
	}
	home, err := storage.NewBackend("home", e.bucket, opts)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := storage.NewBackend("shared", e.bucket, opts)
	if err != nil {
		t.Fatal(err)
	}
	vfs, err := storage.New([]*storage.Backend{home, shared}, storage.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if o.store == nil {
		e.addUser("alice", "alice-pw", func(u *auth.User) {
			u.Mounts = []auth.Mount{
				{Path: "/folder1", Backend: "shared", Prefix: roPrefix, ReadOnly: true},
				{Path: "/folder2", Backend: "shared", Prefix: rwPrefix},
			}
		})
	}

	e.cfg = ftp.Config{Listen: "127.0.0.1:0", ImplicitTLSListen: "127.0.0.1:0"}
	if o.cfg != nil {
		o.cfg(&e.cfg)
	}
	e.srv, err = ftp.New(e.cfg, ftp.Deps{Auth: e.auth, VFS: vfs, Registry: e.reg, Secrets: e.store, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return e
}

func (e *env) addUser(name, password string, mutate ...func(*auth.User)) {
	e.t.Helper()
	h, err := auth.HashPassword(password, cheap)
	if err != nil {
		e.t.Fatal(err)
	}
	u := &auth.User{
		Name:         name,
		PasswordHash: h,
		Enabled:      true,
		Home:         auth.Home{Backend: "home", Prefix: "users/" + name + "/"},
		Rules:        []auth.Rule{{Pattern: "/", Perms: "*"}},
	}
	for _, m := range mutate {
		m(u)
	}
	if err := u.Validate([]string{"home", "shared"}); err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.CreateUser(context.Background(), u); err != nil {
		e.t.Fatal(err)
	}
}

// put and get reach the bucket directly, behind the server.
func (e *env) put(key string, data []byte) {
	e.t.Helper()
	if err := e.bucket.WriteAll(context.Background(), key, data, nil); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) get(key string) []byte {
	e.t.Helper()
	data, err := e.bucket.ReadAll(context.Background(), key)
	if err != nil {
		e.t.Fatalf("reading %s: %v", key, err)
	}
	return data
}

func (e *env) exists(key string) bool {
	ok, err := e.bucket.Exists(context.Background(), key)
	if err != nil {
		e.t.Fatal(err)
	}
	return ok
}

// multipartUploads counts unfinished multipart uploads (S3 only).
func (e *env) multipartUploads() int {
	if e.s3 == nil {
		return 0
	}
	return e.s3.ListMultipartUploads(e.t, e.s3Bucket)
}

// waitFor polls cond until it holds, failing the test after 15 s.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitLog waits until the server log contains s.
func (e *env) waitLog(s string) {
	e.t.Helper()
	e.waitFor(fmt.Sprintf("the log to contain %q", s), func() bool { return strings.Contains(e.logs.String(), s) })
}

func clientTLS() *tls.Config { return &tls.Config{InsecureSkipVerify: true} } // the self-signed certificate

// dial logs alice in with the Go client over plain FTP.
func (e *env) dial(opts ...ftpc.DialOption) *ftpc.ServerConn {
	e.t.Helper()
	return e.dialAs(e.srv.Addr(), "alice", "alice-pw", opts...)
}

func (e *env) dialAs(addr, user, pw string, opts ...ftpc.DialOption) *ftpc.ServerConn {
	e.t.Helper()
	c, err := ftpc.Dial(addr, append([]ftpc.DialOption{ftpc.DialWithTimeout(10 * time.Second)}, opts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Quit() })
	if err := c.Login(user, pw); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// code returns the FTP reply code of a client error (0 if none).
func code(err error) int {
	if tpe, ok := errors.AsType[*textproto.Error](err); ok {
		return tpe.Code
	}
	return 0
}

func wantCode(t *testing.T, what string, err error, want int) {
	t.Helper()
	if code(err) != want {
		t.Fatalf("%s: got %v, want reply %d", what, err, want)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// ctl is a raw control connection, for exact replies and misbehaving
// clients.
type ctl struct {
	t  testing.TB
	c  net.Conn
	tp *textproto.Conn
}

func dialCtl(t testing.TB, addr string) (*ctl, int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &ctl{t: t, c: c, tp: textproto.NewConn(c)}
	code, msg := r.read()
	return r, code, msg
}

// dialTLS opens a raw implicit-TLS control connection; the greeting is not
// read.
func dialTLS(t *testing.T, addr string) *ctl {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, clientTLS())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &ctl{t: t, c: c, tp: textproto.NewConn(c)}
}

// dialLogin opens a raw control connection and logs alice in.
func (e *env) dialLogin() *ctl {
	e.t.Helper()
	return e.dialLoginAs("alice", "alice-pw")
}

// dialLoginAs opens a raw control connection and logs user in.
func (e *env) dialLoginAs(user, password string) *ctl {
	e.t.Helper()
	r, code, msg := dialCtl(e.t, e.srv.Addr())
	if code != 220 {
		e.t.Fatalf("greeting: %d %s", code, msg)
	}
	r.expect("USER "+user, 331)
	r.expect("PASS "+password, 230)
	return r
}

func (r *ctl) read() (int, string) {
	r.t.Helper()
	_ = r.c.SetReadDeadline(time.Now().Add(15 * time.Second))
	code, msg, err := r.tp.ReadResponse(0)
	if err != nil && code == 0 {
		r.t.Fatalf("reading a reply: %v", err)
	}
	return code, msg
}

func (r *ctl) cmd(line string) (int, string) {
	r.t.Helper()
	if err := r.tp.PrintfLine("%s", line); err != nil {
		r.t.Fatal(err)
	}
	return r.read()
}

func (r *ctl) expect(line string, want int) string {
	r.t.Helper()
	code, msg := r.cmd(line)
	if code != want {
		r.t.Fatalf("%s: got %d %s, want %d", line, code, msg, want)
	}
	return msg
}

// want reads a reply that is not the answer to a new command (the end of
// a transfer).
func (r *ctl) want(code int) string {
	r.t.Helper()
	got, msg := r.read()
	if got != code {
		r.t.Fatalf("got %d %s, want %d", got, msg, code)
	}
	return msg
}

// epsv opens a passive data connection.
func (r *ctl) epsv() net.Conn {
	r.t.Helper()
	return r.epsvDial(&net.Dialer{Timeout: 5 * time.Second})
}

// epsvDial opens a passive data connection with d.
func (r *ctl) epsvDial(dialer *net.Dialer) net.Conn {
	r.t.Helper()
	msg := r.expect("EPSV", 229)
	i, j := strings.Index(msg, "(|||"), strings.LastIndex(msg, "|)")
	port, err := strconv.Atoi(msg[i+4 : j])
	if err != nil {
		r.t.Fatalf("EPSV reply %q", msg)
	}
	host, _, _ := net.SplitHostPort(r.c.RemoteAddr().String())
	d, err := dialer.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { d.Close() })
	return d
}

// requireTool returns the path of a real client, skips the test when it is
// missing, and fails it instead in CI, where every suite must run.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed: CI must install it (.ci/run)", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// run runs a real client with a time limit and returns its output.
func run(t *testing.T, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "LC_ALL=C.UTF-8")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func mustRun(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	out, err := run(t, timeout, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// hostPort splits an address for clients that take them apart.
func hostPort(t *testing.T, addr string) (string, string) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

func readAll(t testing.TB, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// list runs a listing command over a new passive data connection and
// returns its lines.
func (r *ctl) list(cmd string) []string {
	r.t.Helper()
	d := r.epsv()
	r.expect(cmd, 150)
	body := string(readAll(r.t, d))
	r.want(226)
	if body == "" {
		return nil
	}
	if !strings.HasSuffix(body, "\r\n") {
		r.t.Fatalf("%s: lines do not end in CRLF", cmd)
	}
	return strings.Split(strings.TrimSuffix(body, "\r\n"), "\r\n")
}
