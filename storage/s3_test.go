package storage_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"testing"
	"time"

	"gocloud.dev/blob/memblob"

	"github.com/wharf-gw/wharf/storage"
	"github.com/wharf-gw/wharf/storage/storagetest"
)

// s3Session opens a session with every permission on a fresh S3 bucket.
func s3Session(t testing.TB, opts storage.BackendOptions, budget *storage.Budget) (*storage.Session, string) {
	t.Helper()
	srv := s3srv.Get(t)
	name := srv.NewBucket(t)
	opts.S3Bucket = name
	be, err := storage.NewBackend("s3", srv.OpenBucket(t, name), opts)
	if err != nil {
		t.Fatal(err)
	}
	return allSession(t, be, storage.Options{Budget: budget}), name
}

func putBytes(t testing.TB, s *storage.Session, name string, data []byte) {
	t.Helper()
	w, err := s.Create(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func readBytes(t *testing.T, s *storage.Session, name string) []byte {
	t.Helper()
	r, err := s.Open(context.Background(), name, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Copies above the single-copy limit (5 GB on S3, lowered here) use
// multipart UploadPartCopy, several parts at a time: renames and time
// changes keep the bytes.
func TestS3MultipartCopy(t *testing.T) {
	t.Parallel()
	opts := storage.BackendOptions{}
	storage.SetCopyLimits(&opts, 6<<20, storage.MinPartSize) // three parts, copied at once
	s, bucket := s3Session(t, opts, nil)
	ctx := context.Background()
	data := make([]byte, 13<<20+17)
	rand.Read(data)
	putBytes(t, s, "/big", data)
	when := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := s.Chtimes(ctx, "/big", when); err != nil {
		t.Fatal(err)
	}
	if err := s.Mkdir(ctx, "/d"); err != nil {
		t.Fatal(err)
	}
	if err := s.Rename(ctx, "/big", "/d/moved"); err != nil {
		t.Fatal(err)
	}
	if got := readBytes(t, s, "/d/moved"); !bytes.Equal(got, data) {
		t.Fatalf("multipart copy changed the data: %d bytes, want %d", len(got), len(data))
	}
	fi, err := s.Stat(ctx, "/d/moved")
	if err != nil || !fi.ModTime().Equal(when) {
		t.Fatalf("multipart copy lost the time: %v %v", err, fi)
	}
	if n := s3srv.Get(t).ListMultipartUploads(t, bucket); n != 0 {
		t.Fatalf("%d multipart uploads left", n)
	}
}

// An append of an object larger than one copy part keeps it in several
// parts copied at once, ahead of the new ones.
func TestS3AppendManyParts(t *testing.T) {
	t.Parallel()
	opts := storage.BackendOptions{}
	storage.SetCopyLimits(&opts, 6<<20, storage.MinPartSize) // 12 MiB: three parts
	s, bucket := s3Session(t, opts, nil)
	old := make([]byte, 12<<20+3)
	rand.Read(old)
	more := make([]byte, 11<<20)
	rand.Read(more)
	putBytes(t, s, "/log", old)
	copyClose(t, func() (io.WriteCloser, error) { return s.Append(context.Background(), "/log") }, bytes.NewReader(more), nil)
	if got := readBytes(t, s, "/log"); !bytes.Equal(got, append(old, more...)) {
		t.Fatalf("append in several copied parts: %d bytes, want %d", len(got), len(old)+len(more))
	}
	if n := s3srv.Get(t).ListMultipartUploads(t, bucket); n != 0 {
		t.Fatalf("%d multipart uploads left", n)
	}
}

// An append copies the object's content on the condition that it is still
// the version it measured: an object replaced in between (same size,
// other bytes) fails the append with ErrChanged, and the newcomer stays,
// never stitched to the old content.
func TestS3AppendRace(t *testing.T) {
	t.Parallel()
	var other *storage.Session
	newer := make([]byte, 12<<20)
	rand.Read(newer)
	opts := storage.BackendOptions{}
	storage.SetBeforeKeep(&opts, func() { putBytes(t, other, "/log", newer) })
	s, bucket := s3Session(t, opts, nil)
	other = s
	old := make([]byte, len(newer))
	rand.Read(old)
	putBytes(t, s, "/log", old)
	// The copy runs while the new bytes arrive: the change shows at the
	// latest when the append is closed.
	w, err := s.Append(context.Background(), "/log")
	if err == nil {
		if _, err = w.Write([]byte("tail")); err == nil {
			err = w.Close()
		} else {
			w.Abort()
		}
	}
	if !errors.Is(err, storage.ErrChanged) {
		t.Fatalf("append racing an overwrite: %v, want ErrChanged", err)
	}
	if got := readBytes(t, s, "/log"); !bytes.Equal(got, newer) {
		t.Fatal("the object is not the newcomer")
	}
	if n := s3srv.Get(t).ListMultipartUploads(t, bucket); n != 0 {
		t.Fatalf("%d multipart uploads left", n)
	}
}

// A writer waits for the budget when it is exhausted, and goes on once
// another upload has finished.
func TestS3BudgetWaits(t *testing.T) {
	t.Parallel()
	budget := storage.NewBudget(storage.MinPartSize)
	s, _ := s3Session(t, storage.BackendOptions{PartSize: storage.MinPartSize, Concurrency: 1}, budget)
	ctx := context.Background()
	a, err := s.Create(ctx, "/a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("holds a part")); err != nil {
		t.Fatal(err)
	}
	if budget.InUse() != storage.MinPartSize {
		t.Fatalf("budget in use %d, want one part (%d)", budget.InUse(), storage.MinPartSize)
	}
	bctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	b, err := s.Create(bctx, "/b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write([]byte("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("write with the budget exhausted: %v, want it to wait until its deadline", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if budget.InUse() != 0 {
		t.Fatalf("budget in use after close: %d", budget.InUse())
	}
	putBytes(t, s, "/c", []byte("after a finished"))
	if _, err := s.Stat(ctx, "/b"); !errors.Is(err, storage.ErrNotExist) {
		t.Fatalf("the upload that timed out exists: %v", err)
	}
}

// A backend that stops answering is "unavailable", never "not found".
func TestS3OutageIsUnavailable(t *testing.T) {
	srv := storagetest.StartS3(t)
	name := srv.NewBucket(t)
	be, err := storage.NewBackend("s3", srv.OpenBucket(t, name), storage.BackendOptions{S3Bucket: name})
	if err != nil {
		t.Fatal(err)
	}
	s := allSession(t, be, storage.Options{})
	putBytes(t, s, "/f", []byte("f"))
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := s.Stat(ctx, "/f"); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("stat during an outage: %v", err)
	}
	if _, err := s.Open(ctx, "/f", 0); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("open during an outage: %v", err)
	}
	if err := be.Check(ctx); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("check during an outage: %v", err)
	}
	srv.Start(t)
	if got := readBytes(t, s, "/f"); string(got) != "f" {
		t.Fatalf("after restart: %q", got)
	}
}

// With times ignored, setting one succeeds and changes nothing: Stat and
// listings report the backend's own time.
func TestIgnoreTimes(t *testing.T) {
	t.Parallel()
	b := memblob.OpenBucket(nil)
	defer b.Close()
	be, err := storage.NewBackend("m", b, storage.BackendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := allSession(t, be, storage.Options{IgnoreTimes: true})
	ctx := context.Background()
	w, err := s.Create(ctx, "/f")
	if err != nil {
		t.Fatal(err)
	}
	old := time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)
	w.SetModTime(old)
	w.Write([]byte("x"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Chtimes(ctx, "/f", old); err != nil {
		t.Fatalf("chtimes with times ignored: %v", err)
	}
	fi, err := s.Stat(ctx, "/f")
	if err != nil || fi.ModTime().Year() == 1999 {
		t.Fatalf("stat: %v, time %v; want the backend's time", err, fi.ModTime())
	}
}
