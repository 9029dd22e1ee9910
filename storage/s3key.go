package storage

import (
	"strconv"
	"strings"
)

// escapeS3Key escapes a key exactly as gocloud's s3blob driver does, so
// that native requests address the objects the portable API wrote and
// reads: control characters, the "/" of "../", and any text that would
// itself read as an escape ("__0x<hex>__") become "__0x<hex>__".
func escapeS3Key(key string) string {
	if !strings.Contains(key, "../") && !strings.Contains(key, "__0x") && !hasControl(key) {
		return key // the common case, without allocating
	}
	r := []rune(key)
	var b strings.Builder
	for i, c := range r {
		if c < 32 || (i > 1 && c == '/' && r[i-1] == '.' && r[i-2] == '.') || isHexEscape(r, i) {
			b.WriteString("__0x")
			b.WriteString(strconv.FormatInt(int64(c), 16))
			b.WriteString("__")
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 32 {
			return true
		}
	}
	return false
}

// isHexEscape reports whether "__0x<hex digits>__" starts at r[i].
func isHexEscape(r []rune, i int) bool {
	if !strings.HasPrefix(string(r[i:min(i+4, len(r))]), "__0x") {
		return false
	}
	j := i + 4
	start := j
	for j < len(r) && r[j] != '_' {
		j++
	}
	if j+1 >= len(r) || r[j+1] != '_' {
		return false
	}
	_, err := strconv.ParseInt(string(r[start:j]), 16, 32)
	return err == nil
}
