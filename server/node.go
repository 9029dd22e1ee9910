package server

import (
	"context"
	"os"
	"time"

	"github.com/wharf-gw/wharf/auth"
)

// nodePrune is how long a silent node stays listed before a live node
// forgets it.
const nodePrune = time.Hour

// nodeID returns the configured node id, or the host name.
func (c *Config) nodeID() string {
	if c.Node.ID != "" {
		return c.Node.ID
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "wharf"
}

// heartbeat records this node in the shared store every node.heartbeat
// until ctx ends (Start records the first one), with whether it is ready
// (not draining, every backend answering), and forgets nodes that have
// been silent for long.
func (s *Server) heartbeat(ctx context.Context) {
	t := time.NewTicker(time.Duration(s.cfg.Node.Heartbeat))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.beat(ctx, false)
		}
	}
}

// beat records one heartbeat; final marks the node as stopping.
func (s *Server) beat(ctx context.Context, final bool) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.cfg.Node.Heartbeat))
	defer cancel()
	draining := final || (s.fronts.registry != nil && s.fronts.registry.Draining())
	ready := !draining
	for _, b := range s.backends {
		if ready && b.backend.Check(ctx) != nil {
			ready = false
		}
	}
	now := time.Now()
	n := &auth.Node{ID: s.cfg.nodeID(), Version: s.cfg.Version, Address: s.cfg.Node.Address, Ready: ready,
		Draining: draining, Started: s.started, Heartbeat: now}
	if s.fronts.registry != nil {
		n.Sessions = s.fronts.registry.Count()
	}
	if err := s.store.PutNode(ctx, n); err != nil {
		s.log.Warn("heartbeat not recorded", "node", n.ID, "err", err)
		return
	}
	if pruned, err := s.store.PruneNodes(ctx, now.Add(-nodePrune)); err == nil && pruned > 0 {
		s.log.Info("forgot nodes silent for an hour", "nodes", pruned)
	}
}
