package sftp

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"

	"github.com/wharf-gw/wharf/auth"
	"github.com/wharf-gw/wharf/storage"
	"github.com/wharf-gw/wharf/storage/acl"
)

// session is one authenticated connection: the user's storage session,
// the connection's registry entry and the uploads open on it. Its sftp
// channels (usually one) share it.
type session struct {
	ctx context.Context // ends with the connection
	srv *Server
	st  *storage.Session
	rc  *auth.Conn
	log *slog.Logger

	inflight          atomic.Int64 // operations running
	bytesIn, bytesOut atomic.Int64

	mu        sync.Mutex
	writers   map[string][]*fileWriter // open uploads by canonical path
	transfers int                      // open file handles
	channels  []*channel               // the sftp channels being served
}

func newSession(ctx context.Context, srv *Server, st *storage.Session, rc *auth.Conn, log *slog.Logger) *session {
	return &session{ctx: ctx, srv: srv, st: st, rc: rc, log: log, writers: map[string][]*fileWriter{}}
}

// busy reports whether an operation runs for the client, so that the
// connection is not idle even though the client is silent. An open file
// handle alone does not count: a client that stalls in the middle of a
// transfer is idle.
func (s *session) busy() bool { return s.inflight.Load() > 0 }

// transferring reports whether a file handle is open.
func (s *session) transferring() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transfers > 0
}

// answered reports whether every request received has been answered.
func (s *session) answered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.channels {
		if !c.answered() {
			return false
		}
	}
	return true
}

func (s *session) addChannel(c *channel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels = append(s.channels, c)
}

func (s *session) removeChannel(c *channel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels = slices.DeleteFunc(s.channels, func(x *channel) bool { return x == c })
}

// close ends what the connection left behind. pkg/sftp closes every open
// handle (after TransferError) before its Serve returns, so there is
// normally nothing left.
func (s *session) close() {
	s.mu.Lock()
	var left []*fileWriter
	for _, ws := range s.writers {
		left = append(left, ws...)
	}
	s.mu.Unlock()
	for _, w := range left {
		w.TransferError(io.ErrUnexpectedEOF)
		w.Close()
	}
}

// opCtx returns a context that ends with the request's or with the
// connection's. pkg/sftp gives FSTAT and FSETSTAT a background context.
func (s *session) opCtx(r *sftp.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(s.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// startTransfer and endTransfer keep the registry's view of the
// connection: busy while any file handle is open. While the node drains,
// the registry closes the connection once the last one ends.
func (s *session) startTransfer(kind, name string) {
	s.mu.Lock()
	s.transfers++
	s.mu.Unlock()
	s.rc.StartTransfer(kind, name)
}

// maxOpenFiles bounds the file handles one connection holds open: each
// holds a read or reorder window.
const maxOpenFiles = 32

var errTooManyFiles = failure("too many open files on this connection")

// canOpen reports whether another file handle may be opened.
func (s *session) canOpen() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transfers < maxOpenFiles
}

func (s *session) endTransfer() {
	s.mu.Lock()
	s.transfers--
	idle := s.transfers == 0
	s.mu.Unlock()
	if idle {
		s.rc.EndTransfer()
	}
}

func (s *session) addWriter(name string, w *fileWriter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writers[name] = append(s.writers[name], w)
}

func (s *session) removeWriter(name string, w *fileWriter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := slices.DeleteFunc(s.writers[name], func(x *fileWriter) bool { return x == w })
	if len(ws) == 0 {
		delete(s.writers, name)
	} else {
		s.writers[name] = ws
	}
}

// writer returns the latest upload open on the canonical path name, nil
// if none.
func (s *session) writer(name string) *fileWriter {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.writers[name]
	if len(ws) == 0 {
		return nil
	}
	return ws[len(ws)-1]
}

// audit logs one file operation; the error's internal detail stays in
// the log.
func (s *session) audit(op, name string, err error, attrs ...any) {
	attrs = append([]any{"op", op, "path", name, "result", kind(err)}, attrs...)
	if k := kind(err); k == "internal" || k == "unavailable" {
		attrs = append(attrs, "err", err.Error())
		s.log.Warn("file operation", attrs...)
		return
	}
	s.log.Info("file operation", attrs...)
}

// handler serves the requests of one sftp channel.
type handler struct {
	sess *session
}

var (
	_ sftp.FileReader           = (*handler)(nil)
	_ sftp.FileWriter           = (*handler)(nil)
	_ sftp.OpenFileWriter       = (*handler)(nil)
	_ sftp.FileCmder            = (*handler)(nil)
	_ sftp.FileLister           = (*handler)(nil)
	_ sftp.PosixRenameFileCmder = (*handler)(nil)
	_ sftp.StatVFSFileCmder     = (*handler)(nil)
	_ sftp.LstatFileLister      = (*handler)(nil)
	_ sftp.RealPathFileLister   = (*handler)(nil)
	_ sftp.ReadlinkFileLister   = (*handler)(nil)
)

// canonical returns the canonical form of a client path, or the path as
// given when it has none (storage then refuses it).
func canonical(p string) string {
	if c, err := acl.Clean(p); err == nil {
		return c
	}
	return p
}

// Fileread opens a file for download.
func (h *handler) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	s := h.sess
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	name := canonical(r.Filepath)
	if !s.canOpen() {
		return nil, errTooManyFiles
	}
	ctx, cancel := s.opCtx(r)
	fr, err := openReader(ctx, cancel, s, name)
	if err != nil {
		cancel()
		s.audit("download", name, err)
		return nil, toStatus(err)
	}
	return fr, nil
}

// Filewrite opens a file for upload.
func (h *handler) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	s := h.sess
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	name := canonical(r.Filepath)
	if !s.canOpen() {
		return nil, errTooManyFiles
	}
	ctx, cancel := s.opCtx(r)
	fw, err := openWriter(ctx, cancel, s, name, r.Pflags())
	if err != nil {
		cancel()
		s.audit("upload", name, err)
		return nil, toStatus(err)
	}
	return fw, nil
}

// OpenFile opens a file for upload when the client asks to read and write
// (pkg/sftp's client does for Create): reads on it fail.
func (h *handler) OpenFile(r *sftp.Request) (sftp.WriterAtReaderAt, error) {
	w, err := h.Filewrite(r)
	if err != nil {
		return nil, err
	}
	return writeOnly{w.(*fileWriter)}, nil
}

// writeOnly is an upload opened for reading and writing.
type writeOnly struct{ *fileWriter }

func (writeOnly) ReadAt([]byte, int64) (int, error) {
	return 0, &statusError{sftp.ErrSSHFxOpUnsupported, "reading a file while uploading it is not supported"}
}

// Filecmd runs the commands that change the tree.
func (h *handler) Filecmd(r *sftp.Request) error {
	s := h.sess
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	ctx, cancel := s.opCtx(r)
	defer cancel()
	name := canonical(r.Filepath)
	var err error
	switch r.Method {
	case "Setstat":
		return h.setstat(ctx, r, name)
	case "Rename":
		// SFTP v3 rename does not replace an existing target
		// (posix-rename does).
		target := canonical(r.Target)
		if _, serr := s.st.Stat(ctx, target); serr == nil {
			err = storage.ErrExist
		} else {
			err = s.st.Rename(ctx, name, target)
		}
		s.audit("rename", name, err, "to", target)
	case "Rmdir":
		err = s.st.Rmdir(ctx, name)
		s.audit("rmdir", name, err)
	case "Mkdir":
		err = s.st.Mkdir(ctx, name)
		s.audit("mkdir", name, err)
	case "Remove":
		err = s.st.Remove(ctx, name)
		s.audit("remove", name, err)
	case "Link", "Symlink":
		s.audit(r.Method, name, errUnsupported)
		return errUnsupported
	default:
		return errUnsupported
	}
	return toStatus(err)
}

// PosixRename renames, replacing an existing target file.
func (h *handler) PosixRename(r *sftp.Request) error {
	s := h.sess
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	ctx, cancel := s.opCtx(r)
	defer cancel()
	name, target := canonical(r.Filepath), canonical(r.Target)
	err := s.st.Rename(ctx, name, target)
	s.audit("rename", name, err, "to", target)
	return toStatus(err)
}

// setstat stores modification times; permissions and owners of an
// existing file are accepted and ignored (objects have neither). On a file
// being uploaded by this connection the time goes with the upload. A size
// change (truncation) is refused.
func (h *handler) setstat(ctx context.Context, r *sftp.Request, name string) error {
	s := h.sess
	flags, attrs := r.AttrFlags(), r.Attributes()
	w := s.writer(name)
	if flags.Size {
		var size int64
		if w != nil {
			size = w.size()
		} else {
			fi, err := s.st.Stat(ctx, name)
			if err != nil {
				s.audit("setstat", name, err)
				return toStatus(err)
			}
			size = fi.Size()
		}
		if uint64(size) != attrs.Size {
			err := &statusError{sftp.ErrSSHFxOpUnsupported, "changing the size of a file is not supported"}
			s.audit("setstat", name, err, "size", attrs.Size)
			return err
		}
	}
	if !flags.Acmodtime {
		if w == nil && !flags.Size {
			// Nothing to store, but the path must exist: chmod of a
			// missing file is "no such file", as everywhere else.
			if _, err := s.st.Stat(ctx, name); err != nil {
				s.audit("setstat", name, err)
				return toStatus(err)
			}
		}
		return nil
	}
	mtime := time.Unix(int64(attrs.Mtime), 0)
	if w != nil {
		w.setModTime(mtime)
		s.audit("setstat", name, nil, "mtime", mtime.UTC(), "open", true)
		return nil
	}
	err := s.st.Chtimes(ctx, name, mtime)
	s.audit("setstat", name, err, "mtime", mtime.UTC())
	return toStatus(err)
}

// StatVFS answers statvfs@openssh.com (OpenSSH's df, WinSCP's space
// dialog, rclone about). Below a quota it reports the quota as the size
// and what is left of it as free; elsewhere, object stores having no fixed
// size, a large, mostly free filesystem.
func (h *handler) StatVFS(r *sftp.Request) (*sftp.StatVFS, error) {
	const bsize = 4096
	const unlimited = 1 << 40 / bsize * 1024 // blocks of 1 PiB
	s := h.sess
	s.inflight.Add(1) // counting the usage may list the whole home
	defer s.inflight.Add(-1)
	ctx, cancel := s.opCtx(r)
	defer cancel()
	quota, used, err := s.st.Space(ctx, canonical(r.Filepath))
	if err != nil {
		return nil, toStatus(err)
	}
	blocks, free := uint64(unlimited), uint64(unlimited)
	if quota > 0 {
		blocks, free = uint64((quota+bsize-1)/bsize), uint64(max(0, quota-used)/bsize)
	}
	return &sftp.StatVFS{
		Bsize: bsize, Frsize: bsize,
		Blocks: blocks, Bfree: free, Bavail: free,
		Files: 1 << 32, Ffree: 1 << 32, Favail: 1 << 32,
		Namemax: acl.MaxSegmentLen,
	}, nil
}

// Filelist serves directory listings and stat.
func (h *handler) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	s := h.sess
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	name := canonical(r.Filepath)
	switch r.Method {
	case "List":
		ctx, cancel := s.opCtx(r)
		ls, err := s.st.List(ctx, name)
		if err != nil {
			cancel()
			s.audit("list", name, err)
			return nil, toStatus(err)
		}
		s.log.Debug("file operation", "op", "list", "path", name)
		return &dirLister{sess: s, ctx: ctx, cancel: cancel, name: name, ls: ls}, nil
	case "Stat":
		return h.stat(r, name)
	}
	return nil, errUnsupported
}

// Lstat is Stat: there are no symbolic links.
func (h *handler) Lstat(r *sftp.Request) (sftp.ListerAt, error) {
	s := h.sess
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	return h.stat(r, canonical(r.Filepath))
}

// stat describes name. A file this connection is uploading is described
// from its open handle: the object does not exist until the upload ends.
func (h *handler) stat(r *sftp.Request, name string) (sftp.ListerAt, error) {
	s := h.sess
	if w := s.writer(name); w != nil {
		return listOfInfo(w.info()), nil
	}
	ctx, cancel := s.opCtx(r)
	defer cancel()
	fi, err := s.st.Stat(ctx, name)
	if err != nil {
		s.log.Debug("file operation", "op", "stat", "path", name, "result", kind(err))
		return nil, toStatus(err)
	}
	return listOfInfo(fi), nil
}

// RealPath canonicalizes a client path; relative paths start at "/".
func (h *handler) RealPath(p string) (string, error) {
	c, err := acl.Clean(p)
	if err != nil {
		return "", failure("invalid path")
	}
	return c, nil
}

// Readlink: there are no symbolic links.
func (h *handler) Readlink(string) (string, error) { return "", errUnsupported }

// listOf is a ListerAt of fixed entries.
type listOf []os.FileInfo

func listOfInfo(fi os.FileInfo) listOf { return listOf{owned{fi}} }

// owned gives an entry owner numbers (root's, 0): OpenSSH's client reads
// them before a chown or chgrp and sends them back changed, and gives up
// when a stat has none. Objects have no owners; the change is accepted and
// ignored (setstat).
type owned struct{ os.FileInfo }

var _ sftp.FileInfoUidGid = owned{}

func (owned) Uid() uint32 { return 0 }
func (owned) Gid() uint32 { return 0 }

func (l listOf) ListAt(buf []os.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(buf, l[off:])
	if off+int64(n) >= int64(len(l)) {
		return n, io.EOF
	}
	return n, nil
}

// dirLister streams a directory listing page by page from one
// storage.Lister kept between ListAt calls: memory does not depend on the
// directory's size. Its context is the handle's (ListAt has none); it ends
// when the client closes the handle.
type dirLister struct {
	sess   *session
	ctx    context.Context
	cancel context.CancelFunc
	name   string

	mu   sync.Mutex
	ls   *storage.Lister
	sent int64 // entries returned so far
	eof  bool
}

var _ io.Closer = (*dirLister)(nil)

func (d *dirLister) ListAt(buf []os.FileInfo, off int64) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.sess
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	if off != d.sent {
		// pkg/sftp asks for the entries in order; anything else starts
		// over and skips.
		if err := d.restart(off); err != nil {
			return 0, toStatus(err)
		}
	}
	if d.eof || len(buf) == 0 {
		return 0, io.EOF
	}
	infos, err := d.ls.Next(d.ctx, len(buf))
	n := 0
	for _, fi := range infos {
		buf[n] = owned{fi}
		n++
	}
	d.sent += int64(n)
	switch {
	case err == io.EOF:
		d.eof = true
		return n, io.EOF
	case err != nil:
		s.audit("list", d.name, err)
		return n, toStatus(err)
	}
	return n, nil
}

func (d *dirLister) restart(off int64) error {
	ls, err := d.sess.st.List(d.ctx, d.name)
	if err != nil {
		return err
	}
	d.ls, d.sent, d.eof = ls, 0, false
	for d.sent < off && !d.eof {
		infos, err := ls.Next(d.ctx, int(min(off-d.sent, 1000)))
		d.sent += int64(len(infos))
		if err == io.EOF {
			d.eof = true
		} else if err != nil {
			return err
		}
	}
	if d.sent > off {
		d.eof = true // the directory changed meanwhile: end here
	}
	return nil
}

func (d *dirLister) Close() error {
	d.cancel()
	return nil
}

// fileInfo describes a file being uploaded.
type fileInfo struct {
	name    string
	size    int64
	modTime time.Time
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.size }
func (fi *fileInfo) Mode() fs.FileMode  { return 0o644 }
func (fi *fileInfo) ModTime() time.Time { return fi.modTime }
func (fi *fileInfo) IsDir() bool        { return false }
func (fi *fileInfo) Sys() any           { return nil }

func newFileInfo(name string, size int64, mt time.Time) *fileInfo {
	return &fileInfo{name: path.Base(name), size: size, modTime: mt}
}
