package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// failureRetention is how long failed logins are kept at least; older
// ones (and ones older than the longest window asked for) are pruned by
// AddFailure, so the table holds about a day of failures.
const failureRetention = 24 * time.Hour

// banRetention is how long an expired ban is kept before PutBan prunes it.
const banRetention = 24 * time.Hour

// AddFailure: see Store. window must be positive. Failures of every key
// older than max(window, 24 h) are pruned on the way.
func (s *sqlStore) AddFailure(ctx context.Context, kind, key string, now time.Time, window time.Duration) (int, error) {
	if kind == "" || key == "" || window <= 0 {
		return 0, fmt.Errorf("%w: failure: kind, key and a positive window required", ErrInvalid)
	}
	if !validText(kind) || !validText(key) {
		return 0, fmt.Errorf("%w: failure: kind and key must be UTF-8 without NUL", ErrInvalid)
	}
	now = utcMicros(now)
	if _, err := s.db.ExecContext(ctx, s.d.q(`DELETE FROM login_failures WHERE at < ?`),
		s.d.time(now.Add(-max(window, failureRetention)))); err != nil {
		return 0, s.fail(err, "prune failures")
	}
	if _, err := s.db.ExecContext(ctx, s.d.q(`INSERT INTO login_failures (kind, key, at) VALUES (?, ?, ?)`),
		kind, key, s.d.time(now)); err != nil {
		return 0, s.fail(err, "add failure of %s %q", kind, key)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, s.d.q(`SELECT count(*) FROM login_failures WHERE kind = ? AND key = ? AND at > ?`),
		kind, key, s.d.time(now.Add(-window))).Scan(&n); err != nil {
		return 0, s.fail(err, "count failures of %s %q", kind, key)
	}
	return n, nil
}

// ClearFailures: see Store.
func (s *sqlStore) ClearFailures(ctx context.Context, kind, key string) error {
	if _, err := s.db.ExecContext(ctx, s.d.q(`DELETE FROM login_failures WHERE kind = ? AND key = ?`), kind, key); err != nil {
		return s.fail(err, "clear failures of %s %q", kind, key)
	}
	return nil
}

const banColumns = `kind, key, until, reason, created`

// PutBan: see Store. A zero b.Created is set to now. Bans that expired a
// day before b.Created are pruned.
func (s *sqlStore) PutBan(ctx context.Context, b *Ban) error {
	if b.Kind == "" || b.Key == "" {
		return fmt.Errorf("%w: ban: kind and key required", ErrInvalid)
	}
	if b.Created.IsZero() {
		b.Created = s.now()
	}
	b.Created, b.Until = utcMicros(b.Created), utcMicros(b.Until)
	_, err := s.db.ExecContext(ctx, s.d.q(`INSERT INTO bans (`+banColumns+`) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (kind, key) DO UPDATE SET until = excluded.until, reason = excluded.reason, created = excluded.created`),
		b.Kind, b.Key, s.d.time(b.Until), b.Reason, s.d.time(b.Created))
	if err != nil {
		return s.fail(err, "ban %s %q", b.Kind, b.Key)
	}
	if _, err := s.db.ExecContext(ctx, s.d.q(`DELETE FROM bans WHERE until < ?`), s.d.time(b.Created.Add(-banRetention))); err != nil {
		return s.fail(err, "prune bans")
	}
	return nil
}

// GetBan: see Store.
func (s *sqlStore) GetBan(ctx context.Context, kind, key string, now time.Time) (*Ban, error) {
	b, err := scanBan(s.db.QueryRowContext(ctx, s.d.q(`SELECT `+banColumns+` FROM bans WHERE kind = ? AND key = ? AND until > ?`),
		kind, key, s.d.time(now)))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("ban of %s %q: %w", kind, key, ErrNotFound)
	case err != nil:
		return nil, s.fail(err, "get ban of %s %q", kind, key)
	}
	return b, nil
}

// ListBans: see Store. By kind, then key.
func (s *sqlStore) ListBans(ctx context.Context, now time.Time) ([]*Ban, error) {
	rows, err := s.db.QueryContext(ctx, s.d.q(`SELECT `+banColumns+` FROM bans WHERE until > ? ORDER BY kind, key`), s.d.time(now))
	if err != nil {
		return nil, s.fail(err, "list bans")
	}
	defer rows.Close()
	var bans []*Ban
	for rows.Next() {
		b, err := scanBan(rows)
		if err != nil {
			return nil, s.fail(err, "list bans")
		}
		bans = append(bans, b)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, "list bans")
	}
	return bans, nil
}

// DeleteBan: see Store. An expired ban that is still stored counts as
// one.
func (s *sqlStore) DeleteBan(ctx context.Context, kind, key string) error {
	res, err := s.db.ExecContext(ctx, s.d.q(`DELETE FROM bans WHERE kind = ? AND key = ?`), kind, key)
	n, err := s.rowsAffected(res, err, "delete ban of %s %q", kind, key)
	if err == nil && n == 0 {
		err = fmt.Errorf("ban of %s %q: %w", kind, key, ErrNotFound)
	}
	return err
}

func scanBan(row interface{ Scan(...any) error }) (*Ban, error) {
	var b Ban
	if err := row.Scan(&b.Kind, &b.Key, timeColumn{&b.Until}, &b.Reason, timeColumn{&b.Created}); err != nil {
		return nil, err
	}
	return &b, nil
}
