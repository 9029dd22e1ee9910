// Package server is wharf's composition root: it reads the configuration,
// opens the backends, builds the storage layer, the identity store, the
// protocol front ends and the admin API, and runs them until told to stop.
// It is the only package that knows concrete driver types.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/wharf-gw/wharf/auth"
	"github.com/wharf-gw/wharf/storage"
)

// Timeouts of the server's own steps.
const (
	checkTimeout    = 5 * time.Second  // one backend round trip at start
	shutdownTimeout = 30 * time.Second // closing everything on stop, beyond the drain's grace period
)

// Server is one wharf node.
type Server struct {
	cfg      *Config
	log      *slog.Logger
	root     *slog.Logger // untagged: components tag their own lines
	backends []*backend
	vfs      *storage.VFS
	store    auth.Store
	auth     *auth.Authenticator
	fronts   frontEnds
	started  time.Time // when Start ran
	stopBeat context.CancelFunc
	beating  sync.WaitGroup
}

// New opens every configured backend and builds the storage layer, then
// opens (and migrates) the identity store and builds the authenticator. A
// backend that cannot be opened (a malformed URL option, say) is a
// configuration problem and returned as a *ConfigError; one that opens but
// does not answer is reported later, by Start. A store that cannot be
// opened stops the node: without it nobody can log in.
func New(ctx context.Context, cfg *Config, log *slog.Logger) (_ *Server, err error) {
	s := &Server{cfg: cfg, log: log.With("component", "server"), root: log}
	defer func() {
		if err != nil {
			s.closeAll()
		}
	}()
	var problems []string
	var backends []*storage.Backend
	for _, name := range cfg.backendNames() {
		b, err := openBackend(ctx, name, cfg.Backends[name])
		if err != nil {
			problems = append(problems, fmt.Sprintf("backends.%s.url: cannot open: %v", name, err))
			continue
		}
		s.backends = append(s.backends, b)
		backends = append(backends, b.backend)
	}
	if len(problems) > 0 {
		return nil, &ConfigError{Problems: problems}
	}
	s.vfs, err = storage.New(backends, storage.Options{
		Budget:      storage.NewBudget(int64(cfg.Storage.UploadBudget)),
		IgnoreTimes: cfg.Storage.Times == "ignore",
		Logger:      log.With("component", "storage"),
	})
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	if s.store, err = openStore(ctx, cfg); err != nil {
		return nil, err
	}
	authLog := log.With("component", "auth")
	defender, err := auth.NewDefender(s.store, cfg.defender(), authLog)
	if err != nil {
		return nil, err
	}
	if s.auth, err = auth.NewAuthenticator(s.store, defender, cfg.argon2(), authLog); err != nil {
		return nil, err
	}
	if err := s.buildFrontEnds(); err != nil {
		return nil, err
	}
	return s, nil
}

// Start checks every backend with a real round trip and starts serving. A
// backend that does not answer is logged and does not stop the node: it
// may come back, and the other backends are still of use.
func (s *Server) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, b := range s.backends {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, checkTimeout)
			defer cancel()
			log := s.log.With("backend", b.name, "url", b.url,
				"part_size", s.cfg.Backends[b.name].PartSize.String(),
				"concurrency", s.cfg.Backends[b.name].Concurrency)
			if err := b.backend.Check(cctx); err != nil {
				log.Warn("backend does not answer; serving on, it is checked again when used", "err", err)
				return
			}
			log.Info("backend ready")
		})
	}
	wg.Wait()
	if err := s.checkUsers(ctx); err != nil {
		return err
	}
	if err := s.startFrontEnds(ctx); err != nil {
		return err
	}
	s.started = time.Now()
	s.beat(ctx, false)
	bctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stopBeat = stop
	s.beating.Go(func() { s.heartbeat(bctx) })
	source := s.cfg.file
	if source == "" {
		source = "embedded default"
	}
	s.log.Info("wharf ready",
		"config", source,
		"data_dir", s.cfg.DataDir,
		"backends", len(s.backends),
		"store", s.cfg.storeName(),
		"upload_budget", s.cfg.Storage.UploadBudget.String(),
		"times", s.cfg.Storage.Times)
	return nil
}

// Shutdown drains the node (see Config.Shutdown), stops its front ends and
// releases its backends and store. It returns when everything is closed or
// ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.stopBeat != nil {
		s.stopBeat()
		s.beating.Wait()
		s.beat(ctx, true) // draining: not ready, whatever the checks say
	}
	s.drain(ctx)
	done := make(chan error, 1)
	go func() { done <- s.closeAll() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("shutdown: %w", ctx.Err())
	}
}

// checkUsers logs how to add the first user when the store has none: the
// embedded default creates no account by itself.
func (s *Server) checkUsers(ctx context.Context) error {
	n, err := s.store.CountUsers(ctx)
	if err != nil {
		return fmt.Errorf("store %s: %s", s.cfg.storeName(), errorLine(err))
	}
	if n > 0 {
		s.log.Info("store ready", "store", s.cfg.storeName(), "users", n)
		return nil
	}
	cmd := "wharf user add"
	if s.cfg.file != "" {
		cmd += " --config " + s.cfg.file
	}
	cmd += " alice --password-stdin"
	if len(s.backends) > 1 {
		cmd += " --home BACKEND"
	}
	s.log.Warn("no users yet: nobody can log in. Add the first one with: "+cmd+
		" (it reads the password from stdin; --key-file adds SSH keys; see 'wharf user add -h')",
		"store", s.cfg.storeName())
	return nil
}

func (s *Server) closeAll() error {
	var errs []error
	for _, b := range s.backends {
		if err := b.bucket.Close(); err != nil {
			errs = append(errs, fmt.Errorf("backend %q: close: %w", b.name, err))
		}
	}
	s.backends = nil
	if s.store != nil {
		if err := s.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("store: close: %w", err))
		}
		s.store = nil
	}
	return errors.Join(errs...)
}

// Run starts a server on cfg, serves until ctx is done (the command
// cancels it on SIGINT or SIGTERM), then shuts it down.
func Run(ctx context.Context, cfg *Config, log *slog.Logger) error {
	s, err := New(ctx, cfg, log)
	if err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		_ = s.Shutdown(context.WithoutCancel(ctx))
		return err
	}
	<-ctx.Done()
	s.log.Info("shutting down", "reason", context.Cause(ctx))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Duration(cfg.Shutdown.Grace)+shutdownTimeout)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		return err
	}
	s.log.Info("stopped")
	return nil
}

// backendNames returns the configured backend names in sorted order.
func (c *Config) backendNames() []string {
	return slices.Sorted(maps.Keys(c.Backends))
}
