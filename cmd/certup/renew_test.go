package main_test

import (
	"bufio"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keybridge/keybridge/awsiam/awstest"
	"github.com/keybridge/keybridge/internal/testkit"
	"github.com/keybridge/keybridge/keystore"
)

// acmeEnv is awstest (Route 53 with its DNS server, ACM) and Pebble
// validating DNS-01 through awstest's DNS.
type acmeEnv struct {
	srv    *awstest.Server
	zoneID string
	pebble *testkit.Pebble
	dir    string
}

func newACMEEnv(t *testing.T) *acmeEnv { return newACMEEnvWith(t, testkit.PebbleConfig{}) }

func newACMEEnvWith(t *testing.T, pc testkit.PebbleConfig) *acmeEnv {
	t.Helper()
	srv := newServer(t, awstest.Options{})
	zone, err := srv.AddHostedZone("example.test")
	if err != nil {
		t.Fatal(err)
	}
	return &acmeEnv{srv: srv, zoneID: zone, pebble: testkit.StartPebble(t, srv.DNSAddr(), pc), dir: t.TempDir()}
}

// acmeArgs are the flags of a renewal from the test's Pebble, with
// --detailed-exitcode: exit 10 when renewed, 0 when there was nothing to do.
func (e *acmeEnv) acmeArgs() []string {
	return []string{"--acme-directory", e.pebble.Directory, "--acme-ca-bundle", e.pebble.CABundle,
		"--acme-account-key", filepath.Join(e.dir, "account.key"), "--dns-resolver", e.srv.DNSAddr(), "--dns-timeout", "5s",
		"--detailed-exitcode"}
}

// noChallengeRecords fails when a TXT record is left in the zone.
func (e *acmeEnv) noChallengeRecords(t *testing.T) {
	t.Helper()
	sets, _ := e.srv.RecordSets(e.zoneID)
	for _, s := range sets {
		if s.Type == "TXT" {
			t.Fatalf("challenge record left behind: %+v", s)
		}
	}
}

// writeJKS writes a JKS (store and key password "changeit") whose alias
// "server" holds a self-signed EC certificate for names, valid for 120 days of
// which 100 have passed (so it is due), and returns its path and password file.
func writeJKS(t *testing.T, names ...string) (path, passFile string) {
	t.Helper()
	key := testkit.ECKey(t, elliptic.P256())
	cert := testkit.SignCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-100 * 24 * time.Hour), NotAfter: time.Now().Add(20 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, nil, key, key)
	kp, err := keystore.NewKeyPair("server", key, cert, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := keystore.EncodeJKS(kp, []byte("changeit"), []byte("changeit"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path, passFile = filepath.Join(dir, "server.jks"), filepath.Join(dir, "storepass")
	if err := os.WriteFile(path, data, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(passFile, []byte("changeit\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, passFile
}

func readAlias(t *testing.T, path, alias string, pass []byte) (*keystore.Keystore, *keystore.Entry) {
	t.Helper()
	ks, err := keystore.ReadFile(path, pass)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ks.Entries {
		if strings.EqualFold(e.Alias, alias) {
			return ks, e
		}
	}
	t.Fatalf("no alias %q in %s", alias, path)
	return nil, nil
}

func fileBytes(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRenewACMEIntoJKS(t *testing.T) {
	e := newACMEEnv(t)
	ks, pass := writeJKS(t, "www.example.test")
	marker := filepath.Join(e.dir, "then-ran")

	r := certup(t, e.srv, "renew", ks, "--alias", "server", "--storepass-file", pass, e.acmeArgs(),
		"--then", "echo \"$CERTUP_ALIAS\" > "+marker)
	if r.code != 10 || !strings.HasPrefix(r.stdout, "renewed "+ks+" alias server from acme") {
		t.Fatalf("first run: %s\npebble:\n%s", r, e.pebble.Log())
	}
	_, entry := readAlias(t, ks, "server", []byte("changeit"))
	if !strings.Contains(entry.Leaf().Issuer.CommonName, "Pebble") || entry.Leaf().DNSNames[0] != "www.example.test" || len(entry.Chain) < 2 {
		t.Fatalf("alias holds %s from %s (chain %d)", entry.Leaf().Subject, entry.Leaf().Issuer, len(entry.Chain))
	}
	if got := fileBytes(t, marker); got != "server\n" {
		t.Fatalf("--then wrote %q", got)
	}
	if fi, _ := os.Stat(ks); fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v after renewal, want 0640 kept", fi.Mode().Perm())
	}
	e.noChallengeRecords(t)

	// Re-run: the CA's renewal window lies ahead; nothing written, --then not run.
	os.Remove(marker)
	before := fileBytes(t, ks)
	r = certup(t, e.srv, "renew", ks, "--alias", "server", "--storepass-file", pass, e.acmeArgs(), "--then", "touch "+marker, "--json")
	var res struct{ Action, Reason string }
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &res) != nil || res.Action != "not-due" || !strings.Contains(res.Reason, "renewal window") {
		t.Fatalf("re-run: %s", r)
	}
	if fileBytes(t, ks) != before {
		t.Fatal("a re-run that was not due changed the keystore")
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("--then ran although nothing changed")
	}
}

// TestRenewACMEWithEAB: a CA that requires external account binding refuses
// an account without it and takes one with it; a dry run decides, places no
// order and writes nothing.
func TestRenewACMEWithEAB(t *testing.T) {
	// Pebble's example key ID and base64url HMAC key.
	e := newACMEEnvWith(t, testkit.PebbleConfig{EAB: map[string]string{"kid-1": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"}})
	ks, pass := writeJKS(t, "eab.example.test")
	hmac := filepath.Join(e.dir, "eab-hmac")
	if err := os.WriteFile(hmac, []byte("zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := fileBytes(t, ks)
	r := certup(t, e.srv, "renew", ks, "--alias", "server", "--storepass-file", pass, e.acmeArgs())
	if r.code != 1 || !strings.Contains(r.stderr, "externalAccountRequired") || !strings.Contains(r.stderr, "--acme-eab-kid") {
		t.Fatalf("without EAB: %s", r)
	}
	eab := []string{"--acme-eab-kid", "kid-1", "--acme-eab-hmac-file", hmac}
	// No AWS_REGION: ACME needs only Route 53, which is global.
	var noRegion []string
	for _, kv := range testEnv(t) {
		if !strings.HasPrefix(kv, "AWS_REGION=") {
			noRegion = append(noRegion, kv)
		}
	}
	r = certupWithEnv(t, noRegion, e.srv, "renew", ks, "--alias", "server", "--storepass-file", pass, e.acmeArgs(), eab, "--dry-run", "--detailed-exitcode")
	if r.code != 10 || !strings.HasPrefix(r.stdout, "dry run: would renew") || fileBytes(t, ks) != before || e.srv.Calls("route53:ChangeResourceRecordSets") != 0 {
		t.Fatalf("dry run: %s (%d Route 53 changes)", r, e.srv.Calls("route53:ChangeResourceRecordSets"))
	}
	// With EAB, an RSA key asked for (the current one is EC), and a --then that fails:
	// the keystore is renewed all the same, and the failure is reported.
	r = certup(t, e.srv, "renew", ks, "--alias", "server", "--storepass-file", pass, e.acmeArgs(), eab, "--key-type", "rsa2048", "--then", "exit 3")
	if r.code != 1 || !strings.Contains(r.stderr, "the keystore was renewed, but the --then command failed: exit status 3") || fileBytes(t, ks) == before {
		t.Fatalf("with EAB: %s\npebble:\n%s", r, e.pebble.Log())
	}
	_, entry := readAlias(t, ks, "server", []byte("changeit"))
	key, err := entry.PrivateKey([]byte("changeit"))
	if err != nil {
		t.Fatal(err)
	}
	if alg, bits := keystore.KeyDescription(key.Public()); alg != "RSA" || bits != 2048 {
		t.Fatalf("--key-type rsa2048 gave %s %d", alg, bits)
	}
	// --reuse-key: the same key in the next certificate.
	r = certup(t, e.srv, "renew", ks, "--alias", "server", "--storepass-file", pass, e.acmeArgs(), eab, "--reuse-key", "--force", "--detailed-exitcode")
	_, again := readAlias(t, ks, "server", []byte("changeit"))
	if r.code != 10 || again.Leaf().Equal(entry.Leaf()) || !keystore.KeyMatchesCert(key, again.Leaf()) {
		t.Fatalf("--reuse-key: %s", r)
	}
	e.noChallengeRecords(t)
}

// TestRenewOrderInvalid: the CA looks the record up in a DNS server that does
// not have it, so the order ends invalid: exit 1, one line and a hint, the
// keystore untouched, the record removed.
func TestRenewOrderInvalid(t *testing.T) {
	e := newACMEEnv(t)
	blind := newServer(t, awstest.Options{})
	other := testkit.StartPebble(t, blind.DNSAddr(), testkit.PebbleConfig{})
	ks, pass := writeJKS(t, "www.example.test")
	before := fileBytes(t, ks)
	r := certup(t, e.srv, "renew", ks, "--alias", "server", "--storepass-file", pass, e.acmeArgs(),
		"--acme-directory", other.Directory, "--acme-ca-bundle", other.CABundle)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if r.code != 1 || len(lines) != 2 || !strings.Contains(lines[0], "order failed at the CA") || !strings.Contains(lines[1], "--debug") {
		t.Fatalf("want exit 1, one error line and a hint: %s", r)
	}
	if fileBytes(t, ks) != before {
		t.Fatal("keystore changed after a failed order")
	}
	e.noChallengeRecords(t)
}

func TestRenewACMEIntoWSO2PKCS12(t *testing.T) {
	src := filepath.Join(testkit.SharedWSO2(t), "wso2carbon-4.10.p12")
	e := newACMEEnv(t)
	ks := filepath.Join(e.dir, "wso2carbon.p12")
	if err := os.WriteFile(ks, []byte(fileBytes(t, src)), 0o600); err != nil {
		t.Fatal(err)
	}
	pass := []byte("wso2carbon")
	beforeKS, beforeEntry := readAlias(t, ks, "wso2carbon", pass)
	env := append(testEnv(t), "KEYSTORE_PASSWORD=wso2carbon")

	// WSO2's certificate says CN=localhost and names no DNS name, and has years
	// left: the names and --force are given.
	ts := filepath.Join(e.dir, "client-truststore.p12")
	if err := os.WriteFile(ts, []byte(fileBytes(t, filepath.Join(filepath.Dir(src), "client-truststore-4.10.p12"))), 0o644); err != nil {
		t.Fatal(err)
	}
	tsBefore, _ := keystore.ReadFile(ts, pass)
	r := certupWithEnv(t, env, e.srv, "renew", ks, "--alias", "wso2carbon", e.acmeArgs(), "--domain", "wso2.example.test", "--force", "--truststore", ts, "--detailed-exitcode")
	if r.code != 10 || !strings.Contains(r.stdout, "truststore: added wso2carbon") {
		t.Fatalf("renew: %s\npebble:\n%s", r, e.pebble.Log())
	}
	tsAfter, _ := keystore.ReadFile(ts, pass)
	if len(tsAfter.Entries) != len(tsBefore.Entries)+2 {
		t.Fatalf("truststore entries %d -> %d, want the certificate and its issuer added", len(tsBefore.Entries), len(tsAfter.Entries))
	}
	afterKS, entry := readAlias(t, ks, "wso2carbon", pass)
	if entry.Leaf().Equal(beforeEntry.Leaf()) || entry.Leaf().DNSNames[0] != "wso2.example.test" {
		t.Fatalf("alias holds %v", entry.Leaf().DNSNames)
	}
	key, err := entry.PrivateKey(pass)
	if err != nil || !keystore.KeyMatchesCert(key, entry.Leaf()) {
		t.Fatalf("new key: %v", err)
	}
	if _, isRSA := key.Public().(interface{ Size() int }); !isRSA {
		t.Fatalf("new key %T: want the RSA type of WSO2's key", key)
	}
	if len(afterKS.Entries) != 143 || len(beforeKS.Entries) != 143 {
		t.Fatalf("entries %d -> %d, want 143 kept", len(beforeKS.Entries), len(afterKS.Entries))
	}
	others := map[string]string{}
	for _, en := range beforeKS.Entries {
		if en.Alias != "wso2carbon" {
			others[en.Alias] = keystore.Fingerprint(en.Leaf())
		}
	}
	for _, en := range afterKS.Entries {
		if en.Alias != "wso2carbon" && others[en.Alias] != keystore.Fingerprint(en.Leaf()) {
			t.Fatalf("entry %q changed", en.Alias)
		}
	}
	e.noChallengeRecords(t)

	// Again without --force: not due, keystore and truststore left as they are.
	before, tsBytes := fileBytes(t, ks), fileBytes(t, ts)
	r = certupWithEnv(t, env, e.srv, "renew", ks, "--alias", "wso2carbon", e.acmeArgs(), "--domain", "wso2.example.test", "--truststore", ts)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "not due") || fileBytes(t, ks) != before || fileBytes(t, ts) != tsBytes {
		t.Fatalf("re-run: %s", r)
	}
}

func TestRenewFromACM(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	arn, err := srv.RequestACMCertificate(region, true, "app.example.test")
	if err != nil {
		t.Fatal(err)
	}
	ks, pass := writeJKS(t, "app.example.test")
	run := func(extra ...string) result {
		return certup(t, srv, "renew", ks, "--alias", "server", "--storepass-file", pass, "--acm-certificate-arn", arn,
			"--detailed-exitcode", extra)
	}
	r := run()
	if r.code != 10 || !strings.Contains(r.stdout, "from acm") {
		t.Fatalf("first run: %s", r)
	}
	_, entry := readAlias(t, ks, "server", []byte("changeit"))
	issuer, _ := srv.ACMIssuerPEM()
	if !strings.Contains(issuer, "BEGIN CERTIFICATE") || !strings.HasPrefix(entry.Leaf().Issuer.CommonName, "awstest Amazon") || len(entry.Chain) != 2 {
		t.Fatalf("alias holds %s from %s", entry.Leaf().Subject, entry.Leaf().Issuer)
	}
	before := fileBytes(t, ks)
	if r = run(); r.code != 0 || !strings.HasPrefix(r.stdout, "unchanged:") || fileBytes(t, ks) != before {
		t.Fatalf("re-run: %s", r)
	}
	if err := srv.RenewACMCertificate(region, arn); err != nil {
		t.Fatal(err)
	}
	if r = run(); r.code != 10 || fileBytes(t, ks) == before {
		t.Fatalf("after ACM renewed: %s", r)
	}
	// Without --detailed-exitcode a renewal is a success like any other: 0.
	if err := srv.RenewACMCertificate(region, arn); err != nil {
		t.Fatal(err)
	}
	before = fileBytes(t, ks)
	if r = certup(t, srv, "renew", ks, "--alias", "server", "--storepass-file", pass, "--acm-certificate-arn", arn); r.code != 0 || fileBytes(t, ks) == before {
		t.Fatalf("renewed without --detailed-exitcode: %s", r)
	}
}

func TestRenewFaults(t *testing.T) {
	e := newACMEEnv(t)
	imported, _ := writeJKS(t, "imported.example.test")
	_, importedEntry := readAlias(t, imported, "server", []byte("changeit"))
	importedKey, _ := importedEntry.PrivateKey([]byte("changeit"))
	kp, _ := keystore.NewKeyPair("x", importedKey, importedEntry.Leaf(), nil)
	k, _ := kp.KeyPEM(keystore.KeyFormatDefault)
	importedARN, err := e.srv.ImportACMCertificate(region, string(kp.CertPEM()), string(k), "")
	if err != nil {
		t.Fatal(err)
	}
	notExportable, _ := e.srv.RequestACMCertificate(region, false, "app.example.test")
	e.srv.SetACMIssueDelay(-1)
	pending, _ := e.srv.RequestACMCertificate(region, true, "app.example.test")
	e.srv.SetACMIssueDelay(0)

	for _, tc := range []struct {
		name    string
		names   []string
		flags   []string
		errWant string
		hint    string
		noAWS   bool
	}{
		{"CA unreachable", []string{"www.example.test"}, []string{"--acme-directory", "https://" + testkit.FreePort(t) + "/dir"},
			"ACME server unreachable", "--acme-directory", false},
		{"CA refuses the name", []string{testkit.PebbleBlockedDomain}, nil, "refused by the CA", "--domain", false},
		{"zone not found", []string{"www.nozone.test"}, nil, "no public Route 53 hosted zone", "--route53-zone-id", false},
		{"record never visible", []string{"www.example.test"}, []string{"--dns-timeout", "1s"}, "not visible", "--dns-timeout", false},
		{"ACM imported", []string{"x.example.test"}, []string{"--acm-certificate-arn", importedARN}, "not exportable", "Export=ENABLED", false},
		{"ACM not exportable", []string{"x.example.test"}, []string{"--acm-certificate-arn", notExportable}, "not exportable", "Export=ENABLED", false},
		{"ACM not issued", []string{"x.example.test"}, []string{"--acm-certificate-arn", pending}, "not issued yet", "ISSUED", false},
		{"wrong store password", []string{"www.example.test"}, []string{"--storepass-env", "WRONG"}, "wrong store password", "store password", true},
		{"unknown alias", []string{"www.example.test"}, []string{"--alias", "nope"}, "alias not found", "list KEYSTORE", true},
		{"truststore password wrong", []string{"www.example.test"}, []string{"--truststore", imported, "--truststore-pass-env", "WRONG"}, "wrong store password", "--truststore-pass-file", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.names[0] == testkit.PebbleBlockedDomain {
				if _, err := e.srv.AddHostedZone(testkit.PebbleBlockedDomain); err != nil {
					t.Fatal(err)
				}
			}
			if tc.name == "record never visible" {
				e.srv.SetRoute53Delay(time.Hour)
				defer e.srv.SetRoute53Delay(0)
			}
			ks, pass := writeJKS(t, tc.names...)
			before := fileBytes(t, ks)
			parts := []any{"renew", ks, "--storepass-file", pass}
			if !slices.Contains(tc.flags, "--alias") {
				parts = append(parts, "--alias", "server")
			}
			if !slices.Contains(tc.flags, "--acm-certificate-arn") {
				parts = append(parts, e.acmeArgs())
			}
			if slices.Contains(tc.flags, "--storepass-env") {
				parts = []any{"renew", ks, "--alias", "server", e.acmeArgs()}
			}
			parts = append(parts, tc.flags)
			e.srv.ResetCalls()
			env := append(testEnv(t), "WRONG=not-the-password")
			r := certupWithEnv(t, env, e.srv, parts...)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if r.code != 1 || r.stdout != "" || !strings.Contains(lines[0], tc.errWant) || len(lines) != 2 || !strings.Contains(lines[1], tc.hint) {
				t.Fatalf("want exit 1, one error line with %q and a hint with %q: %s", tc.errWant, tc.hint, r)
			}
			if fileBytes(t, ks) != before {
				t.Fatal("keystore changed after a failure")
			}
			if tc.noAWS && e.srv.Calls("*") != 0 {
				t.Fatalf("refused after %d AWS calls, want none: %v", e.srv.Calls("*"), e.srv.CallLog())
			}
			e.noChallengeRecords(t)
		})
	}
}

// buildJKSProxy builds jksproxy beside the built certup, once.
var buildJKSProxy = sync.OnceValues(func() (string, error) {
	out := filepath.Join(filepath.Dir(bin), "jksproxy")
	cmd := exec.Command("go", "build", "-o", out, "../jksproxy")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building jksproxy: %v\n%s", err, b)
	}
	return out, nil
})

// TestRenewIntoRunningJKSProxy: a jksproxy serves the keystore while certup
// renews it; the proxy picks the new certificate up and no request fails.
func TestRenewIntoRunningJKSProxy(t *testing.T) {
	proxyBin, err := buildJKSProxy()
	if err != nil {
		t.Fatal(err)
	}
	e := newACMEEnv(t)
	ks, pass := writeJKS(t, "www.example.test")
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	t.Cleanup(backend.Close)

	cmd := exec.Command(proxyBin, "--log-json", "--keystore", ks, "--storepass-file", pass, "--listen-https", "127.0.0.1:0",
		"--listen-http", "", "--backend", backend.URL, "--reload-interval", "100ms",
		"--health-check-path", "/health", "--health-interval", "100ms")
	cmd.Env = append(os.Environ(), "KEYSTORE_PASSWORD=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := &testkit.Buffer{}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			fmt.Fprintln(logs, sc.Text())
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "listening" && m["listener"] == "https" {
				addr <- m["addr"].(string)
			}
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var https string
	select {
	case https = <-addr:
	case <-time.After(10 * time.Second):
		t.Fatalf("jksproxy did not listen:\n%s", logs.String())
	}

	var served atomic.Value
	served.Store("")
	var requests, failures atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}}
		for i := 0; i < 20000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := c.Get("https://" + https + "/")
			requests.Add(1)
			if err != nil {
				failures.Add(1)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				failures.Add(1)
			}
			served.Store(keystore.Fingerprint(resp.TLS.PeerCertificates[0]))
			time.Sleep(5 * time.Millisecond)
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-done
	}()
	_, old := readAlias(t, ks, "server", []byte("changeit"))
	testkit.WaitFor(t, 5*time.Second, "the old certificate served", func() bool { return served.Load() == keystore.Fingerprint(old.Leaf()) })

	r := certup(t, e.srv, "renew", ks, "--alias", "server", "--storepass-file", pass, e.acmeArgs(), "--detailed-exitcode")
	if r.code != 10 {
		t.Fatalf("renew: %s", r)
	}
	_, renewed := readAlias(t, ks, "server", []byte("changeit"))
	testkit.WaitFor(t, 5*time.Second, "the renewed certificate served", func() bool { return served.Load() == keystore.Fingerprint(renewed.Leaf()) })
	n := requests.Load()
	testkit.WaitFor(t, 5*time.Second, "more requests", func() bool { return requests.Load() > n+5 })
	close(stop)
	<-done
	if failures.Load() != 0 || requests.Load() < 10 {
		t.Fatalf("%d of %d requests failed while the keystore was renewed\n%s", failures.Load(), requests.Load(), logs.String())
	}
	t.Logf("%d requests, none failed", requests.Load())
}
