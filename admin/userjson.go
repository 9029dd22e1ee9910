package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/wharf-gw/wharf/auth"
)

// userInput is the body of POST /users and PUT /users/{name}, and what a
// merge patch is applied to. Absent fields take the defaults 'wharf user
// add' gives them: enabled; the home on the only backend under
// users/NAME/; the rule /=* (everything in the home). Read-only fields of
// the view (password_set, version, created, updated, a key's
// fingerprint) are accepted and ignored, so that a GET body can be sent
// back.
type userInput struct {
	Name     *string      `json:"name"`
	Password *string      `json:"password"` // POST only
	Enabled  *bool        `json:"enabled"`
	Keys     []keyInput   `json:"keys"`
	Home     *homeInput   `json:"home"`
	Mounts   []auth.Mount `json:"mounts"`
	Rules    *[]auth.Rule `json:"rules"`
	Limits   auth.Limits  `json:"limits"`

	PasswordSet json.RawMessage `json:"password_set"`
	Version     json.RawMessage `json:"version"`
	Created     json.RawMessage `json:"created"`
	Updated     json.RawMessage `json:"updated"`
}

type homeInput struct {
	Backend string  `json:"backend"`
	Prefix  *string `json:"prefix"`
}

// keyInput is an SSH key: {"key": "ssh-ed25519 AAAA… comment"}, or the
// authorized_keys line alone as a string.
type keyInput struct {
	Key         string          `json:"key"`
	Comment     *string         `json:"comment"`
	Fingerprint json.RawMessage `json:"fingerprint"` // ignored: computed
}

func (k *keyInput) UnmarshalJSON(b []byte) error {
	var line string
	if json.Unmarshal(b, &line) == nil {
		*k = keyInput{Key: line}
		return nil
	}
	type plain keyInput
	var p plain
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*k = keyInput(p)
	return nil
}

// user builds the user the input describes, named name, with the
// defaults for absent fields. Keys are parsed and normalized; a key that
// does not parse is kept as it came, for Validate to name.
func (in *userInput) user(name string, backends []string) *auth.User {
	u := &auth.User{
		Name:    name,
		Enabled: in.Enabled == nil || *in.Enabled,
		Mounts:  in.Mounts,
		Limits:  in.Limits,
	}
	for _, k := range in.Keys {
		key, err := auth.ParseKey(k.Key)
		if err != nil {
			key = auth.Key{AuthorizedKey: k.Key}
		}
		if k.Comment != nil {
			key.Comment = *k.Comment
		}
		u.Keys = append(u.Keys, key)
	}
	if in.Rules == nil {
		u.Rules = []auth.Rule{{Pattern: "/", Perms: "*"}}
	} else {
		u.Rules = *in.Rules
	}
	home := homeInput{}
	if in.Home != nil {
		home = *in.Home
	}
	if home.Backend == "" && len(backends) == 1 {
		home.Backend = backends[0]
	}
	u.Home.Backend = home.Backend
	if home.Prefix == nil {
		u.Home.Prefix = "users/" + name + "/"
	} else {
		u.Home.Prefix = *home.Prefix
	}
	return u
}

// validate checks u the way 'wharf user' does (auth.User.Validate, the
// one code path) plus what only an API can get wrong: duplicate keys.
func validate(u *auth.User, backends []string) error {
	errs := []error{u.Validate(backends)}
	seen := map[string]int{}
	for i, k := range u.Keys {
		if k.Fingerprint == "" {
			continue
		}
		if j, dup := seen[k.Fingerprint]; dup {
			errs = append(errs, fmt.Errorf("%w: keys[%d]: %s is already keys[%d]", auth.ErrInvalid, i, k.Fingerprint, j))
		}
		seen[k.Fingerprint] = i
	}
	return errors.Join(errs...)
}

// editable is the part of a user a merge patch applies to, in the shape
// of userInput.
func editable(u *auth.User) map[string]any {
	keys := make([]any, 0, len(u.Keys))
	for _, k := range u.Keys {
		keys = append(keys, map[string]any{"key": k.AuthorizedKey, "comment": k.Comment})
	}
	v := u.View()
	b, _ := json.Marshal(map[string]any{
		"name": u.Name, "enabled": u.Enabled, "keys": keys, "home": u.Home,
		"mounts": v.Mounts, "rules": v.Rules, "limits": u.Limits,
	})
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// mergePatch applies an RFC 7396 JSON merge patch to target.
func mergePatch(target any, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergePatch(t[k], v)
	}
	return t
}
