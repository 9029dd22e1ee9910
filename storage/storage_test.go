package storage_test

import (
	"os"
	"testing"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"

	"github.com/wharf-gw/wharf/storage"
	"github.com/wharf-gw/wharf/storage/acl"
	"github.com/wharf-gw/wharf/storage/storagetest"
)

var s3srv storagetest.SharedS3

func TestMain(m *testing.M) {
	code := m.Run()
	s3srv.Close()
	os.Exit(code)
}

// allSession opens a session with every permission on be, mounted at "/"
// unless mounts say otherwise, in a VFS with opts.
func allSession(t testing.TB, be *storage.Backend, opts storage.Options, mounts ...acl.Mount) *storage.Session {
	t.Helper()
	v, err := storage.New([]*storage.Backend{be}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) == 0 {
		mounts = []acl.Mount{{Path: "/", Backend: be.Name()}}
	}
	p, err := acl.New(mounts, []acl.Rule{{Pattern: "/", Perms: acl.All}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := v.Session("u", p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// smallParts makes uploads of a few MiB use several parts.
func smallParts() storage.BackendOptions {
	return storage.BackendOptions{PartSize: storage.MinPartSize, Concurrency: 3}
}

func TestConformanceMem(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, storagetest.Target{
		NewBucket: func(t *testing.T) storagetest.Bucket {
			b := memblob.OpenBucket(nil)
			t.Cleanup(func() { b.Close() })
			return storagetest.Bucket{Bucket: b, Opts: smallParts()}
		},
	})
}

func openDir(t testing.TB, dir string) *blob.Bucket {
	b, err := fileblob.OpenBucket(dir, &fileblob.Options{NoTempDir: true, CreateDir: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestConformanceFile runs the suite on a local directory twice: with the
// native writer wharf uses, and through fileblob's own.
func TestConformanceFile(t *testing.T) {
	t.Parallel()
	for _, native := range []bool{true, false} {
		t.Run(map[bool]string{true: "native", false: "fileblob"}[native], func(t *testing.T) {
			t.Parallel()
			storagetest.Run(t, storagetest.Target{
				NewBucket: func(t *testing.T) storagetest.Bucket {
					dir := t.TempDir()
					o := smallParts()
					if native {
						o.LocalDir = dir
					}
					return storagetest.Bucket{
						Bucket: openDir(t, dir),
						Opts:   o,
						Reopen: func(t *testing.T) *blob.Bucket { return openDir(t, dir) },
					}
				},
			})
		})
	}
}

func TestConformanceS3(t *testing.T) {
	t.Parallel()
	srv := s3srv.Get(t)
	storagetest.Run(t, storagetest.Target{
		NewBucket: func(t *testing.T) storagetest.Bucket {
			name := srv.NewBucket(t)
			o := smallParts()
			o.S3Bucket = name
			return storagetest.Bucket{
				Bucket: srv.OpenBucket(t, name),
				Opts:   o,
				Reopen: func(t *testing.T) *blob.Bucket { return srv.OpenBucket(t, name) },
			}
		},
		MultipartUploads: func(t *testing.T, o storage.BackendOptions) int {
			return srv.ListMultipartUploads(t, o.S3Bucket)
		},
	})
}
