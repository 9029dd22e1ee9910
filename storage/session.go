package storage

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"path"
	"time"

	"gocloud.dev/blob"

	"github.com/wharf-gw/wharf/storage/acl"
)

// Session is one user's view of the VFS: the mounts of their policy over
// the configured backends. Every method checks the policy before it
// touches a bucket; paths the user may not list look absent. Methods take
// any client-supplied path and canonicalize it with acl.Clean: a path that
// fails is ErrInvalidName. A Session is safe for concurrent use.
type Session struct {
	vfs    *VFS
	user   string
	policy *acl.Policy
	log    *slog.Logger
}

// VFS returns the VFS the session was opened on.
func (s *Session) VFS() *VFS { return s.vfs }

// User returns the name the session was opened for.
func (s *Session) User() string { return s.user }

// mtimeKey is the object metadata key holding a client-set modification
// time, in Unix nanoseconds.
const mtimeKey = "mtime"

// The modification times every backend stores: object metadata and local
// files (os.Chtimes) hold them as Unix nanoseconds in an int64, which ends
// at 2262-04-11T23:47:16.854775807Z; times before the Unix epoch are
// refused too, as SFTP (unsigned seconds) and many tools cannot show them.
var (
	minModTime = time.Unix(0, 0).UTC()
	maxModTime = time.Unix(0, math.MaxInt64).UTC()
)

// checkModTime returns an error wrapping ErrInvalidArgument when t is
// outside the times the storage holds.
func checkModTime(t time.Time) error {
	if t.Before(minModTime) || t.After(maxModTime) {
		return fmt.Errorf("%w: modification time %s is outside the range the storage holds, %s to %s",
			ErrInvalidArgument, t.UTC().Format(time.RFC3339), minModTime.Format(time.RFC3339), maxModTime.Format(time.RFC3339))
	}
	return nil
}

// loc is where a canonical virtual path lives.
type loc struct {
	path string
	be   *Backend
	base string // backend prefix + mount prefix: "" or ending in "/"
	rel  string // path below the mount point, "" for the mount point
	// quota is the mount's (acl.Mount.Quota): what all keys below base
	// may hold together; 0 is no limit.
	quota int64
}

// key is the object key of a file at l.
func (l loc) key() string { return l.base + l.rel }

// dirPrefix is the key prefix of a directory's children at l; for anything
// but a mount point it is also the key of the directory's marker object.
func (l loc) dirPrefix() string {
	if l.rel == "" {
		return l.base
	}
	return l.base + l.rel + "/"
}

func (l loc) bucket() *blob.Bucket { return l.be.bucket }

// resolve canonicalizes name and locates it.
func (s *Session) resolve(op, name string) (loc, error) {
	p, err := acl.Clean(name)
	if err != nil {
		return loc{}, pathErr(op, name, fmt.Errorf("%w: %w", ErrInvalidName, err))
	}
	return s.locate(p), nil
}

func (s *Session) locate(p string) loc {
	m, rel := s.policy.Resolve(p)
	be := s.vfs.backends[m.Backend]
	return loc{path: p, be: be, base: be.opts.Prefix + m.Prefix, rel: rel, quota: m.Quota}
}

// visible reports whether the user may see the entry at p. The root is
// always visible so that a session always has a working directory.
func (s *Session) visible(p string) bool {
	return p == "/" || s.policy.Allowed(acl.List, p)
}

// check enforces the policy: it returns nil when every permission in want
// is held at l, ErrNotExist when the user may not even see l, and
// ErrPermission otherwise. It is the one place where decisions are made.
func (s *Session) check(op string, l loc, want acl.Perm) error {
	if s.policy.Allowed(want, l.path) {
		return nil
	}
	s.log.Debug("denied", "op", op, "path", l.path, "need", want.String(), "have", s.policy.Perms(l.path).String())
	if !s.visible(l.path) && want&(acl.WriteNew|acl.Mkdir) == 0 {
		return pathErr(op, l.path, ErrNotExist)
	}
	return pathErr(op, l.path, ErrPermission)
}

// FileInfo describes a file or directory. It implements fs.FileInfo.
//
// ModTime is never the zero time. A file's is the time a client set, or
// else the backend's. A directory's is, on a local disk written natively,
// its folder's own modification time (or, for an empty directory that is
// only its marker, the marker's); elsewhere the time of its marker object
// where Stat finds one. When a directory's time is unknown (mount points,
// directories implied by the objects below them, directories in listings
// of object stores, which carry no times) it is the Unix epoch,
// 1970-01-01T00:00:00Z, as s3fs reports: the zero time would show as year
// 1 in FTP listings and overflow SFTP's 32-bit times.
type FileInfo struct {
	name    string
	size    int64
	modTime time.Time
	dir     bool
	mode    fs.FileMode
}

var _ fs.FileInfo = (*FileInfo)(nil)

func (fi *FileInfo) Name() string       { return fi.name }
func (fi *FileInfo) Size() int64        { return fi.size }
func (fi *FileInfo) Mode() fs.FileMode  { return fi.mode }
func (fi *FileInfo) ModTime() time.Time { return fi.modTime }
func (fi *FileInfo) IsDir() bool        { return fi.dir }
func (fi *FileInfo) Sys() any           { return nil }

// newInfo builds a FileInfo whose mode bits show what the user may do at
// p: r for Read (files) or List (directories), w for any change.
func (s *Session) newInfo(p string, dir bool, size int64, mt time.Time) *FileInfo {
	perms := s.policy.Perms(p)
	var mode fs.FileMode
	switch {
	case dir && perms.Has(acl.List):
		mode |= 0o555
	case !dir && perms.Has(acl.Read):
		mode |= 0o444
	}
	if perms&acl.Modify != 0 {
		mode |= 0o200
	}
	if dir {
		mode |= fs.ModeDir
	}
	if mt.IsZero() {
		mt = minModTime // unknown: the epoch (see FileInfo)
	}
	name := path.Base(p)
	return &FileInfo{name: name, size: size, modTime: mt, dir: dir, mode: mode}
}

// Stat describes the file or directory at name. It returns an error
// wrapping ErrNotExist if there is none or the user may not list it.
// A directory costs at most one list call.
func (s *Session) Stat(ctx context.Context, name string) (*FileInfo, error) {
	l, err := s.resolve("stat", name)
	if err != nil {
		return nil, err
	}
	if !s.visible(l.path) {
		return nil, pathErr("stat", l.path, ErrNotExist)
	}
	fi, err := s.stat(ctx, l)
	if err != nil {
		return nil, pathErr("stat", l.path, err)
	}
	return fi, nil
}

// stat describes l without a policy check. Mount points and the
// directories leading to them always exist, whatever the backends hold;
// names the backend cannot hold do not.
func (s *Session) stat(ctx context.Context, l loc) (*FileInfo, error) {
	if l.rel == "" || s.policy.IsMountAncestor(l.path) {
		return s.newInfo(l.path, true, 0, l.dirTime(time.Time{})), nil
	}
	if l.nameErr(false) != nil {
		return nil, ErrNotExist // neither a file nor a directory can be there
	}
	b := l.bucket()
	attrs, err := b.Attributes(ctx, l.key())
	if err == nil {
		return s.newInfo(l.path, false, attrs.Size, modTime(attrs)), nil
	}
	if !isNotFound(err) {
		return nil, classify(err)
	}
	if l.nameErr(true) != nil {
		return nil, ErrNotExist // no directory can be there
	}
	// A directory: its marker, or any object below it.
	attrs, err = b.Attributes(ctx, l.dirPrefix())
	if err == nil {
		return s.newInfo(l.path, true, 0, l.dirTime(modTime(attrs))), nil
	}
	if !isNotFound(err) {
		return nil, classify(err)
	}
	objs, _, err := b.ListPage(ctx, blob.FirstPageToken, 1, &blob.ListOptions{Prefix: l.dirPrefix()})
	if err != nil {
		return nil, classify(err)
	}
	if len(objs) > 0 {
		return s.newInfo(l.path, true, 0, l.dirTime(time.Time{})), nil
	}
	return nil, ErrNotExist
}

// dirTime returns the time of the directory at l: on a local disk written
// natively the folder's own (or its marker's), else known, which may be
// zero for unknown.
func (l loc) dirTime(known time.Time) time.Time {
	if n := l.be.local; n != nil {
		if t, ok := n.dirTime(l.key()); ok {
			return t
		}
	}
	return known
}

// modTime returns the client-set modification time kept in an object's
// metadata, or else the backend's.
func modTime(a *blob.Attributes) time.Time {
	if t, ok := metaTime(a.Metadata); ok {
		return t
	}
	return a.ModTime
}

// statDir returns nil if l is an existing directory, and an error wrapping
// ErrNotExist or ErrNotDir otherwise.
func (s *Session) statDir(ctx context.Context, l loc) error {
	fi, err := s.stat(ctx, l)
	if err != nil {
		return err
	}
	if !fi.dir {
		return ErrNotDir
	}
	return nil
}

// parent locates the directory holding l; l must not be "/".
func (s *Session) parent(l loc) loc { return s.locate(path.Dir(l.path)) }
