package storage_test

import (
	"context"
	"testing"
	"time"

	"gocloud.dev/blob/memblob"

	"github.com/wharf-gw/wharf/storage"
	"github.com/wharf-gw/wharf/storage/acl"
)

// On an object store a directory's time is unknown unless Stat finds its
// marker: mount points, implied directories and directories in listings
// are at the Unix epoch, never the zero time.
func TestUnknownDirectoryTimeIsEpoch(t *testing.T) {
	t.Parallel()
	b := memblob.OpenBucket(nil)
	defer b.Close()
	be, err := storage.NewBackend("m", b, storage.BackendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := allSession(t, be, storage.Options{}, acl.Mount{Path: "/", Backend: "m"}, acl.Mount{Path: "/mnt", Backend: "m", Prefix: "mnt/"})
	ctx := context.Background()
	if err := b.WriteAll(ctx, "implied/obj", []byte("o"), nil); err != nil {
		t.Fatal(err)
	}
	epoch := time.Unix(0, 0)
	for _, name := range []string{"/", "/mnt", "/implied"} {
		fi, err := s.Stat(ctx, name)
		if err != nil || !fi.ModTime().Equal(epoch) {
			t.Errorf("stat %s: %v, time %v; want the epoch", name, err, fi.ModTime())
		}
	}
	ls, err := s.List(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := ls.Next(ctx, 10)
	if len(page) != 2 {
		t.Fatalf("listing: %d entries", len(page))
	}
	for _, fi := range page {
		if !fi.ModTime().Equal(epoch) {
			t.Errorf("listed %s with time %v; want the epoch", fi.Name(), fi.ModTime())
		}
	}
}
