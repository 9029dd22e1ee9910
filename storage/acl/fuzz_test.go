package acl

import (
	"errors"
	"path"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzClean checks that Clean either refuses a path with ErrInvalidPath
// or returns a canonical path, and that a canonical path joined under any
// mount point stays inside it and maps to a key below the mount's prefix.
// Seeds: testdata/fuzz/FuzzClean.
func FuzzClean(f *testing.F) {
	f.Fuzz(func(t *testing.T, p, mount string) {
		out, err := Clean(p)
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("Clean(%q) error %v does not wrap ErrInvalidPath", p, err)
			}
			if out != "" {
				t.Fatalf("Clean(%q) returned %q with its error", p, out)
			}
		} else {
			checkCanonical(t, p, out)
		}

		// Join the client's cleaned path under a mount point, as storage
		// does, and check nothing escapes it.
		m, err := Clean(mount)
		if err != nil || out == "" {
			return
		}
		joined := m
		if out != "/" {
			joined = strings.TrimSuffix(m, "/") + out
		}
		if !Within(joined, m) {
			t.Fatalf("Within(%q, %q) = false for Clean(%q) = %q joined under %q", joined, m, p, out, m)
		}
		if got, want := Rel(joined, m), out[1:]; got != want {
			t.Fatalf("Rel(%q, %q) = %q, want %q", joined, m, got, want)
		}
		if len(joined) > MaxPathLen {
			return // storage refuses these
		}
		checkCanonical(t, joined, joined)
		mounts := []Mount{{Path: "/", Backend: "home", Prefix: "home/"}}
		if m != "/" {
			mounts = append(mounts, Mount{Path: m, Backend: "shared", Prefix: "shared/"})
		}
		pol, err := New(mounts, nil)
		if err != nil {
			t.Fatalf("New(%+v): %v", mounts, err)
		}
		mt, rel := pol.Resolve(joined)
		if mt.Path != m || rel != out[1:] {
			t.Fatalf("Resolve(%q) = %q, %q; want %q, %q", joined, mt.Path, rel, m, out[1:])
		}
		key := mt.Prefix + rel
		if !strings.HasPrefix(key, mt.Prefix) || path.Clean("/"+key) != "/"+strings.TrimSuffix(key, "/") {
			t.Fatalf("key %q for %q is not a clean key below prefix %q", key, joined, mt.Prefix)
		}
		if strings.Contains(key, "../") || strings.HasSuffix(key, "..") {
			t.Fatalf("key %q for %q contains \"..\"", key, joined)
		}
	})
}

// checkCanonical fails unless out, what Clean returned for in, has every
// property of a canonical path.
func checkCanonical(t *testing.T, in, out string) {
	t.Helper()
	fail := func(why string) { t.Fatalf("Clean(%q) = %q: %s", in, out, why) }
	if !IsCanonical(out) {
		fail("not IsCanonical")
	}
	if again, err := Clean(out); err != nil || again != out {
		fail("Clean of it is " + again)
	}
	if !strings.HasPrefix(out, "/") {
		fail("not absolute")
	}
	if out != "/" && strings.HasSuffix(out, "/") {
		fail("trailing slash")
	}
	if strings.Contains(out, "//") {
		fail(`contains "//"`)
	}
	if !utf8.ValidString(out) {
		fail("invalid UTF-8")
	}
	if len(out) > MaxPathLen {
		fail("too long")
	}
	if strings.ContainsRune(out, '\\') {
		fail("contains a backslash")
	}
	for _, r := range out {
		if unicode.IsControl(r) {
			fail("contains a control character")
		}
	}
	if out == "/" {
		return
	}
	for seg := range strings.SplitSeq(out[1:], "/") {
		switch {
		case seg == "" || seg == "." || seg == "..":
			fail("has an empty, \".\" or \"..\" segment")
		case strings.HasSuffix(seg, ".."):
			fail("has a name ending in \"..\"")
		case len(seg) > MaxSegmentLen:
			fail("has a name that is too long")
		}
	}
}

// FuzzPerms builds a policy from fuzzed rules and checks that decisions
// are deterministic (the same twice, and with the rules in reverse
// order), never grant unknown bits, never grant a Modify bit under a
// read-only mount, and agree with a straightforward model of the
// documented semantics. Seeds: testdata/fuzz/FuzzPerms.
func FuzzPerms(f *testing.F) {
	f.Fuzz(func(t *testing.T, p1 string, b1 uint16, p2 string, b2 uint16, p3 string, b3 uint16, name string, readOnly bool, mount string) {
		var rules []Rule
		for _, r := range []Rule{{p1, Perm(b1) & All}, {p2, Perm(b2) & All}, {p3, Perm(b3) & All}} {
			if IsCanonical(r.Pattern) && !slices.ContainsFunc(rules, func(o Rule) bool { return o.Pattern == r.Pattern }) {
				rules = append(rules, r)
			}
		}
		mounts := []Mount{{Path: "/", Backend: "home", ReadOnly: readOnly}}
		if m, err := Clean(mount); err == nil && m != "/" {
			mounts = append(mounts, Mount{Path: m, Backend: "other", ReadOnly: !readOnly})
		}
		pol, err := New(mounts, rules)
		if err != nil {
			for _, r := range rules {
				for seg := range strings.SplitSeq(r.Pattern, "/") {
					if _, err := path.Match(seg, ""); err != nil {
						return // malformed wildcard: New must refuse it
					}
				}
			}
			t.Fatalf("New(%+v, %+v): %v", mounts, rules, err)
		}
		reversed := slices.Clone(rules)
		slices.Reverse(reversed)
		rmounts := slices.Clone(mounts)
		slices.Reverse(rmounts)
		rpol, err := New(rmounts, reversed)
		if err != nil {
			t.Fatalf("New with rules and mounts reversed: %v", err)
		}

		n, err := Clean(name)
		if err != nil {
			return
		}
		got := pol.Perms(n)
		if again := pol.Perms(n); again != got {
			t.Fatalf("Perms(%q) = %v, then %v", n, got, again)
		}
		if rev := rpol.Perms(n); rev != got {
			t.Fatalf("Perms(%q) = %v with rules %v, %v with %v", n, got, rules, rev, reversed)
		}
		if got&^All != 0 {
			t.Fatalf("Perms(%q) = %#x: bits outside All", n, uint16(got))
		}
		m, _ := pol.Resolve(n)
		if m.ReadOnly && got&Modify != 0 {
			t.Fatalf("Perms(%q) = %v inside read-only mount %q", n, got, m.Path)
		}
		if want := modelPerms(mounts, rules, n); got != want {
			t.Fatalf("Perms(%q) = %v, want %v (rules %v, mounts %+v)", n, got, want, rules, mounts)
		}
		for _, one := range permNames {
			if pol.Allowed(one.p, n) != got.Has(one.p) {
				t.Fatalf("Allowed(%s, %q) disagrees with Perms = %v", one.name, n, got)
			}
		}
	})
}

// modelPerms is the documented decision, computed the slow and obvious
// way: among the rules whose pattern segments match the leading segments
// of name (each by path.Match), keep the most specific (most segments,
// then most literal segments, then most literal bytes); grant what all of
// those grant; remove Modify inside a read-only mount.
func modelPerms(mounts []Mount, rules []Rule, name string) Perm {
	var names []string
	if name != "/" {
		names = strings.Split(name[1:], "/")
	}
	type spec struct{ segs, literals, litLen int }
	var best *spec
	var perms Perm
	for _, r := range rules {
		var pats []string
		if r.Pattern != "/" {
			pats = strings.Split(r.Pattern[1:], "/")
		}
		if len(pats) > len(names) {
			continue
		}
		s := spec{segs: len(pats)}
		matched := true
		for i, pat := range pats {
			if ok, _ := path.Match(pat, names[i]); !ok {
				matched = false
				break
			}
			if !strings.ContainsAny(pat, "*?[") {
				s.literals++
				s.litLen += len(pat)
			}
		}
		if !matched {
			continue
		}
		switch {
		case best == nil || s.segs > best.segs ||
			s.segs == best.segs && (s.literals > best.literals ||
				s.literals == best.literals && s.litLen > best.litLen):
			best, perms = &s, r.Perms
		case s == *best:
			perms &= r.Perms
		}
	}
	deepest := Mount{Path: "/"}
	for _, m := range mounts {
		if Within(name, m.Path) && len(m.Path) >= len(deepest.Path) {
			deepest = m
		}
	}
	if deepest.ReadOnly {
		perms &^= Modify
	}
	return perms
}
