package main_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/wharf-gw/wharf"

// importRules are DESIGN.md's "Layout and imports" as checkable rules.
// They apply to the direct imports of the module's non-test packages.
//
// Patterns name this module's packages relative to its root ("." is the
// wharf command, "./storage/acl") and other packages by import path
// ("database/sql"). A pattern segment may use path.Match wildcards; a
// trailing "/..." matches the package and everything below it. In allow,
// "$1" stands for what the first wildcard segment of the matching from
// pattern matched.
var importRules = []struct {
	rule   string   // quoted when an edge breaks it
	from   []string // importing packages the rule applies to
	exempt []string // importing packages it does not apply to
	deny   []string // imports the rule forbids...
	allow  []string // ...except these
}{
	{
		rule: "nothing imports server except main",
		from: []string{"./..."}, exempt: []string{".", "./server/..."},
		deny: []string{"./server/..."},
	},
	{
		rule: "protocols use only storage and auth from this module, and never each other",
		from: []string{"./protocols/*/..."},
		deny: []string{"./..."}, allow: []string{"./protocols/$1/...", "./storage", "./storage/acl", "./auth/..."},
	},
	{
		rule: "protocols reach buckets and SQL only through storage and auth: no gocloud, no AWS SDK, no database/sql",
		from: []string{"./protocols/..."},
		deny: []string{"gocloud.dev/...", "github.com/aws/...", "database/sql", "database/sql/driver"},
	},
	{
		rule: "storage uses gocloud's portable blob package; drivers are opened by server (test support packages *test are exempt)",
		from: []string{"./storage/..."}, exempt: []string{"./storage/*test/...", "./storage/*/*test/..."},
		deny: []string{"gocloud.dev/..."}, allow: []string{"gocloud.dev/blob", "gocloud.dev/gcerrors"},
	},
	{
		rule: "auth never imports storage (only storage/acl)",
		from: []string{"./auth/..."},
		deny: []string{"./storage/..."}, allow: []string{"./storage/acl"},
	},
	{
		rule: "admin never imports protocols or storage (only storage/acl)",
		from: []string{"./admin/..."},
		deny: []string{"./protocols/...", "./storage/..."}, allow: []string{"./storage/acl"},
	},
	{
		rule: "storage/acl is a leaf: it imports nothing from this module",
		from: []string{"./storage/acl/..."},
		deny: []string{"./..."}, allow: []string{"./storage/acl/..."},
	},
	{
		rule: "web is a leaf: it imports nothing from this module",
		from: []string{"./web/..."},
		deny: []string{"./..."}, allow: []string{"./web/..."},
	},
	{
		rule: "migrations is a leaf: it imports nothing from this module",
		from: []string{"./migrations/..."},
		deny: []string{"./..."}, allow: []string{"./migrations/..."},
	},
}

// TestImportRules fails on any import edge of this module's non-test
// packages that DESIGN.md forbids.
func TestImportRules(t *testing.T) {
	pkgs, err := listImports("./...")
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	for _, v := range checkImports(pkgs) {
		t.Error(v)
	}
}

// listImports returns the direct imports of the packages matching the
// go list patterns, keyed by import path. Packages that do not compile yet
// are listed all the same (-e).
func listImports(patterns ...string) (map[string][]string, error) {
	cmd := exec.Command("go", append([]string{"list", "-e", "-json=ImportPath,Imports"}, patterns...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %v\n%s", err, stderr.Bytes())
	}
	pkgs := map[string][]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return pkgs, nil
		} else if err != nil {
			return nil, fmt.Errorf("decoding go list output: %v", err)
		}
		pkgs[p.ImportPath] = p.Imports
	}
}

// checkImports returns one message per edge that breaks a rule, sorted.
func checkImports(pkgs map[string][]string) []string {
	var out []string
	for from, imports := range pkgs {
		rf, ok := rel(from)
		if !ok {
			continue // not ours
		}
		for _, r := range importRules {
			captures, ok := matchAny(r.from, rf)
			if !ok {
				continue
			}
			if _, ok := matchAny(r.exempt, rf); ok {
				continue
			}
			var allow []string
			for _, a := range r.allow {
				if strings.Contains(a, "$1") && len(captures) == 0 {
					continue
				}
				if len(captures) > 0 {
					a = strings.ReplaceAll(a, "$1", captures[0])
				}
				allow = append(allow, a)
			}
			for _, imp := range imports {
				ri, _ := rel(imp)
				if _, ok := matchAny(r.deny, ri); !ok {
					continue
				}
				if _, ok := matchAny(allow, ri); ok {
					continue
				}
				out = append(out, fmt.Sprintf("%s imports %s: breaks the rule %q (DESIGN.md, Layout and imports)", from, imp, r.rule))
			}
		}
	}
	slices.Sort(out)
	return out
}

// rel names a package the way the rules do: "." and "./x/y" for this
// module's packages, the import path for the others.
func rel(pkg string) (string, bool) {
	switch {
	case pkg == module:
		return ".", true
	case strings.HasPrefix(pkg, module+"/"):
		return "./" + pkg[len(module)+1:], true
	}
	return pkg, false
}

// matchAny matches name against patterns and returns what the wildcard
// segments of the first matching pattern matched.
func matchAny(patterns []string, name string) ([]string, bool) {
	for _, p := range patterns {
		if captures, ok := match(p, name); ok {
			return captures, true
		}
	}
	return nil, false
}

func match(pattern, name string) ([]string, bool) {
	tree := false
	if pattern == "./..." {
		pattern, tree = ".", true
	} else if p, ok := strings.CutSuffix(pattern, "/..."); ok {
		pattern, tree = p, true
	}
	ps, ns := strings.Split(pattern, "/"), strings.Split(name, "/")
	if pattern == "." && tree {
		// "./..." is every package of this module.
		return nil, name == "." || strings.HasPrefix(name, "./")
	}
	if len(ns) < len(ps) || (!tree && len(ns) != len(ps)) {
		return nil, false
	}
	var captures []string
	for i, p := range ps {
		ok, err := path.Match(p, ns[i])
		if err != nil {
			panic(fmt.Sprintf("bad import rule pattern %q: %v", pattern, err))
		}
		if !ok {
			return nil, false
		}
		if strings.ContainsAny(p, "*?[") {
			captures = append(captures, ns[i])
		}
	}
	return captures, true
}

// TestCheckImports proves the checker can fail: a synthetic module with
// one edge breaking each rule, next to edges that are fine.
func TestCheckImports(t *testing.T) {
	m := func(p string) string {
		if p == "." {
			return module
		}
		return module + "/" + p
	}
	pkgs := map[string][]string{
		m("."):                   {m("server"), "fmt"},
		m("server"):              {m("storage"), m("protocols/ftp"), m("auth"), "gocloud.dev/blob/s3blob", "database/sql"},
		m("protocols/ftp"):       {m("storage"), m("storage/acl"), m("auth"), m("protocols/ftp/internal/x"), m("protocols/sftp"), "gocloud.dev/blob", m("server"), m("admin")},
		m("protocols/sftp"):      {m("storage"), "github.com/aws/aws-sdk-go-v2/service/s3", "golang.org/x/crypto/ssh", m("web")},
		m("storage"):             {m("storage/acl"), "gocloud.dev/blob", "gocloud.dev/gcerrors", "github.com/aws/aws-sdk-go-v2/service/s3", "gocloud.dev/blob/s3blob"},
		m("storage/x"):           {"gocloud.dev/blob/fileblob"},
		m("server/dns"):          {m("server")},
		m("auth/ldap"):           {m("server/dns")},
		m("storage/storagetest"): {m("storage"), "gocloud.dev/blob/memblob", "gocloud.dev/blob/fileblob", "gocloud.dev/blob/s3blob"},
		m("storage/acl"):         {"path", m("storage")},
		m("auth"):                {m("storage/acl"), m("migrations"), "database/sql", m("storage")},
		m("admin"):               {m("auth"), m("storage/acl"), m("protocols/sftp"), m("storage")},
		m("web"):                 {"embed", m("admin")},
		m("migrations"):          {"embed"},
		"example.com/other":      {m("server")}, // not ours: ignored
	}
	want := []string{
		m("admin") + " imports " + m("protocols/sftp") + `: breaks the rule "admin never imports protocols or storage (only storage/acl)"`,
		m("admin") + " imports " + m("storage") + `: breaks the rule "admin never imports protocols or storage (only storage/acl)"`,
		m("auth") + " imports " + m("storage") + `: breaks the rule "auth never imports storage (only storage/acl)"`,
		m("auth/ldap") + " imports " + m("server/dns") + `: breaks the rule "nothing imports server except main"`,
		m("protocols/ftp") + " imports " + m("admin") + `: breaks the rule "protocols use only storage and auth from this module, and never each other"`,
		m("protocols/ftp") + " imports " + m("protocols/sftp") + `: breaks the rule "protocols use only storage and auth from this module, and never each other"`,
		m("protocols/ftp") + " imports " + m("server") + `: breaks the rule "nothing imports server except main"`,
		m("protocols/ftp") + " imports " + m("server") + `: breaks the rule "protocols use only storage and auth from this module, and never each other"`,
		m("protocols/ftp") + " imports gocloud.dev/blob" + `: breaks the rule "protocols reach buckets and SQL only through storage and auth: no gocloud, no AWS SDK, no database/sql"`,
		m("protocols/sftp") + " imports " + m("web") + `: breaks the rule "protocols use only storage and auth from this module, and never each other"`,
		m("protocols/sftp") + " imports github.com/aws/aws-sdk-go-v2/service/s3" + `: breaks the rule "protocols reach buckets and SQL only through storage and auth: no gocloud, no AWS SDK, no database/sql"`,
		m("storage") + " imports gocloud.dev/blob/s3blob" + `: breaks the rule "storage uses gocloud's portable blob package; drivers are opened by server (test support packages *test are exempt)"`,
		m("storage/acl") + " imports " + m("storage") + `: breaks the rule "storage/acl is a leaf: it imports nothing from this module"`,
		m("storage/x") + " imports gocloud.dev/blob/fileblob" + `: breaks the rule "storage uses gocloud's portable blob package; drivers are opened by server (test support packages *test are exempt)"`,
		m("web") + " imports " + m("admin") + `: breaks the rule "web is a leaf: it imports nothing from this module"`,
	}
	for i := range want {
		want[i] += " (DESIGN.md, Layout and imports)"
	}
	slices.Sort(want)
	got := checkImports(pkgs)
	if !slices.Equal(got, want) {
		t.Errorf("checkImports found:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}

	// A clean module passes.
	clean := map[string][]string{
		m("."):               {m("server")},
		m("protocols/ftp"):   {m("storage"), m("auth"), m("storage/acl")},
		m("storage"):         {m("storage/acl"), "gocloud.dev/blob"},
		m("storage/acl"):     {"path"},
		m("auth"):            {m("storage/acl"), m("migrations"), "database/sql"},
		m("admin"):           {m("auth"), m("storage/acl")},
		m("server"):          {m("protocols/ftp"), m("admin"), m("web"), "gocloud.dev/blob/s3blob"},
		m("web"):             {"embed"},
		m("migrations"):      {"embed"},
		m("storage/memtest"): {"gocloud.dev/blob/memblob"},
	}
	if got := checkImports(clean); len(got) != 0 {
		t.Errorf("checkImports on allowed edges found:\n\t%s", strings.Join(got, "\n\t"))
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
		captures      []string
	}{
		{"./...", ".", true, nil},
		{"./...", "./a/b", true, nil},
		{"./...", "fmt", false, nil},
		{"./server", "./server", true, nil},
		{"./server", "./server/dns", false, nil},
		{"./server", "./serverx", false, nil},
		{"./server/...", "./server/dns", true, nil},
		{"./server/...", "./serverx", false, nil},
		{"./protocols/*/...", "./protocols/ftp/x", true, []string{"ftp"}},
		{"./protocols/*/...", "./protocols", false, nil},
		{"./storage/*test/...", "./storage/storagetest", true, []string{"storagetest"}},
		{"./storage/*test/...", "./storage/acl", false, nil},
		{"gocloud.dev/...", "gocloud.dev/blob/s3blob", true, nil},
		{"gocloud.dev/...", "gocloud.devx/blob", false, nil},
		{"database/sql", "database/sql/driver", false, nil},
	} {
		captures, ok := match(tc.pattern, tc.name)
		if ok != tc.want || (ok && !slices.Equal(captures, tc.captures)) {
			t.Errorf("match(%q, %q) = %q, %v; want %q, %v", tc.pattern, tc.name, captures, ok, tc.captures, tc.want)
		}
	}
}
