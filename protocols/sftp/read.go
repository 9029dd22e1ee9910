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
// slightly out of order; they are served from a window of the file (a
// ring buffer) that a fetcher goroutine fills from one sequential ranged
// stream (storage.Reader), a little ahead of the furthest read, while the
// reads are answered: the stream and the client's reads overlap.
//
// A read that arrives after the window moved past its bytes (a straggler:
// the client keeps about 2 MiB of reads in flight, and one may be answered
// late) is served by a ranged request of its own, leaving the stream
// alone. A read further behind, or far ahead, reopens the stream at its
// offset: random access costs one request per jump, never one per packet.
type fileReader struct {
	sess    *session
	name    string
	ctx     context.Context // the handle's
	cancel  context.CancelFunc
	window  int64
	size    int64
	started time.Time

	mu       sync.Mutex
	cond     *sync.Cond      // readers wait on it: the window moved, or closed
	wake     *sync.Cond      // the fetcher waits on it: want passed end, or closed
	r        *storage.Reader // the stream, positioned at end
	ring     []byte          // the window: file offset o is at ring[o % len(ring)]
	start    int64           // the window holds the file's bytes [start, end)
	end      int64
	want     int64         // the fetcher fills the window up to here
	fetching bool          // the fetcher reads into the ring past end, without the lock
	done     chan struct{} // closed when the fetcher returns (started with ring)
	err      error         // the stream failed; a reopen clears it
	closed   bool
	sent     int64
	reopens  int
	behind   int   // stragglers served by a request of their own
	held     int64 // the ring's bytes, taken from the server's window budget
	direct   bool  // the budget was spent: every read is a ranged read of its own
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
		started: time.Now(), r: r, size: r.Size(), done: make(chan struct{})}
	fr.cond = sync.NewCond(&fr.mu)
	fr.wake = sync.NewCond(&fr.mu)
	s.startTransfer("download", name)
	return fr, nil
}

const (
	// readChunk is what the fetcher reads from the stream at once (when
	// the file has that much left).
	readChunk = 128 << 10
	// readAhead is how far past the furthest read the fetcher fills the
	// window; the rest of the window keeps the bytes behind it for reads
	// that arrive late.
	readAhead = 256 << 10
	// seekBack is how far before a seek's offset the new stream starts:
	// clients split a large read into concurrent requests that arrive in
	// any order. It also bounds how far behind the window a read is
	// served as a straggler rather than by a reopen.
	seekBack = 256 << 10
)

var (
	errClosed  = failure("the file is closed")
	errChanged = failure("the file changed during the download")
)

// readFull fills p from r; a stream that ends early means the file changed.
func readFull(r io.Reader, p []byte) (int, error) {
	n, err := io.ReadFull(r, p)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = errChanged
	}
	return n, err
}

// ReadAt serves p from the window, waiting for the fetcher, serving a
// straggler, or reopening the stream as needed.
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
	for {
		switch {
		case fr.closed:
			return 0, errClosed
		case fr.direct || off < fr.start && fr.start-off <= seekBack:
			return fr.readBehind(p[:end-off], off)
		case off < fr.start || off > fr.end+fr.window:
			if fr.fetching { // the fetcher owns the stream until its read returns
				fr.cond.Wait()
				continue
			}
			fr.sess.log.Debug("download seeks", "path", fr.name, "offset", off, "window_start", fr.start, "window_end", fr.end)
			if err := fr.reopen(max(0, off-seekBack)); err != nil {
				return 0, toStatus(err)
			}
			continue
		case fr.end >= end:
			fr.wantUpTo(end + readAhead)
			return fr.copyOut(p[:end-off], off), fr.eof(end)
		case fr.err != nil:
			return 0, toStatus(fr.err)
		}
		if fr.wantUpTo(end + readAhead); !fr.direct {
			fr.cond.Wait()
		}
	}
}

// wantUpTo asks the fetcher to fill the window up to offset o, starting
// it with the first read: every read served from the window keeps it
// readAhead ahead, so that reads in order find their bytes there. (Not
// before a reopen: the fetcher would read towards the new offset.) When
// the server's window budget cannot give the first read its window, the
// download goes on without one (direct).
func (fr *fileReader) wantUpTo(o int64) {
	if fr.ring == nil {
		n := min(fr.window, fr.size)
		if !fr.sess.srv.windows.TryAcquire(n) {
			fr.sess.log.Debug("download without a window: the window budget is spent", "path", fr.name)
			fr.direct = true
			if fr.r != nil {
				fr.r.Close()
				fr.r = nil
			}
			return
		}
		fr.held = n
		fr.ring = make([]byte, n)
		go fr.fetch()
	}
	if o = min(o, fr.size); o > fr.want {
		fr.want = o
		if o > fr.end && !fr.fetching {
			fr.wake.Signal()
		}
	}
}

func (fr *fileReader) eof(end int64) error {
	if end >= fr.size {
		return io.EOF
	}
	return nil
}

// copyOut copies the window's bytes at off into p and counts them.
func (fr *fileReader) copyOut(p []byte, off int64) int {
	for n := 0; n < len(p); {
		i := (off + int64(n)) % int64(len(fr.ring))
		n += copy(p[n:], fr.ring[i:])
	}
	fr.count(len(p))
	return len(p)
}

func (fr *fileReader) count(n int) {
	fr.sent += int64(n)
	fr.sess.rc.AddBytes(0, int64(n))
	fr.sess.bytesOut.Add(int64(n))
}

// readBehind serves a straggler with a ranged request of its own, without
// the lock: the stream and the window go on meanwhile.
func (fr *fileReader) readBehind(p []byte, off int64) (int, error) {
	fr.mu.Unlock()
	n, err := fr.readRange(p, off)
	fr.mu.Lock()
	if err != nil {
		return 0, toStatus(err)
	}
	fr.behind++
	fr.count(n)
	return n, fr.eof(off + int64(n))
}

func (fr *fileReader) readRange(p []byte, off int64) (int, error) {
	r, err := fr.sess.st.Open(fr.ctx, fr.name, off)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	if r.Size() != fr.size {
		return 0, errChanged
	}
	return readFull(r, p)
}

// reopen restarts the stream at off with an empty window. The fetcher is
// not reading (the caller checked).
func (fr *fileReader) reopen(off int64) error {
	if fr.r != nil {
		fr.r.Close()
		fr.r = nil
	}
	fr.start, fr.end, fr.want, fr.err = off, off, off, nil
	fr.reopens++
	r, err := fr.sess.st.Open(fr.ctx, fr.name, off)
	if err != nil {
		fr.err = err
		return err
	}
	fr.r = r
	if r.Size() != fr.size {
		fr.err = errChanged
		return fr.err
	}
	return nil
}

// fetch fills the window from the stream up to want, reading without the
// lock into the part of the ring past end: readers copy only [start, end),
// and start moves past what the read overwrites before it begins.
func (fr *fileReader) fetch() {
	defer close(fr.done)
	fr.mu.Lock()
	defer fr.mu.Unlock()
	for {
		for !fr.closed && (fr.r == nil || fr.err != nil || fr.end >= fr.want) {
			fr.wake.Wait()
		}
		if fr.closed {
			return
		}
		w := int64(len(fr.ring))
		i := fr.end % w
		n := min(readChunk, fr.size-fr.end, w-i)
		if over := fr.end + n - fr.start - w; over > 0 {
			fr.start += over // forget the oldest bytes
		}
		r := fr.r
		fr.fetching = true
		fr.mu.Unlock()
		k, err := readFull(r, fr.ring[i:i+n])
		fr.mu.Lock()
		fr.fetching = false
		fr.end += int64(k)
		if err != nil {
			fr.err = err
		}
		fr.cond.Broadcast()
	}
}

// Close ends the download.
func (fr *fileReader) Close() error {
	fr.mu.Lock()
	if fr.closed {
		fr.mu.Unlock()
		return nil
	}
	fr.closed = true
	running := fr.ring != nil
	fr.cond.Broadcast()
	fr.wake.Signal()
	fr.mu.Unlock()
	fr.cancel() // ends a read of the fetcher's
	if running {
		<-fr.done
	}
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if fr.r != nil {
		fr.r.Close()
		fr.r = nil
	}
	fr.ring = nil
	fr.sess.srv.windows.Release(fr.held)
	fr.sess.endTransfer()
	fr.sess.audit("download", fr.name, nil, "bytes", fr.sent, "size", fr.size, "reopens", fr.reopens,
		"behind", fr.behind, "direct", fr.direct, "duration", time.Since(fr.started).Round(time.Millisecond))
	return nil
}
