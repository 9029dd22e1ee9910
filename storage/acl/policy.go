package acl

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

// A Mount maps a virtual path to a key prefix in a named backend.
type Mount struct {
	Path     string // canonical virtual path of the mount point; "/" is the home
	Backend  string // name of a configured backend
	Prefix   string // key prefix inside the backend: "" or ending in "/"
	ReadOnly bool   // removes every Modify permission below Path
	// Quota is the most bytes the files below the mount may hold
	// together; 0 is no limit. An upload that would go past it fails
	// with the storage's ErrQuotaExceeded.
	Quota int64
}

// A Rule grants Perms at every path its Pattern matches. A pattern is a
// canonical path whose segments may use path.Match wildcards (*, ?,
// [...]); it matches the paths whose leading segments match it, that is
// the named entry and everything below it.
type Rule struct {
	Pattern string
	Perms   Perm
}

// Policy is a user's namespace and rules. It is immutable and safe for
// concurrent use.
type Policy struct {
	mounts []Mount // sorted by path, deepest first within a prefix chain
	rules  []rule
}

type rule struct {
	Rule
	segs     []string
	literals int // segments without wildcards
	litLen   int // bytes in literal segments
}

// New validates mounts and rules and returns a Policy. A mount at "/" is
// required; mount points must be canonical and distinct; prefixes must be
// empty or end in "/" and must not contain "..". Rule patterns must be
// canonical with valid wildcards; the same pattern may not appear twice.
func New(mounts []Mount, rules []Rule) (*Policy, error) {
	p := &Policy{}
	seen := map[string]bool{}
	for i, m := range mounts {
		if !IsCanonical(m.Path) {
			return nil, fmt.Errorf("mounts[%d]: path %q is not a canonical absolute path", i, m.Path)
		}
		if seen[m.Path] {
			return nil, fmt.Errorf("mounts[%d]: mount point %q is declared twice", i, m.Path)
		}
		seen[m.Path] = true
		if m.Backend == "" {
			return nil, fmt.Errorf("mounts[%d]: backend is required", i)
		}
		if err := ValidatePrefix(m.Prefix); err != nil {
			return nil, fmt.Errorf("mounts[%d]: %w", i, err)
		}
		if m.Quota < 0 {
			return nil, fmt.Errorf("mounts[%d]: negative quota %d", i, m.Quota)
		}
		p.mounts = append(p.mounts, m)
	}
	if !seen["/"] {
		return nil, errors.New("mounts: a mount at \"/\" (the home) is required")
	}
	// Deepest first, so the first Within match is the longest.
	slices.SortFunc(p.mounts, func(a, b Mount) int {
		if d := depth(b.Path) - depth(a.Path); d != 0 {
			return d
		}
		return strings.Compare(a.Path, b.Path)
	})
	patterns := map[string]bool{}
	for i, r := range rules {
		if !IsCanonical(r.Pattern) {
			return nil, fmt.Errorf("rules[%d]: pattern %q is not a canonical absolute path", i, r.Pattern)
		}
		if patterns[r.Pattern] {
			return nil, fmt.Errorf("rules[%d]: pattern %q appears twice", i, r.Pattern)
		}
		patterns[r.Pattern] = true
		if r.Perms&^All != 0 {
			return nil, fmt.Errorf("rules[%d]: unknown permission bits %#x", i, uint16(r.Perms&^All))
		}
		cr := rule{Rule: r}
		if r.Pattern != "/" {
			cr.segs = strings.Split(r.Pattern[1:], "/")
		}
		for _, s := range cr.segs {
			if _, err := path.Match(s, ""); err != nil {
				return nil, fmt.Errorf("rules[%d]: pattern %q: malformed wildcard in %q", i, r.Pattern, s)
			}
			if !hasMeta(s) {
				cr.literals++
				cr.litLen += len(s)
			}
		}
		p.rules = append(p.rules, cr)
	}
	return p, nil
}

// ValidatePrefix checks a backend key prefix: empty, or relative
// slash-separated names ending in "/", with no empty, "." or ".." segment.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if !strings.HasSuffix(prefix, "/") || strings.HasPrefix(prefix, "/") {
		return fmt.Errorf("prefix %q must be relative and end in \"/\"", prefix)
	}
	c, err := Clean(prefix)
	if err != nil || c[1:]+"/" != prefix {
		return fmt.Errorf("prefix %q is not a clean relative path", prefix)
	}
	return nil
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[`) }

// Mounts returns the mount table, deepest mount points first.
func (p *Policy) Mounts() []Mount { return slices.Clone(p.mounts) }

// Rules returns the rules in the order given to New.
func (p *Policy) Rules() []Rule {
	out := make([]Rule, len(p.rules))
	for i, r := range p.rules {
		out[i] = r.Rule
	}
	return out
}

// Resolve returns the mount that serves the canonical path name and
// name's path relative to the mount point ("" for the mount point).
func (p *Policy) Resolve(name string) (Mount, string) {
	for _, m := range p.mounts {
		if Within(name, m.Path) {
			return m, Rel(name, m.Path)
		}
	}
	panic("acl: policy without a root mount") // New guarantees one
}

// IsMountPoint reports whether name is a mount point (including "/").
func (p *Policy) IsMountPoint(name string) bool {
	return slices.ContainsFunc(p.mounts, func(m Mount) bool { return m.Path == name })
}

// HasMountBelow reports whether a mount point lies strictly below name.
func (p *Policy) HasMountBelow(name string) bool {
	return slices.ContainsFunc(p.mounts, func(m Mount) bool { return m.Path != name && Within(m.Path, name) })
}

// IsMountAncestor reports whether name is a mount point or lies on the way
// to one: such directories exist in every namespace whatever the backend
// holds.
func (p *Policy) IsMountAncestor(name string) bool {
	return slices.ContainsFunc(p.mounts, func(m Mount) bool { return Within(m.Path, name) })
}

// ChildMounts returns the names of the entries directly inside dir that
// are mount points or lead to one, sorted.
func (p *Policy) ChildMounts(dir string) []string {
	var names []string
	for _, m := range p.mounts {
		if m.Path == dir || !Within(m.Path, dir) {
			continue
		}
		name, _, _ := strings.Cut(Rel(m.Path, dir), "/")
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// HasRulesBelow reports whether a rule pattern could match a path strictly
// below name without matching name itself: such a subtree carries its own
// permissions, so it is not moved or removed wholesale.
func (p *Policy) HasRulesBelow(name string) bool {
	n := depth(name)
	for _, r := range p.rules {
		if len(r.segs) > n && prefixMatches(r.segs[:n], name) {
			return true
		}
	}
	return false
}

// Perms returns the permissions the user holds at the canonical path name:
// those of the most specific matching rule, with every Modify permission
// removed inside a read-only mount. The most specific rule is the one with
// the most segments, then the most literal segments, then the longest
// literal text; equally specific rules grant only what they all grant.
// No matching rule grants nothing.
func (p *Policy) Perms(name string) Perm {
	var (
		best  *rule
		perms Perm
	)
	for i := range p.rules {
		r := &p.rules[i]
		if !r.matches(name) {
			continue
		}
		switch c := compareSpecificity(r, best); {
		case c > 0:
			best, perms = r, r.Perms
		case c == 0:
			perms &= r.Perms
		}
	}
	if m, _ := p.Resolve(name); m.ReadOnly {
		perms &^= Modify
	}
	return perms
}

// Allowed reports whether every permission in want is held at name.
func (p *Policy) Allowed(want Perm, name string) bool {
	return p.Perms(name).Has(want)
}

func (r *rule) matches(name string) bool {
	if len(r.segs) > depth(name) {
		return false
	}
	return prefixMatches(r.segs, name)
}

// prefixMatches reports whether the leading segments of the canonical
// path name match segs one by one.
func prefixMatches(segs []string, name string) bool {
	rest := name
	for _, s := range segs {
		seg, _, _ := strings.Cut(rest[1:], "/")
		if hasMeta(s) {
			if ok, _ := path.Match(s, seg); !ok {
				return false
			}
		} else if s != seg {
			return false
		}
		rest = rest[1+len(seg):] // "/after" or ""
	}
	return true
}

// compareSpecificity orders rules; a nil b is less specific than any rule.
func compareSpecificity(a, b *rule) int {
	if b == nil {
		return 1
	}
	for _, d := range [...]int{len(a.segs) - len(b.segs), a.literals - b.literals, a.litLen - b.litLen} {
		if d != 0 {
			return d
		}
	}
	return 0
}
