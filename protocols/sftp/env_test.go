package sftp

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"golang.org/x/crypto/ssh"

	"github.com/wharf-gw/wharf/auth"
	"github.com/wharf-gw/wharf/internal/testlog"
	"github.com/wharf-gw/wharf/storage"
	"github.com/wharf-gw/wharf/storage/storagetest"
)

var (
	s3srv storagetest.SharedS3
	// hostKeyFile is an ed25519 host key shared by the tests that do not
	// test host keys themselves (generating RSA keys is slow).
	hostKeyFile string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wharf-sftp-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(k, "test host key")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hostKeyFile = filepath.Join(dir, "host_ed25519")
	if err := os.WriteFile(hostKeyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	s3srv.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cheap are argon2id costs that keep tests fast.
var cheap = auth.Argon2Params{Memory: 8 * 1024, Time: 1, Threads: 1}

// env is a running server over a fresh store and bucket.
type env struct {
	t      *testing.T
	ctx    context.Context
	store  auth.Store
	auth   *auth.Authenticator
	reg    *auth.Registry
	vfs    *storage.VFS
	bucket *blob.Bucket
	s3     *storagetest.S3Server // nil on the local disk
	bname  string                // the S3 bucket's name
	srv    *Server
	addr   string
	logs   *testlog.Buffer
}

type envOpts struct {
	file     bool                  // local disk instead of S3
	s3       *storagetest.S3Server // a server of the test's own instead of the shared one
	defender *auth.DefenderConfig  // nil: enabled, no delays, no bans
	limits   auth.RegistryLimits
	cfg      func(*Config)
}

func noDelay() auth.DefenderConfig {
	c := auth.DefaultDefender()
	c.Delay, c.MaxDelay, c.MaxFailures = 0, 0, 1000
	return c
}

// newEnv starts a server for the test; it is shut down at the end.
func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, ctx: ctx, logs: &testlog.Buffer{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if testing.Verbose() && os.Getenv("WHARF_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(io.MultiWriter(e.logs, os.Stderr), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	store, err := auth.OpenStore(ctx, auth.StoreConfig{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "wharf.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e.store = store
	dc := noDelay()
	if o.defender != nil {
		dc = *o.defender
	}
	d, err := auth.NewDefender(store, dc, log)
	if err != nil {
		t.Fatal(err)
	}
	if e.auth, err = auth.NewAuthenticator(store, d, cheap, log); err != nil {
		t.Fatal(err)
	}
	e.reg = auth.NewRegistry(o.limits, nil)

	opts := storage.BackendOptions{PartSize: storage.MinPartSize, Concurrency: 3}
	if o.file {
		b, err := fileblob.OpenBucket(t.TempDir(), &fileblob.Options{NoTempDir: true, CreateDir: true})
		if err != nil {
			t.Fatal(err)
		}
		e.bucket = b
	} else {
		e.s3 = o.s3
		if e.s3 == nil {
			e.s3 = s3srv.Get(t)
		}
		e.bname = e.s3.NewBucket(t)
		e.bucket = e.s3.OpenBucket(t, e.bname)
		opts.S3Bucket = e.bname
	}
	t.Cleanup(func() { e.bucket.Close() })
	home, err := storage.NewBackend("home", e.bucket, opts)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := storage.NewBackend("shared", e.bucket, opts)
	if err != nil {
		t.Fatal(err)
	}
	if e.vfs, err = storage.New([]*storage.Backend{home, shared}, storage.Options{Logger: log}); err != nil {
		t.Fatal(err)
	}

	cfg := Config{HostKeyFiles: []string{hostKeyFile}, MaxAuthTries: 3}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	e.srv, err = New(cfg, Deps{Auth: e.auth, VFS: e.vfs, Registry: e.reg, Secrets: store, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", e.logs.String())
		}
	})
	return e
}

// addUser creates a user whose home is users/<name>/ on "home", with the
// reference scenario's mounts: /folder1 read-only, /folder2 read-write.
func (e *env) addUser(name, password string, mutate ...func(*auth.User)) *auth.User {
	e.t.Helper()
	u := &auth.User{
		Name:    name,
		Enabled: true,
		Home:    auth.Home{Backend: "home", Prefix: "users/" + name + "/"},
		Mounts: []auth.Mount{
			{Path: "/folder1", Backend: "shared", Prefix: "ro/", ReadOnly: true},
			{Path: "/folder2", Backend: "shared", Prefix: "rw/"},
		},
		Rules: []auth.Rule{{Pattern: "/", Perms: "*"}},
	}
	if password != "" {
		h, err := auth.HashPassword(password, cheap)
		if err != nil {
			e.t.Fatal(err)
		}
		u.PasswordHash = h
	}
	for _, m := range mutate {
		m(u)
	}
	if err := u.Validate([]string{"home", "shared"}); err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.CreateUser(e.ctx, u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

// withKey adds pub to the user's keys.
func withKey(pub ssh.PublicKey) func(*auth.User) {
	return func(u *auth.User) {
		k, err := auth.ParseKey(string(ssh.MarshalAuthorizedKey(pub)))
		if err != nil {
			panic(err)
		}
		u.Keys = append(u.Keys, k)
	}
}

// clientConfig is an SSH client configuration for user with methods.
func clientConfig(user string, methods ...ssh.AuthMethod) *ssh.ClientConfig {
	return &ssh.ClientConfig{
		User:            user,
		Auth:            methods,
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         10 * time.Second,
	}
}

// dial connects and authenticates.
func (e *env) dial(user string, methods ...ssh.AuthMethod) (*ssh.Client, error) {
	return ssh.Dial("tcp", e.addr, clientConfig(user, methods...))
}

// client returns an SFTP client logged in with a password; it is closed
// at the end of the test.
func (e *env) client(user, password string, opts ...sftp.ClientOption) *sftp.Client {
	e.t.Helper()
	_, sc := e.conn(user, password, opts...)
	return sc
}

// conn is client that also returns the SSH connection.
func (e *env) conn(user, password string, opts ...sftp.ClientOption) (*ssh.Client, *sftp.Client) {
	e.t.Helper()
	c, err := e.dial(user, ssh.Password(password))
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	sc, err := sftp.NewClient(c, opts...)
	if err != nil {
		c.Close()
		e.t.Fatalf("sftp client: %v", err)
	}
	e.t.Cleanup(func() {
		sc.Close()
		c.Close()
	})
	return c, sc
}

// object returns the content of the object key, failing the test if it
// cannot be read.
func (e *env) object(key string) []byte {
	e.t.Helper()
	b, err := e.bucket.ReadAll(e.ctx, key)
	if err != nil {
		e.t.Fatalf("reading object %s: %v", key, err)
	}
	return b
}

func (e *env) putObject(key string, data []byte) {
	e.t.Helper()
	if err := e.bucket.WriteAll(e.ctx, key, data, nil); err != nil {
		e.t.Fatal(err)
	}
}

// multipartUploads returns the number of multipart uploads in progress in
// the S3 bucket (0 on the local disk).
func (e *env) multipartUploads() int {
	if e.s3 == nil {
		return 0
	}
	return e.s3.ListMultipartUploads(e.t, e.bname)
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// statusCode returns the SFTP status code of a client error, or -1.
// pkg/sftp's client turns some codes into os errors.
func statusCode(err error) int {
	var se *sftp.StatusError
	switch {
	case errors.As(err, &se):
		return int(se.Code)
	case errors.Is(err, os.ErrNotExist):
		return codeNoSuchFile
	case errors.Is(err, os.ErrPermission):
		return codePermissionDenied
	}
	return -1
}

// SFTP status codes as clients see them.
const (
	codeNoSuchFile       = 2
	codePermissionDenied = 3
	codeFailure          = 4
	codeOpUnsupported    = 8
)

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// userKey generates an ed25519 user key.
func userKey(t testing.TB) (ssh.Signer, ed25519.PrivateKey) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return s, k
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
