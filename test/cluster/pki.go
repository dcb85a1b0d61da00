package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// adminUser is the single static-token identity; its group bypasses authorization.
const (
	adminUser  = "portico-admin"
	adminGroup = "system:masters"
)

// pkiFiles names every credential the harness keeps in the data dir. All of them are
// created once and reused on restart, so a kubeconfig and tokens stay valid across
// stop/start of the same data dir.
type pkiFiles struct {
	caCert      string // PEM CA that signed the serving cert; goes into the kubeconfig
	servingCert string
	servingKey  string
	saKey       string // RSA private key: signs service-account tokens
	saPub       string // matching public key: verifies them
	tokenCSV    string // --token-auth-file
	token       string // bare admin token, for scripts
	tokenValue  string
}

// ensurePKI returns the credential files under dir/pki, creating the missing ones.
func ensurePKI(dir string) (pkiFiles, error) {
	pkiDir := filepath.Join(dir, "pki")
	if err := os.MkdirAll(pkiDir, 0o700); err != nil {
		return pkiFiles{}, err
	}
	f := pkiFiles{
		caCert:      filepath.Join(pkiDir, "ca.crt"),
		servingCert: filepath.Join(pkiDir, "apiserver.crt"),
		servingKey:  filepath.Join(pkiDir, "apiserver.key"),
		saKey:       filepath.Join(pkiDir, "sa.key"),
		saPub:       filepath.Join(pkiDir, "sa.pub"),
		tokenCSV:    filepath.Join(pkiDir, "tokens.csv"),
		token:       filepath.Join(dir, "token"),
	}
	if !exists(f.caCert) || !exists(f.servingCert) || !exists(f.servingKey) {
		if err := writeServingPKI(f); err != nil {
			return f, fmt.Errorf("serving certificates: %w", err)
		}
	}
	if !exists(f.saKey) || !exists(f.saPub) {
		if err := writeServiceAccountKey(f); err != nil {
			return f, fmt.Errorf("service-account key: %w", err)
		}
	}
	tok, err := ensureToken(f)
	if err != nil {
		return f, fmt.Errorf("token: %w", err)
	}
	f.tokenValue = tok
	return f, nil
}

// writeServingPKI creates a throwaway CA and a serving certificate for the loopback
// address plus the in-cluster names of the kubernetes Service.
func writeServingPKI(f pkiFiles) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "portico-testcluster-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{
			"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local",
		},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP(firstServiceIP)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := writePEM(f.caCert, "CERTIFICATE", caDER, 0o644); err != nil {
		return err
	}
	if err := writePEM(f.servingKey, "EC PRIVATE KEY", keyDER, 0o600); err != nil {
		return err
	}
	return writePEM(f.servingCert, "CERTIFICATE", der, 0o644)
}

func writeServiceAccountKey(f pkiFiles) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := writePEM(f.saKey, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key), 0o600); err != nil {
		return err
	}
	return writePEM(f.saPub, "PUBLIC KEY", pub, 0o644)
}

// ensureToken returns the admin bearer token, reusing the one in tokens.csv if present.
func ensureToken(f pkiFiles) (string, error) {
	if b, err := os.ReadFile(f.tokenCSV); err == nil {
		tok, _, _ := strings.Cut(strings.TrimSpace(string(b)), ",")
		if tok != "" {
			return tok, os.WriteFile(f.token, []byte(tok+"\n"), 0o600)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(raw)
	// token,user,uid,"group1,group2"
	line := fmt.Sprintf("%s,%s,%s,\"%s\"\n", tok, adminUser, adminUser, adminGroup)
	if err := os.WriteFile(f.tokenCSV, []byte(line), 0o600); err != nil {
		return "", err
	}
	return tok, os.WriteFile(f.token, []byte(tok+"\n"), 0o600)
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}

// writeFileAtomic writes via a temp file and rename so a reader never sees half a file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err)
	}
	return n.Add(n, big.NewInt(1))
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
