package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// tokenPrefix marks wharf admin tokens, so that secret scanners can find
// leaked ones.
const tokenPrefix = "wharf_"

// NewToken makes an API token for admin: the secret to hand out once
// ("wharf_<id>_<secret>") and the Token to store, which keeps only a hash
// of the secret. ttl 0 means the token does not expire.
func NewToken(admin, label string, now time.Time, ttl time.Duration) (string, *Token, error) {
	id, secret := make([]byte, 8), make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		return "", nil, err
	}
	if _, err := rand.Read(secret); err != nil {
		return "", nil, err
	}
	sum := sha256.Sum256(secret)
	t := &Token{ID: hex.EncodeToString(id), Admin: admin, Label: label, Hash: sum[:], Created: now.UTC()}
	if ttl > 0 {
		t.Expires = now.Add(ttl).UTC()
	}
	return tokenPrefix + t.ID + "_" + hex.EncodeToString(secret), t, nil
}

// ParseToken splits a presented token into its id and the SHA-256 of its
// secret.
func ParseToken(s string) (id string, hash []byte, err error) {
	rest, ok := strings.CutPrefix(s, tokenPrefix)
	id, sec, ok2 := strings.Cut(rest, "_")
	secret, herr := hex.DecodeString(sec)
	if !ok || !ok2 || len(id) != 16 || herr != nil || len(secret) != 32 {
		return "", nil, fmt.Errorf("%w: malformed token", ErrAuthFailed)
	}
	sum := sha256.Sum256(secret)
	return id, sum[:], nil
}

// CheckToken reports whether hash (from ParseToken) matches t and t has
// not expired at now.
func CheckToken(t *Token, hash []byte, now time.Time) bool {
	ok := subtle.ConstantTimeCompare(t.Hash, hash) == 1
	return ok && (t.Expires.IsZero() || now.Before(t.Expires))
}
