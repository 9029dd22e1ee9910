package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/wharf-gw/wharf/internal/testlog"
)

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestServerLifecycle(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	dir := t.TempDir()
	cfg, err := LoadConfig("", append([]string{
		"WHARF_DATA_DIR=" + dir,
		"WHARF_LOG_FORMAT=json",
		"WHARF_BACKENDS_SCRATCH_URL=mem://",
		"WHARF_BACKENDS_DOWN_URL=s3://bucket?endpoint=http://" + closedPort(t) +
			"&region=us-east-1&use_path_style=true&anonymous=true&prefix=p&kmskeyid=s3cr3t",
	}, loopback...))
	if err != nil {
		t.Fatal(err)
	}
	var logs testlog.Buffer
	log := NewLogger(&logs, cfg.Log)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, log) }()

	waitFor(t, &logs, `"msg":"wharf ready"`)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return after its context was cancelled")
	}

	out := logs.String()
	for _, want := range []string{
		`"msg":"backend ready","component":"server","backend":"local"`,
		`"msg":"backend ready","component":"server","backend":"scratch"`,
		`"level":"WARN","msg":"backend does not answer; serving on, it is checked again when used","component":"server","backend":"down"`,
		`"msg":"ftp listening","component":"server","addr":"127.0.0.1:`,
		`"msg":"sftp listening","component":"server","addr":"127.0.0.1:`,
		`"msg":"admin listening","component":"server","addr":"127.0.0.1:`,
		`"msg":"stopped"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s\nlog:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cr3t") {
		t.Errorf("log leaks a secret URL option:\n%s", out)
	}
	if fi, err := os.Stat(filepath.Join(dir, "files")); err != nil || !fi.IsDir() {
		t.Errorf("default backend directory: %v", err)
	}
}

func TestServerNewReportsBackendsThatCannotOpen(t *testing.T) {
	cfg, err := LoadConfig("", []string{
		"WHARF_DATA_DIR=" + t.TempDir(),
		"WHARF_BACKENDS_BAD_URL=mem://?colour=blue",
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	ce, ok := errors.AsType[*ConfigError](err)
	if !ok || len(ce.Problems) != 1 || !strings.HasPrefix(ce.Problems[0], "backends.bad.url: cannot open: ") {
		t.Fatalf("New: %v, want one problem naming backends.bad.url", err)
	}
}

// waitFor polls buf until it contains s, failing the test after a minute.
func waitFor(t *testing.T, buf interface{ String() string }, s string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(buf.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q within a minute; output:\n%s", s, buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// buildWharf builds the wharf command into a temporary directory.
func buildWharf(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build wharf: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "wharf")
	cmd := exec.Command(goBin, "build", "-o", bin, "github.com/wharf-gw/wharf")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// loopback puts every listener on a loopback port the system chooses, so
// that tests neither collide nor listen beyond this machine.
var loopback = []string{"WHARF_FTP_LISTEN=127.0.0.1:0", "WHARF_SFTP_LISTEN=127.0.0.1:0", "WHARF_ADMIN_LISTEN=127.0.0.1:0"}

// hermeticEnv is the test's environment without WHARF_ variables, with
// the listeners on loopback.
func hermeticEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WHARF_") {
			env = append(env, kv)
		}
	}
	env = append(env, loopback...)
	return append(env, extra...)
}

// TestCommand runs the real binary: the embedded default starts and stops
// cleanly on SIGINT, and bad configuration fails at start naming the key.
func TestCommand(t *testing.T) {
	bin := buildWharf(t)

	t.Run("default config starts and stops on SIGINT", func(t *testing.T) {
		wd := t.TempDir()
		cmd := exec.Command(bin, "serve")
		cmd.Dir = wd
		cmd.Env = hermeticEnv()
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()

		var logs testlog.Buffer
		ready := make(chan struct{})
		copied := make(chan struct{})
		go func() {
			defer close(copied)
			sc := bufio.NewScanner(stderr)
			signalled := false
			for sc.Scan() {
				logs.Write(append(sc.Bytes(), '\n'))
				if !signalled && strings.Contains(sc.Text(), `msg="wharf ready"`) {
					close(ready)
					signalled = true
				}
			}
		}()
		select {
		case <-ready:
		case <-copied:
			t.Fatalf("wharf exited before it was ready; output:\n%s", logs.String())
		case <-time.After(time.Minute):
			t.Fatalf("wharf not ready within a minute; output:\n%s", logs.String())
		}

		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() {
			<-copied // Wait closes the pipe: read it to the end first
			exited <- cmd.Wait()
		}()
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("wharf serve after SIGINT: %v (want exit 0); output:\n%s", err, logs.String())
			}
		case <-time.After(time.Minute):
			t.Fatalf("wharf did not exit within a minute of SIGINT; output:\n%s", logs.String())
		}
		if fi, err := os.Stat(filepath.Join(wd, "wharf-data", "files")); err != nil || !fi.IsDir() {
			t.Errorf("./wharf-data/files: %v", err)
		}
		out := logs.String()
		for _, want := range []string{"config=\"embedded default\"", "backend=local", `msg="shutting down"`, "msg=stopped"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %s:\n%s", want, out)
			}
		}
	})

	// run runs bin with args in a fresh directory and returns its exit
	// code and stderr.
	run := func(t *testing.T, env []string, args ...string) (int, string) {
		t.Helper()
		var stderr bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Dir = t.TempDir()
		cmd.Env = hermeticEnv(env...)
		cmd.Stdout = io.Discard
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), stderr.String()
	}

	t.Run("invalid config file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "wharf.yaml")
		yaml := "storage:\n  upload_budget: 1MiB\nbackends:\n  s3main:\n    url: ftp://example.com/\n"
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		code, stderr := run(t, nil, "serve", "--config", path)
		want := "wharf: config: storage.upload_budget: must be at least 16MiB (got 1MiB)\n" +
			"wharf: config: backends.s3main.url: unsupported scheme \"ftp\" (want file, s3 or mem)\n"
		if code != 1 || stderr != want {
			t.Errorf("exit %d, stderr:\n%s\nwant exit 1, stderr:\n%s", code, stderr, want)
		}
	})

	t.Run("invalid environment", func(t *testing.T) {
		code, stderr := run(t, []string{"WHARF_LOG_FORMATT=json"}, "serve")
		want := "wharf: config: WHARF_LOG_FORMATT: unknown environment variable (it matches no configuration key)\n"
		if code != 1 || stderr != want {
			t.Errorf("exit %d, stderr:\n%s\nwant exit 1, stderr:\n%s", code, stderr, want)
		}
	})

	t.Run("bad usage", func(t *testing.T) {
		for _, args := range [][]string{{}, {"serve", "--bogus"}, {"serve", "extra"}, {"frobnicate"}, {"version", "x"}} {
			code, stderr := run(t, nil, args...)
			if code != 2 || strings.Count(stderr, "\n") != 1 || strings.Contains(stderr, "goroutine") {
				t.Errorf("wharf %q: exit %d, stderr %q; want exit 2 and one line", args, code, stderr)
			}
		}
	})

	t.Run("SIGTERM also stops cleanly", func(t *testing.T) {
		wd := t.TempDir()
		var logs testlog.Buffer
		cmd := exec.Command(bin, "serve")
		cmd.Dir = wd
		cmd.Env = hermeticEnv("WHARF_LOG_FORMAT=json")
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		waitFor(t, &logs, `"msg":"wharf ready"`)
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("after SIGTERM: %v, want exit 0; output:\n%s", err, logs.String())
		}
	})

	// Two nodes started at once on one store generate the host keys once
	// between them: both present the same three, those wharf hostkeys
	// prints.
	t.Run("two processes on one store present the same host keys", func(t *testing.T) {
		data := t.TempDir()
		addrRE := regexp.MustCompile(`msg="sftp listening" component=server addr=(\S+)`)
		var addrs []string
		logs := make([]*testlog.Buffer, 2)
		for i := range logs {
			logs[i] = &testlog.Buffer{}
			cmd := exec.Command(bin, "serve")
			cmd.Dir = t.TempDir()
			cmd.Env = hermeticEnv("WHARF_DATA_DIR=" + data)
			cmd.Stderr = logs[i]
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
		}
		for _, l := range logs {
			waitFor(t, l, `msg="wharf ready"`)
			addrs = append(addrs, addrRE.FindStringSubmatch(l.String())[1])
		}
		cmd := exec.Command(bin, "hostkeys", "--json")
		cmd.Env = hermeticEnv("WHARF_DATA_DIR=" + data)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("wharf hostkeys: %v", err)
		}
		var printed []struct{ Type, Key string }
		if err := json.Unmarshal(out, &printed); err != nil || len(printed) != 3 {
			t.Fatalf("wharf hostkeys --json: %v: %s", err, out)
		}
		for _, k := range printed {
			for _, addr := range addrs {
				if got := presentedKey(t, addr, k.Type); got != k.Key {
					t.Errorf("%s presents %s key %q, wharf hostkeys prints %q", addr, k.Type, got, k.Key)
				}
			}
		}
	})
}

// presentedKey returns the host key of type alg the SSH server at addr
// presents, in authorized_keys form.
func presentedKey(t *testing.T, addr, alg string) string {
	t.Helper()
	var key string
	algs := []string{alg}
	if alg == ssh.KeyAlgoRSA {
		algs = []string{ssh.KeyAlgoRSASHA256} // the key type; its SHA-2 signatures
	}
	cfg := &ssh.ClientConfig{User: "nobody", HostKeyAlgorithms: algs, Timeout: 10 * time.Second,
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
			key = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
			return nil
		}}
	if c, err := ssh.Dial("tcp", addr, cfg); err == nil {
		c.Close()
	}
	if key == "" {
		t.Fatalf("%s presented no %s host key", addr, alg)
	}
	return key
}
