// Package storagetest is test support for wharf's storage layer: a real
// S3 server (versitygw, built from the pinned tools/versitygw module) and
// helpers to talk to it. It must only be imported by tests.
//
// A test that wants its own server calls StartS3; it is stopped when the
// test ends. A package whose tests share one server declares a SharedS3
// and stops it from TestMain:
//
//	var s3srv storagetest.SharedS3
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		s3srv.Close()
//		os.Exit(code)
//	}
//
//	func TestSomething(t *testing.T) {
//		srv := s3srv.Get(t) // started on first use
//		bucket := srv.OpenBucket(t, srv.NewBucket(t))
//		...
//	}
//
// Every server listens on 127.0.0.1 only. The versitygw binary is built
// once per machine and Go version and cached (see S3Binary).
package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"
)

const (
	// VersitygwVersion is the version pinned in tools/versitygw/go.mod.
	VersitygwVersion = "v1.8.0"
	// BinaryEnv names an environment variable that, when set, is the path
	// of a versitygw binary to use instead of building one.
	BinaryEnv = "VERSITYGW_BIN"

	modulePath   = "github.com/wharf-gw/wharf"
	toolsDir     = "tools/versitygw"
	toolsPackage = "github.com/versity/versitygw/cmd/versitygw"

	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
)

// S3Binary returns the path of a versitygw binary. It uses $VERSITYGW_BIN
// when set; otherwise it builds the tools/versitygw module once into
// $(os.UserCacheDir())/wharf-test/versitygw-<version>-<go version> and
// reuses that file afterwards. Concurrent test processes (go test ./...)
// serialise on a file lock; the binary appears atomically. A failed build
// fails the test with the go build output: it never skips.
func S3Binary(tb testing.TB) string {
	tb.Helper()
	bin, err := s3Binary()
	if err != nil {
		tb.Fatalf("storagetest: %v", err)
	}
	return bin
}

func s3Binary() (string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("$%s: %w", BinaryEnv, err)
		}
		return p, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir() // no $HOME: build once per boot instead
	}
	dir := filepath.Join(cache, "wharf-test")
	bin := filepath.Join(dir, fmt.Sprintf("versitygw-%s-%s", VersitygwVersion, runtime.Version()))
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(bin+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close() // releases the lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("locking %s: %w", lock.Name(), err)
	}
	if _, err := os.Stat(bin); err == nil {
		return bin, nil // another process built it while we waited
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	tmp := fmt.Sprintf("%s.tmp-%d", bin, os.Getpid())
	defer os.Remove(tmp)
	cmd := exec.Command("go", "build", "-o", tmp, toolsPackage)
	cmd.Dir = filepath.Join(root, toolsDir)
	cmd.Env = append(os.Environ(), "GOWORK=off")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building versitygw in %s (go build -o %s %s): %v\n%s", cmd.Dir, tmp, toolsPackage, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "storagetest: built %s in %v\n", bin, time.Since(start).Round(time.Second))
	return bin, nil
}

// moduleRoot walks up from the working directory to the directory whose
// go.mod declares the wharf module.
func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && declaresModule(data, modulePath) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod declaring module %s above %s", modulePath, wd)
		}
		dir = parent
	}
}

func declaresModule(gomod []byte, mod string) bool {
	for line := range strings.Lines(string(gomod)) {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "module" && strings.Trim(f[1], `"`) == mod {
			return true
		}
	}
	return false
}

// S3Server is a running versitygw serving a temporary directory on a
// loopback port. Its exported fields never change, across Stop and Start
// too. Methods are safe for concurrent use.
type S3Server struct {
	Endpoint  string // http://127.0.0.1:PORT
	Region    string // us-east-1
	AccessKey string
	SecretKey string

	bin    string
	dir    string // data directory; every subfolder is a bucket
	addr   string // 127.0.0.1:PORT
	client *s3.Client

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	out    *syncBuffer   // versitygw's stdout and stderr
}

// StartS3 starts a versitygw on a free 127.0.0.1 port with an empty
// temporary data directory, waits until it answers S3 requests, and stops
// it when the test ends.
func StartS3(tb testing.TB) *S3Server {
	tb.Helper()
	bin := S3Binary(tb)
	dir := tb.TempDir() // removed after the Cleanup below has stopped the server
	srv, err := startS3(bin, dir)
	if err != nil {
		tb.Fatalf("storagetest: %v", err)
	}
	tb.Cleanup(srv.Stop)
	return srv
}

func startS3(bin, dir string) (*S3Server, error) {
	var lastErr error
	// A free port can be taken by another process between our probe and
	// versitygw's bind; try a few ports before giving up.
	for range 3 {
		addr, err := freePort()
		if err != nil {
			return nil, err
		}
		srv := newS3Server(bin, dir, addr)
		if lastErr = srv.start(); lastErr == nil {
			return srv, nil
		}
	}
	return nil, lastErr
}

func newS3Server(bin, dir, addr string) *S3Server {
	s := &S3Server{
		Endpoint:  "http://" + addr,
		Region:    "us-east-1",
		AccessKey: "wharftest",
		SecretKey: "wharftest-secret-" + randomHex(8),
		bin:       bin,
		dir:       dir,
		addr:      addr,
	}
	s.client = s3.New(s3.Options{
		Region:                     s.Region,
		BaseEndpoint:               aws.String(s.Endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	return s
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// start runs versitygw and waits until it answers; s.mu must not be held.
func (s *S3Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil // already running
	}
	out := &syncBuffer{}
	cmd := exec.Command(s.bin,
		"--access", s.AccessKey, "--secret", s.SecretKey,
		"--region", s.Region, "--port", s.addr, "--quiet",
		"posix", s.dir)
	// A minimal environment: versitygw reads many ROOT_* and VGW_* variables.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
	cmd.Stdout, cmd.Stderr = out, out
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting versitygw: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	if err := s.waitReady(exited); err != nil {
		cmd.Process.Kill()
		<-exited
		return fmt.Errorf("versitygw on %s: %w\n%s", s.addr, err, out.String())
	}
	s.cmd, s.exited, s.out = cmd, exited, out
	return nil
}

// waitReady polls with a real S3 request until the server answers.
func (s *S3Server) waitReady(exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		reqCtx, reqCancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := s.client.ListBuckets(reqCtx, &s3.ListBucketsInput{}, func(o *s3.Options) {
			o.RetryMaxAttempts = 1
		})
		reqCancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before answering: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("not answering after %v: %v", startTimeout, err)
		case <-tick.C:
		}
	}
}

// Stop stops the server (SIGTERM, then SIGKILL after a grace period) and
// keeps its data directory and port for Start. Stopping a stopped server
// does nothing.
func (s *S3Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd, s.exited = nil, nil
}

// Start starts a stopped server again on the same port with the same data
// directory and waits until it answers. Starting a running server does
// nothing.
func (s *S3Server) Start(tb testing.TB) {
	tb.Helper()
	if err := s.start(); err != nil {
		tb.Fatalf("storagetest: restarting: %v", err)
	}
}

// Restart stops the server and starts it again (see Stop and Start).
func (s *S3Server) Restart(tb testing.TB) {
	tb.Helper()
	s.Stop()
	s.Start(tb)
}

// Running reports whether the server process is running: started, not
// stopped, not crashed.
func (s *S3Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Dir returns the data directory: every subfolder is a bucket, every file
// below it an object.
func (s *S3Server) Dir() string { return s.dir }

// Output returns what versitygw has printed so far (with --quiet: startup
// lines and errors), for diagnosing a failure.
func (s *S3Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return ""
	}
	return s.out.String()
}

// Client returns an S3 client for the server: static credentials, path
// style, checksums only when required. It reaches nothing but Endpoint.
func (s *S3Server) Client() *s3.Client { return s.client }

// CreateBucket creates the bucket name.
func (s *S3Server) CreateBucket(tb testing.TB, name string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		tb.Fatalf("storagetest: creating bucket %q: %v", name, err)
	}
}

// NewBucket creates a bucket with a fresh random name and returns the name.
func (s *S3Server) NewBucket(tb testing.TB) string {
	tb.Helper()
	name := "wharf-test-" + randomHex(8)
	s.CreateBucket(tb, name)
	return name
}

// OpenBucket opens the bucket name through s3blob with Client; the bucket
// is closed when the test ends.
func (s *S3Server) OpenBucket(tb testing.TB, name string) *blob.Bucket {
	tb.Helper()
	b, err := s3blob.OpenBucket(context.Background(), s.client, name, &s3blob.Options{
		// The transfer manager does not take this from the client.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
	})
	if err != nil {
		tb.Fatalf("storagetest: opening bucket %q: %v", name, err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

// URL returns the gocloud URL of bucket on this server, for configuration
// files and blob.OpenBucket. Credentials are not part of it: the opener
// takes them from the environment (see Env and SetEnv).
func (s *S3Server) URL(bucket string) string {
	q := url.Values{}
	q.Set("endpoint", s.Endpoint)
	q.Set("region", s.Region)
	q.Set("use_path_style", "true")
	q.Set("disable_https", "true")
	q.Set("request_checksum_calculation", "when_required")
	q.Set("response_checksum_validation", "when_required")
	return (&url.URL{Scheme: "s3", Host: bucket, RawQuery: q.Encode()}).String()
}

// Env returns environment variables (KEY=value) that let a process opening
// URL authenticate to this server and keep the AWS SDK from reaching
// anything else: no shared config or credential files, no profile, no
// EC2 metadata lookups, no endpoint overrides. Append them to os.Environ().
func (s *S3Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_SESSION_TOKEN=",
		"AWS_REGION=" + s.Region,
		"AWS_DEFAULT_REGION=" + s.Region,
		"AWS_PROFILE=",
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL=",
		"AWS_ENDPOINT_URL_S3=",
		"AWS_ROLE_ARN=",
		"AWS_WEB_IDENTITY_TOKEN_FILE=",
	}
}

// SetEnv sets Env in the test process for the duration of t, for tests
// that open URL in-process. Like t.Setenv it cannot be used in parallel
// tests.
func (s *S3Server) SetEnv(t *testing.T) {
	t.Helper()
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// ListMultipartUploads returns the number of multipart uploads in progress
// in bucket (tests assert that none is left behind).
func (s *S3Server) ListMultipartUploads(tb testing.TB, bucket string) int {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)}
	n := 0
	for {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			tb.Fatalf("storagetest: listing multipart uploads in %q: %v", bucket, err)
		}
		n += len(out.Uploads)
		if !aws.ToBool(out.IsTruncated) {
			return n
		}
		if aws.ToString(out.NextKeyMarker) == "" && aws.ToString(out.NextUploadIdMarker) == "" {
			tb.Fatalf("storagetest: listing multipart uploads in %q: truncated without a marker", bucket)
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// SharedS3 is one server shared by the tests of a package: declare it as
// a package variable, call Get from tests and Close from TestMain after
// m.Run (see the package documentation). The zero value is ready to use.
type SharedS3 struct {
	mu  sync.Mutex
	srv *S3Server
	err error
	dir string
}

// Get returns the shared server, starting it on first use. If it could
// not be started, every call fails the calling test.
func (sh *SharedS3) Get(tb testing.TB) *S3Server {
	tb.Helper()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.srv == nil && sh.err == nil {
		sh.srv, sh.err = sh.start()
	}
	if sh.err != nil {
		tb.Fatalf("storagetest: shared S3 server: %v", sh.err)
	}
	return sh.srv
}

func (sh *SharedS3) start() (*S3Server, error) {
	bin, err := s3Binary()
	if err != nil {
		return nil, err
	}
	sh.dir, err = os.MkdirTemp("", "wharf-s3-")
	if err != nil {
		return nil, err
	}
	return startS3(bin, sh.dir)
}

// Close stops the shared server, if it was started, and removes its data.
func (sh *SharedS3) Close() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.srv != nil {
		sh.srv.Stop()
	}
	if sh.dir != "" {
		os.RemoveAll(sh.dir)
	}
	sh.srv, sh.dir = nil, ""
	sh.err = errors.New("used after Close")
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// syncBuffer collects a child's output; the last 64 KiB are kept.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const maxOutput = 64 << 10

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - maxOutput; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
