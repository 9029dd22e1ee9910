package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"

	"github.com/wharf-gw/wharf/storage/acl"
)

// Upload tuning defaults and limits.
const (
	DefaultPartSize    = 8 << 20
	MinPartSize        = 5 << 20 // S3's smallest multipart part
	MaxPartSize        = 512 << 20
	DefaultConcurrency = 4
	MaxConcurrency     = 64
	// maxCopySize is the largest object one CopyObject call may copy.
	maxCopySize = 5 << 30
	// copyPartSize is the part size of multipart server-side copies (S3
	// takes up to 5 GiB), and copyConcurrency how many are in flight.
	copyPartSize    = 1 << 30
	copyConcurrency = 4
)

// BackendOptions tunes one backend.
type BackendOptions struct {
	// Prefix is prepended to every key; "" or ending in "/".
	Prefix string
	// PartSize is the size of an upload part (and of a multipart copy
	// part). Default DefaultPartSize; a multiple of 1 MiB in
	// [MinPartSize, MaxPartSize].
	PartSize int64
	// Concurrency is the number of parts one upload sends at once.
	// Default DefaultConcurrency.
	Concurrency int
	// S3Bucket is the bucket's name when the bucket was opened with the
	// s3blob driver. It enables the native S3 paths: multipart uploads
	// that are aborted when a write fails, and multipart server-side copy
	// of objects above 5 GB.
	S3Bucket string
	// LocalDir is the directory the bucket was opened on when it was
	// opened with the fileblob driver. It enables the native local paths:
	// files written without fileblob's MD5 of every byte, times set on the
	// files themselves.
	LocalDir string

	// copyThreshold and copyPart override maxCopySize and copyPartSize
	// in tests.
	copyThreshold int64
	copyPart      int64
	hooks         *testHooks // nil but in tests
}

// testHooks are functions tests have the storage call at given points.
type testHooks struct {
	beforeKeep  func()       // in an S3 Append, between the object's attributes and the copy of its content
	lateModTime func() error // in Writer.Close, before a time set late is stored: an error fails that step
}

// Backend is a named bucket that mounts refer to.
type Backend struct {
	name   string
	bucket *blob.Bucket
	opts   BackendOptions
	s3     *s3Native    // nil unless the bucket is S3
	local  *localNative // nil unless the bucket is a local directory written natively
	disk   bool         // the bucket is a local directory (fileblob): see nameErr
}

// NewBackend wraps an open bucket. The caller keeps ownership of bucket and
// closes it after the VFS is no longer used.
func NewBackend(name string, bucket *blob.Bucket, opts BackendOptions) (*Backend, error) {
	if name == "" {
		return nil, errors.New("backend name is required")
	}
	if bucket == nil {
		return nil, fmt.Errorf("backend %q: no bucket", name)
	}
	if opts.Prefix != "" {
		if err := acl.ValidatePrefix(opts.Prefix); err != nil {
			return nil, fmt.Errorf("backend %q: %w", name, err)
		}
	}
	if opts.PartSize == 0 {
		opts.PartSize = DefaultPartSize
	}
	if opts.PartSize < MinPartSize || opts.PartSize > MaxPartSize || opts.PartSize%chunkSize != 0 {
		return nil, fmt.Errorf("backend %q: part size %d must be a multiple of 1 MiB between %d MiB and %d MiB",
			name, opts.PartSize, MinPartSize>>20, MaxPartSize>>20)
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Concurrency < 1 || opts.Concurrency > MaxConcurrency {
		return nil, fmt.Errorf("backend %q: concurrency %d must be between 1 and %d", name, opts.Concurrency, MaxConcurrency)
	}
	if opts.copyThreshold == 0 {
		opts.copyThreshold = maxCopySize
	}
	if opts.copyPart == 0 {
		opts.copyPart = copyPartSize
	}
	var fi os.FileInfo
	b := &Backend{name: name, bucket: bucket, opts: opts, disk: bucket.As(&fi)}
	if opts.S3Bucket != "" {
		var client *s3.Client
		if !bucket.As(&client) {
			return nil, fmt.Errorf("backend %q: s3 bucket name given but the bucket is not an S3 bucket", name)
		}
		b.s3 = &s3Native{client: client, bucket: opts.S3Bucket, bulk: bulkClient(client.Options().HTTPClient)}
	}
	if opts.LocalDir != "" {
		if !b.disk || !filepath.IsAbs(opts.LocalDir) {
			return nil, fmt.Errorf("backend %q: local directory given but the bucket is not a local directory, or the directory is not absolute", name)
		}
		b.local = &localNative{dir: opts.LocalDir}
	}
	return b, nil
}

// Name returns the backend's configured name.
func (b *Backend) Name() string { return b.name }

// Check performs a real round trip to the backend: a missing key's
// attributes are requested, and anything but "not found" is an error
// wrapping ErrUnavailable.
func (b *Backend) Check(ctx context.Context) error {
	_, err := b.bucket.Attributes(ctx, b.opts.Prefix+".wharf-health-check")
	if err == nil || isNotFound(err) {
		return nil
	}
	return fmt.Errorf("backend %q: %w", b.name, classify(err))
}
