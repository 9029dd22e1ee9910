package server

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharf-gw/wharf/storage"
)

func TestFileDir(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url  string
		want string // "" when an error is wanted
	}{
		{"file:///srv/files", "/srv/files"},
		{"file:///srv/my%20files/", "/srv/my files"},
		{"file://./data", filepath.Join(wd, "data")},
		{"file://./", wd},
		{"file://.", wd},
		{"file://../up", filepath.Join(filepath.Dir(wd), "up")},
		{"file:data/x", filepath.Join(wd, "data/x")},
		{"file:./data", filepath.Join(wd, "data")},
		{"file://server/share", ""},
		{"file://", ""},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		got, err := fileDir(u)
		if tt.want == "" {
			if err == nil {
				t.Errorf("fileDir(%q) = %q, want an error", tt.url, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("fileDir(%q) = %q, %v; want %q", tt.url, got, err, tt.want)
		}
	}
}

func TestBackendURL(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url      string
		wantURL  string
		wantOpts storage.BackendOptions
	}{{
		url:      "file:///srv/files",
		wantURL:  "file:///srv/files?create_dir=true&no_tmp_dir=true",
		wantOpts: storage.BackendOptions{PartSize: 8 << 20, Concurrency: 4, LocalDir: "/srv/files"},
	}, {
		url:      "file://./rel?prefix=team&metadata=skip",
		wantURL:  "file://" + filepath.ToSlash(wd) + "/rel?create_dir=true&metadata=skip&no_tmp_dir=true",
		wantOpts: storage.BackendOptions{Prefix: "team/", PartSize: 8 << 20, Concurrency: 4, LocalDir: filepath.Join(wd, "rel")},
	}, {
		url:      "s3://my-bucket?endpoint=http://127.0.0.1:9000&region=us-east-1&use_path_style=true&prefix=a/b/",
		wantURL:  "s3://my-bucket?endpoint=http%3A%2F%2F127.0.0.1%3A9000&region=us-east-1&request_checksum_calculation=when_required&response_checksum_validation=when_required&use_path_style=true",
		wantOpts: storage.BackendOptions{Prefix: "a/b/", PartSize: 8 << 20, Concurrency: 4, S3Bucket: "my-bucket"},
	}, {
		// Checksum settings in the URL win over wharf's.
		url:      "s3://b?response_checksum_validation=when_supported",
		wantURL:  "s3://b?request_checksum_calculation=when_required&response_checksum_validation=when_supported",
		wantOpts: storage.BackendOptions{PartSize: 8 << 20, Concurrency: 4, S3Bucket: "b"},
	}, {
		url:      "mem://",
		wantURL:  "mem:",
		wantOpts: storage.BackendOptions{PartSize: 8 << 20, Concurrency: 4},
	}}
	for _, tt := range tests {
		u, opts, err := backendURL(BackendConfig{URL: tt.url, PartSize: 8 * MiB, Concurrency: 4})
		if err != nil {
			t.Errorf("backendURL(%q): %v", tt.url, err)
			continue
		}
		if u.String() != tt.wantURL || opts != tt.wantOpts {
			t.Errorf("backendURL(%q) =\n %s %+v\nwant\n %s %+v", tt.url, u, opts, tt.wantURL, tt.wantOpts)
		}
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"file:///srv/files", "file:///srv/files"},
		{"s3://b?region=us-east-1&endpoint=http://h:9000", "s3://b?endpoint=http%3A%2F%2Fh%3A9000&region=us-east-1"},
		{"s3://b?region=r&kmskeyid=arn:secret&session_token=t0k&X-Amz-Signature=abc",
			"s3://b?X-Amz-Signature=REDACTED&kmskeyid=REDACTED&region=r&session_token=REDACTED"},
		{"s3://user:hunter2@b?aws_secret_access_key=s", "s3://user:xxxxx@b?aws_secret_access_key=REDACTED"},
		{"%zz", "(unparsable URL)"},
	}
	for _, tt := range tests {
		got := redactURL(tt.in)
		if got != tt.want {
			t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
		for _, secret := range []string{"hunter2", "t0k", "arn:secret"} {
			if strings.Contains(got, secret) {
				t.Errorf("redactURL(%q) = %q leaks %q", tt.in, got, secret)
			}
		}
	}
}

func TestOpenBackendFileCreatesDirectory(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, raw := range []string{"file://./a/b", "file:c/d", "file://" + filepath.ToSlash(filepath.Join(t.TempDir(), "e"))} {
		b, err := openBackend(t.Context(), "local", BackendConfig{URL: raw, PartSize: 8 * MiB, Concurrency: 4})
		if err != nil {
			t.Fatalf("openBackend(%q): %v", raw, err)
		}
		u, _ := url.Parse(raw)
		dir, _ := fileDir(u)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			t.Errorf("openBackend(%q): directory %s not created: %v", raw, dir, err)
		}
		// A write lands in the directory, its temporary file beside it.
		w, err := b.bucket.NewWriter(context.Background(), "hello.txt", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("hi")); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if data, err := os.ReadFile(filepath.Join(dir, "hello.txt")); err != nil || string(data) != "hi" {
			t.Errorf("openBackend(%q): file = %q, %v", raw, data, err)
		}
		if err := b.bucket.Close(); err != nil {
			t.Error(err)
		}
	}
}

func TestOpenBackendErrors(t *testing.T) {
	tests := []struct{ url, want string }{
		{"mem://?colour=blue", "colour"},
		{"file:///tmp/x?colour=blue", "colour"},
		{"s3://b?region=r&colour=blue", "colour"},
		{"s3://b?region=r&prefix=../up", "prefix"},
	}
	for _, tt := range tests {
		b, err := openBackend(t.Context(), "x", BackendConfig{URL: tt.url, PartSize: 8 * MiB, Concurrency: 4})
		if err == nil {
			b.bucket.Close()
			t.Errorf("openBackend(%q) succeeded, want an error", tt.url)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("openBackend(%q) = %v, want an error mentioning %q", tt.url, err, tt.want)
		}
	}
}
