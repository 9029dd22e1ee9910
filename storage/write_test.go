package storage_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob/memblob"

	"github.com/wharf-gw/wharf/storage"
)

// A time set once the metadata is fixed is stored by Close after the
// commit. When that step fails the file is stored all the same, so Close
// returns nil (only a nil error means stored, and a stored file gives a
// nil error), and the failure is logged with the key and the error.
func TestCloseStoredTimeFails(t *testing.T) {
	t.Parallel()
	b := memblob.OpenBucket(nil)
	defer b.Close()
	opts := storage.BackendOptions{Prefix: "p/"}
	errTime := errors.New("metadata copy refused")
	storage.SetLateModTime(&opts, func() error { return errTime })
	be, err := storage.NewBackend("m", b, opts)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	s := allSession(t, be, storage.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx := context.Background()
	start := time.Now()
	w, err := s.Create(ctx, "/f")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("stored")); err != nil { // fixes the metadata
		t.Fatal(err)
	}
	if err := w.SetModTime(time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close of a stored file whose time could not be stored: %v", err)
	}
	if got := readBytes(t, s, "/f"); string(got) != "stored" {
		t.Fatalf("read back %q", got)
	}
	if fi, err := s.Stat(ctx, "/f"); err != nil || fi.ModTime().Before(start.Add(-time.Minute)) {
		t.Fatalf("stat: %v %v, want the backend's time", err, fi.ModTime())
	}
	line := logs.String()
	for _, want := range []string{"level=WARN", "key=p/f", "path=/f", errTime.Error()} {
		if !strings.Contains(line, want) {
			t.Errorf("log %q lacks %q", line, want)
		}
	}
}
