package sftp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/pkg/sftp"

	"github.com/wharf-gw/wharf/storage/storagetest"
)

func writeFile(t *testing.T, c *sftp.Client, name string, data []byte) {
	t.Helper()
	if err := tryWriteFile(c, name, data); err != nil {
		t.Fatalf("upload %s: %v", name, err)
	}
}

// tryWriteFile uploads data to name and returns the first failure of the
// create, the write or the close.
func tryWriteFile(c *sftp.Client, name string, data []byte) error {
	f, err := c.Create(name)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func readFile(t *testing.T, c *sftp.Client, name string) []byte {
	t.Helper()
	f, err := c.Open(name)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return b
}

func names(t *testing.T, c *sftp.Client, dir string) []string {
	t.Helper()
	fis, err := c.ReadDir(dir)
	if err != nil {
		t.Fatalf("readdir %s: %v", dir, err)
	}
	var out []string
	for _, fi := range fis {
		n := fi.Name()
		if fi.IsDir() {
			n += "/"
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Every operation through pkg/sftp's client, checked against the bucket.
func TestOperations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.addUser("alice", "pw")
	c := e.client("alice", "pw")

	// Upload, stat, list, download.
	writeFile(t, c, "/hello.txt", []byte("hello, world"))
	if got := e.object("users/alice/hello.txt"); string(got) != "hello, world" {
		t.Fatalf("object: %q", got)
	}
	fi, err := c.Stat("/hello.txt")
	if err != nil || fi.Size() != 12 || fi.IsDir() {
		t.Fatalf("stat: %v %+v", err, fi)
	}
	if fi, err := c.Lstat("hello.txt"); err != nil || fi.Size() != 12 {
		t.Fatalf("lstat (relative): %v", err)
	}
	if got := string(readFile(t, c, "/hello.txt")); got != "hello, world" {
		t.Fatalf("download: %q", got)
	}
	if _, err := c.Stat("/missing"); !errors.Is(err, os.ErrNotExist) || statusCode(err) != codeNoSuchFile {
		t.Fatalf("stat missing: %v", err)
	}
	if _, err := c.Open("/missing"); statusCode(err) != codeNoSuchFile {
		t.Fatalf("open missing: %v", err)
	}
	if _, err := c.OpenFile("/missing", os.O_WRONLY); statusCode(err) != codeNoSuchFile {
		t.Fatalf("open missing for writing without O_CREATE: %v", err)
	}
	if _, err := c.OpenFile("/hello.txt", os.O_WRONLY|os.O_CREATE|os.O_EXCL); statusCode(err) != codeFailure {
		t.Fatalf("exclusive create of an existing file: %v", err)
	}
	// Read-write opens are uploads: reads on them fail, and without
	// writes the file stays.
	rw, err := c.OpenFile("/hello.txt", os.O_RDWR)
	if err != nil {
		t.Fatalf("read-write open: %v", err)
	}
	if _, err := rw.Read(make([]byte, 5)); err == nil {
		t.Fatal("read on an upload handle")
	}
	if err := rw.Close(); err != nil {
		t.Fatal(err)
	}
	if got := e.object("users/alice/hello.txt"); string(got) != "hello, world" {
		t.Fatalf("after a read-write open: %q", got)
	}

	// Directories.
	if err := c.Mkdir("/docs"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mkdir("/docs"); statusCode(err) != codeFailure {
		t.Fatalf("mkdir twice: %v", err)
	}
	writeFile(t, c, "/docs/a.txt", []byte("a"))
	writeFile(t, c, "/docs/b.txt", []byte("bb"))
	if got := names(t, c, "/docs"); !slices.Equal(got, []string{"a.txt", "b.txt"}) {
		t.Fatalf("list: %v", got)
	}
	if got := names(t, c, "/"); !slices.Equal(got, []string{"docs/", "folder1/", "folder2/", "hello.txt"}) {
		t.Fatalf("list /: %v", got)
	}
	if err := c.RemoveDirectory("/docs"); statusCode(err) != codeFailure {
		t.Fatalf("rmdir non-empty: %v", err)
	}
	if _, err := c.ReadDir("/nowhere"); statusCode(err) != codeNoSuchFile {
		t.Fatalf("list missing: %v", err)
	}

	// Renames: SFTP rename refuses to replace, posix-rename replaces.
	if err := c.Rename("/docs/a.txt", "/docs/b.txt"); statusCode(err) != codeFailure {
		t.Fatalf("rename onto an existing file: %v", err)
	}
	if err := c.PosixRename("/docs/a.txt", "/docs/b.txt"); err != nil {
		t.Fatal(err)
	}
	if got := string(readFile(t, c, "/docs/b.txt")); got != "a" {
		t.Fatalf("after posix-rename: %q", got)
	}
	if err := c.Rename("/docs/b.txt", "/docs/c.txt"); err != nil {
		t.Fatal(err)
	}
	// Directory rename.
	if err := c.Rename("/docs", "/papers"); err != nil {
		t.Fatal(err)
	}
	if got := names(t, c, "/papers"); !slices.Equal(got, []string{"c.txt"}) {
		t.Fatalf("renamed dir: %v", got)
	}
	if _, err := c.Stat("/docs"); statusCode(err) != codeNoSuchFile {
		t.Fatalf("old dir: %v", err)
	}

	// Times are stored, permissions and owners ignored, sizes refused.
	mt := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := c.Chtimes("/hello.txt", mt, mt); err != nil {
		t.Fatal(err)
	}
	if fi, err := c.Stat("/hello.txt"); err != nil || !fi.ModTime().Equal(mt) {
		t.Fatalf("mtime: %v %v", err, fi.ModTime())
	}
	if err := c.Chmod("/hello.txt", 0o600); err != nil {
		t.Fatalf("chmod: %v", err)
	}
	if err := c.Chown("/hello.txt", 1000, 1000); err != nil {
		t.Fatalf("chown: %v", err)
	}
	if err := c.Truncate("/hello.txt", 12); err != nil {
		t.Fatalf("truncate to the same size: %v", err)
	}
	if err := c.Truncate("/hello.txt", 3); statusCode(err) != codeOpUnsupported {
		t.Fatalf("truncate: %v", err)
	}
	if err := c.Chtimes("/missing", mt, mt); statusCode(err) != codeNoSuchFile {
		t.Fatalf("chtimes missing: %v", err)
	}

	// No links.
	if err := c.Symlink("/hello.txt", "/link"); statusCode(err) != codeOpUnsupported {
		t.Fatalf("symlink: %v", err)
	}
	if err := c.Link("/hello.txt", "/link"); statusCode(err) != codeOpUnsupported {
		t.Fatalf("hard link: %v", err)
	}
	if _, err := c.ReadLink("/hello.txt"); statusCode(err) != codeOpUnsupported {
		t.Fatalf("readlink: %v", err)
	}

	// Paths.
	for in, want := range map[string]string{".": "/", "a/../b": "/b", "/x/./y/": "/x/y", "..": "/"} {
		if got, err := c.RealPath(in); err != nil || got != want {
			t.Errorf("realpath %q = %q, %v; want %q", in, got, err, want)
		}
	}
	if wd, err := c.Getwd(); err != nil || wd != "/" {
		t.Fatalf("getwd: %q %v", wd, err)
	}
	vfs, err := c.StatVFS("/")
	if err != nil || vfs.FreeSpace() == 0 || vfs.Namemax != 255 {
		t.Fatalf("statvfs: %v %+v", err, vfs)
	}

	// Removal.
	if err := c.Remove("/papers/c.txt"); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveDirectory("/papers"); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove("/hello.txt"); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove("/hello.txt"); statusCode(err) != codeNoSuchFile {
		t.Fatalf("remove twice: %v", err)
	}
	if got := names(t, c, "/"); !slices.Equal(got, []string{"folder1/", "folder2/"}) {
		t.Fatalf("list / at the end: %v", got)
	}
	if !contains(e.logs.String(), `op=rename path=/docs result=ok to=/papers`) {
		t.Errorf("no audit line for the directory rename:\n%s", e.logs.String())
	}
}

// FSTAT and FSETSTAT on a file being uploaded are answered from the open
// handle; put -p's times reach the object.
func TestOpenHandleStat(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.addUser("alice", "pw")
	c := e.client("alice", "pw")
	f, err := c.Create("/up.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 100_000)); err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil || fi.Size() != 100_000 {
		t.Fatalf("fstat during upload: %v %v", err, fi)
	}
	if fi, err := c.Stat("/up.bin"); err != nil || fi.Size() != 100_000 {
		t.Fatalf("stat during upload: %v %v", err, fi)
	}
	mt := time.Date(2010, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := f.Chmod(0o640); err != nil {
		t.Fatalf("fchmod: %v", err)
	}
	if err := c.Chtimes("/up.bin", mt, mt); err != nil {
		t.Fatalf("set times during upload: %v", err)
	}
	if fi, err := f.Stat(); err != nil || !fi.ModTime().Equal(mt) {
		t.Fatalf("fstat after setting times: %v %v", err, fi.ModTime())
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := c.Stat("/up.bin"); err != nil || fi.Size() != 100_000 || !fi.ModTime().Equal(mt) {
		t.Fatalf("after the upload: %v %v %v", err, fi.Size(), fi.ModTime())
	}
}

// A read that arrives after the window has moved past its bytes is served
// by a request of its own, leaving the stream alone; one further behind
// reopens the stream.
func TestReadStragglers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.addUser("alice", "pw")
	const size = 6 << 20
	data := randomBytes(t, size)
	e.putObject("users/alice/data.bin", data)
	c := e.client("alice", "pw")
	f, err := c.Open("/data.bin")
	if err != nil {
		t.Fatal(err)
	}
	read := func(off int64) {
		t.Helper()
		buf := make([]byte, 32<<10)
		if n, err := f.ReadAt(buf, off); n != len(buf) || (err != nil && err != io.EOF) || !bytes.Equal(buf, data[off:off+int64(n)]) {
			t.Fatalf("ReadAt %d: n=%d err=%v", off, n, err)
		}
	}
	// In order up to the last 32 KiB: the fetcher stops at the end of the
	// file, so the window then starts between size-window-32 KiB and
	// size-window, whenever the fetcher gets there.
	for off := int64(0); off < size-32<<10; off += 32 << 10 {
		read(off)
	}
	read(size - DefaultReadWindow - 128<<10) // a straggler: 96 to 128 KiB behind
	read(1 << 20)                            // far behind: a reopen
	f.Close()
	waitFor(t, 5*time.Second, "the audit line of the download", func() bool {
		return contains(e.logs.String(), fmt.Sprintf("op=download path=/data.bin result=ok bytes=%d size=%d reopens=1 behind=1 ",
			size-32<<10+2*32<<10, size))
	})
}

// Random-access reads: correct bytes, and reads in order cost one stream.
func TestReads(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.addUser("alice", "pw")
	data := randomBytes(t, 6<<20+123)
	e.putObject("users/alice/data.bin", data)
	c := e.client("alice", "pw")

	f, err := c.Open("/data.bin")
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{5 << 20, 100, 3<<20 + 7, 0, int64(len(data)) - 10, 1 << 20} {
		buf := make([]byte, 40_000)
		n, err := f.ReadAt(buf, off)
		want := data[off:min(off+int64(len(buf)), int64(len(data)))]
		if n != len(want) || (err != nil && err != io.EOF) || !bytes.Equal(buf[:n], want) {
			t.Fatalf("ReadAt %d: n=%d err=%v", off, n, err)
		}
	}
	if n, err := f.ReadAt(make([]byte, 10), int64(len(data))); n != 0 || err != io.EOF {
		t.Fatalf("read at the end: %d %v", n, err)
	}
	f.Close()

	// A whole download, with pkg/sftp's concurrent reads: one stream.
	got := readFile(t, c, "/data.bin")
	if !bytes.Equal(got, data) {
		t.Fatal("download differs")
	}
	waitFor(t, 5*time.Second, "the audit line of the download", func() bool {
		return contains(e.logs.String(), "op=download path=/data.bin result=ok bytes=6291579 size=6291579 reopens=0")
	})

	// An empty file.
	writeFile(t, c, "/empty", nil)
	if got := readFile(t, c, "/empty"); len(got) != 0 {
		t.Fatalf("empty file: %d bytes", len(got))
	}
	if got := e.object("users/alice/empty"); len(got) != 0 {
		t.Fatalf("empty object: %d bytes", len(got))
	}
	// Directories cannot be opened as files.
	if _, err := c.Open("/folder1"); statusCode(err) != codeFailure {
		t.Fatalf("open a directory: %v", err)
	}
}

// The reference scenario: /folder1 read-only, /folder2 read-write,
// neither deletable nor renamable.
func TestReferenceScenario(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.addUser("alice", "pw")
	e.putObject("ro/catalogue.pdf", []byte("catalogue"))
	c := e.client("alice", "pw")

	if got := names(t, c, "/folder1"); !slices.Equal(got, []string{"catalogue.pdf"}) {
		t.Fatalf("list folder1: %v", got)
	}
	if got := string(readFile(t, c, "/folder1/catalogue.pdf")); got != "catalogue" {
		t.Fatalf("download: %q", got)
	}
	if _, err := c.Create("/folder1/new.txt"); statusCode(err) != codePermissionDenied {
		t.Fatalf("upload into folder1: %v", err)
	}
	if _, err := c.Create("/folder1/catalogue.pdf"); statusCode(err) != codePermissionDenied {
		t.Fatalf("overwrite in folder1: %v", err)
	}
	if err := c.Remove("/folder1/catalogue.pdf"); statusCode(err) != codePermissionDenied {
		t.Fatalf("delete in folder1: %v", err)
	}
	if err := c.Mkdir("/folder1/sub"); statusCode(err) != codePermissionDenied {
		t.Fatalf("mkdir in folder1: %v", err)
	}
	if err := c.Rename("/folder1/catalogue.pdf", "/folder1/x.pdf"); statusCode(err) != codePermissionDenied {
		t.Fatalf("rename in folder1: %v", err)
	}
	if err := c.Chtimes("/folder1/catalogue.pdf", time.Now(), time.Now()); statusCode(err) != codePermissionDenied {
		t.Fatalf("setstat in folder1: %v", err)
	}

	writeFile(t, c, "/folder2/order.xml", []byte("<order/>"))
	if got := e.object("rw/order.xml"); string(got) != "<order/>" {
		t.Fatalf("object: %q", got)
	}
	if err := c.Remove("/folder2/order.xml"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"/folder1", "/folder2"} {
		if err := c.RemoveDirectory(d); statusCode(err) != codePermissionDenied {
			t.Fatalf("rmdir %s: %v", d, err)
		}
		if err := c.Rename(d, "/x"); statusCode(err) != codePermissionDenied {
			t.Fatalf("rename %s: %v", d, err)
		}
		if err := c.Remove(d); statusCode(err) != codePermissionDenied {
			t.Fatalf("remove %s: %v", d, err)
		}
	}
	if got := e.object("ro/catalogue.pdf"); string(got) != "catalogue" {
		t.Fatalf("catalogue changed: %q", got)
	}
}

// A backend outage is a FAILURE with a message, never "no such file".
func TestBackendUnavailable(t *testing.T) {
	t.Parallel()
	srv := storagetest.StartS3(t)
	e := newEnv(t, envOpts{s3: srv})
	e.addUser("alice", "pw")
	e.putObject("users/alice/f", []byte("x"))
	c := e.client("alice", "pw")
	srv.Stop()
	check := func(what string, err error) {
		t.Helper()
		var se *sftp.StatusError
		if !errors.As(err, &se) || se.Code != codeFailure || !contains(err.Error(), "temporarily unavailable") {
			t.Errorf("%s: %v", what, err)
		}
	}
	_, err := c.Stat("/f")
	check("stat", err)
	_, err = c.Open("/f")
	check("open", err)
	_, err = c.ReadDir("/")
	check("list", err)
	check("remove", c.Remove("/f"))
	check("mkdir", c.Mkdir("/d"))
	check("rename", c.Rename("/f", "/g"))
	check("setstat", c.Chtimes("/f", time.Now(), time.Now()))
	if f, err := c.Create("/up"); err != nil {
		check("create", err)
	} else {
		_, werr := f.Write(make([]byte, 100))
		cerr := f.Close()
		check("upload", errors.Join(werr, cerr))
	}
	if contains(e.logs.String(), "no such file") {
		t.Error("an outage was reported as a missing file")
	}
	srv.Start(t)
	if fi, err := c.Stat("/f"); err != nil || fi.Size() != 1 {
		t.Fatalf("after the outage: %v", err)
	}
}
