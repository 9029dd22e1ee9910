package ftp

import (
	"context"
	"errors"
	"log/slog"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/wharf-gw/wharf/storage"
)

// ftpserverlib sends err.Error() to the client verbatim and picks the reply
// code with errors.Is: ErrStorageExceeded gives 552, ErrFileNameNotAllowed
// 553 (on STOR, APPE and RNTO), anything else 550 (450 for listings). So
// every error this package hands the library is a replyError: a fixed,
// human message that never carries a key, a bucket, an address or a Go
// error chain, wrapping at most one of those two sentinels. Codes the
// library cannot produce (451, 421) are set by the control connection,
// which rewrites replies ending in the messages below (see control.go).

// Messages the client sees. The control connection matches some of them
// exactly: change them together.
const (
	msgNotExist        = "No such file or directory."
	msgPermission      = "Permission denied."
	msgExist           = "File exists."
	msgNotEmpty        = "Directory not empty."
	msgIsDir           = "Is a directory."
	msgNotDir          = "Not a directory."
	msgInvalidName     = "File name not allowed."                                                                 // → 553 on every command
	msgInvalidArgument = "Invalid argument: modification times from 1970 to 2262-04-11 (UTC) only can be stored." // → 501; the storage's one such value
	msgQuota           = "Quota exceeded."
	msgNoQuota         = "No quota here: the space is not limited."
	msgUnavailable     = "Storage temporarily unavailable, try again later." // → 451
	msgUnsupported     = "Operation not supported."
	msgClosed          = "Connection closed."
	msgFailed          = "Operation failed."
	msgRestUpload      = "An upload resumes only at the end of the file: REST before STOR must give its present size."
	msgChanged         = "The file changed during the transfer: try again." // → 451
	msgSeek            = "Cannot seek in this file."
	msgAborted         = "Upload aborted: the file was not stored."
	msgClientGone      = "Control connection lost: the file was not stored."
	msgTooLarge        = "Directory too large to list over FTP."
	msgDataFailed      = "Data connection failed."
	msgNotOpen         = "File is not open for this operation."
	msgLoginFailed     = "Login incorrect."
	msgBanned          = "Too many failed logins from your address: try again later." // → 421
	msgLoginDown       = "Login temporarily unavailable, try again later."            // → 421
	msgUserSessions    = "Too many sessions for this user."                           // → 421
	msgDataOpen        = "Cannot open the data connection."
	msgNoPassive       = "No passive port available, try again later."
	msgNoIPv4          = "PASV needs an IPv4 address: use EPSV"
	msgInternal        = "Internal error."
)

// ourMessage reports whether s is one of the messages above: the control
// connection keeps them where it replaces the library's own error text
// (see libraryErrors).
func ourMessage(s string) bool {
	switch s {
	case msgNotExist, msgPermission, msgExist, msgNotEmpty, msgIsDir, msgNotDir, msgInvalidName, msgInvalidArgument,
		msgQuota, msgNoQuota, msgUnavailable, msgUnsupported, msgClosed, msgFailed, msgRestUpload, msgChanged,
		msgSeek, msgAborted, msgClientGone, msgTooLarge, msgDataFailed, msgNotOpen, msgLoginFailed,
		msgBanned, msgLoginDown, msgUserSessions, msgDataOpen, msgNoPassive, msgNoIPv4, msgInternal:
		return true
	}
	return false
}

// replyError is an error whose message is safe to show to a client.
type replyError struct {
	msg  string
	kind error // ftpserver.ErrStorageExceeded, ftpserver.ErrFileNameNotAllowed or nil
}

func (e *replyError) Error() string { return e.msg }
func (e *replyError) Unwrap() error { return e.kind }

func reply(msg string) error { return &replyError{msg: msg} }

// Fixed errors of this package.
var (
	errRestUpload  = reply(msgRestUpload)
	errSeek        = reply(msgSeek)
	errAborted     = reply(msgAborted)
	errClientGone  = reply(msgClientGone)
	errTooLarge    = reply(msgTooLarge)
	errDataFailed  = reply(msgDataFailed)
	errNotOpen     = reply(msgNotOpen)
	errUnsupported = reply(msgUnsupported)
	errNoQuota     = reply(msgNoQuota)
	errLoginFailed = reply(msgLoginFailed)
	errBanned      = reply(msgBanned)
	errLoginDown   = reply(msgLoginDown)
	errUserLimit   = reply(msgUserSessions)
)

// errAbort is why an upload ABOR stopped is not stored (for the log).
var errAbort = errors.New("ABOR")

// mapError turns a storage error into the error the client sees, and logs
// the original (which may name keys and backends) for the operator. Every
// storage error wraps one kind; anything else is logged as unexpected.
func mapError(log *slog.Logger, op, name string, err error) error {
	if err == nil {
		return nil
	}
	var re *replyError
	if errors.As(err, &re) {
		return re
	}
	var out error
	level := slog.LevelDebug
	switch {
	case errors.Is(err, storage.ErrNotExist):
		out = reply(msgNotExist)
	case errors.Is(err, storage.ErrPermission):
		out = reply(msgPermission)
	case errors.Is(err, storage.ErrExist):
		out = reply(msgExist)
	case errors.Is(err, storage.ErrNotEmpty):
		out = reply(msgNotEmpty)
	case errors.Is(err, storage.ErrIsDir):
		out = reply(msgIsDir)
	case errors.Is(err, storage.ErrNotDir):
		out = reply(msgNotDir)
	case errors.Is(err, storage.ErrInvalidName):
		out = &replyError{msg: msgInvalidName, kind: ftpserver.ErrFileNameNotAllowed}
	case errors.Is(err, storage.ErrInvalidArgument):
		out = reply(msgInvalidArgument)
	case errors.Is(err, storage.ErrQuotaExceeded):
		out = &replyError{msg: msgQuota, kind: ftpserver.ErrStorageExceeded}
	case errors.Is(err, storage.ErrUnavailable):
		out, level = reply(msgUnavailable), slog.LevelWarn
	case errors.Is(err, storage.ErrChanged):
		out = reply(msgChanged)
	case errors.Is(err, storage.ErrUnsupported):
		out = errUnsupported
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		out = reply(msgClosed)
	default:
		out, level = reply(msgFailed), slog.LevelError
	}
	log.Log(context.Background(), level, "operation failed", "op", op, "path", name, "err", err)
	return out
}
