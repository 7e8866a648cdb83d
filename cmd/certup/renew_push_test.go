package main_test

import (
	"crypto/elliptic"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keybridge/keybridge/awsiam/awstest"
	"github.com/keybridge/keybridge/internal/testkit"
)

// TestRenewPushesToListeners: renew with rotate's target flags takes the
// renewed certificate onto the listener in the same run, tagged as rotate tags
// it (rollback returns the listener to what it served before); a push that
// fails after a renewal exits 11 and the next run finishes it; a run with
// nothing to do makes no mutating AWS call.
func TestRenewPushesToListeners(t *testing.T) {
	e := newACMEEnv(t)
	ks, pass := writeJKS(t, "www.example.test")
	if err := e.srv.AddClassicELB(region, "web", awstest.ClassicListener{Protocol: "HTTPS", Port: 443, InstancePort: 9443}); err != nil {
		t.Fatal(err)
	}
	// The listener serves the keystore's current certificate, put there by rotate.
	wantCode(t, certup(t, e.srv, "rotate", ks, "--alias", "server", "--storepass-file", pass, "--elb", "web", "--detailed-exitcode"), 10)
	before := elbServes(e.srv, "web")
	_, old := readAlias(t, ks, "server", []byte("changeit"))
	if servedBody(e.srv, before) != pemOf(old.Leaf().Raw) {
		t.Fatalf("the listener does not serve the keystore's certificate before the renewal (%s)", before)
	}
	renewArgs := []any{"renew", ks, "--alias", "server", "--storepass-file", pass, e.acmeArgs(), "--elb", "web"}

	// A renewal whose push fails: the keystore holds the new certificate, the
	// listener still the old one, exit 11 and the hint to run it again.
	remove := e.srv.Inject(awstest.Fault{Op: "elb:SetLoadBalancerListenerSSLCertificate", Code: "AccessDenied", Message: "not allowed"})
	r := certup(t, e.srv, renewArgs...)
	remove()
	_, renewed := readAlias(t, ks, "server", []byte("changeit"))
	if r.code != 11 || renewed.Leaf().Equal(old.Leaf()) || elbServes(e.srv, "web") != before || !strings.Contains(r.stderr, "run the same command again") {
		t.Fatalf("renewal with a failing push: %s\npebble:\n%s", r, e.pebble.Log())
	}
	e.noChallengeRecords(t)

	// The next run is not due for renewal but finishes the push.
	r = certup(t, e.srv, renewArgs...)
	now := elbServes(e.srv, "web")
	if r.code != 10 || !strings.HasPrefix(r.stdout, "not due:") || now == before || servedBody(e.srv, now) != pemOf(renewed.Leaf().Raw) {
		t.Fatalf("re-run after the failed push: %s", r)
	}
	t.Logf("re-run:\n%s", r)
	if !strings.Contains(r.stdout, "rotated: 1 listener") {
		t.Errorf("re-run does not say it rotated the listener:\n%s", r.stdout)
	}

	// Nothing left to do: exit 0, no mutating call.
	e.srv.ResetCalls()
	r = certup(t, e.srv, renewArgs...)
	if r.code != 0 || e.srv.MutatingCalls() != 0 || elbServes(e.srv, "web") != now {
		t.Fatalf("third run: %s\n%d mutating calls: %v", r, e.srv.MutatingCalls(), e.srv.CallLog())
	}

	// rollback returns the listener to the certificate it served before renew's push.
	wantCode(t, certup(t, e.srv, "rollback", "--elb", "web", "--detailed-exitcode"), 10)
	if got := elbServes(e.srv, "web"); got != before {
		t.Fatalf("rollback put the listener on %s, it served %s before the renewal", got, before)
	}

	// The rollback holds: the timer's next renew (not due) pushes nothing,
	// exit 0, and says why with the hint naming --force.
	e.srv.ResetCalls()
	r = certup(t, e.srv, renewArgs...)
	if r.code != 0 || e.srv.MutatingCalls() != 0 || elbServes(e.srv, "web") != before ||
		!strings.Contains(r.stderr, "certup: 1 listener held: a rollback moved the lineage off the new certificate") ||
		!strings.Contains(r.stderr, "certup: hint: ") || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("renew after the rollback: %s\n%d mutating calls: %v", r, e.srv.MutatingCalls(), e.srv.CallLog())
	}
	// --force renews and pushes the new certificate.
	r = certup(t, e.srv, append(renewArgs, "--force")...)
	_, forced := readAlias(t, ks, "server", []byte("changeit"))
	if r.code != 10 || forced.Leaf().Equal(renewed.Leaf()) || servedBody(e.srv, elbServes(e.srv, "web")) != pemOf(forced.Leaf().Raw) {
		t.Fatalf("renew --force after the rollback: %s", r)
	}
}

// TestRenewPushInOneRun: a renewal and its push in one run, exit 0 without
// --detailed-exitcode, with --json one document holding both.
func TestRenewPushInOneRun(t *testing.T) {
	e := newACMEEnv(t)
	ks, pass := writeJKS(t, "api.example.test")
	if err := e.srv.AddClassicELB(region, "api", awstest.ClassicListener{Protocol: "HTTPS", Port: 443, InstancePort: 9443}); err != nil {
		t.Fatal(err)
	}
	plain := slices.DeleteFunc(e.acmeArgs(), func(a string) bool { return a == "--detailed-exitcode" })
	r := certup(t, e.srv, "renew", ks, "--alias", "server", "--storepass-file", pass, plain, "--elb", "api", "--json")
	_, renewed := readAlias(t, ks, "server", []byte("changeit"))
	if r.code != 0 || servedBody(e.srv, elbServes(e.srv, "api")) != pemOf(renewed.Leaf().Raw) {
		t.Fatalf("renew --elb: %s\npebble:\n%s", r, e.pebble.Log())
	}
	var doc struct {
		Renew    struct{ Action string }
		Rotation struct{ Outcome string }
	}
	if err := jsonUnmarshal(r.stdout, &doc); err != nil || doc.Renew.Action != "renewed" || doc.Rotation.Outcome != "changed" {
		t.Fatalf("--json: %v: %s", err, r.stdout)
	}
}

// servedBody is the PEM body of the IAM certificate arn ("" when none).
func servedBody(srv *awstest.Server, arn string) string {
	for _, c := range srv.ServerCertificates() {
		if c.ARN == arn {
			return c.Body
		}
	}
	return ""
}

// pemOf is a DER certificate as IAM keeps its body: PEM without the final newline.
func pemOf(der []byte) string {
	return strings.TrimSpace(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// TestRenewRateLimited: a CA that answers the new order with 429 rateLimited
// and Retry-After (a front before Pebble, which never limits): exit 1, the
// error line names the limit and the time to retry at, the hint the fix; the
// keystore is untouched and no challenge record is left; once the limit is
// lifted the next run renews.
func TestRenewRateLimited(t *testing.T) {
	e := newACMEEnv(t)
	front := e.pebble.Front(t)
	ks, pass := writeJKS(t, "www.example.test")
	before := fileBytes(t, ks)
	args := []any{"renew", ks, "--alias", "server", "--storepass-file", pass, e.acmeArgs(),
		"--acme-directory", front.Directory, "--acme-ca-bundle", front.CABundle}

	front.Limit(time.Hour)
	start := time.Now()
	r := certup(t, e.srv, args...)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	retry := start.Add(time.Hour).UTC()
	// The minute the CA said, allowing for the run crossing a minute boundary.
	at := func(s string) bool {
		return strings.Contains(s, retry.Format("2006-01-02 15:04")) || strings.Contains(s, retry.Add(time.Minute).Format("2006-01-02 15:04"))
	}
	if r.code != 1 || r.stdout != "" || len(lines) != 2 || front.Limited() != 1 ||
		!strings.HasPrefix(lines[0], "certup: error: ") || !strings.Contains(lines[0], "rate limited by the CA until ") || !at(lines[0]) ||
		!strings.HasPrefix(lines[1], "certup: hint: ") || !strings.Contains(lines[1], "run again after ") || !at(lines[1]) {
		t.Fatalf("want exit 1, an error line with the limit and its time and a hint (%d refused): %s", front.Limited(), r)
	}
	if fileBytes(t, ks) != before {
		t.Fatal("keystore changed after a rate-limited order")
	}
	e.noChallengeRecords(t)

	front.Limit(0)
	r = certup(t, e.srv, args...)
	if r.code != 10 || !strings.HasPrefix(r.stdout, "renewed ") || fileBytes(t, ks) == before {
		t.Fatalf("after the limit: %s\npebble:\n%s", r, e.pebble.Log())
	}
	e.noChallengeRecords(t)
}

// TestRenewDryRunRegistersNothing: an ACME dry run reads the directory and
// decides, but signs no request (no account registered, no order) and makes
// no account key file; the real run after it makes the key (0600).
func TestRenewDryRunRegistersNothing(t *testing.T) {
	e := newACMEEnv(t)
	front := e.pebble.Front(t)
	ks, pass := writeJKS(t, "www.example.test")
	before := fileBytes(t, ks)
	key := filepath.Join(t.TempDir(), "acme", "account.key")
	args := []any{"renew", ks, "--alias", "server", "--storepass-file", pass, e.acmeArgs(),
		"--acme-directory", front.Directory, "--acme-ca-bundle", front.CABundle, "--acme-account-key", key}

	r := certup(t, e.srv, append(args, "--dry-run")...)
	if r.code != 10 || !strings.HasPrefix(r.stdout, "dry run: would renew") {
		t.Fatalf("dry run: %s", r)
	}
	if _, err := os.Stat(key); err == nil || front.Posts() != 0 || fileBytes(t, ks) != before || e.srv.MutatingCalls() != 0 {
		t.Fatalf("the dry run left an account key (stat: %v), signed %d requests, changed the keystore or made %d AWS changes",
			err, front.Posts(), e.srv.MutatingCalls())
	}
	r = certup(t, e.srv, args...)
	fi, err := os.Stat(key)
	if r.code != 10 || err != nil || fi.Mode().Perm() != 0o600 || front.Posts() == 0 {
		t.Fatalf("real run: %s (account key: %v)", r, err)
	}
}

// TestRenewPushNeedsRegionFirst: listener targets without a region stop the
// run before the CA is asked (the keystore would otherwise be renewed and the
// push fail).
func TestRenewPushNeedsRegionFirst(t *testing.T) {
	e := newACMEEnv(t)
	ks, pass := writeJKS(t, "www.example.test")
	before := fileBytes(t, ks)
	var noRegion []string
	for _, kv := range testEnv(t) {
		if !strings.HasPrefix(kv, "AWS_REGION=") {
			noRegion = append(noRegion, kv)
		}
	}
	r := certupWithEnv(t, noRegion, e.srv, "renew", ks, "--alias", "server", "--storepass-file", pass, e.acmeArgs(), "--elb", "web")
	if r.code != 1 || !strings.Contains(r.stderr, "--region") || fileBytes(t, ks) != before || e.srv.Calls("*") != 0 {
		t.Fatalf("want exit 1 naming --region before any call: %s (%d AWS calls)", r, e.srv.Calls("*"))
	}
}

// TestRenewPushKeepsLongerLived: renew's push never replaces a certificate that
// expires after the renewed one (one put on the listener by hand here): exit 0,
// no changing call, one line saying why and a hint naming --force.
func TestRenewPushKeepsLongerLived(t *testing.T) {
	e := newACMEEnv(t)
	ks, pass := writeJKS(t, "www.example.test")
	if err := e.srv.AddClassicELB(region, "web", awstest.ClassicListener{Protocol: "HTTPS", Port: 443, InstancePort: 9443}); err != nil {
		t.Fatal(err)
	}
	renewArgs := []any{"renew", ks, "--alias", "server", "--storepass-file", pass, e.acmeArgs(), "--elb", "web"}
	wantCode(t, certup(t, e.srv, renewArgs...), 10)
	_, renewed := readAlias(t, ks, "server", []byte("changeit"))

	// By hand: a certificate for the same name that outlasts the renewed one.
	is := newIssuer(t)
	long, longKP := is.keystore(t, "www.example.test", testkit.ECKey(t, elliptic.P256()), 1+int(time.Until(renewed.Leaf().NotAfter).Hours()/24)+30)
	wantCode(t, run(t, e.srv, "upload", pemArgs(long), "--name", "by-hand"), 0)
	wantCode(t, certup(t, e.srv, "attach", "--cert", "by-hand", "--elb", "web"), 0)
	byHand := elbServes(e.srv, "web")
	if servedBody(e.srv, byHand) != pemOf(longKP.Leaf.Raw) {
		t.Fatalf("the listener does not serve the certificate put there by hand (%s)", byHand)
	}

	e.srv.ResetCalls()
	r := certup(t, e.srv, renewArgs...)
	if r.code != 0 || e.srv.MutatingCalls() != 0 || elbServes(e.srv, "web") != byHand {
		t.Fatalf("renew replaced a certificate that outlasts the renewed one: %s\n%d changing calls: %v", r, e.srv.MutatingCalls(), e.srv.CallLog())
	}
	if !strings.Contains(r.stderr, "certup: 1 listener kept: it serves a certificate valid until "+longKP.Leaf.NotAfter.UTC().Format(time.DateOnly)) ||
		!strings.Contains(r.stderr, "certup: hint: ") || !strings.Contains(r.stderr, "--force") {
		t.Errorf("want one line saying why and a hint naming --force: %s", r)
	}
	// --force renews and replaces it.
	r = certup(t, e.srv, append(renewArgs, "--force")...)
	_, forced := readAlias(t, ks, "server", []byte("changeit"))
	if r.code != 10 || servedBody(e.srv, elbServes(e.srv, "web")) != pemOf(forced.Leaf().Raw) {
		t.Fatalf("renew --force: %s", r)
	}
}
