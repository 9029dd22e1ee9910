package ftp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// SecretStore keeps secrets shared by every node of a cluster (the
// auth.Store does). PutSecretIfAbsent stores value under name unless the
// name exists and returns what is stored after the call; of several nodes
// racing, all get the same value back.
type SecretStore interface {
	PutSecretIfAbsent(ctx context.Context, name string, value []byte) ([]byte, bool, error)
}

// SelfSignedSecret is the name of the shared secret that holds the
// self-signed certificate and key (PEM) used when no certificate file is
// configured.
const SelfSignedSecret = "ftp-tls-self-signed"

// selfSignedValidity is how long a generated certificate is valid.
const selfSignedValidity = 10 * 365 * 24 * time.Hour

// loadTLS returns the TLS configuration of the FTPS listeners: the
// certificate and key files when configured, otherwise the cluster's
// self-signed certificate, generated once and kept in secrets. It returns
// nil when neither is available. Only TLS 1.2 and later are offered.
func (s *Server) loadTLS(ctx context.Context) (*tls.Config, error) {
	var cert tls.Certificate
	switch {
	case s.cfg.CertFile != "" || s.cfg.KeyFile != "":
		if s.cfg.CertFile == "" || s.cfg.KeyFile == "" {
			return nil, errors.New("ftp: cert_file and key_file go together")
		}
		c, err := tls.LoadX509KeyPair(s.cfg.CertFile, s.cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("ftp: loading the TLS certificate: %w", err)
		}
		cert = c
	case s.deps.Secrets != nil:
		fresh, err := newSelfSigned(time.Now())
		if err != nil {
			return nil, err
		}
		stored, created, err := s.deps.Secrets.PutSecretIfAbsent(ctx, SelfSignedSecret, fresh)
		if err != nil {
			return nil, fmt.Errorf("ftp: storing the self-signed certificate: %w", err)
		}
		c, err := parsePEMPair(stored)
		if err != nil {
			return nil, fmt.Errorf("ftp: the stored self-signed certificate (secret %q): %w", SelfSignedSecret, err)
		}
		cert = c
		s.log.Warn("FTPS uses a self-signed certificate shared by every node: clients will warn about it; configure cert_file and key_file",
			"generated", created, "fingerprint", fingerprint(c))
	default:
		return nil, nil
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}, nil
}

// newSelfSigned returns a fresh ECDSA P-256 certificate and key as PEM.
func newSelfSigned(now time.Time) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "wharf", Organization: []string{"wharf (self-signed)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"wharf"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})...), nil
}

// parsePEMPair reads a certificate and its key from one PEM blob.
func parsePEMPair(data []byte) (tls.Certificate, error) {
	var certPEM, keyPEM []byte
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			certPEM = append(certPEM, pem.EncodeToMemory(b)...)
		case "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY":
			keyPEM = pem.EncodeToMemory(b)
		}
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

// fingerprint returns the SHA-256 fingerprint of the leaf certificate, for
// the log line operators compare with what clients show.
func fingerprint(c tls.Certificate) string {
	if len(c.Certificate) == 0 {
		return ""
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%X", sha256.Sum256(leaf.Raw))
}
