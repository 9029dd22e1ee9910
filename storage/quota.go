package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"gocloud.dev/blob"
)

// Quotas (acl.Mount.Quota) bound what the files below a mount hold.
//
// The usage is what a listing of the mount counts (a LIST request per
// 1,000 objects on S3). A node keeps the last count of each quota'd mount
// and adds what it stores itself; it counts afresh when that count is
// older than quotaRecount, when the mount is within a tenth of its quota,
// and before it refuses anything. So a refusal is always decided on a
// fresh count, and files written through other nodes or directly in the
// bucket count within quotaRecount, at once near the quota. Uploads
// running through one node count against each other as they write, those
// through other nodes once they are stored.

// quotaRecount is how long a count of a mount's usage serves uploads that
// stay well within the quota.
const quotaRecount = 10 * time.Second

// quotaState is what this node knows of one quota'd mount.
type quotaState struct {
	writing atomic.Int64 // bytes the mount's open writers have written

	mu   sync.Mutex
	used int64     // the last count, plus what this node stored since
	at   time.Time // when counted; zero before the first count
}

// writerQuota is a Writer's share of its mount's quota.
type writerQuota struct {
	st       *quotaState
	limit    int64 // what the mount's open writers may write together
	fresh    bool  // limit comes from a count made for this writer
	replaced int64 // bytes of the file the upload replaces, freed when it is stored
	counted  int64 // bytes this writer added to st.writing
}

// quotaKey names l's mount in VFS.quotas.
func (l loc) quotaKey() string { return l.be.name + "\x00" + l.base }

func (s *Session) quotaState(l loc) *quotaState {
	st, ok := s.vfs.quotas.Load(l.quotaKey())
	if !ok {
		st, _ = s.vfs.quotas.LoadOrStore(l.quotaKey(), new(quotaState))
	}
	return st.(*quotaState)
}

// usage returns the bytes below l's mount, and whether they were counted
// now: always when fresh is set, else as the package comment says.
func (s *Session) usage(ctx context.Context, l loc, st *quotaState, fresh bool) (int64, bool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !fresh && !st.at.IsZero() && time.Since(st.at) < quotaRecount &&
		st.used+st.writing.Load() < l.quota-l.quota/10 {
		return st.used, false, nil
	}
	n, err := bytesBelow(ctx, l.be, l.base)
	if err != nil {
		return 0, false, err
	}
	st.used, st.at = n, time.Now()
	return n, true, nil
}

// bytesBelow returns the size of all objects below prefix on be, but for
// the temporary files of uploads in progress on a local disk (their
// writers count them).
func bytesBelow(ctx context.Context, be *Backend, prefix string) (int64, error) {
	used := int64(0)
	it := be.bucket.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return used, nil
		}
		if err != nil {
			return 0, classify(err)
		}
		if be.disk && isTempName(obj.Key) {
			continue
		}
		used += obj.Size
	}
}

// startQuota puts a new Writer under its mount's quota, if it has one;
// replaced bytes (the file the upload replaces) are freed by it.
func (w *Writer) startQuota(ctx context.Context, replaced int64) error {
	if w.l.quota <= 0 {
		return nil
	}
	q := &writerQuota{st: w.s.quotaState(w.l), replaced: replaced}
	if err := w.s.setLimit(ctx, w.l, q, false); err != nil {
		return err
	}
	w.quota = q
	return nil
}

// setLimit sets q.limit from the mount's usage.
func (s *Session) setLimit(ctx context.Context, l loc, q *writerQuota, fresh bool) error {
	used, counted, err := s.usage(ctx, l, q.st, fresh)
	if err != nil {
		return err
	}
	q.limit, q.fresh = max(0, l.quota-used+q.replaced), counted
	return nil
}

// reserve counts n bytes about to be written against the quota, counting
// the usage afresh before it refuses them. Under owMu.
func (w *Writer) reserve(n int64) error {
	q := w.quota
	if q == nil {
		return nil
	}
	if q.st.writing.Add(n) > q.limit {
		fits := false
		if !q.fresh {
			if err := w.s.setLimit(w.ctx, w.l, q, true); err != nil {
				q.st.writing.Add(-n)
				return err
			}
			fits = q.st.writing.Load() <= q.limit
		}
		if !fits {
			q.st.writing.Add(-n)
			return ErrQuotaExceeded
		}
	}
	q.counted += n
	return nil
}

// unreserve takes back n reserved bytes that were not written.
func (w *Writer) unreserve(n int64) {
	if q := w.quota; q != nil && n > 0 {
		q.st.writing.Add(-n)
		q.counted -= n
	}
}

// endQuota ends the Writer's share of the quota, once; stored says its
// bytes are now in the mount, its replaced bytes gone. Under owMu.
func (w *Writer) endQuota(stored bool) {
	q := w.quota
	if q == nil {
		return
	}
	w.quota = nil
	q.st.writing.Add(-q.counted)
	if stored {
		q.st.mu.Lock()
		q.st.used += q.counted - q.replaced
		q.st.mu.Unlock()
	}
}

// addUsage adds n bytes this node stored below l's quota'd mount some
// other way than a Writer (a move) to its count.
func (s *Session) addUsage(l loc, n int64) {
	st := s.quotaState(l)
	st.mu.Lock()
	st.used += n
	st.mu.Unlock()
}

// roomFor returns nil when size more bytes fit in the quota of l's mount
// (if it has one), besides what its open uploads have written, with
// replaced bytes freed; else an error wrapping ErrQuotaExceeded. It counts
// the usage afresh before it refuses.
func (s *Session) roomFor(ctx context.Context, l loc, size, replaced int64) error {
	if l.quota <= 0 {
		return nil
	}
	q := &writerQuota{st: s.quotaState(l), replaced: replaced}
	for fresh := false; ; fresh = true {
		if err := s.setLimit(ctx, l, q, fresh); err != nil {
			return err
		}
		left := q.limit - q.st.writing.Load()
		if size <= left {
			return nil
		}
		if q.fresh {
			return fmt.Errorf("%w: %d bytes do not fit in the %d left", ErrQuotaExceeded, size, max(0, left))
		}
	}
}

// Space returns the quota of the mount that holds name, and what the
// files below it hold, counted afresh (a listing of the mount), plus the
// uploads in progress through this node. quota is 0, and used too, when
// the mount has no quota.
func (s *Session) Space(ctx context.Context, name string) (quota, used int64, err error) {
	l, err := s.resolve("space", name)
	if err != nil {
		return 0, 0, err
	}
	if !s.visible(l.path) {
		return 0, 0, pathErr("space", l.path, ErrNotExist)
	}
	if l.quota <= 0 {
		return 0, 0, nil
	}
	st := s.quotaState(l)
	n, _, err := s.usage(ctx, l, st, true)
	if err != nil {
		return 0, 0, pathErr("space", l.path, err)
	}
	return l.quota, n + st.writing.Load(), nil
}
