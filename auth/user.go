// Package auth is wharf's identity and policy layer: users and their
// homes, mounts, rules and keys; admins and their API tokens; the store
// that keeps them (SQLite or PostgreSQL); the authentication entry points
// every protocol calls; and the defender that slows and bans password
// guessing. It produces acl policies; it never touches storage itself.
package auth

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/wharf-gw/wharf/storage/acl"
)

// Error kinds of this package; errors wrap them.
var (
	ErrNotFound    = errors.New("not found")
	ErrExists      = errors.New("already exists")
	ErrConflict    = errors.New("changed by someone else") // optimistic concurrency
	ErrInvalid     = errors.New("invalid")
	ErrAuthFailed  = errors.New("authentication failed") // what clients are told, whatever the reason
	ErrBanned      = errors.New("address banned")
	ErrUnavailable = errors.New("identity store unavailable")
)

// User is an account that logs in over FTP, FTPS or SFTP.
type User struct {
	Name         string    `json:"name"`
	PasswordHash string    `json:"-"` // argon2id PHC string; "" means no password login
	Keys         []Key     `json:"keys"`
	Enabled      bool      `json:"enabled"`
	Home         Home      `json:"home"`
	Mounts       []Mount   `json:"mounts"`
	Rules        []Rule    `json:"rules"`
	Limits       Limits    `json:"limits"`
	Version      int64     `json:"version"` // bumped by every update; 0 before creation
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
}

// Home is where a user's "/" lives.
type Home struct {
	Backend string `json:"backend"`
	Prefix  string `json:"prefix"` // "" or ending in "/"
}

// Mount is an extra folder inside the home, served from another place.
type Mount struct {
	Path     string `json:"path"`
	Backend  string `json:"backend"`
	Prefix   string `json:"prefix"`
	ReadOnly bool   `json:"read_only"`
}

// Rule grants permissions below a path pattern (see acl.Rule). Perms is
// the comma-separated form acl.ParsePerms reads ("list,read", "*").
type Rule struct {
	Pattern string `json:"pattern"`
	Perms   string `json:"perms"`
}

// Limits are optional per-user limits; zero means unlimited.
type Limits struct {
	MaxSessions int   `json:"max_sessions"`
	QuotaBytes  int64 `json:"quota_bytes"`
}

// Key is an SSH public key allowed to log in as the user.
type Key struct {
	AuthorizedKey string `json:"key"`         // one authorized_keys line, normalized
	Fingerprint   string `json:"fingerprint"` // SHA256:...
	Comment       string `json:"comment,omitempty"`
}

// Name limits: ASCII letters, digits and ".-_@", starting with a letter or
// digit: safe in paths, logs and every protocol.
const MaxNameLen = 64

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]*$`)

// ValidateName checks a user or admin name.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: name: required", ErrInvalid)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: name: longer than %d characters", ErrInvalid, MaxNameLen)
	case !nameRE.MatchString(name):
		return fmt.Errorf("%w: name %q: use letters, digits and . _ @ -, starting with a letter or digit", ErrInvalid, name)
	}
	return nil
}

// Validate checks u completely and returns every problem, each naming its
// field. backends are the configured backend names; nil skips that check
// (for tools that do not know the configuration).
func (u *User) Validate(backends []string) error {
	var errs []error
	if err := ValidateName(u.Name); err != nil {
		errs = append(errs, err)
	}
	known := func(field, b string) {
		switch {
		case b == "":
			errs = append(errs, fmt.Errorf("%w: %s: backend required", ErrInvalid, field))
		case backends != nil && !contains(backends, b):
			errs = append(errs, fmt.Errorf("%w: %s: unknown backend %q (configured: %s)", ErrInvalid, field, b, strings.Join(backends, ", ")))
		}
	}
	known("home.backend", u.Home.Backend)
	if err := acl.ValidatePrefix(u.Home.Prefix); err != nil {
		errs = append(errs, fmt.Errorf("%w: home.prefix: %v", ErrInvalid, err))
	}
	seen := map[string]int{}
	for i, m := range u.Mounts {
		field := fmt.Sprintf("mounts[%d]", i)
		switch {
		case !acl.IsCanonical(m.Path) || m.Path == "/":
			errs = append(errs, fmt.Errorf("%w: %s.path: %q must be a canonical absolute path other than \"/\"", ErrInvalid, field, m.Path))
		default:
			if j, dup := seen[m.Path]; dup {
				errs = append(errs, fmt.Errorf("%w: %s.path: %q is already mounted by mounts[%d]", ErrInvalid, field, m.Path, j))
			}
			seen[m.Path] = i
		}
		known(field+".backend", m.Backend)
		if err := acl.ValidatePrefix(m.Prefix); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s.prefix: %v", ErrInvalid, field, err))
		}
	}
	patterns := map[string]int{}
	for i, r := range u.Rules {
		field := fmt.Sprintf("rules[%d]", i)
		if _, err := acl.ParsePerms(r.Perms); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s.perms: %v", ErrInvalid, field, err))
		}
		if j, dup := patterns[r.Pattern]; dup {
			errs = append(errs, fmt.Errorf("%w: %s.pattern: %q is already used by rules[%d]", ErrInvalid, field, r.Pattern, j))
		}
		patterns[r.Pattern] = i
		if _, err := acl.New([]acl.Mount{{Path: "/", Backend: "x"}}, []acl.Rule{{Pattern: r.Pattern}}); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s.pattern: %v", ErrInvalid, field, strings.TrimPrefix(err.Error(), "rules[0]: ")))
		}
	}
	if u.Limits.MaxSessions < 0 {
		errs = append(errs, fmt.Errorf("%w: limits.max_sessions: must not be negative", ErrInvalid))
	}
	if u.Limits.QuotaBytes < 0 {
		errs = append(errs, fmt.Errorf("%w: limits.quota_bytes: must not be negative", ErrInvalid))
	}
	for i, k := range u.Keys {
		if _, err := ParseKey(k.AuthorizedKey); err != nil {
			errs = append(errs, fmt.Errorf("%w: keys[%d]: %v", ErrInvalid, i, err))
		}
	}
	if err := u.policyErr(); err != nil && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("%w: %v", ErrInvalid, err))
	}
	return errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Policy builds the user's acl policy: the home at "/", the extra mounts,
// the rules.
func (u *User) Policy() (*acl.Policy, error) {
	mounts := make([]acl.Mount, 0, 1+len(u.Mounts))
	mounts = append(mounts, acl.Mount{Path: "/", Backend: u.Home.Backend, Prefix: u.Home.Prefix, Quota: u.Limits.QuotaBytes})
	for _, m := range u.Mounts {
		mounts = append(mounts, acl.Mount{Path: m.Path, Backend: m.Backend, Prefix: m.Prefix, ReadOnly: m.ReadOnly})
	}
	rules := make([]acl.Rule, 0, len(u.Rules))
	for i, r := range u.Rules {
		p, err := acl.ParsePerms(r.Perms)
		if err != nil {
			return nil, fmt.Errorf("rules[%d]: %w", i, err)
		}
		rules = append(rules, acl.Rule{Pattern: r.Pattern, Perms: p})
	}
	return acl.New(mounts, rules)
}

func (u *User) policyErr() error {
	_, err := u.Policy()
	return err
}

// Admin is an account of the admin API and web UI.
type Admin struct {
	Name         string    `json:"name"`
	PasswordHash string    `json:"-"`
	Created      time.Time `json:"created"`
}

// Token is an admin API token. Only a hash of its secret is stored; the
// secret is shown once, when it is created.
type Token struct {
	ID      string    `json:"id"` // public part, also the lookup key
	Admin   string    `json:"admin"`
	Label   string    `json:"label,omitempty"`
	Hash    []byte    `json:"-"` // SHA-256 of the secret part
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires,omitzero"` // zero: never
}

// UserView is a user as administrators see it (the admin API and 'wharf
// user --json'): every field but the password hash, whether a password is
// set, and lists as [] rather than null.
type UserView struct {
	*User
	PasswordSet bool `json:"password_set"`
}

// View returns the administrators' view of a copy of u.
func (u *User) View() UserView {
	c := *u
	if c.Keys == nil {
		c.Keys = []Key{}
	}
	if c.Mounts == nil {
		c.Mounts = []Mount{}
	}
	if c.Rules == nil {
		c.Rules = []Rule{}
	}
	return UserView{User: &c, PasswordSet: u.PasswordHash != ""}
}
