package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"gocloud.dev/blob"
	"golang.org/x/sync/errgroup"

	"github.com/wharf-gw/wharf/storage/acl"
)

// renameWorkers bounds the copies and deletes one directory rename runs at
// once.
const renameWorkers = 8

// Rename moves a file or a directory. It needs Rename at both ends, and
// Overwrite at the destination when it replaces a file. A file on a local
// disk is renamed in place. Otherwise objects are copied server-side
// (through this process between different backends) and then deleted; a directory rename that fails while copying removes what it
// copied and leaves the source whole, and any failure is returned. Mount
// points, directories leading to them, and directories with rules of their
// own below them cannot be moved; an existing directory cannot be replaced.
func (s *Session) Rename(ctx context.Context, from, to string) (err error) {
	const op = "rename"
	src, err := s.resolve(op, from)
	if err != nil {
		return err
	}
	dst, err := s.resolve(op, to)
	if err != nil {
		return err
	}
	if err := s.check(op, src, acl.Rename); err != nil {
		return err
	}
	if err := s.check(op, dst, acl.Rename); err != nil {
		return err
	}
	if s.policy.IsMountAncestor(src.path) {
		return pathErr(op, src.path, ErrPermission)
	}
	if s.policy.IsMountAncestor(dst.path) {
		return pathErr(op, dst.path, ErrPermission)
	}
	fi, err := s.stat(ctx, src)
	if err != nil {
		return pathErr(op, src.path, err)
	}
	if src.path == dst.path {
		return nil
	}
	if err := dst.nameErr(fi.dir); err != nil {
		return pathErr(op, dst.path, err)
	}
	if err := s.statDir(ctx, s.parent(dst)); err != nil {
		return pathErr(op, dst.path, err)
	}
	dfi, err := s.stat(ctx, dst)
	switch {
	case err == nil && (fi.dir || dfi.dir):
		if fi.dir {
			return pathErr(op, dst.path, ErrExist)
		}
		return pathErr(op, dst.path, ErrIsDir)
	case err == nil:
		if err := s.check(op, dst, acl.Overwrite); err != nil {
			return err
		}
	case !errors.Is(err, ErrNotExist):
		return pathErr(op, dst.path, err)
	}
	added, err := s.moveFits(ctx, src, dst, fi, dfi)
	if err != nil {
		return pathErr(op, dst.path, err)
	}
	if added != 0 {
		defer func() {
			if err == nil {
				s.addUsage(dst, added)
			}
		}()
	}
	if !fi.dir {
		if n := src.be.local; n != nil && src.be == dst.be {
			if ok, err := n.rename(src.key(), dst.key()); ok {
				if err != nil {
					return pathErr(op, src.path, classify(err))
				}
				return nil
			}
		}
		if err := s.vfs.copyKey(ctx, src.be, src.key(), fi.size, dst.be, dst.key()); err != nil {
			return pathErr(op, src.path, classify(err))
		}
		if err := src.bucket().Delete(ctx, src.key()); err != nil && !isNotFound(err) {
			return pathErr(op, src.path, fmt.Errorf("copied but could not delete the source: %w", classify(err)))
		}
		return nil
	}
	if acl.Within(dst.path, src.path) {
		return pathErr(op, dst.path, fmt.Errorf("%w: cannot move a directory into itself", ErrInvalidName))
	}
	if s.policy.HasRulesBelow(src.path) || s.policy.HasRulesBelow(dst.path) {
		s.log.Debug("denied", "op", op, "path", src.path, "reason", "rules below the directory")
		return pathErr(op, src.path, ErrPermission)
	}
	if err := s.vfs.renameDir(ctx, src, dst); err != nil {
		return pathErr(op, src.path, err)
	}
	return nil
}

// renameDir moves a directory in place on a local disk. Elsewhere it
// copies every object below src to dst, then deletes the sources. Listing
// and copying stream: memory does not grow with the number of objects.
// A move that would make a key below it longer than the backend takes
// fails with ErrInvalidName, and leaves the source whole.
func (v *VFS) renameDir(ctx context.Context, src, dst loc) error {
	if n := src.be.local; n != nil && src.be == dst.be {
		if err := keysFitBelow(n, src, dst); err != nil {
			return err
		}
		if ok, err := n.renameDir(src.key(), dst.key()); ok {
			return classify(err)
		}
	}
	sp, dp := src.dirPrefix(), dst.dirPrefix()
	if err := dst.bucket().WriteAll(ctx, dp, nil, markerOpts); err != nil {
		return classify(err)
	}
	err := forEachObject(ctx, src.bucket(), sp, func(ctx context.Context, o *blob.ListObject) error {
		if o.Key == sp {
			return nil // the marker: written above
		}
		rel := strings.TrimPrefix(o.Key, sp)
		marker := strings.HasSuffix(rel, "/")
		// A longer name makes longer keys below it.
		to := loc{be: dst.be, base: dst.base, rel: dst.rel + "/" + strings.TrimSuffix(rel, "/")}
		if err := to.nameErr(marker); err != nil {
			return err
		}
		if marker {
			// A marker is written anew: some S3 servers refuse to copy one.
			return dst.bucket().WriteAll(ctx, dp+rel, nil, markerOpts)
		}
		return v.copyKey(ctx, src.be, o.Key, o.Size, dst.be, dp+rel)
	})
	if err != nil {
		// Leave the source whole and remove the partial copy.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		_ = deleteAll(cctx, dst.bucket(), dp)
		return classify(err)
	}
	if err := deleteAll(ctx, src.bucket(), sp); err != nil {
		return fmt.Errorf("copied but could not delete the source: %w", classify(err))
	}
	return nil
}

// keysFitBelow returns an error wrapping ErrInvalidName when a key below
// the directory src on a local disk would be too long below dst. It walks
// the folder only for a move to a longer name.
func keysFitBelow(n *localNative, src, dst loc) error {
	sp, dp := len(escapeS3Key(src.dirPrefix())), len(escapeS3Key(dst.dirPrefix()))
	if dp <= sp {
		return nil
	}
	longest, err := n.longestBelow(src.key())
	if err != nil {
		return classify(err)
	}
	if dp+longest > maxKeyLen {
		return fmt.Errorf("%w: name too long: a key below the directory would be %d bytes, the backend takes at most %d",
			ErrInvalidName, dp+longest, maxKeyLen)
	}
	return nil
}

// forEachObject calls fn for every object below prefix, renameWorkers at
// a time, and stops at the first error.
func forEachObject(ctx context.Context, b *blob.Bucket, prefix string, fn func(context.Context, *blob.ListObject) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(renameWorkers)
	it := b.List(&blob.ListOptions{Prefix: prefix})
	for {
		o, err := it.Next(gctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			g.Go(func() error { return err })
			break
		}
		g.Go(func() error { return fn(gctx, o) })
	}
	return g.Wait()
}

// deleteAll deletes every object below prefix and the marker prefix itself.
func deleteAll(ctx context.Context, b *blob.Bucket, prefix string) error {
	err := forEachObject(ctx, b, prefix, func(ctx context.Context, o *blob.ListObject) error {
		if err := b.Delete(ctx, o.Key); err != nil && !isNotFound(err) {
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	// fileblob does not list the marker of the prefix itself.
	if err := b.Delete(ctx, prefix); err != nil && !isNotFound(err) {
		return err
	}
	return nil
}

// copyKey copies one object, keeping its metadata: server-side inside one
// backend (multipart on S3 above the single-copy limit), streamed through
// this process between backends.
func (v *VFS) copyKey(ctx context.Context, sbe *Backend, srcKey string, size int64, dbe *Backend, dstKey string) error {
	if sbe == dbe {
		if sbe.s3 != nil && size > sbe.opts.copyThreshold {
			return sbe.s3.copyObject(ctx, dstKey, srcKey, size, sbe.opts.copyPart, nil)
		}
		return sbe.bucket.Copy(ctx, dstKey, srcKey, nil)
	}
	attrs, err := sbe.bucket.Attributes(ctx, srcKey)
	if err != nil {
		return err
	}
	return v.copyAcross(ctx, sbe, srcKey, dbe, dstKey, attrs.Metadata)
}

// copyAcross streams an object from one backend to another (or onto
// itself, to change its metadata) through this process; the destination is
// committed only when the whole source was read.
func (v *VFS) copyAcross(ctx context.Context, sbe *Backend, srcKey string, dbe *Backend, dstKey string, meta map[string]string) error {
	r, err := sbe.bucket.NewReader(ctx, srcKey, nil)
	if err != nil {
		return err
	}
	defer r.Close()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := v.newObjectWriter(wctx, dbe, dstKey, func() map[string]string { return meta })
	if _, err := io.Copy(w, r); err != nil {
		cancel()
		w.abort()
		return err
	}
	return w.commit()
}

// moveFits checks that moving fi from src into another mount fits in the
// destination's quota (a move inside one mount changes nothing), and
// returns the bytes the move adds to it. dfi is the file it replaces, or
// nil.
func (s *Session) moveFits(ctx context.Context, src, dst loc, fi, dfi *FileInfo) (int64, error) {
	if dst.quota <= 0 || src.quotaKey() == dst.quotaKey() {
		return 0, nil
	}
	size := fi.size
	if fi.dir {
		n, err := bytesBelow(ctx, src.be, src.dirPrefix())
		if err != nil {
			return 0, err
		}
		size = n
	}
	var replaced int64
	if dfi != nil {
		replaced = dfi.size
	}
	if err := s.roomFor(ctx, dst, size, replaced); err != nil {
		return 0, err
	}
	return size - replaced, nil
}
