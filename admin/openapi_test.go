package admin_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

// publicRoutes need no token.
var publicRoutes = map[string]bool{
	"GET /healthz": true, "GET /readyz": true, "GET /metrics": true, "POST /api/v1/auth/login": true,
}

// routerRoutes walks the router and returns "METHOD /path" for every
// route, sorted.
func routerRoutes(t *testing.T, h http.Handler) []string {
	t.Helper()
	r, ok := h.(chi.Routes)
	if !ok {
		t.Fatalf("Handler() is a %T, not a chi router", h)
	}
	var out []string
	err := chi.Walk(r, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		out = append(out, method+" "+route)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

type openapiDoc struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
}

// documentRoutes returns "METHOD /path" for every operation of the
// document, sorted.
func documentRoutes(doc openapiDoc) []string {
	var out []string
	for p, ops := range doc.Paths {
		for m := range ops {
			out = append(out, strings.ToUpper(m)+" "+p)
		}
	}
	slices.Sort(out)
	return out
}

// difference returns what is in a and not in b, and what is in b and not
// in a.
func difference(a, b []string) (onlyA, onlyB []string) {
	for _, x := range a {
		if !slices.Contains(b, x) {
			onlyA = append(onlyA, x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			onlyB = append(onlyB, x)
		}
	}
	return onlyA, onlyB
}

func TestOpenAPIMatchesRouter(t *testing.T) {
	e := newEnv(t)
	var doc openapiDoc
	a := e.do("GET", "/api/v1/openapi.json", nil).want(t, 200)
	a.json(t, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q, want 3.x", doc.OpenAPI)
	}
	routes, described := routerRoutes(t, e.admin.Handler()), documentRoutes(doc)
	if len(routes) < 20 {
		t.Fatalf("the router walk found only %d routes: %v", len(routes), routes)
	}
	onlyRouter, onlyDoc := difference(routes, described)
	for _, r := range onlyRouter {
		t.Errorf("route %s is not in the OpenAPI document", r)
	}
	for _, r := range onlyDoc {
		t.Errorf("the OpenAPI document describes %s, which the router does not have", r)
	}

	// The comparison can fail: one route less on either side is found.
	if len(onlyRouter)+len(onlyDoc) > 0 {
		return
	}
	if x, _ := difference(routes, described[1:]); len(x) != 1 {
		t.Errorf("difference missed a route missing from the document: %v", x)
	}
	if _, y := difference(routes[1:], described); len(y) != 1 {
		t.Errorf("difference missed a route missing from the router: %v", y)
	}
}

// TestOpenAPIConsistent checks the document against itself: every $ref
// resolves, every path parameter is declared, operation ids are unique,
// public operations are exactly the public routes.
func TestOpenAPIConsistent(t *testing.T) {
	e := newEnv(t)
	a := e.do("GET", "/api/v1/openapi.json", nil).want(t, 200)
	var doc map[string]any
	a.json(t, &doc)

	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok {
				refs = append(refs, r)
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	if len(refs) == 0 {
		t.Fatal("no $ref found")
	}
	for _, r := range refs {
		var cur any = doc
		for _, part := range strings.Split(strings.TrimPrefix(r, "#/"), "/") {
			m, _ := cur.(map[string]any)
			cur = m[part]
		}
		if cur == nil {
			t.Errorf("$ref %q does not resolve", r)
		}
	}

	ids := map[string]string{}
	param := regexp.MustCompile(`\{([^}]+)\}`)
	for p, ops := range doc["paths"].(map[string]any) {
		for m, o := range ops.(map[string]any) {
			op := o.(map[string]any)
			where := strings.ToUpper(m) + " " + p
			id, _ := op["operationId"].(string)
			if id == "" {
				t.Errorf("%s: no operationId", where)
			} else if other, dup := ids[id]; dup {
				t.Errorf("%s: operationId %q is also %s", where, id, other)
			}
			ids[id] = where
			if rs, _ := op["responses"].(map[string]any); len(rs) == 0 {
				t.Errorf("%s: no responses", where)
			}
			declared := map[string]bool{}
			params, _ := op["parameters"].([]any)
			for _, x := range params {
				pm := x.(map[string]any)
				if pm["in"] == "path" {
					declared[pm["name"].(string)] = true
				}
			}
			for _, m := range param.FindAllStringSubmatch(p, -1) {
				if !declared[m[1]] {
					t.Errorf("%s: path parameter %s is not declared", where, m[1])
				}
				delete(declared, m[1])
			}
			for name := range declared {
				t.Errorf("%s: declares path parameter %s, which the path does not have", where, name)
			}
			sec, hasSec := op["security"].([]any)
			isPublic := hasSec && len(sec) == 0
			if isPublic != publicRoutes[where] {
				t.Errorf("%s: public in the document: %v; public route: %v", where, isPublic, publicRoutes[where])
			}
		}
	}
}

// TestEveryRouteNeedsAuth sends every route of the router without a
// token, and with a bad one: 401 with a Bearer challenge, except the
// public routes.
func TestEveryRouteNeedsAuth(t *testing.T) {
	e := newEnv(t)
	fill := strings.NewReplacer("{name}", "alice", "{fingerprint}", "SHA256:x", "{id}", "1", "{kind}", "addr", "{key}", "192.0.2.1")
	for _, route := range routerRoutes(t, e.admin.Handler()) {
		method, path, _ := strings.Cut(route, " ")
		path = fill.Replace(path)
		for _, auth := range []string{"", "Bearer wharf_0123456789abcdef_" + strings.Repeat("00", 32), "Basic cm9vdDpyb290", "Bearer nonsense"} {
			a := e.do(method, path, nil, "Authorization", auth)
			if publicRoutes[route] {
				if a.StatusCode == http.StatusUnauthorized && method == "GET" {
					t.Errorf("%s (Authorization %q): 401 on a public route", route, auth)
				}
				continue
			}
			if a.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s (Authorization %q): status %d, want 401", route, auth, a.StatusCode)
				continue
			}
			p := a.problem(t)
			if p.Type != "urn:wharf:problem:unauthorized" {
				t.Errorf("%s: problem type %q", route, p.Type)
			}
			if ch := a.Header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer ") {
				t.Errorf("%s: WWW-Authenticate %q", route, ch)
			}
		}
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	e := newEnv(t)
	p := e.do("GET", "/api/v1/nothing", nil).want(t, 404).problem(t)
	if p.Type != "urn:wharf:problem:not-found" {
		t.Errorf("unknown route: %+v", p)
	}
	p = e.do("POST", "/healthz", nil).want(t, 405).problem(t)
	if p.Type != "urn:wharf:problem:method-not-allowed" {
		t.Errorf("wrong method: %+v", p)
	}
}
