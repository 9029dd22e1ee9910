package auth

import (
	"context"
	"time"
)

// Store keeps users, admins, tokens, bans, login failures and node-shared
// secrets. Two implementations exist, SQLite (the embedded default) and
// PostgreSQL (clusters), with the same behaviour: every node of a cluster
// sees every change at once. Errors wrap ErrNotFound, ErrExists,
// ErrConflict, ErrInvalid or ErrUnavailable. Stored times come back in
// UTC at microsecond precision; empty lists come back nil. Create methods
// set Created only when it is zero.
type Store interface {
	// CreateUser stores a new user (Version becomes 1, Created and
	// Updated are set). ErrExists if the name is taken.
	CreateUser(ctx context.Context, u *User) error
	// GetUser returns the user name. ErrNotFound if there is none.
	GetUser(ctx context.Context, name string) (*User, error)
	// UpdateUser replaces the user u.Name if its stored Version is still
	// u.Version, and bumps u.Version. ErrConflict if it changed meanwhile,
	// ErrNotFound if it is gone.
	UpdateUser(ctx context.Context, u *User) error
	// DeleteUser removes the user name. ErrNotFound if there is none.
	DeleteUser(ctx context.Context, name string) error
	// ListUsers returns up to limit (> 0) users whose names start with
	// prefix and sort after after, in byte order of names.
	ListUsers(ctx context.Context, prefix, after string, limit int) ([]*User, error)
	// CountUsers returns the number of users.
	CountUsers(ctx context.Context) (int, error)

	CreateAdmin(ctx context.Context, a *Admin) error
	GetAdmin(ctx context.Context, name string) (*Admin, error)
	ListAdmins(ctx context.Context) ([]*Admin, error)
	DeleteAdmin(ctx context.Context, name string) error // and its tokens
	UpdateAdminPassword(ctx context.Context, name, hash string) error

	// CreateToken stores a token; ErrNotFound if its admin does not exist.
	CreateToken(ctx context.Context, t *Token) error
	// GetToken returns the token id. ErrNotFound if there is none.
	GetToken(ctx context.Context, id string) (*Token, error)
	ListTokens(ctx context.Context, admin string) ([]*Token, error)
	DeleteToken(ctx context.Context, id string) error

	// AddFailure records a failed login for key (an address or a user
	// name, by kind) at now and returns how many failures of that key are
	// younger than window (> 0). Failures older than max(window, 24h) are
	// pruned.
	AddFailure(ctx context.Context, kind, key string, now time.Time, window time.Duration) (int, error)
	// ClearFailures forgets the failures of key.
	ClearFailures(ctx context.Context, kind, key string) error
	// PutBan bans key until b.Until (replacing an earlier ban).
	PutBan(ctx context.Context, b *Ban) error
	// GetBan returns the ban of key in force at now. ErrNotFound if none.
	GetBan(ctx context.Context, kind, key string, now time.Time) (*Ban, error)
	// ListBans returns the bans in force at now.
	ListBans(ctx context.Context, now time.Time) ([]*Ban, error)
	// DeleteBan lifts a ban. ErrNotFound if there is none.
	DeleteBan(ctx context.Context, kind, key string) error

	// PutSecretIfAbsent stores value under name unless name exists, and
	// returns what is stored after the call: value and true if this call
	// created it, the earlier value and false otherwise. Of several nodes
	// racing, exactly one creates it and all get the same value back.
	PutSecretIfAbsent(ctx context.Context, name string, value []byte) ([]byte, bool, error)
	// GetSecret returns the secret name. ErrNotFound if there is none.
	GetSecret(ctx context.Context, name string) ([]byte, error)

	// PutNode records a node's heartbeat (creating or replacing its row).
	PutNode(ctx context.Context, n *Node) error
	// ListNodes returns every node known to the store, by id.
	ListNodes(ctx context.Context) ([]*Node, error)
	// DeleteNode forgets a node. ErrNotFound if there is none.
	DeleteNode(ctx context.Context, id string) error
	// PruneNodes forgets the nodes whose last heartbeat is older than
	// before and returns how many there were.
	PruneNodes(ctx context.Context, before time.Time) (int, error)

	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	Close() error
}

// Ban kinds.
const (
	KindAddr = "addr"
	KindUser = "user"
)

// Ban keeps an address (or a user name) out until a time.
type Ban struct {
	Kind    string    `json:"kind"`
	Key     string    `json:"key"`
	Until   time.Time `json:"until"`
	Reason  string    `json:"reason"`
	Created time.Time `json:"created"`
}

// Node is a wharf node as its heartbeats describe it.
type Node struct {
	ID        string    `json:"id"`
	Version   string    `json:"version"`
	Address   string    `json:"address,omitempty"` // public address, if known
	Ready     bool      `json:"ready"`             // passing its readiness checks
	Draining  bool      `json:"draining"`
	Sessions  int       `json:"sessions"`
	Started   time.Time `json:"started"`
	Heartbeat time.Time `json:"heartbeat"`
}
