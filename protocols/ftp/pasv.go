package ftp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"
)

// DefaultEC2MetadataEndpoint is the EC2 instance metadata service.
const DefaultEC2MetadataEndpoint = "http://169.254.169.254"

// imdsTimeout bounds the whole metadata discovery at start.
const imdsTimeout = 5 * time.Second

// discoverPublicIP returns the address announced in PASV replies: the
// configured one, else the instance's public IPv4 from EC2 metadata when
// configured so, else the zero Addr (each PASV then announces the local
// address of its control connection).
func (s *Server) discoverPublicIP(ctx context.Context) (netip.Addr, error) {
	if s.cfg.PublicIP != "" {
		a, err := netip.ParseAddr(s.cfg.PublicIP)
		if err != nil || !a.Unmap().Is4() {
			return netip.Addr{}, fmt.Errorf("ftp: public_ip %q is not an IPv4 address", s.cfg.PublicIP)
		}
		return a.Unmap(), nil
	}
	if !s.cfg.PublicIPFromEC2 {
		return netip.Addr{}, nil
	}
	endpoint := s.cfg.EC2MetadataEndpoint
	if endpoint == "" {
		endpoint = DefaultEC2MetadataEndpoint
	}
	a, err := ec2PublicIPv4(ctx, endpoint)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("ftp: discovering the public IPv4 from EC2 instance metadata: %w", err)
	}
	s.log.Info("public address discovered from EC2 instance metadata", "public_ip", a.String())
	return a, nil
}

// ec2PublicIPv4 asks the instance metadata service for the instance's
// public IPv4 with IMDSv2: a session token first (PUT), then the address
// with the token. There is no fallback to IMDSv1.
func ec2PublicIPv4(ctx context.Context, endpoint string) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, imdsTimeout)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{Proxy: nil}} // metadata never goes through a proxy
	defer client.CloseIdleConnections()
	base := strings.TrimRight(endpoint, "/")

	token, err := imdsCall(ctx, client, http.MethodPut, base+"/latest/api/token",
		"X-aws-ec2-metadata-token-ttl-seconds", "60")
	if err != nil {
		return netip.Addr{}, fmt.Errorf("token: %w", err)
	}
	body, err := imdsCall(ctx, client, http.MethodGet, base+"/latest/meta-data/public-ipv4",
		"X-aws-ec2-metadata-token", token)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("public-ipv4: %w", err)
	}
	a, err := netip.ParseAddr(strings.TrimSpace(body))
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("public-ipv4: %q is not an IPv4 address", body)
	}
	return a, nil
}

func imdsCall(ctx context.Context, client *http.Client, method, url, header, value string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set(header, value)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s %s: %s", method, url, resp.Status)
	}
	return string(body), nil
}

// errNoIPv4 answers PASV on a control connection without an IPv4 address
// when no public address is configured.
var errNoIPv4 = reply(msgNoIPv4)

// pasvIP is the library's PublicIPResolver: the public address, else the
// local IPv4 address of the control connection.
func (s *Server) pasvIP(cc ftpserver.ClientContext) (string, error) {
	if s.publicIP.IsValid() {
		return s.publicIP.String(), nil
	}
	if a, ok := cc.LocalAddr().(*net.TCPAddr); ok {
		if ip := a.IP.To4(); ip != nil {
			return ip.String(), nil
		}
	}
	return "", errNoIPv4
}

// dataListener wraps the library's passive listeners: every data
// connection fails when it stays idle (no byte moved) for the idle timeout,
// so a stalled client cannot hold a transfer, and an upload, open forever;
// a slow client that keeps reading or sending is never cut off.
type dataListener struct {
	net.Listener
	idle time.Duration
}

func (l *dataListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &dataConn{Conn: c, idle: l.idle}, nil
}

type dataConn struct {
	net.Conn
	idle time.Duration
}

func (c *dataConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

// SyscallConn exposes the TCP connection, so that an upload to a local
// disk can be spliced into its file. upload.ReadFrom only splices the
// bytes pending says have arrived, so such reads never wait, and every
// wait goes through Read and its idle timer.
func (c *dataConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}

// pending returns the number of bytes received and not yet read (0 when
// unknown). c may be nil.
func (c *dataConn) pending() int {
	if c == nil {
		return 0
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	return pendingBytes(rc)
}

// progressChecks is how many times per idle timeout a blocked Write looks
// for progress.
const progressChecks = 4

// Write fails only when no byte has moved for the idle timeout: none taken
// by the kernel and, where the system tells, none acknowledged by the
// client. A deadline on the whole Write would fail a large write to a
// slow client that keeps reading; and the kernel wakes a blocked writer
// only once about a third of the send buffer (megabytes) is free, which
// takes a slow reader a long time, so smaller writes would not help
// either. So a Write that has waited a quarter of the idle timeout looks
// at the socket's unacknowledged bytes, and goes on while they move. A
// stall fails within a quarter of the timeout after the timeout; a fast
// transfer makes the same system calls as without a deadline.
func (c *dataConn) Write(p []byte) (int, error) {
	var done int
	now := time.Now()
	moved := now // when a byte last moved, as far as we know
	queued := -1 // the unacknowledged bytes at the last look; -1 before the first
	for {
		if err := c.Conn.SetWriteDeadline(now.Add(c.idle / progressChecks)); err != nil {
			return done, err
		}
		n, err := c.Conn.Write(p[done:])
		done += n
		if err == nil || !isTimeout(err) {
			return done, err
		}
		now = time.Now()
		if q := c.unacked(); q >= 0 {
			if q != queued { // the first look counts too: the kernel may not have woken us for a while
				moved = now
			}
			queued = q
		}
		if n > 0 {
			moved = now
		}
		if now.Sub(moved) >= c.idle {
			return done, err
		}
	}
}

// unacked returns the bytes written to the connection and not yet
// acknowledged by the peer, or -1 when unknown.
func (c *dataConn) unacked() int {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1
	}
	return unackedBytes(rc)
}

// Active-mode data connections are dialled by the library itself, so no
// dataListener wraps them. Downloads, uploads and listings see the
// connection (the library's copy hands it to their WriteTo or ReadFrom;
// TYPE A is converted by them, not by the library) and put the same idle
// timer on it with guardConn: a plain connection becomes a dataConn; a TLS
// one, on which a timed-out write cannot be retried, gets a deadline per
// TLS record's worth of bytes.

// tlsPiece is what one write to an active TLS connection sends under one
// deadline: a TLS record's payload, so the writes are those the
// connection would make anyway.
const tlsPiece = 16 << 10

// guardConn returns the data connection c under the idle timer: c itself
// when it has one already, else a wrapper; nil when c is not a
// connection. It also returns the dataConn, if any, for the
// splice of uploads to a local disk.
func guardConn(c any, idle time.Duration) (io.ReadWriter, *dataConn) {
	switch c := c.(type) {
	case *dataConn:
		return c, c
	case *tls.Conn:
		if _, ok := c.NetConn().(*dataConn); ok {
			return c, nil
		}
		return &tlsDeadlines{c: c, idle: idle}, nil
	case net.Conn:
		// A *net.TCPConn, or (an upload, which the library copies with
		// the connection's WriteTo) net's wrapper of one without WriteTo.
		dc := &dataConn{Conn: c, idle: idle}
		return dc, dc
	}
	return nil, nil
}

// dataWriter returns w, a download's or a listing's data connection,
// under the idle timer (see guardConn).
func (d *driver) dataWriter(w io.Writer) io.Writer {
	if g, _ := guardConn(w, d.sess.srv.cfg.IdleTimeout); g != nil {
		return g
	}
	return w
}

// tlsDeadlines puts the idle timer on an active TLS data connection: every
// Read, and every tlsPiece of a Write, must move within it.
type tlsDeadlines struct {
	c    *tls.Conn
	idle time.Duration
}

func (t *tlsDeadlines) Read(p []byte) (int, error) {
	if err := t.c.SetReadDeadline(time.Now().Add(t.idle)); err != nil {
		return 0, err
	}
	return t.c.Read(p)
}

func (t *tlsDeadlines) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		if err := t.c.SetWriteDeadline(time.Now().Add(t.idle)); err != nil {
			return done, err
		}
		n, err := t.c.Write(p[done:min(len(p), done+tlsPiece)])
		done += n
		if err != nil {
			// The TLS stream is broken; closing the connection under it
			// spares the library's Close the 5 s crypto/tls may wait to
			// send its close_notify into a peer that reads nothing (seen
			// in TestActiveIdle under load).
			_ = t.c.NetConn().Close()
			return done, err
		}
	}
	return done, nil
}
