package sftp

import (
	"context"
	"errors"
	"io"

	"github.com/pkg/sftp"

	"github.com/wharf-gw/wharf/storage"
)

// statusError is what a handler returns to pkg/sftp: an explicit SFTP
// status code and the message the client sees. pkg/sftp finds the code by
// errors.As on its unexported code type, which Unwrap exposes; nothing
// else is wrapped, so no internal detail (bucket names, backend errors)
// ever reaches the client.
type statusError struct {
	code error // one of the sftp.ErrSSHFx… values
	msg  string
}

func (e *statusError) Error() string { return e.msg }
func (e *statusError) Unwrap() error { return e.code }

// Client-facing failures of this package that are not storage kinds.
var (
	errUnsupported = &statusError{sftp.ErrSSHFxOpUnsupported, "operation unsupported"}
	errBadHandle   = &statusError{sftp.ErrSSHFxFailure, "bad file handle"}
)

// failure returns a FAILURE status with msg.
func failure(msg string) error { return &statusError{sftp.ErrSSHFxFailure, msg} }

// toStatus maps an error of a storage.Session call to the status the
// client sees. The mapping is explicit: pkg/sftp on its own turns a
// wrapped fs.ErrNotExist or fs.ErrPermission into a generic FAILURE. A
// backend outage is a FAILURE with a message, never "no such file".
func toStatus(err error) error {
	var se *statusError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return se
	case errors.Is(err, io.EOF):
		return io.EOF // end of a read or a listing: pkg/sftp sends SSH_FX_EOF
	case errors.Is(err, storage.ErrUnavailable):
		return failure("storage temporarily unavailable, try again later")
	case errors.Is(err, storage.ErrNotExist):
		return &statusError{sftp.ErrSSHFxNoSuchFile, "no such file or directory"}
	case errors.Is(err, storage.ErrPermission):
		return &statusError{sftp.ErrSSHFxPermissionDenied, "permission denied"}
	case errors.Is(err, storage.ErrExist):
		return failure("file or directory already exists")
	case errors.Is(err, storage.ErrNotEmpty):
		return failure("directory not empty")
	case errors.Is(err, storage.ErrIsDir):
		return failure("is a directory")
	case errors.Is(err, storage.ErrNotDir):
		return failure("not a directory")
	case errors.Is(err, storage.ErrInvalidName):
		return failure("invalid file name")
	case errors.Is(err, storage.ErrQuotaExceeded):
		return failure("quota exceeded")
	case errors.Is(err, storage.ErrChanged):
		return failure("the file changed during the transfer, try again")
	case errors.Is(err, storage.ErrUnsupported):
		return errUnsupported
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return failure("operation cancelled")
	}
	return failure("internal server error")
}

// kind names the storage kind of err for log lines.
func kind(err error) string {
	var se *statusError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &se):
		return se.msg
	case errors.Is(err, storage.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, storage.ErrNotExist):
		return "not_exist"
	case errors.Is(err, storage.ErrPermission):
		return "permission"
	case errors.Is(err, storage.ErrExist):
		return "exist"
	case errors.Is(err, storage.ErrNotEmpty):
		return "not_empty"
	case errors.Is(err, storage.ErrIsDir):
		return "is_dir"
	case errors.Is(err, storage.ErrNotDir):
		return "not_dir"
	case errors.Is(err, storage.ErrInvalidName):
		return "invalid_name"
	case errors.Is(err, storage.ErrQuotaExceeded):
		return "quota"
	case errors.Is(err, storage.ErrChanged):
		return "changed"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "cancelled"
	}
	return "internal"
}
