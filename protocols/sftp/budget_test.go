package sftp

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"

	"github.com/wharf-gw/wharf/auth"
)

// With the window budget spent, downloads go on without a window (each
// read a ranged read of its own) and uploads spill what they would have
// reordered in memory, or fail with a clear error when they cannot
// spill; every transfer gives its window back when it ends.
func TestWindowBudgetSpent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		budget   int64
		maxSpill int64
		direct   bool
		spilled  bool
		fails    string
	}{
		{"budget left", DefaultWindowBudget, 4 << 20, false, false, ""},
		{"spent, spill", 1, 4 << 20, true, true, ""},
		{"spent, no spill", 1, -1, true, false, "no memory left to reorder it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOpts{cfg: func(c *Config) { c.WindowBudget, c.MaxSpill = tc.budget, tc.maxSpill }})
			e.addUser("alice", "pw")
			c := e.client("alice", "pw", sftp.UseConcurrentReads(true))
			data := randomBytes(t, 5<<20+123)
			e.putObject("users/alice/big.bin", data)

			f, err := c.Open("/big.bin")
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if _, err := io.Copy(&got, f); err != nil {
				t.Fatalf("download: %v", err)
			}
			f.Close()
			if !bytes.Equal(got.Bytes(), data) {
				t.Fatalf("downloaded %d bytes, different from the file", got.Len())
			}
			waitFor(t, 5*time.Second, "the download's audit line", func() bool {
				return contains(e.logs.String(), "op=download path=/big.bin")
			})
			if want := "direct=" + map[bool]string{false: "false", true: "true"}[tc.direct]; !contains(e.logs.String(), want) {
				t.Fatalf("download audit does not say %s:\n%s", want, e.logs.String())
			}

			// Writes that arrive out of order: the second 32 KiB first.
			w, err := c.Create("/big.bin")
			if err != nil {
				t.Fatal(err)
			}
			_, werr := w.WriteAt(data[32<<10:64<<10], 32<<10)
			if werr == nil {
				_, werr = w.WriteAt(data[:32<<10], 0)
			}
			cerr := w.Close()
			switch {
			case tc.fails != "":
				err := werr
				if err == nil {
					err = cerr
				}
				if statusCode(err) != codeFailure || !strings.Contains(err.Error(), tc.fails) {
					t.Fatalf("upload: %v, want a failure saying %q", err, tc.fails)
				}
				if got := e.object("users/alice/big.bin"); !bytes.Equal(got, data) {
					t.Fatalf("the failed upload replaced the file with %d bytes", len(got))
				}
			case werr != nil || cerr != nil:
				t.Fatalf("upload: write %v, close %v", werr, cerr)
			default:
				if got := e.object("users/alice/big.bin"); !bytes.Equal(got, data[:64<<10]) {
					t.Fatalf("stored %d bytes, not what was written", len(got))
				}
			}
			waitFor(t, 5*time.Second, "the upload's audit line", func() bool {
				return contains(e.logs.String(), "op=upload path=/big.bin")
			})
			if s := contains(e.logs.String(), "spilled="); s != tc.spilled {
				t.Errorf("upload spilled: %v, want %v", s, tc.spilled)
			}
			waitFor(t, 5*time.Second, "the windows given back", func() bool {
				if !e.srv.windows.TryAcquire(e.srv.cfg.WindowBudget) {
					return false
				}
				e.srv.windows.Release(e.srv.cfg.WindowBudget)
				return true
			})
		})
	}
}

// A user's quota: an upload that would take the home past it fails with
// a failure saying so and stores nothing; replacing a file frees its
// bytes.
func TestQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.addUser("quinn", "pw", func(u *auth.User) { u.Limits.QuotaBytes = 1 << 20 })
	c := e.client("quinn", "pw")
	put := func(name string, data []byte) error { return tryWriteFile(c, name, data) }
	if err := put("/a.bin", randomBytes(t, 600<<10)); err != nil {
		t.Fatalf("upload within the quota: %v", err)
	}
	err := put("/b.bin", randomBytes(t, 600<<10))
	if statusCode(err) != codeFailure || !strings.Contains(err.Error(), "quota exceeded") {
		t.Fatalf("upload past the quota: %v, want a failure saying quota exceeded", err)
	}
	if _, err := c.Stat("/b.bin"); err == nil {
		t.Fatal("the upload past the quota was stored")
	}
	data := randomBytes(t, 1<<20)
	if err := put("/a.bin", data); err != nil {
		t.Fatalf("replacing a file up to the quota: %v", err)
	}
	if !bytes.Equal(e.object("users/quinn/a.bin"), data) {
		t.Fatal("the replacement was not stored")
	}

	// statvfs (OpenSSH's df) shows the quota, and what is left of it,
	// files written directly in the bucket included.
	if err := c.Remove("/a.bin"); err != nil {
		t.Fatal(err)
	}
	if vfs, err := c.StatVFS("/"); err != nil || vfs.FreeSpace() != 1<<20 {
		t.Fatalf("statvfs of an empty home: %v, %+v", err, vfs)
	}
	e.putObject("users/quinn/direct.bin", make([]byte, 256<<10))
	vfs, err := c.StatVFS("/")
	if err != nil || vfs.TotalSpace() != 1<<20 || vfs.FreeSpace() != 768<<10 {
		t.Fatalf("statvfs under the quota: %v, total %d, free %d; want %d, %d", err, vfs.TotalSpace(), vfs.FreeSpace(), 1<<20, 768<<10)
	}
	if _, err := c.StatVFS("/nowhere/../.."); err != nil {
		t.Fatalf("statvfs of the root: %v", err)
	}
}
