package auth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// postgresEnv names the PostgreSQL server the store suite also runs
// against, as a DSN of a database the tests may create schemas in.
// .ci/run sets it; in CI (CI=true) its absence fails the suite.
const postgresEnv = "WHARF_TEST_POSTGRES_DSN"

// FreshDB returns the configuration of a new, empty database, private to
// tb and removed after it.
type FreshDB func(tb testing.TB) StoreConfig

// ForEachDB runs f as the subtests "sqlite" and "postgres", each with a
// maker of fresh databases of its kind. The postgres subtest is skipped
// without WHARF_TEST_POSTGRES_DSN, and fails instead when CI=true.
func ForEachDB(t *testing.T, f func(t *testing.T, fresh FreshDB)) {
	t.Run("sqlite", func(t *testing.T) { f(t, freshSQLite) })
	t.Run("postgres", func(t *testing.T) {
		dsn := os.Getenv(postgresEnv)
		if dsn == "" {
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI=true but %s is unset: the PostgreSQL suite must run in CI (.ci/run sets it up)", postgresEnv)
			}
			t.Skipf("%s is unset; set it to run the store suite against PostgreSQL", postgresEnv)
		}
		f(t, func(tb testing.TB) StoreConfig { return freshPostgres(tb, dsn) })
	})
}

func freshSQLite(tb testing.TB) StoreConfig {
	// A folder that does not exist yet: OpenStore creates it.
	return StoreConfig{Driver: "sqlite", DSN: filepath.Join(tb.TempDir(), "data", "wharf.db")}
}

// freshPostgres creates a schema with a random name in the database of
// dsn, returns a configuration that works in it, and drops it afterwards.
func freshPostgres(tb testing.TB, dsn string) StoreConfig {
	tb.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	schema := "wharf_test_" + randomHex(tb, 6)
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		tb.Fatalf("%s: %v", postgresEnv, err)
	}
	tb.Cleanup(func() {
		if _, err := db.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			tb.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return StoreConfig{Driver: "postgres", DSN: withSearchPath(tb, dsn, schema)}
}

// withSearchPath adds search_path=schema to a URL or key=value DSN.
func withSearchPath(tb testing.TB, dsn, schema string) string {
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatalf("%s: %v", postgresEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func randomHex(tb testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// openStore opens cfg and closes it after tb.
func openStore(tb testing.TB, cfg StoreConfig) *sqlStore {
	tb.Helper()
	s, err := OpenStore(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s.(*sqlStore)
}

// TestStore is the store suite: every Store method on every database.
func TestStore(t *testing.T) {
	ForEachDB(t, func(t *testing.T, fresh FreshDB) {
		for _, tc := range []struct {
			name string
			test func(*testing.T, FreshDB)
		}{
			{"Users", testUsers},
			{"UserRoundTrip", testUserRoundTrip},
			{"ListUsers", testListUsers},
			{"Admins", testAdmins},
			{"Tokens", testTokens},
			{"Failures", testFailures},
			{"Bans", testBans},
			{"Secrets", testSecrets},
			{"Nodes", testNodes},
			{"SecretRace", testSecretRace},
			{"Unavailable", testUnavailable},
		} {
			t.Run(tc.name, func(t *testing.T) { tc.test(t, fresh) })
		}
	})
}

// bg is the context of the calls that are not about cancellation.
var bg = context.Background()

// wantErr fails unless err wraps kind.
func wantErr(t *testing.T, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: got error %v, want %v", what, err, kind)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// authorizedKey returns a fresh ed25519 Key as ParseKey makes it.
func authorizedKey(tb testing.TB, comment string) Key {
	tb.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	k, err := ParseKey(strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " " + comment)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// bigUser has every field set: keys keys, mounts mounts and rules rules.
func bigUser(tb testing.TB, name string, keys, mounts, rules int) *User {
	u := &User{
		Name:         name,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
		Enabled:      true,
		Home:         Home{Backend: "s3", Prefix: "homes/" + name + "/"},
		Limits:       Limits{MaxSessions: 7, QuotaBytes: 5 << 40},
	}
	for i := range keys {
		u.Keys = append(u.Keys, authorizedKey(tb, fmt.Sprintf("%s@laptop-%d", name, i)))
	}
	for i := range mounts {
		u.Mounts = append(u.Mounts, Mount{Path: fmt.Sprintf("/shared/m%02d", i), Backend: "disk", Prefix: fmt.Sprintf("team/%02d/", i), ReadOnly: i%2 == 0})
	}
	perms := []string{"list,read", "*", "list,read,write", "none", "list,read,write,overwrite,append,delete,rename,mkdir,rmdir,setstat"}
	for i := range rules {
		u.Rules = append(u.Rules, Rule{Pattern: fmt.Sprintf("/projects/p%02d/*.csv", i), Perms: perms[i%len(perms)]})
	}
	if err := u.Validate(nil); err != nil {
		tb.Fatalf("test user is invalid: %v", err)
	}
	return u
}

func testUsers(t *testing.T, fresh FreshDB) {
	s := openStore(t, fresh(t))
	n, err := s.CountUsers(bg)
	if err != nil || n != 0 {
		t.Fatalf("CountUsers on an empty store = %d, %v", n, err)
	}

	u := bigUser(t, "alice", 1, 1, 2)
	must(t, s.CreateUser(bg, u))
	if u.Version != 1 || u.Created.IsZero() || !u.Updated.Equal(u.Created) {
		t.Fatalf("after CreateUser: version %d, created %v, updated %v", u.Version, u.Created, u.Updated)
	}
	wantErr(t, "CreateUser of a taken name", s.CreateUser(bg, bigUser(t, "alice", 0, 0, 0)), ErrExists)
	wantErr(t, "CreateUser without a name", s.CreateUser(bg, &User{Home: Home{Backend: "x"}}), ErrInvalid)
	wantErr(t, "CreateUser with a bad name", s.CreateUser(bg, &User{Name: "../x", Home: Home{Backend: "x"}}), ErrInvalid)
	_, err = s.GetUser(bg, "bob")
	wantErr(t, "GetUser of nobody", err, ErrNotFound)

	// Two admins load alice; the first update wins, the second conflicts.
	first, err := s.GetUser(bg, "alice")
	must(t, err)
	second, err := s.GetUser(bg, "alice")
	must(t, err)
	first.Enabled = false
	first.Rules = append(first.Rules, Rule{Pattern: "/inbox", Perms: "list,write"})
	must(t, s.UpdateUser(bg, first))
	if first.Version != 2 || first.Updated.Before(first.Created) {
		t.Fatalf("after UpdateUser: version %d, created %v, updated %v", first.Version, first.Created, first.Updated)
	}
	second.Home.Prefix = "elsewhere/"
	wantErr(t, "UpdateUser with a stale version", s.UpdateUser(bg, second), ErrConflict)
	if second.Version != 1 {
		t.Fatalf("a conflicting update bumped the caller's version to %d", second.Version)
	}
	got, err := s.GetUser(bg, "alice")
	must(t, err)
	if got.Enabled || got.Home.Prefix != "homes/alice/" || len(got.Rules) != 3 || got.Version != 2 {
		t.Fatalf("stored after one update and one conflict: %+v", got)
	}
	// The loser reloads and retries.
	got.Home.Prefix = "elsewhere/"
	must(t, s.UpdateUser(bg, got))
	if got.Version != 3 {
		t.Fatalf("version after the retry = %d, want 3", got.Version)
	}
	wantErr(t, "UpdateUser of nobody", s.UpdateUser(bg, &User{Name: "bob", Version: 1, Home: Home{Backend: "x"}}), ErrNotFound)

	must(t, s.CreateUser(bg, bigUser(t, "bob", 0, 0, 0)))
	if n, err := s.CountUsers(bg); err != nil || n != 2 {
		t.Fatalf("CountUsers = %d, %v; want 2", n, err)
	}
	must(t, s.DeleteUser(bg, "alice"))
	wantErr(t, "DeleteUser twice", s.DeleteUser(bg, "alice"), ErrNotFound)
	_, err = s.GetUser(bg, "alice")
	wantErr(t, "GetUser after DeleteUser", err, ErrNotFound)
	wantErr(t, "UpdateUser after DeleteUser", s.UpdateUser(bg, got), ErrNotFound)
	if n, err := s.CountUsers(bg); err != nil || n != 1 {
		t.Fatalf("CountUsers = %d, %v; want 1", n, err)
	}
	// The name is free again.
	must(t, s.CreateUser(bg, bigUser(t, "alice", 0, 0, 0)))
}

// Every field comes back as stored, times to the microsecond, in UTC.
func testUserRoundTrip(t *testing.T, fresh FreshDB) {
	s := openStore(t, fresh(t))
	created := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.FixedZone("CET", 3600))
	s.now = func() time.Time { return created }
	u := bigUser(t, "carol@example.com", 3, 10, 50)
	u.Mounts[3].Prefix = "" // the whole backend
	u.Keys[1].Comment = "ünïcode comment with \"quotes\""
	want := *u
	must(t, s.CreateUser(bg, u))
	wantTime := time.Date(2026, 3, 4, 4, 6, 7, 123456000, time.UTC)
	want.Version, want.Created, want.Updated = 1, wantTime, wantTime
	if !reflect.DeepEqual(u, &want) {
		t.Fatalf("CreateUser set\n%+v\nwant\n%+v", u, &want)
	}
	got, err := s.GetUser(bg, u.Name)
	must(t, err)
	if !reflect.DeepEqual(got, &want) {
		t.Fatalf("GetUser =\n%+v\nwant\n%+v", got, &want)
	}

	updated := created.Add(90*time.Minute + 999*time.Nanosecond)
	s.now = func() time.Time { return updated }
	got.Keys, got.Mounts, got.Rules = nil, nil, nil
	got.Limits = Limits{}
	got.PasswordHash = ""
	must(t, s.UpdateUser(bg, got))
	again, err := s.GetUser(bg, u.Name)
	must(t, err)
	want = User{Name: u.Name, Enabled: true, Home: u.Home, Version: 2, Created: wantTime, Updated: utcMicros(updated)}
	if !reflect.DeepEqual(again, &want) {
		t.Fatalf("after clearing every list:\n%+v\nwant\n%+v", again, &want)
	}
	if again.Created.Location() != time.UTC || again.Updated.Nanosecond()%1000 != 0 {
		t.Fatalf("times not UTC microseconds: %v %v", again.Created, again.Updated)
	}
}

func testListUsers(t *testing.T, fresh FreshDB) {
	s := openStore(t, fresh(t))
	// Byte order: digits, upper case, "_", lower case.
	names := []string{"Zed", "al", "al-1", "al.x", "al_z", "alice", "alicia", "alz", "am", "b", "bob", "1st"}
	for _, n := range names {
		must(t, s.CreateUser(bg, bigUser(t, n, 0, 0, 1)))
	}
	list := func(prefix, after string, limit int) []string {
		t.Helper()
		us, err := s.ListUsers(bg, prefix, after, limit)
		must(t, err)
		out := []string{}
		for _, u := range us {
			out = append(out, u.Name)
		}
		return out
	}
	// Page through everything, three at a time.
	var all []string
	for after := ""; ; {
		page := list("", after, 3)
		if len(page) > 3 {
			t.Fatalf("page of %d with limit 3", len(page))
		}
		all = append(all, page...)
		if len(page) < 3 {
			break
		}
		after = page[len(page)-1]
	}
	want := []string{"1st", "Zed", "al", "al-1", "al.x", "al_z", "alice", "alicia", "alz", "am", "b", "bob"}
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("all users, paged: %q\nwant %q", all, want)
	}
	for _, tc := range []struct {
		prefix, after string
		limit         int
		want          []string
	}{
		{"al", "", 100, []string{"al", "al-1", "al.x", "al_z", "alice", "alicia", "alz"}},
		{"al", "", 2, []string{"al", "al-1"}},
		{"al", "al-1", 2, []string{"al.x", "al_z"}},
		{"al", "alicia", 10, []string{"alz"}},
		{"al", "alz", 10, []string{}},
		{"ali", "", 10, []string{"alice", "alicia"}},
		{"alice", "", 10, []string{"alice"}},
		{"A", "", 10, []string{}}, // case matters
		{"z", "", 10, []string{}},
		{"", "b", 10, []string{"bob"}},
		{"b", "a", 10, []string{"b", "bob"}},
	} {
		if got := list(tc.prefix, tc.after, tc.limit); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ListUsers(%q, %q, %d) = %q, want %q", tc.prefix, tc.after, tc.limit, got, tc.want)
		}
	}
	us, err := s.ListUsers(bg, "alice", "", 1)
	must(t, err)
	if len(us) != 1 || len(us[0].Rules) != 1 || us[0].Version != 1 || us[0].Created.IsZero() {
		t.Fatalf("listed users are not complete: %+v", us)
	}
	_, err = s.ListUsers(bg, "", "", 0)
	wantErr(t, "ListUsers with limit 0", err, ErrInvalid)
	_, err = s.ListUsers(bg, "a\x00", "", 1)
	wantErr(t, "ListUsers with a NUL", err, ErrInvalid)
}

func TestPrefixEnd(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"a", "b"},
		{"al", "am"},
		{"a~", "a\x7f"},
		{"a\u007f", "a\u0080"},
		{"a\ud7ff", "a\ue000"},
		{"a\U0010ffff", "b"},
		{"\U0010ffff", ""},
	} {
		if got := prefixEnd(tc.in); got != tc.want {
			t.Errorf("prefixEnd(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func testAdmins(t *testing.T, fresh FreshDB) {
	s := openStore(t, fresh(t))
	admins, err := s.ListAdmins(bg)
	if err != nil || len(admins) != 0 {
		t.Fatalf("ListAdmins on an empty store = %v, %v", admins, err)
	}
	root := &Admin{Name: "root", PasswordHash: "h1"}
	must(t, s.CreateAdmin(bg, root))
	if root.Created.IsZero() {
		t.Fatal("CreateAdmin left Created zero")
	}
	at := time.Date(2025, 1, 2, 3, 4, 5, 6789, time.UTC)
	must(t, s.CreateAdmin(bg, &Admin{Name: "ops", PasswordHash: "h2", Created: at}))
	wantErr(t, "CreateAdmin of a taken name", s.CreateAdmin(bg, &Admin{Name: "root"}), ErrExists)
	wantErr(t, "CreateAdmin with a bad name", s.CreateAdmin(bg, &Admin{Name: ""}), ErrInvalid)
	got, err := s.GetAdmin(bg, "ops")
	must(t, err)
	if want := (Admin{Name: "ops", PasswordHash: "h2", Created: at.Truncate(time.Microsecond)}); *got != want {
		t.Fatalf("GetAdmin = %+v, want %+v", got, want)
	}
	_, err = s.GetAdmin(bg, "nobody")
	wantErr(t, "GetAdmin of nobody", err, ErrNotFound)
	admins, err = s.ListAdmins(bg)
	must(t, err)
	if len(admins) != 2 || admins[0].Name != "ops" || admins[1].Name != "root" || !admins[1].Created.Equal(root.Created) {
		t.Fatalf("ListAdmins = %+v", admins)
	}
	must(t, s.UpdateAdminPassword(bg, "root", "h3"))
	got, err = s.GetAdmin(bg, "root")
	must(t, err)
	if got.PasswordHash != "h3" {
		t.Fatalf("password hash after UpdateAdminPassword = %q", got.PasswordHash)
	}
	wantErr(t, "UpdateAdminPassword of nobody", s.UpdateAdminPassword(bg, "nobody", "h"), ErrNotFound)
	must(t, s.DeleteAdmin(bg, "ops"))
	wantErr(t, "DeleteAdmin twice", s.DeleteAdmin(bg, "ops"), ErrNotFound)
	_, err = s.GetAdmin(bg, "ops")
	wantErr(t, "GetAdmin after DeleteAdmin", err, ErrNotFound)
}

func testTokens(t *testing.T, fresh FreshDB) {
	s := openStore(t, fresh(t))
	must(t, s.CreateAdmin(bg, &Admin{Name: "root"}))
	must(t, s.CreateAdmin(bg, &Admin{Name: "ops"}))
	now := time.Date(2026, 5, 6, 7, 8, 9, 10, time.UTC)
	secret, forever, err := NewToken("root", "ci", now, 0)
	must(t, err)
	_, expiring, err := NewToken("root", "", now.Add(time.Second), 48*time.Hour)
	must(t, err)
	_, other, err := NewToken("ops", "laptop", now, time.Hour)
	must(t, err)
	for _, tok := range []*Token{forever, expiring, other} {
		must(t, s.CreateToken(bg, tok))
	}
	got, err := s.GetToken(bg, forever.ID)
	must(t, err)
	if !reflect.DeepEqual(got, forever) || !got.Expires.IsZero() {
		t.Fatalf("GetToken = %+v, want %+v", got, forever)
	}
	id, hash, err := ParseToken(secret)
	must(t, err)
	if got, err = s.GetToken(bg, id); err != nil || !CheckToken(got, hash, now) {
		t.Fatalf("the stored token does not check: %+v, %v", got, err)
	}
	got, err = s.GetToken(bg, expiring.ID)
	must(t, err)
	if !reflect.DeepEqual(got, expiring) || !got.Expires.Equal(now.Add(time.Second+48*time.Hour).Truncate(time.Microsecond)) {
		t.Fatalf("GetToken = %+v, want %+v", got, expiring)
	}
	_, err = s.GetToken(bg, "0123456789abcdef")
	wantErr(t, "GetToken of nothing", err, ErrNotFound)
	wantErr(t, "CreateToken of a taken id", s.CreateToken(bg, &Token{ID: forever.ID, Admin: "ops", Hash: []byte{1}}), ErrExists)
	_, orphan, err := NewToken("nobody", "", now, 0)
	must(t, err)
	wantErr(t, "CreateToken for no admin", s.CreateToken(bg, orphan), ErrNotFound)
	wantErr(t, "CreateToken without a hash", s.CreateToken(bg, &Token{ID: "x", Admin: "root"}), ErrInvalid)

	list, err := s.ListTokens(bg, "root")
	must(t, err)
	if len(list) != 2 || list[0].ID != forever.ID || list[1].ID != expiring.ID {
		t.Fatalf("ListTokens(root) = %+v", list)
	}
	_, err = s.ListTokens(bg, "nobody")
	wantErr(t, "ListTokens of nobody", err, ErrNotFound)

	must(t, s.DeleteToken(bg, other.ID))
	wantErr(t, "DeleteToken twice", s.DeleteToken(bg, other.ID), ErrNotFound)
	if list, err := s.ListTokens(bg, "ops"); err != nil || len(list) != 0 {
		t.Fatalf("ListTokens(ops) after deleting its token = %v, %v", list, err)
	}
	// Deleting an admin deletes its tokens.
	must(t, s.DeleteAdmin(bg, "root"))
	for _, tok := range []*Token{forever, expiring} {
		_, err := s.GetToken(bg, tok.ID)
		wantErr(t, "GetToken after DeleteAdmin", err, ErrNotFound)
	}
}

func testFailures(t *testing.T, fresh FreshDB) {
	cfg := fresh(t)
	s := openStore(t, cfg)
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	const window = 10 * time.Minute
	add := func(kind, key string, at time.Time, window time.Duration) int {
		t.Helper()
		n, err := s.AddFailure(bg, kind, key, at, window)
		must(t, err)
		return n
	}
	for i := range 3 {
		if n := add(KindAddr, "203.0.113.7", t0.Add(time.Duration(i)*time.Minute), window); n != i+1 {
			t.Fatalf("failure %d counted %d", i+1, n)
		}
	}
	// Other keys and kinds count apart.
	if n := add(KindUser, "203.0.113.7", t0.Add(5*time.Minute), window); n != 1 {
		t.Fatalf("same key, other kind: %d", n)
	}
	if n := add(KindAddr, "198.51.100.1", t0, window); n != 1 {
		t.Fatalf("other key: %d", n)
	}
	// A second node shares the count.
	other := openStore(t, cfg)
	if n, err := other.AddFailure(bg, KindAddr, "203.0.113.7", t0.Add(3*time.Minute), window); err != nil || n != 4 {
		t.Fatalf("failure on a second node counted %d, %v; want 4", n, err)
	}
	// Only failures younger than the window count: at t0+11m those at
	// t0 and t0+1m are out.
	if n := add(KindAddr, "203.0.113.7", t0.Add(11*time.Minute), window); n != 3 {
		t.Fatalf("failures within the window at t0+11m = %d, want 3 (t0+2m, t0+3m, t0+11m)", n)
	}
	must(t, s.ClearFailures(bg, KindAddr, "203.0.113.7"))
	if n := add(KindAddr, "203.0.113.7", t0.Add(12*time.Minute), window); n != 1 {
		t.Fatalf("after ClearFailures: %d", n)
	}
	if n := add(KindUser, "203.0.113.7", t0.Add(12*time.Minute), window); n != 2 {
		t.Fatalf("ClearFailures of an address cleared the user name too: %d", n)
	}
	// A day later the old rows are gone, even of keys that never failed
	// again, and even for a longer window.
	if n := add(KindAddr, "203.0.113.7", t0.Add(25*time.Hour), window); n != 1 {
		t.Fatalf("a day later: %d", n)
	}
	if n := add(KindAddr, "203.0.113.7", t0.Add(25*time.Hour+time.Second), 48*time.Hour); n != 2 {
		t.Fatalf("a day later, with a 48 h window: %d, want 2 (older rows pruned)", n)
	}
	var rows int
	must(t, s.db.QueryRow(`SELECT count(*) FROM login_failures`).Scan(&rows))
	if rows != 2 {
		t.Fatalf("login_failures holds %d rows, want 2", rows)
	}
	_, err := s.AddFailure(bg, KindAddr, "x", t0, 0)
	wantErr(t, "AddFailure without a window", err, ErrInvalid)
}

func testBans(t *testing.T, fresh FreshDB) {
	cfg := fresh(t)
	s := openStore(t, cfg)
	now := time.Date(2026, 2, 3, 4, 5, 6, 789, time.UTC)
	s.now = func() time.Time { return now }
	addr := &Ban{Kind: KindAddr, Key: "203.0.113.7", Until: now.Add(time.Hour), Reason: "5 failed logins", Created: now}
	user := &Ban{Kind: KindUser, Key: "alice", Until: now.Add(time.Minute), Reason: "guessing"}
	must(t, s.PutBan(bg, addr))
	must(t, s.PutBan(bg, user))
	if user.Created.IsZero() {
		t.Fatal("PutBan left Created zero")
	}
	got, err := s.GetBan(bg, KindAddr, "203.0.113.7", now)
	must(t, err)
	want := Ban{Kind: KindAddr, Key: "203.0.113.7", Until: now.Add(time.Hour).Truncate(time.Microsecond), Reason: "5 failed logins", Created: now.Truncate(time.Microsecond)}
	if *got != want {
		t.Fatalf("GetBan = %+v, want %+v", got, want)
	}
	// A second node sees it.
	other := openStore(t, cfg)
	if _, err := other.GetBan(bg, KindAddr, "203.0.113.7", now); err != nil {
		t.Fatalf("second node: %v", err)
	}
	_, err = s.GetBan(bg, KindUser, "203.0.113.7", now)
	wantErr(t, "GetBan of another kind", err, ErrNotFound)
	// Expiry: a ban holds until Until, exclusive.
	_, err = s.GetBan(bg, KindAddr, "203.0.113.7", now.Add(time.Hour))
	wantErr(t, "GetBan at Until", err, ErrNotFound)
	if _, err := s.GetBan(bg, KindAddr, "203.0.113.7", now.Add(time.Hour-time.Microsecond)); err != nil {
		t.Fatalf("GetBan just before Until: %v", err)
	}
	bans, err := s.ListBans(bg, now)
	must(t, err)
	if len(bans) != 2 || bans[0].Kind != KindAddr || bans[1].Kind != KindUser {
		t.Fatalf("ListBans = %+v", bans)
	}
	bans, err = s.ListBans(bg, now.Add(2*time.Minute))
	must(t, err)
	if len(bans) != 1 || bans[0].Key != "203.0.113.7" {
		t.Fatalf("ListBans after the user ban expired = %+v", bans)
	}
	// PutBan replaces.
	must(t, s.PutBan(bg, &Ban{Kind: KindAddr, Key: "203.0.113.7", Until: now.Add(2 * time.Hour), Reason: "again", Created: now.Add(time.Minute)}))
	got, err = s.GetBan(bg, KindAddr, "203.0.113.7", now.Add(90*time.Minute))
	must(t, err)
	if got.Reason != "again" || !got.Created.Equal(now.Add(time.Minute).Truncate(time.Microsecond)) {
		t.Fatalf("after PutBan again: %+v", got)
	}
	must(t, s.DeleteBan(bg, KindAddr, "203.0.113.7"))
	wantErr(t, "DeleteBan twice", s.DeleteBan(bg, KindAddr, "203.0.113.7"), ErrNotFound)
	_, err = other.GetBan(bg, KindAddr, "203.0.113.7", now)
	wantErr(t, "GetBan on the second node after DeleteBan", err, ErrNotFound)
	// Bans that expired more than a day ago are pruned by the next PutBan.
	must(t, s.PutBan(bg, &Ban{Kind: KindAddr, Key: "192.0.2.1", Until: now.Add(49 * time.Hour), Created: now.Add(48 * time.Hour)}))
	wantErr(t, "DeleteBan of a pruned ban", s.DeleteBan(bg, KindUser, "alice"), ErrNotFound)
	wantErr(t, "PutBan without a key", s.PutBan(bg, &Ban{Kind: KindAddr}), ErrInvalid)
}

func testSecrets(t *testing.T, fresh FreshDB) {
	s := openStore(t, fresh(t))
	_, err := s.GetSecret(bg, "ssh-host-key-ed25519")
	wantErr(t, "GetSecret of nothing", err, ErrNotFound)
	first := []byte("\x00binary\xff key\x00")
	got, created, err := s.PutSecretIfAbsent(bg, "ssh-host-key-ed25519", first)
	if err != nil || !created || !bytes.Equal(got, first) {
		t.Fatalf("first PutSecretIfAbsent = %q, %v, %v", got, created, err)
	}
	got, created, err = s.PutSecretIfAbsent(bg, "ssh-host-key-ed25519", []byte("second"))
	if err != nil || created || !bytes.Equal(got, first) {
		t.Fatalf("second PutSecretIfAbsent = %q, %v, %v; want the first value", got, created, err)
	}
	got, err = s.GetSecret(bg, "ssh-host-key-ed25519")
	if err != nil || !bytes.Equal(got, first) {
		t.Fatalf("GetSecret = %q, %v", got, err)
	}
	got, created, err = s.PutSecretIfAbsent(bg, "empty", nil)
	if err != nil || !created || got == nil || len(got) != 0 {
		t.Fatalf("PutSecretIfAbsent of nothing = %q, %v, %v", got, created, err)
	}
	if got, err = s.GetSecret(bg, "empty"); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("GetSecret of an empty secret = %q, %v", got, err)
	}
	_, _, err = s.PutSecretIfAbsent(bg, "", first)
	wantErr(t, "PutSecretIfAbsent without a name", err, ErrInvalid)
}

// Two nodes (store handles) race to create the same secret, over and
// over: exactly one creates it and both get the same bytes back.
func testSecretRace(t *testing.T, fresh FreshDB) {
	cfg := fresh(t)
	nodes := [2]*sqlStore{openStore(t, cfg), openStore(t, cfg)}
	const rounds = 100
	for i := range rounds {
		name := fmt.Sprintf("ssh-host-key-ed25519-%d", i)
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			got     [2][]byte
			created [2]bool
			errs    [2]error
		)
		for n := range nodes {
			wg.Go(func() {
				value := []byte(fmt.Sprintf("key of node %d, round %d", n, i))
				<-start
				got[n], created[n], errs[n] = nodes[n].PutSecretIfAbsent(bg, name, value)
			})
		}
		close(start)
		wg.Wait()
		must(t, errors.Join(errs[:]...))
		if created[0] == created[1] {
			t.Fatalf("round %d: created = %v: want exactly one creator", i, created)
		}
		if !bytes.Equal(got[0], got[1]) {
			t.Fatalf("round %d: the nodes got %q and %q", i, got[0], got[1])
		}
	}
}

// A closed or unreachable store fails with ErrUnavailable, not NotFound.
func testUnavailable(t *testing.T, fresh FreshDB) {
	s := openStore(t, fresh(t))
	s.Close()
	_, err := s.GetUser(bg, "alice")
	wantErr(t, "GetUser on a closed store", err, ErrUnavailable)
	wantErr(t, "Ping on a closed store", s.Ping(bg), ErrUnavailable)
	_, err = s.AddFailure(bg, KindAddr, "x", time.Now(), time.Minute)
	wantErr(t, "AddFailure on a closed store", err, ErrUnavailable)

	s = openStore(t, fresh(t))
	cancelled, cancel := context.WithCancel(bg)
	cancel()
	_, err = s.GetUser(cancelled, "alice")
	wantErr(t, "GetUser with a cancelled context", err, ErrUnavailable)
	wantErr(t, "GetUser with a cancelled context", err, context.Canceled)
}

// BenchmarkGetUser loads a user with 3 keys, 10 mounts and 50 rules from a
// warm SQLite store (and PostgreSQL when WHARF_TEST_POSTGRES_DSN is set).
func BenchmarkGetUser(b *testing.B) {
	dbs := map[string]FreshDB{"sqlite": freshSQLite}
	if dsn := os.Getenv(postgresEnv); dsn != "" {
		dbs["postgres"] = func(tb testing.TB) StoreConfig { return freshPostgres(tb, dsn) }
	}
	for _, name := range []string{"sqlite", "postgres"} {
		fresh, ok := dbs[name]
		if !ok {
			continue
		}
		b.Run(name, func(b *testing.B) {
			s := openStore(b, fresh(b))
			u := bigUser(b, "bench", 3, 10, 50)
			if err := s.CreateUser(bg, u); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				got, err := s.GetUser(bg, "bench")
				if err != nil || len(got.Rules) != 50 || len(got.Mounts) != 10 || len(got.Keys) != 3 {
					b.Fatalf("GetUser = %v, %v", got, err)
				}
			}
		})
	}
}

func testNodes(t *testing.T, fresh FreshDB) {
	s := openStore(t, fresh(t))
	t0 := time.Date(2026, 2, 3, 4, 5, 6, 789_000, time.UTC)
	a := &Node{ID: "node-a", Version: "v1", Address: "198.51.100.1", Ready: true, Sessions: 3, Started: t0, Heartbeat: t0}
	b := &Node{ID: "node-b", Version: "v1", Draining: true, Started: t0, Heartbeat: t0.Add(-time.Hour)}
	must(t, s.PutNode(bg, a))
	must(t, s.PutNode(bg, b))
	a2 := *a
	a2.Heartbeat, a2.Ready, a2.Sessions = t0.Add(10*time.Second), false, 0
	must(t, s.PutNode(bg, &a2)) // a heartbeat replaces the row
	nodes, err := s.ListNodes(bg)
	must(t, err)
	if len(nodes) != 2 || !reflect.DeepEqual(*nodes[0], a2) || !reflect.DeepEqual(*nodes[1], *b) {
		t.Fatalf("nodes: %+v, %+v", nodes[0], nodes[1])
	}
	n, err := s.PruneNodes(bg, t0.Add(-time.Minute))
	must(t, err)
	if n != 1 {
		t.Fatalf("pruned %d nodes, want 1 (node-b)", n)
	}
	must(t, s.DeleteNode(bg, "node-a"))
	if err := s.DeleteNode(bg, "node-a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if err := s.PutNode(bg, &Node{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("node without id: %v", err)
	}
	if nodes, _ := s.ListNodes(bg); len(nodes) != 0 {
		t.Fatalf("nodes left: %v", nodes)
	}
}
