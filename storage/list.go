package storage

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"gocloud.dev/blob"
	"golang.org/x/sync/errgroup"

	"github.com/wharf-gw/wharf/storage/acl"
)

// Lister streams a directory's entries page by page; its memory does not
// depend on the directory's size. Entries the user may not list are left
// out; mount points inside the directory come first. It is not safe for
// concurrent use.
type Lister struct {
	s       *Session
	dir     loc
	it      *blob.ListIterator
	mounts  []string // child mount names, emitted first, then skipped
	emitted int      // mounts already emitted
	last    string   // last name emitted from the backend (duplicates skipped)
	done    bool
}

// List opens the directory name for listing. It needs List.
func (s *Session) List(ctx context.Context, name string) (*Lister, error) {
	const op = "list"
	l, err := s.resolve(op, name)
	if err != nil {
		return nil, err
	}
	if err := s.check(op, l, acl.List); err != nil {
		return nil, err
	}
	if err := s.statDir(ctx, l); err != nil {
		return nil, pathErr(op, l.path, err)
	}
	return &Lister{
		s:      s,
		dir:    l,
		it:     l.bucket().List(&blob.ListOptions{Prefix: l.dirPrefix(), Delimiter: "/"}),
		mounts: s.policy.ChildMounts(l.path),
	}, nil
}

// Next returns up to max entries (max > 0). At the end it returns the last
// entries, or none, with io.EOF.
func (ls *Lister) Next(ctx context.Context, max int) ([]*FileInfo, error) {
	var out []*FileInfo
	for ; ls.emitted < len(ls.mounts) && len(out) < max; ls.emitted++ {
		p := acl.Join(ls.dir.path, ls.mounts[ls.emitted])
		if ls.s.visible(p) {
			out = append(out, ls.s.newInfo(p, true, 0, ls.s.locate(p).dirTime(time.Time{})))
		}
	}
	for !ls.done && len(out) < max {
		obj, err := ls.it.Next(ctx)
		if errors.Is(err, io.EOF) {
			ls.done = true
			break
		}
		if err != nil {
			return out, pathErr("list", ls.dir.path, classify(err))
		}
		if fi := ls.entry(obj); fi != nil {
			out = append(out, fi)
		}
	}
	if err := ls.fillTimes(ctx, out); err != nil {
		return nil, pathErr("list", ls.dir.path, err)
	}
	if ls.done && ls.emitted == len(ls.mounts) {
		return out, io.EOF
	}
	return out, nil
}

// listTimeWorkers bounds the metadata requests one listing page sends at
// once.
const listTimeWorkers = 16

// fillTimes replaces the backend times of files with the times clients set,
// which object listings do not carry: one attributes request per file,
// several at a time. Nothing is done when the VFS ignores times.
func (ls *Lister) fillTimes(ctx context.Context, infos []*FileInfo) error {
	if ls.s.vfs.opts.IgnoreTimes {
		return nil
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(listTimeWorkers)
	for _, fi := range infos {
		if fi.dir {
			continue
		}
		g.Go(func() error {
			attrs, err := ls.dir.bucket().Attributes(ctx, ls.dir.dirPrefix()+fi.name)
			switch {
			case err == nil:
				fi.modTime, fi.size = modTime(attrs), attrs.Size
			case isNotFound(err): // deleted since it was listed: keep what the listing said
			default:
				return classify(err)
			}
			return nil
		})
	}
	return g.Wait()
}

// entry turns a listed object into an entry, or nil for objects that are
// not shown: the directory's own marker, names that are not valid virtual
// names or that the backend cannot hold (written to the bucket by
// something else, or the local disk's own files: uploads in progress),
// names shadowed by a mount point, duplicates and entries the user may not
// list.
func (ls *Lister) entry(obj *blob.ListObject) *FileInfo {
	name := strings.TrimSuffix(strings.TrimPrefix(obj.Key, ls.dir.dirPrefix()), "/")
	if name == "" || strings.Contains(name, "/") || name == ls.last {
		return nil
	}
	p := acl.Join(ls.dir.path, name)
	if !acl.IsCanonical(p) || strings.HasSuffix(obj.Key, "/") && !obj.IsDir {
		return nil
	}
	child := ls.dir
	child.path, child.rel = p, strings.TrimPrefix(ls.dir.rel+"/"+name, "/")
	if child.nameErr(obj.IsDir) != nil {
		return nil
	}
	for _, m := range ls.mounts {
		if m == name {
			return nil
		}
	}
	if !ls.s.visible(p) {
		return nil
	}
	ls.last = name
	if obj.IsDir {
		return ls.s.newInfo(p, true, 0, child.dirTime(time.Time{}))
	}
	return ls.s.newInfo(p, false, obj.Size, obj.ModTime)
}
