package ftp_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
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

// Active-mode data connections, which the library dials itself, have the
// same idle timer as passive ones, with and without TLS: a client that
// stops reading a download, or stops sending an upload, fails its
// transfer (the upload is not stored) and keeps its session.
func TestActiveIdle(t *testing.T) {
	t.Parallel()
	const idle = 300 * time.Millisecond
	e := newEnv(t, options{cfg: func(c *ftp.Config) { c.ActiveMode, c.IdleTimeout = true, idle }})
	data := randomBytes(6 << 20)
	e.put(homePrefix+"big.bin", data)
	for _, secure := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "TLS"}[secure]
		var r *ctl
		if secure {
			r = dialTLS(t, e.srv.ImplicitAddr())
			r.want(220)
			r.expect("USER alice", 331)
			r.expect("PASS alice-pw", 230)
			r.expect("PBSZ 0", 200)
			r.expect("PROT P", 200)
		} else {
			r = e.dialLogin()
		}
		// activeConn has the server connect to a small-window listener
		// for cmd, and returns the connection it accepted (the TLS
		// handshake done when secure).
		activeConn := func(cmd string) net.Conn {
			t.Helper()
			l, err := (&net.ListenConfig{Control: smallWindow().Control}).Listen(context.Background(), "tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			p := l.Addr().(*net.TCPAddr).Port
			r.expect(fmt.Sprintf("PORT 127,0,0,1,%d,%d", p>>8, p&0xff), 200)
			r.expect(cmd, 150)
			c, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			if secure {
				tc := tls.Client(c, clientTLS())
				tc.SetDeadline(time.Now().Add(5 * time.Second))
				if err := tc.Handshake(); err != nil {
					t.Fatalf("%s: data connection handshake: %v", name, err)
				}
				tc.SetDeadline(time.Time{})
				return tc
			}
			return c
		}

		for _, typ := range []string{"I", "A"} { // TYPE A converts line ends on the way
			r.expect("TYPE "+typ, 200)
			activeConn("RETR /big.bin") // never read
			start := time.Now()
			if code, msg := r.read(); code != 426 {
				t.Fatalf("%s, TYPE %s: stalled active download: %d %q", name, typ, code, msg)
			}
			if s := time.Since(start); s > 10*idle {
				t.Fatalf("%s, TYPE %s: stalled active download failed after %v", name, typ, s)
			}

			d := activeConn("STOR /big.bin")
			if _, err := d.Write(randomBytes(1000)); err != nil {
				t.Fatal(err)
			}
			if code, msg := r.read(); code != 426 {
				t.Fatalf("%s, TYPE %s: stalled active upload: %d %q", name, typ, code, msg)
			}
			r.expect("NOOP", 200) // the session goes on
		}
		// Read back once the session is done with: the control
		// connection's idle timer runs meanwhile, and under -race on a
		// loaded machine reading 6 MiB back took longer than it leaves.
		// Every stalled upload sent other bytes, so any that was stored
		// shows here.
		if got := e.get(homePrefix + "big.bin"); !bytes.Equal(got, data) {
			t.Fatalf("%s: a stalled active upload replaced the file (%d bytes)", name, len(got))
		}
	}
}
