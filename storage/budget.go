package storage

import (
	"context"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// DefaultUploadBudget is the memory all uploads of a process may hold in
// part buffers at once.
const DefaultUploadBudget = 256 << 20

// Budget bounds the memory that uploads hold in part buffers. A writer
// reserves a part's size from it before filling a part and gives it back
// when the part has reached the backend; when the budget is exhausted
// writers wait, so any number of concurrent uploads stays within it.
type Budget struct {
	limit int64
	sem   *semaphore.Weighted
	used  atomic.Int64
	pool  sync.Pool // of *[]byte of chunkSize
}

// NewBudget returns a budget of limit bytes (DefaultUploadBudget if limit
// is 0 or less).
func NewBudget(limit int64) *Budget {
	if limit <= 0 {
		limit = DefaultUploadBudget
	}
	return &Budget{limit: limit, sem: semaphore.NewWeighted(limit)}
}

// acquire takes n bytes, waiting until they are free or ctx is done.
func (b *Budget) acquire(ctx context.Context, n int64) error {
	if err := b.sem.Acquire(ctx, n); err != nil {
		return err
	}
	b.used.Add(n)
	return nil
}

// release gives back n bytes taken by acquire.
func (b *Budget) release(n int64) {
	b.used.Add(-n)
	b.sem.Release(n)
}

// Limit returns the budget's size in bytes.
func (b *Budget) Limit() int64 { return b.limit }

// InUse returns the bytes currently held by writers.
func (b *Budget) InUse() int64 { return b.used.Load() }

// getChunk returns a buffer of chunkSize bytes, reusing freed ones. The
// caller has reserved the memory with acquire.
func (b *Budget) getChunk() *[]byte {
	if c, ok := b.pool.Get().(*[]byte); ok {
		return c
	}
	c := make([]byte, chunkSize)
	return &c
}

// putChunk gives a buffer from getChunk back.
func (b *Budget) putChunk(c *[]byte) { b.pool.Put(c) }
