package main

import (
	"crypto/elliptic"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keybridge/keybridge/internal/testkit"
	"github.com/keybridge/keybridge/keystore"
)

// TestListSubjectlessCertificate: ACME CAs issue certificates with an empty
// subject that name only DNS names (certup renew puts them into keystores);
// the listing still shows their key, validity and names.
func TestListSubjectlessCertificate(t *testing.T) {
	key := testkit.ECKey(t, elliptic.P256())
	cert := testkit.SignCert(t, &x509.Certificate{DNSNames: []string{"www.example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)}, nil, key, key)
	kp, err := keystore.NewKeyPair("server", key, cert, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := keystore.EncodeJKS(kp, []byte("changeit"), []byte("changeit"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "acme.jks")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"KEYSTORE_PASSWORD=changeit"}
	r := run(t, env, "list", path)
	if r.code != 0 || !strings.Contains(r.stdout, "EC 256") || !strings.Contains(r.stdout, "www.example.test") || !strings.Contains(r.stdout, "until ") {
		t.Fatalf("compact listing of a certificate without subject:\n%s%s", r.stdout, r.stderr)
	}
	v := run(t, env, "list", "--verbose", path)
	if v.code != 0 || !strings.Contains(v.stdout, "sha256") || !strings.Contains(v.stdout, "dns      www.example.test") {
		t.Fatalf("verbose listing of a certificate without subject:\n%s%s", v.stdout, v.stderr)
	}
}
