package storage

import (
	"context"
	"errors"
	"io"
	"time"

	"gocloud.dev/blob"

	"github.com/wharf-gw/wharf/storage/acl"
)

// Reader streams a file from an offset with one ranged request. It is not
// safe for concurrent use.
type Reader struct {
	r       *blob.Reader // nil when the offset is at or past the end
	size    int64
	modTime time.Time
}

// Open returns a Reader of the file name starting at offset. It needs
// Read. The read is bound to ctx.
func (s *Session) Open(ctx context.Context, name string, offset int64) (*Reader, error) {
	const op = "open"
	l, err := s.resolve(op, name)
	if err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, pathErr(op, l.path, errors.New("negative offset"))
	}
	if err := s.check(op, l, acl.Read); err != nil {
		return nil, err
	}
	if l.rel == "" || s.policy.IsMountAncestor(l.path) {
		return nil, pathErr(op, l.path, ErrIsDir)
	}
	if l.nameErr(false) != nil {
		return nil, pathErr(op, l.path, ErrNotExist) // no file can be there
	}
	b := l.bucket()
	if offset > 0 {
		// A range past the end is an error on S3: answer an empty read.
		attrs, err := b.Attributes(ctx, l.key())
		if err != nil {
			return nil, s.openErr(ctx, l, err)
		}
		if offset >= attrs.Size {
			return &Reader{size: attrs.Size, modTime: modTime(attrs)}, nil
		}
	}
	r, err := b.NewRangeReader(ctx, l.key(), offset, -1, nil)
	if err != nil {
		return nil, s.openErr(ctx, l, err)
	}
	return &Reader{r: r, size: r.Size(), modTime: r.ModTime()}, nil
}

// openErr explains a failed open: a missing object may be a directory.
func (s *Session) openErr(ctx context.Context, l loc, err error) error {
	if isNotFound(err) {
		if fi, serr := s.stat(ctx, l); serr == nil && fi.dir {
			return pathErr("open", l.path, ErrIsDir)
		}
	}
	return pathErr("open", l.path, classify(err))
}

// Read reads the next bytes of the file.
func (r *Reader) Read(p []byte) (int, error) {
	if r.r == nil {
		return 0, io.EOF
	}
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = classify(err)
	}
	return n, err
}

// WriteTo streams the rest of the file to w in large writes. Errors from
// w are returned as they are; errors from the backend are classified. (It
// does not hand itself to w's ReadFrom: io.Discard and others would read
// it 8 KiB at a time.)
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, 256<<10)
	var n int64
	for {
		k, err := r.Read(buf)
		if k > 0 {
			m, werr := w.Write(buf[:k])
			n += int64(m)
			if werr != nil {
				return n, werr
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// Size returns the size of the whole file.
func (r *Reader) Size() int64 { return r.size }

// ModTime returns the backend's modification time of the file.
func (r *Reader) ModTime() time.Time { return r.modTime }

// Close releases the request.
func (r *Reader) Close() error {
	if r.r == nil {
		return nil
	}
	return r.r.Close()
}
