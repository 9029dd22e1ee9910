package auth_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"gocloud.dev/blob/memblob"

	"github.com/wharf-gw/wharf/auth"
	"github.com/wharf-gw/wharf/storage"
)

// The reference scenario, stored as a user and checked end to end: log in
// through auth, open the storage session from the principal, and try what
// the user may and may not do.
func TestReferenceScenarioStored(t *testing.T) {
	e := newEnv(t, openSQLite(t), noDelay())
	addUser(t, e.store, "alice", "pw", func(u *auth.User) {
		u.Mounts = []auth.Mount{
			{Path: "/folder1", Backend: "shared", Prefix: "ro/", ReadOnly: true},
			{Path: "/folder2", Backend: "shared", Prefix: "rw/"},
		}
	})
	ctx := context.Background()
	p, err := e.auth.Password(ctx, client, "alice", "pw")
	if err != nil {
		t.Fatal(err)
	}

	bucket := memblob.OpenBucket(nil)
	defer bucket.Close()
	if err := bucket.WriteAll(ctx, "ro/catalogue.pdf", []byte("catalogue"), nil); err != nil {
		t.Fatal(err)
	}
	home, _ := storage.NewBackend("home", bucket, storage.BackendOptions{})
	shared, _ := storage.NewBackend("shared", bucket, storage.BackendOptions{})
	vfs, err := storage.New([]*storage.Backend{home, shared}, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := vfs.Session(p.User, p.Policy)
	if err != nil {
		t.Fatal(err)
	}

	// folder1: list and download only.
	r, err := s.Open(ctx, "/folder1/catalogue.pdf", 0)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if string(got) != "catalogue" {
		t.Fatalf("download from folder1: %q", got)
	}
	if _, err := s.Create(ctx, "/folder1/new"); !errors.Is(err, storage.ErrPermission) {
		t.Fatalf("upload into folder1: %v", err)
	}
	if err := s.Remove(ctx, "/folder1/catalogue.pdf"); !errors.Is(err, storage.ErrPermission) {
		t.Fatalf("delete in folder1: %v", err)
	}
	// folder2: upload and delete.
	w, err := s.Create(ctx, "/folder2/order.xml")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("<order/>"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "/folder2/order.xml"); err != nil {
		t.Fatal(err)
	}
	// Neither folder can be deleted or renamed.
	for _, d := range []string{"/folder1", "/folder2"} {
		if err := s.Rmdir(ctx, d); !errors.Is(err, storage.ErrPermission) {
			t.Fatalf("rmdir %s: %v", d, err)
		}
		if err := s.Rename(ctx, d, "/x"); !errors.Is(err, storage.ErrPermission) {
			t.Fatalf("rename %s: %v", d, err)
		}
	}
}
