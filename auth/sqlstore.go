package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"modernc.org/sqlite"               // the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/wharf-gw/wharf/migrations"
)

// StoreConfig says which database keeps the Store.
type StoreConfig struct {
	// Driver is "sqlite" (the embedded default, one file) or "postgres"
	// (shared by the nodes of a cluster).
	Driver string
	// DSN is, for sqlite, the database file's path (its folder is created
	// if missing, the file is private to its owner); for postgres, a URL
	// ("postgres://user:password@host:5432/db?sslmode=verify-full") or
	// key=value settings ("host=db user=wharf dbname=wharf").
	DSN string
}

// OpenStore opens the database of cfg, checks that it answers and applies
// the migrations it lacks. It refuses a database whose schema is newer
// than this binary knows. Errors wrap ErrInvalid for a bad cfg and
// ErrUnavailable when the database cannot be reached.
func OpenStore(ctx context.Context, cfg StoreConfig) (Store, error) {
	s, err := openSQL(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

// Migrate brings the schema of cfg's database up to date (what `wharf
// migrate` does) and returns the versions it applied, none if the schema
// was current.
func Migrate(ctx context.Context, cfg StoreConfig) (applied []int, err error) {
	s, err := openSQL(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer s.db.Close()
	return s.migrate(ctx)
}

// sqlStore is the Store over database/sql, for every dialect.
type sqlStore struct {
	db  *sql.DB
	d   *dialect
	now func() time.Time // stamps Created and Updated
}

var _ Store = (*sqlStore)(nil)

// dialect is what differs between the databases. Everything else,
// including ON CONFLICT upserts and RETURNING, is written once.
type dialect struct {
	name     string // as in migrations: "sqlite", "postgres"
	driver   string // the database/sql driver
	dollar   bool   // placeholders are $1, $2, ... rather than ?
	micros   bool   // times are INTEGER microseconds rather than TIMESTAMPTZ
	lock     string // run first in a migration transaction to exclude other nodes; "" if BEGIN does
	hasTable string // counts the tables named ? in the current schema
	kind     func(error) error
}

var (
	sqliteDialect = &dialect{
		name: "sqlite", driver: "sqlite", micros: true,
		// BEGIN IMMEDIATE (_txlock) takes the write lock: the
		// transaction is the lock.
		hasTable: `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`,
		kind:     sqliteKind,
	}
	postgresDialect = &dialect{
		name: "postgres", driver: "pgx", dollar: true,
		// One lock per schema, so that nodes sharing a schema migrate
		// it once while other schemas (tests) go their own way.
		lock:     `SELECT pg_advisory_xact_lock(hashtext('wharf migrations ' || coalesce(current_schema(), '')))`,
		hasTable: `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?`,
		kind:     postgresKind,
	}
)

// sqliteOptions are set on every SQLite connection: a writer waits up to
// 5 s for another one, in this process or another, instead of failing
// with SQLITE_BUSY; transactions take the write lock when they begin, so
// that two of them never deadlock upgrading a read lock; foreign keys
// cascade. WAL mode, which keeps readers and the writer out of each
// other's way, is a property of the file: sqliteWAL sets it once.
const sqliteOptions = "?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_txlock=immediate"

// sqliteWAL switches the database file to WAL mode. The switch needs the
// file to itself and fails at once with SQLITE_BUSY, busy timeout or not,
// while another process opens it; so it is retried for a while.
func sqliteWAL(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var mode string
		err := db.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode)
		var e *sqlite.Error
		switch {
		case err == nil && strings.EqualFold(mode, "wal"):
			return nil
		case err == nil:
			return fmt.Errorf("journal mode is %q, not wal", mode)
		case !errors.As(err, &e) || e.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline):
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func openSQL(ctx context.Context, cfg StoreConfig) (*sqlStore, error) {
	var (
		d   *dialect
		dsn = cfg.DSN
	)
	switch cfg.Driver {
	case "sqlite":
		d = sqliteDialect
		if dsn == "" || strings.ContainsRune(dsn, '?') || strings.HasPrefix(dsn, "file:") {
			return nil, fmt.Errorf("%w: store: sqlite DSN must be a file path (no file: URI, no ?options), got %q", ErrInvalid, dsn)
		}
		if err := createPrivate(dsn); err != nil {
			return nil, fmt.Errorf("%w: store: %v", ErrUnavailable, err)
		}
		dsn += sqliteOptions
	case "postgres":
		d = postgresDialect
		if dsn == "" {
			return nil, fmt.Errorf("%w: store: postgres DSN required", ErrInvalid)
		}
	default:
		return nil, fmt.Errorf("%w: store: unknown driver %q (use sqlite or postgres)", ErrInvalid, cfg.Driver)
	}
	db, err := sql.Open(d.driver, dsn)
	if err != nil {
		// Never print the DSN: it may hold a password.
		return nil, fmt.Errorf("%w: store: %s: %v", ErrInvalid, cfg.Driver, err)
	}
	if d == sqliteDialect {
		// One writer at a time anyway; a few readers; keep them open,
		// since every new connection replays the pragmas.
		db.SetMaxOpenConns(8)
		db.SetMaxIdleConns(8)
	} else {
		db.SetMaxOpenConns(16)
		db.SetMaxIdleConns(4)
		db.SetConnMaxIdleTime(5 * time.Minute)
	}
	s := &sqlStore{db: db, d: d, now: time.Now}
	if err := s.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if d == sqliteDialect {
		if err := sqliteWAL(ctx, db); err != nil {
			db.Close()
			return nil, s.fail(err, "sqlite: set WAL mode")
		}
	}
	return s, nil
}

// createPrivate creates the SQLite file and its folder if missing, both
// readable by the owner only: the file holds password hashes and host
// keys. SQLite gives its -wal and -shm files the same mode.
func createPrivate(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// migrate applies the pending migrations, each in its own transaction.
func (s *sqlStore) migrate(ctx context.Context) ([]int, error) {
	files, err := migrations.Files(s.d.name)
	if err != nil {
		return nil, err
	}
	var applied []int
	for {
		v, err := s.migrateOne(ctx, files)
		if err != nil || v == 0 {
			return applied, err
		}
		applied = append(applied, v)
	}
}

// migrateOne applies the next pending migration, if any, and returns its
// version (0 if the schema is current). Nodes starting together take
// turns; each sees what the one before applied.
func (s *sqlStore) migrateOne(ctx context.Context, files []migrations.Migration) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, s.fail(err, "migrate: begin")
	}
	defer tx.Rollback()
	if s.d.lock != "" {
		if _, err := tx.ExecContext(ctx, s.d.lock); err != nil {
			return 0, s.fail(err, "migrate: lock")
		}
	}
	var tables, current int
	if err := tx.QueryRowContext(ctx, s.d.q(s.d.hasTable), "schema_migrations").Scan(&tables); err != nil {
		return 0, s.fail(err, "migrate: read schema version")
	}
	if tables > 0 {
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return 0, s.fail(err, "migrate: read schema version")
		}
	}
	latest := len(files) // migrations.Files guarantees versions 1..len
	switch {
	case current > latest:
		return 0, fmt.Errorf("database schema version %d is newer than this wharf (knows up to %d): upgrade wharf", current, latest)
	case current == latest:
		return 0, nil
	}
	m := files[current]
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return 0, s.fail(err, "migrate: %s %04d_%s.sql", s.d.name, m.Version, m.Name)
	}
	if _, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), m.Version, s.d.time(s.now())); err != nil {
		return 0, s.fail(err, "migrate: record version %d", m.Version)
	}
	if err := tx.Commit(); err != nil {
		return 0, s.fail(err, "migrate: commit version %d", m.Version)
	}
	return m.Version, nil
}

// Ping checks that the database answers.
func (s *sqlStore) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return s.fail(err, "ping %s", s.d.name)
	}
	return nil
}

// Close closes the database.
func (s *sqlStore) Close() error { return s.db.Close() }

// PutSecretIfAbsent: see Store. The insert that wins the unique key is
// the one creator; the others read what it stored.
func (s *sqlStore) PutSecretIfAbsent(ctx context.Context, name string, value []byte) ([]byte, bool, error) {
	if name == "" {
		return nil, false, fmt.Errorf("%w: secret: name required", ErrInvalid)
	}
	if value == nil {
		value = []byte{}
	}
	res, err := s.db.ExecContext(ctx, s.d.q(`INSERT INTO secrets (name, value, created) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`),
		name, value, s.d.time(s.now()))
	if err != nil {
		return nil, false, s.fail(err, "create secret %q", name)
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, false, s.fail(err, "create secret %q", name)
	} else if n == 1 {
		return value, true, nil
	}
	stored, err := s.GetSecret(ctx, name)
	return stored, false, err
}

// GetSecret: see Store.
func (s *sqlStore) GetSecret(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.db.QueryRowContext(ctx, s.d.q(`SELECT value FROM secrets WHERE name = ?`), name).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("secret %q: %w", name, ErrNotFound)
	case err != nil:
		return nil, s.fail(err, "get secret %q", name)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// q rewrites the ? placeholders of query for the dialect. Queries never
// hold a literal "?".
func (d *dialect) q(query string) string {
	if !d.dollar {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// time is how t goes into a query; times keep microseconds.
func (d *dialect) time(t time.Time) any {
	t = utcMicros(t)
	if d.micros {
		return t.UnixMicro()
	}
	return t
}

// nullTime is time, or NULL for the zero time.
func (d *dialect) nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return d.time(t)
}

// utcMicros is t as the store keeps it: UTC, microseconds, no monotonic
// clock reading.
func utcMicros(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// timeColumn scans a time of either dialect; NULL is the zero time.
type timeColumn struct{ t *time.Time }

func (c timeColumn) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.t = time.Time{}
	case int64:
		*c.t = time.UnixMicro(v).UTC()
	case time.Time:
		*c.t = v.UTC()
	default:
		return fmt.Errorf("time column holds %T", v)
	}
	return nil
}

// fail wraps a database error with its kind and what was being done; the
// driver's error stays in the chain for the logs.
func (s *sqlStore) fail(err error, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %w", s.kind(err), fmt.Sprintf(format, args...), err)
}

// kind classifies a database error: ErrExists for a unique key taken,
// ErrNotFound for a missing foreign key, ErrInvalid for a value the
// database refuses, ErrUnavailable for everything else (connections,
// timeouts, a locked or broken database).
func (s *sqlStore) kind(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ErrUnavailable
	}
	if k := s.d.kind(err); k != nil {
		return k
	}
	return ErrUnavailable
}

func sqliteKind(err error) error {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return nil
	}
	switch code := e.Code(); {
	case code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, code == sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return ErrExists
	case code == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return ErrNotFound
	case code&0xff == sqlite3.SQLITE_CONSTRAINT, code&0xff == sqlite3.SQLITE_TOOBIG, code&0xff == sqlite3.SQLITE_MISMATCH:
		return ErrInvalid
	}
	return nil
}

func postgresKind(err error) error {
	var e *pgconn.PgError
	if !errors.As(err, &e) {
		return nil
	}
	switch {
	case e.Code == "23505": // unique_violation
		return ErrExists
	case e.Code == "23503": // foreign_key_violation
		return ErrNotFound
	case strings.HasPrefix(e.Code, "22"), strings.HasPrefix(e.Code, "23"): // data exception, integrity constraint
		return ErrInvalid
	}
	return nil
}

// isKind reports whether err is a database error of kind.
func (s *sqlStore) isKind(err, kind error) bool { return errors.Is(s.kind(err), kind) }

// rowsAffected is res.RowsAffected, or an error.
func (s *sqlStore) rowsAffected(res sql.Result, err error, format string, args ...any) (int64, error) {
	if err != nil {
		return 0, s.fail(err, format, args...)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail(err, format, args...)
	}
	return n, nil
}
