package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/wharf-gw/wharf/storage/acl"
)

// LoginInfo describes where a login comes from.
type LoginInfo struct {
	Protocol string     // "ftp", "ftps", "sftp", "admin"
	Remote   netip.Addr // the client's address
}

// Principal is a logged-in user: what a protocol needs to open the user's
// storage session.
type Principal struct {
	User   string
	Policy *acl.Policy
	Limits Limits
}

// Authenticator is the entry point every protocol calls to log a user in.
// Clients learn only ErrAuthFailed (or ErrBanned, or ErrUnavailable when
// the store is down); the log says why.
type Authenticator struct {
	store    Store
	defender *Defender
	log      *slog.Logger
	dummy    string        // a hash verified for unknown users, so they cost the same time
	hashing  chan struct{} // bounds the password hashes computed at once (and their memory)
	obs      Observer
}

// SetObserver makes the authenticator (and its defender) report logins
// and bans to obs. Call it before the first login.
func (a *Authenticator) SetObserver(obs Observer) {
	a.obs = obs
	a.defender.obs = obs
}

// NewAuthenticator returns an authenticator over store. params are the
// argon2id costs of new hashes; the dummy hash for unknown users is made
// with them.
func NewAuthenticator(store Store, defender *Defender, params Argon2Params, log *slog.Logger) (*Authenticator, error) {
	dummy, err := HashPassword("wharf-dummy-password", params)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Authenticator{store: store, defender: defender, log: log.With("component", "auth"), dummy: dummy,
		hashing: make(chan struct{}, 2*runtime.GOMAXPROCS(0)), obs: nopObserver{}}, nil
}

// verify checks a password against a hash, waiting for a free hashing slot
// so that a burst of logins cannot exhaust memory.
func (a *Authenticator) verify(ctx context.Context, hash, password string) (bool, error) {
	select {
	case a.hashing <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-a.hashing }()
	return VerifyPassword(hash, password)
}

// Defender returns the authenticator's defender.
func (a *Authenticator) Defender() *Defender { return a.defender }

// Password logs name in with a password.
func (a *Authenticator) Password(ctx context.Context, li LoginInfo, name, password string) (*Principal, error) {
	if err := a.defender.Check(ctx, li.Remote); err != nil {
		a.obs.Login(li.Protocol, "banned")
		return nil, err
	}
	u, err := a.store.GetUser(ctx, name)
	switch {
	case errors.Is(err, ErrNotFound):
		_, _ = a.verify(ctx, a.dummy, password) // same cost as a known user
		return nil, a.fail(ctx, li, name, "unknown user")
	case err != nil:
		return nil, a.unavailable(li, name, err)
	}
	hash := u.PasswordHash
	if hash == "" {
		hash = a.dummy // no password login for this user: still pay the cost
	}
	ok, err := a.verify(ctx, hash, password)
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case err != nil:
		a.log.Error("stored password hash unreadable", "user", name, "err", err)
		return nil, a.fail(ctx, li, name, "unreadable password hash")
	case u.PasswordHash == "":
		return nil, a.fail(ctx, li, name, "no password set")
	case !ok:
		return nil, a.fail(ctx, li, name, "bad password")
	case !u.Enabled:
		return nil, a.fail(ctx, li, name, "user disabled")
	}
	return a.succeed(ctx, li, u)
}

// PublicKey logs name in with an SSH public key that the protocol has
// already seen proven (a verified signature).
func (a *Authenticator) PublicKey(ctx context.Context, li LoginInfo, name string, key ssh.PublicKey) (*Principal, error) {
	if err := a.defender.Check(ctx, li.Remote); err != nil {
		a.obs.Login(li.Protocol, "banned")
		return nil, err
	}
	u, err := a.store.GetUser(ctx, name)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, a.fail(ctx, li, name, "unknown user")
	case err != nil:
		return nil, a.unavailable(li, name, err)
	}
	presented := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	found := false
	for _, k := range u.Keys {
		if k.AuthorizedKey == presented {
			found = true
		}
	}
	switch {
	case !found:
		return nil, a.fail(ctx, li, name, "unknown key "+ssh.FingerprintSHA256(key))
	case !u.Enabled:
		return nil, a.fail(ctx, li, name, "user disabled")
	}
	return a.succeed(ctx, li, u)
}

// HasKey reports whether key may log name in, without counting anything:
// SSH servers answer a client's unsigned "would this key do?" queries with
// it, so that a client offering the wrong keys of its agent first is not
// taken for a guesser. A key it accepts must still be proven and passed to
// PublicKey.
func (a *Authenticator) HasKey(ctx context.Context, name string, key ssh.PublicKey) bool {
	u, err := a.store.GetUser(ctx, name)
	if err != nil || !u.Enabled {
		return false
	}
	presented := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	for _, k := range u.Keys {
		if k.AuthorizedKey == presented {
			return true
		}
	}
	return false
}

// KeysRefused records one failed login of name from a connection that
// ended without logging in after every key it offered was turned down
// (HasKey), and waits the defender's delay. It returns ErrBanned when the
// address is banned now.
func (a *Authenticator) KeysRefused(ctx context.Context, li LoginInfo, name string) error {
	reason := "no key accepted"
	if _, err := a.store.GetUser(ctx, name); errors.Is(err, ErrNotFound) {
		reason = "unknown user"
	}
	return a.fail(ctx, li, name, reason)
}

func (a *Authenticator) fail(ctx context.Context, li LoginInfo, name, reason string) error {
	if err := a.defender.Failure(ctx, li, name, reason); err != nil {
		a.obs.Login(li.Protocol, "banned")
		return err
	}
	a.obs.Login(li.Protocol, "failed")
	return ErrAuthFailed
}

func (a *Authenticator) unavailable(li LoginInfo, name string, err error) error {
	a.log.Error("login impossible: store unavailable", "remote", li.Remote.String(), "protocol", li.Protocol, "user", name, "err", err)
	return fmt.Errorf("%w", ErrUnavailable)
}

func (a *Authenticator) succeed(ctx context.Context, li LoginInfo, u *User) (*Principal, error) {
	p, err := u.Policy()
	if err != nil {
		// Validated on every write, so only a hand-edited database gets here.
		a.log.Error("stored user has an invalid policy", "user", u.Name, "err", err)
		return nil, ErrAuthFailed
	}
	a.defender.Success(ctx, li.Remote)
	a.obs.Login(li.Protocol, "ok")
	a.log.Info("login", "remote", li.Remote.String(), "protocol", li.Protocol, "user", u.Name)
	return &Principal{User: u.Name, Policy: p, Limits: u.Limits}, nil
}
