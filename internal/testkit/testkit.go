// Package testkit is what the tests of every keybridge package share: the fixtures in
// testdata/ with the values the keytool+openssl pipeline computed for them, the real
// WSO2 keystores beside the repository, and building a program once for end-to-end
// tests.
package testkit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/keybridge/keybridge/keystore"
)

// Fixture is one row of testdata/expected.json (see testdata/README.md).
type Fixture struct {
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
	Issuer        string   `json:"issuer"`
	Entries       int      `json:"entries"`
	Aliases       []string `json:"aliases"`
	ExpectError   string   `json:"expect_error"`
}

// Root returns the repository root: the nearest directory above the working directory
// (go test runs in the package's) that holds go.mod.
func Root() string {
	dir, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			panic("testkit: no go.mod above " + dir)
		}
	}
}

// Testdata returns the path of a file in testdata/.
func Testdata(name string) string { return filepath.Join(Root(), "testdata", name) }

// Fixtures returns every row of testdata/expected.json.
func Fixtures(t testing.TB) []Fixture {
	t.Helper()
	data, err := os.ReadFile(Testdata("expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx []Fixture
	if err := json.Unmarshal(data, &fx); err != nil {
		t.Fatal(err)
	}
	if len(fx) < 20 {
		t.Fatalf("expected.json has %d fixtures, want the full set", len(fx))
	}
	return fx
}

// FixtureFor returns the first row for file.
func FixtureFor(t testing.TB, file string) Fixture {
	t.Helper()
	for _, f := range Fixtures(t) {
		if f.File == file {
			return f
		}
	}
	t.Fatalf("%s is not in testdata/expected.json", file)
	return Fixture{}
}

// Password reads a fixture's password file as the programs do: the first line.
func Password(t testing.TB, name string) []byte {
	t.Helper()
	if name == "" {
		return nil
	}
	p, err := keystore.ReadPasswordFile(Testdata(name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// SharedWSO2 returns the directory of the real WSO2 keystores (../shared/wso2 beside
// the repository), or skips the test, saying so, when it is absent.
func SharedWSO2(t testing.TB) string {
	dir := filepath.Join(filepath.Dir(Root()), "shared", "wso2")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("skipping: the real WSO2 keystores are not at %s (../shared/wso2 beside the repository)", dir)
	}
	return dir
}

// BuildMain is a TestMain for end-to-end tests: it builds the main package in the
// working directory once, into a temporary directory, sets *bin to its path, runs the
// tests and exits with their code.
func BuildMain(m *testing.M, name string, bin *string) {
	dir, err := os.MkdirTemp("", name+"-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin = filepath.Join(dir, name)
	if err := build(*bin, ""); err != nil {
		fmt.Fprintf(os.Stderr, "building %s: %v\n", name, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// ECKey generates an ECDSA key on curve, failing the test on error.
func ECKey(t testing.TB, curve elliptic.Curve) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// RSAKey generates an RSA key of bits, failing the test on error.
func RSAKey(t testing.TB, bits int) crypto.Signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var serial atomic.Int64

// SignCert creates the certificate tmpl describes, with its own key's public half,
// signed by parentKey as parent (tmpl itself when parent is nil: self-signed). A
// template without a serial number gets the next one of this test binary.
func SignCert(t testing.TB, tmpl, parent *x509.Certificate, key, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = big.NewInt(100 + serial.Add(1))
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ServeTLS listens on 127.0.0.1 with cfg, completes the handshake of every connection
// and closes it, until the test ends; it returns the address. It stands in for a load
// balancer whose served certificate a probe checks.
func ServeTLS(t testing.TB, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	ServeConns(t, ln, func(c net.Conn) {
		_ = c.(*tls.Conn).Handshake()
	})
	return ln.Addr().String()
}

// ServeConns accepts connections on ln until the test ends, each handled by handle
// on its own goroutine and closed after it.
func ServeConns(t testing.TB, ln net.Listener, handle func(net.Conn)) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
}
