package sftp

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net"
	"os"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/wharf-gw/wharf/auth"
)

// A big upload with pkg/sftp's concurrent writes (out of order on the
// server) arrives intact, and so does its download with concurrent reads.
func TestConcurrentWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.addUser("alice", "pw")
	c := e.client("alice", "pw", sftp.UseConcurrentWrites(true), sftp.MaxConcurrentRequestsPerFile(64),
		sftp.UseConcurrentReads(true))
	data := randomBytes(t, 40<<20+4321)
	f, err := c.Create("/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := f.ReadFrom(bytes.NewReader(data)); err != nil || n != int64(len(data)) {
		t.Fatalf("upload: %d %v", n, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(e.object("users/alice/big.bin")) != sha256.Sum256(data) {
		t.Fatal("stored object differs")
	}
	if sha256.Sum256(readFile(t, c, "/big.bin")) != sha256.Sum256(data) {
		t.Fatal("download differs")
	}
	if n := e.multipartUploads(); n != 0 {
		t.Fatalf("%d multipart uploads left", n)
	}
}

// Writes far out of order go through the spill file; overlapping writes
// of bytes not yet streamed are honoured (the last one wins).
func TestOutOfOrderWrites(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{cfg: func(c *Config) { c.WriteWindow = 64 << 10; c.MaxSpill = 2 << 20 }})
	e.addUser("alice", "pw")
	c := e.client("alice", "pw")
	data := randomBytes(t, 1<<20+1000)
	want := bytes.Clone(data)
	f, err := c.Create("/rev.bin")
	if err != nil {
		t.Fatal(err)
	}
	const chunk = 32 << 10
	// Backwards, so that everything but the last chunks waits on disk.
	for off := (len(data) - 1) / chunk * chunk; off >= chunk; off -= chunk {
		end := min(off+chunk, len(data))
		if _, err := f.WriteAt(data[off:end], int64(off)); err != nil {
			t.Fatalf("WriteAt %d: %v", off, err)
		}
	}
	// Rewrite bytes still pending, both on disk and in memory.
	patch := bytes.Repeat([]byte("P"), 50_000)
	if _, err := f.WriteAt(patch, 500_000); err != nil {
		t.Fatal(err)
	}
	copy(want[500_000:], patch)
	if _, err := f.WriteAt(data[:chunk], 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := e.object("users/alice/rev.bin"); !bytes.Equal(got, want) {
		t.Fatalf("stored object differs (%d bytes)", len(got))
	}
	if !contains(e.logs.String(), "spilled=") {
		t.Error("the upload did not use the spill file")
	}
}

// Uploads that cannot be stored correctly fail with a clear error and
// leave the previous version.
func TestWriteFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{cfg: func(c *Config) { c.WriteWindow = 64 << 10; c.MaxSpill = 128 << 10 }})
	e.addUser("alice", "pw")
	c := e.client("alice", "pw")
	old := []byte("the previous version")
	for name, tc := range map[string]struct {
		writes  func(f *sftp.File) error
		message string
	}{
		"spill limit": {func(f *sftp.File) error {
			for off := int64(1 << 20); off >= 0; off -= 32 << 10 {
				if _, err := f.WriteAt(make([]byte, 32<<10), off); err != nil {
					return err
				}
			}
			return nil
		}, "too far out of order"},
		"rewrite": {func(f *sftp.File) error {
			if _, err := f.WriteAt(make([]byte, 64<<10), 0); err != nil {
				return err
			}
			_, err := f.WriteAt([]byte("x"), 10)
			return err
		}, "rewriting data already uploaded"},
		"gap": {func(f *sftp.File) error {
			f.WriteAt(make([]byte, 1000), 0)
			_, err := f.WriteAt(make([]byte, 1000), 5000)
			return err
		}, "incomplete upload: no data was received for bytes 1000 to 5000"},
	} {
		key := "users/alice/" + name
		e.putObject(key, old)
		f, err := c.Create("/" + name)
		if err != nil {
			t.Fatal(err)
		}
		werr := tc.writes(f)
		cerr := f.Close()
		if werr == nil {
			werr = cerr
		}
		if statusCode(werr) != codeFailure || !contains(werr.Error(), tc.message) {
			t.Errorf("%s: got %v, want a failure saying %q", name, werr, tc.message)
		}
		if cerr == nil {
			t.Errorf("%s: close succeeded", name)
		}
		if got := e.object(key); !bytes.Equal(got, old) {
			t.Errorf("%s: the previous version was replaced by %d bytes", name, len(got))
		}
	}
}

// writeAtClose opens name with flag, writes data at off and closes it.
func writeAtClose(t *testing.T, c *sftp.Client, name string, flag int, data []byte, off int64) {
	t.Helper()
	f, err := c.OpenFile(name, flag)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	if _, err := f.WriteAt(data, off); err != nil {
		t.Fatalf("write %s at %d: %v", name, off, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close %s: %v", name, err)
	}
}

// Opens without truncation keep the existing bytes: append, resume at the
// end (OpenSSH reput, psftp), and overwriting in place.
func TestResume(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.addUser("alice", "pw")
	e.addUser("dropper", "pw", func(u *auth.User) { u.Rules = []auth.Rule{{Pattern: "/", Perms: "list,write,overwrite"}} })
	e.addUser("appender", "pw", func(u *auth.User) { u.Rules = []auth.Rule{{Pattern: "/", Perms: "list,append"}} })
	e.addUser("rewriter", "pw", func(u *auth.User) { u.Rules = []auth.Rule{{Pattern: "/", Perms: "list,read,write,overwrite"}} })
	c := e.client("alice", "pw")
	old := randomBytes(t, 6<<20+17) // more than a part: copied as a multipart upload
	more := randomBytes(t, 2<<20+5)

	// Append: the client seeks to the end (FSTAT on the open handle).
	e.putObject("users/alice/a.bin", old)
	f, err := c.OpenFile("/a.bin", os.O_WRONLY|os.O_APPEND)
	if err != nil {
		t.Fatal(err)
	}
	if pos, err := f.Seek(0, io.SeekEnd); err != nil || pos != int64(len(old)) {
		t.Fatalf("seek to the end: %d %v", pos, err)
	}
	if _, err := f.Write(more); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := e.object("users/alice/a.bin"); !bytes.Equal(got, append(bytes.Clone(old), more...)) {
		t.Fatalf("append: %d bytes", len(got))
	}

	// Append without seeking: pkg/sftp's client writes from offset 0, and
	// the flag puts the writes at the end of the file, as OpenSSH's
	// server does.
	e.putObject("users/alice/z.bin", old)
	writeAtClose(t, c, "/z.bin", os.O_WRONLY|os.O_APPEND, more, 0)
	if got := e.object("users/alice/z.bin"); !bytes.Equal(got, append(bytes.Clone(old), more...)) {
		t.Fatalf("append from offset 0: %d bytes", len(got))
	}

	// Append starting elsewhere inside the file is refused; the file stays.
	e.putObject("users/alice/b.bin", old)
	f, err = c.OpenFile("/b.bin", os.O_WRONLY|os.O_APPEND)
	if err != nil {
		t.Fatal(err)
	}
	_, werr := f.WriteAt([]byte("x"), 10)
	if statusCode(werr) != codeFailure || !contains(werr.Error(), "inside the existing file") {
		t.Fatalf("append at 10: %v", werr)
	}
	if err := f.Close(); err == nil {
		t.Fatal("close succeeded")
	}
	if got := e.object("users/alice/b.bin"); !bytes.Equal(got, old) {
		t.Fatal("refused append changed the file")
	}

	// Resume without the append flag: the first write at the old size.
	// It becomes an append; without the append permission, the existing
	// bytes are streamed instead.
	for _, tc := range []struct {
		user string
		c    *sftp.Client
		op   string
	}{{"alice", c, "append"}, {"rewriter", e.client("rewriter", "pw"), "upload"}} {
		e.putObject("users/"+tc.user+"/c.bin", old)
		writeAtClose(t, tc.c, "/c.bin", os.O_WRONLY, more, int64(len(old)))
		if got := e.object("users/" + tc.user + "/c.bin"); !bytes.Equal(got, append(bytes.Clone(old), more...)) {
			t.Fatalf("%s: resume: %d bytes", tc.user, len(got))
		}
		if !contains(e.logs.String(), "user="+tc.user+" op="+tc.op+" path=/c.bin result=ok") {
			t.Errorf("%s: the resumed upload was not logged as %s:\n%s", tc.user, tc.op, e.logs.String())
		}
	}

	// Overwrite in place: the rest of the file stays.
	e.putObject("users/alice/d.bin", old)
	f, err = c.OpenFile("/d.bin", os.O_WRONLY)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("XYZ"), 10); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("tail"), int64(len(old))-2); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	want := append(bytes.Clone(old[:len(old)-2]), "tail"...)
	copy(want[10:], "XYZ")
	if got := e.object("users/alice/d.bin"); !bytes.Equal(got, want) {
		t.Fatalf("overwrite in place: %d bytes", len(got))
	}

	// Opened and closed without writing: nothing changes.
	f, err = c.OpenFile("/d.bin", os.O_WRONLY)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := e.object("users/alice/d.bin"); !bytes.Equal(got, want) {
		t.Fatal("an open without writes changed the file")
	}

	// Appending needs the append permission, and not read: the storage
	// keeps the bytes without the server reading them. Rewriting part of
	// a file needs read.
	e.putObject("users/dropper/e.bin", old)
	dc := e.client("dropper", "pw")
	if _, err := dc.OpenFile("/e.bin", os.O_WRONLY|os.O_APPEND); statusCode(err) != codePermissionDenied {
		t.Fatalf("append without the append permission: %v", err)
	}
	if _, err := dc.OpenFile("/e.bin", os.O_WRONLY); statusCode(err) != codePermissionDenied {
		t.Fatalf("open without truncation or read permission: %v", err)
	}
	if !contains(e.logs.String(), "needs read permission") {
		t.Error("the refusal does not say why")
	}
	e.putObject("users/appender/log.txt", []byte("line 1\n"))
	ac := e.client("appender", "pw")
	f, err = ac.OpenFile("/log.txt", os.O_WRONLY|os.O_APPEND)
	if err != nil {
		t.Fatalf("append with only the append permission: %v", err)
	}
	if _, err := f.WriteAt([]byte("line 2\n"), 7); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := e.object("users/appender/log.txt"); string(got) != "line 1\nline 2\n" {
		t.Fatalf("append-only user: %q", got)
	}
	writeFile(t, dc, "/e.bin", []byte("replaced")) // a whole upload is fine
	if got := e.object("users/dropper/e.bin"); string(got) != "replaced" {
		t.Fatalf("dropper upload: %q", got)
	}
	if n := e.multipartUploads(); n != 0 {
		t.Fatalf("%d multipart uploads left", n)
	}
}

// An SFTP channel closed in the middle of an upload, its SSH connection
// kept, aborts the upload (pkg/sftp's TransferError): the old object stays,
// no multipart upload is left, and the connection serves a new channel.
func TestChannelClosedMidUpload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.addUser("alice", "pw")
	old := randomBytes(t, 1<<20)
	e.putObject("users/alice/big.bin", old)
	c, err := e.dial("alice", ssh.Password("pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, err := sftp.NewClient(c)
	if err != nil {
		t.Fatal(err)
	}
	f, err := sc.Create("/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(randomBytes(t, 12<<20)); err != nil { // more than a part: a multipart upload
		t.Fatal(err)
	}
	sc.Close() // the channel, without closing the handle
	waitFor(t, 10*time.Second, "the audit line of the aborted upload", func() bool {
		return contains(e.logs.String(), `op=upload path=/big.bin result="connection lost: the upload is cancelled"`)
	})
	if got := e.object("users/alice/big.bin"); !bytes.Equal(got, old) {
		t.Fatalf("the old object was replaced by %d bytes", len(got))
	}
	waitFor(t, 10*time.Second, "no multipart upload left", func() bool { return e.multipartUploads() == 0 })
	sc2, err := sftp.NewClient(c)
	if err != nil {
		t.Fatalf("a new channel on the same connection: %v", err)
	}
	defer sc2.Close()
	if fi, err := sc2.Stat("/big.bin"); err != nil || fi.Size() != int64(len(old)) {
		t.Fatalf("stat after the aborted upload: %v, %v", fi, err)
	}
}

// cutConn closes the underlying connection once limit bytes were written.
type cutConn struct {
	net.Conn
	limit   int64
	written atomic.Int64
}

func (c *cutConn) Write(p []byte) (int, error) {
	if c.written.Add(int64(len(p))) > c.limit {
		c.Conn.Close()
		return 0, net.ErrClosed
	}
	return c.Conn.Write(p)
}

// A connection lost in the middle of an upload over an existing object
// leaves the object as it was and no multipart upload behind.
func TestInterruptedUpload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.addUser("alice", "pw")
	old := randomBytes(t, 1<<20)
	e.putObject("users/alice/big.bin", old)

	nc, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	cc := &cutConn{Conn: nc, limit: 25 << 20}
	sc, chans, reqs, err := ssh.NewClientConn(cc, e.addr, clientConfig("alice", ssh.Password("pw")))
	if err != nil {
		t.Fatal(err)
	}
	client := ssh.NewClient(sc, chans, reqs)
	defer client.Close()
	c, err := sftp.NewClient(client, sftp.UseConcurrentWrites(true))
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Create("/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	_, werr := f.ReadFrom(bytes.NewReader(randomBytes(t, 50<<20)))
	cerr := f.Close()
	if werr == nil && cerr == nil {
		t.Fatal("the interrupted upload succeeded")
	}
	waitFor(t, 10*time.Second, "the server to end the session", func() bool { return e.reg.Count() == 0 })
	if got := e.object("users/alice/big.bin"); !bytes.Equal(got, old) {
		t.Fatalf("the old object was replaced by %d bytes", len(got))
	}
	waitFor(t, 10*time.Second, "no multipart upload left", func() bool { return e.multipartUploads() == 0 })
	if !regexp.MustCompile(`op=upload path=/big.bin result="(connection lost|operation cancelled)`).MatchString(e.logs.String()) {
		t.Errorf("no audit line for the aborted upload")
	}
}
