package sftp

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/wharf-gw/wharf/storage"
)

// fileReader is one download. SFTP reads arrive from several workers,
// slightly out of order; they are served from a window of the file that
// one sequential ranged stream (storage.Reader) fills ahead of the
// reads. A read behind the window, or far ahead of it, reopens the stream
// at its offset: random access costs one request per jump, never one per
// packet.
type fileReader struct {
	sess    *session
	name    string
	ctx     context.Context // the handle's
	cancel  context.CancelFunc
	window  int64
	started time.Time

	mu      sync.Mutex
	r       *storage.Reader // positioned at end
	size    int64
	ring    []byte // the window: file offset o is at ring[o % len(ring)]
	start   int64  // the window holds the file's bytes [start, end)
	end     int64
	sent    int64
	reopens int
}

var (
	_ io.ReaderAt = (*fileReader)(nil)
	_ io.Closer   = (*fileReader)(nil)
)

// openReader opens name for download from its start.
func openReader(ctx context.Context, cancel context.CancelFunc, s *session, name string) (*fileReader, error) {
	r, err := s.st.Open(ctx, name, 0)
	if err != nil {
		return nil, err
	}
	fr := &fileReader{sess: s, name: name, ctx: ctx, cancel: cancel, window: s.srv.cfg.ReadWindow,
		started: time.Now(), r: r, size: r.Size()}
	s.startTransfer("download", name)
	return fr, nil
}

const (
	// readChunk is the least a refill asks of the stream (when the file
	// has that much left): fewer, larger reads.
	readChunk = 128 << 10
	// seekBack is how far before a seek's offset the new stream starts:
	// clients split a large read into concurrent requests that arrive in
	// any order.
	seekBack = 256 << 10
)

// ReadAt serves p from the window, moving it forward or reopening the
// stream as needed.
func (fr *fileReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, failure("negative offset")
	}
	fr.sess.inflight.Add(1)
	defer fr.sess.inflight.Add(-1)
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if off >= fr.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), fr.size)
	if off < fr.start || off > fr.end+fr.window {
		fr.sess.log.Debug("download seeks", "path", fr.name, "offset", off, "window_start", fr.start, "window_end", fr.end)
		if err := fr.reopen(max(0, off-seekBack)); err != nil {
			return 0, toStatus(err)
		}
	}
	for fr.end < end {
		if err := fr.fill(off, end); err != nil {
			return 0, toStatus(err)
		}
	}
	n := 0
	for o := off; o < end; {
		i := o % int64(len(fr.ring))
		k := copy(p[n:end-off], fr.ring[i:])
		n += k
		o += int64(k)
	}
	fr.sent += int64(n)
	fr.sess.rc.AddBytes(0, int64(n))
	fr.sess.bytesOut.Add(int64(n))
	if end >= fr.size {
		return n, io.EOF
	}
	return n, nil
}

// reopen restarts the stream at off with an empty window.
func (fr *fileReader) reopen(off int64) error {
	if fr.r != nil {
		fr.r.Close()
		fr.r = nil
	}
	r, err := fr.sess.st.Open(fr.ctx, fr.name, off)
	if err != nil {
		return err
	}
	fr.r = r
	fr.start, fr.end = off, off
	fr.reopens++
	if r.Size() != fr.size {
		return failure("the file changed during the download")
	}
	return nil
}

// fill reads more of the stream into the window, for a read of
// [off, reqEnd). It forgets the oldest bytes only as far as it needs
// room, so that reads arriving late are still served.
func (fr *fileReader) fill(off, reqEnd int64) error {
	if fr.ring == nil {
		fr.ring = make([]byte, min(fr.window, fr.size))
	}
	w := int64(len(fr.ring))
	want := min(max(reqEnd-fr.end, readChunk), fr.size-fr.end)
	if free := w - (fr.end - fr.start); free < want {
		fr.start += min(want-free, max(0, off-fr.start))
		want = min(want, w-(fr.end-fr.start))
	}
	i := fr.end % w
	want = min(want, w-i) // up to the end of the ring; the caller loops
	need := min(reqEnd-fr.end, want)
	if need <= 0 {
		return failure("read window too small")
	}
	n, err := io.ReadAtLeast(fr.r, fr.ring[i:i+want], int(need))
	fr.end += int64(n)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return failure("the file changed during the download")
	}
	return err
}

// Close ends the download.
func (fr *fileReader) Close() error {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if fr.r != nil {
		fr.r.Close()
		fr.r = nil
	}
	fr.cancel()
	fr.sess.endTransfer()
	fr.sess.audit("download", fr.name, nil, "bytes", fr.sent, "size", fr.size, "reopens", fr.reopens,
		"duration", time.Since(fr.started).Round(time.Millisecond))
	return nil
}
