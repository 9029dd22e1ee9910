package auth

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/wharf-gw/wharf/migrations"
)

func mustFiles(tb testing.TB, dialect string) []migrations.Migration {
	tb.Helper()
	ms, err := migrations.Files(dialect)
	if err != nil {
		tb.Fatal(err)
	}
	return ms
}

// rawDB opens cfg's database without the store, to look behind its back.
func rawDB(t *testing.T, cfg StoreConfig) *sql.DB {
	t.Helper()
	driver, dsn := "pgx", cfg.DSN
	if cfg.Driver == "sqlite" {
		driver, dsn = "sqlite", cfg.DSN+sqliteOptions
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestMigrate(t *testing.T) {
	ForEachDB(t, func(t *testing.T, fresh FreshDB) {
		cfg := fresh(t)
		var all []int
		for _, m := range mustFiles(t, cfg.Driver) {
			all = append(all, m.Version)
		}
		// From empty: every version, once.
		applied, err := Migrate(bg, cfg)
		if err != nil || !reflect.DeepEqual(applied, all) {
			t.Fatalf("Migrate on an empty database = %v, %v; want %v", applied, err, all)
		}
		// Again: nothing to do, also for OpenStore.
		applied, err = Migrate(bg, cfg)
		if err != nil || len(applied) != 0 {
			t.Fatalf("Migrate again = %v, %v; want nothing", applied, err)
		}
		s := openStore(t, cfg)
		must(t, s.CreateUser(bg, bigUser(t, "alice", 1, 1, 1)))
		s.Close()
		s = openStore(t, cfg)
		if _, err := s.GetUser(bg, "alice"); err != nil {
			t.Fatalf("a user did not survive reopening: %v", err)
		}
		db := rawDB(t, cfg)
		var rows, version int
		must(t, db.QueryRow(`SELECT count(*), max(version) FROM schema_migrations`).Scan(&rows, &version))
		if rows != len(all) || version != all[len(all)-1] {
			t.Fatalf("schema_migrations: %d rows up to %d", rows, version)
		}

		// A newer wharf migrated the database: this one refuses it.
		newer := all[len(all)-1] + 5
		if _, err := db.Exec(fmt.Sprintf(`INSERT INTO schema_migrations (version, applied_at) VALUES (%d, %s)`,
			newer, map[string]string{"sqlite": "0", "postgres": "now()"}[cfg.Driver])); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("database schema version %d is newer than this wharf (knows up to %d): upgrade wharf", newer, all[len(all)-1])
		if _, err := OpenStore(bg, cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("OpenStore of a newer schema: %v\nwant %q", err, want)
		}
		if _, err := Migrate(bg, cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Migrate of a newer schema: %v\nwant %q", err, want)
		}
	})
}

// Nodes starting at once on an empty database migrate it exactly once,
// and all of them start.
func TestMigrateConcurrently(t *testing.T) {
	ForEachDB(t, func(t *testing.T, fresh FreshDB) {
		cfg := fresh(t)
		const nodes = 8
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			applied []int
			start   = make(chan struct{})
		)
		for range nodes {
			wg.Go(func() {
				<-start
				s, err := OpenStore(bg, cfg)
				if err != nil {
					t.Error(err)
					return
				}
				defer s.Close()
				a, err := s.(*sqlStore).migrate(bg)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				applied = append(applied, a...)
				mu.Unlock()
			})
		}
		// And one more through Migrate, as `wharf migrate` would.
		wg.Go(func() {
			<-start
			a, err := Migrate(bg, cfg)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			applied = append(applied, a...)
			mu.Unlock()
		})
		close(start)
		wg.Wait()
		// OpenStore migrates without telling, one version at a time; what
		// the explicit calls report is some of the versions, none twice.
		seen := map[int]bool{}
		for _, v := range applied {
			if seen[v] || v < 1 || v > len(mustFiles(t, cfg.Driver)) {
				t.Fatalf("applied %v: a version twice, or one that does not exist", applied)
			}
			seen[v] = true
		}
		var rows int
		must(t, rawDB(t, cfg).QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&rows))
		if rows != len(mustFiles(t, cfg.Driver)) {
			t.Fatalf("schema_migrations has %d rows", rows)
		}
	})
}

func TestOpenStoreErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		cfg  StoreConfig
		kind error
	}{
		{"unknown driver", StoreConfig{Driver: "mysql", DSN: "x"}, ErrInvalid},
		{"no driver", StoreConfig{DSN: "x"}, ErrInvalid},
		{"sqlite without a path", StoreConfig{Driver: "sqlite"}, ErrInvalid},
		{"sqlite with options", StoreConfig{Driver: "sqlite", DSN: filepath.Join(dir, "x.db") + "?mode=ro"}, ErrInvalid},
		{"sqlite URI", StoreConfig{Driver: "sqlite", DSN: "file:x.db"}, ErrInvalid},
		{"sqlite below a file", StoreConfig{Driver: "sqlite", DSN: filepath.Join(dir, "file", "x.db")}, ErrUnavailable},
		{"postgres without a DSN", StoreConfig{Driver: "postgres"}, ErrInvalid},
		{"postgres nobody listens", StoreConfig{Driver: "postgres", DSN: "postgres://wharf:secret-password@127.0.0.1:1/wharf?sslmode=disable&connect_timeout=5"}, ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := OpenStore(bg, tc.cfg)
			if err == nil {
				s.Close()
			}
			wantErr(t, "OpenStore", err, tc.kind)
			if strings.Contains(err.Error(), "secret-password") {
				t.Fatalf("the error shows the password: %v", err)
			}
			t.Log(err)
		})
	}
}

// The SQLite file and its folder are private (they hold password hashes
// and host keys), and its connections are set up for several writers.
func TestSQLiteFileMode(t *testing.T) {
	cfg := freshSQLite(t)
	s := openStore(t, cfg)
	var mode string
	var fk, timeout int
	must(t, s.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode))
	must(t, s.db.QueryRow(`PRAGMA foreign_keys`).Scan(&fk))
	must(t, s.db.QueryRow(`PRAGMA busy_timeout`).Scan(&timeout))
	if mode != "wal" || fk != 1 || timeout != 5000 {
		t.Errorf("journal_mode %s, foreign_keys %d, busy_timeout %d; want wal, 1, 5000", mode, fk, timeout)
	}
	for path, want := range map[string]os.FileMode{cfg.DSN: 0o600, filepath.Dir(cfg.DSN): 0o700 | os.ModeDir} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
		}
	}
}
