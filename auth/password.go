package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the cost parameters of new password hashes. Existing
// hashes keep the parameters they were made with (they are part of the
// stored string), so raising the cost affects only new passwords.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultArgon2 returns the default cost: OWASP's recommended argon2id
// setting (19 MiB, 2 passes, 1 lane). The memory is per verification in
// progress; the Authenticator bounds how many run at once.
func DefaultArgon2() Argon2Params { return Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1} }

const (
	saltLen = 16
	keyLen  = 32
	// MaxPasswordLen bounds the input hashed, so a huge password costs no
	// more than a normal one.
	MaxPasswordLen = 1024
)

// Validate checks that the parameters are usable and not dangerously low.
func (p Argon2Params) Validate() error {
	switch {
	case p.Memory < 8*1024:
		return fmt.Errorf("argon2 memory %d KiB: at least 8192 KiB", p.Memory)
	case p.Memory > 4*1024*1024:
		return fmt.Errorf("argon2 memory %d KiB: at most 4 GiB", p.Memory)
	case p.Time < 1 || p.Time > 64:
		return fmt.Errorf("argon2 time %d: between 1 and 64", p.Time)
	case p.Threads < 1:
		return fmt.Errorf("argon2 threads %d: at least 1", p.Threads)
	}
	return nil
}

// HashPassword returns an argon2id hash of password in the PHC string
// format ($argon2id$v=19$m=…,t=…,p=…$salt$hash).
func HashPassword(password string, p Argon2Params) (string, error) {
	if password == "" {
		return "", fmt.Errorf("%w: password: empty", ErrInvalid)
	}
	if len(password) > MaxPasswordLen {
		return "", fmt.Errorf("%w: password: longer than %d bytes", ErrInvalid, MaxPasswordLen)
	}
	if err := p.Validate(); err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("malformed argon2id hash")

// VerifyPassword reports whether password matches hash, in time that does
// not depend on where they differ.
func VerifyPassword(hash, password string) (bool, error) {
	p, salt, key, err := parseHash(hash)
	if err != nil {
		return false, err
	}
	if len(password) > MaxPasswordLen {
		password = password[:MaxPasswordLen] // same cost; cannot match a valid hash's input
		_ = argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
		return false, nil
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

func parseHash(hash string) (Argon2Params, []byte, []byte, error) {
	var p Argon2Params
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errBadHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, errBadHash
	}
	if err := p.Validate(); err != nil {
		return p, nil, nil, fmt.Errorf("%w: %v", errBadHash, err)
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return p, nil, nil, errBadHash
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, errBadHash
	}
	return p, salt, key, nil
}
