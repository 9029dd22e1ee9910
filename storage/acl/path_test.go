package acl

import (
	"errors"
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	seg255 := strings.Repeat("a", MaxSegmentLen)
	seg256 := strings.Repeat("a", MaxSegmentLen+1)
	// 4 segments of 255 bytes plus 4 slashes: 1024 bytes, the limit.
	atLimit := strings.Repeat("/"+seg255, 4)
	overLimit := atLimit + "/b"
	for _, tc := range []struct {
		name, in, want string // want "" means an error wrapping ErrInvalidPath
	}{
		// Climbing out is impossible: ".." stops at "/".
		{"dotdot", "../", "/"},
		{"passwd", "../../etc/passwd", "/etc/passwd"},
		{"abs passwd", "/../../etc/passwd", "/etc/passwd"},
		{"dotdot inside", "/a/../../b", "/b"},
		{"dotdot deep", "/a/b/c/../../../../../x", "/x"},
		{"dot dot slash dot", "/./.././../x/.", "/x"},
		{"trailing dotdot", "/a/b/..", "/a"},
		// Percent-encoding is not decoded: "%2e%2e" is a literal name.
		{"percent dotdot", "%2e%2e", "/%2e%2e"},
		{"percent dotdot path", "/a/%2e%2e/%2e%2e/etc", "/a/%2e%2e/%2e%2e/etc"},
		{"percent slash", "a%2fb", "/a%2fb"},
		{"dots that are names", "/..a/.a/a.b/a.", "/..a/.a/a.b/a."},
		// A name ending in ".." would become "../" in an object key, which
		// object stores escape; Windows cannot hold such names either.
		{"three dots", "/...", ""},
		{"name ending in dotdot", "/a../b", ""},
		{"last name ending in dotdot", "/a/b..", ""},
		{"dotdot name removed by cleaning", "/a../../b", "/b"},
		// Slashes collapse.
		{"double slash", "//", "/"},
		{"many slashes", "///a//b/", "/a/b"},
		{"trailing slash", "/a/b/", "/a/b"},
		// Empty, dot and relative inputs are taken relative to "/".
		{"empty", "", "/"},
		{"dot", ".", "/"},
		{"slash", "/", "/"},
		{"relative", "a/b", "/a/b"},
		{"relative dot", "./a", "/a"},
		// Unicode and spaces are names like any other.
		{"spaces", "/my documents/ report .txt ", "/my documents/ report .txt "},
		{"unicode", "/Überweisung/日本語/файл/🚢.bin", "/Überweisung/日本語/файл/🚢.bin"},
		{"nbsp", "/a\u00a0b", "/a\u00a0b"},
		{"replacement char", "/\ufffd", "/\ufffd"},
		{"tab-free punctuation", "/a;b,c'd\"e`f$g&h|i<j>k", "/a;b,c'd\"e`f$g&h|i<j>k"},
		// Control characters anywhere.
		{"NUL", "/a\x00b", ""},
		{"NUL trailing", "/etc/passwd\x00.txt", ""},
		{"NUL in dotdot", "/..\x00/x", ""},
		{"SOH", "/a\x01", ""},
		{"tab", "/a\tb", ""},
		{"newline", "/a\nb", ""},
		{"CR", "/a\r", ""},
		{"ESC", "/\x1b[31mred", ""},
		{"DEL", "/a\x7f", ""},
		{"C1 0x80", "/a\u0080", ""},
		{"C1 0x85 NEL", "/a\u0085b", ""},
		{"C1 0x9f", "/\u009f", ""},
		{"removed control", "/x/../a\x01", ""},
		// Invalid UTF-8.
		{"invalid byte", "/a\xffb", ""},
		{"lone continuation", "/\x80", ""},
		{"truncated sequence", "/\xe6\x97", ""},
		{"overlong slash", "/a\xc0\xafb", ""},
		{"overlong dot", "/\xc0\xae\xc0\xae/etc", ""},
		{"surrogate", "/\xed\xa0\x80", ""},
		// Backslashes, alone or mixed with slashes.
		{"backslash dotdot", `..\..\x`, ""},
		{"backslash name", `a\b`, ""},
		{"mixed", `/a/..\../b`, ""},
		{"UNC", `\\server\share`, ""},
		{"drive", `C:\Windows`, ""},
		// Lengths.
		{"segment 255", "/" + seg255, "/" + seg255},
		{"segment 256", "/" + seg256, ""},
		{"segment 256 deep", "/a/" + seg256 + "/b", ""},
		{"segment 256 removed by dotdot", "/" + seg256 + "/../b", "/b"},
		{"total at limit", atLimit, atLimit},
		{"total over limit", overLimit, ""},
		{"total over limit before cleaning", strings.Repeat("/./", 1000) + "a", "/a"},
		{"multibyte segment 255 bytes", "/" + strings.Repeat("é", 127) + "a", "/" + strings.Repeat("é", 127) + "a"},
		{"multibyte segment 256 bytes", "/" + strings.Repeat("é", 128), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Clean(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("Clean(%q) = %q, want an error", tc.in, got)
				}
				if !errors.Is(err, ErrInvalidPath) {
					t.Fatalf("Clean(%q) error %v does not wrap ErrInvalidPath", tc.in, err)
				}
				if got != "" {
					t.Errorf("Clean(%q) returned %q with its error", tc.in, got)
				}
				if IsCanonical(tc.in) {
					t.Errorf("IsCanonical(%q) = true for an invalid path", tc.in)
				}
				return
			}
			if err != nil {
				t.Fatalf("Clean(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("Clean(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if !IsCanonical(got) {
				t.Errorf("IsCanonical(Clean(%q)) = false", tc.in)
			}
			if IsCanonical(tc.in) != (tc.in == tc.want) {
				t.Errorf("IsCanonical(%q) = %v", tc.in, IsCanonical(tc.in))
			}
		})
	}
}

func TestWithinRelJoin(t *testing.T) {
	for _, tc := range []struct {
		p, dir string
		within bool
		rel    string
	}{
		{"/", "/", true, ""},
		{"/a", "/", true, "a"},
		{"/a/b", "/", true, "a/b"},
		{"/a", "/a", true, ""},
		{"/a/b/c", "/a", true, "b/c"},
		{"/ab", "/a", false, ""},
		{"/a", "/ab", false, ""},
		{"/", "/a", false, ""},
		{"/a", "/a/b", false, ""},
		{"/folder10", "/folder1", false, ""},
		{"/folder1/x", "/folder1", true, "x"},
	} {
		if got := Within(tc.p, tc.dir); got != tc.within {
			t.Errorf("Within(%q, %q) = %v, want %v", tc.p, tc.dir, got, tc.within)
		}
		if tc.within {
			if got := Rel(tc.p, tc.dir); got != tc.rel {
				t.Errorf("Rel(%q, %q) = %q, want %q", tc.p, tc.dir, got, tc.rel)
			}
		}
	}
	for _, tc := range []struct{ dir, name, want string }{
		{"/", "a", "/a"},
		{"/a", "b", "/a/b"},
		{"/a/b", "c d", "/a/b/c d"},
	} {
		if got := Join(tc.dir, tc.name); got != tc.want {
			t.Errorf("Join(%q, %q) = %q, want %q", tc.dir, tc.name, got, tc.want)
		}
	}
}

func TestValidatePrefix(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		ok     bool
	}{
		{"", true},
		{"a/", true},
		{"users/alice/", true},
		{"with space/ünï/", true},
		{"a", false},
		{"/", false},
		{"/a/", false},
		{"./", false},
		{"../", false},
		{"a/../", false},
		{"a/../../b/", false},
		{"a//b/", false},
		{"a/./b/", false},
		{"a\x00/", false},
		{`a\b/`, false},
		{"\xff/", false},
		{strings.Repeat("a", 256) + "/", false},
	} {
		if err := ValidatePrefix(tc.prefix); (err == nil) != tc.ok {
			t.Errorf("ValidatePrefix(%q) = %v, want ok=%v", tc.prefix, err, tc.ok)
		}
	}
}
