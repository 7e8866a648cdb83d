package keystore_test

import (
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keybridge/keybridge/internal/testkit"
	"github.com/keybridge/keybridge/keystore"
)

func TestAddTrustedToWSO2Truststore(t *testing.T) {
	src := filepath.Join(testkit.SharedWSO2(t), "client-truststore-4.4.jks")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	pass := []byte("wso2carbon")
	before, err := keystore.Parse(data, pass)
	if err != nil {
		t.Fatal(err)
	}
	leaf, ca := renewedPair(t)

	out, added, err := keystore.AddTrustedData(data, pass, []*x509.Certificate{leaf, ca}, "wso2carbon", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// WSO2's truststore has a "wso2carbon" entry already: the new ones are numbered.
	if strings.Join(added, ",") != "wso2carbon-2,wso2carbon-3" {
		t.Fatalf("added %v", added)
	}
	after, err := keystore.Parse(out, pass)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Entries) != len(before.Entries)+2 {
		t.Fatalf("entries %d -> %d", len(before.Entries), len(after.Entries))
	}
	for i, e := range before.Entries {
		if after.Entries[i].Alias != e.Alias || !after.Entries[i].Leaf().Equal(e.Leaf()) {
			t.Fatalf("entry %d (%s) changed", i, e.Alias)
		}
	}
	if !after.Entries[len(after.Entries)-1].Leaf().Equal(ca) || after.Entries[len(after.Entries)-1].Kind != keystore.TrustedCertEntry {
		t.Fatal("the CA is not the last, trusted entry")
	}
	// Again: both present, nothing to write.
	if again, added, err := keystore.AddTrustedData(out, pass, []*x509.Certificate{leaf, ca}, "wso2carbon", time.Now()); err != nil || again != nil || added != nil {
		t.Fatalf("second add: %v %v %v", again != nil, added, err)
	}
	if _, _, err := keystore.AddTrustedData(data, []byte("wrong"), []*x509.Certificate{ca}, "x", time.Now()); !errors.Is(err, keystore.ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	if keytool, err := exec.LookPath("keytool"); err == nil {
		path := filepath.Join(t.TempDir(), "truststore.jks")
		if err := os.WriteFile(path, out, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(keytool, "-list", "-keystore", path, "-storepass:env", "PW", "-alias", "wso2carbon-3")
		cmd.Env = append(os.Environ(), "PW=wso2carbon")
		if o, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(o), "trustedCertEntry") {
			t.Fatalf("keytool -list: %v\n%s", err, o)
		}
	}
}

func TestAddTrustedToWSO2PKCS12Truststore(t *testing.T) {
	p12, err := os.ReadFile(filepath.Join(testkit.SharedWSO2(t), "client-truststore-4.10.p12"))
	if err != nil {
		t.Fatal(err)
	}
	pass := []byte("wso2carbon")
	before, err := keystore.Parse(p12, pass)
	if err != nil {
		t.Fatal(err)
	}
	leaf, ca := renewedPair(t)
	out, added, err := keystore.AddTrustedData(p12, pass, []*x509.Certificate{leaf, ca}, "renewed", time.Now())
	if err != nil || strings.Join(added, ",") != "renewed,renewed-2" {
		t.Fatalf("added %v, %v", added, err)
	}
	after, err := keystore.Parse(out, pass)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Entries) != len(before.Entries)+2 {
		t.Fatalf("entries %d -> %d", len(before.Entries), len(after.Entries))
	}
	byAlias := map[string]*keystore.Entry{}
	for _, e := range after.Entries {
		byAlias[e.Alias] = e
	}
	for _, e := range before.Entries {
		if a := byAlias[e.Alias]; a == nil || !a.Leaf().Equal(e.Leaf()) {
			t.Fatalf("entry %q lost or changed", e.Alias)
		}
	}
	if e := byAlias["renewed-2"]; e == nil || e.Kind != keystore.TrustedCertEntry || !e.Leaf().Equal(ca) {
		t.Fatalf("renewed-2: %+v", e)
	}
	if again, added, err := keystore.AddTrustedData(out, pass, []*x509.Certificate{leaf, ca}, "renewed", time.Now()); err != nil || again != nil || added != nil {
		t.Fatalf("second add: %v %v %v", again != nil, added, err)
	}
	if keytool, err := exec.LookPath("keytool"); err == nil {
		path := filepath.Join(t.TempDir(), "truststore.p12")
		if err := os.WriteFile(path, out, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(keytool, "-list", "-keystore", path, "-storetype", "PKCS12", "-storepass:env", "PW", "-alias", "renewed-2")
		cmd.Env = append(os.Environ(), "PW=wso2carbon")
		if o, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(o), "trustedCertEntry") {
			t.Fatalf("keytool -list: %v\n%s", err, o)
		}
	}
}

// renewedPair is a renewed server certificate and the CA that issued it.
func renewedPair(t *testing.T) (leaf, ca *x509.Certificate) {
	key := testkit.ECKey(t, elliptic.P256())
	ca = testkit.SignCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Renewal Test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}, nil, key, key)
	leaf = testkit.SignCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "wso2.example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}, ca, key, key)
	return leaf, ca
}
