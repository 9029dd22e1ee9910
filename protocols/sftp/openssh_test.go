package sftp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sync/errgroup"
)

// These tests drive the real OpenSSH clients (Debian's openssh-client).
// They run when the binaries are installed, and fail rather than skip in
// CI (CI=true), where .ci/run installs them.

// requireTool returns the path of an OpenSSH client binary.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed: CI must run the OpenSSH client tests (apt-get install openssh-client)", name)
	}
	t.Skipf("%s is not installed", name)
	return ""
}

// openssh runs OpenSSH clients against an env as alice, with a key.
type openssh struct {
	t    *testing.T
	e    *env
	dir  string // the clients' working directory
	home string
	opts []string
}

func newOpenSSH(t *testing.T, e *env) *openssh {
	t.Helper()
	requireTool(t, "sftp")
	signer, key := userKey(t)
	e.addUser("alice", "pw", withKey(signer.PublicKey()))
	o := &openssh{t: t, e: e, dir: t.TempDir(), home: t.TempDir()}
	block, err := ssh.MarshalPrivateKey(key, "alice")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(o.home, "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(e.addr)
	o.opts = []string{"-F", "/dev/null", "-P", port, "-i", keyFile,
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"}
	return o
}

func (o *openssh) run(name string, args ...string) (string, error) {
	o.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, requireTool(o.t, name), args...)
	cmd.Dir = o.dir
	cmd.Env = append(os.Environ(), "HOME="+o.home, "SSH_AUTH_SOCK=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// batch runs an sftp batch script; every command must succeed.
func (o *openssh) batch(script string) string {
	o.t.Helper()
	f := filepath.Join(o.home, "batch")
	if err := os.WriteFile(f, []byte(script), 0o600); err != nil {
		o.t.Fatal(err)
	}
	out, err := o.run("sftp", append(append([]string{}, o.opts...), "-b", f, "alice@127.0.0.1")...)
	if err != nil {
		o.t.Fatalf("sftp -b:\n%s\n%s: %v", script, out, err)
	}
	return out
}

// scp runs scp; port flags are the same as sftp's.
func (o *openssh) scp(args ...string) (string, error) {
	o.t.Helper()
	requireTool(o.t, "scp")
	return o.run("scp", append(append([]string{}, o.opts...), args...)...)
}

// local writes a local file of n random bytes and returns its content.
func (o *openssh) local(name string, n int) []byte {
	o.t.Helper()
	b := randomBytes(o.t, n)
	if err := os.WriteFile(filepath.Join(o.dir, name), b, 0o644); err != nil {
		o.t.Fatal(err)
	}
	return b
}

func (o *openssh) read(name string) []byte {
	o.t.Helper()
	b, err := os.ReadFile(filepath.Join(o.dir, name))
	if err != nil {
		o.t.Fatal(err)
	}
	return b
}

func sameSum(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if sha256.Sum256(got) != sha256.Sum256(want) {
		t.Fatalf("%s: sha256 differs (%d bytes, want %d)", what, len(got), len(want))
	}
}

// put and get of 100 MiB.
func TestOpenSSHPutGet(t *testing.T) {
	t.Parallel()
	requireTool(t, "sftp")
	e := newEnv(t, envOpts{})
	o := newOpenSSH(t, e)
	data := o.local("big.bin", 100<<20)
	o.batch("put big.bin /big.bin\nget /big.bin big.out\n")
	sameSum(t, "stored object", e.object("users/alice/big.bin"), data)
	sameSum(t, "download", o.read("big.out"), data)
	if n := e.multipartUploads(); n != 0 {
		t.Fatalf("%d multipart uploads left", n)
	}
}

// reput and reget continue partial transfers.
func TestOpenSSHResume(t *testing.T) {
	t.Parallel()
	requireTool(t, "sftp")
	e := newEnv(t, envOpts{})
	o := newOpenSSH(t, e)
	data := o.local("full.bin", 20<<20+12345)
	os.WriteFile(filepath.Join(o.dir, "head.bin"), data[:7<<20+3], 0o644)
	o.batch("put head.bin /res.bin\nreput full.bin /res.bin\n")
	sameSum(t, "after reput", e.object("users/alice/res.bin"), data)
	if !contains(e.logs.String(), fmt.Sprintf("op=append path=/res.bin result=ok bytes=%d size=%d duration=", len(data)-(7<<20+3), len(data))) {
		t.Errorf("reput did not send only the rest:\n%s", e.logs.String())
	}

	os.WriteFile(filepath.Join(o.dir, "partial.out"), data[:5<<20+1], 0o644)
	o.batch("reget /res.bin partial.out\n")
	sameSum(t, "after reget", o.read("partial.out"), data)
	// Only the rest is read; OpenSSH's parallel requests may arrive out of
	// order and cost a reopen or two, never one request per packet.
	re := regexp.MustCompile(fmt.Sprintf(`op=download path=/res.bin result=ok bytes=%d size=%d reopens=[1-4] `, len(data)-(5<<20+1), len(data)))
	if !re.MatchString(e.logs.String()) {
		t.Errorf("reget did not read only the rest in one stream or a few:\n%s", e.logs.String())
	}
}

// OpenSSH's sftp killed (SIGKILL) in the middle of a 50 MiB upload over an
// existing object: the object stays as it was and no multipart upload is
// left.
func TestOpenSSHKilledMidUpload(t *testing.T) {
	t.Parallel()
	requireTool(t, "sftp")
	e := newEnv(t, envOpts{})
	o := newOpenSSH(t, e)
	old := randomBytes(t, 1<<20)
	e.putObject("users/alice/big.bin", old)
	o.local("big.bin", 50<<20)
	script := filepath.Join(o.home, "batch")
	if err := os.WriteFile(script, []byte("put big.bin /big.bin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(requireTool(t, "sftp"), append(append([]string{}, o.opts...), "-b", script, "alice@127.0.0.1")...)
	cmd.Dir = o.dir
	cmd.Env = append(os.Environ(), "HOME="+o.home, "SSH_AUTH_SOCK=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once a part has gone (8 MiB) and well before the end.
	waitFor(t, 30*time.Second, "the upload to be under way", func() bool {
		for _, si := range e.reg.List() {
			if si.BytesIn > 12<<20 {
				return true
			}
		}
		return false
	})
	cmd.Process.Kill()
	cmd.Wait()
	waitFor(t, 10*time.Second, "the server to end the session", func() bool { return e.reg.Count() == 0 })
	if got := e.object("users/alice/big.bin"); !bytes.Equal(got, old) {
		t.Fatalf("the old object was replaced by %d bytes", len(got))
	}
	waitFor(t, 10*time.Second, "no multipart upload left", func() bool { return e.multipartUploads() == 0 })
	if !contains(e.logs.String(), `op=upload path=/big.bin result="connection lost`) {
		t.Errorf("no audit line for the killed upload:\n%s", e.logs.String())
	}
}

// An RSA user key logs in with rsa-sha2-256 and rsa-sha2-512 signatures
// and not with ssh-rsa's SHA-1 ones.
func TestOpenSSHRSAKeys(t *testing.T) {
	t.Parallel()
	requireTool(t, "sftp")
	e := newEnv(t, envOpts{file: true})
	o := newOpenSSH(t, e)
	key, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	e.addUser("bob", "", withKey(signer.PublicKey()))
	block, err := ssh.MarshalPrivateKey(key, "bob")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(o.home, "id_rsa")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := slices.Clone(o.opts)
	opts[slices.Index(opts, "-i")+1] = keyFile
	script := filepath.Join(o.home, "batch")
	if err := os.WriteFile(script, []byte("ls /\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for alg, want := range map[string]bool{"rsa-sha2-256": true, "rsa-sha2-512": true, "ssh-rsa": false} {
		out, err := o.run("sftp", append(slices.Clone(opts), "-o", "PubkeyAcceptedAlgorithms="+alg, "-b", script, "bob@127.0.0.1")...)
		if (err == nil) != want {
			t.Errorf("signature %s: logged in %v, want %v:\n%s", alg, err == nil, want, out)
		}
	}
}

// put -p keeps the modification time; directories are made, renamed and
// removed; files removed; chmod, chown and chgrp are accepted (and
// ignored) on a file, chmod of a missing one is "no such file".
func TestOpenSSHCommands(t *testing.T) {
	t.Parallel()
	requireTool(t, "sftp")
	e := newEnv(t, envOpts{})
	o := newOpenSSH(t, e)
	small := o.local("small.txt", 1000)
	mt := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	os.Chtimes(filepath.Join(o.dir, "small.txt"), mt, mt)
	out := o.batch(strings.Join([]string{
		"put -p small.txt /kept.txt",
		"mkdir /d1",
		"mkdir /d1/sub",
		"put small.txt /d1/sub/a.txt",
		"put small.txt /d1/b.txt",
		"rename /d1 /d2",
		"ls -l /d2/sub",
		"get /d2/sub/a.txt a.out",
		"rm /d2/sub/a.txt",
		"rm /d2/b.txt",
		"rmdir /d2/sub",
		"rmdir /d2",
		"ls -l /kept.txt",
		"df -h /",
		"chmod 600 /kept.txt", // accepted and ignored, as are owners
		"chown 1000 /kept.txt",
		"chgrp 1000 /kept.txt",
		"-chmod 600 /missing.txt", // no such file
		"-ln -s /kept.txt /link",  // refused, and batch mode carries on thanks to "-"
		"-put small.txt /folder1/nope.txt",
		"",
	}, "\n"))
	if !strings.Contains(out, "a.txt") {
		t.Errorf("listing of the renamed directory:\n%s", out)
	}
	sameSum(t, "download after the rename", o.read("a.out"), small)
	c := e.client("alice", "pw")
	fi, err := c.Stat("/kept.txt")
	if err != nil || !fi.ModTime().Equal(mt) || fi.Size() != 1000 {
		t.Fatalf("put -p: %v %v", err, fi.ModTime())
	}
	if got := names(t, c, "/"); strings.Join(got, " ") != "folder1/ folder2/ kept.txt" {
		t.Fatalf("left behind: %v", got)
	}
	if !strings.Contains(out, "Permission denied") {
		t.Errorf("upload into the read-only folder:\n%s", out)
	}
	if !strings.Contains(out, `"/missing.txt": No such file`) {
		t.Errorf("chmod of a missing file:\n%s", out)
	}
}

// ls of a directory of 5,000 objects written directly to the bucket.
func TestOpenSSHLargeDirectory(t *testing.T) {
	t.Parallel()
	requireTool(t, "sftp")
	e := newEnv(t, envOpts{})
	o := newOpenSSH(t, e)
	const n = 5000
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(32)
	for i := range n {
		g.Go(func() error {
			return e.bucket.WriteAll(ctx, fmt.Sprintf("users/alice/many/f%04d", i), []byte("x"), nil)
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out := o.batch("ls -1 /many\n")
	t.Logf("ls of %d entries: %v", n, time.Since(start))
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`f\d{4}`).FindAllString(out, -1) {
		seen[m] = true
	}
	if len(seen) != n {
		t.Fatalf("ls listed %d of %d entries", len(seen), n)
	}
}

// scp (SFTP protocol) upload and download; legacy scp is refused.
func TestSCP(t *testing.T) {
	t.Parallel()
	requireTool(t, "sftp")
	requireTool(t, "scp")
	e := newEnv(t, envOpts{})
	o := newOpenSSH(t, e)
	data := o.local("s.bin", 12<<20+7)
	if out, err := o.scp("s.bin", "alice@127.0.0.1:/scp.bin"); err != nil {
		t.Fatalf("scp upload: %v\n%s", err, out)
	}
	sameSum(t, "scp upload", e.object("users/alice/scp.bin"), data)
	if out, err := o.scp("alice@127.0.0.1:/scp.bin", "s.out"); err != nil {
		t.Fatalf("scp download: %v\n%s", err, out)
	}
	sameSum(t, "scp download", o.read("s.out"), data)
	if out, err := o.scp("-p", "s.bin", "alice@127.0.0.1:/folder2/"); err != nil {
		t.Fatalf("scp -p into a directory: %v\n%s", err, out)
	}
	sameSum(t, "scp into a directory", e.object("rw/s.bin"), data)
	// Legacy scp runs a remote command: refused.
	if out, err := o.scp("-O", "s.bin", "alice@127.0.0.1:/legacy.bin"); err == nil {
		t.Fatalf("legacy scp accepted:\n%s", out)
	}
	if _, err := e.bucket.Attributes(context.Background(), "users/alice/legacy.bin"); err == nil {
		t.Fatal("legacy scp stored a file")
	}
}
