package controlplane

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// certValidity is how long the generated certificates are valid. A
// devcluster may run for days; a year is plenty and still obviously a test CA.
const certValidity = 365 * 24 * time.Hour

// Names of the files that hold the control plane's PKI, under dir/pki.
const (
	caCertFile      = "ca.crt"
	servingCertFile = "apiserver.crt"
	servingKeyFile  = "apiserver.key"
	adminCertFile   = "admin.crt"
	adminKeyFile    = "admin.key"
	saKeyFile       = "service-account.key"
	saPubFile       = "service-account.pub"
)

// adminUser is the common name of the admin client certificate. Its group,
// system:masters, is what makes it an administrator under RBAC.
const adminUser = "trellis-admin"

// pki is the set of files and PEM data the apiserver and its clients need.
type pki struct {
	dir       string
	caPEM     []byte
	adminCert []byte
	adminKey  []byte
}

func (p *pki) path(name string) string { return filepath.Join(p.dir, name) }

// keyPair is a certificate and its private key.
type keyPair struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// newPKI generates a CA, a serving certificate for the loopback apiserver, an
// admin client certificate and a service-account signing key, and writes them
// under dir.
func newPKI(dir string) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	ca, err := newCertificate(nil, &x509.Certificate{
		Subject:               pkix.Name{CommonName: "trellis-test-ca"},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	})
	if err != nil {
		return nil, fmt.Errorf("generate CA: %w", err)
	}
	serving, err := newCertificate(&ca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, net.IPv4(10, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, fmt.Errorf("generate serving certificate: %w", err)
	}
	admin, err := newCertificate(&ca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: adminUser, Organization: []string{"system:masters"}},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, fmt.Errorf("generate admin certificate: %w", err)
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate service-account key: %w", err)
	}
	p := &pki{dir: dir, caPEM: certPEM(ca.cert), adminCert: certPEM(admin.cert)}
	if p.adminKey, err = keyPEM(admin.key); err != nil {
		return nil, err
	}
	return p, p.write(serving, saKey)
}

// write stores the PKI files the apiserver reads.
func (p *pki) write(serving keyPair, saKey crypto.Signer) error {
	servingKey, err := keyPEM(serving.key)
	if err != nil {
		return err
	}
	saPEM, err := keyPEM(saKey)
	if err != nil {
		return err
	}
	saPubDER, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return fmt.Errorf("encode service-account public key: %w", err)
	}
	files := map[string][]byte{
		caCertFile:      p.caPEM,
		servingCertFile: certPEM(serving.cert),
		servingKeyFile:  servingKey,
		adminCertFile:   p.adminCert,
		adminKeyFile:    p.adminKey,
		saKeyFile:       saPEM,
		saPubFile:       pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPubDER}),
	}
	for name, data := range files {
		if err := os.WriteFile(p.path(name), data, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", p.path(name), err)
		}
	}
	return nil
}

// newCertificate creates a key and a certificate from template, signed by
// parent, or self-signed when parent is nil.
func newCertificate(parent *keyPair, template *x509.Certificate) (keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return keyPair{}, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return keyPair{}, fmt.Errorf("generate serial number: %w", err)
	}
	now := time.Now()
	template.SerialNumber = serial
	template.NotBefore = now.Add(-time.Hour) // tolerate clock skew
	template.NotAfter = now.Add(certValidity)
	signerCert, signerKey := template, crypto.Signer(key)
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, signerCert, key.Public(), signerKey)
	if err != nil {
		return keyPair{}, fmt.Errorf("sign certificate %q: %w", template.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return keyPair{}, fmt.Errorf("parse certificate %q: %w", template.Subject.CommonName, err)
	}
	return keyPair{cert: cert, key: key}, nil
}

func certPEM(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

func keyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
