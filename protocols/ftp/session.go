package ftp

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/wharf-gw/wharf/auth"
)

// Timeouts of admission.
const (
	admitTimeout  = 5 * time.Second // the ban check
	refuseTimeout = 5 * time.Second // writing the 421 (and the TLS handshake before it)
)

// session is one control connection, from admission to disconnection.
type session struct {
	srv    *Server
	ep     *endpoint
	ctrl   *ctrlConn
	remote netip.AddrPort
	reg    *auth.Conn
	log    *slog.Logger // replaced by login under mu: other goroutines read it under mu

	// ctx is the context of every storage call of the session; it is
	// cancelled when the client is gone (afero has no contexts).
	ctx      context.Context
	cancel   context.CancelFunc
	gone     chan struct{}
	goneOnce sync.Once
	endOnce  sync.Once

	ascii atomic.Bool // TYPE A: transfers convert line ends (see ascii.go)

	mu           sync.Mutex
	user         string
	timer        *time.Timer  // login timeout
	upload       *upload      // the upload in progress, for ABOR
	transferring bool         // a transfer whose final reply is not sent yet
	aborted      bool         // an ABOR came during it
	onEnd        endFunc      // audits it once its final reply is known; may be nil
	listSeq      uint64       // numbers listing requests
	listReq      *listRequest // the listing the next RETR stands for
	started      time.Time    // when the client connected (LIST's date format)
}

// endFunc is told how a transfer ended: the code of its final reply (0
// when none was sent: the client was gone), and whether an ABOR came
// during it.
type endFunc func(reply int, aborted bool)

func newSession(srv *Server, ep *endpoint, raw net.Conn, remote netip.AddrPort) *session {
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{srv: srv, ep: ep, remote: remote, log: srv.log, ctx: ctx, cancel: cancel, gone: make(chan struct{}), started: time.Now()}
	var implicit *tls.Config
	if ep.implicit {
		implicit = srv.tls
	}
	s.ctrl = newCtrlConn(raw, s, implicit)
	return s
}

// connected starts the login timeout once the library serves the client.
func (s *session) connected(ftpserver.ClientContext) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timer = time.AfterFunc(s.srv.cfg.LoginTimeout, func() {
		if in, log := s.loginState(); !in {
			log.Info("login timeout: closing the connection")
			s.close()
		}
	})
}

// markGone records that the client is gone: storage calls of the session
// are cancelled and uploads in progress are not stored.
func (s *session) markGone() {
	s.goneOnce.Do(func() {
		close(s.gone)
		s.cancel()
	})
}

func (s *session) isGone() bool {
	select {
	case <-s.gone:
		return true
	default:
		return false
	}
}

// close ends the connection at once: kick, drain, timeouts. It is the
// close function registered with the registry.
func (s *session) close() {
	s.markGone()
	s.ctrl.closeNow()
}

// end runs when the library is done with the connection (it may run
// before a transfer's Close).
func (s *session) end() {
	s.endOnce.Do(func() {
		s.markGone()
		s.mu.Lock()
		if s.timer != nil {
			s.timer.Stop()
		}
		onEnd, aborted := s.onEnd, s.aborted
		s.transferring, s.onEnd = false, nil
		s.mu.Unlock()
		if onEnd != nil {
			onEnd(0, aborted) // its reply never went out
		}
		if s.reg != nil {
			s.reg.Close()
		}
		s.srv.removeSession(s)
		level := slog.LevelDebug
		in, log := s.loginState()
		if in {
			level = slog.LevelInfo
		}
		log.Log(context.Background(), level, "disconnected")
	})
}

// login authenticates the user, registers the login (per-user limit) and
// opens the user's storage session.
func (s *session) login(user, pass string) (ftpserver.ClientDriver, error) {
	proto := "ftp"
	if s.ctrl.isTLS() {
		proto = "ftps"
	}
	p, err := s.srv.deps.Auth.Password(s.ctx, auth.LoginInfo{Protocol: proto, Remote: s.remote.Addr()}, user, pass)
	switch {
	case errors.Is(err, auth.ErrBanned):
		return nil, errBanned // auth logged it; 421 and disconnect
	case errors.Is(err, auth.ErrUnavailable):
		return nil, errLoginDown
	case err != nil:
		return nil, errLoginFailed // auth logged why
	}
	if err := s.reg.Login(p.User, p.Limits.MaxSessions); err != nil {
		s.log.Info("login refused", "user", p.User, "reason", err)
		return nil, errUserLimit
	}
	fs, err := s.srv.deps.VFS.Session(p.User, p.Policy)
	if err != nil {
		s.log.Error("cannot open the user's storage session", "user", p.User, "err", err)
		return nil, errLoginDown
	}
	s.mu.Lock()
	s.user = p.User
	if s.timer != nil {
		s.timer.Stop()
	}
	s.log = s.log.With("user", p.User)
	log := s.log
	s.mu.Unlock()
	log.Info("logged in", "protocol", proto)
	return &driver{sess: s, fs: fs, log: log}, nil
}

// loginState reports whether a user has logged in on the session, and
// the session's logger (login replaces it).
func (s *session) loginState() (bool, *slog.Logger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.user != "", s.log
}

func (s *session) loggedIn() bool { in, _ := s.loginState(); return in }

// startTransfer records a transfer in the registry; it ends when its final
// reply has been sent (see replied), so that a drain never cuts a client
// off before it has read whether its upload was stored. onEnd, if not nil,
// is then told how it ended.
func (s *session) startTransfer(kind, path string, onEnd endFunc) {
	s.mu.Lock()
	prev := s.onEnd // a transfer whose reply could not be written
	s.transferring, s.aborted, s.onEnd = true, false, onEnd
	s.mu.Unlock()
	if prev != nil {
		prev(0, false)
	}
	s.reg.StartTransfer(kind, path)
}

// replied is called after each final reply line was written; the one that
// ends a transfer in progress ends it in the registry.
//
// A transfer ends with its 226 or its error (4xx, 5xx), or, for STAT of a
// directory, 212 or 213. While a transfer is under way the library answers
// two other commands only: STAT without argument, whose 211 is skipped
// here, and ABOR, whose 426 answers the transfer and ends it; ABOR's own
// 226 follows, and ends the transfer only when its data connection was
// not open yet (no other reply comes for it then).
func (s *session) replied(code int) {
	if code < 200 || code == 211 {
		return
	}
	s.mu.Lock()
	was, onEnd, aborted := s.transferring, s.onEnd, s.aborted
	s.transferring, s.onEnd = false, nil
	s.mu.Unlock()
	if !was {
		return
	}
	if onEnd != nil {
		onEnd(code, aborted)
	}
	s.reg.EndTransfer()
}

func (s *session) setUpload(u *upload) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.upload = u
}

func (s *session) clearUpload(u *upload) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.upload == u {
		s.upload = nil
	}
}

// abortTransfer records an ABOR: the upload in progress is discarded, and
// the transfer in progress is audited as aborted unless it completed.
func (s *session) abortTransfer() {
	s.mu.Lock()
	u := s.upload
	if s.transferring {
		s.aborted = true
	}
	s.mu.Unlock()
	if u != nil {
		u.fail(errAbort)
	}
}

// settle waits d and reports whether the client's control connection is
// still open after it: a live client keeps it open to read the reply to its
// upload; a dying one closes it with, or just after, its data connection.
func (s *session) settle(d time.Duration) bool {
	if s.isGone() || s.ctrl.peekGone() {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.gone:
		return false
	case <-t.C:
	}
	return !s.isGone() && !s.ctrl.peekGone()
}

// activeAllowed reports whether PORT/EPRT may connect to t: the control
// connection's address only, on a port of 1024 or more.
func (s *session) activeAllowed(t netip.AddrPort) bool {
	return t.Addr().Unmap() == s.remote.Addr() && t.Port() >= 1024
}

func connKey(local, remote net.Addr) string { return local.String() + "|" + remote.String() }

func addrPortOf(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		ap := t.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// admitListener is the listener the library serves. It accepts TCP
// connections, refuses with 421 those of banned addresses and those the
// registry refuses (draining, over a limit) — the library can only answer
// 500 — and hands the library the admitted ones wrapped in a ctrlConn.
// Admission runs on its own goroutine per connection, so a slow ban check
// never holds the accept loop.
type admitListener struct {
	net.Listener
	ep    *endpoint
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newAdmitListener(l net.Listener, ep *endpoint) *admitListener {
	a := &admitListener{Listener: l, ep: ep, conns: make(chan net.Conn), done: make(chan struct{})}
	go a.run()
	return a
}

func (a *admitListener) run() {
	var delay time.Duration
	for {
		raw, err := a.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				_ = a.Close()
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			a.ep.srv.log.Warn("accept failed", "listener", a.ep.name, "err", err, "retry_in", delay)
			select {
			case <-a.done:
				return
			case <-time.After(delay):
			}
			continue
		}
		delay = 0
		go a.admit(raw)
	}
}

func (a *admitListener) Accept() (net.Conn, error) {
	select {
	case c := <-a.conns:
		return c, nil
	case <-a.done:
		// The library stops serving quietly on exactly this error.
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: a.Listener.Addr(), Err: net.ErrClosed}
	}
}

func (a *admitListener) Close() error {
	var err error
	a.once.Do(func() {
		close(a.done)
		err = a.Listener.Close()
	})
	return err
}

func (a *admitListener) admit(raw net.Conn) {
	srv := a.ep.srv
	remote := addrPortOf(raw.RemoteAddr())
	log := srv.log.With("listener", a.ep.name, "remote", remote.String())
	// Until the library's first read sets the idle deadline; it also bounds
	// the implicit TLS handshake.
	_ = raw.SetDeadline(time.Now().Add(srv.cfg.LoginTimeout))

	ctx, cancel := context.WithTimeout(context.Background(), admitTimeout)
	err := srv.deps.Auth.Defender().Check(ctx, remote.Addr())
	cancel()
	if err != nil {
		log.Info("connection refused", "reason", err)
		a.refuse(raw, msgBanned)
		return
	}
	sess := newSession(srv, a.ep, raw, remote)
	reg, err := srv.deps.Registry.Open(a.ep.name, remote, sess.close)
	if err != nil {
		log.Info("connection refused", "reason", err)
		msg := "Service not available, try again later."
		switch {
		case errors.Is(err, auth.ErrDraining):
			msg = "Server shutting down: please connect again."
		case errors.Is(err, auth.ErrTooMany):
			msg = "Too many connections, try again later."
		}
		a.refuse(raw, msg)
		return
	}
	sess.reg = reg
	sess.log = log.With("session", reg.ID())
	log = sess.log // the session's own is the library's once it has the connection (login adds the user)
	srv.addSession(sess)
	key := connKey(raw.LocalAddr(), raw.RemoteAddr())
	srv.pending.Store(key, sess)
	select {
	case a.conns <- sess.ctrl:
		log.Debug("connected")
	case <-a.done:
		srv.pending.Delete(key)
		sess.close()
		sess.end()
	}
}

// refuse answers 421 and closes the connection.
func (a *admitListener) refuse(raw net.Conn, msg string) {
	_ = raw.SetDeadline(time.Now().Add(refuseTimeout))
	w := raw
	if a.ep.implicit {
		w = tls.Server(raw, a.ep.srv.tls)
	}
	_, _ = w.Write([]byte("421 " + msg + "\r\n"))
	_ = w.Close()
}
