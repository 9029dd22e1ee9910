package admin_test

import (
	"strings"
	"testing"
	"time"
)

type loginAnswer struct {
	Token   string    `json:"token"`
	ID      string    `json:"id"`
	Admin   string    `json:"admin"`
	Expires time.Time `json:"expires"`
}

func (e *env) login(t *testing.T, name, password string, status int) answer {
	t.Helper()
	return e.do("POST", "/api/v1/auth/login", map[string]any{"name": name, "password": password}, "Authorization", "").want(t, status)
}

func TestLoginTokenWorksThenExpires(t *testing.T) {
	e := newEnv(t)
	var l loginAnswer
	e.login(t, "root", adminPassword, 201).json(t, &l)
	if l.Admin != "root" || !strings.HasPrefix(l.Token, "wharf_") || (l.Expires.Sub(e.clock.Now())-time.Hour).Abs() > time.Millisecond {
		t.Errorf("login answer %+v", l)
	}
	var me struct {
		Admin   string `json:"admin"`
		TokenID string `json:"token_id"`
		Label   string `json:"label"`
	}
	e.do("GET", "/api/v1/auth/me", nil, "Authorization", "Bearer "+l.Token).want(t, 200).json(t, &me)
	if me.Admin != "root" || me.TokenID != l.ID || me.Label != "web-login" {
		t.Errorf("me: %+v", me)
	}
	e.do("GET", "/api/v1/users", nil, "Authorization", "Bearer "+l.Token).want(t, 200)

	// A token with another secret is refused.
	forged := l.Token[:len(l.Token)-4] + "0000"
	if forged == l.Token {
		forged = l.Token[:len(l.Token)-4] + "1111"
	}
	e.do("GET", "/api/v1/users", nil, "Authorization", "Bearer "+forged).want(t, 401).problem(t)

	e.clock.Advance(59 * time.Minute)
	e.do("GET", "/api/v1/users", nil, "Authorization", "Bearer "+l.Token).want(t, 200)
	e.clock.Advance(2 * time.Minute)
	a := e.do("GET", "/api/v1/users", nil, "Authorization", "Bearer "+l.Token).want(t, 401)
	if p := a.problem(t); !strings.Contains(p.Detail, "expired") {
		t.Errorf("expired token: %+v", p)
	}
	if ch := a.Header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate %q", ch)
	}
	// The admin's own long-lived token still works.
	e.do("GET", "/api/v1/users", nil).want(t, 200)
}

func TestLogout(t *testing.T) {
	e := newEnv(t)
	var l loginAnswer
	e.login(t, "root", adminPassword, 201).json(t, &l)
	e.do("POST", "/api/v1/auth/logout", nil, "Authorization", "Bearer "+l.Token).want(t, 204)
	e.do("GET", "/api/v1/auth/me", nil, "Authorization", "Bearer "+l.Token).want(t, 401)
}

func TestLoginDefender(t *testing.T) {
	e := newEnv(t) // 3 failures within a minute ban for an hour
	for _, tc := range []struct {
		name, password string
		status         int
	}{
		{"root", "wrong", 401},
		{"nobody", "wrong", 401}, // unknown admins count the same
		{"root", "wrong again", 403},
		{"root", adminPassword, 403}, // banned: even the right password
	} {
		a := e.login(t, tc.name, tc.password, tc.status)
		p := a.problem(t)
		if tc.status == 403 && (p.Type != "urn:wharf:problem:forbidden" || !strings.Contains(p.Detail, "banned")) {
			t.Errorf("banned login: %+v", p)
		}
		if tc.status == 401 && a.Header.Get("WWW-Authenticate") == "" {
			t.Error("401 without WWW-Authenticate")
		}
	}
	if m := e.do("GET", "/metrics", nil, "Authorization", "").want(t, 200); !strings.Contains(string(m.body), "wharf_bans_total 1\n") ||
		!strings.Contains(string(m.body), `wharf_logins_total{protocol="admin",result="banned"} 1`) {
		t.Error("/metrics does not count the ban and the banned login")
	}
	// A token still works from the banned address: bans stop password
	// guessing, not admins with credentials.
	var bans struct {
		Bans []struct{ Kind, Key, Reason string } `json:"bans"`
	}
	e.do("GET", "/api/v1/bans", nil).want(t, 200).json(t, &bans)
	if len(bans.Bans) != 1 || bans.Bans[0].Kind != "addr" || bans.Bans[0].Key != "127.0.0.1" {
		t.Fatalf("bans %+v", bans)
	}
	e.do("DELETE", "/api/v1/bans/addr/10.9.9.9", nil).want(t, 404).problem(t)
	e.do("DELETE", "/api/v1/bans/host/127.0.0.1", nil).want(t, 422).problem(t)
	e.do("DELETE", "/api/v1/bans/addr/127.0.0.1", nil).want(t, 204)
	e.do("GET", "/api/v1/bans", nil).want(t, 200).json(t, &bans)
	if len(bans.Bans) != 0 {
		t.Errorf("bans after lifting: %+v", bans)
	}
	// Lifted, and its failures forgotten: one more failure does not ban.
	e.login(t, "root", "wrong", 401)
	e.login(t, "root", adminPassword, 201)

	// Malformed logins are not attempts.
	e.do("POST", "/api/v1/auth/login", `{"name": "root"`, "Authorization", "").want(t, 400).problem(t)
	if p := e.do("POST", "/api/v1/auth/login", map[string]any{"name": "root"}, "Authorization", "").want(t, 422).problem(t); p.Errors[0].Field != "password" {
		t.Errorf("login without password: %+v", p)
	}
}
