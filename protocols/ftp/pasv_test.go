package ftp_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wharf-gw/wharf/auth"
	"github.com/wharf-gw/wharf/protocols/ftp"
	"github.com/wharf-gw/wharf/storage"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// PASV announces the configured public address and a port of the range;
// without one, the control connection's local address.
func TestPASVAddress(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	e := newEnv(t, options{cfg: func(c *ftp.Config) {
		c.PublicIP = "203.0.113.9"
		c.PassivePorts = [2]int{port, port}
	}})
	// The one port of the range may be taken for a moment by another
	// test's connection, and is free again once the first session's
	// listener is closed: both commands are retried.
	passive := func(r *ctl, cmd string, code int) string {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			got, msg := r.cmd(cmd)
			if got == code {
				return msg
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d %q", cmd, got, msg)
			}
		}
	}
	r := e.dialLogin()
	want := fmt.Sprintf("(203,0,113,9,%d,%d)", port>>8, port&0xff)
	if msg := passive(r, "PASV", 227); !strings.Contains(msg, want) {
		t.Fatalf("PASV: %q, want %s", msg, want)
	}
	r.expect("QUIT", 221)
	r = e.dialLogin()
	if msg := passive(r, "EPSV", 229); !strings.Contains(msg, fmt.Sprintf("(|||%d|)", port)) {
		t.Fatalf("EPSV: %q", msg)
	}

	e2 := newEnv(t, options{})
	r = e2.dialLogin()
	if msg := r.expect("PASV", 227); !strings.Contains(msg, "(127,0,0,1,") {
		t.Fatalf("PASV without a public address: %q", msg)
	}
}

// The public address can come from EC2 instance metadata, with IMDSv2
// only (no fallback to v1).
func TestPASVAddressFromEC2(t *testing.T) {
	t.Parallel()
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" &&
			r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") != "":
			io.WriteString(w, "secret-token")
		case r.Method == http.MethodGet && r.URL.Path == "/latest/meta-data/public-ipv4":
			if r.Header.Get("X-aws-ec2-metadata-token") != "secret-token" {
				http.Error(w, "", http.StatusUnauthorized)
				return
			}
			io.WriteString(w, "198.51.100.20")
		default:
			http.Error(w, "", http.StatusForbidden)
		}
	}))
	defer imds.Close()
	e := newEnv(t, options{cfg: func(c *ftp.Config) {
		c.PublicIPFromEC2, c.EC2MetadataEndpoint = true, imds.URL
	}})
	r := e.dialLogin()
	if msg := r.expect("PASV", 227); !strings.Contains(msg, "(198,51,100,20,") {
		t.Fatalf("PASV: %q", msg)
	}

	// An IMDSv1-only service (no token) is an error at start.
	v1 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/latest/meta-data/public-ipv4" {
			io.WriteString(w, "198.51.100.21")
			return
		}
		http.Error(w, "", http.StatusMethodNotAllowed)
	}))
	defer v1.Close()
	srv, err := ftp.New(ftp.Config{Listen: "127.0.0.1:0", PublicIPFromEC2: true, EC2MetadataEndpoint: v1.URL},
		ftp.Deps{Auth: e.auth, VFS: emptyVFS(t), Registry: auth.NewRegistry(auth.RegistryLimits{}, nil), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "token") {
		srv.Shutdown(context.Background())
		t.Fatalf("start with IMDSv1 only: %v", err)
	}
}

func emptyVFS(t *testing.T) *storage.VFS {
	v, err := storage.New(nil, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A passive data connection from another address than the control
// connection's is refused.
func TestPASVOtherAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	r := e.dialLogin()
	msg := r.expect("EPSV", 229)
	port := msg[strings.Index(msg, "(|||")+4 : strings.LastIndex(msg, "|)")]
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	dc, err := d.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	if code, msg := r.cmd("LIST /"); code != 425 {
		t.Fatalf("LIST over a foreign data connection: %d %q", code, msg)
	}
}

// Active mode, when enabled, connects only to the control peer's address
// on ports of 1024 or more: bounce attempts are refused and logged.
func TestActiveMode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{cfg: func(c *ftp.Config) { c.ActiveMode = true }})
	e.put(homePrefix+"f.txt", []byte("hello"))
	r := e.dialLogin()
	for _, line := range []string{
		"PORT 127,0,0,1,0,25",     // SMTP on the client's host
		"PORT 10,1,2,3,19,136",    // another host
		"EPRT |1|127.0.0.2|5000|", // another address
		"EPRT |1|127.0.0.1|1023|", // a privileged port
		"EPRT |2|::ffff:10.0.0.1|2000|",
	} {
		if code, msg := r.cmd(line); code != 501 || !strings.Contains(msg, "your own address") {
			t.Fatalf("%s: %d %q", line, code, msg)
		}
	}
	if n := strings.Count(e.logs.String(), "FTP bounce attempt refused"); n != 5 {
		t.Fatalf("%d bounce attempts logged", n)
	}
	// Arguments only a looser parser reads as privileged ports.
	for _, line := range []string{
		"PORT 127,0,0,1,0,587",   // a field above 255: 587 for the library
		"EPRT |1|127.0.0.1|+25|", // a sign
		"PORT 127,0,0,1,-1,5",
		"PORT 127,0,0,1,4",
		"EPRT |1|127.0.0.1|",
		"PORT",
	} {
		if code, msg := r.cmd(line); code != 501 || !strings.Contains(msg, "Syntax error") {
			t.Fatalf("%s: %d %q", line, code, msg)
		}
	}

	// A genuine active transfer.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := l.Addr().(*net.TCPAddr).Port
	r.expect(fmt.Sprintf("PORT 127,0,0,1,%d,%d", p>>8, p&0xff), 200)
	done := make(chan string)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err.Error()
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		done <- string(b)
	}()
	r.expect("RETR /f.txt", 150)
	if got := <-done; got != "hello" {
		t.Fatalf("active RETR: %q", got)
	}
	r.want(226)
}
