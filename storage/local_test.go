package storage_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/wharf-gw/wharf/storage"
	"github.com/wharf-gw/wharf/storage/acl"
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
	v, err := storage.New([]*storage.Backend{be}, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := acl.New([]acl.Mount{{Path: "/", Backend: "disk"}}, []acl.Rule{{Pattern: "/", Perms: acl.All}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := v.Session("u", p)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
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
