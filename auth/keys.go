package auth

import (
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// ParseKey parses one authorized_keys line (options are not allowed) and
// returns it normalized, with its SHA-256 fingerprint and comment. Only
// key types wharf accepts for login are allowed: ed25519, ECDSA and RSA of
// at least 2048 bits (verified with SHA-2 signatures).
func ParseKey(line string) (Key, error) {
	line = strings.TrimSpace(line)
	if line == "" {
		return Key{}, fmt.Errorf("empty key")
	}
	pub, comment, options, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return Key{}, fmt.Errorf("not an authorized_keys line: %v", err)
	}
	if len(options) > 0 {
		return Key{}, fmt.Errorf("authorized_keys options (%s) are not supported", strings.Join(options, ","))
	}
	if err := checkKeyType(pub); err != nil {
		return Key{}, err
	}
	return Key{
		AuthorizedKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))),
		Fingerprint:   ssh.FingerprintSHA256(pub),
		Comment:       comment,
	}, nil
}

func checkKeyType(pub ssh.PublicKey) error {
	switch pub.Type() {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521:
		return nil
	case ssh.KeyAlgoRSA:
		ck, ok := pub.(ssh.CryptoPublicKey)
		if !ok {
			return fmt.Errorf("unreadable RSA key")
		}
		type sizer interface{ Size() int }
		if s, ok := ck.CryptoPublicKey().(sizer); ok && s.Size()*8 < 2048 {
			return fmt.Errorf("RSA key of %d bits: at least 2048 are required", s.Size()*8)
		}
		return nil
	}
	return fmt.Errorf("key type %s is not accepted (use ed25519, ecdsa or rsa)", pub.Type())
}
