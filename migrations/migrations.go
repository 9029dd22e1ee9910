// Package migrations holds wharf's database schema as numbered SQL files,
// one folder per database (sqlite, postgres), embedded in the binary. A
// file is named NNNN_name.sql; versions start at 1 and leave no gaps, and
// both folders hold the same versions. Each file is applied once, in its
// own transaction, together with its row in schema_migrations (which
// 0001 creates). Files are never edited once released: a change to the
// schema is a new file.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// FS holds the files: sqlite/NNNN_name.sql and postgres/NNNN_name.sql.
//
//go:embed sqlite/*.sql postgres/*.sql
var FS embed.FS

// Dialects are the databases there are migrations for.
var Dialects = []string{"sqlite", "postgres"}

// Migration is one schema version.
type Migration struct {
	Version int    // 1, 2, ...
	Name    string // "init" for 0001_init.sql
	SQL     string // one or more statements separated by semicolons
}

// Files returns the migrations of dialect ("sqlite" or "postgres") sorted
// by version. It fails if dialect is unknown or the files are misnamed,
// duplicate a version or leave a gap.
func Files(dialect string) ([]Migration, error) {
	if !slices.Contains(Dialects, dialect) {
		return nil, fmt.Errorf("migrations: unknown dialect %q (known: %s)", dialect, strings.Join(Dialects, ", "))
	}
	return read(FS, dialect)
}

// Latest returns the highest version of dialect's migrations.
func Latest(dialect string) (int, error) {
	ms, err := Files(dialect)
	if err != nil {
		return 0, err
	}
	if len(ms) == 0 {
		return 0, nil
	}
	return ms[len(ms)-1].Version, nil
}

func read(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migrations: %v", err)
	}
	var ms []Migration
	for _, e := range entries {
		if e.IsDir() {
			return nil, fmt.Errorf("migrations: %s/%s: unexpected folder", dir, e.Name())
		}
		v, name, err := parseName(e.Name())
		if err != nil {
			return nil, fmt.Errorf("migrations: %s/%s: %v", dir, e.Name(), err)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migrations: %v", err)
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(b)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migrations: %s: expected version %d, found %04d_%s.sql (versions start at 1 and leave no gaps)", dir, i+1, m.Version, m.Name)
		}
	}
	return ms, nil
}

// parseName splits "0001_init.sql" into 1 and "init".
func parseName(file string) (int, string, error) {
	base, ok := strings.CutSuffix(file, ".sql")
	num, name, ok2 := strings.Cut(base, "_")
	if !ok || !ok2 || len(num) != 4 || name == "" {
		return 0, "", fmt.Errorf("name must look like 0001_what.sql")
	}
	v, err := strconv.Atoi(num)
	if err != nil || v < 1 {
		return 0, "", fmt.Errorf("name must start with a version from 0001")
	}
	return v, name, nil
}
