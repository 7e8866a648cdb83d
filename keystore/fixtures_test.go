package keystore_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixture is one row of testdata/expected.json, whose values were computed by the
// keytool+openssl pipeline in testdata/gen.sh.
type fixture struct {
	File          string   `json:"file"`
	Format        string   `json:"format"`
	Alias         string   `json:"alias"`
	StorepassFile string   `json:"storepass_file"`
	KeypassFile   string   `json:"keypass_file"`
	PrivateKey    bool     `json:"private_key"`
	KeyType       string   `json:"key_type"`
	KeyBits       int      `json:"key_bits"`
	LeafSHA256    string   `json:"leaf_sha256"`
	PubkeySHA256  string   `json:"pubkey_sha256"`
	ChainSHA256   []string `json:"chain_sha256"`
	Subject       string   `json:"subject"`
	Entries       int      `json:"entries"`
	Aliases       []string `json:"aliases"`
	ExpectError   string   `json:"expect_error"`
}

// repoRoot is the repository root: go test runs in the package directory.
func repoRoot(t testing.TB) string { return ".." }

func testdata(t testing.TB, name string) string { return filepath.Join(repoRoot(t), "testdata", name) }

func loadFixtures(t testing.TB) []fixture {
	data, err := os.ReadFile(testdata(t, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx []fixture
	if err := json.Unmarshal(data, &fx); err != nil {
		t.Fatal(err)
	}
	if len(fx) < 20 {
		t.Fatalf("expected.json has %d fixtures, want the full set", len(fx))
	}
	return fx
}

// password reads a fixture password file as the programs do: first line only.
func password(t testing.TB, name string) []byte {
	if name == "" {
		return nil
	}
	data, err := os.ReadFile(testdata(t, name))
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r"))
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func chainHashes(certs []*x509.Certificate) []string {
	out := []string{}
	for _, c := range certs {
		out = append(out, hexSHA256(c.Raw))
	}
	return out
}

// sharedWSO2 returns ../shared/wso2 beside the repository, or skips when it is absent.
func sharedWSO2(t testing.TB) string {
	dir := filepath.Join(repoRoot(t), "..", "shared", "wso2")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("skipping: the real WSO2 keystores are not at %s (../shared/wso2 beside the repository)", dir)
	}
	return dir
}

func norm(s string) string { return strings.ToLower(strings.ReplaceAll(s, ":", "")) }
