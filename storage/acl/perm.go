package acl

import (
	"fmt"
	"strings"
)

// Perm is a set of permissions.
type Perm uint16

// The permissions a rule can grant. Each protocol command maps to one or
// more of them inside storage.Session.
const (
	List      Perm = 1 << iota // see the entry and list a directory's contents
	Read                       // download a file
	WriteNew                   // upload a file that does not exist yet
	Overwrite                  // replace an existing file
	Append                     // append to an existing file
	Delete                     // delete a file
	Rename                     // rename or move a file or directory (needed at both ends)
	Mkdir                      // create a directory
	Rmdir                      // remove an empty directory
	Setstat                    // change a modification time

	None Perm = 0
	All  Perm = List | Read | WriteNew | Overwrite | Append | Delete | Rename | Mkdir | Rmdir | Setstat

	// Modify is every permission that changes something; a read-only mount
	// removes all of them.
	Modify Perm = WriteNew | Overwrite | Append | Delete | Rename | Mkdir | Rmdir | Setstat
)

var permNames = []struct {
	p    Perm
	name string
}{
	{List, "list"}, {Read, "read"}, {WriteNew, "write"}, {Overwrite, "overwrite"},
	{Append, "append"}, {Delete, "delete"}, {Rename, "rename"}, {Mkdir, "mkdir"},
	{Rmdir, "rmdir"}, {Setstat, "setstat"},
}

// ParsePerms parses a comma-separated permission list such as
// "list,read" or "*" (every permission) or "none".
func ParsePerms(s string) (Perm, error) {
	var p Perm
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(strings.ToLower(f))
		switch f {
		case "*", "all":
			p |= All
			continue
		case "none":
			continue
		case "":
			return 0, fmt.Errorf("empty permission in %q", s)
		}
		q, ok := permByName(f)
		if !ok {
			return 0, fmt.Errorf("unknown permission %q (known: %s)", f, All)
		}
		p |= q
	}
	return p, nil
}

func permByName(name string) (Perm, bool) {
	for _, n := range permNames {
		if n.name == name {
			return n.p, true
		}
	}
	return 0, false
}

// String lists the permissions in p, comma-separated, in a fixed order.
func (p Perm) String() string {
	if p == None {
		return "none"
	}
	var names []string
	for _, n := range permNames {
		if p&n.p != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, ",")
}

// Has reports whether p includes every permission in q.
func (p Perm) Has(q Perm) bool { return p&q == q }
