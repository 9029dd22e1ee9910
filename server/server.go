// Package server is wharf's composition root: it reads the configuration,
// opens the backends, builds the storage layer (and, with later issues, the
// protocol front ends and the admin API) and runs them until told to stop.
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

	"github.com/wharf-gw/wharf/storage"
)

// Timeouts of the server's own steps.
const (
	checkTimeout    = 5 * time.Second  // one backend round trip at start
	shutdownTimeout = 30 * time.Second // closing everything on stop
)

// Server is one wharf node.
type Server struct {
	cfg      *Config
	log      *slog.Logger
	backends []*backend
	vfs      *storage.VFS
}

// New opens every configured backend and builds the storage layer. A
// backend that cannot be opened (a malformed URL option, say) is a
// configuration problem and returned as a *ConfigError; one that opens but
// does not answer is reported later, by Start.
func New(ctx context.Context, cfg *Config, log *slog.Logger) (_ *Server, err error) {
	s := &Server{cfg: cfg, log: log.With("component", "server")}
	defer func() {
		if err != nil {
			s.closeBackends()
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
	s.log.Info("no protocol front ends in this build yet: FTP, FTPS, SFTP and the admin API arrive with later issues")
	source := s.cfg.file
	if source == "" {
		source = "embedded default"
	}
	s.log.Info("wharf ready",
		"config", source,
		"data_dir", s.cfg.DataDir,
		"backends", len(s.backends),
		"upload_budget", s.cfg.Storage.UploadBudget.String(),
		"times", s.cfg.Storage.Times)
	return nil
}

// Shutdown stops the node and releases its backends. It returns when
// everything is closed or ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- s.closeBackends() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("shutdown: %w", ctx.Err())
	}
}

func (s *Server) closeBackends() error {
	var errs []error
	for _, b := range s.backends {
		if err := b.bucket.Close(); err != nil {
			errs = append(errs, fmt.Errorf("backend %q: close: %w", b.name, err))
		}
	}
	s.backends = nil
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
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
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
