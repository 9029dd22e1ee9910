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
// on ports of 1024 or more: bounce attempts are refused and logged. Our
// parser is the only one: an argument it does not accept is refused, even
// where the library's looser one would have computed a target (a byte
// above 255, a signed port).
func TestActiveMode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{cfg: func(c *ftp.Config) { c.ActiveMode = true }})
	e.put(homePrefix+"f.txt", []byte("hello"))
	r := e.dialLogin()
	bounces := 0
	for _, c := range []struct {
		line   string
		bounce bool // well-formed, refused as a bounce attempt; else malformed
	}{
		{"PORT 127,0,0,1,0,25", true},     // SMTP on the client's host
		{"PORT 10,1,2,3,19,136", true},    // another host
		{"EPRT |1|127.0.0.2|5000|", true}, // another address
		{"EPRT |1|127.0.0.1|1023|", true}, // a privileged port
		{"EPRT |2|::ffff:10.0.0.1|2000|", true},
		{"EPRT |1|127.0.0.1|025|", true},  // port 25 with a leading zero
		{"PORT 127,0,0,1,0,587", false},   // the library reads port 587
		{"EPRT |1|127.0.0.1|+25|", false}, // the library reads port 25
		{"PORT 127,0,0,1,+2,1", false},
		{"PORT 127,0,0,1,-1,5", false},
		{"PORT 127,0,0,1,4, 1", false},
		{"PORT", false},
		{"EPRT", false},
		{"PORT ", false},
		{"EPRT |||||", false},
		{"PORT 127,0,0,1,4", false},
		{"PORT 127,0,0,1,4,1,7", false},
		{"PORT 127,0,0,1,0,0", false},
		{"EPRT |1|127.0.0.1|5000|x|", false},
		{"EPRT |1|127.0.0.1|5000", false},
		{"EPRT |1|127.0.0.1|", false},
		{"EPRT |1|127.0.0.1|0|", false},
		{"EPRT |1|127.0.0.1|65536|", false},
		{"EPRT |1|::1|5000|", false}, // protocol 1 is IPv4
		{"EPRT |2|127.0.0.1|5000|", false},
		{"EPRT |3|127.0.0.1|5000|", false},
		{"EPRT |1|localhost|5000|", false},
	} {
		code, msg := r.cmd(c.line)
		want := "your own address"
		if !c.bounce {
			want = "Syntax error"
		}
		if code != 501 || !strings.Contains(msg, want) {
			t.Errorf("%s: %d %q, want 501 …%q", c.line, code, msg, want)
		}
		bounces++
	}
	// Malformed arguments are logged as attempts too: some are read as
	// privileged ports by a looser parser.
	if n := strings.Count(e.logs.String(), "FTP bounce attempt refused"); n != bounces {
		t.Fatalf("%d bounce attempts logged, want %d", n, bounces)
	}

	// A genuine active transfer.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := l.Addr().(*net.TCPAddr).Port
	// retr has the server send f.txt to l after cmd, and checks it.
	retr := func(cmd string) {
		t.Helper()
		r.expect(cmd, 200)
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
			t.Fatalf("active RETR after %s: %q", cmd, got)
		}
		r.want(226)
	}
	retr(fmt.Sprintf("PORT 127,0,0,1,%d,%d", p>>8, p&0xff))
	// EPRT with another delimiter (RFC 2428 allows it; the library's
	// parser does not): the library gets the target as we read it.
	retr(fmt.Sprintf("EPRT !1!127.0.0.1!%d!", p))
}
