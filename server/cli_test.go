package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/wharf-gw/wharf/auth"
	"github.com/wharf-gw/wharf/internal/testlog"
	"github.com/wharf-gw/wharf/migrations"
)

// cliResult is what one run of the wharf binary did.
type cliResult struct {
	code           int
	stdout, stderr string
}

// cliEnv runs the real wharf binary against one data directory, with
// cheap argon2id costs so that the tests stay fast.
type cliEnv struct {
	bin, dir string
	env      []string
}

func newCLIEnv(t *testing.T, bin string, extraEnv ...string) *cliEnv {
	dir := t.TempDir()
	return &cliEnv{bin: bin, dir: dir, env: hermeticEnv(append([]string{
		"WHARF_DATA_DIR=" + filepath.Join(dir, "data"),
		"WHARF_AUTH_ARGON2_MEMORY=8192",
		"WHARF_AUTH_ARGON2_TIME=1",
		"WHARF_AUTH_ARGON2_THREADS=1",
	}, extraEnv...)...)}
}

// run runs wharf with args and stdin in the environment's directory.
func (e *cliEnv) run(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(e.bin, args...)
	cmd.Dir = e.dir
	cmd.Env = e.env
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ee := (*exec.ExitError)(nil); err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cliResult{cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()}
}

// ok runs wharf and fails the test unless it exits 0 with nothing on
// stderr; it returns stdout.
func (e *cliEnv) ok(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := e.run(t, stdin, args...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("wharf %q: exit %d, stderr %q; want exit 0 and no stderr", args, r.code, r.stderr)
	}
	return r.stdout
}

// store opens the environment's store directly, to check what the
// commands stored.
func (e *cliEnv) store(t *testing.T) auth.Store {
	t.Helper()
	s, err := auth.OpenStore(t.Context(), auth.StoreConfig{Driver: "sqlite", DSN: filepath.Join(e.dir, "data", "wharf.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (e *cliEnv) write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// newKey returns a fresh ed25519 public key as an authorized_keys line
// with comment, and its fingerprint.
func newKey(t *testing.T, comment string) (line, fingerprint string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + " " + comment, ssh.FingerprintSHA256(k)
}

// showUser is a user as 'wharf user show --json' prints it.
type showUser struct {
	Name        string       `json:"name"`
	Enabled     bool         `json:"enabled"`
	PasswordSet bool         `json:"password_set"`
	Keys        []auth.Key   `json:"keys"`
	Home        auth.Home    `json:"home"`
	Mounts      []auth.Mount `json:"mounts"`
	Rules       []auth.Rule  `json:"rules"`
	Limits      auth.Limits  `json:"limits"`
	Version     int64        `json:"version"`
	Created     time.Time    `json:"created"`
	Updated     time.Time    `json:"updated"`
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("output is not the JSON expected: %v\n%s", err, s)
	}
	return v
}

func fingerprints(keys []auth.Key) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.Fingerprint)
	}
	return out
}

// TestCLIUsers runs every user command against a fresh SQLite store with
// the real binary.
func TestCLIUsers(t *testing.T) {
	e := newCLIEnv(t, buildWharf(t))
	k1, fp1 := newKey(t, "alice@laptop")
	k2, fp2 := newKey(t, "alice@phone")
	k3, fp3 := newKey(t, "alice@desk")
	keys := e.write(t, "alice.pub", "# alice's keys\n\n"+k1+"\n  "+k2+"  \n"+k1+"\n")
	more := e.write(t, "more.pub", k3+"\n"+k2+"\n")

	t.Run("migrate", func(t *testing.T) {
		files, err := migrations.Files("sqlite")
		if err != nil {
			t.Fatal(err)
		}
		var versions []string
		for _, f := range files {
			versions = append(versions, fmt.Sprint(f.Version))
		}
		out := e.ok(t, "", "migrate")
		if !strings.Contains(out, "applied migration") || !strings.HasSuffix(out, " "+strings.Join(versions, ", ")+"\n") {
			t.Errorf("first migrate printed %q, want the versions %v applied", out, versions)
		}
		if out := e.ok(t, "", "migrate"); !strings.Contains(out, "schema up to date, nothing to apply") {
			t.Errorf("second migrate printed %q, want up to date", out)
		}
		if got := decodeJSON[struct{ Applied []int }](t, e.ok(t, "", "migrate", "--json")); got.Applied == nil || len(got.Applied) != 0 {
			t.Errorf("migrate --json: applied %v, want []", got.Applied)
		}
	})

	t.Run("add with defaults", func(t *testing.T) {
		out := e.ok(t, "correct horse\n", "user", "add", "alice", "--password-stdin", "--key-file", keys)
		for _, want := range []string{
			"added user alice: home local:users/alice/, 0 mounts, 1 rule\n",
			"no --rule given: alice may do everything in their home (rule /=*)\n",
			"alice logs in with a password or 2 keys\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("user add printed %q, lacks %q", out, want)
			}
		}
		out = e.ok(t, "", "user", "show", "alice", "--json")
		u := decodeJSON[showUser](t, out)
		if u.Name != "alice" || !u.Enabled || !u.PasswordSet || u.Version != 1 ||
			u.Home != (auth.Home{Backend: "local", Prefix: "users/alice/"}) ||
			!slices.Equal(u.Rules, []auth.Rule{{Pattern: "/", Perms: "*"}}) ||
			!slices.Equal(fingerprints(u.Keys), []string{fp1, fp2}) ||
			u.Keys[0].Comment != "alice@laptop" || u.Mounts == nil || len(u.Mounts) != 0 || u.Created.IsZero() {
			t.Errorf("user show --json = %+v", u)
		}
		if strings.Contains(out, "argon2") {
			t.Errorf("user show --json prints the password hash:\n%s", out)
		}
		stored, err := e.store(t).GetUser(t.Context(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := auth.VerifyPassword(stored.PasswordHash, "correct horse"); !ok || err != nil {
			t.Errorf("stored hash does not verify the password given on stdin: %v", err)
		}
		if !strings.Contains(stored.PasswordHash, "m=8192,t=1,p=1") {
			t.Errorf("hash %q was not made with the configured cost", stored.PasswordHash)
		}
	})

	t.Run("add with everything", func(t *testing.T) {
		pw := e.write(t, "bob.pw", "bob's secret\r\n")
		out := e.ok(t, "", "user", "add", "--home", "local:people/bob", "bob", "--password-file", pw,
			"--mount", "/shared=local:team,ro", "--mount", "/drop=local", "--rule", "/=list,read",
			"--rule", "/drop=list,write", "--rule", "/shared/*.txt=read", "--max-sessions", "3", "--quota", "10GiB", "--disabled")
		if !strings.HasPrefix(out, "added user bob (disabled): home local:people/bob/, 2 mounts, 3 rules\n") ||
			strings.Contains(out, "no --rule given") {
			t.Errorf("user add printed %q", out)
		}
		u := decodeJSON[showUser](t, e.ok(t, "", "user", "show", "bob", "--json"))
		want := showUser{
			Name: "bob", Enabled: false, PasswordSet: true, Keys: []auth.Key{},
			Home: auth.Home{Backend: "local", Prefix: "people/bob/"},
			Mounts: []auth.Mount{
				{Path: "/shared", Backend: "local", Prefix: "team/", ReadOnly: true},
				{Path: "/drop", Backend: "local", Prefix: ""},
			},
			Rules:   []auth.Rule{{Pattern: "/", Perms: "list,read"}, {Pattern: "/drop", Perms: "list,write"}, {Pattern: "/shared/*.txt", Perms: "read"}},
			Limits:  auth.Limits{MaxSessions: 3, QuotaBytes: 10 << 30},
			Version: 1, Created: u.Created, Updated: u.Updated,
		}
		if fmt.Sprint(u) != fmt.Sprint(want) {
			t.Errorf("user show --json:\n got %+v\nwant %+v", u, want)
		}
		show := e.ok(t, "", "user", "show", "bob")
		for _, want := range []string{
			"name:      bob\n", "enabled:   no\n", "password:  set\n", "home:      local:people/bob/\n",
			"mounts:    /shared = local:team/ (read-only)\n           /drop = local:\n",
			"rules:     / = list,read\n           /drop = list,write\n           /shared/*.txt = read\n",
			"keys:      -\n", "limits:    sessions 3, quota 10GiB\n", "version:   1\n",
		} {
			if !strings.Contains(show, want) {
				t.Errorf("user show lacks %q:\n%s", want, show)
			}
		}
	})

	t.Run("list", func(t *testing.T) {
		out := e.ok(t, "", "user", "list")
		want := "NAME   ENABLED  HOME                KEYS  MOUNTS  RULES\n" +
			"alice  yes      local:users/alice/  2     0       1\n" +
			"bob    no       local:people/bob/   0     2       3\n"
		if out != want {
			t.Errorf("user list:\n%s\nwant:\n%s", out, want)
		}
		all := decodeJSON[[]showUser](t, e.ok(t, "", "user", "list", "--json"))
		if len(all) != 2 || all[0].Name != "alice" || all[1].Name != "bob" || len(all[0].Keys) != 2 {
			t.Errorf("user list --json = %+v", all)
		}
		if only := decodeJSON[[]showUser](t, e.ok(t, "", "user", "list", "--json", "--prefix", "b")); len(only) != 1 || only[0].Name != "bob" {
			t.Errorf("user list --prefix b = %+v", only)
		}
		if none := e.ok(t, "", "user", "list", "--prefix", "zz"); none != "no users whose names start with \"zz\"\n" {
			t.Errorf("empty list printed %q", none)
		}
		if none := e.ok(t, "", "user", "list", "--prefix", "zz", "--json"); none != "[]\n" {
			t.Errorf("empty list --json printed %q, want []", none)
		}
	})

	t.Run("set-password", func(t *testing.T) {
		pw := e.write(t, "new.pw", "new secret\n")
		if out := e.ok(t, "", "user", "set-password", "alice", "--password-file", pw); out != "password of user alice changed\n" {
			t.Errorf("set-password printed %q", out)
		}
		u, err := e.store(t).GetUser(t.Context(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := auth.VerifyPassword(u.PasswordHash, "new secret"); !ok || u.Version != 2 {
			t.Errorf("after set-password: password verifies %v, version %d; want true, 2", ok, u.Version)
		}
	})

	t.Run("keys", func(t *testing.T) {
		out := e.ok(t, "", "user", "add-key", "alice", "--key-file", more)
		if out != "added key "+fp3+" to user alice\nuser alice already has key "+fp2+"\n" {
			t.Errorf("add-key printed %q", out)
		}
		if out := e.ok(t, "", "user", "remove-key", "alice", strings.TrimPrefix(fp1, "SHA256:")); out != "removed key "+fp1+" from user alice\n" {
			t.Errorf("remove-key printed %q", out)
		}
		u := decodeJSON[showUser](t, e.ok(t, "", "user", "show", "alice", "--json"))
		if !slices.Equal(fingerprints(u.Keys), []string{fp2, fp3}) {
			t.Errorf("keys after add and remove: %v, want %v", fingerprints(u.Keys), []string{fp2, fp3})
		}
		show := e.ok(t, "", "user", "show", "alice")
		if !strings.Contains(show, "keys:      "+fp2+" ssh-ed25519 alice@phone\n           "+fp3+" ssh-ed25519 alice@desk\n") {
			t.Errorf("user show keys:\n%s", show)
		}
	})

	t.Run("disable and enable", func(t *testing.T) {
		for _, step := range []struct{ cmd, want string }{
			{"disable", "user alice disabled\n"},
			{"disable", "user alice is already disabled\n"},
			{"enable", "user alice enabled\n"},
			{"enable", "user alice is already enabled\n"},
		} {
			if out := e.ok(t, "", "user", step.cmd, "alice"); out != step.want {
				t.Errorf("user %s alice printed %q, want %q", step.cmd, out, step.want)
			}
		}
		u, err := e.store(t).GetUser(t.Context(), "alice")
		if err != nil || !u.Enabled {
			t.Errorf("alice after enable: %+v, %v", u, err)
		}
	})

	t.Run("remove", func(t *testing.T) {
		if out := e.ok(t, "", "user", "remove", "bob"); out != "removed user bob (their files under local:people/bob/ are kept)\n" {
			t.Errorf("remove printed %q", out)
		}
		if all := decodeJSON[[]showUser](t, e.ok(t, "", "user", "list", "--json")); len(all) != 1 || all[0].Name != "alice" {
			t.Errorf("after remove: %+v", all)
		}
	})
}

// TestCLIAdmins runs every admin command with the real binary.
func TestCLIAdmins(t *testing.T) {
	e := newCLIEnv(t, buildWharf(t))
	if out := e.ok(t, "", "admin", "list"); !strings.HasPrefix(out, "no admins yet") {
		t.Errorf("admin list on an empty store printed %q", out)
	}
	if out := e.ok(t, "s3cret\n", "admin", "add", "root", "--password-stdin"); !strings.HasPrefix(out, "added admin root") {
		t.Errorf("admin add printed %q", out)
	}
	a, err := e.store(t).GetAdmin(t.Context(), "root")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := auth.VerifyPassword(a.PasswordHash, "s3cret"); !ok {
		t.Error("the admin's stored hash does not verify the password")
	}

	// The token is alone on stdout; the warning goes to stderr.
	r := e.run(t, "", "admin", "token", "create", "root", "--label", "ci deploys", "--ttl", "30d")
	if r.code != 0 || !strings.Contains(r.stderr, "shown only this once") || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("token create: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	secret := strings.TrimSpace(r.stdout)
	id, hash, err := auth.ParseToken(secret)
	if err != nil {
		t.Fatalf("printed token %q does not parse: %v", secret, err)
	}
	tok, err := e.store(t).GetToken(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !auth.CheckToken(tok, hash, time.Now()) || tok.Admin != "root" || tok.Label != "ci deploys" {
		t.Errorf("stored token %+v does not match the printed one", tok)
	}
	if d := time.Until(tok.Expires); d < 29*24*time.Hour || d > 30*24*time.Hour {
		t.Errorf("token expires in %v, want 30 days", d)
	}
	if strings.Contains(r.stderr, secret) || strings.Contains(e.ok(t, "", "admin", "token", "list", "root"), secret[23:]) {
		t.Error("the secret is printed somewhere other than create's stdout")
	}

	r = e.run(t, "", "admin", "token", "create", "root", "--ttl", "0", "--json")
	created := decodeJSON[struct {
		Token   string    `json:"token"`
		ID      string    `json:"id"`
		Admin   string    `json:"admin"`
		Label   string    `json:"label"`
		Created time.Time `json:"created"`
		Expires time.Time `json:"expires"`
	}](t, r.stdout)
	if id2, hash2, err := auth.ParseToken(created.Token); err != nil || id2 != created.ID || created.Admin != "root" || !created.Expires.IsZero() {
		t.Errorf("token create --json = %+v (%v)", created, err)
	} else if tok2, err := e.store(t).GetToken(t.Context(), id2); err != nil || !auth.CheckToken(tok2, hash2, time.Now().Add(100*365*24*time.Hour)) {
		t.Errorf("never-expiring token: %+v, %v", tok2, err)
	}

	list := e.ok(t, "", "admin", "token", "list", "root")
	if !regexp.MustCompile(`(?m)^ID +LABEL +CREATED +EXPIRES\n`).MatchString(list) ||
		!strings.Contains(list, id+"  ci deploys") || !strings.Contains(list, created.ID+"  -  ") || !strings.Contains(list, "never") {
		t.Errorf("token list:\n%s", list)
	}
	tokens := decodeJSON[[]map[string]any](t, e.ok(t, "", "admin", "token", "list", "root", "--json"))
	if len(tokens) != 2 {
		t.Errorf("token list --json: %v", tokens)
	}
	for _, tk := range tokens {
		if _, ok := tk["hash"]; ok {
			t.Errorf("token list --json shows a hash: %v", tk)
		}
	}
	if out := e.ok(t, "", "admin", "list"); !regexp.MustCompile(`(?m)^NAME +CREATED +TOKENS\nroot +\S+ \S+ +2\n$`).MatchString(out) {
		t.Errorf("admin list:\n%s", out)
	}
	if admins := decodeJSON[[]auth.Admin](t, e.ok(t, "", "admin", "list", "--json")); len(admins) != 1 || admins[0].Name != "root" {
		t.Errorf("admin list --json = %+v", admins)
	}

	if out := e.ok(t, "", "admin", "token", "revoke", id); out != "revoked token "+id+"\n" {
		t.Errorf("revoke printed %q", out)
	}
	if out := e.ok(t, "", "admin", "token", "revoke", created.Token); out != "revoked token "+created.ID+"\n" {
		t.Errorf("revoke by the whole token printed %q", out)
	}
	if _, err := e.store(t).GetToken(t.Context(), id); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("revoked token still stored: %v", err)
	}
	if r := e.run(t, "", "admin", "token", "create", "root"); r.code != 0 {
		t.Fatalf("token create: exit %d, %s", r.code, r.stderr)
	}
	if out := e.ok(t, "", "admin", "remove", "root"); out != "removed admin root and their tokens\n" {
		t.Errorf("admin remove printed %q", out)
	}
	if admins := e.ok(t, "", "admin", "list", "--json"); admins != "[]\n" {
		t.Errorf("admin list --json after remove: %q", admins)
	}
}

// TestCLIBadInput: bad input on every command gives a non-zero exit (2
// for usage, 1 for the rest) and exactly one clear line on stderr.
func TestCLIBadInput(t *testing.T) {
	e := newCLIEnv(t, buildWharf(t))
	key, _ := newKey(t, "k")
	goodKey := e.write(t, "good.pub", key+"\n")
	badKey := e.write(t, "bad.pub", "# a comment\n"+key+"\nssh-ed25519 AAAAnotakey x\n")
	emptyKey := e.write(t, "empty.pub", "# nothing\n\n")
	dsaKey := e.write(t, "dsa.pub", "ssh-dss AAAAB3NzaC1kc3MAAACBAP== old\n")
	emptyPW := e.write(t, "empty.pw", "\n")
	e.ok(t, "pw\n", "user", "add", "alice", "--password-stdin")
	e.ok(t, "pw\n", "admin", "add", "root", "--password-stdin")
	twoBackends := []string{"WHARF_BACKENDS_S3MAIN_URL=mem://"}

	tests := []struct {
		args  []string
		stdin string
		env   []string
		code  int
		want  string // the whole line, or a prefix when it ends in "…"
	}{
		{args: []string{"user"}, code: 2, want: "wharf user: no subcommand given; one of add, add-key, disable, enable, list, remove, remove-key, set-password, show (run 'wharf user -h' for usage)"},
		{args: []string{"user", "frob"}, code: 2, want: `wharf user: unknown subcommand "frob"; …`},
		{args: []string{"user", "add"}, code: 2, want: "wharf user add: missing NAME (run 'wharf user add -h' for usage)"},
		{args: []string{"user", "add", ""}, code: 2, want: "wharf user add: NAME must not be empty (run 'wharf user add -h' for usage)"},
		{args: []string{"user", "add", "x", "--bogus"}, code: 2, want: "wharf user add: flag provided but not defined: -bogus (run 'wharf user add -h' for usage)"},
		{args: []string{"user", "add", "x", "y"}, code: 2, want: `wharf user add: unexpected argument "y" …`},
		{args: []string{"user", "add", "x", "--mount", "shared=local"}, code: 2, want: `wharf user add: invalid value "shared=local" for flag -mount: the mount point must be an absolute path such as /shared …`},
		{args: []string{"user", "add", "x", "--mount", "/shared"}, code: 2, want: `wharf user add: invalid value "/shared" for flag -mount: want /PATH=BACKEND[:PREFIX][,ro] …`},
		{args: []string{"user", "add", "x", "--mount", "/shared=:p"}, code: 2, want: `wharf user add: invalid value "/shared=:p" for flag -mount: want /PATH=BACKEND[:PREFIX][,ro]: the backend is missing …`},
		{args: []string{"user", "add", "x", "--mount", "/shared=s3x"}, code: 1, want: `wharf: user add: mounts[0].backend: unknown backend "s3x" (configured: local)`},
		{args: []string{"user", "add", "x", "--mount", "/a/../b=local"}, code: 1, want: `wharf: user add: mounts[0].path: "/a/../b" must be a canonical absolute path other than "/"`},
		{args: []string{"user", "add", "x", "--home", "nowhere"}, code: 1, want: `wharf: user add: home.backend: unknown backend "nowhere" (configured: local)`},
		{args: []string{"user", "add", "x"}, env: twoBackends, code: 2, want: "wharf user add: --home BACKEND[:PREFIX] is required when several backends are configured (local, s3main) …"},
		{args: []string{"user", "add", "x", "--rule", "/=list,fly"}, code: 1, want: `wharf: user add: rules[0].perms: unknown permission "fly" (known: list,read,write,overwrite,append,delete,rename,mkdir,rmdir,setstat)`},
		{args: []string{"user", "add", "x", "--rule", "/a[=read"}, code: 1, want: `wharf: user add: rules[0].pattern: …`},
		{args: []string{"user", "add", "x", "--rule", "/=*", "--rule", "/=read"}, code: 1, want: `wharf: user add: rules[1].pattern: "/" is already used by rules[0]`},
		{args: []string{"user", "add", "x", "--rule", "read"}, code: 2, want: `wharf user add: invalid value "read" for flag -rule: want /PATTERN=PERMS such as /=list,read or /uploads=* …`},
		{args: []string{"user", "add", "x", "--key-file", badKey}, code: 1, want: "wharf: user add: key file " + badKey + " line 3: not an authorized_keys line: …"},
		{args: []string{"user", "add", "x", "--key-file", emptyKey}, code: 1, want: "wharf: user add: key file " + emptyKey + " holds no key …"},
		{args: []string{"user", "add", "x", "--key-file", dsaKey}, code: 1, want: "wharf: user add: key file " + dsaKey + " line 1: …"},
		{args: []string{"user", "add", "x", "--key-file", "missing.pub"}, code: 1, want: "wharf: user add: key file missing.pub: no such file"},
		{args: []string{"user", "add", "alice", "--password-stdin"}, stdin: "pw\n", code: 1, want: `wharf: user add: user "alice" already exists`},
		{args: []string{"user", "add", "x", "--password-stdin"}, stdin: "", code: 1, want: "wharf: user add: password: empty (stdin held no password)"},
		{args: []string{"user", "add", "x", "--password-stdin"}, stdin: "a\nb\n", code: 1, want: "wharf: user add: password: stdin holds more than one line (give the password alone)"},
		{args: []string{"user", "add", "x", "--password-file", emptyPW}, code: 1, want: "wharf: user add: password: empty (" + emptyPW + " held no password)"},
		{args: []string{"user", "add", "x", "--password-file", "nope.pw"}, code: 1, want: "wharf: user add: password: nope.pw: no such file"},
		{args: []string{"user", "add", "x", "--password-stdin", "--password-file", emptyPW}, code: 2, want: "wharf user add: give --password-stdin or --password-file, not both …"},
		{args: []string{"user", "add", "bad name"}, code: 1, want: `wharf: user add: name "bad name": use letters, digits and . _ @ -, starting with a letter or digit`},
		{args: []string{"user", "add", "x", "--max-sessions", "-1"}, code: 1, want: "wharf: user add: limits.max_sessions: must not be negative"},
		{args: []string{"user", "add", "x", "--max-sessions", "many"}, code: 2, want: `wharf user add: invalid value "many" for flag -max-sessions: …`},
		{args: []string{"user", "add", "x", "--quota", "lots"}, code: 2, want: `wharf user add: invalid value "lots" for flag -quota: invalid size "lots" …`},
		{args: []string{"user", "list", "extra"}, code: 2, want: `wharf user list: unexpected argument "extra" …`},
		{args: []string{"user", "show"}, code: 2, want: "wharf user show: missing NAME …"},
		{args: []string{"user", "show", "nobody"}, code: 1, want: `wharf: user show: no user "nobody"`},
		{args: []string{"user", "show", "nobody", "--jsn"}, code: 2, want: "wharf user show: flag provided but not defined: -jsn …"},
		{args: []string{"user", "set-password", "alice"}, code: 2, want: "wharf user set-password: give the password with --password-stdin or --password-file …"},
		{args: []string{"user", "set-password", "nobody", "--password-stdin"}, stdin: "pw\n", code: 1, want: `wharf: user set-password: no user "nobody"`},
		{args: []string{"user", "set-password", "alice", "--password-stdin"}, stdin: "\n", code: 1, want: "wharf: user set-password: password: empty (stdin held no password)"},
		{args: []string{"user", "add-key", "alice"}, code: 2, want: "wharf user add-key: give the keys with --key-file F …"},
		{args: []string{"user", "add-key", "nobody", "--key-file", goodKey}, code: 1, want: `wharf: user add-key: no user "nobody"`},
		{args: []string{"user", "add-key", "alice", "--key-file", badKey}, code: 1, want: "wharf: user add-key: key file " + badKey + " line 3: …"},
		{args: []string{"user", "remove-key", "alice"}, code: 2, want: "wharf user remove-key: missing FINGERPRINT …"},
		{args: []string{"user", "remove-key"}, code: 2, want: "wharf user remove-key: missing NAME and FINGERPRINT …"},
		{args: []string{"user", "remove-key", "alice", "SHA256:nope"}, code: 1, want: "wharf: user remove-key: user alice has no key SHA256:nope (see wharf user show alice)"},
		{args: []string{"user", "remove-key", "nobody", "SHA256:nope"}, code: 1, want: `wharf: user remove-key: no user "nobody"`},
		{args: []string{"user", "disable", "nobody"}, code: 1, want: `wharf: user disable: no user "nobody"`},
		{args: []string{"user", "enable"}, code: 2, want: "wharf user enable: missing NAME …"},
		{args: []string{"user", "remove", "nobody"}, code: 1, want: `wharf: user remove: no user "nobody"`},
		{args: []string{"user", "list"}, env: []string{"WHARF_STORE_DRIVER=mysql"}, code: 1, want: `wharf: config: store.driver: "mysql" is not one of sqlite, postgres`},
		{args: []string{"user", "list", "--config", "missing.yaml"}, code: 1, want: "wharf: config: open missing.yaml: no such file or directory"},
		{args: []string{"admin"}, code: 2, want: "wharf admin: no subcommand given; one of add, list, remove, token (run 'wharf admin -h' for usage)"},
		{args: []string{"admin", "add", "root2"}, code: 2, want: "wharf admin add: give the password with --password-stdin or --password-file …"},
		{args: []string{"admin", "add", "root", "--password-stdin"}, stdin: "pw\n", code: 1, want: `wharf: admin add: admin "root" already exists`},
		{args: []string{"admin", "add", "bad/name", "--password-stdin"}, stdin: "pw\n", code: 1, want: `wharf: admin add: name "bad/name": …`},
		{args: []string{"admin", "add", "root2", "--password-stdin"}, stdin: "", code: 1, want: "wharf: admin add: password: empty (stdin held no password)"},
		{args: []string{"admin", "remove", "nobody"}, code: 1, want: `wharf: admin remove: no admin "nobody"`},
		{args: []string{"admin", "list", "x"}, code: 2, want: `wharf admin list: unexpected argument "x" …`},
		{args: []string{"admin", "token"}, code: 2, want: "wharf admin token: no subcommand given; one of create, list, revoke (run 'wharf admin token -h' for usage)"},
		{args: []string{"admin", "token", "create", "nobody"}, code: 1, want: `wharf: admin token create: no admin "nobody"`},
		{args: []string{"admin", "token", "create", "root", "--ttl", "5x"}, code: 2, want: `wharf admin token create: invalid value "5x" for flag -ttl: want days (90d) or a duration such as 2160h or 30m; 0 for no expiry …`},
		{args: []string{"admin", "token", "create", "root", "--ttl", "-1d"}, code: 2, want: `wharf admin token create: invalid value "-1d" for flag -ttl: …`},
		{args: []string{"admin", "token", "create", "root", "--ttl", "99999d"}, code: 2, want: `wharf admin token create: invalid value "99999d" for flag -ttl: at most 3650d …`},
		{args: []string{"admin", "token", "create", "root", "--label", "a\tb"}, code: 2, want: "wharf admin token create: --label: control characters are not allowed …"},
		{args: []string{"admin", "token", "list", "nobody"}, code: 1, want: `wharf: admin token list: no admin "nobody"`},
		{args: []string{"admin", "token", "revoke", "0123456789abcdef"}, code: 1, want: `wharf: admin token revoke: no token "0123456789abcdef"`},
		{args: []string{"admin", "token", "revoke", "wharf_bad"}, code: 1, want: "wharf: admin token revoke: malformed token (give the ID that 'wharf admin token list' prints, or the whole token)"},
		{args: []string{"migrate", "now"}, code: 2, want: `wharf migrate: unexpected argument "now" (run 'wharf migrate -h' for usage)`},
		{args: []string{"migrate", "--bogus"}, code: 2, want: "wharf migrate: flag provided but not defined: -bogus (run 'wharf migrate -h' for usage)"},
		{args: []string{"migrate"}, env: []string{"WHARF_STORE_DSN=" + filepath.Join(goodKey, "sub", "x.db")}, code: 1, want: "wharf: migrate: store sqlite " + filepath.Join(goodKey, "sub", "x.db") + ": …"},
	}
	for _, tt := range tests {
		env := e
		if tt.env != nil {
			env = &cliEnv{bin: e.bin, dir: e.dir, env: append(slices.Clone(e.env), tt.env...)}
		}
		r := env.run(t, tt.stdin, tt.args...)
		if r.code != tt.code {
			t.Errorf("wharf %q: exit %d, want %d (stderr %q)", tt.args, r.code, tt.code, r.stderr)
		}
		checkOneLine(t, tt.args, r.stderr, tt.want)
		if r.stdout != "" {
			t.Errorf("wharf %q: stdout %q, want nothing", tt.args, r.stdout)
		}
	}

	t.Run("postgres unreachable, password never printed", func(t *testing.T) {
		env := &cliEnv{bin: e.bin, dir: e.dir, env: append(slices.Clone(e.env),
			"WHARF_STORE_DRIVER=postgres", "WHARF_STORE_DSN=postgres://wharf:hunter2@"+closedPort(t)+"/wharf?connect_timeout=5")}
		for _, args := range [][]string{{"user", "list"}, {"migrate"}, {"admin", "list"}} {
			r := env.run(t, "", args...)
			if r.code != 1 {
				t.Errorf("wharf %q: exit %d, want 1", args, r.code)
			}
			checkOneLine(t, args, r.stderr, "wharf: "+strings.Join(args, " ")+": store postgres postgres://wharf:xxxxx@…")
			if strings.Contains(r.stderr, "hunter2") {
				t.Errorf("wharf %q leaks the password: %q", args, r.stderr)
			}
		}
	})
}

// checkOneLine checks that stderr is exactly one line, with no sign of a
// panic or a Go error chain, and that it is want (or starts with it, when
// want ends in "…").
func checkOneLine(t *testing.T, args []string, stderr, want string) {
	t.Helper()
	if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("wharf %q: stderr %q, want exactly one line", args, stderr)
	}
	for _, bad := range []string{"goroutine", "panic", "invalid: ", "\t"} {
		if strings.Contains(stderr, bad) {
			t.Errorf("wharf %q: stderr %q contains %q", args, stderr, bad)
		}
	}
	line := strings.TrimSuffix(stderr, "\n")
	if prefix, ok := strings.CutSuffix(want, "…"); ok {
		if !strings.HasPrefix(line, prefix) {
			t.Errorf("wharf %q: stderr\n %q\nwant it to start with\n %q", args, line, prefix)
		}
	} else if line != want {
		t.Errorf("wharf %q: stderr\n %q\nwant\n %q", args, line, want)
	}
}

// TestCLIHelp: every command and subcommand answers -h on stdout with
// exit 0.
func TestCLIHelp(t *testing.T) {
	for _, args := range [][]string{
		{"user", "-h"}, {"user", "help"}, {"admin", "--help"}, {"admin", "token", "-h"}, {"migrate", "-h"},
		{"user", "add", "-h"}, {"user", "list", "-h"}, {"user", "show", "-h"}, {"user", "set-password", "-h"},
		{"user", "add-key", "-h"}, {"user", "remove-key", "-h"}, {"user", "disable", "-h"}, {"user", "enable", "-h"},
		{"user", "remove", "-h"}, {"admin", "add", "-h"}, {"admin", "list", "-h"}, {"admin", "remove", "-h"},
		{"admin", "token", "create", "-h"}, {"admin", "token", "list", "-h"}, {"admin", "token", "revoke", "-h"},
	} {
		var stdout, stderr bytes.Buffer
		var code int
		switch args[0] {
		case "user":
			code = UserCommand(t.Context(), args[1:], nil, strings.NewReader(""), &stdout, &stderr)
		case "admin":
			code = AdminCommand(t.Context(), args[1:], nil, strings.NewReader(""), &stdout, &stderr)
		case "migrate":
			code = MigrateCommand(t.Context(), args[1:], nil, strings.NewReader(""), &stdout, &stderr)
		}
		if code != 0 || stderr.Len() > 0 || !strings.HasPrefix(stdout.String(), "Usage: wharf "+args[0]) {
			t.Errorf("wharf %q: exit %d, stdout %q, stderr %q", args, code, stdout.String(), stderr.String())
		}
	}
}

func TestParseTTL(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"90d", 90 * 24 * time.Hour, false},
		{"2160h", 2160 * time.Hour, false},
		{"30m", 30 * time.Minute, false},
		{"0", 0, false},
		{"1h30m", 90 * time.Minute, false},
		{"3650d", 3650 * 24 * time.Hour, false},
		{"3651d", 0, true},
		{"0d", 0, true},
		{"-5m", 0, true},
		{"d", 0, true},
		{"1.5d", 0, true},
		{"forever", 0, true},
		{"1000000h", 0, true},
	}
	for _, tt := range tests {
		got, err := parseTTL(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseTTL(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestRedactDSN(t *testing.T) {
	tests := []struct{ driver, in, want string }{
		{"sqlite", "/var/lib/wharf/wharf.db", "/var/lib/wharf/wharf.db"},
		{"postgres", "postgres://wharf:hunter2@db:5432/wharf?sslmode=verify-full", "postgres://wharf:xxxxx@db:5432/wharf?sslmode=verify-full"},
		{"postgres", "postgres://db/wharf?user=wharf&password=hunter2&sslpassword=k3y", "postgres://db/wharf?password=REDACTED&sslpassword=REDACTED&user=wharf"},
		{"postgres", "host=db password=hunter2", "(unparsable DSN)"},
	}
	for _, tt := range tests {
		if got := redactDSN(tt.driver, tt.in); got != tt.want {
			t.Errorf("redactDSN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	msg := redactSecrets("dial postgres://wharf:hunter2@db/wharf: auth failed for hunter2", "postgres://wharf:hunter2@db/wharf")
	if strings.Contains(msg, "hunter2") {
		t.Errorf("redactSecrets left the password in: %q", msg)
	}
}

// TestServeHintsAtTheFirstUser: a node on an empty store says how to add
// the first user; once there is one, it says how many there are.
func TestServeHintsAtTheFirstUser(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "wharf.yaml")
	if err := os.WriteFile(path, []byte("data_dir: "+dir+"\nlog: {format: json}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	serve := func() string {
		cfg, err := LoadConfig(path, append([]string{"WHARF_AUTH_ARGON2_MEMORY=8192"}, loopback...))
		if err != nil {
			t.Fatal(err)
		}
		var logs testlog.Buffer
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- Run(ctx, cfg, NewLogger(&logs, cfg.Log)) }()
		waitFor(t, &logs, `"msg":"wharf ready"`)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return logs.String()
	}
	out := serve()
	want := `"level":"WARN","msg":"no users yet: nobody can log in. Add the first one with: wharf user add --config ` + path + ` alice --password-stdin`
	if !strings.Contains(out, want) {
		t.Errorf("log lacks %s\nlog:\n%s", want, out)
	}

	var stdout, stderr bytes.Buffer
	if code := UserCommand(t.Context(), []string{"add", "--config", path, "alice", "--password-stdin"},
		[]string{"WHARF_AUTH_ARGON2_MEMORY=8192"}, strings.NewReader("pw\n"), &stdout, &stderr); code != 0 {
		t.Fatalf("user add: exit %d, %s", code, stderr.String())
	}
	out = serve()
	if !strings.Contains(out, `"msg":"store ready","component":"server","store":"sqlite `+filepath.Join(dir, "wharf.db")+`","users":1`) ||
		strings.Contains(out, "no users yet") {
		t.Errorf("log after adding a user:\n%s", out)
	}
}

// TestREADMEAddUser runs README.md's quick-start command that adds a user
// (with the built binary in place of "go run .") and checks the user.
func TestREADMEAddUser(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?m)^```sh\n(.*go run \\. user add .*)\n```$").FindStringSubmatch(string(data))
	if m == nil {
		t.Fatal("README has no quick-start command that adds a user")
	}
	e := newCLIEnv(t, buildWharf(t))
	cmd := exec.Command("sh", "-c", strings.Replace(m[1], "go run .", "\"$TEST_WHARF_BINARY\"", 1))
	cmd.Dir, cmd.Env = e.dir, append(slices.Clone(e.env), "TEST_WHARF_BINARY="+e.bin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", m[1], err, out)
	}
	u := decodeJSON[showUser](t, e.ok(t, "", "user", "show", "alice", "--json"))
	if !u.PasswordSet || !u.Enabled {
		t.Errorf("README's user: %+v", u)
	}
}
