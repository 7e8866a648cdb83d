package testkit

import (
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// PebbleModule is the version of Let's Encrypt's ACME test server the tests run,
// built from the Go module proxy (never committed).
const PebbleModule = "github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3"

// PebbleBlockedDomain is a name Pebble refuses to issue for (rejectedIdentifier).
// Two labels: Pebble v2.10.3 panics (index out of range in
// MemoryStore.IsDomainBlocked) on any order for a name with fewer labels than
// a blocked one.
const PebbleBlockedDomain = "blocked.test"

// PebbleBinary returns the path of the pebble program: $PEBBLE_BIN, or the copy
// in the user's cache directory (keybridge/pebble-v2.10.3/pebble), built there
// with `go install` from the module proxy on first use. .ci/run builds it before
// the tests; a machine that can neither find nor build it fails the test, since
// skipping would hide that the ACME tests did not run.
func PebbleBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("PEBBLE_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("PEBBLE_BIN=%s: %v", p, err)
		}
		return p
	}
	dir, err := PebbleCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "pebble")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	// Build into a directory of our own, then rename: test binaries that build
	// at the same time never see a half-written program.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("go", "install", PebbleModule)
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building pebble (go install %s): %v\n%s\nset PEBBLE_BIN to a pebble binary, or run .ci/run, which builds it", PebbleModule, err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "pebble"), bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// PebbleCacheDir is where PebbleBinary keeps the built program.
func PebbleCacheDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for pebble: %w", err)
	}
	return filepath.Join(base, "keybridge", "pebble-v2.10.3"), nil
}

// Pebble is a running Pebble ACME server.
type Pebble struct {
	// Directory is the ACME directory URL (HTTPS on 127.0.0.1).
	Directory string
	// CABundle is a PEM file with the CA of Pebble's HTTPS certificate.
	CABundle string
	// Management is the base URL of Pebble's management interface (roots,
	// intermediates).
	Management string
	// Log is Pebble's output so far, for failure messages.
	Log func() string
	dir string
}

// PebbleConfig is what a test may choose of Pebble's configuration.
type PebbleConfig struct {
	// Validity of the certificates issued; default 90 days.
	Validity time.Duration
	// EAB, when set, makes external account binding required, with these
	// key IDs and their base64url HMAC keys.
	EAB map[string]string
}

// StartPebble starts Pebble on 127.0.0.1 ports it picks, validating DNS-01
// through dnsServer ("host:port"), with validation sleeps off, no bad-nonce
// injection and no authorization reuse. It stops when the test ends.
func StartPebble(t testing.TB, dnsServer string, pc PebbleConfig) *Pebble {
	t.Helper()
	bin := PebbleBinary(t)
	dir := t.TempDir()

	// Pebble's own HTTPS certificate, from a CA of the test's.
	caKey := ECKey(t, elliptic.P256())
	ca := SignCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "pebble test HTTPS CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}, nil, caKey, caKey)
	key := ECKey(t, elliptic.P256())
	cert := SignCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}, ca, key, caKey)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	certFile := write("cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
	keyFile := write("key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	bundle := write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}))

	if pc.Validity == 0 {
		pc.Validity = 90 * 24 * time.Hour
	}
	listen, mgmt := FreePort(t), FreePort(t)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":           listen,
		"managementListenAddress": mgmt,
		"certificate":             certFile,
		"privateKey":              keyFile,
		"httpPort":                5002,
		"tlsPort":                 5001,
		"ocspResponderURL":        "",
		"domainBlocklist":         []string{PebbleBlockedDomain},
		"retryAfter":              map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm":            "ecdsa",
		"profiles": map[string]any{
			"default": map[string]any{"description": "test profile", "validityPeriod": int(pc.Validity.Seconds())},
		},
		"externalAccountBindingRequired": len(pc.EAB) > 0,
		"externalAccountMACKeys":         pc.EAB,
	}}
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := write("pebble-config.json", data)

	out := &Buffer{}
	cmd := exec.Command(bin, "-config", cfgFile, "-dnsserver", dnsServer)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting pebble: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	p := &Pebble{Directory: "https://" + listen + "/dir", CABundle: bundle, Management: "https://" + mgmt, Log: out.String, dir: dir}

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(p.Directory)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-done:
			t.Fatalf("pebble exited at start:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not answer at %s within 20s (last error %v):\n%s", p.Directory, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// FreePort returns a "127.0.0.1:PORT" address that was free a moment ago.
func FreePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// PebbleRoot fetches the PEM root certificate Pebble issues under, from its
// management interface.
func (p *Pebble) PebbleRoot(t testing.TB) string {
	t.Helper()
	data, err := os.ReadFile(p.CABundle)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(data)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(p.Management + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || !strings.Contains(string(body), "BEGIN CERTIFICATE") {
		t.Fatalf("pebble root: %v %q", err, body)
	}
	return string(body)
}
