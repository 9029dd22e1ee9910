package sftp

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"golang.org/x/crypto/ssh"

	"github.com/wharf-gw/wharf/auth"
)

// SecretStore keeps secrets shared by every node of a cluster (the auth
// store implements it). Host keys are generated once and kept in it, so
// that every node presents the same keys.
type SecretStore interface {
	// PutSecretIfAbsent stores value under name unless name exists, and
	// returns what is stored after the call; of several nodes racing,
	// all get the same value back.
	PutSecretIfAbsent(ctx context.Context, name string, value []byte) ([]byte, bool, error)
}

// secretGetter is the optional capability of a SecretStore to read a
// secret without offering one: with it, a node whose keys exist skips
// generating candidates (an RSA key takes a second or more).
type secretGetter interface {
	// GetSecret returns the secret name, or an error wrapping
	// auth.ErrNotFound.
	GetSecret(ctx context.Context, name string) ([]byte, error)
}

// minRSABits is the smallest RSA host key wharf presents.
const minRSABits = 3072

// hostKeyKinds are the host keys generated when no files are configured,
// with the name of the secret each is kept under.
var hostKeyKinds = []struct {
	secret string
	gen    func() (crypto.Signer, error)
}{
	{"sftp-host-key-ed25519", func() (crypto.Signer, error) {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}},
	{"sftp-host-key-ecdsa", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }},
	{"sftp-host-key-rsa", func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, minRSABits) }},
}

// HostKey describes one host key the server presents.
type HostKey struct {
	Type          string // ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa
	Fingerprint   string // SHA256:…, as ssh-keygen -l prints it
	AuthorizedKey string // the public key as one known_hosts/authorized_keys field pair
	Source        string // "store:<secret name>" or the file's path
}

// hostKey is a loaded host key.
type hostKey struct {
	signer ssh.Signer
	source string
}

// loadHostKeys returns the host keys: those in files when any are given,
// otherwise the keys kept in secrets, generated on first use. Of several
// nodes starting at once against one store, all end up with the keys
// stored by the first.
func loadHostKeys(ctx context.Context, files []string, secrets SecretStore) ([]hostKey, error) {
	var keys []hostKey
	if len(files) > 0 {
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("host key: %w", err)
			}
			s, err := parseHostKey(b)
			if err != nil {
				return nil, fmt.Errorf("host key %s: %w", f, err)
			}
			keys = append(keys, hostKey{signer: s, source: f})
		}
		return keys, nil
	}
	if secrets == nil {
		return nil, errors.New("host keys: no host key files configured and no secret store")
	}
	for _, k := range hostKeyKinds {
		stored, err := storedKey(ctx, secrets, k.secret, k.gen)
		if err != nil {
			return nil, fmt.Errorf("host key %s: %w", k.secret, err)
		}
		s, err := parseHostKey(stored)
		if err != nil {
			return nil, fmt.Errorf("host key %s in the store: %w", k.secret, err)
		}
		keys = append(keys, hostKey{signer: s, source: "store:" + k.secret})
	}
	return keys, nil
}

// storedKey returns the key kept under name, generating and storing one
// if there is none.
func storedKey(ctx context.Context, secrets SecretStore, name string, gen func() (crypto.Signer, error)) ([]byte, error) {
	if g, ok := secrets.(secretGetter); ok {
		b, err := g.GetSecret(ctx, name)
		switch {
		case err == nil:
			return b, nil
		case !errors.Is(err, auth.ErrNotFound):
			return nil, err
		}
	}
	pemBytes, err := generatePEM(gen)
	if err != nil {
		return nil, fmt.Errorf("generating: %w", err)
	}
	stored, _, err := secrets.PutSecretIfAbsent(ctx, name, pemBytes)
	return stored, err
}

func generatePEM(gen func() (crypto.Signer, error)) ([]byte, error) {
	k, err := gen()
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(k, "wharf host key")
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(block), nil
}

// parseHostKey parses an unencrypted private key (OpenSSH or PEM format)
// and refuses key types and sizes wharf does not present. RSA keys sign
// with SHA-2 only.
func parseHostKey(b []byte) (ssh.Signer, error) {
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return nil, err
	}
	switch s.PublicKey().Type() {
	case ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521:
		return s, nil
	case ssh.KeyAlgoRSA:
		ck, ok := s.PublicKey().(ssh.CryptoPublicKey)
		if !ok {
			return nil, errors.New("unreadable RSA key")
		}
		if pk, ok := ck.CryptoPublicKey().(*rsa.PublicKey); !ok || pk.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA host keys need at least %d bits", minRSABits)
		}
		as, ok := s.(ssh.AlgorithmSigner)
		if !ok {
			return nil, errors.New("RSA key cannot choose its signature algorithm")
		}
		return ssh.NewSignerWithAlgorithms(as, []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256})
	}
	return nil, fmt.Errorf("host key type %s is not supported (use ed25519, ecdsa or rsa)", s.PublicKey().Type())
}

func describe(keys []hostKey) []HostKey {
	out := make([]HostKey, 0, len(keys))
	for _, k := range keys {
		pub := k.signer.PublicKey()
		ak := ssh.MarshalAuthorizedKey(pub)
		out = append(out, HostKey{
			Type:          pub.Type(),
			Fingerprint:   ssh.FingerprintSHA256(pub),
			AuthorizedKey: string(ak[:len(ak)-1]),
			Source:        k.source,
		})
	}
	return out
}

// HostKeyFingerprints returns the host keys a server configured with files
// (or, when files is empty, with the keys kept in secrets) presents,
// generating and storing missing keys exactly as the server does. It is
// what `wharf hostkeys` prints.
func HostKeyFingerprints(ctx context.Context, files []string, secrets SecretStore) ([]HostKey, error) {
	keys, err := loadHostKeys(ctx, files, secrets)
	if err != nil {
		return nil, err
	}
	return describe(keys), nil
}
