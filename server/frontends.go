package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/wharf-gw/wharf/admin"
	"github.com/wharf-gw/wharf/auth"
	"github.com/wharf-gw/wharf/protocols/ftp"
	"github.com/wharf-gw/wharf/protocols/sftp"
)

// frontEnds are the node's listeners: FTP/FTPS, SFTP and the admin API,
// each present when its listen address is set.
type frontEnds struct {
	registry *auth.Registry
	ftp      *ftp.Server
	sftp     *sftp.Server
	sftpLn   net.Listener
	// sftpServing is true while the SFTP server accepts connections.
	sftpServing atomic.Bool
	admin       *http.Server
	adminLn     net.Listener
	metrics     *admin.Metrics
}

// listerFunc adapts a function to admin.SessionLister.
type listerFunc func() []auth.SessionInfo

func (f listerFunc) List() []auth.SessionInfo { return f() }

// buildFrontEnds builds every configured front end; nothing listens yet.
func (s *Server) buildFrontEnds() error {
	cfg, log := s.cfg, s.root
	f := &s.fronts
	// The metrics read the registry's sessions at each scrape, and the
	// registry and the authenticator report their events to the metrics.
	f.metrics = admin.NewMetrics(listerFunc(func() []auth.SessionInfo { return f.registry.List() }), s.vfs.Budget())
	f.registry = auth.NewRegistry(auth.RegistryLimits{Total: cfg.Limits.MaxSessions, PerAddr: cfg.Limits.MaxSessionsPerAddress}, f.metrics)
	s.auth.SetObserver(f.metrics)
	if cfg.FTP.Listen != "" || cfg.FTP.ImplicitTLSListen != "" {
		ports, _ := cfg.FTP.passivePorts() // validated
		srv, err := ftp.New(ftp.Config{
			Listen:            cfg.FTP.Listen,
			ImplicitTLSListen: cfg.FTP.ImplicitTLSListen,
			CertFile:          cfg.FTP.CertFile,
			KeyFile:           cfg.FTP.KeyFile,
			RequireTLS:        cfg.FTP.RequireTLS,
			PassivePorts:      ports,
			PublicIP:          cfg.FTP.PublicIP,
			PublicIPFromEC2:   cfg.FTP.PublicIPFromEC2,
			ActiveMode:        cfg.FTP.ActiveMode,
			IdleTimeout:       time.Duration(cfg.FTP.IdleTimeout),
			UploadSettle:      time.Duration(cfg.FTP.UploadSettle),
			LoginTimeout:      time.Duration(cfg.FTP.LoginTimeout),
			DataConnTimeout:   time.Duration(cfg.FTP.DataTimeout),
		}, ftp.Deps{Auth: s.auth, VFS: s.vfs, Registry: f.registry, Secrets: s.store, Log: log})
		if err != nil {
			return err
		}
		f.ftp = srv
	}
	if cfg.SFTP.Listen != "" {
		srv, err := sftp.New(sftp.Config{
			Listen:        cfg.SFTP.Listen,
			HostKeyFiles:  cfg.SFTP.HostKeyFiles,
			KexAlgorithms: cfg.SFTP.KexAlgorithms,
			Ciphers:       cfg.SFTP.Ciphers,
			MACs:          cfg.SFTP.MACs,
			IdleTimeout:   time.Duration(cfg.SFTP.IdleTimeout),

			HandshakeTimeout: time.Duration(cfg.SFTP.HandshakeTimeout),
			AuthTimeout:      time.Duration(cfg.SFTP.AuthTimeout),
			MaxAuthTries:     cfg.SFTP.MaxAuthTries,
			WriteWindow:      int64(cfg.SFTP.WriteWindow),
			MaxSpill:         spillLimit(cfg.SFTP.MaxSpill),
			SpillDir:         cfg.SFTP.SpillDir,
			ReadWindow:       int64(cfg.SFTP.ReadWindow),
			WindowBudget:     int64(cfg.SFTP.WindowBudget),
		}, sftp.Deps{Auth: s.auth, VFS: s.vfs, Registry: f.registry, Secrets: s.store, Log: log})
		if err != nil {
			return err
		}
		f.sftp = srv
	}
	if cfg.Admin.Listen != "" {
		checks := []admin.Check{{Name: cfg.Store.Driver, Kind: admin.CheckStore, Run: s.store.Ping}}
		for _, b := range s.backends {
			checks = append(checks, admin.Check{Name: b.name, Kind: admin.CheckBackend, Run: b.backend.Check})
		}
		// The protocol listeners are open and served (no connection is
		// made: it would show in the logs and the session table).
		if f.ftp != nil {
			checks = append(checks, admin.Check{Name: "ftp", Kind: admin.CheckListener, Run: func(context.Context) error {
				if f.ftp.Addr() == "" && f.ftp.ImplicitAddr() == "" {
					return errors.New("not listening")
				}
				return nil
			}})
		}
		if f.sftp != nil {
			checks = append(checks, admin.Check{Name: "sftp", Kind: admin.CheckListener, Run: func(context.Context) error {
				if !f.sftpServing.Load() {
					return errors.New("not listening")
				}
				return nil
			}})
		}
		a, err := admin.New(admin.Config{LoginTTL: time.Duration(cfg.Admin.LoginTTL), NodeStale: 3 * time.Duration(cfg.Node.Heartbeat)}, admin.Deps{
			Store:    s.store,
			Sessions: f.registry,
			Defender: s.auth.Defender(),
			Argon2:   cfg.argon2(),
			Backends: cfg.backendNames(),
			Checks:   checks,
			Metrics:  f.metrics,
			Log:      log,
		})
		if err != nil {
			return err
		}
		f.admin = &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
			ErrorLog: nil}
	}
	return nil
}

// startFrontEnds opens the listeners and serves them in the background.
func (s *Server) startFrontEnds(ctx context.Context) error {
	f := &s.fronts
	if f.ftp != nil {
		if err := f.ftp.Start(ctx); err != nil {
			return fmt.Errorf("ftp: %w", err)
		}
		s.log.Info("ftp listening", "addr", f.ftp.Addr(), "implicit_tls", f.ftp.ImplicitAddr())
	}
	if f.sftp != nil {
		ln, err := net.Listen("tcp", s.cfg.SFTP.Listen)
		if err != nil {
			return fmt.Errorf("sftp.listen: %w", err)
		}
		f.sftpLn = ln
		f.sftpServing.Store(true)
		go func() {
			defer f.sftpServing.Store(false)
			if err := f.sftp.Serve(ln); err != nil && !errors.Is(err, sftp.ErrServerClosed) {
				s.log.Error("sftp server stopped", "err", err)
			}
		}()
		for _, k := range f.sftp.HostKeys() {
			s.log.Info("sftp host key", "type", k.Type, "fingerprint", k.Fingerprint)
		}
		s.log.Info("sftp listening", "addr", ln.Addr().String())
	}
	if f.admin != nil {
		ln, err := net.Listen("tcp", s.cfg.Admin.Listen)
		if err != nil {
			return fmt.Errorf("admin.listen: %w", err)
		}
		f.adminLn = ln
		serve := func() error { return f.admin.Serve(ln) }
		if s.cfg.Admin.CertFile != "" {
			f.admin.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			serve = func() error { return f.admin.ServeTLS(ln, s.cfg.Admin.CertFile, s.cfg.Admin.KeyFile) }
		}
		go func() {
			if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("admin server stopped", "err", err)
			}
		}()
		s.log.Info("admin listening", "addr", ln.Addr().String())
	}
	return nil
}

// drain refuses new sessions, lets transfers finish within the grace
// period, then stops the protocol front ends. The admin API stops last,
// so /readyz answers 503 to the end.
func (s *Server) drain(ctx context.Context) {
	f := &s.fronts
	if f.registry == nil {
		return
	}
	grace, cancel := context.WithTimeout(ctx, time.Duration(s.cfg.Shutdown.Grace))
	defer cancel()
	if n := f.registry.Drain(grace); n > 0 {
		s.log.Warn("drain: closed sessions whose transfers outlived the grace period", "sessions", n)
	}
	stop, cancel2 := context.WithTimeout(ctx, 10*time.Second)
	defer cancel2()
	if f.ftp != nil {
		if err := f.ftp.Shutdown(stop); err != nil {
			s.log.Warn("ftp shutdown", "err", err)
		}
	}
	if f.sftp != nil {
		if err := f.sftp.Shutdown(stop); err != nil {
			s.log.Warn("sftp shutdown", "err", err)
		}
	}
	if f.admin != nil {
		if err := f.admin.Shutdown(stop); err != nil {
			s.log.Warn("admin shutdown", "err", err)
		}
	}
}

// spillLimit is sftp.max_spill for the SFTP server: 0 turns spilling off.
func spillLimit(s Size) int64 {
	if s == 0 {
		return -1
	}
	return int64(s)
}
