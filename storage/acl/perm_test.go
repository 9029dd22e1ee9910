package acl

import (
	"math/bits"
	"testing"
)

func TestParsePerms(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Perm
		ok   bool
	}{
		{"list", List, true},
		{"list,read", List | Read, true},
		{" LIST , Read ", List | Read, true},
		{"*", All, true},
		{"all", All, true},
		{"none", None, true},
		{"none,list", List, true},
		{"write,overwrite,append,delete,rename,mkdir,rmdir,setstat", Modify, true},
		{"list,read,write,overwrite,append,delete,rename,mkdir,rmdir,setstat", All, true},
		{"", 0, false},
		{"list,", 0, false},
		{",list", 0, false},
		{"lsit", 0, false},
		{"download", 0, false},
		{"list read", 0, false},
	} {
		got, err := ParsePerms(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParsePerms(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestPermString(t *testing.T) {
	if got := None.String(); got != "none" {
		t.Errorf("None.String() = %q", got)
	}
	if got := (Read | List).String(); got != "list,read" {
		t.Errorf("(Read|List).String() = %q, want list,read", got)
	}
	if bits.OnesCount16(uint16(All)) != 10 || All&^(List|Read|Modify) != 0 || Modify&(List|Read) != 0 {
		t.Errorf("All = %#x, Modify = %#x: want 10 permissions, Modify all but list and read", uint16(All), uint16(Modify))
	}
	// Every subset of All survives a round trip through String and ParsePerms.
	for p := None; p <= All; p++ {
		if p&^All != 0 {
			continue
		}
		got, err := ParsePerms(p.String())
		if err != nil || got != p {
			t.Fatalf("ParsePerms(%q) = %v, %v; want %#x", p.String(), got, err, uint16(p))
		}
	}
}

func TestPermHas(t *testing.T) {
	if !All.Has(List|Delete) || (List | Read).Has(List|Delete) || !List.Has(None) {
		t.Error("Has does not test for every permission in its argument")
	}
}
