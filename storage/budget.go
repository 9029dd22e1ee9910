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

// Budget bounds the memory that uploads hold in part buffers. Writers take
// buffer space from it before filling a buffer and give it back when the
// buffer's data has reached the backend; when the budget is exhausted they
// wait, so any number of concurrent uploads stays within it.
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

// getChunk takes chunkSize bytes from the budget and returns a buffer of
// that size, reusing freed ones.
func (b *Budget) getChunk(ctx context.Context) (*[]byte, error) {
	if err := b.acquire(ctx, chunkSize); err != nil {
		return nil, err
	}
	if c, ok := b.pool.Get().(*[]byte); ok {
		return c, nil
	}
	c := make([]byte, chunkSize)
	return &c, nil
}

// putChunk gives a buffer from getChunk back.
func (b *Budget) putChunk(c *[]byte) {
	b.pool.Put(c)
	b.release(chunkSize)
}
