package admin

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/wharf-gw/wharf/auth"
)

// loginLabel is the label of the tokens POST /api/v1/auth/login issues.
const loginLabel = "web-login"

type (
	ctxKey       struct{}
	holderCtxKey struct{}
)

// withCallerHolder gives authenticate a place to report the caller to
// the access log, which runs outside it.
func withCallerHolder(ctx context.Context, h *caller) context.Context {
	return context.WithValue(ctx, holderCtxKey{}, h)
}

// caller is the admin a request is authenticated as.
type caller struct {
	Admin   string    `json:"admin"`
	TokenID string    `json:"token_id"`
	Label   string    `json:"label,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
}

func callerOf(ctx context.Context) *caller {
	c, _ := ctx.Value(ctxKey{}).(*caller)
	return c
}

// unauthorized is a 401 with the Bearer challenge (RFC 6750).
func unauthorized(detail, challengeErr string) *apiError {
	ch := `Bearer realm="wharf"`
	if challengeErr != "" {
		ch += `, error="` + challengeErr + `"`
	}
	return &apiError{kind: kindUnauthorized, detail: detail, header: http.Header{"Www-Authenticate": {ch}}}
}

// authenticate admits requests with a valid admin token in
// "Authorization: Bearer …" and refuses the others with 401.
func (a *Admin) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := a.checkBearer(r)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if h, ok := r.Context().Value(holderCtxKey{}).(*caller); ok {
			*h = *c
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, c)))
	})
}

func (a *Admin) checkBearer(r *http.Request) (*caller, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, unauthorized("send an admin token: Authorization: Bearer wharf_…", "")
	}
	scheme, presented, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(presented) == "" {
		return nil, unauthorized("only Bearer tokens are accepted: Authorization: Bearer wharf_…", "invalid_request")
	}
	id, hash, err := auth.ParseToken(strings.TrimSpace(presented))
	if err != nil {
		return nil, unauthorized("malformed token", "invalid_token")
	}
	t, err := a.store.GetToken(r.Context(), id)
	switch {
	case errors.Is(err, auth.ErrNotFound):
		return nil, unauthorized("unknown or revoked token", "invalid_token")
	case err != nil:
		return nil, err
	case !auth.CheckToken(t, hash, a.now()):
		if !t.Expires.IsZero() && !a.now().Before(t.Expires) && subtleEqual(t, hash) {
			return nil, unauthorized("the token has expired", "invalid_token")
		}
		return nil, unauthorized("unknown or revoked token", "invalid_token")
	}
	return &caller{Admin: t.Admin, TokenID: t.ID, Label: t.Label, Expires: t.Expires}, nil
}

// subtleEqual reports whether hash is t's, ignoring expiry, so that an
// expired token is told so (it was once valid: nothing is leaked).
func subtleEqual(t *auth.Token, hash []byte) bool {
	return auth.CheckToken(&auth.Token{Hash: t.Hash}, hash, time.Time{})
}

type loginRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// loginResponse carries a new token; the secret is shown only here.
type loginResponse struct {
	Token   string    `json:"token"`
	ID      string    `json:"id"`
	Admin   string    `json:"admin"`
	Expires time.Time `json:"expires"`
}

// login exchanges an admin's name and password for a short-lived token.
// Failures go through the defender, like every protocol's.
func (a *Admin) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Name == "" {
		return invalid("name", "required")
	}
	if req.Password == "" {
		return invalid("password", "required")
	}
	li := auth.LoginInfo{Protocol: "admin", Remote: remoteAddr(r)}
	ctx := r.Context()
	if err := a.defender.Check(ctx, li.Remote); err != nil {
		a.metrics.Login("admin", "banned")
		return err
	}
	ad, err := a.store.GetAdmin(ctx, req.Name)
	switch {
	case errors.Is(err, auth.ErrNotFound):
		_, _ = a.verify(ctx, a.dummy, req.Password) // same cost as a known admin
		return a.loginFailed(ctx, li, req.Name, "unknown admin")
	case err != nil:
		return err
	}
	ok, err := a.verify(ctx, ad.PasswordHash, req.Password)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		a.log.Error("stored admin password hash unreadable", "admin", ad.Name, "err", err)
		return a.loginFailed(ctx, li, req.Name, "unreadable password hash")
	case !ok:
		return a.loginFailed(ctx, li, req.Name, "bad password")
	}
	a.defender.Success(ctx, li.Remote)
	secret, t, err := auth.NewToken(ad.Name, loginLabel, a.now(), a.cfg.LoginTTL)
	if err != nil {
		return err
	}
	if err := a.store.CreateToken(ctx, t); err != nil {
		return err
	}
	a.metrics.Login("admin", "ok")
	a.log.Info("admin login", "admin", ad.Name, "remote", li.Remote.String(), "token", t.ID, "expires", t.Expires)
	return writeJSON(w, http.StatusCreated, loginResponse{Token: secret, ID: t.ID, Admin: t.Admin, Expires: t.Expires})
}

func (a *Admin) loginFailed(ctx context.Context, li auth.LoginInfo, name, reason string) error {
	a.metrics.Login("admin", "failed")
	if err := a.defender.Failure(ctx, li, name, reason); err != nil {
		if errors.Is(err, auth.ErrBanned) {
			a.metrics.Ban()
		}
		return err
	}
	return unauthorized("wrong name or password", "")
}

// verify checks a password against a hash, waiting for a free hashing
// slot so that a burst of logins cannot exhaust memory.
func (a *Admin) verify(ctx context.Context, hash, password string) (bool, error) {
	select {
	case a.hashing <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-a.hashing }()
	return auth.VerifyPassword(hash, password)
}

// hash makes a password hash, bounded like verify.
func (a *Admin) hash(ctx context.Context, password string) (string, error) {
	select {
	case a.hashing <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-a.hashing }()
	return auth.HashPassword(password, a.argon2)
}

// me tells the caller who they are authenticated as.
func (a *Admin) me(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, callerOf(r.Context()))
}

// logout revokes the token the request was made with.
func (a *Admin) logout(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r.Context())
	if err := a.store.DeleteToken(r.Context(), c.TokenID); err != nil && !errors.Is(err, auth.ErrNotFound) {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// remoteAddr is the client's address. X-Forwarded-For is not trusted:
// put a proxy in front only if it keeps the client address visible, or
// the defender bans the proxy.
func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		if addr, err := netip.ParseAddr(r.RemoteAddr); err == nil {
			return addr.Unmap()
		}
		return netip.IPv6Unspecified()
	}
	return ap.Addr().Unmap()
}
