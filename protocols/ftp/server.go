// Package ftp is wharf's FTP and FTPS front end: ftpserverlib speaking the
// wire protocol, over one storage.Session per logged-in user.
//
// The library's defaults are unsafe for us in several ways (see
// LIBRARY_NOTES.md); this package sets binary transfers by default,
// disables SITE, limits active mode, and puts its own layer on each
// control connection (control.go) for what the library has no hook for:
// AUTH TLS, the TLS policy, bounce protection, reply codes, and knowing
// when a client has gone, on which uploads depend (file.go).
package ftp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/wharf-gw/wharf/auth"
	"github.com/wharf-gw/wharf/storage"
)

// Config configures the FTP front end. Zero durations and sizes take the
// defaults below.
type Config struct {
	// Listen is the address of the plain FTP listener, where clients may
	// upgrade to TLS with AUTH TLS ("" for none), e.g. ":2121".
	Listen string
	// ImplicitTLSListen is the address of the implicit FTPS listener (TLS
	// from the first byte; "" for none), e.g. ":990".
	ImplicitTLSListen string
	// CertFile and KeyFile are a PEM certificate (chain) and its key. When
	// both are empty, a self-signed certificate is generated once and kept
	// in Deps.Secrets, so every node presents the same one.
	CertFile, KeyFile string
	// RequireTLS refuses USER/PASS before AUTH TLS and data transfers
	// without PROT P on the Listen listener.
	RequireTLS bool
	// PassivePorts is the range of passive data ports, both ends included;
	// {0, 0} lets the system choose.
	PassivePorts [2]int
	// PublicIP is the IPv4 address announced in PASV replies. When empty,
	// and PublicIPFromEC2 is set, it is discovered at start from EC2
	// instance metadata (IMDSv2); otherwise each PASV announces the local
	// address of its control connection.
	PublicIP        string
	PublicIPFromEC2 bool
	// EC2MetadataEndpoint overrides DefaultEC2MetadataEndpoint (tests).
	EC2MetadataEndpoint string
	// ActiveMode allows PORT/EPRT, to the control connection's address
	// and ports of 1024 or more only.
	ActiveMode bool
	// IdleTimeout closes a control connection idle between commands, and
	// fails a data connection that moves no byte, after this long.
	IdleTimeout time.Duration
	// LoginTimeout closes a connection not logged in after this long.
	LoginTimeout time.Duration
	// DataConnTimeout bounds the wait for a data connection to open.
	DataConnTimeout time.Duration
	// UploadSettle is how long a finished upload waits, its control
	// connection still open, before it is stored. A client that dies
	// mid-upload closes its data connection like a finished upload, and its
	// control connection a moment later: the upload is then discarded.
	UploadSettle time.Duration
	// MaxListEntries caps the listing of a directory by STAT, which
	// ftpserverlib holds in memory (LIST, NLST and MLSD stream).
	MaxListEntries int
	// Banner is the greeting.
	Banner string
}

// Defaults.
const (
	DefaultIdleTimeout     = 5 * time.Minute
	DefaultLoginTimeout    = 30 * time.Second
	DefaultDataConnTimeout = 30 * time.Second
	DefaultUploadSettle    = 25 * time.Millisecond
	DefaultMaxListEntries  = 250_000
	DefaultBanner          = "wharf FTP server ready."
)

// Deps are the services the front end uses.
type Deps struct {
	Auth     *auth.Authenticator
	VFS      *storage.VFS
	Registry *auth.Registry
	Secrets  SecretStore  // for the shared self-signed certificate; may be nil
	Log      *slog.Logger // nil discards
}

// Server is the FTP/FTPS front end of one node.
type Server struct {
	cfg      Config
	deps     Deps
	log      *slog.Logger
	tls      *tls.Config // nil without TLS
	publicIP netip.Addr  // invalid: the control connection's local address
	eps      []*endpoint
	serving  sync.WaitGroup

	pending sync.Map // connKey → *session, between admission and ClientConnected

	mu       sync.Mutex
	sessions map[*session]struct{}
	handles  int           // open transfer handles (they may outlive their session)
	changed  chan struct{} // signalled when a session or a handle ends
}

// New checks cfg and returns a server; Start opens its listeners.
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.Auth == nil || deps.VFS == nil || deps.Registry == nil {
		return nil, errors.New("ftp: Auth, VFS and Registry are required")
	}
	if cfg.Listen == "" && cfg.ImplicitTLSListen == "" {
		return nil, errors.New("ftp: no listener configured")
	}
	lo, hi := cfg.PassivePorts[0], cfg.PassivePorts[1]
	if (lo != 0 || hi != 0) && (lo < 1024 || hi < lo || hi > 65535) {
		return nil, fmt.Errorf("ftp: passive ports %d-%d: need 1024 <= first <= last <= 65535", lo, hi)
	}
	hasTLS := cfg.CertFile != "" || cfg.KeyFile != "" || deps.Secrets != nil
	if (cfg.ImplicitTLSListen != "" || cfg.RequireTLS) && !hasTLS {
		return nil, errors.New("ftp: implicit TLS and require_tls need a certificate (cert_file and key_file) or a secret store")
	}
	if cfg.PublicIP != "" {
		if a, err := netip.ParseAddr(cfg.PublicIP); err != nil || !a.Unmap().Is4() {
			return nil, fmt.Errorf("ftp: public_ip %q is not an IPv4 address", cfg.PublicIP)
		}
	}
	setDefault(&cfg.IdleTimeout, DefaultIdleTimeout)
	setDefault(&cfg.LoginTimeout, DefaultLoginTimeout)
	setDefault(&cfg.DataConnTimeout, DefaultDataConnTimeout)
	setDefault(&cfg.UploadSettle, DefaultUploadSettle)
	setDefault(&cfg.MaxListEntries, DefaultMaxListEntries)
	setDefault(&cfg.Banner, DefaultBanner)
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, deps: deps, log: deps.Log.With("component", "ftp"),
		sessions: map[*session]struct{}{}, changed: make(chan struct{}, 1)}, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Start loads the TLS certificate, discovers the public address, opens the
// listeners and serves them in the background. On error nothing is left
// open.
func (s *Server) Start(ctx context.Context) (err error) {
	if s.tls, err = s.loadTLS(ctx); err != nil {
		return err
	}
	if s.publicIP, err = s.discoverPublicIP(ctx); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			for _, ep := range s.eps {
				_ = ep.ln.Close()
			}
			s.eps = nil
		}
	}()
	if s.cfg.Listen != "" {
		if err := s.listen(ctx, "ftp", s.cfg.Listen, false); err != nil {
			return err
		}
	}
	if s.cfg.ImplicitTLSListen != "" {
		if err := s.listen(ctx, "ftps", s.cfg.ImplicitTLSListen, true); err != nil {
			return err
		}
	}
	for _, ep := range s.eps {
		s.serving.Go(func() {
			if err := ep.lib.Serve(); err != nil {
				s.log.Error("listener stopped", "listener", ep.name, "err", err)
			}
		})
		s.log.Info("listening", "listener", ep.name, "addr", ep.ln.Addr().String(),
			"tls", s.tls != nil, "require_tls", ep.requireTLS,
			"active_mode", s.cfg.ActiveMode, "public_ip", s.cfg.PublicIP+s.publicIPNote())
	}
	return nil
}

func (s *Server) listen(ctx context.Context, name, addr string, implicit bool) error {
	lc := net.ListenConfig{}
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("ftp: %s listener: %w", name, err)
	}
	ep := &endpoint{srv: s, name: name, implicit: implicit, requireTLS: s.cfg.RequireTLS || implicit}
	ep.ln = newAdmitListener(l, ep)
	ep.settings = s.settings(ep)
	ep.lib = ftpserver.NewFtpServer(ep)
	ep.lib.Logger = s.log.With("listener", name)
	if err := ep.lib.Listen(); err != nil {
		_ = ep.ln.Close()
		return fmt.Errorf("ftp: %s listener: %w", name, err)
	}
	s.eps = append(s.eps, ep)
	return nil
}

// settings are the library settings of one listener.
func (s *Server) settings(ep *endpoint) *ftpserver.Settings {
	st := &ftpserver.Settings{
		Listener:                ep.ln,
		Banner:                  "wharf",
		PublicIPResolver:        s.pasvIP,
		IdleTimeout:             seconds(s.cfg.IdleTimeout),
		ConnectionTimeout:       seconds(s.cfg.DataConnTimeout),
		ActiveTransferPortNon20: true, // port 20 needs privileges
		DisableActiveMode:       !s.cfg.ActiveMode,
		DisableSite:             true, // SITE RMDIR is recursive and SITE bypasses nothing we could check
		DefaultTransferType:     ftpserver.TransferTypeBinary,
		DisableASCIIConversion:  true, // converted by us: see ascii.go
		// Data connections only from the control connection's address.
		PasvConnectionsCheck:   ftpserver.IPMatchRequired,
		ActiveConnectionsCheck: ftpserver.IPMatchRequired,
	}
	if lo, hi := s.cfg.PassivePorts[0], s.cfg.PassivePorts[1]; lo != 0 {
		st.PassiveTransferPortRange = ftpserver.PortRange{Start: lo, End: hi}
	}
	if ep.implicit {
		// The listener already speaks TLS; this makes the library treat
		// the control and every data connection as TLS.
		st.TLSRequired = ftpserver.ImplicitEncryption
	}
	return st
}

// publicIPNote says where PASV addresses come from, for the start log.
func (s *Server) publicIPNote() string {
	switch {
	case s.cfg.PublicIP != "":
		return ""
	case s.publicIP.IsValid():
		return s.publicIP.String() + " (EC2 metadata)"
	}
	return "(the control connection's local address)"
}

func seconds(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }

// Addr returns the address of the plain/explicit-TLS listener, "" if none.
func (s *Server) Addr() string { return s.addr(false) }

// ImplicitAddr returns the address of the implicit FTPS listener, "" if
// none.
func (s *Server) ImplicitAddr() string { return s.addr(true) }

func (s *Server) addr(implicit bool) string {
	for _, ep := range s.eps {
		if ep.implicit == implicit {
			return ep.ln.Addr().String()
		}
	}
	return ""
}

// Shutdown stops accepting connections and waits until this server's
// sessions have ended or ctx is done; then it closes the rest, aborting
// their uploads, and returns ctx's error. For a graceful drain, call
// Registry.Drain first (or concurrently): it refuses new sessions, closes
// idle ones, and closes the others when their transfer ends.
func (s *Server) Shutdown(ctx context.Context) error {
	for _, ep := range s.eps {
		if err := ep.lib.Stop(); err != nil && !errors.Is(err, ftpserver.ErrNotListening) {
			s.log.Warn("closing listener", "listener", ep.name, "err", err)
		}
	}
	s.serving.Wait()
	if s.waitSessions(ctx) {
		return nil
	}
	s.mu.Lock()
	left := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		left = append(left, sess)
	}
	s.mu.Unlock()
	s.log.Warn("closing sessions at shutdown", "sessions", len(left))
	for _, sess := range left {
		sess.close()
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	s.waitSessions(wctx)
	return fmt.Errorf("ftp: shutdown: %w", ctx.Err())
}

// waitSessions waits until no session and no transfer is left; false if
// ctx ended first.
func (s *Server) waitSessions(ctx context.Context) bool {
	for {
		s.mu.Lock()
		n := len(s.sessions) + s.handles
		s.mu.Unlock()
		if n == 0 {
			return true
		}
		select {
		case <-s.changed:
		case <-ctx.Done():
			return false
		}
	}
}

func (s *Server) addSession(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[sess] = struct{}{}
}

func (s *Server) removeSession(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
	s.signal()
}

// handleOpened and handleClosed count the transfers' file handles, so that
// Shutdown also waits for uploads being aborted after their client left.
func (s *Server) handleOpened() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handles++
}

func (s *Server) handleClosed() {
	s.mu.Lock()
	s.handles--
	s.mu.Unlock()
	s.signal()
}

func (s *Server) signal() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// endpoint is one listener and its library server; it is the library's
// MainDriver.
type endpoint struct {
	srv        *Server
	name       string // "ftp" or "ftps" (implicit)
	implicit   bool
	requireTLS bool
	ln         *admitListener
	lib        *ftpserver.FtpServer
	settings   *ftpserver.Settings
}

var (
	_ ftpserver.MainDriver                         = (*endpoint)(nil)
	_ ftpserver.MainDriverExtensionPostAuthMessage = (*endpoint)(nil)
	_ ftpserver.MainDriverExtensionPassiveWrapper  = (*endpoint)(nil)
)

func (e *endpoint) GetSettings() (*ftpserver.Settings, error) { return e.settings, nil }

// ClientConnected binds the library's client to the session admitted by
// the listener.
func (e *endpoint) ClientConnected(cc ftpserver.ClientContext) (string, error) {
	v, ok := e.srv.pending.LoadAndDelete(connKey(cc.LocalAddr(), cc.RemoteAddr()))
	if !ok {
		e.srv.log.Error("connection without a session", "remote", cc.RemoteAddr().String())
		return "Service unavailable.", errors.New("no session")
	}
	sess := v.(*session)
	cc.SetExtra(sess)
	sess.connected(cc)
	return e.srv.cfg.Banner, nil
}

func (e *endpoint) ClientDisconnected(cc ftpserver.ClientContext) {
	if sess, ok := cc.Extra().(*session); ok {
		sess.end()
	}
}

func (e *endpoint) AuthUser(cc ftpserver.ClientContext, user, pass string) (ftpserver.ClientDriver, error) {
	sess, ok := cc.Extra().(*session)
	if !ok {
		return nil, errLoginDown
	}
	return sess.login(user, pass)
}

// PostAuthMessage makes the reply to PASS exactly our message, so that the
// control connection can give it its proper code.
func (e *endpoint) PostAuthMessage(_ ftpserver.ClientContext, _ string, err error) string {
	if err != nil {
		return err.Error()
	}
	return "Login successful."
}

func (e *endpoint) GetTLSConfig() (*tls.Config, error) {
	if e.srv.tls == nil {
		return nil, errors.New("TLS is not configured")
	}
	return e.srv.tls, nil
}

func (e *endpoint) WrapPassiveListener(l net.Listener) (net.Listener, error) {
	return &dataListener{Listener: l, idle: e.srv.cfg.IdleTimeout}, nil
}
