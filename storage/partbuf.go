package storage

import (
	"context"
	"errors"
	"io"
)

// chunkSize is the unit in which upload buffers are taken from the Budget:
// a small file holds one chunk, not a whole part.
const chunkSize = 1 << 20

// partBuf is an upload part held in budget-accounted chunks.
type partBuf struct {
	budget *Budget
	chunks []*[]byte
	n      int64
}

// fill appends as much of p as fits below limit bytes, taking chunks from
// the budget as needed (waiting while it is exhausted).
func (pb *partBuf) fill(ctx context.Context, p []byte, limit int64) (int, error) {
	written := 0
	for len(p) > 0 && pb.n < limit {
		off := int(pb.n % chunkSize)
		if off == 0 && int(pb.n/chunkSize) == len(pb.chunks) {
			c, err := pb.budget.getChunk(ctx)
			if err != nil {
				return written, err
			}
			pb.chunks = append(pb.chunks, c)
		}
		c := *pb.chunks[len(pb.chunks)-1]
		room := min(int64(chunkSize-off), limit-pb.n)
		k := copy(c[off:int64(off)+room], p)
		p = p[k:]
		pb.n += int64(k)
		written += k
	}
	return written, nil
}

// reader returns a seekable reader over the buffered bytes; the SDK seeks
// to retry and to sign.
func (pb *partBuf) reader() io.ReadSeeker { return &partReader{pb: pb} }

// free returns every chunk to the budget.
func (pb *partBuf) free() {
	for _, c := range pb.chunks {
		pb.budget.putChunk(c)
	}
	pb.chunks, pb.n = nil, 0
}

type partReader struct {
	pb  *partBuf
	off int64
}

func (r *partReader) Read(p []byte) (int, error) {
	if r.off >= r.pb.n {
		return 0, io.EOF
	}
	c := *r.pb.chunks[r.off/chunkSize]
	start := r.off % chunkSize
	end := min(int64(chunkSize), start+(r.pb.n-r.off))
	k := copy(p, c[start:end])
	r.off += int64(k)
	return k, nil
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
