package sftp

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/wharf-gw/wharf/auth"
)

// extUser is the Permissions extension naming the logged-in user.
const extUser = "wharf-user"

// connAuth authenticates one connection through auth: password,
// keyboard-interactive (one password prompt) and public key. Every
// failure goes through auth, and so through the defender.
type connAuth struct {
	srv *Server
	ctx context.Context // bounded by the handshake and authentication timeouts
	li  auth.LoginInfo
	nc  net.Conn
	rc  *auth.Conn
	log *slog.Logger

	mu        sync.Mutex
	principal *auth.Principal // set by the one successful callback
	keyUser   string          // the user of the last key turned down, "" if none
	counted   bool            // a failure of this connection reached the defender
}

// config returns the SSH server configuration of this connection.
func (a *connAuth) config() *ssh.ServerConfig {
	cfg := a.srv.cfg
	sc := &ssh.ServerConfig{
		Config: ssh.Config{
			KeyExchanges: cfg.KexAlgorithms,
			Ciphers:      cfg.Ciphers,
			MACs:         cfg.MACs,
		},
		PublicKeyAuthAlgorithms:     pubKeyAuthAlgorithms,
		MaxAuthTries:                cfg.MaxAuthTries,
		ServerVersion:               serverVersion,
		PasswordCallback:            a.password,
		KeyboardInteractiveCallback: a.keyboardInteractive,
		PublicKeyCallback:           a.offeredKey,
		VerifiedPublicKeyCallback:   a.verifiedKey,
		PreAuthConnCallback: func(ssh.ServerPreAuthConn) {
			// The key exchange is done: authentication gets its own time.
			a.nc.SetDeadline(time.Now().Add(cfg.AuthTimeout))
		},
		AuthLogCallback: func(md ssh.ConnMetadata, method string, err error) {
			if method != "none" {
				a.log.Debug("auth attempt", "user", md.User(), "method", method, "err", err)
			}
		},
	}
	for _, k := range a.srv.keys {
		sc.AddHostKey(k.signer)
	}
	return sc
}

func (a *connAuth) password(md ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
	return a.login(func() (*auth.Principal, error) {
		return a.srv.deps.Auth.Password(a.ctx, a.li, md.User(), string(pw))
	})
}

// keyboardInteractive asks for the password with one prompt.
func (a *connAuth) keyboardInteractive(md ssh.ConnMetadata, challenge ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
	answers, err := challenge("", "", []string{"Password: "}, []bool{false})
	if err != nil {
		return nil, err
	}
	if len(answers) != 1 {
		return nil, errors.New("expected one answer")
	}
	return a.password(md, []byte(answers[0]))
}

// errUnknownKey answers a query for a key the user does not have.
var errUnknownKey = errors.New("key not accepted")

// offeredKey answers a client's query "would this key do?": it authorizes
// nothing, and counts no failure at once (a client tries the keys of its
// agent in turn); a connection that ends without logging in after keys
// were turned down counts one (see keysFailed). The login itself happens
// in verifiedKey, which only runs once the client has proven it holds the
// private key.
func (a *connAuth) offeredKey(md ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	if !a.srv.deps.Auth.HasKey(a.ctx, md.User(), key) {
		a.mu.Lock()
		a.keyUser = md.User()
		a.mu.Unlock()
		return nil, errUnknownKey
	}
	return nil, nil
}

// keysFailed tells the defender of a connection that ended without
// logging in after the client's keys were turned down, unless one of its
// failures already reached it: once per connection, as a failed password
// counts once per attempt. Without it, guessing users or keys would never
// be slowed or banned.
func (a *connAuth) keysFailed(ctx context.Context) {
	a.mu.Lock()
	user := a.keyUser
	skip := user == "" || a.counted || a.principal != nil
	a.mu.Unlock()
	if !skip {
		a.srv.deps.Auth.KeysRefused(ctx, a.li, user)
	}
}

func (a *connAuth) verifiedKey(md ssh.ConnMetadata, key ssh.PublicKey, _ *ssh.Permissions, _ string) (*ssh.Permissions, error) {
	return a.login(func() (*auth.Principal, error) {
		return a.srv.deps.Auth.PublicKey(a.ctx, a.li, md.User(), key)
	})
}

// login runs one authentication and, when it succeeds, records the user
// in the registry within their session limit.
func (a *connAuth) login(authenticate func() (*auth.Principal, error)) (*ssh.Permissions, error) {
	p, err := authenticate()
	if errors.Is(err, auth.ErrAuthFailed) || errors.Is(err, auth.ErrBanned) {
		a.mu.Lock()
		a.counted = true
		a.mu.Unlock()
	}
	switch {
	case errors.Is(err, auth.ErrBanned):
		a.log.Warn("connection closed", "reason", err.Error())
		a.nc.Close()
		return nil, err
	case errors.Is(err, auth.ErrUnavailable):
		return nil, &ssh.BannerError{Err: err, Message: "wharf: logins are temporarily unavailable, try again later\r\n"}
	case err != nil:
		return nil, err
	}
	if err := a.rc.Login(p.User, p.Limits.MaxSessions); err != nil {
		a.log.Warn("session refused", "user", p.User, "reason", err.Error())
		return nil, &ssh.BannerError{Err: err, Message: "wharf: " + err.Error() + "\r\n"}
	}
	a.mu.Lock()
	a.principal = p
	a.mu.Unlock()
	return &ssh.Permissions{Extensions: map[string]string{extUser: p.User}}, nil
}

// result returns the principal of the authenticated connection, checked
// against the permissions the SSH layer kept for it.
func (a *connAuth) result(perms *ssh.Permissions) *auth.Principal {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.principal == nil || perms == nil || perms.Extensions[extUser] != a.principal.User {
		return nil
	}
	return a.principal
}
