package ftp_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ftpc "github.com/jlaffaye/ftp"

	"github.com/wharf-gw/wharf/protocols/ftp"
)

// Explicit (AUTH TLS) and implicit FTPS carry logins, listings and
// transfers; TLS below 1.2 is refused.
func TestTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	data := randomBytes(3 << 20)
	for _, c := range []struct {
		name string
		addr string
		opt  ftpc.DialOption
	}{
		{"explicit", e.srv.Addr(), ftpc.DialWithExplicitTLS(clientTLS())},
		{"implicit", e.srv.ImplicitAddr(), ftpc.DialWithTLS(clientTLS())},
	} {
		cl := e.dialAs(c.addr, "alice", "alice-pw", c.opt)
		name := "/" + c.name + ".bin"
		if err := cl.Stor(name, bytes.NewReader(data)); err != nil {
			t.Fatalf("%s: STOR: %v", c.name, err)
		}
		r, err := cl.Retr(name)
		if err != nil {
			t.Fatalf("%s: RETR: %v", c.name, err)
		}
		if !bytes.Equal(readAll(t, r), data) {
			t.Fatalf("%s: RETR differs", c.name)
		}
		r.Close()
		if entries, err := cl.List("/"); err != nil || len(entries) < 3 {
			t.Fatalf("%s: LIST: %v %v", c.name, entries, err)
		}
	}
	if n := strings.Count(e.logs.String(), `msg="logged in"`); n != 2 || strings.Count(e.logs.String(), "protocol=ftps") < 2 {
		t.Fatalf("logins over TLS not logged as ftps:\n%s", e.logs.String())
	}
	// MinVersion too: Go clients refuse to offer TLS 1.1 by default.
	old := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS11, MaxVersion: tls.VersionTLS11}
	if c, err := tls.Dial("tcp", e.srv.ImplicitAddr(), old); err == nil {
		c.Close()
		t.Fatal("implicit TLS: TLS 1.1 accepted")
	} else if !strings.Contains(err.Error(), "protocol version") {
		t.Fatalf("implicit TLS 1.1: %v", err)
	}
	// Explicit TLS: the handshake after AUTH TLS fails, and nothing goes on
	// in clear text on that connection.
	r, _, _ := dialCtl(t, e.srv.Addr())
	r.expect("AUTH TLS", 234)
	tc := tls.Client(r.c, old)
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err == nil {
		t.Fatalf("explicit TLS: TLS 1.1 accepted (%x)", tc.ConnectionState().Version)
	} else if !strings.Contains(err.Error(), "protocol version") {
		t.Fatalf("explicit TLS 1.1: %v", err)
	}
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(r.c); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("explicit TLS: the connection is still open after a refused handshake")
	}
	if !strings.Contains(e.logs.String(), "TLS handshake failed") {
		t.Fatal("the refused handshake was not logged")
	}
}

// With RequireTLS, nothing logs in or transfers in clear text.
func TestRequireTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{cfg: func(c *ftp.Config) { c.RequireTLS = true }})
	r, _, _ := dialCtl(t, e.srv.Addr())
	if msg := r.expect("USER alice", 530); !strings.Contains(msg, "AUTH TLS") {
		t.Fatalf("USER in clear: %q", msg)
	}
	r.expect("PASS alice-pw", 530)
	r.expect("PROT P", 503)
	r.expect("AUTH XYZ", 504)
	r.expect("AUTH TLS", 234)
	tc := tls.Client(r.c, clientTLS())
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	r = &ctl{t: t, c: tc, tp: textproto.NewConn(tc)}
	r.expect("AUTH TLS", 503)
	r.expect("USER alice", 331)
	r.expect("PASS alice-pw", 230)
	r.expect("PBSZ 0", 200)
	r.expect("LIST /", 521)
	r.expect("PROT C", 534)
	r.expect("PROT P", 200)
	r.expect("QUIT", 221)

	// A real client that asks for TLS works.
	cl := e.dialAs(e.srv.Addr(), "alice", "alice-pw", ftpc.DialWithExplicitTLS(clientTLS()))
	if err := cl.Stor("/x", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
}

// Without certificate files, every node presents the same self-signed
// certificate, kept in the shared store; with files, the files'.
func TestCertificates(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{})
	first := presented(t, e.srv.ImplicitAddr())
	e2 := newEnv(t, options{store: e.store})
	if second := presented(t, e2.srv.ImplicitAddr()); !bytes.Equal(first.Raw, second.Raw) {
		t.Fatal("two nodes present different self-signed certificates")
	}
	stored, err := e.store.GetSecret(context.Background(), ftp.SelfSignedSecret)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(stored)
	if b == nil || !bytes.Equal(b.Bytes, first.Raw) {
		t.Fatal("the presented certificate is not the stored one")
	}
	if !strings.Contains(e.logs.String(), "self-signed certificate") {
		t.Fatal("no warning about the self-signed certificate")
	}

	dir := t.TempDir()
	certFile, keyFile, want := writeCert(t, dir)
	e3 := newEnv(t, options{cfg: func(c *ftp.Config) { c.CertFile, c.KeyFile = certFile, keyFile }})
	if got := presented(t, e3.srv.ImplicitAddr()); !bytes.Equal(got.Raw, want) {
		t.Fatal("the configured certificate is not presented")
	}
	// Explicit TLS presents it too.
	r, _, _ := dialCtl(t, e3.srv.Addr())
	r.expect("AUTH TLS", 234)
	tc := tls.Client(r.c, clientTLS())
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tc.ConnectionState().PeerCertificates[0].Raw, want) {
		t.Fatal("AUTH TLS: wrong certificate")
	}
}

func presented(t *testing.T, addr string) *x509.Certificate {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, clientTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st := c.ConnectionState()
	if st.Version < tls.VersionTLS12 {
		t.Fatalf("TLS version %x", st.Version)
	}
	return st.PeerCertificates[0]
}

func writeCert(t *testing.T, dir string) (string, string, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "ftp.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"ftp.example"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile, der
}
