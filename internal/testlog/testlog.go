// Package testlog holds what tests need to read the logs of the servers
// they run.
package testlog

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer that a logger writing from many goroutines and
// a test reading it can share.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
