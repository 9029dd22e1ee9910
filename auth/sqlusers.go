package auth

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// The JSON forms of a user's lists in the database. They are converted
// from and to Key, Mount and Rule, so that a field added to those fails
// to compile here until its storage is decided, and the API's JSON can
// change without touching stored rows.
type (
	keyRecord struct {
		AuthorizedKey string `json:"key"`
		Fingerprint   string `json:"fingerprint"`
		Comment       string `json:"comment,omitempty"`
	}
	mountRecord struct {
		Path     string `json:"path"`
		Backend  string `json:"backend"`
		Prefix   string `json:"prefix"`
		ReadOnly bool   `json:"read_only,omitempty"`
	}
	ruleRecord struct {
		Pattern string `json:"pattern"`
		Perms   string `json:"perms"`
	}
)

const userColumns = `name, password_hash, enabled, home_backend, home_prefix, keys, mounts, rules, max_sessions, quota_bytes, version, created, updated`

// CreateUser: see Store. It sets u.Version, u.Created and u.Updated. It
// checks only the name; User.Validate, which knows the backends, is the
// caller's.
func (s *sqlStore) CreateUser(ctx context.Context, u *User) error {
	if err := ValidateName(u.Name); err != nil {
		return err
	}
	keys, mounts, rules, err := encodeLists(u)
	if err != nil {
		return err
	}
	now := utcMicros(s.now())
	_, err = s.db.ExecContext(ctx, s.d.q(`INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)`),
		u.Name, u.PasswordHash, u.Enabled, u.Home.Backend, u.Home.Prefix, keys, mounts, rules,
		u.Limits.MaxSessions, u.Limits.QuotaBytes, s.d.time(now), s.d.time(now))
	switch {
	case s.isKind(err, ErrExists):
		return fmt.Errorf("user %q: %w", u.Name, ErrExists)
	case err != nil:
		return s.fail(err, "create user %q", u.Name)
	}
	u.Version, u.Created, u.Updated = 1, now, now
	return nil
}

// GetUser: see Store. One query.
func (s *sqlStore) GetUser(ctx context.Context, name string) (*User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, s.d.q(`SELECT `+userColumns+` FROM users WHERE name = ?`), name))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("user %q: %w", name, ErrNotFound)
	case err != nil:
		return nil, s.fail(err, "get user %q", name)
	}
	return u, nil
}

// UpdateUser: see Store. It bumps u.Version and sets u.Updated.
func (s *sqlStore) UpdateUser(ctx context.Context, u *User) error {
	keys, mounts, rules, err := encodeLists(u)
	if err != nil {
		return err
	}
	now := utcMicros(s.now())
	res, err := s.db.ExecContext(ctx, s.d.q(`UPDATE users SET password_hash = ?, enabled = ?, home_backend = ?, home_prefix = ?,
		keys = ?, mounts = ?, rules = ?, max_sessions = ?, quota_bytes = ?, version = version + 1, updated = ?
		WHERE name = ? AND version = ?`),
		u.PasswordHash, u.Enabled, u.Home.Backend, u.Home.Prefix, keys, mounts, rules,
		u.Limits.MaxSessions, u.Limits.QuotaBytes, s.d.time(now), u.Name, u.Version)
	n, err := s.rowsAffected(res, err, "update user %q", u.Name)
	if err != nil {
		return err
	}
	if n == 0 {
		var one int
		err := s.db.QueryRowContext(ctx, s.d.q(`SELECT 1 FROM users WHERE name = ?`), u.Name).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("user %q: %w", u.Name, ErrNotFound)
		case err != nil:
			return s.fail(err, "update user %q", u.Name)
		}
		return fmt.Errorf("user %q: version %d: %w", u.Name, u.Version, ErrConflict)
	}
	u.Version++
	u.Updated = now
	return nil
}

// DeleteUser: see Store.
func (s *sqlStore) DeleteUser(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, s.d.q(`DELETE FROM users WHERE name = ?`), name)
	n, err := s.rowsAffected(res, err, "delete user %q", name)
	if err == nil && n == 0 {
		err = fmt.Errorf("user %q: %w", name, ErrNotFound)
	}
	return err
}

// ListUsers: see Store. limit must be positive. Names compare byte by
// byte on both databases.
func (s *sqlStore) ListUsers(ctx context.Context, prefix, after string, limit int) ([]*User, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%w: list users: limit %d must be positive", ErrInvalid, limit)
	}
	if !validText(prefix) || !validText(after) {
		return nil, fmt.Errorf("%w: list users: prefix and after must be UTF-8 without NUL", ErrInvalid)
	}
	// prefix <= name < end selects the names starting with prefix, using
	// the primary key's order.
	query, args := `SELECT `+userColumns+` FROM users WHERE name > ? AND name >= ?`, []any{after, prefix}
	if end := prefixEnd(prefix); end != "" {
		query += ` AND name < ?`
		args = append(args, end)
	}
	query += ` ORDER BY name LIMIT ?`
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, s.d.q(query), args...)
	if err != nil {
		return nil, s.fail(err, "list users")
	}
	defer rows.Close()
	users := make([]*User, 0, min(limit, 100))
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, s.fail(err, "list users")
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "list users")
	}
	return users, nil
}

// CountUsers: see Store.
func (s *sqlStore) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, s.fail(err, "count users")
	}
	return n, nil
}

// validText reports whether both databases can hold s as text.
func validText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// prefixEnd returns the least string above every string that starts with
// prefix, in byte (= code point) order, or "" if there is no such bound.
func prefixEnd(prefix string) string {
	r := []rune(prefix)
	for i := len(r) - 1; i >= 0; i-- {
		if r[i] == utf8.MaxRune {
			continue
		}
		next := r[i] + 1
		if next == 0xD800 { // skip the surrogates, which UTF-8 cannot hold
			next = 0xE000
		}
		return string(r[:i]) + string(next)
	}
	return ""
}

// scanUser reads one row of userColumns.
func scanUser(row interface{ Scan(...any) error }) (*User, error) {
	var (
		u                   User
		keys, mounts, rules []byte
	)
	err := row.Scan(&u.Name, &u.PasswordHash, &u.Enabled, &u.Home.Backend, &u.Home.Prefix, &keys, &mounts, &rules,
		&u.Limits.MaxSessions, &u.Limits.QuotaBytes, &u.Version, timeColumn{&u.Created}, timeColumn{&u.Updated})
	if err != nil {
		return nil, err
	}
	if err := decodeLists(&u, keys, mounts, rules); err != nil {
		return nil, fmt.Errorf("user %q: %w", u.Name, err)
	}
	return &u, nil
}

// encodeLists returns the JSON of u's keys, mounts and rules ("[]" for
// none).
func encodeLists(u *User) (keys, mounts, rules string, err error) {
	kr := make([]keyRecord, len(u.Keys))
	for i, k := range u.Keys {
		kr[i] = keyRecord(k)
	}
	mr := make([]mountRecord, len(u.Mounts))
	for i, m := range u.Mounts {
		mr[i] = mountRecord(m)
	}
	rr := make([]ruleRecord, len(u.Rules))
	for i, r := range u.Rules {
		rr[i] = ruleRecord(r)
	}
	var b [3][]byte
	for i, v := range []any{kr, mr, rr} {
		if b[i], err = json.Marshal(v); err != nil {
			return "", "", "", fmt.Errorf("%w: user %q: %v", ErrInvalid, u.Name, err)
		}
	}
	return string(b[0]), string(b[1]), string(b[2]), nil
}

// decodeLists fills u's keys, mounts and rules from their JSON; empty
// lists are nil.
func decodeLists(u *User, keys, mounts, rules []byte) error {
	var (
		kr []keyRecord
		mr []mountRecord
		rr []ruleRecord
	)
	if err := json.Unmarshal(keys, &kr); err != nil {
		return fmt.Errorf("stored keys: %v", err)
	}
	if err := json.Unmarshal(mounts, &mr); err != nil {
		return fmt.Errorf("stored mounts: %v", err)
	}
	if err := json.Unmarshal(rules, &rr); err != nil {
		return fmt.Errorf("stored rules: %v", err)
	}
	u.Keys, u.Mounts, u.Rules = nil, nil, nil
	if len(kr) > 0 {
		u.Keys = make([]Key, len(kr))
		for i, k := range kr {
			u.Keys[i] = Key(k)
		}
	}
	if len(mr) > 0 {
		u.Mounts = make([]Mount, len(mr))
		for i, m := range mr {
			u.Mounts[i] = Mount(m)
		}
	}
	if len(rr) > 0 {
		u.Rules = make([]Rule, len(rr))
		for i, r := range rr {
			u.Rules[i] = Rule(r)
		}
	}
	return nil
}

// CreateAdmin: see Store. A zero a.Created is set to now.
func (s *sqlStore) CreateAdmin(ctx context.Context, a *Admin) error {
	if err := ValidateName(a.Name); err != nil {
		return err
	}
	if a.Created.IsZero() {
		a.Created = s.now()
	}
	a.Created = utcMicros(a.Created)
	_, err := s.db.ExecContext(ctx, s.d.q(`INSERT INTO admins (name, password_hash, created) VALUES (?, ?, ?)`),
		a.Name, a.PasswordHash, s.d.time(a.Created))
	switch {
	case s.isKind(err, ErrExists):
		return fmt.Errorf("admin %q: %w", a.Name, ErrExists)
	case err != nil:
		return s.fail(err, "create admin %q", a.Name)
	}
	return nil
}

// GetAdmin: see Store.
func (s *sqlStore) GetAdmin(ctx context.Context, name string) (*Admin, error) {
	var a Admin
	err := s.db.QueryRowContext(ctx, s.d.q(`SELECT name, password_hash, created FROM admins WHERE name = ?`), name).
		Scan(&a.Name, &a.PasswordHash, timeColumn{&a.Created})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("admin %q: %w", name, ErrNotFound)
	case err != nil:
		return nil, s.fail(err, "get admin %q", name)
	}
	return &a, nil
}

// ListAdmins: see Store. In name order.
func (s *sqlStore) ListAdmins(ctx context.Context) ([]*Admin, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, password_hash, created FROM admins ORDER BY name`)
	if err != nil {
		return nil, s.fail(err, "list admins")
	}
	defer rows.Close()
	var admins []*Admin
	for rows.Next() {
		var a Admin
		if err := rows.Scan(&a.Name, &a.PasswordHash, timeColumn{&a.Created}); err != nil {
			return nil, s.fail(err, "list admins")
		}
		admins = append(admins, &a)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "list admins")
	}
	return admins, nil
}

// DeleteAdmin: see Store. The database deletes the admin's tokens with it
// (ON DELETE CASCADE).
func (s *sqlStore) DeleteAdmin(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, s.d.q(`DELETE FROM admins WHERE name = ?`), name)
	n, err := s.rowsAffected(res, err, "delete admin %q", name)
	if err == nil && n == 0 {
		err = fmt.Errorf("admin %q: %w", name, ErrNotFound)
	}
	return err
}

// UpdateAdminPassword: see Store. ErrNotFound if there is no admin name.
func (s *sqlStore) UpdateAdminPassword(ctx context.Context, name, hash string) error {
	res, err := s.db.ExecContext(ctx, s.d.q(`UPDATE admins SET password_hash = ? WHERE name = ?`), hash, name)
	n, err := s.rowsAffected(res, err, "update admin %q", name)
	if err == nil && n == 0 {
		err = fmt.Errorf("admin %q: %w", name, ErrNotFound)
	}
	return err
}

const tokenColumns = `id, admin, label, hash, created, expires`

// CreateToken: see Store. ErrExists if the id is taken, ErrNotFound if
// there is no admin t.Admin. A zero t.Created is set to now.
func (s *sqlStore) CreateToken(ctx context.Context, t *Token) error {
	if t.ID == "" || len(t.Hash) == 0 {
		return fmt.Errorf("%w: token: id and hash required", ErrInvalid)
	}
	if t.Created.IsZero() {
		t.Created = s.now()
	}
	t.Created = utcMicros(t.Created)
	if !t.Expires.IsZero() {
		t.Expires = utcMicros(t.Expires)
	}
	_, err := s.db.ExecContext(ctx, s.d.q(`INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?)`),
		t.ID, t.Admin, t.Label, t.Hash, s.d.time(t.Created), s.d.nullTime(t.Expires))
	switch {
	case s.isKind(err, ErrExists):
		return fmt.Errorf("token %q: %w", t.ID, ErrExists)
	case s.isKind(err, ErrNotFound):
		return fmt.Errorf("token %q: admin %q: %w", t.ID, t.Admin, ErrNotFound)
	case err != nil:
		return s.fail(err, "create token %q", t.ID)
	}
	return nil
}

// GetToken: see Store.
func (s *sqlStore) GetToken(ctx context.Context, id string) (*Token, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, s.d.q(`SELECT `+tokenColumns+` FROM tokens WHERE id = ?`), id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("token %q: %w", id, ErrNotFound)
	case err != nil:
		return nil, s.fail(err, "get token %q", id)
	}
	return t, nil
}

// ListTokens: see Store. Oldest first; ErrNotFound if there is no admin
// admin.
func (s *sqlStore) ListTokens(ctx context.Context, admin string) ([]*Token, error) {
	rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT `+tokenColumns+` FROM tokens WHERE admin = ? ORDER BY created, id`), admin)
	if err != nil {
		return nil, s.fail(err, "list tokens of %q", admin)
	}
	defer rows.Close()
	var tokens []*Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, s.fail(err, "list tokens of %q", admin)
		}
		tokens = append(tokens, t)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "list tokens of %q", admin)
	}
	if len(tokens) == 0 {
		if _, err := s.GetAdmin(ctx, admin); err != nil {
			return nil, err
		}
	}
	return tokens, nil
}

// DeleteToken: see Store. ErrNotFound if there is no token id.
func (s *sqlStore) DeleteToken(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, s.d.q(`DELETE FROM tokens WHERE id = ?`), id)
	n, err := s.rowsAffected(res, err, "delete token %q", id)
	if err == nil && n == 0 {
		err = fmt.Errorf("token %q: %w", id, ErrNotFound)
	}
	return err
}

func scanToken(row interface{ Scan(...any) error }) (*Token, error) {
	var t Token
	if err := row.Scan(&t.ID, &t.Admin, &t.Label, &t.Hash, timeColumn{&t.Created}, timeColumn{&t.Expires}); err != nil {
		return nil, err
	}
	return &t, nil
}
