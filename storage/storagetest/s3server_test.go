package storagetest

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"
)

func TestS3Server(t *testing.T) {
	ctx := context.Background()
	srv := StartS3(t)
	if !strings.HasPrefix(srv.Endpoint, "http://127.0.0.1:") {
		t.Fatalf("Endpoint = %q, want a loopback address", srv.Endpoint)
	}
	name := srv.NewBucket(t)
	b := srv.OpenBucket(t, name)

	want := bytes.Repeat([]byte("wharf "), 1000)
	if err := b.WriteAll(ctx, "dir/file one.txt", want, nil); err != nil {
		t.Fatalf("WriteAll: %v", err)
	}
	readBack(t, b, "dir/file one.txt", want)

	// A multipart upload shows up in ListMultipartUploads until aborted.
	if n := srv.ListMultipartUploads(t, name); n != 0 {
		t.Fatalf("ListMultipartUploads on a fresh bucket = %d, want 0", n)
	}
	c := srv.Client()
	mu, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(name), Key: aws.String("big")})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	if _, err := c.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: aws.String(name), Key: aws.String("big"), UploadId: mu.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("part one")),
	}); err != nil {
		t.Fatalf("UploadPart: %v", err)
	}
	if n := srv.ListMultipartUploads(t, name); n != 1 {
		t.Fatalf("ListMultipartUploads with one upload in progress = %d, want 1", n)
	}
	if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(name), Key: aws.String("big"), UploadId: mu.UploadId}); err != nil {
		t.Fatalf("AbortMultipartUpload: %v", err)
	}
	if n := srv.ListMultipartUploads(t, name); n != 0 {
		t.Fatalf("ListMultipartUploads after abort = %d, want 0", n)
	}

	// Stopped, the server does not answer; restarted, it has kept its data
	// and its address.
	endpoint := srv.Endpoint
	srv.Stop()
	if srv.Running() {
		t.Fatal("Running after Stop")
	}
	shortCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = b.ReadAll(shortCtx, "dir/file one.txt")
	cancel()
	if err == nil {
		t.Fatal("ReadAll succeeded while the server was stopped")
	}
	srv.Start(t)
	if srv.Endpoint != endpoint {
		t.Fatalf("Endpoint changed across restart: %q, then %q", endpoint, srv.Endpoint)
	}
	readBack(t, b, "dir/file one.txt", want)
	srv.Restart(t)
	readBack(t, b, "dir/file one.txt", want)
}

func readBack(t *testing.T, b *blob.Bucket, key string, want []byte) {
	t.Helper()
	got, err := b.ReadAll(context.Background(), key)
	if err != nil {
		t.Fatalf("ReadAll(%q): %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("ReadAll(%q) = %d bytes, want the %d written", key, len(got), len(want))
	}
}

// TestS3ServerURL opens the bucket the way wharf's configuration does:
// from URL, with the credentials taken from Env.
func TestS3ServerURL(t *testing.T) {
	ctx := context.Background()
	srv := sharedForTest.Get(t)
	name := srv.NewBucket(t)
	if err := srv.OpenBucket(t, name).WriteAll(ctx, "k", []byte("v"), nil); err != nil {
		t.Fatal(err)
	}

	u, err := url.Parse(srv.URL(name))
	if err != nil {
		t.Fatal(err)
	}
	srv.SetEnv(t)
	b, err := (&s3blob.URLOpener{}).OpenBucketURL(ctx, u)
	if err != nil {
		t.Fatalf("OpenBucketURL(%s): %v", u, err)
	}
	defer b.Close()
	readBack(t, b, "k", []byte("v"))
	if err := b.WriteAll(ctx, "k2", []byte("v2"), nil); err != nil {
		t.Fatalf("WriteAll through the URL-opened bucket: %v", err)
	}
}

// TestSharedS3 checks that Get hands every test the same running server.
func TestSharedS3(t *testing.T) {
	a := sharedForTest.Get(t)
	b := sharedForTest.Get(t)
	if a != b || !a.Running() {
		t.Fatalf("Get returned %p and %p (running %v), want one running server", a, b, a.Running())
	}
}

func TestDeclaresModule(t *testing.T) {
	for _, tc := range []struct {
		gomod string
		want  bool
	}{
		{"module github.com/wharf-gw/wharf\n\ngo 1.26\n", true},
		{"// comment\nmodule \"github.com/wharf-gw/wharf\"\n", true},
		{"module github.com/wharf-gw/wharf/tools/versitygw\n", false},
		{"module example.com/other\n", false},
	} {
		if got := declaresModule([]byte(tc.gomod), modulePath); got != tc.want {
			t.Errorf("declaresModule(%q) = %v, want %v", tc.gomod, got, tc.want)
		}
	}
}

var sharedForTest SharedS3

func TestMain(m *testing.M) {
	code := m.Run()
	sharedForTest.Close()
	os.Exit(code)
}
