package storage_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wharf-gw/wharf/storage"
)

// localSession opens a session with every permission on a fresh local
// directory, written natively when native is set.
func localSession(t testing.TB, native bool) (*storage.Session, string) {
	t.Helper()
	dir := t.TempDir()
	o := storage.BackendOptions{}
	if native {
		o.LocalDir = dir
	}
	b := openDir(t, dir)
	be, err := storage.NewBackend("disk", b, o)
	if err != nil {
		t.Fatal(err)
	}
	return allSession(t, be, storage.Options{}), dir
}

// dirNames lists a directory of the disk itself.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// The native writer leaves exactly the file on the disk, with the client's
// time as its own, no sidecar and no temporary file; an aborted upload
// leaves nothing and keeps the previous version.
func TestLocalNativeLayout(t *testing.T) {
	t.Parallel()
	s, dir := localSession(t, true)
	ctx := context.Background()
	putBytes(t, s, "/a.bin", []byte("first"))

	w, err := s.Create(ctx, "/a.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("second, longer")); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); len(got) != 2 {
		t.Errorf("during the upload the directory holds %q, want the file and one temporary file", got)
	}
	w.Abort()
	if got := dirNames(t, dir); !slices.Equal(got, []string{"a.bin"}) {
		t.Errorf("after abort the directory holds %q", got)
	}
	if got := readBytes(t, s, "/a.bin"); string(got) != "first" {
		t.Fatalf("after abort the file reads %q", got)
	}

	// A sidecar fileblob wrote for the previous version must not outlive it.
	if err := os.WriteFile(filepath.Join(dir, "a.bin.attrs"), []byte(`{"user.metadata":{"mtime":"1"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	when := time.Date(2001, 2, 3, 4, 5, 6, 7000, time.UTC)
	w, err = s.Create(ctx, "/a.bin")
	if err != nil {
		t.Fatal(err)
	}
	w.SetModTime(when)
	if _, err := w.Write([]byte("third")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"a.bin"}) {
		t.Errorf("after the upload the directory holds %q", got)
	}
	fi, err := os.Stat(filepath.Join(dir, "a.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(when) {
		t.Errorf("file time %v, want %v", fi.ModTime(), when)
	}
	sfi, err := s.Stat(ctx, "/a.bin")
	if err != nil {
		t.Fatal(err)
	}
	if !sfi.ModTime().Equal(when) || sfi.Size() != 5 {
		t.Errorf("Stat: time %v size %d, want %v and 5", sfi.ModTime(), sfi.Size(), when)
	}

	// Changing the time later touches the file, not its bytes.
	ino := func() uint64 {
		fi, err := os.Stat(filepath.Join(dir, "a.bin"))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	before := ino()
	later := when.Add(time.Hour)
	if err := s.Chtimes(ctx, "/a.bin", later); err != nil {
		t.Fatal(err)
	}
	if ino() != before {
		t.Error("Chtimes rewrote the file")
	}
	if sfi, err := s.Stat(ctx, "/a.bin"); err != nil || !sfi.ModTime().Equal(later) {
		t.Errorf("Stat after Chtimes: %v, %v; want %v", sfi, err, later)
	}

	// A rename moves the file itself, into a directory that exists only
	// as its marker, and the time goes with it.
	if err := s.Mkdir(ctx, "/d"); err != nil {
		t.Fatal(err)
	}
	if err := s.Rename(ctx, "/a.bin", "/d/b.bin"); err != nil {
		t.Fatal(err)
	}
	fi, err = os.Stat(filepath.Join(dir, "d", "b.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Sys().(*syscall.Stat_t).Ino != before {
		t.Error("Rename copied the file")
	}
	if sfi, err := s.Stat(ctx, "/d/b.bin"); err != nil || !sfi.ModTime().Equal(later) || sfi.Size() != 5 {
		t.Errorf("Stat after Rename: %v, %v", sfi, err)
	}
	if _, err := s.Stat(ctx, "/a.bin"); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("the source is still there: %v", err)
	}

	// So does a directory: folder and marker, into a directory that has
	// no folder yet.
	if err := s.Mkdir(ctx, "/d/empty"); err != nil {
		t.Fatal(err)
	}
	if err := s.Mkdir(ctx, "/e"); err != nil {
		t.Fatal(err)
	}
	if err := s.Rename(ctx, "/d", "/e/d2"); err != nil {
		t.Fatal(err)
	}
	fi, err = os.Stat(filepath.Join(dir, "e", "d2", "b.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Sys().(*syscall.Stat_t).Ino != before {
		t.Error("the directory rename copied the file")
	}
	for _, p := range []string{"/e/d2", "/e/d2/empty", "/e/d2/b.bin"} {
		if _, err := s.Stat(ctx, p); err != nil {
			t.Errorf("after the directory rename: %v", err)
		}
	}
	for _, p := range []string{"/d", "/d/b.bin"} {
		if _, err := s.Stat(ctx, p); !errors.Is(err, storage.ErrNotExist) {
			t.Errorf("after the directory rename %s: %v, want not found", p, err)
		}
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"e", "e__0x2f__", "e__0x2f__.attrs"}) {
		t.Errorf("after the directory rename the root holds %q", got)
	}
}

// failingReader returns some bytes, then an error: a data connection that
// broke.
type failingReader struct{ n int }

var errBroken = errors.New("connection reset")

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errBroken
	}
	k := min(len(p), r.n)
	r.n -= k
	return k, nil
}

// ReadFrom stores what it reads; a source that fails is reported as such,
// and the upload, then aborted by the caller, keeps the previous version.
func TestWriterReadFrom(t *testing.T) {
	t.Parallel()
	data := make([]byte, 11<<20+5)
	rand.Read(data)
	targets := map[string]func(t *testing.T) *storage.Session{
		"native": func(t *testing.T) *storage.Session { s, _ := localSession(t, true); return s },
		"fileblob": func(t *testing.T) *storage.Session {
			s, _ := localSession(t, false)
			return s
		},
		"s3": func(t *testing.T) *storage.Session {
			s, _ := s3Session(t, storage.BackendOptions{PartSize: storage.MinPartSize, Concurrency: 2}, nil)
			return s
		},
	}
	for name, open := range targets {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			ctx := context.Background()
			w, err := s.Create(ctx, "/f")
			if err != nil {
				t.Fatal(err)
			}
			n, err := w.ReadFrom(bytes.NewReader(data))
			if err != nil || n != int64(len(data)) || w.Size() != n {
				t.Fatalf("ReadFrom = %d, %v (Size %d); want %d", n, err, w.Size(), len(data))
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if got := readBytes(t, s, "/f"); !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes, not what was written", len(got))
			}

			w, err = s.Create(ctx, "/f")
			if err != nil {
				t.Fatal(err)
			}
			_, err = w.ReadFrom(&failingReader{n: 7 << 20})
			if !errors.Is(err, storage.ErrSourceFailed) || !errors.Is(err, errBroken) {
				t.Fatalf("ReadFrom of a broken source: %v, want ErrSourceFailed wrapping the cause", err)
			}
			w.Abort()
			if got := readBytes(t, s, "/f"); !bytes.Equal(got, data) {
				t.Fatal("the previous version did not survive a broken source")
			}
		})
	}
}

// A plain TCP source is spliced into the file; what arrives is stored, and
// a reset connection is a source failure.
func TestLocalReadFromTCP(t *testing.T) {
	t.Parallel()
	s, _ := localSession(t, true)
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	data := make([]byte, 9<<20+3)
	rand.Read(data)
	send := func(reset bool) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Error(err)
			return
		}
		if reset {
			_, _ = c.Write(data[:1<<20])
			_ = c.(*net.TCPConn).SetLinger(0)
		} else {
			_, _ = c.Write(data)
		}
		_ = c.Close()
	}
	for _, reset := range []bool{false, true} {
		go send(reset)
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		w, err := s.Create(ctx, "/tcp")
		if err != nil {
			t.Fatal(err)
		}
		// The FTP front end reads in pieces to count bytes as they come.
		var total int64
		for {
			n, err := w.ReadFrom(io.LimitReader(c, 1<<20))
			total += n
			if err != nil {
				if !reset || !errors.Is(err, storage.ErrSourceFailed) {
					t.Fatalf("ReadFrom (reset %v): %v", reset, err)
				}
				break
			}
			if n == 0 {
				break
			}
		}
		c.Close()
		if reset {
			w.Abort()
			continue
		}
		if total != int64(len(data)) {
			t.Fatalf("read %d bytes, want %d", total, len(data))
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got := readBytes(t, s, "/tcp"); !bytes.Equal(got, data) {
		t.Fatal("the spliced upload did not read back, or the reset one replaced it")
	}
}

// localBoth runs fn on a local directory written natively and through
// fileblob: both keep fileblob's layout, and its limits.
func localBoth(t *testing.T, fn func(t *testing.T, s *storage.Session, dir string)) {
	for _, native := range []bool{true, false} {
		t.Run(map[bool]string{true: "native", false: "fileblob"}[native], func(t *testing.T) {
			t.Parallel()
			s, dir := localSession(t, native)
			fn(t, s, dir)
		})
	}
}

func mustErr(t *testing.T, err, kind error, what string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: %v, want an error wrapping %q", what, err, kind)
	}
}

// A name is limited on a local disk by NAME_MAX (255) less the suffixes
// the backend adds: a file's temporary file (21 bytes), a directory's
// marker (8) and the marker's temporary file. A longer name is an invalid
// name before any byte is taken, and does not exist for lookups; the
// length is that of the name as stored, escapes included.
func TestLocalNameLimits(t *testing.T) {
	t.Parallel()
	localBoth(t, func(t *testing.T, s *storage.Session, dir string) {
		ctx := context.Background()
		file, tooLongFile := "/"+strings.Repeat("f", 234), "/"+strings.Repeat("f", 235)
		folder, tooLongFolder := "/"+strings.Repeat("d", 226), "/"+strings.Repeat("d", 227)
		putBytes(t, s, file, []byte("longest"))
		putBytes(t, s, file, []byte("longest, overwritten"))
		if got := readBytes(t, s, file); string(got) != "longest, overwritten" {
			t.Fatalf("read back %q", got)
		}
		if err := s.Mkdir(ctx, folder); err != nil {
			t.Fatal(err)
		}
		putBytes(t, s, folder+file, []byte("in the longest directory"))
		other := "/" + strings.Repeat("g", 234)
		if err := s.Rename(ctx, file, other); err != nil {
			t.Fatal(err)
		}
		before := dirNames(t, dir)

		for _, name := range []string{tooLongFile, "/" + strings.Repeat("x", 248), "/" + strings.Repeat("x", 255),
			"/" + strings.Repeat("__0x41__", 28) + "abc", // 227 bytes, 420 once escaped
			folder + tooLongFile, "/" + strings.Repeat("y", 250) + "/z"} {
			_, err := s.Create(ctx, name)
			mustErr(t, err, storage.ErrInvalidName, fmt.Sprintf("create of a %d-byte name", len(name)))
			_, err = s.Append(ctx, name)
			mustErr(t, err, storage.ErrInvalidName, "append")
			mustErr(t, s.Mkdir(ctx, name), storage.ErrInvalidName, "mkdir")
			_, err = s.Stat(ctx, name)
			mustErr(t, err, storage.ErrNotExist, "stat")
			_, err = s.Open(ctx, name, 0)
			mustErr(t, err, storage.ErrNotExist, "open")
			mustErr(t, s.Remove(ctx, name), storage.ErrNotExist, "remove")
			mustErr(t, s.Rmdir(ctx, name), storage.ErrNotExist, "rmdir")
			mustErr(t, s.Rename(ctx, other, name), storage.ErrInvalidName, "rename onto")
		}
		mustErr(t, s.Mkdir(ctx, tooLongFolder), storage.ErrInvalidName, "mkdir of a directory name too long")
		mustErr(t, s.Rename(ctx, folder, tooLongFolder), storage.ErrInvalidName, "rename of a directory onto a name too long")
		if got := dirNames(t, dir); !slices.Equal(got, before) {
			t.Errorf("refused names left %q on the disk, had %q", got, before)
		}
		if got := readBytes(t, s, other); string(got) != "longest, overwritten" {
			t.Fatalf("after the refused renames: %q", got)
		}
		if got := names(t, s, "/"); !slices.Equal(got, []string{folder[1:] + "/", other[1:]}) {
			t.Fatalf("listing: %q", got)
		}
	})
}

// names lists a directory, directories with a trailing slash.
func names(t *testing.T, s *storage.Session, dir string) []string {
	t.Helper()
	ls, err := s.List(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	page, err := ls.Next(context.Background(), 1000)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("list %s: %v", dir, err)
	}
	var out []string
	for _, fi := range page {
		n := fi.Name()
		if fi.IsDir() {
			n += "/"
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Names that would collide with the files a local disk keeps beside the
// data (NAME.attrs sidecars, NAME__0x2f__ directory markers, the temporary
// files of uploads) are invalid names, saying which suffix is reserved;
// they do not exist for lookups, and listings never show those files.
func TestLocalReservedNames(t *testing.T) {
	t.Parallel()
	localBoth(t, func(t *testing.T, s *storage.Session, dir string) {
		ctx := context.Background()
		putBytes(t, s, "/b.txt", []byte("b"))
		if err := s.Chtimes(ctx, "/b.txt", time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
			t.Fatal(err)
		}
		// A file whose sidecar exists, as fileblob writes one with the time.
		if err := os.WriteFile(filepath.Join(dir, "c.txt.attrs"), []byte(`{"user.metadata":{"mtime":"1"}}`), 0o644); err != nil {
			t.Fatal(err)
		}
		putBytes(t, s, "/c.txt", nil)
		// The marker of a directory "d__0x5f_" (as an older version made
		// it), which reads back as a file "d__0x2f__".
		if err := os.WriteFile(filepath.Join(dir, "d__0x5f___0x2f__"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"/d__0x5f_", "/a__0x41", "/a__0x41/b"} {
			err := s.Mkdir(ctx, name)
			mustErr(t, err, storage.ErrInvalidName, "mkdir "+name)
			if !strings.Contains(err.Error(), "__0x2f__") {
				t.Errorf("mkdir %s: %q does not name the marker suffix", name, err)
			}
		}
		mustErr(t, s.Rename(ctx, "/b.txt", "/a__0x41/b"), storage.ErrInvalidName, "rename below a reserved directory name")
		for name, suffix := range map[string]string{
			"/b.txt.attrs":                ".attrs",
			"/c.txt.attrs":                ".attrs",
			"/x.attrs/y":                  ".attrs",
			"/d__0x2f__":                  "__0x2f__", // stored as d__0x5f___0x2f__: the marker of /d__0x5f_
			"/b.txt.0123456789abcdef.tmp": ".tmp",
			"/f/e.0123456789abcdef.tmp":   ".tmp",
		} {
			_, err := s.Create(ctx, name)
			mustErr(t, err, storage.ErrInvalidName, "create "+name)
			if !strings.Contains(err.Error(), suffix) {
				t.Errorf("create %s: %q does not name the reserved suffix %q", name, err, suffix)
			}
			mustErr(t, s.Mkdir(ctx, name), storage.ErrInvalidName, "mkdir "+name)
			mustErr(t, s.Rename(ctx, "/b.txt", name), storage.ErrInvalidName, "rename onto "+name)
			_, err = s.Stat(ctx, name)
			mustErr(t, err, storage.ErrNotExist, "stat "+name)
			_, err = s.Open(ctx, name, 0)
			mustErr(t, err, storage.ErrNotExist, "open "+name)
			mustErr(t, s.Remove(ctx, name), storage.ErrNotExist, "remove "+name)
		}
		// Not reserved: a .tmp name without the 16 hex digits.
		putBytes(t, s, "/backup.2024.tmp", []byte("kept"))
		// An upload in progress is not listed, nor are sidecars or markers.
		w, err := s.Create(ctx, "/b.txt")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("in progress")); err != nil {
			t.Fatal(err)
		}
		want := []string{"b.txt", "backup.2024.tmp", "c.txt"}
		if got := names(t, s, "/"); !slices.Equal(got, want) {
			t.Errorf("listing during an upload: %q, want %q (the disk holds %q)", got, want, dirNames(t, dir))
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if got := readBytes(t, s, "/b.txt"); string(got) != "in progress" {
			t.Fatalf("read back %q", got)
		}
	})
}

// On a local disk written natively, a directory's time is its folder's
// own, or its marker's while it is empty; elsewhere the epoch when it is
// unknown (see the conformance suite).
func TestLocalDirectoryTimes(t *testing.T) {
	t.Parallel()
	s, dir := localSession(t, true)
	ctx := context.Background()
	mtime := func(p string) time.Time {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.ModTime()
	}
	stat := func(p string) time.Time {
		t.Helper()
		fi, err := s.Stat(ctx, p)
		if err != nil || !fi.IsDir() {
			t.Fatalf("stat %s: %v", p, err)
		}
		return fi.ModTime()
	}
	listed := func(dir, name string) time.Time {
		t.Helper()
		ls, err := s.List(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := ls.Next(ctx, 100)
		for _, fi := range page {
			if fi.Name() == name {
				return fi.ModTime()
			}
		}
		t.Fatalf("%s not listed in %s", name, dir)
		return time.Time{}
	}
	if err := s.Mkdir(ctx, "/d"); err != nil {
		t.Fatal(err)
	}
	marker := time.Date(2002, 2, 2, 2, 2, 2, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(dir, "d__0x2f__"), marker, marker); err != nil {
		t.Fatal(err)
	}
	if got := stat("/d"); !got.Equal(marker) {
		t.Errorf("empty directory: stat %v, want the marker's %v", got, marker)
	}
	if got := listed("/", "d"); !got.Equal(marker) {
		t.Errorf("empty directory: listed with %v, want the marker's %v", got, marker)
	}
	putBytes(t, s, "/d/f", []byte("f"))
	folder := time.Date(2003, 3, 3, 3, 3, 3, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(dir, "d"), folder, folder); err != nil {
		t.Fatal(err)
	}
	if got := stat("/d"); !got.Equal(folder) {
		t.Errorf("stat %v, want the folder's %v", got, folder)
	}
	if got := listed("/", "d"); !got.Equal(folder) {
		t.Errorf("listed with %v, want the folder's %v", got, folder)
	}
	if got, want := stat("/"), mtime(dir); !got.Equal(want) {
		t.Errorf("root: %v, want the folder's %v", got, want)
	}
}

// A name the checks let through but the disk refuses (here: a path beyond
// PATH_MAX, below a deep directory) is an invalid name, not an outage.
func TestLocalNameTooLongForTheOS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const pathMax = 4095 // bytes, without the NUL
	for len(dir) < pathMax-221-10-251 {
		dir = filepath.Join(dir, strings.Repeat("p", 250))
	}
	dir = filepath.Join(dir, strings.Repeat("q", pathMax-221-10-len(dir)-1))
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	be, err := storage.NewBackend("disk", openDir(t, dir), storage.BackendOptions{LocalDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s := allSession(t, be, storage.Options{})
	ctx := context.Background()
	// The directory's own path fits; its marker's temporary file does not.
	name := "/" + strings.Repeat("n", 220)
	mustErr(t, s.Mkdir(ctx, name), storage.ErrInvalidName, "mkdir beyond PATH_MAX")
	// A file's temporary file does not fit either: the disk says so when
	// the first byte is written.
	w, err := s.Create(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Write([]byte("x"))
	mustErr(t, err, storage.ErrInvalidName, "write beyond PATH_MAX")
}

// A native upload that cannot drop the previous version's sidecar (here a
// directory in its place) fails before the new file is in place: Close's
// error means nothing was stored, never "stored, but an error".
func TestLocalCommitFailsBeforeReplacing(t *testing.T) {
	t.Parallel()
	s, dir := localSession(t, true)
	putBytes(t, s, "/a.bin", []byte("first"))
	w, err := s.Create(context.Background(), "/a.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("second")); err != nil {
		t.Fatal(err)
	}
	inTheWay := filepath.Join(dir, "a.bin.attrs")
	if err := os.MkdirAll(filepath.Join(inTheWay, "x"), 0o777); err != nil {
		t.Fatal(err)
	}
	err = w.Close()
	if err := os.RemoveAll(inTheWay); err != nil {
		t.Fatal(err)
	}
	got := readBytes(t, s, "/a.bin")
	if (err == nil) != (string(got) == "second") {
		t.Fatalf("Close: %v, and the file reads %q", err, got)
	}
}
