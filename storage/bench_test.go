package storage_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"runtime"
	"sort"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/wharf-gw/wharf/storage"
	"github.com/wharf-gw/wharf/storage/acl"
)

// benchSize is the size of the file the throughput benchmarks move.
const benchSize = 256 << 20

// patternReader yields n bytes by repeating a random 1 MiB block: a large
// stream without holding it in memory.
type patternReader struct {
	block []byte
	left  int64
	off   int
}

func newPatternReader(tb testing.TB, n int64) *patternReader {
	block := make([]byte, 1<<20)
	if _, err := rand.Read(block); err != nil {
		tb.Fatal(err)
	}
	return &patternReader{block: block, left: n}
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.left)]
	n := 0
	for n < len(p) {
		k := copy(p[n:], r.block[r.off:])
		n += k
		r.off = (r.off + k) % len(r.block)
	}
	r.left -= int64(n)
	return n, nil
}

func (r *patternReader) reset(n int64) { r.left, r.off = n, 0 }

// BenchmarkS3Throughput moves 256 MiB up and down through the VFS and
// through the raw gocloud writer and reader on the same versitygw bucket,
// interleaved in every iteration, and reports MB/s of each and the
// VFS/raw ratios (the median over iterations):
//
//	go test ./storage -run '^$' -bench S3Throughput -benchtime 5x
func BenchmarkS3Throughput(b *testing.B) {
	// Defaults: 8 MiB parts, 4 at a time, for both.
	sess, bucket := s3Session(b, storage.BackendOptions{}, nil)
	raw := s3srv.Get(b).OpenBucket(b, bucket)
	ctx := context.Background()
	src := newPatternReader(b, benchSize)
	buf := make([]byte, 1<<20)
	var upRaw, upVFS, downRaw, downVFS []float64
	mbps := func(t0 time.Time) float64 { return float64(benchSize) / 1e6 / time.Since(t0).Seconds() }
	// upload times streaming the pattern into the writer open returns.
	upload := func(open func() (io.WriteCloser, error)) float64 {
		src.reset(benchSize)
		t0 := time.Now()
		copyClose(b, open, src, buf)
		return mbps(t0)
	}
	// download times reading the whole object open returns.
	download := func(open func() (io.ReadCloser, error)) float64 {
		t0 := time.Now()
		r, err := open()
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		if n, err := io.CopyBuffer(io.Discard, r, buf); err != nil || n != benchSize {
			b.Fatal(n, err)
		}
		return mbps(t0)
	}
	for range b.N {
		// The raw gocloud writer gets the same part size and concurrency.
		upRaw = append(upRaw, upload(func() (io.WriteCloser, error) {
			return raw.NewWriter(ctx, "raw.bin", &blob.WriterOptions{BufferSize: storage.DefaultPartSize, MaxConcurrency: storage.DefaultConcurrency})
		}))
		upVFS = append(upVFS, upload(func() (io.WriteCloser, error) { return sess.Create(ctx, "/vfs.bin") }))
		downRaw = append(downRaw, download(func() (io.ReadCloser, error) { return raw.NewReader(ctx, "raw.bin", nil) }))
		downVFS = append(downVFS, download(func() (io.ReadCloser, error) { return sess.Open(ctx, "/vfs.bin", 0) }))
	}
	b.ReportMetric(median(upRaw), "raw-up-MB/s")
	b.ReportMetric(median(upVFS), "vfs-up-MB/s")
	b.ReportMetric(median(downRaw), "raw-down-MB/s")
	b.ReportMetric(median(downVFS), "vfs-down-MB/s")
	b.ReportMetric(median(ratios(upVFS, upRaw)), "up-vfs/raw")
	b.ReportMetric(median(ratios(downVFS, downRaw)), "down-vfs/raw")
}

// copyClose streams r into the writer open returns and commits it.
func copyClose(tb testing.TB, open func() (io.WriteCloser, error), r io.Reader, buf []byte) {
	tb.Helper()
	w, err := open()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.CopyBuffer(w, r, buf); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
}

func ratios(a, b []float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = a[i] / b[i]
	}
	return out
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// BenchmarkS3UploadAllocs reports the bytes one 256 MiB upload through
// the VFS allocates (B/op), to compare with (Concurrency+1) × PartSize.
func BenchmarkS3UploadAllocs(b *testing.B) {
	opts := storage.BackendOptions{PartSize: storage.DefaultPartSize, Concurrency: storage.DefaultConcurrency}
	sess, _ := s3Session(b, opts, nil)
	ctx := context.Background()
	src := newPatternReader(b, benchSize)
	buf := make([]byte, 1<<20)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		src.reset(benchSize)
		copyClose(b, func() (io.WriteCloser, error) { return sess.Create(ctx, "/alloc.bin") }, src, buf)
	}
	b.ReportMetric(float64((opts.Concurrency+1)*int(opts.PartSize)+1<<20), "bound-B")
}

// BenchmarkS3ListAllocs reports the bytes listing a directory of 1,000 and
// of 10,000 objects allocates; memory must not grow with the directory,
// so B/op per entry should fall, not stay, as the directory grows.
func BenchmarkS3ListAllocs(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			sess, bucket := s3Session(b, storage.BackendOptions{}, nil)
			fill(b, s3srv.Get(b).OpenBucket(b, bucket), n)
			ctx := context.Background()
			var peak uint64
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				ls, err := sess.List(ctx, "/")
				if err != nil {
					b.Fatal(err)
				}
				seen := 0
				for {
					page, err := ls.Next(ctx, 100)
					seen += len(page)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					peak = max(peak, heapInUse())
				}
				if seen != n {
					b.Fatalf("listed %d entries, want %d", seen, n)
				}
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// fill writes n one-byte objects straight into the bucket, 32 at a time.
func fill(tb testing.TB, bkt *blob.Bucket, n int) {
	ctx := context.Background()
	sem := make(chan struct{}, 32)
	errs := make(chan error, n)
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- bkt.WriteAll(ctx, fmt.Sprintf("obj-%06d", i), []byte{1}, nil)
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkS3QuotaUpload measures what a quota costs one small upload,
// with 1,000 and 10,000 files in the home, interleaved in every iteration
// (the median of each is reported): without a quota; with one far from
// full, where the node counts the home's usage at most every 10 s; and
// with one within a tenth of full, where it lists the home for every
// upload:
//
//	go test ./storage -run '^$' -bench S3QuotaUpload -benchtime 20x
func BenchmarkS3QuotaUpload(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("files=%d", n), func(b *testing.B) {
			srv := s3srv.Get(b)
			name := srv.NewBucket(b)
			be, err := storage.NewBackend("s3", srv.OpenBucket(b, name), storage.BackendOptions{S3Bucket: name})
			if err != nil {
				b.Fatal(err)
			}
			fill(b, srv.OpenBucket(b, name), n) // n bytes
			sessions := map[string]*storage.Session{
				"no-quota": allSession(b, be, storage.Options{}),
				"far":      allSession(b, be, storage.Options{}, acl.Mount{Path: "/", Backend: be.Name(), Quota: 1 << 40}),
				"near":     allSession(b, be, storage.Options{}, acl.Mount{Path: "/", Backend: be.Name(), Quota: int64(n) + 100}),
			}
			upload := func(s *storage.Session) float64 {
				t0 := time.Now()
				putBytes(b, s, "/small.txt", []byte("hello"))
				return float64(time.Since(t0).Microseconds()) / 1000
			}
			ms := map[string][]float64{}
			for range b.N {
				for _, k := range []string{"no-quota", "far", "near"} {
					ms[k] = append(ms[k], upload(sessions[k]))
				}
			}
			for k, v := range ms {
				b.ReportMetric(median(v), k+"-ms")
			}
		})
	}
}
