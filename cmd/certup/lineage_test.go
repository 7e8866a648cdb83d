package main_test

import (
	"bytes"
	"crypto"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keybridge/keybridge/awsiam"
	"github.com/keybridge/keybridge/awsiam/awstest"
	"github.com/keybridge/keybridge/internal/testkit"
	"github.com/keybridge/keybridge/keystore"
)

// issuer makes the keystores of the lineage tests: PEM bundles (key, leaf,
// CA) of a CN, read with an empty password.
type issuer struct {
	ca  *x509.Certificate
	key crypto.Signer
	dir string
	n   int
}

func newIssuer(t *testing.T) *issuer {
	key := testkit.ECKey(t, elliptic.P256())
	now := time.Now()
	ca := testkit.SignCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Lineage Test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(5, 0, 0)}, nil, key, key)
	return &issuer{ca: ca, key: key, dir: t.TempDir()}
}

// keystore writes a bundle for cn with key, valid for days, and returns its
// path and the pair.
func (is *issuer) keystore(t *testing.T, cn string, key crypto.Signer, days int) (string, *keystore.KeyPair) {
	t.Helper()
	now := time.Now()
	leaf := testkit.SignCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(0, 0, days)}, is.ca, key, is.key)
	kp := &keystore.KeyPair{Alias: "server", Key: key, Leaf: leaf, Chain: []*x509.Certificate{is.ca}}
	keyPEM, err := kp.KeyPEM(keystore.KeyFormatDefault)
	if err != nil {
		t.Fatal(err)
	}
	is.n++
	path := filepath.Join(is.dir, cn+"-"+string(rune('a'+is.n))+".pem")
	if err := os.WriteFile(path, bytes.Join([][]byte{keyPEM, kp.CertPEM(), kp.ChainPEM()}, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, kp
}

// pemArgs are the KEYSTORE argument of a bundle and its (empty) password.
func pemArgs(path string) []string { return []string{path, "--storepass-env", "EMPTY_PASSWORD"} }

func run(t *testing.T, srv *awstest.Server, a ...any) result {
	t.Helper()
	argv := args(a...)
	switch argv[0] {
	case "rotate", "rollback", "prune":
		// Exit 10 when they changed something, 0 when there was nothing to do.
		argv = append(argv, "--detailed-exitcode")
	}
	return certupEnv(t, srv, []string{"EMPTY_PASSWORD="}, argv)
}

// certARN is where a pair went: the IAM ARN of its derived name, or the ACM
// certificate holding it.
func certARN(t *testing.T, srv *awstest.Server, kp *keystore.KeyPair, acm bool) string {
	t.Helper()
	body := strings.TrimSpace(string(kp.CertPEM()))
	if acm {
		for _, c := range srv.ACMCertificates(region) {
			if c.Body == body {
				return c.ARN
			}
		}
		return ""
	}
	for _, c := range srv.ServerCertificates() {
		if c.Body == body {
			return c.ARN
		}
	}
	return ""
}

func elbServes(srv *awstest.Server, name string) string {
	st, _ := srv.ClassicListenerOf(region, name, 443)
	return st.CertificateARN
}

// TestRotatePruneKeepsTheRollbackCertificate is Why 1 of issue 12: the
// listener serves A (RSA); an EC P-384 certificate with the same CN is
// uploaded later and never attached; rotating to a third certificate must keep
// A (the rollback target), not the newer unused upload, and rollback must go
// back to A.
func TestRotatePruneKeepsTheRollbackCertificate(t *testing.T) {
	for _, store := range []string{"iam", "acm"} {
		t.Run(store, func(t *testing.T) {
			srv := newServer(t, awstest.Options{})
			acm := store == "acm"
			is := newIssuer(t)
			ph, _ := is.keystore(t, "placeholder.example.com", testkit.ECKey(t, elliptic.P256()), 30)
			a, aKP := is.keystore(t, "app.example.com", testkit.RSAKey(t, 2048), 100)
			ec, ecKP := is.keystore(t, "app.example.com", testkit.ECKey(t, elliptic.P384()), 200)
			c, cKP := is.keystore(t, "app.example.com", testkit.RSAKey(t, 2048), 300)
			if err := srv.AddClassicELB(region, "wso2-elb", awstest.ClassicListener{Protocol: "HTTPS", Port: 443, InstancePort: 9443}); err != nil {
				t.Fatal(err)
			}
			storeArgs := []string{}
			if acm {
				storeArgs = []string{"--acm"}
			}
			wantCode(t, run(t, srv, "deploy", pemArgs(ph), storeArgs, "--elb", "wso2-elb"), 0)
			wantCode(t, run(t, srv, "rotate", pemArgs(a), storeArgs, "--elb", "wso2-elb"), 10)
			aARN := certARN(t, srv, aKP, acm)
			if elbServes(srv, "wso2-elb") != aARN {
				t.Fatalf("serves %s, not A", elbServes(srv, "wso2-elb"))
			}
			wantCode(t, run(t, srv, "upload", pemArgs(ec), storeArgs), 0)
			r := run(t, srv, "rotate", pemArgs(c), storeArgs, "--elb", "wso2-elb")
			wantCode(t, r, 10)
			if elbServes(srv, "wso2-elb") != certARN(t, srv, cKP, acm) {
				t.Fatalf("not rotated to C:\n%s", r)
			}
			if certARN(t, srv, aKP, acm) == "" {
				t.Errorf("prune deleted A, the certificate the listener served before:\n%s", r)
			}
			if certARN(t, srv, ecKP, acm) == "" {
				t.Errorf("prune deleted the unrelated EC upload with the same CN:\n%s", r)
			}
			r = run(t, srv, "rollback", "--elb", "wso2-elb")
			wantCode(t, r, 10)
			if got := elbServes(srv, "wso2-elb"); got != aARN {
				t.Errorf("rollback put the listener on %s, it served A (%s) before:\n%s", got, aARN, r)
			}
		})
	}
}

// TestDeploymentsSharingLocalhostStayApart is Why 2: two deployments whose
// certificates all say CN=localhost rotate in turns; neither's prune deletes
// the other's rollback certificate, and each rolls back to its own.
func TestDeploymentsSharingLocalhostStayApart(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	is := newIssuer(t)
	ph, _ := is.keystore(t, "placeholder.example.com", testkit.ECKey(t, elliptic.P256()), 30)
	for _, name := range []string{"east", "west"} {
		if err := srv.AddClassicELB(region, name, awstest.ClassicListener{Protocol: "HTTPS", Port: 443, InstancePort: 9443}); err != nil {
			t.Fatal(err)
		}
		wantCode(t, run(t, srv, "deploy", pemArgs(ph), "--elb", name), 0)
	}
	served := map[string][]string{}
	for i, name := range []string{"east", "west", "east", "west", "east"} {
		ks, kp := is.keystore(t, "localhost", testkit.ECKey(t, elliptic.P256()), 50+i)
		r := run(t, srv, "rotate", pemArgs(ks), "--elb", name)
		wantCode(t, r, 10)
		arn := awsiam.DefaultName(kp.Leaf, "")
		if !strings.HasSuffix(elbServes(srv, name), "/"+arn) {
			t.Fatalf("%s serves %s after rotating to %s", name, elbServes(srv, name), arn)
		}
		served[name] = append(served[name], elbServes(srv, name))
	}
	exists := map[string]bool{}
	lineages := map[string]string{}
	for _, c := range srv.ServerCertificates() {
		exists[c.ARN] = true
		for k := range c.Tags {
			if strings.HasPrefix(k, "certup:lineage:") {
				lineages[c.ARN] = k
			}
		}
	}
	// west rotated last before east's third rotation: its rollback target must
	// have survived east's prune.
	westBefore := served["west"][0]
	if !exists[westBefore] {
		t.Fatalf("east's rotate deleted west's rollback certificate %s", westBefore)
	}
	if e, w := lineages[served["east"][2]], lineages[served["west"][1]]; e == w || e == "" {
		t.Errorf("east and west share lineage %q", e)
	}
	r := run(t, srv, "rollback", "--elb", "west")
	wantCode(t, r, 10)
	if got := elbServes(srv, "west"); got != westBefore {
		t.Errorf("west rolled back to %s, served %s before:\n%s", got, westBefore, r)
	}
	r = run(t, srv, "rollback", "--elb", "east")
	wantCode(t, r, 10)
	if got := elbServes(srv, "east"); got != served["east"][1] {
		t.Errorf("east rolled back to %s, served %s before:\n%s", got, served["east"][1], r)
	}
	if got := elbServes(srv, "west"); got != westBefore {
		t.Errorf("east's rollback moved west to %s", got)
	}

	// prune --lineage: only east's, and --dry-run shows it without a change.
	// A newer certificate serves east first: the one its rollback moved off
	// is no longer held (TestPruneKeepsHeld), and goes with the rest.
	eastLineage := strings.TrimPrefix(lineages[served["east"][2]], "certup:lineage:")
	ks, _ := is.keystore(t, "localhost", testkit.ECKey(t, elliptic.P256()), 60)
	wantCode(t, run(t, srv, "rotate", pemArgs(ks), "--elb", "east", "--no-prune"), 10)
	srv.ResetCalls()
	r = run(t, srv, "prune", "--lineage", eastLineage, "--keep", "0", "--dry-run")
	if r.code != 10 || srv.MutatingCalls() != 0 {
		t.Fatalf("dry run: %d changing calls\n%s", srv.MutatingCalls(), r)
	}
	names := map[string]string{}
	for _, c := range srv.ServerCertificates() {
		names[c.Name] = lineages[c.ARN]
	}
	planned := 0
	for _, line := range strings.Split(r.stdout, "\n") {
		_, name, ok := strings.Cut(line, "DeleteServerCertificate ServerCertificateName=")
		if !ok {
			continue
		}
		planned++
		if names[name] != "certup:lineage:"+eastLineage {
			t.Errorf("prune --lineage %s would delete %s (%q)", eastLineage, name, names[name])
		}
	}
	if planned == 0 {
		t.Errorf("nothing planned:\n%s", r)
	}
	before := certARNs(srv, false)
	wantCode(t, run(t, srv, "prune", "--lineage", eastLineage, "--keep", "0"), 10)
	after := certARNs(srv, false)
	for _, c := range before {
		if lineages[c] != "certup:lineage:"+eastLineage && !slices.Contains(after, c) {
			t.Errorf("prune of east's lineage deleted %s (%q)", c, lineages[c])
		}
	}
	if len(after) == len(before) {
		t.Error("prune of east's lineage deleted nothing")
	}
	wantCode(t, run(t, srv, "prune", "--lineage", "bad:name"), 2)
}

// certARNs is every certificate in IAM, or with acm in the ACM of region.
func certARNs(srv *awstest.Server, acm bool) []string {
	var out []string
	if acm {
		for _, c := range srv.ACMCertificates(region) {
			out = append(out, c.ARN)
		}
		return out
	}
	for _, c := range srv.ServerCertificates() {
		out = append(out, c.ARN)
	}
	return out
}

// TestFirstRotationFromWSO2Localhost is Why 3: the listener serves WSO2's own
// CN=localhost certificate (the real keystore); the first rotation to the real
// domain can be rolled back to it.
func TestFirstRotationFromWSO2Localhost(t *testing.T) {
	dir := testkit.SharedWSO2(t)
	srv := newServer(t, awstest.Options{})
	pass := filepath.Join(t.TempDir(), "storepass")
	if err := os.WriteFile(pass, []byte("wso2carbon"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddClassicELB(region, "wso2-elb", awstest.ClassicListener{Protocol: "HTTPS", Port: 443, InstancePort: 9443}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, run(t, srv, "deploy", filepath.Join(dir, "wso2carbon-4.4.jks"), "--storepass-file", pass, "--elb", "wso2-elb"), 0)
	localhost := elbServes(srv, "wso2-elb")
	if !strings.Contains(localhost, "/localhost-") {
		t.Fatalf("the WSO2 keystore's certificate is %s, not CN=localhost", localhost)
	}
	is := newIssuer(t)
	real, _ := is.keystore(t, "app.example.com", testkit.RSAKey(t, 2048), 365)
	wantCode(t, run(t, srv, "rotate", pemArgs(real), "--elb", "wso2-elb"), 10)
	if elbServes(srv, "wso2-elb") == localhost {
		t.Fatal("not rotated")
	}
	r := run(t, srv, "rollback", "--elb", "wso2-elb")
	wantCode(t, r, 10)
	if got := elbServes(srv, "wso2-elb"); got != localhost {
		t.Errorf("rollback put the listener on %s, it served %s before:\n%s", got, localhost, r)
	}
	// Run again: done, nothing to do.
	wantNothingToDo(t, srv, run, "rollback", "--elb", "wso2-elb")
}
