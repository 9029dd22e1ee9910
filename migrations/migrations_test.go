package migrations

import (
	"strings"
	"testing"
	"testing/fstest"
)

// Both databases have the same versions, with the same names, each
// creating the same tables.
func TestFilesMatch(t *testing.T) {
	sqlite, err := Files("sqlite")
	if err != nil {
		t.Fatal(err)
	}
	postgres, err := Files("postgres")
	if err != nil {
		t.Fatal(err)
	}
	if len(sqlite) == 0 || len(sqlite) != len(postgres) {
		t.Fatalf("%d sqlite and %d postgres migrations", len(sqlite), len(postgres))
	}
	for i := range sqlite {
		s, p := sqlite[i], postgres[i]
		if s.Version != i+1 || p.Version != i+1 || s.Name != p.Name {
			t.Fatalf("migration %d: sqlite %04d_%s, postgres %04d_%s", i, s.Version, s.Name, p.Version, p.Name)
		}
		if st, pt := tables(s.SQL), tables(p.SQL); st != pt {
			t.Errorf("%04d_%s creates\n  sqlite:   %s\n  postgres: %s", s.Version, s.Name, st, pt)
		}
	}
	if latest, err := Latest("postgres"); err != nil || latest != len(postgres) {
		t.Fatalf("Latest = %d, %v", latest, err)
	}
	if !strings.Contains(sqlite[0].SQL, "CREATE TABLE schema_migrations") {
		t.Fatal("0001 must create schema_migrations")
	}
}

// tables lists the CREATE TABLE and CREATE INDEX names of a script.
func tables(sql string) string {
	var names []string
	for _, line := range strings.Split(sql, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "CREATE" && (f[1] == "TABLE" || f[1] == "INDEX") {
			names = append(names, f[1]+" "+f[2])
		}
	}
	return strings.Join(names, ", ")
}

func TestFilesErrors(t *testing.T) {
	if _, err := Files("mysql"); err == nil || !strings.Contains(err.Error(), `unknown dialect "mysql"`) {
		t.Fatalf("Files(mysql): %v", err)
	}
	file := &fstest.MapFile{Data: []byte("SELECT 1;")}
	for _, tc := range []struct {
		name  string
		files []string
		want  string // in the error; "" for none
	}{
		{"ok", []string{"0001_init.sql", "0002_more.sql"}, ""},
		{"gap", []string{"0001_init.sql", "0003_more.sql"}, "expected version 2, found 0003_more.sql"},
		{"duplicate", []string{"0001_init.sql", "0001_again.sql"}, "expected version 2"},
		{"no zero", []string{"0000_init.sql"}, "from 0001"},
		{"short number", []string{"001_init.sql"}, "0001_what.sql"},
		{"no name", []string{"0001.sql"}, "0001_what.sql"},
		{"not sql", []string{"0001_init.txt"}, "0001_what.sql"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range tc.files {
				fsys["x/"+f] = file
			}
			ms, err := read(fsys, "x")
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want == "" && (len(ms) != 2 || ms[1].Version != 2 || ms[1].Name != "more" || ms[1].SQL != "SELECT 1;"):
				t.Fatalf("read = %+v", ms)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("read: %v, want an error with %q", err, tc.want)
			}
		})
	}
}
