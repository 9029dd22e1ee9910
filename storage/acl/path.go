// Package acl is wharf's pure policy model: canonical virtual paths, a
// user's mount table and the rules that say what the user may do where.
// It performs no I/O; storage.Session asks it for every decision.
package acl

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// Limits on virtual paths. S3 keys are at most 1024 bytes, and most file
// systems refuse names longer than 255 bytes.
const (
	MaxPathLen    = 1024
	MaxSegmentLen = 255
)

// ErrInvalidPath is wrapped by every error Clean returns.
var ErrInvalidPath = errors.New("invalid path")

// Clean returns the canonical form of a virtual path: absolute,
// slash-separated, with no empty, "." or ".." segments, valid UTF-8, free
// of NUL and other control characters, with no backslash (which Windows
// clients would read as a separator), with no name ending in ".." (object
// stores escape "../", which would break the directory apart; Windows
// cannot hold such names either), and within MaxPathLen and
// MaxSegmentLen. A relative p is taken relative to "/", and ".." never
// climbs above "/": nothing Clean returns lies outside the namespace it is
// resolved in. Every protocol converts client input through this one
// function; everything below trusts its result.
//
// Errors wrap ErrInvalidPath.
func Clean(p string) (string, error) {
	if !utf8.ValidString(p) {
		return "", fmt.Errorf("%w: not valid UTF-8", ErrInvalidPath)
	}
	for _, r := range p {
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return "", fmt.Errorf("%w: control character %U", ErrInvalidPath, r)
		case r == '\\':
			return "", fmt.Errorf("%w: backslash in name", ErrInvalidPath)
		}
	}
	c := path.Clean("/" + p)
	if len(c) > MaxPathLen {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrInvalidPath, MaxPathLen)
	}
	for seg := range strings.SplitSeq(c[1:], "/") {
		if len(seg) > MaxSegmentLen {
			return "", fmt.Errorf("%w: name longer than %d bytes", ErrInvalidPath, MaxSegmentLen)
		}
		if strings.HasSuffix(seg, "..") {
			return "", fmt.Errorf("%w: name ends in \"..\"", ErrInvalidPath)
		}
	}
	return c, nil
}

// IsCanonical reports whether p is already in the form Clean returns.
func IsCanonical(p string) bool {
	c, err := Clean(p)
	return err == nil && c == p
}

// Within reports whether the canonical path p is dir or lies below it.
func Within(p, dir string) bool {
	if dir == "/" {
		return true
	}
	return p == dir || (strings.HasPrefix(p, dir) && p[len(dir)] == '/')
}

// Rel returns p relative to dir, without a leading slash ("" when p ==
// dir). Both must be canonical and Within(p, dir) must hold.
func Rel(p, dir string) string {
	if dir == "/" {
		return p[1:]
	}
	return strings.TrimPrefix(p[len(dir):], "/")
}

// Join joins a canonical directory and a single name.
func Join(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// depth is the number of segments of a canonical path ("/" has none).
func depth(p string) int {
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}
