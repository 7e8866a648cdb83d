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
	before := parseWSO2(t, data)
	leaf, ca := renewedPair(t)

	out, added, err := keystore.AddTrustedData(data, pass, []*x509.Certificate{leaf, ca}, "wso2carbon", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// WSO2's truststore has a "wso2carbon" entry already: the new ones are numbered.
	if strings.Join(added, ",") != "wso2carbon-2,wso2carbon-3" {
		t.Fatalf("added %v", added)
	}
	after := parseWSO2(t, out)
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
	keytoolListsTrusted(t, out, "truststore.jks", "wso2carbon-3")
}

func TestAddTrustedToWSO2PKCS12Truststore(t *testing.T) {
	p12, err := os.ReadFile(filepath.Join(testkit.SharedWSO2(t), "client-truststore-4.10.p12"))
	if err != nil {
		t.Fatal(err)
	}
	pass := []byte("wso2carbon")
	before := parseWSO2(t, p12)
	leaf, ca := renewedPair(t)
	out, added, err := keystore.AddTrustedData(p12, pass, []*x509.Certificate{leaf, ca}, "renewed", time.Now())
	if err != nil || strings.Join(added, ",") != "renewed,renewed-2" {
		t.Fatalf("added %v, %v", added, err)
	}
	after := parseWSO2(t, out)
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
	keytoolListsTrusted(t, out, "truststore.p12", "renewed-2", "-storetype", "PKCS12")
}

// parseWSO2 parses a keystore with the WSO2 password.
func parseWSO2(t *testing.T, data []byte) *keystore.Keystore {
	t.Helper()
	ks, err := keystore.Parse(data, []byte("wso2carbon"))
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// keytoolListsTrusted checks, where keytool is installed, that it lists alias
// of the keystore data (WSO2 password; written to a file named name) as a
// trustedCertEntry; storeArgs go before the password, e.g. -storetype PKCS12.
func keytoolListsTrusted(t *testing.T, data []byte, name, alias string, storeArgs ...string) {
	t.Helper()
	keytool, err := exec.LookPath("keytool")
	if err != nil {
		return
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	argv := append(append([]string{"-list", "-keystore", path}, storeArgs...), "-storepass:env", "PW", "-alias", alias)
	cmd := exec.Command(keytool, argv...)
	cmd.Env = append(os.Environ(), "PW=wso2carbon")
	if o, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(o), "trustedCertEntry") {
		t.Fatalf("keytool -list: %v\n%s", err, o)
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
