package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Session errors: a protocol refuses the connection with them.
var (
	ErrDraining = errors.New("server is shutting down")
	ErrTooMany  = errors.New("too many sessions")
	ErrKicked   = errors.New("session closed by an administrator")
)

// RegistryLimits are this node's session limits; zero means unlimited.
type RegistryLimits struct {
	Total   int // sessions on this node
	PerAddr int // sessions from one client address
}

// Registry is the per-node table of sessions of every protocol: it
// enforces the session limits, lists sessions for the admin API, kicks
// them, and drains the node. It is safe for concurrent use.
type Registry struct {
	limits RegistryLimits
	now    func() time.Time
	obs    Observer

	mu       sync.Mutex
	next     uint64
	sessions map[uint64]*Conn
	perAddr  map[netip.Addr]int
	perUser  map[string]int
	draining bool
	empty    chan struct{} // closed when draining and no session is left
}

// NewRegistry returns an empty registry. obs (nil for none) counts the
// transfers and their bytes.
func NewRegistry(limits RegistryLimits, obs Observer) *Registry {
	if obs == nil {
		obs = nopObserver{}
	}
	return &Registry{limits: limits, now: time.Now, obs: obs, sessions: map[uint64]*Conn{},
		perAddr: map[netip.Addr]int{}, perUser: map[string]int{}}
}

// Conn is one client connection in the registry. Its methods are safe for
// concurrent use.
type Conn struct {
	r        *Registry
	id       uint64
	protocol string
	remote   netip.AddrPort
	started  time.Time
	close    func() // closes the client connection

	mu       sync.Mutex
	user     string
	transfer string // "upload /path", "" when idle
	closed   bool
	bytesIn  atomic.Int64
	bytesOut atomic.Int64
}

// Open registers a new connection of protocol from remote. close must end
// the connection (Kick and the end of a drain call it). It fails with
// ErrDraining while the node drains and ErrTooMany over a limit.
func (r *Registry) Open(protocol string, remote netip.AddrPort, close func()) (*Conn, error) {
	addr := remote.Addr().Unmap()
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.draining:
		return nil, ErrDraining
	case r.limits.Total > 0 && len(r.sessions) >= r.limits.Total:
		return nil, fmt.Errorf("%w on this server (limit %d)", ErrTooMany, r.limits.Total)
	case r.limits.PerAddr > 0 && r.perAddr[addr] >= r.limits.PerAddr:
		return nil, fmt.Errorf("%w from your address (limit %d)", ErrTooMany, r.limits.PerAddr)
	}
	r.next++
	c := &Conn{r: r, id: r.next, protocol: protocol, remote: remote, started: r.now(), close: close}
	r.sessions[c.id] = c
	r.perAddr[addr]++
	return c, nil
}

// Login records that the connection is now user, within the user's own
// session limit (0: unlimited). On ErrTooMany the connection stays
// anonymous.
func (c *Conn) Login(user string, maxSessions int) error {
	r := c.r
	r.mu.Lock()
	defer r.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.user == user {
		return nil
	}
	if maxSessions > 0 && r.perUser[user] >= maxSessions {
		return fmt.Errorf("%w for %s (limit %d)", ErrTooMany, user, maxSessions)
	}
	if c.user != "" {
		r.perUser[c.user]--
	}
	c.user = user
	r.perUser[user]++
	return nil
}

// ID returns the connection's id in the registry.
func (c *Conn) ID() uint64 { return c.id }

// StartTransfer records the transfer in progress ("upload", "download")
// and its path; EndTransfer clears it.
func (c *Conn) StartTransfer(kind, path string) {
	c.mu.Lock()
	c.transfer = kind + " " + path
	c.mu.Unlock()
	if kind == "upload" || kind == "download" {
		c.r.obs.Transfer(c.protocol, kind, 0)
	}
}

// EndTransfer clears the transfer in progress. While the node drains, the
// connection is closed now that it is idle.
func (c *Conn) EndTransfer() {
	c.mu.Lock()
	c.transfer = ""
	c.mu.Unlock()
	if c.r.Draining() {
		go c.close()
	}
}

// AddBytes counts bytes received from (in) and sent to (out) the client.
func (c *Conn) AddBytes(in, out int64) {
	c.bytesIn.Add(in)
	c.bytesOut.Add(out)
	c.r.obs.TransferBytes(c.protocol, "upload", in)
	c.r.obs.TransferBytes(c.protocol, "download", out)
}

// Close removes the connection from the registry. It does not call the
// close function given to Open; it is idempotent.
func (c *Conn) Close() {
	r := c.r
	r.mu.Lock()
	defer r.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	delete(r.sessions, c.id)
	addr := c.remote.Addr().Unmap()
	if r.perAddr[addr]--; r.perAddr[addr] <= 0 {
		delete(r.perAddr, addr)
	}
	if c.user != "" {
		if r.perUser[c.user]--; r.perUser[c.user] <= 0 {
			delete(r.perUser, c.user)
		}
	}
	if r.draining && len(r.sessions) == 0 && r.empty != nil {
		close(r.empty)
		r.empty = nil
	}
}

// SessionInfo is a snapshot of a connection.
type SessionInfo struct {
	ID       uint64    `json:"id"`
	User     string    `json:"user,omitempty"`
	Protocol string    `json:"protocol"`
	Remote   string    `json:"remote"`
	Started  time.Time `json:"started"`
	Transfer string    `json:"transfer,omitempty"`
	BytesIn  int64     `json:"bytes_in"`
	BytesOut int64     `json:"bytes_out"`
}

func (c *Conn) info() SessionInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return SessionInfo{ID: c.id, User: c.user, Protocol: c.protocol, Remote: c.remote.String(), Started: c.started,
		Transfer: c.transfer, BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load()}
}

// List returns a snapshot of the sessions, oldest first.
func (r *Registry) List() []SessionInfo {
	r.mu.Lock()
	conns := make([]*Conn, 0, len(r.sessions))
	for _, c := range r.sessions {
		conns = append(conns, c)
	}
	r.mu.Unlock()
	out := make([]SessionInfo, 0, len(conns))
	for _, c := range conns {
		out = append(out, c.info())
	}
	slices.SortFunc(out, func(a, b SessionInfo) int { return int(a.ID - b.ID) })
	return out
}

// Count returns the number of sessions.
func (r *Registry) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sessions)
}

// Kick closes the session id. It reports whether there was one.
func (r *Registry) Kick(id uint64) bool {
	r.mu.Lock()
	c := r.sessions[id]
	r.mu.Unlock()
	if c == nil {
		return false
	}
	c.close()
	return true
}

// KickUser closes every session of user and returns how many there were.
func (r *Registry) KickUser(user string) int {
	r.mu.Lock()
	var victims []*Conn
	for _, c := range r.sessions {
		c.mu.Lock()
		if c.user == user {
			victims = append(victims, c)
		}
		c.mu.Unlock()
	}
	r.mu.Unlock()
	for _, c := range victims {
		c.close()
	}
	return len(victims)
}

// Draining reports whether Drain was called.
func (r *Registry) Draining() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.draining
}

// Drain refuses new sessions from now on and closes the idle ones at once;
// sessions in the middle of a transfer are closed when it ends, or when ctx
// is done (the grace period), whichever comes first. It returns when no
// session is left, with the number it had to cut short.
func (r *Registry) Drain(ctx context.Context) int {
	r.mu.Lock()
	r.draining = true
	if r.empty == nil {
		r.empty = make(chan struct{})
	}
	empty := r.empty
	if len(r.sessions) == 0 {
		close(r.empty)
		r.empty = nil
	}
	conns := make([]*Conn, 0, len(r.sessions))
	for _, c := range r.sessions {
		conns = append(conns, c)
	}
	r.mu.Unlock()
	for _, c := range conns {
		if c.info().Transfer == "" {
			c.close()
		}
	}
	select {
	case <-empty:
		return 0
	case <-ctx.Done():
	}
	r.mu.Lock()
	left := make([]*Conn, 0, len(r.sessions))
	for _, c := range r.sessions {
		left = append(left, c)
	}
	r.mu.Unlock()
	for _, c := range left {
		c.close()
	}
	return len(left)
}
