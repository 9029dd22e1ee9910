package ftp

import (
	"errors"
	"log/slog"
	"os"
	"sync"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"

	"github.com/wharf-gw/wharf/storage"
)

// driver is one logged-in user's file system as the library sees it: every
// call goes to the user's storage.Session, which checks the policy, with
// the session's context. ftpserverlib asks for a whole afero.Fs; what FTP
// does not need answers with a clear error.
type driver struct {
	sess *session
	fs   *storage.Session
	log  *slog.Logger
}

var (
	_ ftpserver.ClientDriver                        = (*driver)(nil)
	_ ftpserver.ClientDriverExtentionFileTransfer   = (*driver)(nil)
	_ ftpserver.ClientDriverExtensionFileList       = (*driver)(nil)
	_ ftpserver.ClientDriverExtensionRemoveDir      = (*driver)(nil)
	_ ftpserver.ClientDriverExtensionAvailableSpace = (*driver)(nil)
)

func (d *driver) Name() string { return "wharf" }

// Audit results besides "ok" and what the client was told.
const (
	resultAborted     = "aborted"     // by ABOR
	resultInterrupted = "interrupted" // the data or the control connection broke, or timed out
)

// audit logs one line per transfer and per change the user made or tried
// to make: op, path, result ("ok" or what the client was told) and details.
func (d *driver) audit(op, name string, err error, attrs ...any) {
	result := "ok"
	if err != nil {
		result = err.Error()
	}
	d.auditResult(op, name, result, attrs...)
}

// auditResult is audit with the result given: "ok", resultAborted,
// resultInterrupted, or what the client was told.
func (d *driver) auditResult(op, name, result string, attrs ...any) {
	d.log.Info("file operation", append([]any{"op", op, "path", name, "result", result}, attrs...)...)
}

// sent records how a download or a listing went, for its audit line
// once its final reply is known.
type sent struct {
	mu    sync.Mutex
	whole bool  // read to its end and every byte written
	err   error // why it stopped, if it did
}

// finish records the end of the copy: whole when err is nil. A failure
// recorded later still counts; nothing after a failure does.
func (s *sent) finish(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.whole, s.err = err == nil, err
	}
}

// TransferError is called by the library when its copy failed: what was
// read to its end may not have reached the client.
func (s *sent) TransferError(error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.whole = false
	if s.err == nil {
		s.err = errDataFailed
	}
}

// result is the audit result: ok only when it was sent whole and the
// client got 226 for it.
func (s *sent) result(reply int, aborted bool) string {
	s.mu.Lock()
	whole, err := s.whole, s.err
	s.mu.Unlock()
	var re *replyError
	switch {
	case reply == 226 && whole:
		return "ok"
	case aborted:
		return resultAborted
	case errors.As(err, &re) && re != errDataFailed && re.msg != msgClosed:
		return re.msg // a storage error
	}
	return resultInterrupted
}

// Stat serves CWD, SIZE, MDTM, MLST, RNFR and the listing of a file.
func (d *driver) Stat(name string) (os.FileInfo, error) {
	fi, err := d.fs.Stat(d.sess.ctx, name)
	if err != nil {
		return nil, mapError(d.log, "stat", name, err)
	}
	return fi, nil
}

// Mkdir serves MKD.
func (d *driver) Mkdir(name string, _ os.FileMode) error {
	err := mapError(d.log, "mkdir", name, d.fs.Mkdir(d.sess.ctx, name))
	d.audit("mkdir", name, err)
	return err
}

// Remove serves DELE.
func (d *driver) Remove(name string) error {
	err := mapError(d.log, "delete", name, d.fs.Remove(d.sess.ctx, name))
	d.audit("delete", name, err)
	return err
}

// RemoveDir serves RMD.
func (d *driver) RemoveDir(name string) error {
	err := mapError(d.log, "rmdir", name, d.fs.Rmdir(d.sess.ctx, name))
	d.audit("rmdir", name, err)
	return err
}

// Rename serves RNFR/RNTO, for files and directories.
func (d *driver) Rename(from, to string) error {
	err := mapError(d.log, "rename", from, d.fs.Rename(d.sess.ctx, from, to))
	d.audit("rename", from, err, "to", to)
	return err
}

// Chtimes serves MFMT.
func (d *driver) Chtimes(name string, _, mtime time.Time) error {
	err := mapError(d.log, "setmtime", name, d.fs.Chtimes(d.sess.ctx, name, mtime))
	d.audit("setmtime", name, err, "mtime", mtime.UTC().Format(time.RFC3339))
	return err
}

// What FTP never asks for (SITE is disabled; transfers go through
// GetHandle, listings through ReadDir).

// GetAvailableSpace answers AVBL: what is left of the quota of the mount
// that holds dir, counted afresh. Without a quota there is no limit to
// report (550).
func (d *driver) GetAvailableSpace(dir string) (int64, error) {
	quota, used, err := d.fs.Space(d.sess.ctx, dir)
	if err != nil {
		return 0, mapError(d.log, "space", dir, err)
	}
	if quota == 0 {
		return 0, errNoQuota
	}
	return max(0, quota-used), nil
}

func (d *driver) MkdirAll(string, os.FileMode) error { return errUnsupported }
func (d *driver) RemoveAll(string) error             { return errUnsupported }
func (d *driver) Chmod(string, os.FileMode) error    { return errUnsupported }
func (d *driver) Chown(string, int, int) error       { return errUnsupported }
func (d *driver) Create(string) (afero.File, error)  { return nil, errUnsupported }
func (d *driver) Open(string) (afero.File, error)    { return nil, errUnsupported }
func (d *driver) OpenFile(string, int, os.FileMode) (afero.File, error) {
	return nil, errUnsupported
}
