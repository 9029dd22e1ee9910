package admin_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/wharf-gw/wharf/auth"
)

type userBody struct {
	Name        string       `json:"name"`
	Enabled     bool         `json:"enabled"`
	Keys        []auth.Key   `json:"keys"`
	Home        auth.Home    `json:"home"`
	Mounts      []auth.Mount `json:"mounts"`
	Rules       []auth.Rule  `json:"rules"`
	Limits      auth.Limits  `json:"limits"`
	PasswordSet bool         `json:"password_set"`
	Version     int64        `json:"version"`
}

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

func TestUserLifecycle(t *testing.T) {
	e := newEnv(t)
	line, fp := newKey(t, "alice@laptop")

	// Create with defaults: home on the only backend, rule /=*, enabled.
	a := e.do("POST", "/api/v1/users", map[string]any{"name": "alice", "password": "s3cret!", "keys": []string{line}}).want(t, 201)
	if loc := a.Header.Get("Location"); loc != "/api/v1/users/alice" {
		t.Errorf("Location %q", loc)
	}
	if et := a.Header.Get("ETag"); et != `"1"` {
		t.Errorf("ETag %q, want \"1\"", et)
	}
	var u userBody
	a.json(t, &u)
	if u.Name != "alice" || !u.Enabled || !u.PasswordSet || u.Home != (auth.Home{Backend: "local", Prefix: "users/alice/"}) ||
		!slices.Equal(u.Rules, []auth.Rule{{Pattern: "/", Perms: "*"}}) || len(u.Keys) != 1 || u.Keys[0].Fingerprint != fp ||
		u.Keys[0].Comment != "alice@laptop" || u.Mounts == nil || u.Version != 1 {
		t.Errorf("created user %+v", u)
	}
	if strings.Contains(string(a.body), "argon2") || strings.Contains(string(a.body), "password_hash") {
		t.Errorf("the answer shows the password hash: %s", a.body)
	}
	stored, err := e.store.GetUser(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := auth.VerifyPassword(stored.PasswordHash, "s3cret!"); !ok {
		t.Error("the stored password does not verify")
	}
	e.do("POST", "/api/v1/users", map[string]any{"name": "alice"}).want(t, 409).problem(t)

	// Get, then PUT back what GET gave, with a mount more.
	a = e.do("GET", "/api/v1/users/alice", nil).want(t, 200)
	var doc map[string]any
	a.json(t, &doc)
	doc["mounts"] = []any{map[string]any{"path": "/shared", "backend": "local", "prefix": "shared/", "read_only": true}}
	a = e.do("PUT", "/api/v1/users/alice", doc, "If-Match", a.Header.Get("ETag")).want(t, 200)
	a.json(t, &u)
	if len(u.Mounts) != 1 || !u.Mounts[0].ReadOnly || u.Version != 2 || !u.PasswordSet || len(u.Keys) != 1 || u.Keys[0].Comment != "alice@laptop" {
		t.Errorf("after PUT: %+v", u)
	}
	e.do("GET", "/api/v1/users/alice", nil, "If-None-Match", `"2"`).want(t, 304)

	// Merge patch: disable, change a limit, drop the mounts (null: back to none).
	a = e.do("PATCH", "/api/v1/users/alice", `{"enabled": false, "limits": {"max_sessions": 2}, "mounts": null}`,
		"Content-Type", "application/merge-patch+json").want(t, 200)
	a.json(t, &u)
	if u.Enabled || u.Limits.MaxSessions != 2 || len(u.Mounts) != 0 || len(u.Keys) != 1 || u.Home.Prefix != "users/alice/" || u.Version != 3 {
		t.Errorf("after PATCH: %+v", u)
	}

	// Enable and disable.
	a = e.do("POST", "/api/v1/users/alice/enable", nil).want(t, 200)
	a.json(t, &u)
	if !u.Enabled || u.Version != 4 {
		t.Errorf("after enable: %+v", u)
	}
	a = e.do("POST", "/api/v1/users/alice/enable", nil).want(t, 200) // no change, no new version
	a.json(t, &u)
	if u.Version != 4 {
		t.Errorf("enabling an enabled user made version %d", u.Version)
	}
	a = e.do("POST", "/api/v1/users/alice/disable", nil).want(t, 200)
	a.json(t, &u)
	if u.Enabled {
		t.Error("disable left the user enabled")
	}

	// List, delete, gone.
	var page struct {
		Users []userBody `json:"users"`
		Next  string     `json:"next"`
	}
	e.do("GET", "/api/v1/users", nil).want(t, 200).json(t, &page)
	if len(page.Users) != 1 || page.Users[0].Name != "alice" || page.Next != "" {
		t.Errorf("list: %+v", page)
	}
	e.do("DELETE", "/api/v1/users/alice", nil).want(t, 204)
	if p := e.do("GET", "/api/v1/users/alice", nil).want(t, 404).problem(t); p.Type != "urn:wharf:problem:not-found" {
		t.Errorf("get after delete: %+v", p)
	}
	e.do("DELETE", "/api/v1/users/alice", nil).want(t, 404)
	for _, path := range []string{"/api/v1/users/alice/enable", "/api/v1/users/alice/disable"} {
		e.do("POST", path, nil).want(t, 404)
	}
	e.do("PUT", "/api/v1/users/alice", map[string]any{}).want(t, 404)
	e.do("PATCH", "/api/v1/users/alice", map[string]any{}).want(t, 404)
}

func TestUserPasswordAndKeys(t *testing.T) {
	e := newEnv(t)
	e.do("POST", "/api/v1/users", map[string]any{"name": "bob"}).want(t, 201)
	ctx := context.Background()

	var u userBody
	e.do("PUT", "/api/v1/users/bob/password", map[string]any{"password": "hunter2hunter2"}).want(t, 200).json(t, &u)
	if !u.PasswordSet {
		t.Error("password_set false after setting one")
	}
	stored, _ := e.store.GetUser(ctx, "bob")
	if ok, _ := auth.VerifyPassword(stored.PasswordHash, "hunter2hunter2"); !ok {
		t.Error("the new password does not verify")
	}
	if p := e.do("PUT", "/api/v1/users/bob/password", map[string]any{"password": ""}).want(t, 422).problem(t); p.Errors[0].Field != "password" {
		t.Errorf("empty password: %+v", p)
	}
	e.do("PUT", "/api/v1/users/nobody/password", map[string]any{"password": "x"}).want(t, 404)
	e.do("DELETE", "/api/v1/users/bob/password", nil).want(t, 200).json(t, &u)
	if u.PasswordSet {
		t.Error("password_set true after removing it")
	}

	line, fp := newKey(t, "bob@desk")
	e.do("POST", "/api/v1/users/bob/keys", map[string]any{"key": line}).want(t, 201).json(t, &u)
	if len(u.Keys) != 1 || u.Keys[0].Fingerprint != fp {
		t.Errorf("after adding a key: %+v", u.Keys)
	}
	e.do("POST", "/api/v1/users/bob/keys", map[string]any{"key": line}).want(t, 200).json(t, &u) // had it
	if len(u.Keys) != 1 {
		t.Errorf("adding a key twice: %+v", u.Keys)
	}
	if p := e.do("POST", "/api/v1/users/bob/keys", map[string]any{"key": "ssh-dss AAAA nope"}).want(t, 422).problem(t); p.Errors[0].Field != "key" {
		t.Errorf("bad key: %+v", p)
	}
	line2, fp2 := newKey(t, "")
	e.do("POST", "/api/v1/users/bob/keys", map[string]any{"key": line2}).want(t, 201)

	// Remove by fingerprint: escaped, without the prefix, URL-safe.
	e.do("DELETE", "/api/v1/users/bob/keys/"+url.PathEscape(fp), nil).want(t, 200).json(t, &u)
	if len(u.Keys) != 1 || u.Keys[0].Fingerprint != fp2 {
		t.Errorf("after removing %s: %+v", fp, u.Keys)
	}
	urlSafe := strings.NewReplacer("+", "-", "/", "_").Replace(strings.TrimPrefix(fp2, "SHA256:"))
	e.do("DELETE", "/api/v1/users/bob/keys/"+urlSafe, nil).want(t, 200).json(t, &u)
	if len(u.Keys) != 0 {
		t.Errorf("after removing %s: %+v", fp2, u.Keys)
	}
	e.do("DELETE", "/api/v1/users/bob/keys/"+url.PathEscape(fp2), nil).want(t, 404).problem(t)
	if p := e.do("DELETE", "/api/v1/users/bob/keys/not-a-fingerprint", nil).want(t, 422).problem(t); p.Errors[0].Field != "fingerprint" {
		t.Errorf("malformed fingerprint: %+v", p)
	}
}

func TestUserValidation(t *testing.T) {
	e := newEnv(t, func(o *envOptions) { o.backends = []string{"local", "s3"} })
	line, _ := newKey(t, "")
	for _, tc := range []struct {
		name   string
		body   any
		status int
		typ    string
		fields []string
	}{
		{"malformed JSON", `{"name": "x",`, 400, "bad-request", nil},
		{"not JSON", `name=x`, 400, "bad-request", nil},
		{"empty body", ``, 400, "bad-request", nil},
		{"two values", `{"name":"x"} {}`, 400, "bad-request", nil},
		{"an array", `[]`, 400, "bad-request", nil},
		{"no name", map[string]any{"home": map[string]any{"backend": "local"}}, 422, "validation", []string{"name"}},
		{"bad name", map[string]any{"name": "a b", "home": map[string]any{"backend": "local"}}, 422, "validation", []string{"name"}},
		{"no home with two backends", map[string]any{"name": "x"}, 422, "validation", []string{"home.backend"}},
		{"unknown mount backend", map[string]any{"name": "x", "home": map[string]any{"backend": "local"},
			"mounts": []any{map[string]any{"path": "/m", "backend": "nope"}}}, 422, "validation", []string{"mounts[0].backend"}},
		{"several problems", map[string]any{"name": "x", "home": map[string]any{"backend": "local", "prefix": "/abs"},
			"mounts": []any{map[string]any{"path": "/m", "backend": "local"}, map[string]any{"path": "rel", "backend": "gone"}},
			"rules":  []any{map[string]any{"pattern": "/", "perms": "fly"}}},
			422, "validation", []string{"home.prefix", "mounts[1].path", "mounts[1].backend", "rules[0].perms"}},
		{"bad key", map[string]any{"name": "x", "home": map[string]any{"backend": "local"}, "keys": []string{line, "ssh-rsa AAAA"}},
			422, "validation", []string{"keys[1]"}},
		{"duplicate key", map[string]any{"name": "x", "home": map[string]any{"backend": "local"}, "keys": []string{line, line}},
			422, "validation", []string{"keys[1]"}},
		{"negative limit", map[string]any{"name": "x", "home": map[string]any{"backend": "local"}, "limits": map[string]any{"max_sessions": -1}},
			422, "validation", []string{"limits.max_sessions"}},
		{"wrong type", `{"name": "x", "enabled": "yes"}`, 422, "validation", []string{"enabled"}},
		{"unknown field", `{"name": "x", "colour": "blue"}`, 422, "validation", []string{"colour"}},
		{"password too long", map[string]any{"name": "x", "home": map[string]any{"backend": "local"}, "password": strings.Repeat("p", 2000)},
			422, "validation", []string{"password"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.do("POST", "/api/v1/users", tc.body).want(t, tc.status)
			p := a.problem(t)
			if p.Type != "urn:wharf:problem:"+tc.typ || p.Detail == "" {
				t.Errorf("problem %+v, want type %s with a detail", p, tc.typ)
			}
			var fields []string
			for _, f := range p.Errors {
				fields = append(fields, f.Field)
				if f.Detail == "" {
					t.Errorf("field %s without a detail", f.Field)
				}
			}
			if !slices.Equal(fields, tc.fields) {
				t.Errorf("fields %q, want %q (problem %s)", fields, tc.fields, a.body)
			}
		})
	}
	if _, err := e.store.GetUser(context.Background(), "x"); err == nil {
		t.Error("an invalid user was stored")
	}

	// Other media types are refused; bodies are bounded.
	p := e.do("POST", "/api/v1/users", `name=x`, "Content-Type", "application/x-www-form-urlencoded").want(t, 415).problem(t)
	if p.Type != "urn:wharf:problem:unsupported-media-type" {
		t.Errorf("form body: %+v", p)
	}
	big := fmt.Sprintf(`{"name": "x", "mounts": [%s{}]}`, strings.Repeat(`{"path": "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "backend": "local"},`, 30000))
	if p := e.do("POST", "/api/v1/users", big).want(t, 413).problem(t); p.Type != "urn:wharf:problem:too-large" {
		t.Errorf("huge body: %+v", p)
	}

	// Updates validate the same way, and a name cannot change.
	e.do("POST", "/api/v1/users", map[string]any{"name": "carol", "home": map[string]any{"backend": "s3"}}).want(t, 201)
	if p := e.do("PATCH", "/api/v1/users/carol", map[string]any{"mounts": []any{map[string]any{"path": "/", "backend": "s3"}}}).want(t, 422).problem(t); p.Errors[0].Field != "mounts[0].path" {
		t.Errorf("patch with a bad mount: %+v", p)
	}
	if p := e.do("PUT", "/api/v1/users/carol", map[string]any{"name": "dave", "home": map[string]any{"backend": "s3"}}).want(t, 422).problem(t); p.Errors[0].Field != "name" {
		t.Errorf("rename by PUT: %+v", p)
	}
	if p := e.do("PATCH", "/api/v1/users/carol", map[string]any{"password": "x"}).want(t, 422).problem(t); p.Errors[0].Field != "password" {
		t.Errorf("password by PATCH: %+v", p)
	}
	if p := e.do("PATCH", "/api/v1/users/carol", `[1]`).want(t, 400).problem(t); p.Type != "urn:wharf:problem:bad-request" {
		t.Errorf("non-object patch: %+v", p)
	}
}

// TestUserBackendGone: a user whose backend has left the configuration
// can still be changed, but nobody gets a new unknown backend.
func TestUserBackendGone(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := &auth.User{Name: "old", Enabled: true, Home: auth.Home{Backend: "retired", Prefix: "old/"}}
	if err := e.store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	e.do("POST", "/api/v1/users/old/disable", nil).want(t, 200)
	e.do("PATCH", "/api/v1/users/old", map[string]any{"limits": map[string]any{"quota_bytes": 10}}).want(t, 200)
	p := e.do("PATCH", "/api/v1/users/old", map[string]any{"mounts": []any{map[string]any{"path": "/x", "backend": "other"}}}).want(t, 422).problem(t)
	if p.Errors[0].Field != "mounts[0].backend" {
		t.Errorf("new unknown backend: %+v", p)
	}
}

func TestIfMatch(t *testing.T) {
	e := newEnv(t)
	e.do("POST", "/api/v1/users", map[string]any{"name": "erin"}).want(t, 201)
	a := e.do("PATCH", "/api/v1/users/erin", map[string]any{"enabled": false}, "If-Match", `"1"`).want(t, 200)
	if et := a.Header.Get("ETag"); et != `"2"` {
		t.Fatalf("ETag after an update %q", et)
	}
	// Someone else's ETag is stale now.
	for _, tc := range []struct{ method, path string }{
		{"PUT", "/api/v1/users/erin"}, {"PATCH", "/api/v1/users/erin"}, {"DELETE", "/api/v1/users/erin"},
		{"POST", "/api/v1/users/erin/enable"}, {"PUT", "/api/v1/users/erin/password"},
	} {
		body := map[string]any{}
		if strings.HasSuffix(tc.path, "password") {
			body = map[string]any{"password": "x"}
		}
		if tc.method == "DELETE" || strings.HasSuffix(tc.path, "enable") {
			body = nil
		}
		a := e.do(tc.method, tc.path, body, "If-Match", `"1"`).want(t, 412)
		if p := a.problem(t); p.Type != "urn:wharf:problem:precondition-failed" {
			t.Errorf("%s %s: %+v", tc.method, tc.path, p)
		}
		if et := a.Header.Get("ETag"); et != `"2"` {
			t.Errorf("%s %s: 412 with ETag %q, want the current \"2\"", tc.method, tc.path, et)
		}
	}
	stored, _ := e.store.GetUser(context.Background(), "erin")
	if stored.Version != 2 || stored.Enabled || stored.PasswordHash != "" {
		t.Errorf("a refused update changed the user: %+v", stored)
	}
	e.do("PATCH", "/api/v1/users/erin", map[string]any{"enabled": true}, "If-Match", `W/"2"`).want(t, 412) // weak never matches
	e.do("PATCH", "/api/v1/users/erin", map[string]any{"enabled": true}, "If-Match", `"7", "2"`).want(t, 200)
	e.do("PATCH", "/api/v1/users/erin", map[string]any{"enabled": false}, "If-Match", `*`).want(t, 200)
	e.do("DELETE", "/api/v1/users/erin", nil, "If-Match", `"4"`).want(t, 204)
}

func TestPagination(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var want []string
	for i := range 257 {
		name := fmt.Sprintf("user%03d", i)
		if i%2 == 1 {
			name = fmt.Sprintf("other%03d", i)
		}
		if err := e.store.CreateUser(ctx, &auth.User{Name: name, Enabled: true, Home: auth.Home{Backend: "local"}}); err != nil {
			t.Fatal(err)
		}
		want = append(want, name)
	}
	slices.Sort(want)

	type page struct {
		Users []userBody `json:"users"`
		Next  string     `json:"next"`
	}
	walk := func(query string, size int) []string {
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatal("pagination does not end")
			}
			q := url.Values{"limit": {fmt.Sprint(size)}}
			if after != "" {
				q.Set("after", after)
			}
			a := e.do("GET", "/api/v1/users?"+q.Encode()+query, nil).want(t, 200)
			var p page
			a.json(t, &p)
			if len(p.Users) > size {
				t.Fatalf("page of %d users, limit %d", len(p.Users), size)
			}
			for _, u := range p.Users {
				got = append(got, u.Name)
			}
			if p.Next == "" {
				if a.Header.Get("Link") != "" {
					t.Error("Link header on the last page")
				}
				return got
			}
			if !strings.Contains(a.Header.Get("Link"), `rel="next"`) {
				t.Errorf("no Link rel=next: %q", a.Header.Get("Link"))
			}
			after = p.Next
		}
	}
	if got := walk("", 100); !slices.Equal(got, want) {
		t.Errorf("paging by 100: %d users, want %d", len(got), len(want))
	}
	if got := walk("", 257); !slices.Equal(got, want) {
		t.Errorf("one exact page: %d users", len(got))
	}
	var users []string
	for _, n := range want {
		if strings.HasPrefix(n, "user") {
			users = append(users, n)
		}
	}
	if got := walk("&prefix=user", 7); !slices.Equal(got, users) {
		t.Errorf("prefix user: %d users, want %d", len(got), len(users))
	}
	for _, bad := range []string{"0", "-1", "x", "1001"} {
		p := e.do("GET", "/api/v1/users?limit="+bad, nil).want(t, 422).problem(t)
		if len(p.Errors) != 1 || p.Errors[0].Field != "limit" {
			t.Errorf("limit=%s: %+v", bad, p)
		}
	}
}
