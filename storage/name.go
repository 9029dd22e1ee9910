package storage

import (
	"fmt"
	"strconv"
	"strings"
)

// What names a backend can hold, decided here and nowhere else. acl.Clean
// bounds virtual paths; a backend bounds the keys it stores them under, and
// the local disk reserves the names of its own bookkeeping files. A name a
// backend cannot hold is refused with ErrInvalidName before anything is
// written (Create, Append of a new file, Mkdir, Rename), and does not exist
// for lookups (Stat, Open, Remove, listings).
const (
	// maxKeyLen is the longest object key, in bytes as stored (s3blob
	// escapes some text), that S3 takes (and GCS and Azure): it holds
	// on every backend, so that a tree can move between them.
	maxKeyLen = 1024
	// diskNameMax is the longest name of a file on a local disk (NAME_MAX
	// of the usual Linux, BSD and macOS file systems).
	diskNameMax = 255
	// tmpSuffixLen is the length of the suffix of the temporary file a
	// local upload goes to (fileblob's and localWriter's): "." and the 16
	// hex digits of the Unix nanoseconds, then ".tmp".
	tmpSuffixLen = 1 + 16 + len(".tmp")
	// maxDiskFile is the longest name (escaped) of a file on a local disk:
	// its temporary file adds tmpSuffixLen (its ".attrs" sidecar less).
	maxDiskFile = diskNameMax - tmpSuffixLen
	// maxDiskDir is the longest name (escaped) of a directory on a local
	// disk: its marker adds markerSuffix, the marker's temporary file
	// tmpSuffixLen more.
	maxDiskDir = diskNameMax - len(markerSuffix) - tmpSuffixLen
)

// nameErr returns why the backend of l cannot hold an entry at l — a file,
// or a directory when dir is set — wrapping ErrInvalidName; nil when it
// can. Mount points always can. Every segment below the mount but the last
// is a directory; the key prefix is configuration, not checked here.
func (l loc) nameErr(dir bool) error {
	if l.rel == "" {
		return nil
	}
	n := len(escapeS3Key(l.key()))
	if dir {
		n++ // the marker "key/"
	}
	if n > maxKeyLen {
		return fmt.Errorf("%w: name too long: its key would be %d bytes, the backend takes at most %d", ErrInvalidName, n, maxKeyLen)
	}
	if !l.be.disk {
		return nil
	}
	rest := l.rel
	for rest != "" {
		seg, more, isDir := rest, "", dir
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			seg, more, isDir = rest[:i], rest[i+1:], true
		}
		if err := diskNameErr(escapeS3Key(seg), isDir); err != nil {
			return err
		}
		rest = more
	}
	return nil
}

// diskNameErr returns why a local disk cannot hold a file or directory of
// the escaped name esc: too long once the backend's suffixes are added, or
// reserved for the backend's own files.
func diskNameErr(esc string, dir bool) error {
	limit, what := maxDiskFile, "file"
	if dir {
		limit, what = maxDiskDir, "directory"
	}
	switch {
	case len(esc) > limit:
		return fmt.Errorf("%w: name too long: a %s name takes at most %d bytes on this backend, this one %d", ErrInvalidName, what, limit, len(esc))
	case strings.HasSuffix(esc, attrsExt):
		return fmt.Errorf("%w: names ending in %q are reserved on this backend (attribute files)", ErrInvalidName, attrsExt)
	case strings.HasSuffix(esc, markerSuffix):
		return fmt.Errorf("%w: names ending in %q are reserved on this backend (directory markers)", ErrInvalidName, markerSuffix)
	case isTempName(esc):
		return fmt.Errorf("%w: names ending in \".<16 hex digits>.tmp\" are reserved on this backend (uploads in progress)", ErrInvalidName)
	case dir && opensEscape(esc):
		return fmt.Errorf("%w: directory names ending in \"__0x<hex digits>\" or \"__0x<hex digits>_\" are reserved on this backend (they would run into the %q of the directory marker)", ErrInvalidName, markerSuffix)
	}
	return nil
}

// opensEscape reports whether esc ends in the beginning of an escape
// ("__0x41", "__0x41_") that the marker suffix appended to it would
// complete: "a__0x41" + "__0x2f__" reads back as "aA0x2f__", a file.
func opensEscape(esc string) bool {
	i := strings.LastIndex(esc, "__0x")
	if i < 0 {
		return false
	}
	digits := strings.TrimSuffix(esc[i+4:], "_")
	if digits == "" || strings.Contains(digits, "_") {
		return false
	}
	_, err := strconv.ParseInt(digits, 16, 32) // as gocloud reads escapes
	return err == nil
}

// isTempName reports whether name is that of the temporary file of an
// upload: a name, ".", the 16 lowercase hex digits of the Unix nanoseconds
// (from 2006 to 2262), ".tmp".
func isTempName(name string) bool {
	rest, ok := strings.CutSuffix(name, ".tmp")
	if !ok || len(rest) < 17 || rest[len(rest)-17] != '.' {
		return false
	}
	for _, c := range rest[len(rest)-16:] {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
