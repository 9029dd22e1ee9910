// Package storage is wharf's virtual filesystem: canonical paths, per-user
// mounts, the one place where permissions are enforced, and files and
// directories over object stores (gocloud.dev/blob buckets).
//
// Every protocol front end opens one Session per logged-in user and calls
// nothing else: no gocloud type crosses this package's boundary. Nothing is
// cached between calls, so a change made through another node or directly
// in the bucket is visible to the next call.
package storage

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/wharf-gw/wharf/storage/acl"
)

// Options configure a VFS.
type Options struct {
	// Budget bounds the memory of all uploads; nil means a budget of
	// DefaultUploadBudget.
	Budget *Budget
	// IgnoreTimes makes Chtimes and Writer.SetModTime succeed without
	// storing anything; Stat then reports the backend's own times.
	IgnoreTimes bool
	// Logger receives debug lines for decisions and errors; nil discards.
	Logger *slog.Logger
}

// VFS holds the configured backends. It is safe for concurrent use and
// holds no per-user state.
type VFS struct {
	backends map[string]*Backend
	opts     Options
	quotas   sync.Map // quotaKey → *quotaState: what this node knows of each quota'd mount
}

// New returns a VFS over backends, whose names must be unique.
func New(backends []*Backend, opts Options) (*VFS, error) {
	v := &VFS{backends: make(map[string]*Backend, len(backends)), opts: opts}
	for _, b := range backends {
		if _, dup := v.backends[b.name]; dup {
			return nil, fmt.Errorf("backend %q declared twice", b.name)
		}
		v.backends[b.name] = b
	}
	if v.opts.Budget == nil {
		v.opts.Budget = NewBudget(0)
	}
	for _, b := range backends {
		if b.opts.PartSize > v.opts.Budget.Limit() {
			return nil, fmt.Errorf("backend %q: part size %d MiB exceeds the upload budget of %d MiB",
				b.name, b.opts.PartSize>>20, v.opts.Budget.Limit()>>20)
		}
	}
	if v.opts.Logger == nil {
		v.opts.Logger = slog.New(slog.DiscardHandler)
	}
	return v, nil
}

// Budget returns the upload memory budget shared by all sessions.
func (v *VFS) Budget() *Budget { return v.opts.Budget }

// Backends returns the configured backends.
func (v *VFS) Backends() []*Backend {
	out := make([]*Backend, 0, len(v.backends))
	for _, b := range v.backends {
		out = append(out, b)
	}
	return out
}

// Session opens the namespace of one user: policy's mounts over this VFS's
// backends, with policy's rules enforced on every call. Every mount must
// name a configured backend.
func (v *VFS) Session(user string, policy *acl.Policy) (*Session, error) {
	if policy == nil {
		return nil, fmt.Errorf("session for %q: no policy", user)
	}
	for _, m := range policy.Mounts() {
		if _, ok := v.backends[m.Backend]; !ok {
			return nil, fmt.Errorf("session for %q: mount %q: unknown backend %q", user, m.Path, m.Backend)
		}
	}
	return &Session{
		vfs:    v,
		user:   user,
		policy: policy,
		log:    v.opts.Logger.With("component", "storage", "user", user),
	}, nil
}
