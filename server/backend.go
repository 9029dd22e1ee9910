package server

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/blob/s3blob"

	"github.com/wharf-gw/wharf/storage"
)

// backend is one opened, named bucket.
type backend struct {
	name    string
	url     string // redacted, for logs
	bucket  *blob.Bucket
	backend *storage.Backend
}

// newURLMux returns a mux that knows exactly the drivers wharf supports.
// It is built per use, never taken from blob.DefaultURLMux: s3blob's opener
// keeps URL options (ssetype, kmskeyid) in its own fields, so an opener
// shared between backends would carry one backend's options to the next.
func newURLMux() *blob.URLMux {
	mux := new(blob.URLMux)
	mux.RegisterBucket(fileblob.Scheme, &fileblob.URLOpener{})
	mux.RegisterBucket(memblob.Scheme, &memblob.URLOpener{})
	mux.RegisterBucket(s3blob.Scheme, &s3blob.URLOpener{})
	return mux
}

// openBackend opens the bucket of one configured backend and wraps it for
// the storage layer.
func openBackend(ctx context.Context, name string, c BackendConfig) (*backend, error) {
	u, opts, err := backendURL(c)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "file" {
		if err := os.MkdirAll(filepath.FromSlash(u.Path), 0o750); err != nil {
			return nil, err
		}
	}
	bucket, err := newURLMux().OpenBucketURL(ctx, u)
	if err != nil {
		return nil, err
	}
	b, err := storage.NewBackend(name, bucket, opts)
	if err != nil {
		bucket.Close()
		return nil, err
	}
	return &backend{name: name, url: redactURL(c.URL), bucket: bucket, backend: b}, nil
}

// backendURL returns the URL to open for c and the storage options that go
// with it. The "prefix" URL option is taken out of the URL: the storage
// layer applies prefixes itself. File URLs are made absolute.
func backendURL(c BackendConfig) (*url.URL, storage.BackendOptions, error) {
	opts := storage.BackendOptions{PartSize: int64(c.PartSize), Concurrency: c.Concurrency}
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, opts, err
	}
	q := u.Query()
	if p := q.Get("prefix"); p != "" {
		opts.Prefix = strings.TrimSuffix(p, "/") + "/"
	}
	q.Del("prefix")
	switch u.Scheme {
	case "file":
		dir, err := fileDir(u)
		if err != nil {
			return nil, opts, err
		}
		// create_dir: a missing root is created rather than an error.
		// no_tmp_dir: temporary files are written beside their target,
		// not in os.TempDir(), from which the rename on Close fails when
		// it is on another device.
		q.Set("create_dir", "true")
		q.Set("no_tmp_dir", "true")
		opts.LocalDir = dir
		u = &url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}
	case "s3":
		opts.S3Bucket = u.Host
		// The AWS SDK now adds CRC checksums to every upload and checks
		// them on every whole-object download unless told otherwise. Many
		// S3-compatible stores refuse the former, and the latter costs a
		// CPU second per GiB that TLS (or SigV4's signed payload hash on a
		// plain-HTTP endpoint) already pays for: checksums are used where
		// an operation requires them, unless the URL says otherwise.
		for _, k := range []string{"request_checksum_calculation", "response_checksum_validation"} {
			if !q.Has(k) {
				q.Set(k, "when_required")
			}
		}
	case "mem":
	default:
		return nil, opts, fmt.Errorf("unsupported scheme %q (want file, s3 or mem)", u.Scheme)
	}
	u.RawQuery = q.Encode()
	return u, opts, nil
}

// fileDir returns the absolute directory a file URL names: file:///abs,
// or a path relative to the working directory written file://./rel,
// file:rel or file:./rel.
func fileDir(u *url.URL) (string, error) {
	var p string
	switch {
	case u.Opaque != "":
		o, err := url.PathUnescape(u.Opaque)
		if err != nil {
			return "", err
		}
		p = o
	case u.Host == "":
		p = u.Path
	case u.Host == "." || u.Host == "..":
		p = u.Host + u.Path
	default:
		return "", fmt.Errorf("file URL names a host (%q); write file:///abs/path or file://./relative/path", u.Host)
	}
	if p == "" {
		return "", errors.New("file URL has no path; write file:///abs/path or file://./relative/path")
	}
	return filepath.Abs(filepath.FromSlash(p))
}

// redactURL returns raw fit for logs: a password in the user part and the
// value of every query option whose name suggests a secret are replaced.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	q := u.Query()
	for name := range q {
		n := strings.ToLower(name)
		for _, s := range []string{"key", "secret", "token", "password", "credential", "signature"} {
			if strings.Contains(n, s) {
				q[name] = []string{"REDACTED"}
				break
			}
		}
	}
	u.RawQuery = q.Encode()
	return u.Redacted()
}
