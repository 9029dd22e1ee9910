package storage

import (
	"context"
	"errors"
	"strconv"
	"time"

	"gocloud.dev/blob"

	"github.com/wharf-gw/wharf/storage/acl"
)

// markerOpts are the options of directory marker objects.
var markerOpts = &blob.WriterOptions{ContentType: "application/x-directory"}

// Mkdir creates the directory name as an empty marker object. The parent
// must exist; name must not. It needs Mkdir. A name the backend cannot
// hold is refused with ErrInvalidName.
func (s *Session) Mkdir(ctx context.Context, name string) error {
	const op = "mkdir"
	l, err := s.resolve(op, name)
	if err != nil {
		return err
	}
	if err := l.nameErr(true); err != nil {
		return pathErr(op, l.path, err)
	}
	if err := s.check(op, l, acl.Mkdir); err != nil {
		return err
	}
	switch _, err := s.stat(ctx, l); {
	case err == nil:
		return pathErr(op, l.path, ErrExist)
	case !errors.Is(err, ErrNotExist):
		return pathErr(op, l.path, err)
	}
	if err := s.statDir(ctx, s.parent(l)); err != nil {
		return pathErr(op, l.path, err)
	}
	if err := l.bucket().WriteAll(ctx, l.dirPrefix(), nil, markerOpts); err != nil {
		return pathErr(op, l.path, classify(err))
	}
	return nil
}

// Rmdir removes the empty directory name. It needs Rmdir; mount points,
// directories leading to mount points and directories with rules of their
// own below them cannot be removed.
func (s *Session) Rmdir(ctx context.Context, name string) error {
	const op = "rmdir"
	l, err := s.resolve(op, name)
	if err != nil {
		return err
	}
	if err := s.check(op, l, acl.Rmdir); err != nil {
		return err
	}
	if s.policy.IsMountAncestor(l.path) {
		return pathErr(op, l.path, ErrPermission)
	}
	if err := s.statDir(ctx, l); err != nil {
		return pathErr(op, l.path, err)
	}
	objs, _, err := l.bucket().ListPage(ctx, blob.FirstPageToken, 2, &blob.ListOptions{Prefix: l.dirPrefix()})
	if err != nil {
		return pathErr(op, l.path, classify(err))
	}
	for _, o := range objs {
		if o.Key != l.dirPrefix() {
			return pathErr(op, l.path, ErrNotEmpty)
		}
	}
	if err := l.bucket().Delete(ctx, l.dirPrefix()); err != nil && !isNotFound(err) {
		return pathErr(op, l.path, classify(err))
	}
	return nil
}

// Remove deletes the file name with one delete request. It needs Delete.
func (s *Session) Remove(ctx context.Context, name string) error {
	const op = "remove"
	l, err := s.resolve(op, name)
	if err != nil {
		return err
	}
	if err := s.check(op, l, acl.Delete); err != nil {
		return err
	}
	fi, err := s.stat(ctx, l)
	if err != nil {
		return pathErr(op, l.path, err)
	}
	if fi.dir {
		return pathErr(op, l.path, ErrIsDir)
	}
	if err := l.bucket().Delete(ctx, l.key()); err != nil {
		return pathErr(op, l.path, classify(err))
	}
	return nil
}

// Chtimes sets the modification time of the file name, kept in the
// object's metadata and reported by Stat. It needs Setstat. A time the
// storage cannot hold (before 1970 or after 2262-04-11T23:47:16Z) is
// refused with an error wrapping ErrInvalidArgument, whatever would be
// done with it. Directories' times are not stored: setting them succeeds
// and changes nothing, as it does for files when the VFS ignores times.
func (s *Session) Chtimes(ctx context.Context, name string, mtime time.Time) error {
	const op = "chtimes"
	l, err := s.resolve(op, name)
	if err != nil {
		return err
	}
	if err := checkModTime(mtime); err != nil {
		return pathErr(op, l.path, err)
	}
	if err := s.check(op, l, acl.Setstat); err != nil {
		return err
	}
	fi, err := s.stat(ctx, l)
	if err != nil {
		return pathErr(op, l.path, err)
	}
	if fi.dir || s.vfs.opts.IgnoreTimes {
		return nil
	}
	if err := s.setModTime(ctx, l, mtime); err != nil {
		return pathErr(op, l.path, err)
	}
	return nil
}

// setModTime sets the time of the object at l: on a local disk the file's
// own time; on S3 the object's metadata, by a server-side copy onto
// itself; elsewhere the object is copied through this process under a new
// version.
func (s *Session) setModTime(ctx context.Context, l loc, mtime time.Time) error {
	if n := l.be.local; n != nil {
		if ok, err := n.setModTime(l.key(), mtime); ok {
			return classify(err)
		}
	}
	meta := map[string]string{mtimeKey: strconv.FormatInt(mtime.UnixNano(), 10)}
	b := l.bucket()
	attrs, err := b.Attributes(ctx, l.key())
	if err != nil {
		return classify(err)
	}
	if n := l.be.s3; n != nil {
		return n.replaceMeta(ctx, l.key(), attrs.Size, l.be.opts.copyPart, l.be.opts.copyThreshold, meta)
	}
	return classify(s.vfs.copyAcross(ctx, l.be, l.key(), l.be, l.key(), meta))
}
