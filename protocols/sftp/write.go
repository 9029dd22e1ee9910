package sftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/pkg/sftp"

	"github.com/wharf-gw/wharf/storage"
)

// fileWriter is one upload: SFTP writes, which pkg/sftp delivers from
// several workers and out of order, streamed in offset order into one
// storage.Writer.
//
// Bytes at the next offset to stream go straight to the storage writer.
// Bytes that arrive ahead of it wait in memory when they lie within the
// write window, and in a temporary spill file (up to a limit) when they
// lie further ahead while nothing can be streamed; while the stream is
// making progress, writes further ahead wait for it instead (backpressure).
// Rewriting bytes that were already streamed fails the upload with a
// clear error, as does exceeding the spill limit or leaving a gap: the
// upload is never silently corrupted, and a failed upload is aborted, so
// the previous version of the file stays.
//
// An open without truncation over an existing file keeps its content where
// the client writes nothing (copy-through). With the append flag (OpenSSH's
// reput sets it) the storage keeps the existing bytes inside the backend
// (storage.Session.Append: a server-side copy) and the writes continue at
// their end. Without it, when the first write starts exactly at the end of
// the existing file (a resumed upload, such as psftp's reput), the
// upload becomes such an append too, or, where the user may not append,
// the existing bytes are streamed into the new object first; otherwise
// the gaps are filled from the existing file when the upload is closed.
type fileWriter struct {
	sess     *session
	op       string // "upload", or "append" when the storage keeps the existing bytes
	name     string
	ctx      context.Context // the handle's: ends at close or when the connection ends
	cancel   context.CancelFunc
	w        *storage.Writer
	window   int64 // the reorder window, taken from the server's window budget at the first write that needs it
	held     bool  // the window is taken
	maxSpill int64
	spillDir string
	started  time.Time

	mu       sync.Mutex
	cond     *sync.Cond // signals progress of the stream
	next     int64      // the next offset to stream; bytes below were streamed or are being streamed
	pending  []*segment // data ahead of next: sorted, non-overlapping
	draining bool       // a goroutine streams pending data
	closing  bool       // Close runs: gaps are filled from base now
	closed   bool
	err      error // the upload failed: the status every later call returns
	high     int64 // the file's size so far
	received int64 // bytes received from the client
	mtime    time.Time
	mtimeSet bool

	spill      *os.File // the spill file, nil until needed; data at its file offsets
	spilled    int64    // bytes of pending data in the spill file
	spillTotal int64    // bytes ever spilled, for the log
	copyBuf    []byte

	base  *baseFile // the existing file, when opened without truncation
	eager bool      // stream base now (append or resume), rather than at close
	// shift is added to every offset of an upload opened with the append
	// flag whose first write came at offset 0: as the SFTP draft and
	// OpenSSH's server have it, the flag puts the writes at the end of
	// the file, whatever offsets the client sends (pkg/sftp's client sends
	// 0-based ones; OpenSSH's reput sends offsets from the end itself).
	shift int64
	// appendFlag: the file was opened with the append flag.
	appendFlag bool
}

// segment is pending data: in memory (data) or in the spill file.
type segment struct {
	off  int64
	n    int64
	data []byte  // nil: in the spill file
	buf  *[]byte // data's buffer, from segBufs; nil when data is not owned
}

// segBufs holds the buffers of pending writes of OpenSSH's size, so that a
// steady out-of-order stream reuses a window's worth of them rather than
// allocating every write anew.
var segBufs = sync.Pool{New: func() any { b := make([]byte, segBufSize); return &b }}

const segBufSize = 32 << 10

// newSegment copies p, which pkg/sftp may reuse, into a pending segment.
func newSegment(off int64, p []byte) *segment {
	if len(p) > segBufSize {
		return &segment{off: off, n: int64(len(p)), data: slices.Clone(p)}
	}
	bp := segBufs.Get().(*[]byte)
	return &segment{off: off, n: int64(len(p)), data: append((*bp)[:0], p...), buf: bp}
}

// recycle gives a streamed segment's buffer back.
func (s *segment) recycle() {
	if s.buf != nil {
		segBufs.Put(s.buf)
		s.buf, s.data = nil, nil
	}
}

func (s *segment) end() int64 { return s.off + s.n }

// baseFile is the existing file an upload without truncation keeps.
type baseFile struct {
	size int64
	r    *storage.Reader // nil until needed; positioned at pos
	pos  int64
}

var (
	_ io.WriterAt        = (*fileWriter)(nil)
	_ io.Closer          = (*fileWriter)(nil)
	_ sftp.TransferError = (*fileWriter)(nil)
)

// openWriter opens the upload of name as the open flags ask.
func openWriter(ctx context.Context, cancel context.CancelFunc, s *session, name string, flags sftp.FileOpenFlags) (*fileWriter, error) {
	var base *baseFile
	if !flags.Trunc || !flags.Creat || flags.Excl {
		fi, err := s.st.Stat(ctx, name)
		switch {
		case err == nil && fi.IsDir():
			return nil, storage.ErrIsDir
		case err == nil && flags.Creat && flags.Excl:
			return nil, storage.ErrExist
		case err == nil && !flags.Trunc && fi.Size() > 0:
			base = &baseFile{size: fi.Size()}
		case errors.Is(err, storage.ErrNotExist) && !flags.Creat:
			return nil, err
		case err != nil && !errors.Is(err, storage.ErrNotExist):
			return nil, err
		}
	}
	var w *storage.Writer
	var err error
	op := "upload"
	switch {
	case base != nil && flags.Append:
		// The storage keeps the existing bytes inside the backend
		// (server-side copy): the upload continues at their end, and the
		// user needs the append permission, not read.
		w, err = s.st.Append(ctx, name)
		if err != nil {
			return nil, err
		}
		base.size, op = w.Kept(), "append"
	case base != nil:
		// Keeping the existing bytes where the client writes nothing means
		// reading them: check now that the user may, before anything
		// changes.
		r, err := s.st.Open(ctx, name, 0)
		if err != nil {
			if errors.Is(err, storage.ErrPermission) {
				return nil, &statusError{sftp.ErrSSHFxPermissionDenied,
					"rewriting part of an existing file needs read permission on it: upload the whole file instead"}
			}
			return nil, err
		}
		base.r = r
		fallthrough
	default:
		if w, err = s.st.Create(ctx, name); err != nil {
			if base != nil {
				base.r.Close()
			}
			return nil, err
		}
	}
	cfg := s.srv.cfg
	fw := &fileWriter{
		sess: s, op: op, name: name, ctx: ctx, cancel: cancel, w: w,
		window: cfg.WriteWindow, maxSpill: cfg.MaxSpill, spillDir: cfg.SpillDir,
		started: time.Now(), base: base,
	}
	fw.cond = sync.NewCond(&fw.mu)
	if base != nil {
		fw.high = base.size
		fw.eager, fw.appendFlag = flags.Append, flags.Append
		fw.next = w.Kept() // the bytes the storage kept are in the new version already
	}
	s.addWriter(name, fw)
	s.startTransfer(op, name)
	return fw, nil
}

// WriteAt accepts the client's bytes at off. It never keeps p.
func (fw *fileWriter) WriteAt(p []byte, off int64) (int, error) {
	n := int64(len(p))
	if off < 0 {
		return 0, failure("negative offset")
	}
	if n == 0 {
		return 0, nil
	}
	end := off + n
	fw.sess.inflight.Add(1)
	defer fw.sess.inflight.Add(-1)
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.err == nil && fw.base != nil && fw.received == 0 && !fw.eager && off == fw.base.size {
		fw.eager = true // a resumed upload: it continues at the end of the existing file
		fw.appendLocked()
	}
	if fw.err == nil && fw.appendFlag && fw.received == 0 && fw.shift == 0 && off == 0 && fw.base != nil {
		fw.shift = fw.base.size // the first write, at 0: offsets count from the end
	}
	off, end = off+fw.shift, end+fw.shift
	for {
		switch {
		case fw.err != nil:
			return 0, fw.err
		case fw.closed:
			return 0, errBadHandle
		case fw.eager && off < fw.base.size:
			fw.failLocked(failure(fmt.Sprintf(
				"append or resume: data at offset %d lies inside the existing file (%d bytes); writes must continue at its end",
				off, fw.base.size)), nil)
			return 0, fw.err
		case off < fw.next:
			fw.failLocked(failure(fmt.Sprintf(
				"rewriting data already uploaded (offset %d, uploaded up to %d) is not supported: the upload is cancelled", off, fw.next)), nil)
			return 0, fw.err
		}
		if !fw.draining && fw.eager && fw.next < fw.base.size {
			// Copy the existing bytes first: what follows them then
			// streams without waiting on disk.
			fw.draining = true
			fw.drainLocked()
			continue
		}
		if !fw.draining && off == fw.next && (len(fw.pending) == 0 || fw.pending[0].off >= end) {
			// In order: stream p itself, then whatever it made contiguous.
			fw.accept(off, end)
			fw.next = end
			fw.draining = true
			fw.mu.Unlock()
			_, err := fw.w.Write(p)
			fw.mu.Lock()
			if err != nil {
				fw.failLocked(toStatus(err), err)
			}
			fw.drainLocked()
			if err != nil {
				return 0, fw.err
			}
			return int(n), nil
		}
		inWindow := end <= fw.next+fw.window
		if inWindow && fw.holdWindowLocked() {
			fw.insertLocked(newSegment(off, p))
			break
		}
		if !inWindow && fw.draining {
			fw.cond.Wait() // the stream progresses: wait for room in the window
			continue
		}
		// Far ahead of a gap, or no memory to reorder it in: keep it on
		// disk until the gap is filled.
		if err := fw.spillLocked(p, off, inWindow); err != nil {
			fw.failLocked(err, nil)
			return 0, fw.err
		}
		break
	}
	fw.accept(off, end)
	if !fw.draining && fw.drainableLocked() {
		fw.draining = true
		fw.drainLocked()
	}
	return int(n), nil
}

// accept counts n client bytes at [off, end).
func (fw *fileWriter) accept(off, end int64) {
	fw.received += end - off
	fw.high = max(fw.high, end)
	fw.sess.rc.AddBytes(end-off, 0)
	fw.sess.bytesIn.Add(end - off)
}

// drainableLocked reports whether the stream can progress now.
func (fw *fileWriter) drainableLocked() bool {
	if len(fw.pending) > 0 && fw.pending[0].off == fw.next {
		return true
	}
	return fw.base != nil && (fw.eager || fw.closing) && fw.next < fw.base.size
}

// drainLocked streams what is contiguous at next: pending segments and,
// when it is time, the existing file's bytes. The caller has set
// draining; it is cleared on return. The lock is released during I/O.
func (fw *fileWriter) drainLocked() {
	defer func() {
		fw.draining = false
		fw.cond.Broadcast()
	}()
	for fw.err == nil {
		var err error
		switch {
		case len(fw.pending) > 0 && fw.pending[0].off == fw.next:
			seg := fw.pending[0]
			fw.pending = fw.pending[1:]
			fw.next = seg.end()
			onDisk := seg.data == nil
			fw.mu.Unlock()
			err = fw.stream(seg)
			seg.recycle()
			fw.mu.Lock()
			if onDisk {
				fw.spilled -= seg.n
				if fw.spilled == 0 && err == nil {
					// Nothing is left on disk: give the space back.
					err = fw.spill.Truncate(0)
				}
			}
		case fw.base != nil && (fw.eager || fw.closing) && fw.next < fw.base.size:
			from, to := fw.next, fw.base.size
			if len(fw.pending) > 0 {
				to = min(to, fw.pending[0].off)
			}
			fw.next = to
			fw.mu.Unlock()
			err = fw.copyBase(from, to)
			fw.mu.Lock()
		default:
			return
		}
		fw.cond.Broadcast()
		if err != nil {
			fw.failLocked(toStatus(err), err)
		}
	}
}

// stream writes a pending segment to the storage writer.
func (fw *fileWriter) stream(seg *segment) error {
	if seg.data != nil {
		_, err := fw.w.Write(seg.data)
		return err
	}
	if fw.copyBuf == nil {
		fw.copyBuf = make([]byte, 256<<10)
	}
	_, err := io.CopyBuffer(fw.w, io.NewSectionReader(fw.spill, seg.off, seg.n), fw.copyBuf)
	return err
}

// copyBase streams the existing file's bytes [from, to).
func (fw *fileWriter) copyBase(from, to int64) error {
	b := fw.base
	if b.r == nil || from < b.pos || from-b.pos > 1<<20 {
		if b.r != nil {
			b.r.Close()
			b.r = nil
		}
		r, err := fw.sess.st.Open(fw.ctx, fw.name, from)
		if err != nil {
			return err
		}
		b.r, b.pos = r, from
		if r.Size() != b.size {
			return failure("the existing file changed during the upload: the upload is cancelled")
		}
	}
	if fw.copyBuf == nil {
		fw.copyBuf = make([]byte, 256<<10)
	}
	if from > b.pos {
		if _, err := io.CopyBuffer(io.Discard, io.LimitReader(b.r, from-b.pos), fw.copyBuf); err != nil {
			return err
		}
		b.pos = from
	}
	n, err := io.CopyBuffer(fw.w, io.LimitReader(b.r, to-from), fw.copyBuf)
	b.pos += n
	if err == nil && n < to-from {
		return failure("the existing file changed during the upload: the upload is cancelled")
	}
	return err
}

// insertLocked adds a pending segment; it replaces what it overlaps
// (the last write of a byte wins).
func (fw *fileWriter) insertLocked(ns *segment) {
	p := fw.pending
	end := ns.end()
	i := sort.Search(len(p), func(i int) bool { return p[i].end() > ns.off })
	j := i
	var repl []*segment
	var right *segment
	for ; j < len(p) && p[j].off < end; j++ {
		seg := p[j]
		if seg.data == nil {
			fw.spilled -= seg.n
		}
		if seg.off < ns.off {
			repl = append(repl, fw.cut(seg, seg.off, ns.off))
		}
		if seg.end() > end {
			right = fw.cut(seg, end, seg.end())
		}
	}
	repl = append(repl, ns)
	if right != nil {
		repl = append(repl, right)
	}
	for _, seg := range repl {
		if seg.data == nil {
			fw.spilled += seg.n
		}
	}
	fw.pending = slices.Replace(p, i, j, repl...)
}

// cut returns the part [a, b) of seg. The part shares seg's data but does
// not own it: seg's buffer goes to the garbage collector, never back to
// the pool.
func (fw *fileWriter) cut(seg *segment, a, b int64) *segment {
	c := &segment{off: a, n: b - a}
	if seg.data != nil {
		c.data = seg.data[a-seg.off : b-seg.off]
	}
	return c
}

// holdWindowLocked takes the reorder window from the server's window
// budget unless the upload holds it already; false when the budget is
// spent.
func (fw *fileWriter) holdWindowLocked() bool {
	if !fw.held && fw.sess.srv.windows.TryAcquire(fw.window) {
		fw.held = true
	}
	return fw.held
}

// spillLocked keeps p, at off, in the spill file. noMemory says why: the
// write is within the reorder window, but the window budget is spent.
func (fw *fileWriter) spillLocked(p []byte, off int64, noMemory bool) error {
	n := int64(len(p))
	if fw.maxSpill < 0 || fw.spilled+n > fw.maxSpill {
		if noMemory {
			return failure(fmt.Sprintf(
				"upload data arrived out of order (offset %d while waiting for offset %d) while the server has no memory left to reorder it: the upload is cancelled, try again later",
				off, fw.next))
		}
		return failure(fmt.Sprintf(
			"upload data arrived too far out of order (offset %d while waiting for offset %d): the server cannot reorder it, the upload is cancelled",
			off, fw.next))
	}
	if fw.spill == nil {
		f, err := os.CreateTemp(fw.spillDir, "wharf-sftp-upload-*")
		if err != nil {
			fw.sess.log.Error("creating an upload spill file", "err", err)
			return failure("the server cannot buffer this upload: the upload is cancelled")
		}
		os.Remove(f.Name()) // unlinked: the space is freed when it is closed, even after a crash
		fw.spill = f
	}
	if _, err := fw.spill.WriteAt(p, off); err != nil {
		fw.sess.log.Error("writing an upload spill file", "err", err)
		return failure("the server cannot buffer this upload: the upload is cancelled")
	}
	fw.insertLocked(&segment{off: off, n: n})
	fw.spillTotal += n
	return nil
}

// appendLocked turns a resumed upload into an append, where the storage
// keeps the existing bytes inside the backend rather than the server
// streaming them from base. Nothing was written yet. When the append
// cannot be had (no append permission, or the file changed since the
// open) the upload goes on as it was.
func (fw *fileWriter) appendLocked() {
	w, err := fw.sess.st.Append(fw.ctx, fw.name)
	if err == nil && w.Kept() != fw.base.size {
		w.Abort()
		err = storage.ErrChanged
	}
	if err != nil {
		fw.sess.log.Debug("resumed upload streams the existing bytes", "path", fw.name, "err", err)
		return
	}
	fw.w.Abort()
	fw.w, fw.op, fw.next = w, "append", w.Kept()
	fw.base.r.Close()
	fw.base.r = nil
}

// failLocked fails the upload with the client status st (cause is logged)
// and aborts the storage writer: nothing is committed.
func (fw *fileWriter) failLocked(st, cause error) {
	if fw.err != nil {
		return
	}
	fw.err = st
	if cause != nil && cause != st {
		fw.sess.log.Debug("upload failed", "path", fw.name, "err", cause)
	}
	fw.w.Abort()
	fw.cond.Broadcast()
}

// TransferError is called by pkg/sftp when the connection ends with the
// handle open: the upload is aborted, so Close commits nothing.
func (fw *fileWriter) TransferError(err error) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	fw.failLocked(failure("connection lost: the upload is cancelled"), err)
}

// setModTime stores t with the file.
func (fw *fileWriter) setModTime(t time.Time) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	_ = fw.w.SetModTime(t) // SFTP's unsigned 32-bit seconds are always in the storage's range
	fw.mtime, fw.mtimeSet = t, true
}

// size returns the file's size so far.
func (fw *fileWriter) size() int64 {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	return fw.high
}

// info describes the file being uploaded.
func (fw *fileWriter) info() *fileInfo {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	mt := fw.started
	if fw.mtimeSet {
		mt = fw.mtime
	}
	return newFileInfo(fw.name, fw.high, mt)
}

// Close completes the upload: everything received is streamed, the gaps
// of an open without truncation are filled from the existing file, and
// the file is committed. Its error is the status the client sees for the
// close, and only a nil error means the file was stored.
func (fw *fileWriter) Close() error {
	fw.sess.inflight.Add(1)
	defer fw.sess.inflight.Add(-1)
	fw.mu.Lock()
	if fw.closed {
		fw.mu.Unlock()
		return errBadHandle
	}
	fw.closed = true
	for fw.draining {
		fw.cond.Wait()
	}
	unchanged := false
	if fw.err == nil {
		if fw.received == 0 && fw.base != nil {
			// Opened without truncation and nothing written: the file
			// stays as it is.
			unchanged = true
			fw.w.Abort()
		} else {
			fw.closing = true
			fw.draining = true
			fw.drainLocked()
			if fw.err == nil && len(fw.pending) > 0 {
				fw.failLocked(failure(fmt.Sprintf(
					"incomplete upload: no data was received for bytes %d to %d: the upload is cancelled",
					fw.next, fw.pending[0].off)), nil)
			}
		}
	}
	err, mtime, mtimeSet := fw.err, fw.mtime, fw.mtimeSet
	attrs := []any{"bytes", fw.received, "size", max(fw.high, fw.next)}
	if fw.spillTotal > 0 {
		attrs = append(attrs, "spilled", fw.spillTotal)
	}
	fw.mu.Unlock()

	switch {
	case unchanged && mtimeSet:
		if cerr := fw.sess.st.Chtimes(fw.ctx, fw.name, mtime); cerr != nil {
			err = toStatus(cerr)
		}
	case unchanged:
	case err == nil:
		if cerr := fw.w.Close(); cerr != nil {
			fw.sess.log.Debug("upload commit failed", "path", fw.name, "err", cerr)
			err = toStatus(cerr)
		}
	default:
		fw.w.Abort()
	}
	fw.release()
	fw.sess.audit(fw.op, fw.name, err, append(attrs, "duration", time.Since(fw.started).Round(time.Millisecond))...)
	return err
}

// release frees what the upload holds and ends its transfer.
func (fw *fileWriter) release() {
	if fw.base != nil && fw.base.r != nil {
		fw.base.r.Close()
	}
	if fw.spill != nil {
		fw.spill.Close()
	}
	fw.pending = nil
	if fw.held {
		fw.held = false
		fw.sess.srv.windows.Release(fw.window)
	}
	fw.cancel()
	fw.sess.removeWriter(fw.name, fw)
	fw.sess.endTransfer()
}
