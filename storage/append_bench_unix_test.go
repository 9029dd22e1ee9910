//go:build unix

package storage_test

import (
	"bytes"
	"context"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/wharf-gw/wharf/storage"
)

// BenchmarkS3Append appends 1 MiB to a 256 MiB object two ways,
// interleaved in every iteration: Session.Append, which keeps the present
// bytes inside S3 (UploadPartCopy), and what a server without it does,
// streaming the object through itself into a new version (GET + upload).
// It reports the median time of each and the CPU time this process spent
// on each (wharf's side: versitygw, on the same machine, does a copy
// either way):
//
//	go test ./storage -run '^$' -bench S3Append -benchtime 5x
func BenchmarkS3Append(b *testing.B) {
	sess, _ := s3Session(b, storage.BackendOptions{}, nil)
	ctx := context.Background()
	src := newPatternReader(b, benchSize)
	buf := make([]byte, 1<<20)
	tail := make([]byte, 1<<20)
	// measure reports the wall and CPU seconds of append, which opens a
	// writer holding the present content; it writes the tail and commits.
	measure := func(name string, open func() (*storage.Writer, error)) (wall, cpu float64) {
		src.reset(benchSize)
		copyClose(b, func() (io.WriteCloser, error) { return sess.Create(ctx, name) }, src, buf)
		c0, t0 := cpuTime(b), time.Now()
		copyClose(b, func() (io.WriteCloser, error) { return open() }, bytes.NewReader(tail), buf)
		return time.Since(t0).Seconds(), (cpuTime(b) - c0).Seconds()
	}
	var wallKeep, cpuKeep, wallStream, cpuStream []float64
	for range b.N {
		w, c := measure("/keep.bin", func() (*storage.Writer, error) { return sess.Append(ctx, "/keep.bin") })
		wallKeep, cpuKeep = append(wallKeep, w), append(cpuKeep, c)
		w, c = measure("/stream.bin", func() (*storage.Writer, error) {
			r, err := sess.Open(ctx, "/stream.bin", 0)
			if err != nil {
				return nil, err
			}
			defer r.Close()
			w, err := sess.Create(ctx, "/stream.bin")
			if err != nil {
				return nil, err
			}
			if _, err := io.CopyBuffer(w, r, buf); err != nil {
				w.Abort()
				return nil, err
			}
			return w, nil
		})
		wallStream, cpuStream = append(wallStream, w), append(cpuStream, c)
	}
	b.ReportMetric(median(wallKeep), "append-s")
	b.ReportMetric(median(wallStream), "stream-s")
	b.ReportMetric(median(cpuKeep), "append-cpu-s")
	b.ReportMetric(median(cpuStream), "stream-cpu-s")
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
