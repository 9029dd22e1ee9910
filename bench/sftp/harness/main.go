// Command harness is the Go side of bench/sftp/run.sh: it finds free
// loopback ports, waits for servers, and is the direct S3 client the SFTP
// transfers over the S3 backend are compared with (aws-sdk-go-v2: the
// transfer manager's multipart upload with wharf's default part size and
// concurrency, and one streaming GetObject).
//
//	harness ports N                 print N free 127.0.0.1 ports
//	harness wait HOST:PORT          wait until a TCP listener answers (30s)
//	harness s3 ENDPOINT mkbucket BUCKET
//	harness s3 ENDPOINT put BUCKET KEY FILE
//	harness s3 ENDPOINT get BUCKET KEY FILE
//
// The S3 commands take the credentials from AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, and use region us-east-1, path-style addressing,
// and checksums only where S3 requires them (as wharf's bench backend
// does). Part size and concurrency come from PART_SIZE_MB (default 8) and
// CONCURRENCY (default 4).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const usage = `usage:
  harness ports N
  harness wait HOST:PORT
  harness s3 ENDPOINT mkbucket BUCKET
  harness s3 ENDPOINT put BUCKET KEY FILE
  harness s3 ENDPOINT get BUCKET KEY FILE
`

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "harness: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch {
	case args[0] == "ports" && len(args) == 2:
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return err
		}
		return ports(n)
	case args[0] == "wait" && len(args) == 2:
		return wait(args[1], 30*time.Second)
	case args[0] == "s3" && len(args) >= 3:
		return s3cmd(ctx, args[1], args[2:])
	}
	return errors.New(usage)
}

// ports prints n distinct free loopback ports. They are free when
// printed; the script starts its servers right after.
func ports(n int) error {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ls = append(ls, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}

// wait polls addr until it accepts a connection.
func wait(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not answering after %v: %v", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func envInt(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("$%s: want a positive integer, have %q", name, v)
	}
	return n, nil
}

func s3cmd(ctx context.Context, endpoint string, args []string) error {
	partMB, err := envInt("PART_SIZE_MB", 8)
	if err != nil {
		return err
	}
	conc, err := envInt("CONCURRENCY", 4)
	if err != nil {
		return err
	}
	client := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(
			os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
	})
	switch {
	case args[0] == "mkbucket" && len(args) == 2:
		return mkbucket(ctx, client, args[1])
	case args[0] == "put" && len(args) == 4:
		return put(ctx, client, args[1], args[2], args[3], int64(partMB)<<20, conc)
	case args[0] == "get" && len(args) == 4:
		return get(ctx, client, args[1], args[2], args[3])
	}
	return errors.New(usage)
}

// mkbucket creates the bucket, retrying while the server is starting.
func mkbucket(ctx context.Context, client *s3.Client, bucket string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)},
			func(o *s3.Options) { o.RetryMaxAttempts = 1 })
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("creating bucket %s: %w", bucket, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// put uploads file with the transfer manager: a multipart upload of
// partSize parts, conc at once.
func put(ctx context.Context, client *s3.Client, bucket, key, file string, partSize int64, conc int) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	tm := transfermanager.New(client, func(o *transfermanager.Options) {
		o.PartSizeBytes = partSize
		o.Concurrency = conc
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})
	_, err = tm.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: f,
	})
	return err
}

// get streams the object into file with one GetObject.
func get(ctx context.Context, client *s3.Client, bucket, key, file string) error {
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return err
	}
	defer out.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.CopyBuffer(f, out.Body, make([]byte, 256<<10)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
