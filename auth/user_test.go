package auth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/wharf-gw/wharf/auth"
)

func validUser() *auth.User {
	return &auth.User{
		Name:    "alice",
		Enabled: true,
		Home:    auth.Home{Backend: "home", Prefix: "users/alice/"},
		Mounts: []auth.Mount{
			{Path: "/folder1", Backend: "shared", Prefix: "ro/", ReadOnly: true},
			{Path: "/folder2", Backend: "shared", Prefix: "rw/"},
		},
		Rules: []auth.Rule{{Pattern: "/", Perms: "*"}, {Pattern: "/folder2/*.tmp", Perms: "list,read,delete"}},
	}
}

func TestUserValidate(t *testing.T) {
	backends := []string{"home", "shared"}
	if err := validUser().Validate(backends); err != nil {
		t.Fatalf("valid user: %v", err)
	}
	cases := []struct {
		name   string
		mutate func(*auth.User)
		want   string // the field the error names
	}{
		{"empty name", func(u *auth.User) { u.Name = "" }, "name: required"},
		{"long name", func(u *auth.User) { u.Name = strings.Repeat("a", 65) }, "longer than 64"},
		{"bad name", func(u *auth.User) { u.Name = "al ice" }, `name "al ice"`},
		{"slash in name", func(u *auth.User) { u.Name = "../x" }, `name "../x"`},
		{"leading dot", func(u *auth.User) { u.Name = ".x" }, `name ".x"`},
		{"no home backend", func(u *auth.User) { u.Home.Backend = "" }, "home.backend: backend required"},
		{"unknown home backend", func(u *auth.User) { u.Home.Backend = "s3x" }, `home.backend: unknown backend "s3x"`},
		{"bad home prefix", func(u *auth.User) { u.Home.Prefix = "/abs/" }, "home.prefix"},
		{"traversing prefix", func(u *auth.User) { u.Home.Prefix = "a/../b/" }, "home.prefix"},
		{"mount at root", func(u *auth.User) { u.Mounts[0].Path = "/" }, "mounts[0].path"},
		{"relative mount", func(u *auth.User) { u.Mounts[0].Path = "folder1" }, "mounts[0].path"},
		{"duplicate mount", func(u *auth.User) { u.Mounts[1].Path = "/folder1" }, "mounts[1].path: \"/folder1\" is already mounted by mounts[0]"},
		{"unknown mount backend", func(u *auth.User) { u.Mounts[1].Backend = "nope" }, `mounts[1].backend: unknown backend "nope"`},
		{"bad mount prefix", func(u *auth.User) { u.Mounts[0].Prefix = "ro" }, "mounts[0].prefix"},
		{"unknown permission", func(u *auth.User) { u.Rules[1].Perms = "list,fly" }, `rules[1].perms: unknown permission "fly"`},
		{"empty perms", func(u *auth.User) { u.Rules[1].Perms = "" }, "rules[1].perms"},
		{"duplicate pattern", func(u *auth.User) { u.Rules[1].Pattern = "/" }, `rules[1].pattern: "/" is already used by rules[0]`},
		{"malformed pattern", func(u *auth.User) { u.Rules[1].Pattern = "/a[" }, "rules[1].pattern"},
		{"relative pattern", func(u *auth.User) { u.Rules[1].Pattern = "a/b" }, "rules[1].pattern"},
		{"negative sessions", func(u *auth.User) { u.Limits.MaxSessions = -1 }, "limits.max_sessions"},
		{"negative quota", func(u *auth.User) { u.Limits.QuotaBytes = -1 }, "limits.quota_bytes"},
		{"bad key", func(u *auth.User) { u.Keys = []auth.Key{{AuthorizedKey: "ssh-ed25519 AAAAnotakey"}} }, "keys[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := validUser()
			c.mutate(u)
			err := u.Validate(backends)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error naming %q", err, c.want)
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	_, line := newKey(t)
	k, err := auth.ParseKey("  " + strings.TrimSpace(line) + " me@laptop \n")
	if err != nil || k.Comment != "me@laptop" || !strings.HasPrefix(k.Fingerprint, "SHA256:") || strings.Contains(k.AuthorizedKey, "laptop") {
		t.Fatalf("%+v %v", k, err)
	}
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weakPub, _ := ssh.NewPublicKey(&weak.PublicKey)
	for _, c := range []struct{ line, want string }{
		{"", "empty"},
		{"garbage", "not an authorized_keys line"},
		{`command="ls" ` + strings.TrimSpace(line), "options"},
		{string(ssh.MarshalAuthorizedKey(weakPub)), "1024 bits"},
	} {
		if _, err := auth.ParseKey(c.line); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%.40q: %v, want an error saying %q", c.line, err, c.want)
		}
	}
}
