// Command s3direct is the baseline of the FTP benchmark: a direct S3 client
// (aws-sdk-go-v2, the SDK wharf's S3 backend uses) that uploads a file as a
// multipart upload with a fixed part size and concurrency, and downloads an
// object with one streaming GET, hashing it as it arrives.
//
//	s3direct [flags] mb
//	s3direct [flags] put FILE KEY
//	s3direct [flags] get KEY
//
// The SDK is configured like wharf's backend URL in bench/ftp/run.sh:
// request checksums only when required, response checksums validated as
// -response-checksum-validation says.
//
// put and get print one line: bytes=N secs=S mibps=R sha256=HEX (put
// prints sha256=-: the caller hashes the stored object). The
// endpoint, bucket and credentials come from flags or S3_ENDPOINT,
// S3_BUCKET, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func main() {
	endpoint := flag.String("endpoint", os.Getenv("S3_ENDPOINT"), "S3 endpoint URL")
	bucket := flag.String("bucket", os.Getenv("S3_BUCKET"), "bucket")
	region := flag.String("region", "us-east-1", "region")
	partMiB := flag.Int64("part-mib", 8, "part size in MiB")
	concurrency := flag.Int("concurrency", 4, "parts in flight")
	validate := flag.String("response-checksum-validation", "when_supported",
		"the SDK's response_checksum_validation, as in wharf's backend URL: when_supported (the SDK's default) or when_required")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: s3direct [flags] mb | put FILE KEY | get KEY\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *endpoint == "" || *bucket == "" {
		fail(errors.New("-endpoint and -bucket are required"))
	}
	validation := aws.ResponseChecksumValidationWhenSupported
	switch *validate {
	case "when_supported":
	case "when_required":
		validation = aws.ResponseChecksumValidationWhenRequired
	default:
		fail(fmt.Errorf("-response-checksum-validation: %q is not when_supported or when_required", *validate))
	}
	c := &client{
		s3: s3.New(s3.Options{
			Region:                     *region,
			BaseEndpoint:               endpoint,
			UsePathStyle:               true,
			Credentials:                credentials.NewStaticCredentialsProvider(os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), ""),
			RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
			ResponseChecksumValidation: validation,
		}),
		bucket:      *bucket,
		partSize:    *partMiB << 20,
		concurrency: *concurrency,
	}
	ctx := context.Background()
	args := flag.Args()
	var err error
	switch {
	case len(args) == 1 && args[0] == "mb":
		_, err = c.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(c.bucket)})
	case len(args) == 3 && args[0] == "put":
		err = c.put(ctx, args[1], args[2])
	case len(args) == 2 && args[0] == "get":
		err = c.get(ctx, args[1])
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "s3direct:", err)
	os.Exit(1)
}

type client struct {
	s3          *s3.Client
	bucket      string
	partSize    int64
	concurrency int
}

// report prints the result line; sum is nil for uploads, whose stored
// object the caller hashes.
func report(n int64, d time.Duration, sum []byte) {
	hash := "-"
	if sum != nil {
		hash = hex.EncodeToString(sum)
	}
	fmt.Printf("bytes=%d secs=%.3f mibps=%.1f sha256=%s\n", n, d.Seconds(), float64(n)/(1<<20)/d.Seconds(), hash)
}

// put reads FILE sequentially into part buffers and sends up to
// concurrency parts at once, like wharf's S3 writer does.
func (c *client) put(ctx context.Context, file, key string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	start := time.Now()
	up, err := c.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(c.bucket), Key: aws.String(key),
		ContentType: aws.String("application/octet-stream"),
	})
	if err != nil {
		return err
	}
	abort := func(cause error) error {
		_, _ = c.s3.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{
			Bucket: aws.String(c.bucket), Key: aws.String(key), UploadId: up.UploadId,
		})
		return cause
	}
	// concurrency buffers in flight plus the one being filled.
	free := make(chan []byte, c.concurrency+1)
	for range c.concurrency + 1 {
		free <- make([]byte, c.partSize)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		parts []types.CompletedPart
		first error
	)
	slots := make(chan struct{}, c.concurrency)
	var total int64
	for num := int32(1); ; num++ {
		buf := <-free
		n, rerr := io.ReadFull(f, buf)
		if n == 0 && (rerr == io.EOF || rerr == io.ErrUnexpectedEOF) && num > 1 {
			break
		}
		if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			wg.Wait()
			return abort(rerr)
		}
		total += int64(n)
		slots <- struct{}{}
		wg.Add(1)
		go func(num int32, b []byte) {
			defer wg.Done()
			defer func() { free <- b[:cap(b)]; <-slots }()
			out, err := c.s3.UploadPart(ctx, &s3.UploadPartInput{
				Bucket: aws.String(c.bucket), Key: aws.String(key), UploadId: up.UploadId,
				PartNumber: aws.Int32(num), Body: &byteReader{b: b}, ContentLength: aws.Int64(int64(len(b))),
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = fmt.Errorf("part %d: %w", num, err)
				}
				return
			}
			parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
		}(num, buf[:n])
		if rerr != nil {
			break // short read: that was the last part
		}
	}
	wg.Wait()
	if first != nil {
		return abort(first)
	}
	slices.SortFunc(parts, func(a, b types.CompletedPart) int { return int(*a.PartNumber - *b.PartNumber) })
	if _, err := c.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(c.bucket), Key: aws.String(key), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}); err != nil {
		return abort(err)
	}
	report(total, time.Since(start), nil)
	return nil
}

// get streams the object through one GET into a hash.
func (c *client) get(ctx context.Context, key string) error {
	start := time.Now()
	out, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(c.bucket), Key: aws.String(key)})
	if err != nil {
		return err
	}
	defer out.Body.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, out.Body, make([]byte, 256<<10))
	if err != nil {
		return err
	}
	report(n, time.Since(start), h.Sum(nil))
	return nil
}

// byteReader is a seekable part body (the SDK seeks to sign and retry)
// without bytes.Reader's WriteTo, which the HTTP client would not use
// anyway.
type byteReader struct {
	b   []byte
	off int64
}

func (r *byteReader) Read(p []byte) (int, error) {
	if r.off >= int64(len(r.b)) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += int64(n)
	return n, nil
}

func (r *byteReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += int64(len(r.b))
	default:
		return 0, errors.New("bad whence")
	}
	if offset < 0 {
		return 0, errors.New("negative position")
	}
	r.off = offset
	return offset, nil
}
