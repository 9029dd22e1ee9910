package storage

import (
	"context"
	"errors"
	"io"
)

// chunkSize is the unit in which part buffers are allocated: a small file
// allocates one chunk, not a whole part.
const chunkSize = 1 << 20

// partBuf is an upload part. Before its first byte it reserves a whole
// part's size from the Budget, so a writer that holds a buffer never waits
// for more memory to finish its part: writers cannot starve each other
// into a deadlock. Memory itself is allocated a chunk at a time.
type partBuf struct {
	budget   *Budget
	chunks   chunkSource
	size     int64 // the part size reserved
	reserved bool
	bufs     []*[]byte
	n        int64
}

// chunkSource hands out chunk buffers and takes them back.
type chunkSource interface {
	getChunk() *[]byte
	putChunk(*[]byte)
}

// fill appends as much of p as fits in the part, reserving the part from
// the budget first (waiting while it is exhausted).
func (pb *partBuf) fill(ctx context.Context, p []byte) (int, error) {
	if !pb.reserved && len(p) > 0 {
		if err := pb.budget.acquire(ctx, pb.size); err != nil {
			return 0, err
		}
		pb.reserved = true
	}
	written := 0
	for len(p) > 0 && pb.n < pb.size {
		off := int(pb.n % chunkSize)
		if off == 0 && int(pb.n/chunkSize) == len(pb.bufs) {
			pb.bufs = append(pb.bufs, pb.chunks.getChunk())
		}
		c := *pb.bufs[len(pb.bufs)-1]
		k := copy(c[off:], p)
		p = p[k:]
		pb.n += int64(k)
		written += k
	}
	return written, nil
}

// readFrom reads r into the part until the part is full (nil error), r
// ends (io.EOF) or r fails (a *sourceError). The part is reserved from the
// budget before the first read.
func (pb *partBuf) readFrom(ctx context.Context, r io.Reader) (int64, error) {
	if !pb.reserved {
		if err := pb.budget.acquire(ctx, pb.size); err != nil {
			return 0, err
		}
		pb.reserved = true
	}
	var total int64
	for pb.n < pb.size {
		off := int(pb.n % chunkSize)
		if off == 0 && int(pb.n/chunkSize) == len(pb.bufs) {
			pb.bufs = append(pb.bufs, pb.chunks.getChunk())
		}
		c := *pb.bufs[len(pb.bufs)-1]
		k, err := r.Read(c[off:min(int64(len(c)), int64(off)+pb.size-pb.n)])
		pb.n += int64(k)
		total += int64(k)
		switch {
		case err == io.EOF:
			return total, io.EOF
		case err != nil:
			return total, &sourceError{err}
		}
	}
	return total, nil
}

// full reports whether the part holds its whole size.
func (pb *partBuf) full() bool { return pb.n == pb.size }

// reader returns a seekable reader over the buffered bytes; the SDK seeks
// to retry and to sign.
func (pb *partBuf) reader() io.ReadSeeker { return &partReader{pb: pb} }

// free returns the chunks and the reservation to the budget.
func (pb *partBuf) free() {
	for _, c := range pb.bufs {
		pb.chunks.putChunk(c)
	}
	if pb.reserved {
		pb.budget.release(pb.size)
	}
	pb.bufs, pb.n, pb.reserved = nil, 0, false
}

type partReader struct {
	pb  *partBuf
	off int64
}

func (r *partReader) Read(p []byte) (int, error) {
	if r.off >= r.pb.n {
		return 0, io.EOF
	}
	c := *r.pb.bufs[r.off/chunkSize]
	start := r.off % chunkSize
	end := min(int64(chunkSize), start+(r.pb.n-r.off))
	k := copy(p, c[start:end])
	r.off += int64(k)
	return k, nil
}

// WriteTo writes the rest of the part a chunk at a time: one write per
// MiB to the connection instead of a copy through a 32 KiB buffer.
func (r *partReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for r.off < r.pb.n {
		c := *r.pb.bufs[r.off/chunkSize]
		start := r.off % chunkSize
		end := min(int64(chunkSize), start+(r.pb.n-r.off))
		k, err := w.Write(c[start:end])
		r.off += int64(k)
		total += int64(k)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (r *partReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.pb.n
	default:
		return 0, errors.New("partReader: bad whence")
	}
	if offset < 0 {
		return 0, errors.New("partReader: negative position")
	}
	r.off = offset
	return offset, nil
}
