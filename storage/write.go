package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"sync"
	"time"

	"gocloud.dev/blob"

	"github.com/wharf-gw/wharf/storage/acl"
)

// objectWriter streams one object to a backend. Nothing is visible until
// commit succeeds; abort discards everything, including partial uploads.
type objectWriter interface {
	Write(p []byte) (int, error)
	commit() error
	abort()
}

// errAborted is returned by Write and Close after Abort.
var errAborted = fmt.Errorf("upload aborted: %w", fs.ErrClosed)

// Writer uploads one file. The file appears (or replaces the previous
// version) only when Close succeeds; after Abort, a failed Write or a
// failed Close, the previous version is untouched and nothing is left
// behind in the backend. A Writer is not safe for concurrent use, except
// that Abort may be called from another goroutine.
type Writer struct {
	s      *Session
	l      loc
	ctx    context.Context
	cancel context.CancelFunc
	owMu   sync.Mutex // serializes calls into ow
	ow     objectWriter
	n      int64
	kept   int64        // bytes of the previous version ahead of n (Append)
	quota  *writerQuota // nil without a quota; under owMu

	mu      sync.Mutex
	done    bool // committed or aborted
	mtime   time.Time
	mtimeOK bool // mtime is set and not yet stored
	started bool // the backend writer exists: metadata is fixed
}

// Create opens name for writing, replacing an existing file on Close. It
// needs WriteNew for a new file and Overwrite for an existing one, and the
// parent directory must exist. A name the backend cannot hold (too long
// for it, or reserved by it) is refused with ErrInvalidName here, before
// any byte is taken. The upload is bound to ctx: when ctx ends before
// Close, the upload is aborted.
func (s *Session) Create(ctx context.Context, name string) (*Writer, error) {
	const op = "create"
	l, err := s.resolve(op, name)
	if err != nil {
		return nil, err
	}
	if l.rel == "" || s.policy.IsMountAncestor(l.path) {
		return nil, pathErr(op, l.path, ErrIsDir)
	}
	if err := l.nameErr(false); err != nil {
		return nil, pathErr(op, l.path, err)
	}
	want := acl.WriteNew
	fi, err := s.stat(ctx, l)
	switch {
	case err == nil && fi.dir:
		if !s.visible(l.path) {
			return nil, pathErr(op, l.path, ErrPermission)
		}
		return nil, pathErr(op, l.path, ErrIsDir)
	case err == nil:
		want = acl.Overwrite
	case !errors.Is(err, ErrNotExist):
		return nil, pathErr(op, l.path, err)
	}
	if err := s.check(op, l, want); err != nil {
		return nil, err
	}
	if err := s.statDir(ctx, s.parent(l)); err != nil {
		return nil, pathErr(op, l.path, err)
	}
	var replaced int64
	if fi != nil {
		replaced = fi.size
	}
	w := s.newWriter(ctx, l)
	if err := w.startQuota(ctx, replaced); err != nil {
		w.Abort()
		return nil, pathErr(op, l.path, err)
	}
	return w, nil
}

func (s *Session) newWriter(ctx context.Context, l loc) *Writer {
	wctx, cancel := context.WithCancel(ctx)
	w := &Writer{s: s, l: l, ctx: wctx, cancel: cancel}
	w.ow = s.vfs.newObjectWriter(wctx, l.be, l.key(), w.metadata)
	return w
}

// newObjectWriter returns the writer for key on be: native multipart on
// S3, native files on a local disk, gocloud's elsewhere. meta is called
// once, when the metadata must be fixed. Cancelling ctx and calling abort
// discards the upload.
func (v *VFS) newObjectWriter(ctx context.Context, be *Backend, key string, meta func() map[string]string) objectWriter {
	if be.s3 != nil {
		return be.s3.newWriter(ctx, key, be.opts, v.opts.Budget, meta)
	}
	if be.local != nil {
		if w := be.local.newWriter(ctx, key, meta); w != nil {
			return w
		}
	}
	return &blobWriter{ctx: ctx, bucket: be.bucket, key: key, meta: meta}
}

// metadata returns the object metadata to store, fixing it: a time set
// after this call is stored by Close with a second request.
func (w *Writer) metadata() map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.started = true
	if !w.mtimeOK || w.s.vfs.opts.IgnoreTimes {
		return nil
	}
	w.mtimeOK = false
	return map[string]string{mtimeKey: strconv.FormatInt(w.mtime.UnixNano(), 10)}
}

// Write streams p to the backend.
func (w *Writer) Write(p []byte) (int, error) {
	w.owMu.Lock()
	w.mu.Lock()
	done := w.done
	w.mu.Unlock()
	if done {
		w.owMu.Unlock()
		return 0, pathErr("write", w.l.path, errAborted)
	}
	if err := w.reserve(int64(len(p))); err != nil {
		w.owMu.Unlock()
		w.Abort()
		return 0, pathErr("write", w.l.path, err)
	}
	n, err := w.ow.Write(p)
	w.unreserve(int64(len(p) - n))
	w.owMu.Unlock()
	w.n += int64(n)
	if err != nil {
		w.Abort()
		return n, pathErr("write", w.l.path, classify(err))
	}
	return n, nil
}

// ReadFrom streams r to the backend until r ends, reading straight into
// the backend's buffers where it can (S3 parts; on a local disk a TCP
// connection is spliced to the file). A failure to read r is returned
// wrapping ErrSourceFailed and leaves the Writer as it was; a failure to
// store the data aborts the upload, as a failed Write does. Like Write, it
// holds the Writer: an Abort from another goroutine waits for it to return.
//
// Under a quota, an *io.LimitedReader whose N bytes all fit takes the same
// way, its N bytes reserved first; any other reader, or one that does not
// fit, is copied through Write, which refuses the first byte past the
// quota and no byte before it. A usage that cannot be counted aborts the
// upload, as in Write.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	rf, ok := w.ow.(io.ReaderFrom)
	if !ok {
		return w.copyFrom(r)
	}
	w.owMu.Lock()
	w.mu.Lock()
	done := w.done
	w.mu.Unlock()
	if done {
		w.owMu.Unlock()
		return 0, pathErr("write", w.l.path, errAborted)
	}
	var held int64
	if w.quota != nil {
		err := ErrQuotaExceeded // not length-limited: every byte through Write
		if lr, ok := r.(*io.LimitedReader); ok {
			held = max(lr.N, 0)
			err = w.reserve(held)
		}
		if err != nil {
			w.owMu.Unlock()
			if errors.Is(err, ErrQuotaExceeded) {
				return w.copyFrom(r) // Write refuses exactly the first byte past the quota
			}
			w.Abort() // the usage could not be counted
			return 0, pathErr("write", w.l.path, err)
		}
	}
	n, err := rf.ReadFrom(r)
	w.unreserve(held - n)
	w.owMu.Unlock()
	w.n += n
	return n, w.readFromError(err)
}

// copyFrom is ReadFrom for backends that only take Writes; Write has
// already classified a storage failure and aborted.
func (w *Writer) copyFrom(r io.Reader) (int64, error) {
	n, err := copyTo(w, r)
	if se, ok := err.(*sourceError); ok {
		return n, w.readFromError(se)
	}
	return n, err
}

func (w *Writer) readFromError(err error) error {
	if err == nil {
		return nil
	}
	var se *sourceError
	if errors.As(err, &se) {
		return fmt.Errorf("%w: %w", ErrSourceFailed, se.err)
	}
	w.Abort()
	return pathErr("write", w.l.path, classify(err))
}

// Size returns the number of bytes written so far.
func (w *Writer) Size() int64 { return w.n }

// Kept returns the size of the previous content an Append keeps: the
// offset at which the bytes written go.
func (w *Writer) Kept() int64 { return w.kept }

// SetModTime sets the modification time stored with the file (unless the
// VFS ignores times). SFTP clients set it before closing the file. A time
// the storage cannot hold (before 1970 or after 2262-04-11) is refused
// with an error wrapping ErrInvalidArgument, and the upload goes on
// without it.
func (w *Writer) SetModTime(t time.Time) error {
	if err := checkModTime(t); err != nil {
		return pathErr("setmodtime", w.l.path, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.mtime, w.mtimeOK = t, true
	return nil
}

// Close commits the upload. Only a nil error means the file was stored,
// and a stored file always gives a nil error: when a time set after the
// data began to be stored (on S3 once a multipart upload has started,
// through gocloud once the first byte is written) then fails to be
// stored, the failure is logged, and the file keeps the backend's time.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return pathErr("close", w.l.path, errAborted)
	}
	w.done = true
	w.mu.Unlock()
	defer w.cancel()
	w.owMu.Lock()
	defer w.owMu.Unlock()
	defer w.endQuota(false)
	if err := w.ctx.Err(); err != nil {
		w.ow.abort()
		return pathErr("close", w.l.path, err)
	}
	if err := w.ow.commit(); err != nil {
		return pathErr("close", w.l.path, classify(err))
	}
	w.endQuota(true)
	w.mu.Lock()
	late, t := w.mtimeOK && !w.s.vfs.opts.IgnoreTimes, w.mtime
	w.mu.Unlock()
	if late {
		w.setLateModTime(t)
	}
	return nil
}

// setLateModTime stores the time set after the metadata was fixed, once
// the file is stored. The file is stored whatever happens here, so a
// failure is logged, not returned.
func (w *Writer) setLateModTime(t time.Time) {
	var err error
	if h := w.l.be.opts.hooks; h != nil && h.lateModTime != nil {
		err = h.lateModTime()
	}
	if err == nil {
		err = w.s.setModTime(w.ctx, w.l, t)
	}
	if err != nil {
		w.s.log.Warn("file stored, but not its modification time", "path", w.l.path,
			"backend", w.l.be.name, "key", w.l.key(), "mtime", t.UTC(), "err", err)
	}
}

// Abort discards the upload; the previous version of the file, if any,
// stays. It is safe to call more than once and after Close.
func (w *Writer) Abort() {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return
	}
	w.done = true
	w.mu.Unlock()
	w.cancel() // unblocks a Write in progress
	w.owMu.Lock()
	defer w.owMu.Unlock()
	w.endQuota(false)
	w.ow.abort()
}

// blobWriter is the portable writer: gocloud's blob.Writer, opened at the
// first Write so that metadata set before then is stored with the object.
type blobWriter struct {
	ctx    context.Context
	bucket *blob.Bucket
	key    string
	meta   func() map[string]string
	w      *blob.Writer
}

func (bw *blobWriter) open() error {
	if bw.w != nil {
		return nil
	}
	w, err := bw.bucket.NewWriter(bw.ctx, bw.key, &blob.WriterOptions{
		Metadata:    bw.meta(),
		ContentType: "application/octet-stream",
	})
	if err != nil {
		return err
	}
	bw.w = w
	return nil
}

func (bw *blobWriter) Write(p []byte) (int, error) {
	if err := bw.open(); err != nil {
		return 0, err
	}
	return bw.w.Write(p)
}

func (bw *blobWriter) commit() error {
	if err := bw.open(); err != nil {
		return err
	}
	if err := bw.w.Close(); err != nil {
		return fmt.Errorf("commit %q: %w", bw.key, err)
	}
	return nil
}

// abort relies on the writer's context having been cancelled: gocloud then
// discards the object on Close.
func (bw *blobWriter) abort() {
	if bw.w != nil {
		_ = bw.w.Close()
	}
}
