package ftp_test

import (
	"bytes"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/wharf-gw/wharf/protocols/ftp"
)

// smallWindow is a dialer whose connections have a small receive buffer:
// what the client does not read holds the server back at once.
func smallWindow() *net.Dialer {
	return &net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
		})
		if err != nil {
			return err
		}
		return serr
	}}
}

// The idle timeout of a data connection means no progress for that long:
// a download to a client that reads slowly but steadily completes, even
// though one write of the server's buffer takes longer than the timeout;
// one that stops reading fails.
func TestSlowDownload(t *testing.T) {
	t.Parallel()
	const idle = 300 * time.Millisecond
	e := newEnv(t, options{cfg: func(c *ftp.Config) { c.IdleTimeout = idle }})
	data := randomBytes(6 << 20)
	e.put(homePrefix+"slow.bin", data)
	r := e.dialLogin()

	d := r.epsvDial(smallWindow())
	r.expect("RETR /slow.bin", 150)
	var got bytes.Buffer
	buf := make([]byte, 16<<10)
	for tick := time.NewTicker(10 * time.Millisecond); ; <-tick.C { // about 1.6 MB/s
		d.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := io.ReadFull(d, buf)
		got.Write(buf[:n])
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", got.Len(), err)
		}
	}
	if code, msg := r.read(); code != 226 || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("slow download: %d %q, %d bytes", code, msg, got.Len())
	}

	// A client that stops reading. (A new session: the last megabytes
	// of the download above waited in the socket buffers after the server
	// sent its 226, longer than the control connection's idle timeout.)
	r = e.dialLogin()
	d = r.epsvDial(smallWindow())
	r.expect("RETR /slow.bin", 150)
	start := time.Now()
	if code, msg := r.read(); code != 426 {
		t.Fatalf("stalled download: %d %q", code, msg)
	}
	if s := time.Since(start); s > 10*idle {
		t.Fatalf("stalled download failed after %v", s)
	}
	e.waitLog("op=download path=/slow.bin result=interrupted")
}
