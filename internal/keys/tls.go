package keys

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// LoadOrCreateTLS returns the TLS certificate in dir (tls.crt and tls.key,
// the key 0600), creating a self-signed ECDSA P-256 certificate for
// localhost at first start, and its pin: "sha256:" and the hex SHA-256 of
// the certificate's DER bytes. Clients trust the pin, not a chain: the
// node and the providers' agents serve this way.
func LoadOrCreateTLS(dir, name string) (tls.Certificate, string, error) {
	certPath, keyPath := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if _, err := os.Stat(certPath); errors.Is(err, fs.ErrNotExist) {
		if err := createTLS(certPath, keyPath, name); err != nil {
			return tls.Certificate{}, "", err
		}
	}
	if err := CheckSecretMode(keyPath); err != nil {
		return tls.Certificate{}, "", err
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("tls: %w", err)
	}
	return cert, Pin(cert.Certificate[0]), nil
}

// Pin returns the pin of a DER certificate.
func Pin(der []byte) string {
	h := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(h[:])
}

func createTLS(certPath, keyPath, name string) error {
	certPEM, keyPEM, err := newTLS(name)
	if err != nil {
		return err
	}
	if err := WriteSecret(keyPath, keyPEM); err != nil {
		return err
	}
	return os.WriteFile(certPath, certPEM, 0o644)
}

// LoadOrCreateTLSIn is LoadOrCreateTLS for the files tls.crt and tls.key
// of root.
func LoadOrCreateTLSIn(root *os.Root, name string) (tls.Certificate, string, error) {
	if _, err := root.Stat("tls.crt"); errors.Is(err, fs.ErrNotExist) {
		certPEM, keyPEM, err := newTLS(name)
		if err != nil {
			return tls.Certificate{}, "", err
		}
		if err := WriteSecretIn(root, "tls.key", keyPEM); err != nil {
			return tls.Certificate{}, "", err
		}
		if err := root.WriteFile("tls.crt", certPEM, 0o644); err != nil {
			return tls.Certificate{}, "", err
		}
	}
	if err := CheckSecretModeIn(root, "tls.key"); err != nil {
		return tls.Certificate{}, "", err
	}
	certPEM, err := root.ReadFile("tls.crt")
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("tls: %w", err)
	}
	keyPEM, err := root.ReadFile("tls.key")
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("tls: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, "", errors.New("tls: tls.crt and tls.key do not make a key pair")
	}
	return cert, Pin(cert.Certificate[0]), nil
}

// newTLS returns a new self-signed certificate and its key, PEM-encoded.
func newTLS(name string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), nil
}
