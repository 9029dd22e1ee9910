package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/wharf-gw/wharf/storage"
	"github.com/wharf-gw/wharf/storage/acl"
)

// Target is one kind of backend the conformance suite runs against.
type Target struct {
	// NewBucket returns a fresh, empty bucket; it is closed at the end of
	// the test.
	NewBucket func(t *testing.T) Bucket
	// MultipartUploads counts unfinished multipart uploads in the bucket
	// of opts; nil for targets without them.
	MultipartUploads func(t *testing.T, opts storage.BackendOptions) int
}

// Bucket is a fresh bucket of a Target.
type Bucket struct {
	Bucket *blob.Bucket
	// Opts are the backend options to wrap it with.
	Opts storage.BackendOptions
	// Reopen returns a second, independent handle on the same bucket, as
	// a second node would have; nil means the target cannot (memblob),
	// and the suite shares the handle.
	Reopen func(t *testing.T) *blob.Bucket
}

// fixture is what each case of the suite works with: a user session with
// the reference mounts over two backends on one bucket, a second VFS on
// its own bucket handle, and the raw bucket.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	raw    *blob.Bucket // the bucket, for changes made behind the VFS
	opts   storage.BackendOptions
	sess   *storage.Session
	other  *storage.Session // same user, second VFS instance
	target Target
}

// Key prefixes of the reference namespace inside the bucket.
const (
	homePrefix = "users/alice/"
	roPrefix   = "shared/ro/"
	rwPrefix   = "shared/rw/"
)

// ReferencePolicy is the reference scenario: alice's home at "/", a
// read-only mount at /folder1 and a read-write mount at /folder2, both on
// the backend "shared", and a rule granting everything everywhere (the
// read-only mount still removes every change in folder1). extra rules are
// added to it.
func ReferencePolicy(tb testing.TB, extra ...acl.Rule) *acl.Policy {
	tb.Helper()
	return referencePolicy(tb, 0, extra...)
}

// referencePolicy is ReferencePolicy with a quota on the home.
func referencePolicy(tb testing.TB, quota int64, extra ...acl.Rule) *acl.Policy {
	tb.Helper()
	p, err := acl.New([]acl.Mount{
		{Path: "/", Backend: "home", Prefix: homePrefix, Quota: quota},
		{Path: "/folder1", Backend: "shared", Prefix: roPrefix, ReadOnly: true},
		{Path: "/folder2", Backend: "shared", Prefix: rwPrefix},
	}, append([]acl.Rule{{Pattern: "/", Perms: acl.All}}, extra...))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func newFixture(t *testing.T, target Target, extra ...acl.Rule) *fixture {
	t.Helper()
	nb := target.NewBucket(t)
	b, opts := nb.Bucket, nb.Opts
	f := &fixture{t: t, ctx: context.Background(), raw: b, opts: opts, target: target}
	f.sess = f.session(b, ReferencePolicy(t, extra...))
	b2 := b
	if nb.Reopen != nil {
		b2 = nb.Reopen(t)
	}
	f.other = f.session(b2, ReferencePolicy(t, extra...))
	// The mount roots exist the way an administrator would have made them.
	for _, p := range []string{homePrefix, roPrefix, rwPrefix} {
		if err := b.WriteAll(f.ctx, p, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// session opens alice's session with policy over the backends "home" and
// "shared", both on b.
func (f *fixture) session(b *blob.Bucket, policy *acl.Policy) *storage.Session {
	f.t.Helper()
	home, err := storage.NewBackend("home", b, f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	shared, err := storage.NewBackend("shared", b, f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	v, err := storage.New([]*storage.Backend{home, shared}, storage.Options{Budget: storage.NewBudget(64 << 20)})
	if err != nil {
		f.t.Fatal(err)
	}
	s, err := v.Session("alice", policy)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// Run runs the conformance suite against target.
func Run(t *testing.T, target Target) {
	cases := []struct {
		name string
		fn   func(f *fixture)
	}{
		{"WriteReadBack", testWriteReadBack},
		{"Overwrite", testOverwrite},
		{"AbortKeepsPrevious", testAbortKeepsPrevious},
		{"FailedContextKeepsPrevious", testCancelKeepsPrevious},
		{"ReadOffset", testReadOffset},
		{"Remove", testRemove},
		{"MkdirRmdir", testMkdirRmdir},
		{"CreateNeedsParent", testCreateNeedsParent},
		{"RenameFile", testRenameFile},
		{"RenameAcrossMounts", testRenameAcrossMounts},
		{"RenameDirectory", testRenameDirectory},
		{"ListPages", testListPages},
		{"EmptyDirectories", testEmptyDirectories},
		{"Names", testNames},
		{"InvalidNames", testInvalidNames},
		{"KeyTooLong", testKeyTooLong},
		{"ReadOnlyMount", testReadOnlyMount},
		{"MountPoints", testMountPoints},
		{"ReferenceScenario", testReferenceScenario},
		{"HiddenLooksAbsent", testHiddenLooksAbsent},
		{"Consistency", testConsistency},
		{"Times", testTimes},
		{"TimeRange", testTimeRange},
		{"DirectoryTimes", testDirectoryTimes},
		{"ConcurrentUploads", testConcurrentUploads},
		{"Append", testAppend},
		{"AppendPermissions", testAppendPermissions},
		{"Quota", testQuota},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(newFixture(t, target))
		})
	}
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *fixture) put(s *storage.Session, name string, data []byte) {
	f.t.Helper()
	if err := f.tryPut(s, name, data); err != nil {
		f.t.Fatalf("put %s: %v", name, err)
	}
}

func (f *fixture) tryPut(s *storage.Session, name string, data []byte) error {
	w, err := s.Create(f.ctx, name)
	if err != nil {
		return err
	}
	// Odd-sized writes cross chunk and part boundaries.
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 777_777)
		if _, err := w.Write(rest[:n]); err != nil {
			return err
		}
		rest = rest[n:]
	}
	return w.Close()
}

func (f *fixture) get(s *storage.Session, name string) []byte {
	f.t.Helper()
	r, err := s.Open(f.ctx, name, 0)
	if err != nil {
		f.t.Fatalf("open %s: %v", name, err)
	}
	defer r.Close()
	var buf bytes.Buffer
	if _, err := r.WriteTo(&buf); err != nil {
		f.t.Fatalf("read %s: %v", name, err)
	}
	return buf.Bytes()
}

func (f *fixture) sameBytes(s *storage.Session, name string, want []byte) {
	f.t.Helper()
	got := f.get(s, name)
	if sha256.Sum256(got) != sha256.Sum256(want) {
		f.t.Fatalf("%s: read back %d bytes (sha256 %x), want %d bytes (sha256 %x)",
			name, len(got), sha256.Sum256(got), len(want), sha256.Sum256(want))
	}
}

func (f *fixture) mustErr(err, kind error, what string) {
	f.t.Helper()
	if !errors.Is(err, kind) {
		f.t.Fatalf("%s: got error %v, want one wrapping %q", what, err, kind)
	}
}

func (f *fixture) mkdir(name string) {
	f.t.Helper()
	if err := f.sess.Mkdir(f.ctx, name); err != nil {
		f.t.Fatalf("mkdir %s: %v", name, err)
	}
}

// names lists a directory completely, pageSize entries at a time.
func (f *fixture) names(s *storage.Session, dir string, pageSize int) []string {
	f.t.Helper()
	ls, err := s.List(f.ctx, dir)
	if err != nil {
		f.t.Fatalf("list %s: %v", dir, err)
	}
	var out []string
	for {
		page, err := ls.Next(f.ctx, pageSize)
		if len(page) > pageSize {
			f.t.Fatalf("list %s: page of %d entries, asked for %d", dir, len(page), pageSize)
		}
		for _, fi := range page {
			n := fi.Name()
			if fi.IsDir() {
				n += "/"
			}
			out = append(out, n)
		}
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			f.t.Fatalf("list %s: %v", dir, err)
		}
	}
}

func (f *fixture) noMultipart() {
	f.t.Helper()
	if f.target.MultipartUploads == nil {
		return
	}
	if n := f.target.MultipartUploads(f.t, f.opts); n != 0 {
		f.t.Fatalf("%d multipart uploads left in the bucket", n)
	}
}

func testWriteReadBack(f *fixture) {
	for _, size := range []int{0, 1, 3 << 20, 13<<20 + 5} {
		name := fmt.Sprintf("/folder2/file-%d.bin", size)
		data := randomBytes(f.t, size)
		f.put(f.sess, name, data)
		f.sameBytes(f.sess, name, data)
		fi, err := f.sess.Stat(f.ctx, name)
		if err != nil || fi.Size() != int64(size) || fi.IsDir() {
			f.t.Fatalf("stat %s: %v, %+v", name, err, fi)
		}
	}
	f.noMultipart()
}

func testOverwrite(f *fixture) {
	f.put(f.sess, "/a.txt", []byte("first version, longer"))
	f.put(f.sess, "/a.txt", []byte("second"))
	f.sameBytes(f.sess, "/a.txt", []byte("second"))
}

func testAbortKeepsPrevious(f *fixture) {
	old := randomBytes(f.t, 1<<20)
	f.put(f.sess, "/folder2/keep.bin", old)
	for _, size := range []int{0, 100, 12 << 20} { // nothing, a small write, several parts
		w, err := f.sess.Create(f.ctx, "/folder2/keep.bin")
		if err != nil {
			f.t.Fatal(err)
		}
		if _, err := w.Write(randomBytes(f.t, size)); err != nil {
			f.t.Fatal(err)
		}
		w.Abort()
		f.mustErr(w.Close(), fs.ErrClosed, "close after abort")
		f.sameBytes(f.sess, "/folder2/keep.bin", old)
	}
	// A new file that is aborted does not appear.
	w, err := f.sess.Create(f.ctx, "/folder2/never.bin")
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := w.Write(randomBytes(f.t, 6<<20)); err != nil {
		f.t.Fatal(err)
	}
	w.Abort()
	_, err = f.sess.Stat(f.ctx, "/folder2/never.bin")
	f.mustErr(err, storage.ErrNotExist, "stat of an aborted new file")
	f.noMultipart()
}

func testCancelKeepsPrevious(f *fixture) {
	old := []byte("the old version")
	f.put(f.sess, "/c.bin", old)
	ctx, cancel := context.WithCancel(f.ctx)
	w, err := f.sess.Create(ctx, "/c.bin")
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := w.Write(randomBytes(f.t, 11<<20)); err != nil {
		f.t.Fatal(err)
	}
	cancel() // the client went away
	if err := w.Close(); err == nil {
		f.t.Fatal("close after the context ended succeeded")
	}
	f.sameBytes(f.sess, "/c.bin", old)
	f.noMultipart()
}

func testReadOffset(f *fixture) {
	data := randomBytes(f.t, 100_000)
	f.put(f.sess, "/r.bin", data)
	for _, off := range []int64{0, 1, 65_536, 99_999, 100_000, 200_000} {
		r, err := f.sess.Open(f.ctx, "/r.bin", off)
		if err != nil {
			f.t.Fatalf("open at %d: %v", off, err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			f.t.Fatalf("read at %d: %v", off, err)
		}
		want := data[min(off, int64(len(data))):]
		if !bytes.Equal(got, want) || r.Size() != int64(len(data)) {
			f.t.Fatalf("read at %d: %d bytes, want %d (size %d)", off, len(got), len(want), r.Size())
		}
	}
	_, err := f.sess.Open(f.ctx, "/folder2", 0)
	f.mustErr(err, storage.ErrIsDir, "open of a directory")
	f.mkdir("/d")
	_, err = f.sess.Open(f.ctx, "/d", 0)
	f.mustErr(err, storage.ErrIsDir, "open of a directory")
	_, err = f.sess.Open(f.ctx, "/missing", 0)
	f.mustErr(err, storage.ErrNotExist, "open of a missing file")
}

func testRemove(f *fixture) {
	f.put(f.sess, "/folder2/x", []byte("x"))
	if err := f.sess.Remove(f.ctx, "/folder2/x"); err != nil {
		f.t.Fatal(err)
	}
	_, err := f.sess.Stat(f.ctx, "/folder2/x")
	f.mustErr(err, storage.ErrNotExist, "stat after remove")
	f.mustErr(f.sess.Remove(f.ctx, "/folder2/x"), storage.ErrNotExist, "second remove")
	f.mkdir("/dir")
	f.mustErr(f.sess.Remove(f.ctx, "/dir"), storage.ErrIsDir, "remove of a directory")
}

func testMkdirRmdir(f *fixture) {
	f.mkdir("/d")
	f.mustErr(f.sess.Mkdir(f.ctx, "/d"), storage.ErrExist, "mkdir of an existing directory")
	f.put(f.sess, "/file", nil)
	f.mustErr(f.sess.Mkdir(f.ctx, "/file"), storage.ErrExist, "mkdir over a file")
	f.mustErr(f.sess.Mkdir(f.ctx, "/no/such"), storage.ErrNotExist, "mkdir without parent")
	f.mkdir("/d/e")
	f.put(f.sess, "/d/e/f", []byte("f"))
	f.mustErr(f.sess.Rmdir(f.ctx, "/d"), storage.ErrNotEmpty, "rmdir of a non-empty directory")
	f.mustErr(f.sess.Rmdir(f.ctx, "/d/e"), storage.ErrNotEmpty, "rmdir of a directory with a file")
	f.mustErr(f.sess.Rmdir(f.ctx, "/d/e/f"), storage.ErrNotDir, "rmdir of a file")
	if err := f.sess.Remove(f.ctx, "/d/e/f"); err != nil {
		f.t.Fatal(err)
	}
	for _, d := range []string{"/d/e", "/d"} {
		if err := f.sess.Rmdir(f.ctx, d); err != nil {
			f.t.Fatalf("rmdir %s: %v", d, err)
		}
		_, err := f.sess.Stat(f.ctx, d)
		f.mustErr(err, storage.ErrNotExist, "stat after rmdir")
	}
	f.mustErr(f.sess.Rmdir(f.ctx, "/d"), storage.ErrNotExist, "rmdir of a missing directory")
}

func testCreateNeedsParent(f *fixture) {
	_, err := f.sess.Create(f.ctx, "/no/such/file")
	f.mustErr(err, storage.ErrNotExist, "create without parent")
	f.put(f.sess, "/plain", []byte("p"))
	_, err = f.sess.Create(f.ctx, "/plain/child")
	f.mustErr(err, storage.ErrNotDir, "create below a file")
	f.mkdir("/dir")
	_, err = f.sess.Create(f.ctx, "/dir")
	f.mustErr(err, storage.ErrIsDir, "create over a directory")
	_, err = f.sess.Create(f.ctx, "/folder2")
	f.mustErr(err, storage.ErrIsDir, "create over a mount point")
}

func testRenameFile(f *fixture) {
	data := randomBytes(f.t, 2<<20)
	f.put(f.sess, "/folder2/a", data)
	f.mkdir("/folder2/sub")
	if err := f.sess.Rename(f.ctx, "/folder2/a", "/folder2/sub/b"); err != nil {
		f.t.Fatal(err)
	}
	f.sameBytes(f.sess, "/folder2/sub/b", data)
	_, err := f.sess.Stat(f.ctx, "/folder2/a")
	f.mustErr(err, storage.ErrNotExist, "stat of the renamed source")
	// Replacing an existing file.
	f.put(f.sess, "/folder2/c", []byte("c"))
	if err := f.sess.Rename(f.ctx, "/folder2/sub/b", "/folder2/c"); err != nil {
		f.t.Fatal(err)
	}
	f.sameBytes(f.sess, "/folder2/c", data)
	f.mustErr(f.sess.Rename(f.ctx, "/folder2/c", "/folder2/sub"), storage.ErrIsDir, "rename of a file onto a directory")
	f.mustErr(f.sess.Rename(f.ctx, "/folder2/nope", "/folder2/x"), storage.ErrNotExist, "rename of a missing file")
	f.mustErr(f.sess.Rename(f.ctx, "/folder2/c", "/folder2/nodir/x"), storage.ErrNotExist, "rename into a missing directory")
}

func testRenameAcrossMounts(f *fixture) {
	data := randomBytes(f.t, 300_000)
	f.put(f.sess, "/folder2/m", data)
	if err := f.sess.Rename(f.ctx, "/folder2/m", "/moved"); err != nil {
		f.t.Fatal(err)
	}
	f.sameBytes(f.sess, "/moved", data)
	if _, err := f.sess.Stat(f.ctx, "/folder2/m"); !errors.Is(err, storage.ErrNotExist) {
		f.t.Fatalf("source still there after a move across mounts: %v", err)
	}
}

func testRenameDirectory(f *fixture) {
	f.mkdir("/folder2/src")
	want := map[string][]byte{}
	for i := range 300 {
		dir := fmt.Sprintf("/folder2/src/d%d", i%7)
		if i < 7 {
			f.mkdir(dir)
		}
		if i%7 == 3 && i < 14 {
			f.mkdir(dir + fmt.Sprintf("/deep%d", i))
		}
		name := fmt.Sprintf("%s/f%03d", dir, i)
		if i%50 == 10 {
			name = fmt.Sprintf("%s/deep3/f%03d", "/folder2/src/d3", i)
		}
		data := []byte(fmt.Sprintf("object %d", i))
		f.put(f.sess, name, data)
		want[strings.TrimPrefix(name, "/folder2/src")] = data
	}
	f.mkdir("/folder2/src/empty")
	f.mustErr(f.sess.Rename(f.ctx, "/folder2/src", "/folder2/src/d1/x"), storage.ErrInvalidName, "rename into itself")
	f.mkdir("/folder2/taken")
	f.mustErr(f.sess.Rename(f.ctx, "/folder2/src", "/folder2/taken"), storage.ErrExist, "rename onto a directory")
	if err := f.sess.Rename(f.ctx, "/folder2/src", "/folder2/dst"); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.sess.Stat(f.ctx, "/folder2/src"); !errors.Is(err, storage.ErrNotExist) {
		f.t.Fatalf("source directory still there: %v", err)
	}
	for rel, data := range want {
		if got := f.get(f.sess, "/folder2/dst"+rel); !bytes.Equal(got, data) {
			f.t.Fatalf("%s: %q, want %q", rel, got, data)
		}
	}
	if fi, err := f.sess.Stat(f.ctx, "/folder2/dst/empty"); err != nil || !fi.IsDir() {
		f.t.Fatalf("empty directory lost in the rename: %v", err)
	}
	// Nothing is left below the old prefix in the bucket.
	objs, _, err := f.raw.ListPage(f.ctx, blob.FirstPageToken, 10, &blob.ListOptions{Prefix: rwPrefix + "src"})
	if err != nil || len(objs) != 0 {
		f.t.Fatalf("objects left below the old name: %d (%v)", len(objs), err)
	}
}

func testListPages(f *fixture) {
	const n = 2500
	f.mkdir("/folder2/big")
	// Written straight to the bucket, concurrently, to keep the test quick.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	want := make([]string, 0, n)
	for i := range n {
		name := fmt.Sprintf("e%05d", i)
		want = append(want, name)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f.raw.WriteAll(f.ctx, rwPrefix+"big/"+name, []byte{1}, nil); err != nil {
				f.t.Error(err)
			}
		}()
	}
	wg.Wait()
	f.mkdir("/folder2/big/zz-subdir")
	want = append(want, "zz-subdir/")
	for _, page := range []int{1000, 333} {
		got := f.names(f.sess, "/folder2/big", page)
		sort.Strings(got)
		if !slices.Equal(got, want) {
			f.t.Fatalf("page size %d: %d entries, want %d (first difference near %v)", page, len(got), len(want), firstDiff(got, want))
		}
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("%d: %q vs %q", i, a[i], b[i])
		}
	}
	return "the end"
}

func testEmptyDirectories(f *fixture) {
	f.mkdir("/folder2/e1")
	f.mkdir("/folder2/e1/e2")
	if got := f.names(f.sess, "/folder2", 100); !slices.Equal(got, []string{"e1/"}) {
		f.t.Fatalf("listing of /folder2: %q", got)
	}
	if got := f.names(f.sess, "/folder2/e1", 100); !slices.Equal(got, []string{"e2/"}) {
		f.t.Fatalf("listing of /folder2/e1: %q", got)
	}
	if got := f.names(f.sess, "/folder2/e1/e2", 100); len(got) != 0 {
		f.t.Fatalf("listing of an empty directory: %q", got)
	}
	if fi, err := f.sess.Stat(f.ctx, "/folder2/e1/e2"); err != nil || !fi.IsDir() {
		f.t.Fatalf("stat of an empty directory: %v", err)
	}
	// A directory that exists only because objects below it do.
	if err := f.raw.WriteAll(f.ctx, rwPrefix+"implied/deeper/obj", []byte("o"), nil); err != nil {
		f.t.Fatal(err)
	}
	if fi, err := f.sess.Stat(f.ctx, "/folder2/implied"); err != nil || !fi.IsDir() {
		f.t.Fatalf("stat of an implied directory: %v", err)
	}
	if got := f.names(f.sess, "/folder2/implied", 100); !slices.Equal(got, []string{"deeper/"}) {
		f.t.Fatalf("listing of an implied directory: %q", got)
	}
}

func testNames(f *fixture) {
	names := []string{"with space.txt", "ünïcödé-日本語.txt", "emoji-😀", "b.c", "...x", "__0x41__", "percent%2e%2e", "semi;colon&amp=x", "tab?no", "#hash", "[brackets]"}
	f.mkdir("/folder2/dir with space")
	f.mkdir("/folder2/dir with space/a.b")
	for _, n := range names {
		for _, dir := range []string{"/folder2/dir with space", "/folder2/dir with space/a.b"} {
			p := dir + "/" + n
			f.put(f.sess, p, []byte(p))
			f.sameBytes(f.sess, p, []byte(p))
		}
	}
	got := f.names(f.sess, "/folder2/dir with space", 100)
	want := append(slices.Clone(names), "a.b/")
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		f.t.Fatalf("listing: %q, want %q", got, want)
	}
	if err := f.sess.Rename(f.ctx, "/folder2/dir with space", "/folder2/ünï dir"); err != nil {
		f.t.Fatal(err)
	}
	f.sameBytes(f.sess, "/folder2/ünï dir/a.b/__0x41__", []byte("/folder2/dir with space/a.b/__0x41__"))
}

func testInvalidNames(f *fixture) {
	for _, n := range []string{"/dots../x", "/a/b..", "/bad\x00name", "/ctl\x01", "/back\\slash", "/" + strings.Repeat("x", 256), "/\xff\xfe"} {
		_, err := f.sess.Create(f.ctx, n)
		f.mustErr(err, storage.ErrInvalidName, fmt.Sprintf("create %q", n))
		_, err = f.sess.Stat(f.ctx, n)
		f.mustErr(err, storage.ErrInvalidName, fmt.Sprintf("stat %q", n))
	}
	// Traversal is cleaned away, never out of the namespace.
	f.put(f.sess, "/../../../etc-passwd", []byte("inside"))
	f.sameBytes(f.sess, "/etc-passwd", []byte("inside"))
	f.put(f.sess, "/folder2/../folder2/./x/../y", []byte("y"))
	f.sameBytes(f.sess, "/folder2/y", []byte("y"))
}

// testKeyTooLong: a name whose key (mount prefix included) is longer than
// every backend takes (1024 bytes, S3's limit) is an invalid name when it
// would be created, before any byte is taken, and does not exist for
// lookups; one byte less works. /folder2 is the key prefix "shared/rw/",
// one byte longer than "/folder2/": the path of the longest file is 1023
// bytes, whose key is 1024.
func testKeyTooLong(f *fixture) {
	seg := strings.Repeat("s", 200) // short enough for every backend's names
	dir := "/folder2/" + strings.Join([]string{seg, seg, seg, seg}, "/")
	for _, d := range []string{"/folder2/" + seg, "/folder2/" + seg + "/" + seg, "/folder2/" + seg + "/" + seg + "/" + seg, dir} {
		f.mkdir(d)
	}
	name := dir + "/" + strings.Repeat("f", 1023-len(dir)-1)
	long := name + "g" // a path of 1024 bytes: acl takes it, the backends not
	if len(rwPrefix)+len(long)-len("/folder2/") != 1025 {
		f.t.Fatalf("test name of the wrong length")
	}
	f.put(f.sess, name, []byte("fits"))
	f.sameBytes(f.other, name, []byte("fits"))
	if got := f.names(f.sess, dir, 10); len(got) != 1 || "/"+got[0] != name[len(dir):] {
		f.t.Fatalf("listing: %q", got)
	}

	_, err := f.sess.Create(f.ctx, long)
	f.mustErr(err, storage.ErrInvalidName, "create of a name too long for the backend")
	_, err = f.sess.Append(f.ctx, long)
	f.mustErr(err, storage.ErrInvalidName, "append to a name too long for the backend")
	// A directory's marker key ends in "/": one byte longer.
	f.mustErr(f.sess.Mkdir(f.ctx, dir+"/"+strings.Repeat("d", len(name)-len(dir)-1)), storage.ErrInvalidName, "mkdir whose marker key is too long")
	f.mustErr(f.sess.Rename(f.ctx, name, long), storage.ErrInvalidName, "rename onto a name too long")
	f.sameBytes(f.sess, name, []byte("fits"))
	_, err = f.sess.Stat(f.ctx, long)
	f.mustErr(err, storage.ErrNotExist, "stat of a name too long")
	_, err = f.sess.Open(f.ctx, long, 0)
	f.mustErr(err, storage.ErrNotExist, "open of a name too long")
	f.mustErr(f.sess.Remove(f.ctx, long), storage.ErrNotExist, "remove of a name too long")
	f.mustErr(f.sess.Chtimes(f.ctx, long, time.Now()), storage.ErrNotExist, "chtimes of a name too long")

	// A directory moved to a longer name would make the file's key too
	// long: refused, the source whole.
	f.mustErr(f.sess.Rename(f.ctx, dir, dir+"x"), storage.ErrInvalidName, "rename of a directory making a key too long")
	f.sameBytes(f.sess, name, []byte("fits"))
	if _, err := f.sess.Stat(f.ctx, dir+"x"); !errors.Is(err, storage.ErrNotExist) {
		f.t.Fatalf("a refused directory rename left %v", err)
	}
	if err := f.sess.Rename(f.ctx, dir, dir[:len(dir)-1]); err != nil { // shorter: fine
		f.t.Fatal(err)
	}
	f.sameBytes(f.sess, dir[:len(dir)-1]+name[len(dir):], []byte("fits"))
}

func testReadOnlyMount(f *fixture) {
	if err := f.raw.WriteAll(f.ctx, roPrefix+"report.csv", []byte("a,b"), nil); err != nil {
		f.t.Fatal(err)
	}
	if err := f.raw.WriteAll(f.ctx, roPrefix+"sub/", nil, nil); err != nil {
		f.t.Fatal(err)
	}
	f.sameBytes(f.sess, "/folder1/report.csv", []byte("a,b"))
	_, err := f.sess.Create(f.ctx, "/folder1/new.txt")
	f.mustErr(err, storage.ErrPermission, "create in a read-only mount")
	_, err = f.sess.Create(f.ctx, "/folder1/report.csv")
	f.mustErr(err, storage.ErrPermission, "overwrite in a read-only mount")
	f.mustErr(f.sess.Remove(f.ctx, "/folder1/report.csv"), storage.ErrPermission, "remove in a read-only mount")
	f.mustErr(f.sess.Mkdir(f.ctx, "/folder1/d"), storage.ErrPermission, "mkdir in a read-only mount")
	f.mustErr(f.sess.Rmdir(f.ctx, "/folder1/sub"), storage.ErrPermission, "rmdir in a read-only mount")
	f.mustErr(f.sess.Rename(f.ctx, "/folder1/report.csv", "/folder1/r2"), storage.ErrPermission, "rename in a read-only mount")
	f.mustErr(f.sess.Rename(f.ctx, "/folder1/report.csv", "/stolen.csv"), storage.ErrPermission, "move out of a read-only mount")
	f.put(f.sess, "/mine", []byte("m"))
	f.mustErr(f.sess.Rename(f.ctx, "/mine", "/folder1/mine"), storage.ErrPermission, "move into a read-only mount")
	f.mustErr(f.sess.Chtimes(f.ctx, "/folder1/report.csv", time.Now()), storage.ErrPermission, "chtimes in a read-only mount")
	f.sameBytes(f.sess, "/folder1/report.csv", []byte("a,b"))
}

func testMountPoints(f *fixture) {
	for _, mp := range []string{"/folder1", "/folder2", "/"} {
		f.mustErr(f.sess.Rmdir(f.ctx, mp), storage.ErrPermission, "rmdir of mount point "+mp)
		f.mustErr(f.sess.Rename(f.ctx, mp, "/elsewhere"), storage.ErrPermission, "rename of mount point "+mp)
		if err := f.sess.Remove(f.ctx, mp); !errors.Is(err, storage.ErrIsDir) && !errors.Is(err, storage.ErrPermission) {
			f.t.Fatalf("remove of mount point %s: %v", mp, err)
		}
	}
	f.mkdir("/d")
	f.mustErr(f.sess.Rename(f.ctx, "/d", "/folder2"), storage.ErrPermission, "rename onto a mount point")
	// The mount points show in the home's listing even though nothing in
	// the home backend names them.
	if got := f.names(f.sess, "/", 100); !slices.Equal(got, []string{"folder1/", "folder2/", "d/"}) {
		f.t.Fatalf("listing of /: %q", got)
	}
}

// testReferenceScenario is the situation wharf replaces: a user whose home
// holds a read-only folder1 and a read-write folder2.
func testReferenceScenario(f *fixture) {
	if err := f.raw.WriteAll(f.ctx, roPrefix+"price-list.pdf", []byte("prices"), nil); err != nil {
		f.t.Fatal(err)
	}
	// folder1: list and download, nothing else.
	if got := f.names(f.sess, "/folder1", 10); !slices.Equal(got, []string{"price-list.pdf"}) {
		f.t.Fatalf("listing of folder1: %q", got)
	}
	f.sameBytes(f.sess, "/folder1/price-list.pdf", []byte("prices"))
	_, err := f.sess.Create(f.ctx, "/folder1/upload.txt")
	f.mustErr(err, storage.ErrPermission, "upload into folder1")
	f.mustErr(f.sess.Remove(f.ctx, "/folder1/price-list.pdf"), storage.ErrPermission, "delete in folder1")
	// folder2: upload and delete.
	f.put(f.sess, "/folder2/order.xml", []byte("<order/>"))
	f.sameBytes(f.sess, "/folder2/order.xml", []byte("<order/>"))
	if err := f.sess.Remove(f.ctx, "/folder2/order.xml"); err != nil {
		f.t.Fatal(err)
	}
	// Neither folder can be deleted or renamed.
	for _, d := range []string{"/folder1", "/folder2"} {
		f.mustErr(f.sess.Rmdir(f.ctx, d), storage.ErrPermission, "rmdir "+d)
		f.mustErr(f.sess.Rename(f.ctx, d, d+"-renamed"), storage.ErrPermission, "rename "+d)
	}
	if fi, err := f.sess.Stat(f.ctx, "/folder1/price-list.pdf"); err != nil || fi.Mode().Perm()&0o200 != 0 {
		f.t.Fatalf("a read-only file must not look writable: %v %v", err, fi)
	}
}

func testHiddenLooksAbsent(f *fixture) {
	s := f.sess
	// A second session for the same user, with /folder2/secret hidden.
	hidden := ReferencePolicy(f.t, acl.Rule{Pattern: "/folder2/secret", Perms: acl.None},
		acl.Rule{Pattern: "/folder2/*.key", Perms: acl.None})
	f.mkdir("/folder2/secret")
	f.put(s, "/folder2/secret/x", []byte("x"))
	f.put(s, "/folder2/visible", []byte("v"))
	f.put(s, "/folder2/private.key", []byte("k"))
	v := sessionVFS(f.t, s)
	hs, err := v.Session("alice", hidden)
	if err != nil {
		f.t.Fatal(err)
	}
	if got := f.names(hs, "/folder2", 100); !slices.Equal(got, []string{"visible"}) {
		f.t.Fatalf("listing with hidden entries: %q", got)
	}
	for _, p := range []string{"/folder2/secret", "/folder2/secret/x", "/folder2/private.key"} {
		_, err := hs.Stat(f.ctx, p)
		f.mustErr(err, storage.ErrNotExist, "stat of hidden "+p)
		_, err = hs.Open(f.ctx, p, 0)
		f.mustErr(err, storage.ErrNotExist, "open of hidden "+p)
		f.mustErr(hs.Remove(f.ctx, p), storage.ErrNotExist, "remove of hidden "+p)
	}
	_, err = hs.Create(f.ctx, "/folder2/secret/y")
	f.mustErr(err, storage.ErrPermission, "create in a hidden directory")
	// A directory with rules of its own below it cannot be moved wholesale.
	f.mustErr(hs.Rename(f.ctx, "/folder2", "/f2"), storage.ErrPermission, "rename of a mount point")
}

// sessionVFS rebuilds a VFS like the fixture's, over the same bucket.
func sessionVFS(t *testing.T, s *storage.Session) *storage.VFS {
	t.Helper()
	return s.VFS()
}

func testConsistency(f *fixture) {
	f.put(f.sess, "/shared.txt", []byte("v1"))
	f.sameBytes(f.other, "/shared.txt", []byte("v1"))
	f.put(f.other, "/shared.txt", []byte("version two"))
	f.sameBytes(f.sess, "/shared.txt", []byte("version two"))
	if fi, err := f.sess.Stat(f.ctx, "/shared.txt"); err != nil || fi.Size() != int64(len("version two")) {
		f.t.Fatalf("stat after another node's write: %v %v", err, fi)
	}
	// Changes made directly in the bucket.
	if err := f.raw.WriteAll(f.ctx, homePrefix+"shared.txt", []byte("from the bucket"), nil); err != nil {
		f.t.Fatal(err)
	}
	f.sameBytes(f.sess, "/shared.txt", []byte("from the bucket"))
	f.sameBytes(f.other, "/shared.txt", []byte("from the bucket"))
	if err := f.raw.Delete(f.ctx, homePrefix+"shared.txt"); err != nil {
		f.t.Fatal(err)
	}
	_, err := f.other.Stat(f.ctx, "/shared.txt")
	f.mustErr(err, storage.ErrNotExist, "stat after a delete in the bucket")
	if got := f.names(f.sess, "/", 100); slices.Contains(got, "shared.txt") {
		f.t.Fatalf("deleted file still listed: %q", got)
	}
	f.mkdir("/nd")
	if fi, err := f.other.Stat(f.ctx, "/nd"); err != nil || !fi.IsDir() {
		f.t.Fatalf("directory made on one node not seen on the other: %v", err)
	}
}

func testTimes(f *fixture) {
	when := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	f.put(f.sess, "/t", []byte("t"))
	if err := f.sess.Chtimes(f.ctx, "/t", when); err != nil {
		f.t.Fatal(err)
	}
	for _, s := range []*storage.Session{f.sess, f.other} {
		fi, err := s.Stat(f.ctx, "/t")
		if err != nil || !fi.ModTime().Equal(when) {
			f.t.Fatalf("stat after chtimes: %v %v, want %v", err, fi.ModTime(), when)
		}
	}
	f.sameBytes(f.sess, "/t", []byte("t"))
	// Set while uploading, before and after the data (sftp put -p).
	for i, size := range []int{10, 7 << 20} {
		name := fmt.Sprintf("/u%d", i)
		w, err := f.sess.Create(f.ctx, name)
		if err != nil {
			f.t.Fatal(err)
		}
		data := randomBytes(f.t, size)
		w.SetModTime(when.Add(time.Hour))
		w.Write(data[:size/2])
		w.SetModTime(when)
		w.Write(data[size/2:])
		if err := w.Close(); err != nil {
			f.t.Fatal(err)
		}
		fi, err := f.sess.Stat(f.ctx, name)
		if err != nil || !fi.ModTime().Equal(when) {
			f.t.Fatalf("stat after an upload with a time set: %v %v, want %v", err, fi.ModTime(), when)
		}
		f.sameBytes(f.sess, name, data)
	}
	// Listings report the same time.
	ls, err := f.sess.List(f.ctx, "/")
	if err != nil {
		f.t.Fatal(err)
	}
	page, _ := ls.Next(f.ctx, 100)
	for _, fi := range page {
		if !fi.IsDir() && !fi.ModTime().Equal(when) {
			f.t.Fatalf("listing shows %s with time %v, want %v", fi.Name(), fi.ModTime(), when)
		}
	}
	f.noMultipart()
}

// testTimeRange: times outside what every backend stores (Unix
// nanoseconds in an int64, from the epoch) are refused with
// ErrInvalidArgument and change nothing; the bounds themselves read back
// exactly.
func testTimeRange(f *fixture) {
	first, last := time.Unix(0, 0).UTC(), time.Unix(0, math.MaxInt64).UTC()
	when := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	f.put(f.sess, "/t", []byte("t"))
	if err := f.sess.Chtimes(f.ctx, "/t", when); err != nil {
		f.t.Fatal(err)
	}
	for _, bad := range []time.Time{
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), // MFMT 99991231235959
		last.Add(time.Nanosecond),
		first.Add(-time.Nanosecond),
		time.Date(1901, 12, 13, 20, 45, 52, 0, time.UTC),
	} {
		f.mustErr(f.sess.Chtimes(f.ctx, "/t", bad), storage.ErrInvalidArgument, fmt.Sprintf("chtimes %v", bad))
		if fi, err := f.sess.Stat(f.ctx, "/t"); err != nil || !fi.ModTime().Equal(when) {
			f.t.Fatalf("after a refused chtimes %v: %v %v, want %v", bad, err, fi.ModTime(), when)
		}
	}
	for _, good := range []time.Time{first, last} {
		if err := f.sess.Chtimes(f.ctx, "/t", good); err != nil {
			f.t.Fatalf("chtimes %v: %v", good, err)
		}
		for _, s := range []*storage.Session{f.sess, f.other} {
			if fi, err := s.Stat(f.ctx, "/t"); err != nil || !fi.ModTime().Equal(good) {
				f.t.Fatalf("stat after chtimes %v: %v %v", good, err, fi.ModTime())
			}
		}
	}
	// Set while uploading: refused, and the upload goes on without it.
	start := time.Now()
	w, err := f.sess.Create(f.ctx, "/u")
	if err != nil {
		f.t.Fatal(err)
	}
	f.mustErr(w.SetModTime(last.Add(time.Hour)), storage.ErrInvalidArgument, "SetModTime after 2262")
	if _, err := w.Write([]byte("u")); err != nil {
		f.t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		f.t.Fatal(err)
	}
	if fi, err := f.sess.Stat(f.ctx, "/u"); err != nil || !recent(fi.ModTime(), start) {
		f.t.Fatalf("stat after an upload with a refused time: %v %v, want the backend's time", err, fi.ModTime())
	}
}

// recent reports whether t is a time a backend set since start (give or
// take clock skew and a backend's precision).
func recent(t, start time.Time) bool {
	return !t.Before(start.Add(-time.Minute)) && !t.After(time.Now().Add(time.Minute))
}

// testDirectoryTimes: a directory's time is never the zero time. Where the
// backend knows none (mount points, directories implied by objects below
// them, directories in object store listings) it is the Unix epoch; a
// backend may report a real time instead (a marker's, a folder's).
func testDirectoryTimes(f *fixture) {
	start := time.Now()
	epoch := time.Unix(0, 0)
	f.mkdir("/folder2/made")
	if err := f.raw.WriteAll(f.ctx, rwPrefix+"implied/obj", []byte("o"), nil); err != nil {
		f.t.Fatal(err)
	}
	check := func(what string, fi *storage.FileInfo) {
		f.t.Helper()
		if mt := fi.ModTime(); !mt.Equal(epoch) && !recent(mt, start) {
			f.t.Fatalf("%s: directory time %v, want the epoch or a time since the test began", what, mt)
		}
	}
	for _, p := range []string{"/", "/folder1", "/folder2", "/folder2/made", "/folder2/implied"} {
		fi, err := f.sess.Stat(f.ctx, p)
		if err != nil || !fi.IsDir() {
			f.t.Fatalf("stat %s: %v", p, err)
		}
		check("stat "+p, fi)
	}
	for _, dir := range []string{"/", "/folder2"} {
		ls, err := f.sess.List(f.ctx, dir)
		if err != nil {
			f.t.Fatal(err)
		}
		page, err := ls.Next(f.ctx, 100)
		if !errors.Is(err, io.EOF) {
			f.t.Fatalf("list %s: %v", dir, err)
		}
		for _, fi := range page {
			if fi.IsDir() {
				check("listing of "+dir+": "+fi.Name(), fi)
			}
		}
	}
}

func testConcurrentUploads(f *fixture) {
	var wg sync.WaitGroup
	data := randomBytes(f.t, 6<<20+1)
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f.tryPut(f.sess, fmt.Sprintf("/folder2/c%d", i), data); err != nil {
				f.t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i := range 12 {
		f.sameBytes(f.other, fmt.Sprintf("/folder2/c%d", i), data)
	}
}

// appendTo appends data to name and returns the size the Writer kept.
func (f *fixture) appendTo(s *storage.Session, name string, data []byte) int64 {
	f.t.Helper()
	w, err := s.Append(f.ctx, name)
	if err != nil {
		f.t.Fatalf("append %s: %v", name, err)
	}
	if _, err := w.Write(data); err != nil {
		f.t.Fatalf("append %s: write: %v", name, err)
	}
	if err := w.Close(); err != nil {
		f.t.Fatalf("append %s: close: %v", name, err)
	}
	return w.Kept()
}

func testAppend(f *fixture) {
	// Sizes below a part (read through the writer) and above S3's
	// smallest part (copied inside the backend), followed by nothing, a
	// few bytes and several parts.
	for _, old := range []int{0, 100, 12<<20 + 3} {
		for _, more := range []int{0, 7, 11 << 20} {
			name := fmt.Sprintf("/folder2/ap-%d-%d.bin", old, more)
			a, b := randomBytes(f.t, old), randomBytes(f.t, more)
			f.put(f.sess, name, a)
			if kept := f.appendTo(f.sess, name, b); kept != int64(old) {
				f.t.Fatalf("append to %s: kept %d bytes, want %d", name, kept, old)
			}
			f.sameBytes(f.other, name, append(a, b...))
		}
	}
	// A missing file is created.
	if kept := f.appendTo(f.sess, "/folder2/new.log", []byte("line 1\n")); kept != 0 {
		f.t.Fatalf("append to a missing file kept %d bytes", kept)
	}
	f.sameBytes(f.sess, "/folder2/new.log", []byte("line 1\n"))
	// An aborted append leaves the file as it was, whatever its size.
	for _, size := range []int{100, 12 << 20} {
		old := randomBytes(f.t, size)
		f.put(f.sess, "/folder2/keep.log", old)
		w, err := f.sess.Append(f.ctx, "/folder2/keep.log")
		if err != nil {
			f.t.Fatal(err)
		}
		if _, err := w.Write(randomBytes(f.t, 6<<20)); err != nil {
			f.t.Fatal(err)
		}
		w.Abort()
		f.sameBytes(f.sess, "/folder2/keep.log", old)
	}
	// A file replaced while the append runs is not stitched to the
	// newcomer: the append fails, and the newcomer stays.
	f.put(f.sess, "/folder2/race.log", randomBytes(f.t, 12<<20))
	w, err := f.sess.Append(f.ctx, "/folder2/race.log")
	if err != nil {
		f.t.Fatal(err)
	}
	newer := []byte("written by another client meanwhile")
	f.put(f.other, "/folder2/race.log", newer)
	// On S3 the copy runs while the new bytes arrive: the change may
	// show at a Write already, and then only as ErrChanged.
	if _, err := w.Write([]byte("tail")); err != nil {
		w.Abort()
		if !errors.Is(err, storage.ErrChanged) {
			f.t.Fatalf("append racing an overwrite: write: %v, want ErrChanged", err)
		}
	} else if err := w.Close(); err != nil {
		// Whether it notices depends on when the copy was made (at
		// Append): a close that succeeds must not have lost the newcomer's
		// place either, which the check below covers.
		f.t.Logf("append racing an overwrite: %v", err)
	}
	if got := f.get(f.sess, "/folder2/race.log"); len(got) != 12<<20+4 && !bytes.Equal(got, newer) {
		f.t.Fatalf("append racing an overwrite left %d bytes", len(got))
	}
	_, err = f.sess.Append(f.ctx, "/folder2")
	f.mustErr(err, storage.ErrIsDir, "append to a directory")
	f.noMultipart()
}

func testAppendPermissions(f *fixture) {
	f.mkdir("/folder2/drop")
	f.mkdir("/folder2/sealed")
	f.put(f.sess, "/folder2/drop/log", []byte("a"))
	f.put(f.sess, "/folder2/sealed/log", []byte("a"))
	p := ReferencePolicy(f.t,
		acl.Rule{Pattern: "/folder2/drop", Perms: acl.List | acl.Append | acl.WriteNew},
		acl.Rule{Pattern: "/folder2/sealed", Perms: acl.All &^ acl.Append})
	s, err := sessionVFS(f.t, f.sess).Session("alice", p)
	if err != nil {
		f.t.Fatal(err)
	}
	// Append needs neither Read nor Overwrite.
	f.appendTo(s, "/folder2/drop/log", []byte("b"))
	f.sameBytes(f.sess, "/folder2/drop/log", []byte("ab"))
	f.appendTo(s, "/folder2/drop/new", []byte("n")) // WriteNew
	_, err = s.Create(f.ctx, "/folder2/drop/log")
	f.mustErr(err, storage.ErrPermission, "overwrite where only append is allowed")
	_, err = s.Append(f.ctx, "/folder2/sealed/log")
	f.mustErr(err, storage.ErrPermission, "append without the permission")
	_, err = s.Append(f.ctx, "/folder1/price-list.pdf")
	f.mustErr(err, storage.ErrPermission, "append in a read-only mount")
	f.sameBytes(f.sess, "/folder2/sealed/log", []byte("a"))
}

// A quota on the home counts every file below it, however written, at the
// start of each upload; an upload that would go past it fails with
// ErrQuotaExceeded at the write that would, and stores nothing. A file
// replaced frees its bytes; an append's kept bytes stay counted. Other
// mounts do not count.
func testQuota(f *fixture) {
	s := f.session(f.raw, referencePolicy(f.t, 100))
	f.put(s, "/a", bytes.Repeat([]byte("a"), 60))
	f.put(s, "/folder2/big", make([]byte, 1000)) // another mount
	if err := f.raw.WriteAll(f.ctx, homePrefix+"sub/direct", make([]byte, 7), nil); err != nil {
		f.t.Fatal(err)
	}
	for _, c := range []struct {
		path        string
		quota, used int64
	}{{"/", 100, 67}, {"/sub", 100, 67}, {"/folder2", 0, 0}} {
		if q, u, err := s.Space(f.ctx, c.path); err != nil || q != c.quota || u != c.used {
			f.t.Fatalf("Space(%s) = %d, %d, %v; want %d, %d", c.path, q, u, err, c.quota, c.used)
		}
	}
	if err := f.raw.Delete(f.ctx, homePrefix+"sub/direct"); err != nil {
		f.t.Fatal(err)
	}

	w, err := s.Create(f.ctx, "/b")
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 40)); err != nil {
		f.t.Fatalf("write up to the quota: %v", err)
	}
	_, err = w.Write([]byte("x"))
	f.mustErr(err, storage.ErrQuotaExceeded, "write past the quota")
	if err := w.Close(); err == nil {
		f.t.Fatal("close after the quota failure succeeded")
	}
	if _, err := s.Stat(f.ctx, "/b"); !errors.Is(err, storage.ErrNotExist) {
		f.t.Fatalf("the upload past the quota was stored: %v", err)
	}

	// ReadFrom too, and a file replaced frees its own bytes.
	w, err = s.Create(f.ctx, "/a")
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := w.ReadFrom(bytes.NewReader(make([]byte, 101))); !errors.Is(err, storage.ErrQuotaExceeded) {
		f.t.Fatalf("ReadFrom past the quota: %v", err)
	}
	f.sameBytes(s, "/a", bytes.Repeat([]byte("a"), 60))

	// Length-limited readers (the FTP front end's pieces): one whose
	// limit fits is reserved whole and what it did not bring is given
	// back; one whose limit does not fit still gets every byte that does.
	w, err = s.Create(f.ctx, "/a")
	if err != nil {
		f.t.Fatal(err)
	}
	for i, c := range []struct {
		data, limit int64
		ok          bool
	}{
		{40, 100, true},  // 60 of the reserved 100 given back
		{50, 1000, true}, // a limit past the quota, bytes within it
		{20, 20, false},  // 10 fit, the 11th does not: the upload fails
	} {
		n, err := w.ReadFrom(io.LimitReader(bytes.NewReader(make([]byte, c.data)), c.limit))
		switch {
		case c.ok && (err != nil || n != c.data):
			f.t.Fatalf("limited ReadFrom %d (%d of %d bytes): %d, %v", i, c.data, c.limit, n, err)
		case !c.ok && !errors.Is(err, storage.ErrQuotaExceeded):
			f.t.Fatalf("limited ReadFrom %d past the quota: %d, %v", i, n, err)
		}
	}
	w.Abort()
	f.sameBytes(s, "/a", bytes.Repeat([]byte("a"), 60))
	f.put(s, "/a", bytes.Repeat([]byte("A"), 100))

	// An append keeps its bytes counted.
	w, err = s.Append(f.ctx, "/a")
	if err != nil {
		f.t.Fatal(err)
	}
	_, err = w.Write([]byte("x"))
	f.mustErr(err, storage.ErrQuotaExceeded, "append past the quota")
	w.Abort()
	f.sameBytes(s, "/a", bytes.Repeat([]byte("A"), 100))

	// What is deleted frees space at once; what is written in the bucket
	// directly counts at once.
	if err := s.Remove(f.ctx, "/a"); err != nil {
		f.t.Fatal(err)
	}
	if err := f.raw.WriteAll(f.ctx, homePrefix+"direct", make([]byte, 90), nil); err != nil {
		f.t.Fatal(err)
	}
	f.put(s, "/c", make([]byte, 10))
	f.mustErr(f.tryPut(s, "/d", []byte("x")), storage.ErrQuotaExceeded, "upload with the home full from the bucket")
	f.put(s, "/empty", nil) // nothing written: within any quota

	// Uploads running at the same time count against each other as they
	// write, and what an aborted one wrote stops counting.
	for _, name := range []string{"/c", "/direct"} {
		if err := s.Remove(f.ctx, name); err != nil {
			f.t.Fatal(err)
		}
	}
	a, err := s.Create(f.ctx, "/ca")
	if err != nil {
		f.t.Fatal(err)
	}
	b, err := s.Create(f.ctx, "/cb")
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := a.Write(make([]byte, 60)); err != nil {
		f.t.Fatal(err)
	}
	_, err = b.Write(make([]byte, 50))
	f.mustErr(err, storage.ErrQuotaExceeded, "a second upload past the quota with the first")
	a.Abort()
	f.put(s, "/cc", make([]byte, 100))

	// Moves into the home from another mount count; moves inside it do
	// not.
	f.mustErr(s.Rename(f.ctx, "/folder2/big", "/big"), storage.ErrQuotaExceeded, "a move into a full home")
	if _, err := s.Stat(f.ctx, "/folder2/big"); err != nil {
		f.t.Fatalf("the refused move lost its source: %v", err)
	}
	if err := s.Remove(f.ctx, "/cc"); err != nil {
		f.t.Fatal(err)
	}
	if err := s.Mkdir(f.ctx, "/folder2/d"); err != nil {
		f.t.Fatal(err)
	}
	f.put(s, "/folder2/d/x", make([]byte, 30))
	f.put(s, "/folder2/d/y", make([]byte, 30))
	if err := s.Rename(f.ctx, "/folder2/d", "/d"); err != nil {
		f.t.Fatalf("a directory that fits moved into the home: %v", err)
	}
	f.put(s, "/folder2/z", make([]byte, 50))
	f.mustErr(s.Rename(f.ctx, "/folder2/z", "/z"), storage.ErrQuotaExceeded, "a move past the quota")
	f.put(s, "/d/w", make([]byte, 40)) // the home is full
	if err := s.Rename(f.ctx, "/d", "/e"); err != nil {
		f.t.Fatalf("a move inside the full home: %v", err)
	}

	// Space freed behind the node's back is found before a refusal.
	for _, k := range []string{"e/x", "e/y", "e/w"} {
		if err := f.raw.Delete(f.ctx, homePrefix+k); err != nil {
			f.t.Fatal(err)
		}
	}
	f.put(s, "/g", make([]byte, 100))
}
