package acl

import (
	"slices"
	"strings"
	"testing"
)

var home = Mount{Path: "/", Backend: "home"}

func mustNew(t *testing.T, mounts []Mount, rules []Rule) *Policy {
	t.Helper()
	p, err := New(mounts, rules)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// reference is the scenario of issue 2: a home with a read-only shared
// folder and a read-write shared folder.
func reference(t *testing.T) *Policy {
	return mustNew(t,
		[]Mount{
			home,
			{Path: "/folder1", Backend: "shared", Prefix: "ro/", ReadOnly: true},
			{Path: "/folder2", Backend: "shared", Prefix: "rw/"},
		},
		[]Rule{
			{Pattern: "/", Perms: All},
			// All on a read-only mount still grants only list and read.
			{Pattern: "/folder1", Perms: All},
			{Pattern: "/folder2", Perms: All},
		})
}

func TestReferenceScenario(t *testing.T) {
	p := reference(t)
	for _, tc := range []struct {
		path string
		want Perm
	}{
		{"/", All},
		{"/notes.txt", All},
		{"/docs/a/b", All},
		{"/folder1", List | Read},
		{"/folder1/report.pdf", List | Read},
		{"/folder1/sub/deeper/x", List | Read},
		{"/folder2", All},
		{"/folder2/upload.bin", All},
		{"/folder2/x/y", All},
		{"/folder10", All}, // not inside /folder1
	} {
		if got := p.Perms(tc.path); got != tc.want {
			t.Errorf("Perms(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}

	// In folder1: list and download, but no upload, overwrite, delete, ...
	for _, want := range []Perm{List, Read, List | Read} {
		if !p.Allowed(want, "/folder1/report.pdf") {
			t.Errorf("Allowed(%v, /folder1/report.pdf) = false", want)
		}
	}
	for _, want := range []Perm{WriteNew, Overwrite, Append, Delete, Rename, Mkdir, Rmdir, Setstat, Read | Delete} {
		for _, name := range []string{"/folder1", "/folder1/report.pdf", "/folder1/new"} {
			if p.Allowed(want, name) {
				t.Errorf("Allowed(%v, %s) = true in the read-only mount", want, name)
			}
		}
	}
	// In folder2: upload, delete and the rest.
	for _, want := range []Perm{List, Read, WriteNew, Overwrite, Append, Delete, Rename, Mkdir, Rmdir, Setstat} {
		if !p.Allowed(want, "/folder2/upload.bin") {
			t.Errorf("Allowed(%v, /folder2/upload.bin) = false", want)
		}
	}

	// The folders themselves are mount points, which storage refuses to
	// delete or rename whatever the rules say.
	for _, name := range []string{"/", "/folder1", "/folder2"} {
		if !p.IsMountPoint(name) {
			t.Errorf("IsMountPoint(%q) = false", name)
		}
	}
	for _, name := range []string{"/folder1/x", "/folder", "/folder10", "/folder2/x/y"} {
		if p.IsMountPoint(name) {
			t.Errorf("IsMountPoint(%q) = true", name)
		}
	}
	if got := p.ChildMounts("/"); !slices.Equal(got, []string{"folder1", "folder2"}) {
		t.Errorf("ChildMounts(/) = %q", got)
	}
	if got := p.ChildMounts("/folder1"); len(got) != 0 {
		t.Errorf("ChildMounts(/folder1) = %q", got)
	}
	if !p.HasMountBelow("/") || p.HasMountBelow("/folder1") || p.HasMountBelow("/docs") {
		t.Error("HasMountBelow: want true for / only")
	}

	for _, tc := range []struct {
		name            string
		backend, prefix string
		readOnly        bool
		rel             string
	}{
		{"/", "home", "", false, ""},
		{"/notes.txt", "home", "", false, "notes.txt"},
		{"/folder10/a", "home", "", false, "folder10/a"},
		{"/folder1", "shared", "ro/", true, ""},
		{"/folder1/report.pdf", "shared", "ro/", true, "report.pdf"},
		{"/folder2/x/y", "shared", "rw/", false, "x/y"},
	} {
		m, rel := p.Resolve(tc.name)
		if m.Backend != tc.backend || m.Prefix != tc.prefix || m.ReadOnly != tc.readOnly || rel != tc.rel {
			t.Errorf("Resolve(%q) = %+v, %q; want backend %q prefix %q read-only %v, %q",
				tc.name, m, rel, tc.backend, tc.prefix, tc.readOnly, tc.rel)
		}
	}
}

func TestPerms(t *testing.T) {
	type check struct {
		path string
		want Perm
	}
	for _, tc := range []struct {
		name   string
		mounts []Mount
		rules  []Rule
		checks []check
	}{
		{
			name:   "deny by default",
			rules:  nil,
			checks: []check{{"/", None}, {"/a", None}, {"/a/b/c", None}},
		},
		{
			name:   "deny outside the rules",
			rules:  []Rule{{"/pub", List | Read}},
			checks: []check{{"/", None}, {"/pub", List | Read}, {"/pub/x", List | Read}, {"/pubx", None}, {"/private", None}},
		},
		{
			name:   "a rule covers its subtree",
			rules:  []Rule{{"/", All}},
			checks: []check{{"/", All}, {"/a/b/c/d/e", All}},
		},
		{
			name:  "more segments win, also when granting less",
			rules: []Rule{{"/", All}, {"/a", List}, {"/a/b", Read | List | WriteNew}},
			checks: []check{
				{"/x", All}, {"/a", List}, {"/a/x", List}, {"/a/b", Read | List | WriteNew}, {"/a/b/c", Read | List | WriteNew},
			},
		},
		{
			name:   "a deeper rule granting nothing denies",
			rules:  []Rule{{"/", All}, {"/secret", None}},
			checks: []check{{"/secret", None}, {"/secret/x", None}, {"/secrets", All}},
		},
		{
			name:  "more literal segments win",
			rules: []Rule{{"/*/b", Read}, {"/a/*", Delete}, {"/a/b", List}},
			checks: []check{
				{"/a/b", List},    // 2 literals beats 1
				{"/x/b", Read},    // only /*/b
				{"/a/x", Delete},  // only /a/*
				{"/a/b/c", List},  // below /a/b
				{"/x/y", None},    // nothing matches
				{"/a", None},      // the patterns have two segments
				{"/x/b/z", Read},  // below /*/b
				{"/a/bb", Delete}, // only /a/*
			},
		},
		{
			name:  "longer literal text wins",
			rules: []Rule{{"/data/*", Read}, {"/d/*", List}, {"/*/inbox", Delete}},
			checks: []check{
				{"/data/x", Read}, {"/d/x", List},
				// /data/* (4 literal bytes) beats /*/inbox (5)? No: "inbox" is longer.
				{"/data/inbox", Delete},
				{"/d/inbox", Delete},
			},
		},
		{
			name:  "equal specificity intersects",
			rules: []Rule{{"/*/x", List | Read | Delete}, {"/a/*", List | Read | WriteNew}},
			checks: []check{
				// 2 segments, 1 literal, 1 literal byte each: equally specific.
				{"/a/x", List | Read},
				{"/b/x", List | Read | Delete},
				{"/a/y", List | Read | WriteNew},
			},
		},
		{
			name:  "equal specificity with disjoint grants denies",
			rules: []Rule{{"/?/b", List}, {"/a/?", Read}},
			checks: []check{
				{"/a/b", None}, {"/c/b", List}, {"/a/c", Read},
			},
		},
		{
			name:  "star",
			rules: []Rule{{"/", List}, {"/*.txt", Read | List}, {"/home/*/inbox", WriteNew | List}},
			checks: []check{
				{"/a.txt", Read | List}, {"/.txt", Read | List}, {"/a.txt/inner", Read | List},
				{"/a.txtx", List}, {"/a/b.txt", List},
				{"/home/alice/inbox", WriteNew | List}, {"/home/alice/inbox/f", WriteNew | List},
				{"/home/alice/outbox", List}, {"/home/alice", List},
			},
		},
		{
			name:  "question mark",
			rules: []Rule{{"/v?", Read}},
			checks: []check{
				{"/v1", Read}, {"/vx/y", Read}, {"/v", None}, {"/v10", None}, {"/vé", Read},
			},
		},
		{
			name:  "character class",
			rules: []Rule{{"/[a-z]", Read}, {"/[^a-z]", List}, {"/log-[0-9][0-9]", Delete}},
			checks: []check{
				{"/a", Read}, {"/z/x", Read}, {"/A", List}, {"/5", List}, {"/ab", None},
				{"/log-07", Delete}, {"/log-7", None}, {"/log-ab", None},
			},
		},
		{
			name:  "wildcards never match a slash",
			rules: []Rule{{"/", List}, {"/a*b", Delete}},
			checks: []check{
				{"/x", List}, {"/ab", Delete}, {"/a/b", List}, {"/axxb/c", Delete}, {"/a/xb", List},
			},
		},
		{
			name:  "a pattern matches what path.Match matches, not its own text",
			rules: []Rule{{"/", List}, {"/[x]", Read}, {"/a[0-9]", Delete}, {"/b*", Rename}},
			checks: []check{
				{"/x", Read}, {"/a5", Delete}, {"/b*", Rename}, {"/bc", Rename},
				{"/[x]", List}, {"/a[0-9]", List},
			},
		},
		{
			name:   "read-only root mount",
			mounts: []Mount{{Path: "/", Backend: "home", ReadOnly: true}},
			rules:  []Rule{{"/", All}, {"/a", Delete | Read}},
			checks: []check{{"/", List | Read}, {"/x", List | Read}, {"/a", Read}, {"/a/b", Read}},
		},
		{
			name: "read-only mount inside a writable home, writable mount inside it",
			mounts: []Mount{
				home,
				{Path: "/ro", Backend: "b", ReadOnly: true},
				{Path: "/ro/rw", Backend: "c"},
			},
			rules: []Rule{{"/", All}},
			checks: []check{
				{"/x", All}, {"/ro", List | Read}, {"/ro/x", List | Read}, {"/ro/rw", All}, {"/ro/rw/x", All},
				{"/rox", All},
			},
		},
		{
			name:   "read-only keeps only what the rule grants of list and read",
			mounts: []Mount{home, {Path: "/ro", Backend: "b", ReadOnly: true}},
			rules:  []Rule{{"/", All}, {"/ro", List | Delete}},
			checks: []check{{"/ro", List}, {"/ro/f", List}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mounts := tc.mounts
			if mounts == nil {
				mounts = []Mount{home}
			}
			reversed := slices.Clone(tc.rules)
			slices.Reverse(reversed)
			for _, rules := range [][]Rule{tc.rules, reversed} {
				p := mustNew(t, mounts, rules)
				for _, c := range tc.checks {
					if got := p.Perms(c.path); got != c.want {
						t.Errorf("rules %v: Perms(%q) = %v, want %v", rules, c.path, got, c.want)
					}
					for _, one := range permNames {
						if got, want := p.Allowed(one.p, c.path), c.want.Has(one.p); got != want {
							t.Errorf("rules %v: Allowed(%s, %q) = %v, want %v", rules, one.name, c.path, got, want)
						}
					}
					if !p.Allowed(None, c.path) {
						t.Errorf("Allowed(None, %q) = false", c.path)
					}
				}
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mounts []Mount
		rules  []Rule
		want   string // substring of the error
	}{
		{"no mounts", nil, nil, `mount at "/"`},
		{"no root mount", []Mount{{Path: "/a", Backend: "b"}}, nil, `mount at "/"`},
		{"duplicate mount", []Mount{home, {Path: "/a", Backend: "b"}, {Path: "/a", Backend: "c"}}, nil, "declared twice"},
		{"duplicate root", []Mount{home, home}, nil, "declared twice"},
		{"negative quota", []Mount{{Path: "/", Backend: "b", Quota: -1}}, nil, "negative quota"},
		{"relative mount", []Mount{home, {Path: "a", Backend: "b"}}, nil, "canonical"},
		{"trailing slash mount", []Mount{home, {Path: "/a/", Backend: "b"}}, nil, "canonical"},
		{"dotdot mount", []Mount{home, {Path: "/a/../b", Backend: "b"}}, nil, "canonical"},
		{"empty mount path", []Mount{home, {Path: "", Backend: "b"}}, nil, "canonical"},
		{"NUL mount", []Mount{home, {Path: "/a\x00", Backend: "b"}}, nil, "canonical"},
		{"no backend", []Mount{{Path: "/"}}, nil, "backend"},
		{"prefix without slash", []Mount{{Path: "/", Backend: "b", Prefix: "users"}}, nil, "prefix"},
		{"absolute prefix", []Mount{{Path: "/", Backend: "b", Prefix: "/users/"}}, nil, "prefix"},
		{"dotdot prefix", []Mount{{Path: "/", Backend: "b", Prefix: "users/../../"}}, nil, "prefix"},
		{"double slash prefix", []Mount{{Path: "/", Backend: "b", Prefix: "a//"}}, nil, "prefix"},
		{"relative pattern", []Mount{home}, []Rule{{"a", List}}, "canonical"},
		{"empty pattern", []Mount{home}, []Rule{{"", List}}, "canonical"},
		{"trailing slash pattern", []Mount{home}, []Rule{{"/a/", List}}, "canonical"},
		{"dotdot pattern", []Mount{home}, []Rule{{"/a/..", List}}, "canonical"},
		{"backslash pattern", []Mount{home}, []Rule{{`/a\*`, List}}, "canonical"},
		{"duplicate pattern", []Mount{home}, []Rule{{"/a", List}, {"/b", Read}, {"/a", Read}}, "twice"},
		{"malformed bracket", []Mount{home}, []Rule{{"/[", List}}, "malformed"},
		{"malformed bracket deep", []Mount{home}, []Rule{{"/a/b[c/d", List}}, "malformed"},
		{"malformed range", []Mount{home}, []Rule{{"/[z-]", List}}, "malformed"},
		{"unknown bits", []Mount{home}, []Rule{{"/", All + 1}}, "unknown permission"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.mounts, tc.rules)
			if err == nil {
				t.Fatalf("New succeeded: %+v", p)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v; want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestPolicyAccessors(t *testing.T) {
	mounts := []Mount{
		{Path: "/a", Backend: "x"},
		home,
		{Path: "/a/b/c", Backend: "y"},
		{Path: "/z", Backend: "z"},
	}
	rules := []Rule{{"/z", List}, {"/", All}, {"/a/*", Read}}
	p := mustNew(t, mounts, rules)

	var paths []string
	for _, m := range p.Mounts() {
		paths = append(paths, m.Path)
	}
	if want := []string{"/a/b/c", "/a", "/z", "/"}; !slices.Equal(paths, want) {
		t.Errorf("Mounts() = %q, want deepest first %q", paths, want)
	}
	if got := p.Rules(); !slices.Equal(got, rules) {
		t.Errorf("Rules() = %v, want the order given %v", got, rules)
	}
	// The returned slices are copies.
	p.Mounts()[0].ReadOnly = true
	p.Rules()[0].Perms = All
	if p.Perms("/a/b/c/x") != Read || p.Perms("/z") != List {
		t.Error("changing what Mounts or Rules returned changed the policy")
	}

	if got := p.ChildMounts("/"); !slices.Equal(got, []string{"a", "z"}) {
		t.Errorf("ChildMounts(/) = %q", got)
	}
	if got := p.ChildMounts("/a"); !slices.Equal(got, []string{"b"}) {
		t.Errorf("ChildMounts(/a) = %q, want the entry leading to /a/b/c", got)
	}
	if got := p.ChildMounts("/a/b"); !slices.Equal(got, []string{"c"}) {
		t.Errorf("ChildMounts(/a/b) = %q", got)
	}
	for _, tc := range []struct {
		name                   string
		point, below, ancestor bool
	}{
		{"/", true, true, true},
		{"/a", true, true, true},
		{"/a/b", false, true, true},
		{"/a/b/c", true, false, true},
		{"/a/b/c/d", false, false, false},
		{"/a/x", false, false, false},
		{"/ab", false, false, false},
		{"/z", true, false, true},
	} {
		if got := p.IsMountPoint(tc.name); got != tc.point {
			t.Errorf("IsMountPoint(%q) = %v", tc.name, got)
		}
		if got := p.HasMountBelow(tc.name); got != tc.below {
			t.Errorf("HasMountBelow(%q) = %v", tc.name, got)
		}
		if got := p.IsMountAncestor(tc.name); got != tc.ancestor {
			t.Errorf("IsMountAncestor(%q) = %v", tc.name, got)
		}
	}
	if m, rel := p.Resolve("/a/b/x"); m.Backend != "x" || rel != "b/x" {
		t.Errorf("Resolve(/a/b/x) = %+v, %q", m, rel)
	}
	if m, rel := p.Resolve("/a/b/c/d"); m.Backend != "y" || rel != "d" {
		t.Errorf("Resolve(/a/b/c/d) = %+v, %q", m, rel)
	}
}

func TestHasRulesBelow(t *testing.T) {
	p := mustNew(t, []Mount{home}, []Rule{
		{"/", All},
		{"/a/b/c", Read},
		{"/x/*/y", Read},
		{"/top", List},
	})
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"/", true},
		{"/a", true},
		{"/a/b", true},
		{"/a/b/c", false}, // the rule matches the entry itself
		{"/a/b/c/d", false},
		{"/a/x", false},
		{"/x", true},
		{"/x/anything", true},
		{"/x/anything/y", false},
		{"/top", false},
		{"/other", false},
	} {
		if got := p.HasRulesBelow(tc.name); got != tc.want {
			t.Errorf("HasRulesBelow(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}
