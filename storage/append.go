package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/wharf-gw/wharf/storage/acl"
)

// Append opens name to be extended: the new version holds the file's
// present content followed by what is written to the Writer, and, as with
// Create, it replaces the file only when Close succeeds, so an append that
// fails or is aborted leaves the file as it was. Where the backend can,
// the present content is copied inside it (S3, from MinPartSize up:
// UploadPartCopy; a local disk: a copy the kernel makes); otherwise it is
// streamed through this process. The caller does not need Read: it needs
// Append on an existing file, and WriteNew to create a missing one.
// Writer.Kept is the size of the content kept. If another client replaces
// the file while it is being copied, Append, a later Write or Close fails
// with ErrChanged (on S3 the copy runs while the new bytes arrive).
func (s *Session) Append(ctx context.Context, name string) (*Writer, error) {
	const op = "append"
	l, err := s.resolve(op, name)
	if err != nil {
		return nil, err
	}
	if l.rel == "" || s.policy.IsMountAncestor(l.path) {
		return nil, pathErr(op, l.path, ErrIsDir)
	}
	if err := l.nameErr(false); err != nil {
		return nil, pathErr(op, l.path, err) // no file can be there, nor be created
	}
	attrs, err := l.bucket().Attributes(ctx, l.key())
	switch {
	case err == nil:
	case !isNotFound(err):
		return nil, pathErr(op, l.path, classify(err))
	default: // a directory, or nothing: then the file is created
		if _, err := s.stat(ctx, l); errors.Is(err, ErrNotExist) {
			return s.Create(ctx, name)
		} else if err != nil {
			return nil, pathErr(op, l.path, err)
		}
		if !s.visible(l.path) {
			return nil, pathErr(op, l.path, ErrPermission)
		}
		return nil, pathErr(op, l.path, ErrIsDir)
	}
	if err := s.check(op, l, acl.Append); err != nil {
		return nil, err
	}
	w := s.newWriter(ctx, l)
	if err := w.startQuota(ctx, 0); err != nil { // the kept bytes stay: only new ones count
		w.Abort()
		return nil, pathErr(op, l.path, err)
	}
	if err := w.keep(attrs.Size, attrs.ETag); err != nil {
		w.Abort()
		return nil, pathErr(op, l.path, err)
	}
	return w, nil
}

// keeper is an objectWriter that can start its object with the present
// content of its key without reading it, on the condition that the object
// is still of that size and ETag: it returns false when it cannot for
// this object, and nothing was done.
type keeper interface {
	keep(size int64, etag string) (bool, error)
}

// keep starts the new version with the size bytes of the present one,
// whose ETag is etag.
func (w *Writer) keep(size int64, etag string) error {
	if size == 0 {
		return nil
	}
	w.owMu.Lock()
	defer w.owMu.Unlock()
	key := w.l.key()
	if k, ok := w.ow.(keeper); ok {
		done, err := k.keep(size, etag)
		if err != nil {
			return classify(err)
		}
		if done {
			w.kept = size
			return nil
		}
	}
	r, err := w.l.bucket().NewReader(w.ctx, key, nil)
	if err != nil {
		return classify(err)
	}
	defer r.Close()
	if r.Size() != size {
		return ErrChanged
	}
	n, err := copyTo(w.ow, r)
	var se *sourceError
	switch {
	case errors.As(err, &se):
		return classify(se.err)
	case err != nil:
		return classify(err)
	case n != size:
		return fmt.Errorf("%w: %d bytes read, %d expected", ErrChanged, n, size)
	}
	w.kept = size
	return nil
}
