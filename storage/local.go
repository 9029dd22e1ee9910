package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// localNative writes the files of a local-disk backend (a bucket opened by
// gocloud's fileblob driver on dir) directly, in fileblob's own layout:
// data in a temporary file beside the target, renamed over it on commit.
// fileblob's writer MD5-hashes every byte for a sidecar nobody reads,
// which costs a third of a CPU per 500 MB/s; this one does not, and keeps
// a client-set time as the file's own modification time, where every
// tool that looks at the disk sees it and where setting it later costs a
// system call, not a copy of the file.
type localNative struct {
	dir string
}

// attrsExt is the suffix of fileblob's attribute sidecars.
const attrsExt = ".attrs"

// path returns the file holding key, or ok == false for the keys whose
// layout is fileblob's business alone (directory markers, sidecar names,
// keys needing escapes this writer does not reproduce). Keys never escape
// dir: they come from acl.Clean.
func (n *localNative) path(key string) (string, bool) {
	if key == "" || strings.HasSuffix(key, "/") || strings.Contains(key, "//") || strings.HasSuffix(key, attrsExt) {
		return "", false
	}
	return filepath.Join(n.dir, filepath.FromSlash(escapeS3Key(key))), true
}

// setModTime sets the time of the file at key and drops the sidecar
// fileblob may have written, whose metadata would otherwise win.
func (n *localNative) setModTime(key string, t time.Time) (ok bool, err error) {
	p, ok := n.path(key)
	if !ok {
		return false, nil
	}
	if err := os.Chtimes(p, t, t); err != nil {
		return true, err
	}
	return true, removeSidecar(p)
}

// movePaths returns the paths of a move from key from to key to, and
// creates the destination's folder: a directory that exists only as its
// marker has none on disk. ok is false when either key is fileblob's to
// handle.
func (n *localNative) movePaths(from, to string) (sp, dp string, ok bool, err error) {
	sp, ok = n.path(from)
	if !ok {
		return "", "", false, nil
	}
	dp, ok = n.path(to)
	if !ok {
		return "", "", false, nil
	}
	return sp, dp, true, os.MkdirAll(filepath.Dir(dp), 0o777)
}

// rename moves the file at key from to key to, replacing it, with one
// rename(2): no byte is copied. Its sidecar, if fileblob wrote one, moves
// with it; the destination's old one goes.
func (n *localNative) rename(from, to string) (ok bool, err error) {
	sp, dp, ok, err := n.movePaths(from, to)
	if !ok || err != nil {
		return ok, err
	}
	if err := os.Rename(sp, dp); err != nil {
		return true, err
	}
	err = os.Rename(sp+attrsExt, dp+attrsExt)
	if errors.Is(err, os.ErrNotExist) {
		return true, removeSidecar(dp)
	}
	return true, err
}

// markerSuffix is how fileblob names a directory marker ("dir/") on disk:
// its trailing slash escaped.
const markerSuffix = "__0x2f__"

// renameDir moves the directory at key from (without its trailing slash)
// to key to on disk: its folder, holding everything below it, its marker
// and the marker's sidecar, each with one rename(2). A failure before the
// marker moved leaves the source whole.
func (n *localNative) renameDir(from, to string) (ok bool, err error) {
	sp, dp, ok, err := n.movePaths(from, to)
	if !ok || err != nil {
		return ok, err
	}
	moved := false
	switch err := os.Rename(sp, dp); {
	case err == nil:
		moved = true
	case !errors.Is(err, os.ErrNotExist): // a directory may be its marker alone
		return true, err
	}
	for _, suffix := range []string{markerSuffix, markerSuffix + attrsExt} {
		if err := os.Rename(sp+suffix, dp+suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			if moved {
				_ = os.Rename(dp, sp)
			}
			return true, err
		}
	}
	return true, nil
}

// dirTime returns the modification time of the directory at key (a
// directory's key, with or without its trailing slash; "" for the root):
// its folder's, or, when it has none (an empty directory is its marker
// alone), its marker's. ok is false when neither is on the disk.
func (n *localNative) dirTime(key string) (t time.Time, ok bool) {
	key = strings.TrimSuffix(key, "/")
	p := n.dir
	if key != "" {
		p = filepath.Join(n.dir, filepath.FromSlash(escapeS3Key(key)))
	}
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		return fi.ModTime(), true
	}
	if key == "" {
		return time.Time{}, false
	}
	if fi, err := os.Stat(p + markerSuffix); err == nil && fi.Mode().IsRegular() {
		return fi.ModTime(), true
	}
	return time.Time{}, false
}

// longestBelow returns the length of the longest key (as stored) below
// the directory at key, relative to its children's prefix ("key/"): the
// sidecars and temporary files on the disk are not keys.
func (n *localNative) longestBelow(key string) (int, error) {
	root := filepath.Join(n.dir, filepath.FromSlash(escapeS3Key(key)))
	longest := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		switch {
		case errors.Is(err, fs.ErrNotExist) && p == root:
			return fs.SkipAll // an empty directory is its marker alone
		case err != nil:
			return err
		case d.IsDir() || strings.HasSuffix(p, attrsExt) || isTempName(d.Name()):
			return nil
		}
		k := len(p) - len(root) - 1
		if strings.HasSuffix(p, markerSuffix) {
			k += 1 - len(markerSuffix) // a marker's key ends in "/"
		}
		longest = max(longest, k)
		return nil
	})
	return longest, err
}

func removeSidecar(p string) error {
	if err := os.Remove(p + attrsExt); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// newWriter returns the writer for key, or nil when fileblob must write it.
func (n *localNative) newWriter(ctx context.Context, key string, meta func() map[string]string) objectWriter {
	p, ok := n.path(key)
	if !ok {
		return nil
	}
	return &localWriter{ctx: ctx, path: p, meta: meta}
}

// localWriter streams one file to a temporary file beside its target.
type localWriter struct {
	ctx  context.Context
	path string
	meta func() map[string]string
	f    *os.File // nil until the first write
}

// copyBufs are the buffers of the copies ReadFrom makes when it cannot
// read straight into a backend buffer.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// copyTo copies r to dst in large pieces until r ends. A failure to read r
// is returned as a *sourceError; dst's errors are returned as they are.
func copyTo(dst io.Writer, r io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	var total int64
	for {
		k, rerr := r.Read(*bp)
		if k > 0 {
			m, err := dst.Write((*bp)[:k])
			total += int64(m)
			if err != nil {
				return total, err
			}
		}
		switch {
		case rerr == io.EOF:
			return total, nil
		case rerr != nil:
			return total, &sourceError{rerr}
		}
	}
}

func (w *localWriter) open() error {
	if w.f != nil {
		return nil
	}
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(w.path), 0o777); err != nil {
		return err
	}
	// The name is fileblob's, so that a leftover after a crash looks like
	// one of fileblob's; names of that form are reserved (isTempName), and
	// the suffix is counted in the longest name (tmpSuffixLen).
	for try := 0; ; try++ {
		name := w.path + "." + strconv.FormatInt(time.Now().UnixNano(), 16) + ".tmp"
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, os.ErrExist) && try < 100 {
			continue
		}
		if err != nil {
			return err
		}
		w.f = f
		return nil
	}
}

func (w *localWriter) Write(p []byte) (int, error) {
	if err := w.open(); err != nil {
		return 0, err
	}
	return w.f.Write(p)
}

// ReadFrom copies r to the file. A source the kernel can splice from (a
// plain TCP connection) goes to the file without passing through this
// process; anything else is copied in large pieces. A read error is
// returned as a sourceError.
func (w *localWriter) ReadFrom(r io.Reader) (int64, error) {
	if err := w.open(); err != nil {
		return 0, err
	}
	src := r
	if lr, ok := r.(*io.LimitedReader); ok {
		src = lr.R
	}
	if _, ok := src.(syscall.Conn); ok {
		n, err := w.f.ReadFrom(r)
		if err != nil && !isWriteSide(err) {
			err = &sourceError{err}
		}
		return n, err
	}
	return copyTo(w.f, r)
}

// isWriteSide reports whether an error of File.ReadFrom came from the
// file: the disk is full or failing. The rest is the source's.
func isWriteSide(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EFBIG) || errors.Is(err, syscall.EROFS)
}

func (w *localWriter) commit() error {
	if err := w.open(); err != nil { // an empty file
		return err
	}
	f := w.f
	w.f = nil
	tmp := f.Name()
	err := f.Close()
	if err == nil {
		err = w.ctx.Err()
	}
	if err == nil {
		if t, ok := metaTime(w.meta()); ok {
			err = os.Chtimes(tmp, t, t)
		}
	}
	if err == nil {
		// The previous version's sidecar describes the previous version.
		// It goes first: once the new file is in place, nothing may fail
		// (only a nil error means stored, and a stored file gives nil).
		err = removeSidecar(w.path)
	}
	if err == nil {
		err = os.Rename(tmp, w.path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (w *localWriter) abort() {
	if w.f != nil {
		_ = w.f.Close()
		_ = os.Remove(w.f.Name())
		w.f = nil
	}
}

// metaTime returns the modification time held in metadata. A value
// before the epoch, outside the times checkModTime lets through (written
// by an older version from a time that overflowed), is ignored.
func metaTime(meta map[string]string) (time.Time, bool) {
	v, ok := meta[mtimeKey]
	if !ok {
		return time.Time{}, false
	}
	ns, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ns < 0 {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// sourceError is a failure to read what was being written: the writer
// itself is sound, the data did not arrive.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return "reading the source: " + e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// keep starts the temporary file with the present content of the file, a
// copy the kernel makes (copy_file_range) where it can.
// The ETag is not needed: the size is checked on the file opened.
func (w *localWriter) keep(size int64, _ string) (bool, error) {
	if err := w.open(); err != nil {
		return false, err
	}
	src, err := os.Open(w.path)
	if err != nil {
		return false, err
	}
	defer src.Close()
	if fi, err := src.Stat(); err != nil {
		return false, err
	} else if fi.Size() != size {
		return false, ErrChanged
	}
	if _, err := io.CopyN(w.f, src, size); err != nil {
		if errors.Is(err, io.EOF) {
			return false, ErrChanged
		}
		return false, err
	}
	return true, nil
}
