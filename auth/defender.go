package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// DefenderConfig tunes the defender.
type DefenderConfig struct {
	Enabled     bool
	MaxFailures int           // failures from one address within Window that ban it
	Window      time.Duration // how long a failure counts
	BanTime     time.Duration // how long a ban lasts
	Delay       time.Duration // delay per recent failure before a failed login is answered
	MaxDelay    time.Duration // cap of that delay
	Allow       []netip.Prefix
}

// DefaultDefender returns the defaults: 5 failures in 10 minutes ban an
// address for 30 minutes; each recent failure adds 500 ms, up to 5 s, to
// the answer of the next failed login.
func DefaultDefender() DefenderConfig {
	return DefenderConfig{Enabled: true, MaxFailures: 5, Window: 10 * time.Minute, BanTime: 30 * time.Minute,
		Delay: 500 * time.Millisecond, MaxDelay: 5 * time.Second}
}

// Defender slows and bans password guessing. Failed logins are counted per
// source address and per user name in the shared store, so every node sees
// them: each recent failure of either lengthens the delay before a failed
// login is answered, and an address that reaches MaxFailures within Window
// is banned for BanTime on every node. User names are never banned (that
// would let anyone lock a user out); the delay slows guessing spread over
// many addresses. Addresses in Allow are never banned.
//
// It logs one line per failure and per ban, stable for fail2ban:
//
//	level=WARN msg="login failed" component=auth remote=203.0.113.7 protocol=ftp user=bob reason="bad password" failures=3
//	level=WARN msg="address banned" component=auth remote=203.0.113.7 until=2026-11-25T16:30:00Z failures=5
type Defender struct {
	cfg   DefenderConfig
	store Store
	log   *slog.Logger
	now   func() time.Time
	sleep func(context.Context, time.Duration) error
	obs   Observer
}

// NewDefender returns a defender over store.
func NewDefender(store Store, cfg DefenderConfig, log *slog.Logger) (*Defender, error) {
	if cfg.Enabled {
		switch {
		case cfg.MaxFailures < 1:
			return nil, errors.New("defender: max_failures must be at least 1")
		case cfg.Window <= 0 || cfg.BanTime <= 0:
			return nil, errors.New("defender: window and ban_time must be positive")
		case cfg.Delay < 0 || cfg.MaxDelay < cfg.Delay:
			return nil, errors.New("defender: need 0 <= delay <= max_delay")
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Defender{cfg: cfg, store: store, log: log.With("component", "auth"), now: time.Now, sleep: sleepCtx, obs: nopObserver{}}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *Defender) allowed(addr netip.Addr) bool {
	for _, p := range d.cfg.Allow {
		if p.Contains(addr.Unmap()) {
			return true
		}
	}
	return false
}

// Check returns an error wrapping ErrBanned if addr is banned. Protocols
// call it when a client connects and refuse the connection.
func (d *Defender) Check(ctx context.Context, addr netip.Addr) error {
	if !d.cfg.Enabled || d.allowed(addr) {
		return nil
	}
	b, err := d.store.GetBan(ctx, KindAddr, addr.Unmap().String(), d.now())
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		// The store is down: let the login itself decide (it will fail
		// closed, as it cannot load the user either).
		d.log.Error("ban check failed", "remote", addr.String(), "err", err)
		return nil
	}
	return fmt.Errorf("%w until %s", ErrBanned, b.Until.UTC().Format(time.RFC3339))
}

// Failure records a failed login of user from addr, bans addr when it has
// failed too often, and waits the progressive delay (or until ctx ends).
// It returns ErrBanned if addr is banned now.
func (d *Defender) Failure(ctx context.Context, li LoginInfo, user, reason string) error {
	addr := li.Remote.Unmap()
	if !d.cfg.Enabled {
		d.log.Warn("login failed", "remote", addr.String(), "protocol", li.Protocol, "user", user, "reason", reason)
		return nil
	}
	now := d.now()
	na, err := d.store.AddFailure(ctx, KindAddr, addr.String(), now, d.cfg.Window)
	if err != nil {
		d.log.Error("recording a failed login", "remote", addr.String(), "err", err)
	}
	nu, err := d.store.AddFailure(ctx, KindUser, user, now, d.cfg.Window)
	if err != nil {
		d.log.Error("recording a failed login", "remote", addr.String(), "err", err)
	}
	d.log.Warn("login failed", "remote", addr.String(), "protocol", li.Protocol, "user", user, "reason", reason, "failures", na)
	var banned error
	if na >= d.cfg.MaxFailures && !d.allowed(addr) {
		until := now.Add(d.cfg.BanTime)
		err := d.store.PutBan(ctx, &Ban{Kind: KindAddr, Key: addr.String(), Until: until,
			Reason: fmt.Sprintf("%d failed logins within %s", na, d.cfg.Window), Created: now})
		if err != nil {
			d.log.Error("storing a ban", "remote", addr.String(), "err", err)
		} else {
			d.log.Warn("address banned", "remote", addr.String(), "until", until.UTC().Format(time.RFC3339), "failures", na)
			d.obs.Ban()
			banned = fmt.Errorf("%w until %s", ErrBanned, until.UTC().Format(time.RFC3339))
		}
	}
	delay := min(time.Duration(max(na, nu))*d.cfg.Delay, d.cfg.MaxDelay)
	if err := d.sleep(ctx, delay); err != nil {
		return err
	}
	return banned
}

// Success forgets the failures of addr after a successful login.
func (d *Defender) Success(ctx context.Context, addr netip.Addr) {
	if !d.cfg.Enabled {
		return
	}
	if err := d.store.ClearFailures(ctx, KindAddr, addr.Unmap().String()); err != nil {
		d.log.Error("clearing failed logins", "remote", addr.String(), "err", err)
	}
}
