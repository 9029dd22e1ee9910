package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"github.com/aws/smithy-go"
	"gocloud.dev/gcerrors"
)

// Error kinds. Every error a Session returns wraps exactly one of them (or
// a context error when the caller's context ended); protocols map them to
// their reply codes with errors.Is. Backend error codes never cross this
// package's boundary.
var (
	ErrNotExist        = fs.ErrNotExist   // no such file or directory, or one the user may not see
	ErrExist           = fs.ErrExist      // the target exists
	ErrPermission      = fs.ErrPermission // the policy denies the operation
	ErrNotEmpty        = errors.New("directory not empty")
	ErrIsDir           = errors.New("is a directory")
	ErrNotDir          = errors.New("not a directory")
	ErrInvalidName     = errors.New("invalid file name") // also: a name the backend cannot hold (see nameErr)
	ErrInvalidArgument = errors.New("invalid argument")  // a value the storage cannot hold, such as a time outside its range
	ErrQuotaExceeded   = errors.New("quota exceeded")
	ErrUnavailable     = errors.New("storage backend unavailable")
	ErrUnsupported     = errors.ErrUnsupported
	ErrChanged         = errors.New("file changed during the operation") // another client changed it meanwhile
)

// ErrSourceFailed is wrapped by the error of Writer.ReadFrom when reading
// its source failed: the data did not arrive, the backend is fine.
var ErrSourceFailed = errors.New("reading the data to store failed")

// pathErr wraps kind (or a classified backend error) with the operation
// and the virtual path, as fs.PathError does.
func pathErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// backendError keeps a backend's error for logs while classifying it.
type backendError struct {
	kind error
	err  error
}

func (e *backendError) Error() string   { return fmt.Sprintf("%v: %v", e.kind, e.err) }
func (e *backendError) Unwrap() []error { return []error{e.kind, e.err} }

// classify turns a backend error into one of the kinds above. Only "not
// found", "precondition failed", a full disk and a name too long for the
// backend have meanings of their own; every other failure (network, credentials, throttling, a dead server) is
// ErrUnavailable: a backend outage is never reported as "not found".
// Context cancellation passes through unchanged.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotExist) || errors.Is(err, ErrExist) || errors.Is(err, ErrChanged) ||
		errors.Is(err, ErrInvalidName) || errors.Is(err, ErrInvalidArgument) {
		return err // classified already
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	switch gcerrors.Code(err) {
	case gcerrors.NotFound:
		return &backendError{ErrNotExist, err}
	case gcerrors.FailedPrecondition:
		return &backendError{ErrExist, err}
	case gcerrors.Canceled:
		return &backendError{context.Canceled, err}
	}
	if isNotFound(err) {
		return &backendError{ErrNotExist, err}
	}
	if isNameTooLong(err) {
		return &backendError{ErrInvalidName, err} // a name the checks of nameErr let through
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return &backendError{ErrQuotaExceeded, err} // a local disk is full
	}
	return &backendError{ErrUnavailable, err}
}

// isNameTooLong reports whether a backend error means the name is too long
// for it: ENAMETOOLONG from a local disk (a file system with a smaller
// NAME_MAX, a path beyond PATH_MAX), KeyTooLongError from S3.
func isNameTooLong(err error) bool {
	var ae smithy.APIError
	return errors.Is(err, syscall.ENAMETOOLONG) || errors.As(err, &ae) && ae.ErrorCode() == "KeyTooLongError"
}

// isNotFound reports whether a backend error means the key does not exist.
// On the local disk a key below a file ("a/b" where "a" is a file) fails
// with ENOTDIR: that key does not exist either.
func isNotFound(err error) bool {
	return gcerrors.Code(err) == gcerrors.NotFound || errors.Is(err, syscall.ENOTDIR)
}
