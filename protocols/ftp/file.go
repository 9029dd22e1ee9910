package ftp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/wharf-gw/wharf/storage"
)

// copyBufSize is the buffer of one transfer's copy loop.
const copyBufSize = 256 << 10

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// GetHandle opens a file for RETR (with the REST offset), STOR or APPE.
// Uploads replace the file only when they complete (see upload.Close).
// APPE, and STOR after a REST at the file's present size (a resumed
// upload), extend the file: the storage keeps its content inside the
// backend and the new version replaces it when the transfer completes, so
// an interrupted append leaves the file as it was. A REST anywhere else
// before STOR is refused.
func (d *driver) GetHandle(name string, flags int, offset int64) (ftpserver.FileTransfer, error) {
	ctx := d.sess.ctx
	if flags&(os.O_WRONLY|os.O_RDWR) == 0 {
		if req, cwd, ok := d.sess.takeListing(name); ok {
			return d.openListing(req, cwd)
		}
		r, err := d.fs.Open(ctx, name, offset)
		if err != nil {
			err = mapError(d.log, "download", name, err)
			d.audit("download", name, err)
			return nil, err
		}
		d.sess.srv.handleOpened()
		f := &download{d: d, name: name, r: r, offset: offset, ascii: d.sess.ascii.Load(), start: time.Now()}
		d.sess.startTransfer("download", name, f.ended)
		return f, nil
	}
	op, open := "upload", d.fs.Create
	if flags&os.O_APPEND != 0 || offset > 0 {
		op, open = "append", d.fs.Append
	}
	if offset > 0 {
		if fi, err := d.fs.Stat(ctx, name); err != nil || fi.IsDir() || fi.Size() != offset {
			err = d.restError(name, err)
			d.audit(op, name, err, "offset", offset)
			return nil, err
		}
	}
	// The upload is not bound to the session's context: cancelling a
	// storage write in the middle of a Write can leave an S3 multipart
	// upload behind. A client that goes away stops the copy instead (the
	// library closes the data connection), and the upload is aborted by
	// Close; only the commit is cancelled directly.
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w, err := open(wctx, name)
	if err == nil && w.Kept() != offset && offset > 0 { // changed since the Stat
		w.Abort()
		err = errRestUpload
	}
	if err != nil {
		cancel()
		err = mapError(d.log, op, name, err)
		d.audit(op, name, err, "offset", offset)
		return nil, err
	}
	d.sess.srv.handleOpened()
	u := &upload{d: d, op: op, name: name, w: w, cancel: cancel, ascii: d.sess.ascii.Load(), start: time.Now()}
	d.sess.setUpload(u)
	d.sess.startTransfer(op, name, nil) // audited by commit
	return u, nil
}

// restError is the reply to a REST before STOR that is not at the end of
// the file: a storage error of the Stat as it is, otherwise errRestUpload.
func (d *driver) restError(name string, err error) error {
	if err != nil && !errors.Is(err, storage.ErrNotExist) {
		return mapError(d.log, "append", name, err)
	}
	return errRestUpload
}

// download streams a file to the data connection. It is audited when its
// final reply has been sent (see ended).
type download struct {
	d      *driver
	name   string
	r      *storage.Reader
	offset int64
	ascii  bool         // TYPE A: sent as network text (see ascii.go)
	n      atomic.Int64 // bytes of the file sent
	start  time.Time
	once   sync.Once
	sent
}

var (
	_ io.WriterTo                 = (*download)(nil)
	_ ftpserver.FileTransferError = (*download)(nil)
)

func (f *download) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	f.count(n)
	switch {
	case err == io.EOF:
		f.finish(nil) // the library writes what it got, and fails the transfer if it cannot
	case err != nil:
		err = mapError(f.d.log, "download", f.name, err)
		f.finish(err)
	}
	return n, err
}

func (f *download) count(n int) {
	if n > 0 {
		f.n.Add(int64(n))
		f.d.sess.reg.AddBytes(0, int64(n))
	}
}

// WriteTo is what the library's copy uses: one buffer, no extra copy.
func (f *download) WriteTo(w io.Writer) (int64, error) {
	w = f.d.dataWriter(w)
	if f.ascii {
		w = newToCRLF(w)
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var total int64
	for {
		n, rerr := f.r.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				f.d.log.Debug("download interrupted", "path", f.name, "err", err)
				f.finish(errDataFailed)
				return total, errDataFailed
			}
			total += int64(n)
			f.count(n)
		}
		if rerr == io.EOF {
			f.finish(nil)
			return total, nil
		}
		if rerr != nil {
			err := mapError(f.d.log, "download", f.name, rerr)
			f.finish(err)
			return total, err
		}
	}
}

// ended audits the download with its real result.
func (f *download) ended(reply int, aborted bool) {
	f.d.auditResult("download", f.name, f.result(reply, aborted), "offset", f.offset,
		"bytes", f.n.Load(), "duration", time.Since(f.start).Round(time.Millisecond))
}

// Seek accepts only the library's seek to the REST offset the file was
// opened at.
func (f *download) Seek(offset int64, whence int) (int64, error) {
	if whence == io.SeekStart && offset == f.offset {
		return offset, nil
	}
	return 0, errSeek
}

func (f *download) Write([]byte) (int, error) { return 0, errNotOpen }

func (f *download) Close() error {
	f.once.Do(func() {
		_ = f.r.Close()
		f.d.sess.srv.handleClosed()
	})
	return nil
}

// upload streams a STOR to a storage.Writer. The file is stored (replacing
// the previous version) only by Close, and only when the transfer ended
// without error, no ABOR came, and the client's control connection is
// still open: a client that dies mid-upload closes its data connection
// with a normal FIN, which looks exactly like the end of the file, and its
// control connection at the same moment. So Close waits Config.UploadSettle
// for the control connection to stay open, and the client's disconnection
// (or ABOR) during the commit that follows cancels it (an S3 multipart
// upload is then aborted, not completed). Anything else aborts: the
// previous version stays and no part is left behind.
type upload struct {
	d      *driver
	op     string // "upload" or "append"
	name   string
	w      *storage.Writer
	cancel context.CancelFunc // the writer's context
	ascii  bool               // TYPE A: received as network text (see ascii.go)
	start  time.Time
	once   sync.Once

	mu         sync.Mutex
	failed     error // why the upload must not be stored
	committing bool
}

var (
	_ ftpserver.FileTransferError = (*upload)(nil)
	_ io.ReaderFrom               = (*upload)(nil)
)

func (u *upload) Write(p []byte) (int, error) {
	if u.failure() != nil {
		return 0, errAborted
	}
	n, err := u.w.Write(p)
	if n > 0 {
		u.d.sess.reg.AddBytes(int64(n), 0)
	}
	if err != nil {
		if u.failure() != nil {
			return n, errAborted
		}
		return n, mapError(u.d.log, u.op, u.name, err)
	}
	return n, nil
}

// maxPiece bounds what ReadFrom hands the storage writer at once.
const maxPiece = 4 << 20

// ReadFrom is what the library's copy uses. The storage writer reads the
// data connection itself, into its own buffers (an S3 part; a file on a
// local disk, into which the kernel splices what a plain connection has
// received). Waiting for data is always one Read, under the data
// connection's idle timer, and bytes are counted as they arrive.
func (u *upload) ReadFrom(r io.Reader) (int64, error) {
	var dc *dataConn
	if g, d := guardConn(r, u.d.sess.srv.cfg.IdleTimeout); g != nil {
		r, dc = g, d
	}
	if u.ascii { // converted, so neither spliced nor read by pending bytes
		r, dc = newToLF(r), nil
	}
	var total int64
	for {
		if u.failure() != nil {
			return total, errAborted
		}
		var n int64
		var err error
		eof := false
		if k := dc.pending(); k > 0 {
			n, err = u.w.ReadFrom(io.LimitReader(r, int64(min(k, maxPiece))))
		} else {
			one := &oneRead{r: r}
			n, err = u.w.ReadFrom(one)
			eof = one.eof
		}
		total += n
		if n > 0 {
			u.d.sess.reg.AddBytes(n, 0)
		}
		switch {
		case errors.Is(err, storage.ErrSourceFailed):
			u.d.log.Debug("upload interrupted", "path", u.name, "err", err)
			return total, errDataFailed
		case err != nil:
			if u.failure() != nil {
				return total, errAborted
			}
			return total, mapError(u.d.log, u.op, u.name, err)
		case eof:
			return total, nil
		}
	}
}

// oneRead lets a storage writer make one Read of r, then ends.
type oneRead struct {
	r    io.Reader
	done bool
	eof  bool // r ended
}

func (o *oneRead) Read(p []byte) (int, error) {
	if o.done {
		return 0, io.EOF
	}
	o.done = true
	n, err := o.r.Read(p)
	if err == io.EOF {
		o.eof = true
	}
	return n, err
}

// TransferError is called by the library when the data connection broke,
// was reset or timed out, or on ABOR.
func (u *upload) TransferError(err error) { u.fail(err) }

// fail marks the upload as not to be stored; the first reason is kept.
// The copy stops at its next Write, and Close aborts; a commit under way is
// cancelled.
func (u *upload) fail(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.failed == nil {
		u.failed = err
	}
	if u.committing {
		u.cancel()
	}
}

func (u *upload) failure() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.failed
}

func (u *upload) Read([]byte) (int, error) { return 0, errNotOpen }

// Seek accepts only the library's seek to the REST offset of a resumed
// upload: the size the append keeps.
func (u *upload) Seek(offset int64, whence int) (int64, error) {
	if whence == io.SeekStart && offset == u.w.Kept() {
		return offset, nil
	}
	return 0, errSeek
}

func (u *upload) Close() error {
	var err error
	u.once.Do(func() {
		err = u.commit()
		u.cancel()
		u.d.sess.clearUpload(u)
		u.d.sess.srv.handleClosed()
	})
	return err
}

func (u *upload) commit() error {
	s := u.d.sess
	if u.failure() == nil && !s.settle(s.srv.cfg.UploadSettle) {
		u.fail(errClientGone)
	}
	u.mu.Lock()
	failed := u.failed
	u.committing = failed == nil
	u.mu.Unlock()
	if failed != nil {
		u.w.Abort()
		return u.notStored(failed)
	}
	// The client going away during the commit cancels it.
	stop := context.AfterFunc(s.ctx, func() { u.fail(errClientGone) })
	defer stop()
	if err := u.w.Close(); err != nil {
		switch {
		case s.isGone():
			return u.notStored(errClientGone)
		case u.failure() != nil: // ABOR during the commit
			return u.notStored(u.failure())
		}
		err = mapError(u.d.log, u.op, u.name, err)
		u.d.audit(u.op, u.name, err, u.stats()...)
		return err
	}
	u.d.audit(u.op, u.name, nil, u.stats()...)
	return nil
}

func (u *upload) stats() []any {
	stats := []any{"bytes", u.w.Size(), "duration", time.Since(u.start).Round(time.Millisecond)}
	if u.op == "append" {
		stats = append(stats, "offset", u.w.Kept())
	}
	return stats
}

// notStored logs an upload that was discarded and returns the client's
// error.
func (u *upload) notStored(cause error) error {
	level, out, result := slog.LevelInfo, errAborted, resultAborted
	if errors.Is(cause, errClientGone) || u.d.sess.isGone() {
		level, out, result = slog.LevelWarn, errClientGone, resultInterrupted
	} else if cause != errAbort {
		result = resultInterrupted // the data connection broke or timed out
	}
	u.d.log.Log(context.Background(), level, "upload not stored, previous version kept",
		append([]any{"path", u.name, "cause", cause.Error()}, u.stats()...)...)
	u.d.auditResult(u.op, u.name, result, u.stats()...)
	return out
}
