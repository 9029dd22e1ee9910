package server

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/wharf-gw/wharf/storage/storagetest"
)

// /readyz follows the S3 backend: 503 within 5 seconds of the S3 server
// stopping, 200 again once it is back.
func TestReadyzFollowsS3(t *testing.T) {
	srv := storagetest.StartS3(t)
	srv.SetEnv(t)
	bucket := srv.NewBucket(t)
	cfg, err := LoadConfig("", []string{"WHARF_DATA_DIR=" + t.TempDir(), "WHARF_BACKENDS_S3_URL=" + srv.URL(bucket),
		"WHARF_FTP_LISTEN=", "WHARF_SFTP_LISTEN=", "WHARF_ADMIN_LISTEN=127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	url := "http://" + s.fronts.adminLn.Addr().String() + "/readyz"
	status := func() int {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// await polls until /readyz answers want, and returns how long it took.
	await := func(want int, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for status() != want {
			if time.Since(start) > within {
				t.Fatalf("/readyz did not turn %d within %v", want, within)
			}
			time.Sleep(50 * time.Millisecond)
		}
		return time.Since(start)
	}
	await(200, 10*time.Second)
	srv.Stop()
	took := await(503, 5*time.Second)
	t.Logf("503 after %v", took)
	srv.Start(t)
	await(200, 10*time.Second)
}
