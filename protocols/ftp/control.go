package ftp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ctrlConn is the control connection as ftpserverlib sees it. It sits
// between the client and the library and sees every command and reply in
// clear text, which the library gives its driver no hook for:
//
//   - It performs AUTH TLS itself (the library would wrap the connection
//     where nothing below it can read commands), so the rules below hold
//     on FTPS control connections too.
//   - It enforces the listener's TLS policy: no USER/PASS before AUTH TLS,
//     no data transfer without PROT P, when TLS is required.
//   - It refuses FTP bounce attempts: PORT/EPRT to another address than
//     the control peer's, or to a port below 1024 (the library checks only
//     the address), and answers PORT/EPRT with 502 when active mode is off.
//     Its parser is the only one: an argument it does not accept is
//     refused, and the library gets the target rewritten in a canonical
//     form, so its looser parser cannot read another one.
//   - It refuses, with 501 and a plain message, the arguments the library
//     would misread or answer with Go error text (REST, MFMT), PASS
//     before USER, and answers ALLO itself.
//   - It notices at once when the client goes away (EOF, reset), which an
//     upload's commit depends on (see upload.Close).
//   - It sets the reply codes the library cannot: 451 for a backend
//     outage or a file changed under an append, 421 for a ban or a refused login, 426 for a broken data
//     connection, 553 for an invalid name on every command; and it strips
//     the library's internal error prefixes and replaces the Go errors of
//     its own that it would send (network errors, a recovered panic).
//
// Reads happen on the library's command goroutine only; writes come from
// it and from transfer goroutines.
type ctrlConn struct {
	raw  net.Conn // the TCP connection
	sess *session

	mu       sync.Mutex
	inner    net.Conn // raw, or TLS over raw
	tls      bool
	protP    bool
	deadline time.Time // the library's last SetDeadline

	// read side (command goroutine only)
	rbuf []byte // bytes read, not yet split into lines
	out  []byte // lines ready for the library
	rerr error  // error to return once out is drained

	user bool // a USER was passed on (command goroutine only)

	wmu  sync.Mutex
	wbuf []byte // an incomplete reply line
}

// Line and reply limits. The library drops clients whose command lines
// exceed 4096 bytes; longer lines are passed to it unexamined.
const (
	maxCommandLine   = 4096
	handshakeTimeout = 30 * time.Second
	writeTimeout     = 30 * time.Second // a client that reads no reply for this long is gone
)

func newCtrlConn(raw net.Conn, sess *session, tlsConfig *tls.Config) *ctrlConn {
	c := &ctrlConn{raw: raw, sess: sess, inner: raw}
	if tlsConfig != nil { // implicit TLS: the handshake runs on first use
		c.inner, c.tls = tls.Server(raw, tlsConfig), true
	}
	return c
}

func (c *ctrlConn) conn() net.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inner
}

// isTLS reports whether the control connection is encrypted.
func (c *ctrlConn) isTLS() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tls
}

// Read returns the client's command lines, after applying the rules above
// to each of them.
func (c *ctrlConn) Read(p []byte) (int, error) {
	var buf [maxCommandLine]byte
	for len(c.out) == 0 {
		if i := bytes.IndexByte(c.rbuf, '\n'); i >= 0 {
			line := string(c.rbuf[:i+1])
			c.rbuf = append(c.rbuf[:0], c.rbuf[i+1:]...)
			if err := c.command(line); err != nil {
				c.sess.markGone()
				c.rerr = err
				return 0, err
			}
			continue
		}
		if len(c.rbuf) >= maxCommandLine {
			c.out, c.rbuf = append(c.out, c.rbuf...), c.rbuf[:0]
			break
		}
		if err := c.rerr; err != nil {
			if isTimeout(err) {
				c.rerr = nil // the library's idle timeout: the connection may go on
			}
			return 0, err
		}
		n, err := c.conn().Read(buf[:])
		c.rbuf = append(c.rbuf, buf[:n]...)
		if err != nil {
			if !isTimeout(err) {
				c.sess.markGone() // EOF, reset, broken TLS: the client is gone
			}
			c.rerr = err
		}
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// command applies the rules to one command line and queues it for the
// library, or answers it itself. An error ends the connection.
func (c *ctrlConn) command(line string) error {
	verb, arg := splitCommand(line)
	c.mu.Lock()
	isTLS, protP := c.tls, c.protP
	c.mu.Unlock()
	s := c.sess
	requireTLS := s.ep.requireTLS && !s.ep.implicit
	switch verb {
	case "AUTH":
		return c.authTLS(arg)
	case "USER", "PASS":
		if requireTLS && !isTLS {
			c.reply(530, "TLS is required on this server: send AUTH TLS first.")
			return nil
		}
		switch {
		case verb == "USER" && strings.TrimSpace(arg) == "":
			c.reply(501, "USER needs a user name.")
			return nil
		case verb == "USER":
			c.user = true
		case !c.user: // the library would try to log in a user without a name
			c.reply(503, "Login with USER first.")
			return nil
		}
	case "PBSZ", "PROT":
		if !isTLS {
			c.reply(503, "Send AUTH TLS first.")
			return nil
		}
		if verb == "PROT" {
			switch strings.ToUpper(arg) {
			case "P":
				protP = true
			case "C":
				if requireTLS {
					c.reply(534, "Data connections must be encrypted on this server: use PROT P.")
					return nil
				}
				protP = false
			default:
				c.reply(504, "Only PROT P and PROT C are supported.")
				return nil
			}
			c.mu.Lock()
			c.protP = protP
			c.mu.Unlock()
		}
	case "PORT", "EPRT":
		if !s.srv.cfg.ActiveMode {
			c.reply(502, "Active mode is disabled: use passive mode (PASV or EPSV).")
			return nil
		}
		target, ok := parseActive(verb, arg)
		if !ok {
			// The library's looser parser reads some of these as privileged
			// ports ("+25", a field above 255): an attempt too.
			s.log.Warn("FTP bounce attempt refused: malformed address", "command", verb, "arg", arg)
			c.reply(501, "Syntax error: use PORT h1,h2,h3,h4,p1,p2 or EPRT |1|address|port| (|2| for IPv6).")
			return nil
		}
		if !s.activeAllowed(target) {
			s.log.Warn("FTP bounce attempt refused", "command", verb, "target", target.String())
			c.reply(501, "Active mode connects only to your own address, on a port of 1024 or more.")
			return nil
		}
		line = activeLine(verb, target)
	case "TYPE":
		if ascii, ok := transferType(arg); ok && s.loggedIn() { // the library refuses TYPE before login
			s.ascii.Store(ascii)
		}
	case "SIZE":
		if s.ascii.Load() {
			c.reply(550, "SIZE is not allowed in ASCII mode: send TYPE I first.")
			return nil
		}
	case "REST":
		if !isOffset(arg) {
			c.reply(501, "REST needs a byte offset: a non-negative decimal integer.")
			return nil
		}
		if s.ascii.Load() {
			c.reply(501, "Resuming transfers is not allowed in ASCII mode: send TYPE I first.")
			return nil
		}
	case "MFMT":
		if msg := checkMFMT(arg); msg != "" {
			c.reply(501, msg)
			return nil
		}
	case "ALLO":
		c.reply(202, "No storage allocation is needed on this server.")
		return nil
	case "RETR", "STOR", "APPE", "STOU", "LIST", "NLST", "MLSD":
		if requireTLS && !protP {
			c.reply(521, "Data connections must be encrypted on this server: send PROT P.")
			return nil
		}
	}
	if strings.HasSuffix(verb, "ABOR") { // clients may prefix Telnet IP/Synch bytes
		s.abortTransfer()
	}
	switch verb {
	case "LIST", "NLST", "MLSD":
		line = s.queueListing(verb, arg) // streamed: see openListing
	}
	c.out = append(c.out, line...)
	return nil
}

// splitCommand returns the upper-cased verb and the argument of a line.
func splitCommand(line string) (string, string) {
	line = strings.TrimRight(line, "\r\n")
	verb, arg, _ := strings.Cut(line, " ")
	return strings.ToUpper(verb), arg
}

// authTLS answers AUTH and turns the connection into TLS (RFC 4217).
func (c *ctrlConn) authTLS(arg string) error {
	cfg := c.sess.srv.tls
	switch mech := strings.ToUpper(strings.TrimSpace(arg)); {
	case cfg == nil:
		c.reply(502, "TLS is not available on this server.")
		return nil
	case c.isTLS():
		c.reply(503, "TLS is already active.")
		return nil
	case mech != "TLS" && mech != "SSL" && mech != "TLS-C" && mech != "TLS-P":
		c.reply(504, "Unsupported security mechanism: use AUTH TLS.")
		return nil
	}
	c.reply(234, "AUTH TLS successful: start the TLS handshake.")
	// Bytes the client sent after the command already belong to TLS.
	pre := append([]byte(nil), c.rbuf...)
	c.rbuf = c.rbuf[:0]
	tc := tls.Server(&prefixConn{Conn: c.raw, pre: pre}, cfg)
	c.mu.Lock()
	restore := c.deadline
	c.mu.Unlock()
	_ = c.raw.SetDeadline(time.Now().Add(handshakeTimeout))
	err := tc.HandshakeContext(context.Background())
	_ = c.raw.SetDeadline(restore)
	if err != nil {
		c.sess.log.Info("TLS handshake failed", "err", err)
		return err
	}
	c.mu.Lock()
	c.inner, c.tls, c.protP = tc, true, false
	c.mu.Unlock()
	c.sess.log.Debug("control connection encrypted", "tls", tls.VersionName(tc.ConnectionState().Version))
	return nil
}

// reply writes one reply of this connection's own.
func (c *ctrlConn) reply(code int, msg string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.raw.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, _ = c.conn().Write([]byte(strconv.Itoa(code) + " " + msg + "\r\n"))
}

// Write sends the library's replies, rewritten line by line (see
// rewriteReply).
func (c *ctrlConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = append(c.wbuf, p...)
	end := bytes.LastIndexByte(c.wbuf, '\n')
	if end < 0 && len(c.wbuf) < 64<<10 {
		return len(p), nil // the rest of the line follows
	}
	var out []byte
	var finals []int
	for rest := c.wbuf[:end+1]; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		line := string(rest[:i+1])
		rest = rest[i+1:]
		line, code := rewriteReply(line)
		out = append(out, line...)
		if code > 0 {
			finals = append(finals, code)
		}
	}
	if end < 0 { // an endless line: pass it on
		out, end = c.wbuf, len(c.wbuf)-1
	}
	c.wbuf = append(c.wbuf[:0], c.wbuf[end+1:]...)
	_ = c.raw.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := c.conn().Write(out); err != nil {
		if c.sess.isGone() {
			return len(p), nil // nobody is listening: not worth the library's warning
		}
		return 0, err
	}
	for _, code := range finals {
		c.sess.replied(code)
	}
	return len(p), nil
}

// Prefixes the library puts before our error messages; they tell the
// client nothing.
var libraryPrefixes = []string{
	"driver error: calling GetHandle: ",
	"driver error: calling OpenFile: ",
	"file access error: couldn't stat: ",
	"file access error: couldn't open directory: ",
	"network error: error transferring data: ",
	"Authentication error: ",
}

// Replies of the library that may end in a Go error of its own (network
// errors naming our addresses, a recovered panic): what follows the
// prefix is replaced by text, unless it is one of our messages.
var libraryErrors = []struct{ prefix, text string }{
	{"Issue during transfer: ", "Issue during transfer: " + msgDataFailed},
	{"Issue during transfer close: ", "Issue during transfer close: " + msgDataFailed},
	{"Could not listen for passive connection: ", "Could not listen for passive connection: " + msgNoPassive},
	{"Unhandled internal error: ", msgInternal},
}

// rewriteReply rewrites one reply line and returns it with its code when
// it is the final line of a reply (0 otherwise).
func rewriteReply(line string) (string, int) {
	if len(line) < 4 || (line[3] != ' ' && line[3] != '-') {
		return line, 0 // a continuation line of a multi-line reply
	}
	code, err := strconv.Atoi(line[:3])
	if err != nil {
		return line, 0
	}
	final := line[3] == ' '
	if code < 400 {
		if final {
			return line, code
		}
		return line, 0
	}
	text := strings.TrimRight(line[4:], "\r\n")
	for _, p := range libraryPrefixes {
		text = strings.Replace(text, p, "", 1)
	}
	for _, le := range libraryErrors {
		if rest, ok := strings.CutPrefix(text, le.prefix); ok && !ourMessage(rest) {
			text = le.text
		}
	}
	if code == 425 && !ourMessage(text) { // the error of opening the data connection
		text = msgDataOpen
	}
	switch {
	case (code == 550 || code == 450) && (strings.HasSuffix(text, msgUnavailable) || strings.HasSuffix(text, msgChanged)):
		code = 451
	case code == 530 && (text == msgBanned || text == msgLoginDown || text == msgUserSessions):
		code = 421
	case code == 550 && (strings.HasSuffix(text, msgDataFailed) || strings.HasSuffix(text, msgAborted)):
		code = 426
	case (code == 550 || code == 450) && strings.HasSuffix(text, msgInvalidName):
		code = 553 // as the library answers STOR, APPE and RNTO, on every command
	case code == 550 && strings.HasSuffix(text, msgInvalidArgument):
		code = 501
	}
	line = strconv.Itoa(code) + line[3:4] + text + "\r\n"
	if !final {
		return line, 0
	}
	return line, code
}

func (c *ctrlConn) Close() error {
	c.sess.markGone()
	return c.conn().Close() // TLS sends close_notify (bounded by crypto/tls)
}

// closeNow closes the TCP connection at once (kick, drain, timeouts).
func (c *ctrlConn) closeNow() { _ = c.raw.Close() }

func (c *ctrlConn) LocalAddr() net.Addr  { return c.raw.LocalAddr() }
func (c *ctrlConn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// SetDeadline is the library's idle timer. It bounds reads only: a reply
// due just as it expires (the end of a transfer that started when the
// timer did) must still go out. Writes have a deadline of their own,
// writeTimeout from each write.
func (c *ctrlConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return c.raw.SetReadDeadline(t)
}

func (c *ctrlConn) SetReadDeadline(t time.Time) error  { return c.raw.SetReadDeadline(t) }
func (c *ctrlConn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }

// peekGone reports whether the client has already closed or reset the
// control connection, without consuming anything: the library's reader may
// not have run yet.
func (c *ctrlConn) peekGone() bool { return peekClosed(c.raw) }

// prefixConn returns pre before reading from Conn.
type prefixConn struct {
	net.Conn
	pre []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// parseActive returns the target of a PORT or EPRT argument (RFC 959,
// RFC 2428); ok is false unless it is well-formed: exactly six decimal
// fields of 0 to 255 for PORT; for EPRT, the network protocol 1 with an
// IPv4 address or 2 with an IPv6 one (no zone), and a decimal port of 1 to
// 65535. Decimal means ASCII digits only: no sign, no spaces.
func parseActive(verb, arg string) (netip.AddrPort, bool) {
	arg = strings.TrimSpace(arg)
	if verb == "PORT" {
		f := strings.Split(arg, ",")
		if len(f) != 6 {
			return netip.AddrPort{}, false
		}
		var b [6]byte
		for i, s := range f {
			v, ok := decimal(s, 255)
			if !ok {
				return netip.AddrPort{}, false
			}
			b[i] = byte(v)
		}
		port := uint16(b[4])<<8 | uint16(b[5])
		if port == 0 {
			return netip.AddrPort{}, false
		}
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[:4])), port), true
	}
	// EPRT <d><proto><d><addr><d><port><d>, the delimiter a character
	// that cannot occur in the fields.
	if len(arg) < 2 || arg[0] < 33 || arg[0] > 126 || strings.ContainsRune("0123456789abcdefABCDEF.:%", rune(arg[0])) {
		return netip.AddrPort{}, false
	}
	f := strings.Split(arg, arg[:1])
	if len(f) != 5 || f[0] != "" || f[4] != "" {
		return netip.AddrPort{}, false
	}
	a, err := netip.ParseAddr(f[2])
	if err != nil || a.Zone() != "" || !(f[1] == "1" && a.Is4() || f[1] == "2" && a.Is6()) {
		return netip.AddrPort{}, false
	}
	port, ok := decimal(f[3], 65535)
	if !ok || port == 0 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, uint16(port)), true
}

// activeLine is the PORT or EPRT command for target, in the form the
// library reads exactly as parseActive did.
func activeLine(verb string, target netip.AddrPort) string {
	a, port := target.Addr(), int(target.Port())
	if verb == "PORT" {
		b := a.As4()
		return fmt.Sprintf("PORT %d,%d,%d,%d,%d,%d\r\n", b[0], b[1], b[2], b[3], port>>8, port&0xff)
	}
	proto := 1
	if a.Is6() {
		proto = 2
	}
	return fmt.Sprintf("EPRT |%d|%s|%d|\r\n", proto, a, port)
}

// digits reports whether s is one or more ASCII digits: no sign, no
// spaces, which strconv would take or the library would trim.
func digits(s string) bool {
	return s != "" && strings.TrimLeft(s, "0123456789") == ""
}

// decimal parses 1 to 5 ASCII digits, up to max.
func decimal(s string, max int) (int, bool) {
	if !digits(s) || len(s) > 5 {
		return 0, false
	}
	v, _ := strconv.Atoi(s)
	return v, v <= max
}

// isOffset reports whether a REST argument is a byte offset: a
// non-negative decimal integer that fits in an int64.
func isOffset(arg string) bool {
	_, err := strconv.ParseInt(arg, 10, 64)
	return digits(arg) && err == nil
}

// checkMFMT returns why an MFMT argument ("YYYYMMDDHHMMSS[.sss] path",
// RFC 3659 time-val, UTC) is refused, or "". A well-formed time the
// storage cannot hold is refused by the storage (ErrInvalidArgument, 501).
func checkMFMT(arg string) string {
	const syntax = "MFMT needs a valid time and a path: MFMT YYYYMMDDHHMMSS[.sss] path (UTC)."
	ts, name, _ := strings.Cut(arg, " ")
	secs, frac, hasFrac := strings.Cut(ts, ".")
	if name == "" || len(secs) != 14 || !digits(secs) || hasFrac && (len(frac) > 9 || !digits(frac)) {
		return syntax
	}
	if _, err := time.Parse("20060102150405", ts); err != nil { // the library's layout; it reads the fraction too
		return syntax // a month, day or hour that does not exist
	}
	return ""
}
