package auth_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wharf-gw/wharf/auth"
)

func TestToken(t *testing.T) {
	now := time.Now()
	secret, tok, err := auth.NewToken("root", "ci", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "wharf_"+tok.ID+"_") || strings.Contains(secret, string(tok.Hash)) {
		t.Fatalf("secret %q for token %+v", secret, tok)
	}
	id, hash, err := auth.ParseToken(secret)
	if err != nil || id != tok.ID || !auth.CheckToken(tok, hash, now) {
		t.Fatalf("a fresh token does not check: %v", err)
	}
	if auth.CheckToken(tok, hash, now.Add(2*time.Hour)) {
		t.Fatal("an expired token checks")
	}
	other, _, _ := auth.NewToken("root", "", now, 0)
	_, otherHash, _ := auth.ParseToken(other)
	if auth.CheckToken(tok, otherHash, now) {
		t.Fatal("another token's secret checks")
	}
	for _, bad := range []string{"", "wharf_", "Bearer x", secret[:len(secret)-2], strings.Replace(secret, "wharf_", "warf_", 1), secret + "00"} {
		if _, _, err := auth.ParseToken(bad); !errors.Is(err, auth.ErrAuthFailed) {
			t.Fatalf("malformed token %q parsed: %v", bad, err)
		}
	}
}
