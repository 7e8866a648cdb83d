package main_test

import (
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keybridge/keybridge/awsiam"
	"github.com/keybridge/keybridge/awsiam/awstest"
	"github.com/keybridge/keybridge/internal/testkit"
	"github.com/keybridge/keybridge/keystore"
)

// wantRefused checks a refusal: exit 1, one error line saying what AWS would
// answer, a hint, and no changing call at all.
func wantRefused(t *testing.T, srv *awstest.Server, r result, says string) {
	t.Helper()
	wantCode(t, r, 1)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	var errs, hints int
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "certup: error: "):
			errs++
		case strings.HasPrefix(l, "certup: hint: "):
			hints++
		}
	}
	if errs != 1 || hints != 1 || !strings.Contains(r.stderr, says) {
		t.Errorf("want one error line saying %q and a hint:\n%s", says, r)
	}
	if n := srv.MutatingCalls(); n != 0 {
		t.Errorf("%d changing calls before the refusal: %v", n, srv.CallLog())
	}
}

// TestRefuseCertificateWithoutFQDN: WSO2's CN=localhost certificate is
// refused for an ALB listener before it is uploaded, attached or rotated;
// a classic ELB takes it with a warning.
func TestRefuseCertificateWithoutFQDN(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	lb := seed(t, srv)
	kp := loadPair(t, "wso2carbon.jks")
	key, _ := kp.KeyPEM(keystore.KeyFormatDefault)
	localhost, err := srv.UploadServerCertificate("localhost-seeded", "/", string(kp.CertPEM()), string(key), "")
	if err != nil {
		t.Fatal(err)
	}
	before := len(srv.ServerCertificates())
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"deploy to IAM", args("deploy", keystoreArgs("wso2carbon.jks"), "--elb", lb.elb, "--listener", lb.listener)},
		{"deploy to ACM", args("deploy", keystoreArgs("wso2carbon.jks"), "--acm", "--listener", lb.listener)},
		{"deploy as SNI", args("deploy", keystoreArgs("wso2carbon.jks"), "--sni", "--listener", lb.listener)},
		{"deploy, dry run", args("deploy", "--dry-run", keystoreArgs("wso2carbon.jks"), "--listener", lb.listener)},
		{"attach", args("attach", "--cert", localhost, "--listener", lb.listener)},
		{"attach SNI", args("attach", "--cert", "localhost-seeded", "--listener", lb.listener, "--sni")},
		{"rotate", args("rotate", keystoreArgs("wso2carbon.jks"), "--elb", lb.elb, "--listener", lb.listener)},
		{"rotate, dry run", args("rotate", "--dry-run", keystoreArgs("wso2carbon.jks"), "--listener", lb.listener)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv.ResetCalls()
			r := certup(t, srv, tt.args)
			wantRefused(t, srv, r, "UnsupportedCertificate")
			if !strings.Contains(r.stderr, `"localhost"`) || !strings.Contains(r.stderr, "classic ELB (--elb)") {
				t.Errorf("the error should name the certificate and the hint a way out:\n%s", r.stderr)
			}
		})
	}
	if n := len(srv.ServerCertificates()); n != before || len(srv.ACMCertificates(region)) != 0 {
		t.Errorf("something was uploaded: %d IAM (had %d), %d ACM", n, before, len(srv.ACMCertificates(region)))
	}
	if def, sni, _ := srv.ListenerCertificates(region, lb.listener); strings.Contains(def, "localhost") || len(sni) != 0 {
		t.Errorf("the ALB listener serves %s, SNI %v", def, sni)
	}
	t.Run("classic ELB takes it, with a warning", func(t *testing.T) {
		r := certup(t, srv, args("deploy", keystoreArgs("wso2carbon.jks"), "--elb", lb.elb))
		wantCode(t, r, 0)
		if !strings.Contains(r.stderr, "no fully qualified domain name") || strings.Count(r.stderr, "no fully qualified") != 1 {
			t.Errorf("want one warning:\n%s", r)
		}
		if st, _ := srv.ClassicListenerOf(region, lb.elb, 443); !strings.Contains(st.CertificateARN, "/localhost-") {
			t.Errorf("classic listener serves %s", st.CertificateARN)
		}
	})
}

// TestRefuseACMReimport: a re-import ACM would refuse is refused before the
// call, by upload, deploy and rotate.
func TestRefuseACMReimport(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	r := certup(t, srv, args("upload", keystoreArgs("rsa2048.jks"), "--acm"))
	wantCode(t, r, 0)
	arn := strings.TrimSpace(r.stdout)
	lb := seed(t, srv)
	body := srv.ACMCertificates(region)[0].Body
	for _, tt := range []struct {
		name string
		args []string
		says string
	}{
		{"RSA 2048 to 4096", args("upload", keystoreArgs("rsa4096.jks"), "--acm", "--certificate-arn", arn), "RSA_4096"},
		{"RSA to EC", args("upload", keystoreArgs("ec256.jks"), "--acm", "--certificate-arn", arn), "EC_prime256v1"},
		{"adds key usages", args("upload", keystoreArgs("chain.jks"), "--acm", "--certificate-arn", arn), "key usage"},
		{"tags", args("upload", fixture("keypass.jks"), "--storepass-file", fixture("keypass.storepass"), "--keypass-file", fixture("keypass.keypass"),
			"--acm", "--certificate-arn", arn, "--tag", "env=prod"), "tags"},
		{"deploy", args("deploy", keystoreArgs("rsa4096.jks"), "--acm", "--certificate-arn", arn, "--listener", lb.listener), "RSA_4096"},
		{"rotate", args("rotate", keystoreArgs("rsa4096.jks"), "--acm", "--certificate-arn", arn, "--listener", lb.listener), "RSA_4096"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv.ResetCalls()
			r := certup(t, srv, tt.args)
			wantRefused(t, srv, r, tt.says)
			if !strings.Contains(r.stderr, "ACM cannot re-import") {
				t.Errorf("stderr = %s", r.stderr)
			}
		})
	}
	if got := srv.ACMCertificates(region); len(got) != 1 || got[0].Body != body {
		t.Errorf("ACM changed: %d certificates", len(got))
	}
}

// fqdnCert makes a self-signed P-256 certificate and key for cn, in PEM.
func fqdnCert(t *testing.T, cn string) (certPEM, keyPEM string) {
	t.Helper()
	key := testkit.ECKey(t, elliptic.P256())
	c := testkit.SignCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)}, nil, key, key)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// TestRefuseSNIBeyondQuota: an ALB whose two listeners hold 25 SNI
// certificates together takes no 26th: not by attach, deploy, nor by a rotate
// with --replaces, which adds the new certificate before it removes the old.
func TestRefuseSNIBeyondQuota(t *testing.T) {
	srv := newServer(t, awstest.Options{MaxServerCertificates: 100})
	var arns []string
	for i := range awsiam.MaxSNICertificates + 2 { // a default, 25 SNI, one more
		cert, key := fqdnCert(t, fmt.Sprintf("site%d.example.com", i))
		arn, err := srv.UploadServerCertificate(fmt.Sprintf("site%d", i), "/", cert, key, "")
		if err != nil {
			t.Fatal(err)
		}
		arns = append(arns, arn)
	}
	alb := srv.AddALB(region, "alb")
	var listeners []string
	for i, port := range []int{443, 8443} {
		var sni []string
		for j := 1 + i; j <= awsiam.MaxSNICertificates; j += 2 {
			sni = append(sni, arns[j])
		}
		ln, err := srv.AddListener(region, alb, awstest.Listener{Protocol: "HTTPS", Port: port, CertificateARN: arns[0], SNI: sni})
		if err != nil {
			t.Fatal(err)
		}
		listeners = append(listeners, ln)
	}
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"attach", args("attach", "--cert", "site26", "--listener", listeners[0], "--sni")},
		{"deploy", args("deploy", keystoreArgs("rsa2048.jks"), "--sni", "--listener", listeners[1])},
		{"rotate --replaces", args("rotate", keystoreArgs("rsa2048.jks"), "--replaces", "site3", "--region", region)},
		{"rotate --replaces, dry run", args("rotate", "--dry-run", keystoreArgs("rsa2048.jks"), "--replaces", "site3")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv.ResetCalls()
			r := certup(t, srv, tt.args)
			wantRefused(t, srv, r, "TooManyCertificates")
			if !strings.Contains(r.stderr, "25") {
				t.Errorf("the error should give the quota:\n%s", r.stderr)
			}
		})
	}
	t.Run("the same listener again is no add", func(t *testing.T) {
		wantNothingToDo(t, srv, certup, "attach", "--cert", "site1", "--listener", listeners[0], "--sni")
	})
}

// TestRefuseIAMPath: a path IAM would refuse is refused before any AWS call.
func TestRefuseIAMPath(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	lb := seed(t, srv)
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"space", args("upload", keystoreArgs("rsa2048.jks"), "--path", "/my certs/")},
		{"non-ASCII", args("upload", keystoreArgs("rsa2048.jks"), "--path", "/zertifikate-\u00e4/")},
		{"no trailing slash", args("deploy", keystoreArgs("rsa2048.jks"), "--path", "/certup", "--elb", lb.elb)},
		{"too long", args("rotate", keystoreArgs("rsa2048.jks"), "--path", "/"+strings.Repeat("p", 511)+"/", "--elb", lb.elb)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv.ResetCalls()
			r := certup(t, srv, tt.args)
			wantRefused(t, srv, r, "IAM path")
			if !strings.Contains(r.stderr, "hint: give --path") {
				t.Errorf("stderr = %s", r.stderr)
			}
		})
	}
}

// TestACMARNRegion: check and attach find an ACM certificate of another
// region than --region / AWS_REGION in the region its ARN names.
func TestACMARNRegion(t *testing.T) {
	const other = "ap-southeast-2"
	srv := newServer(t, awstest.Options{})
	cert, key := fqdnCert(t, "syd.example.com")
	arn, err := srv.ImportACMCertificate(other, cert, key, "")
	if err != nil {
		t.Fatal(err)
	}
	alb := srv.AddALB(other, "alb")
	cert2, key2 := fqdnCert(t, "old.example.com")
	old, err := srv.ImportACMCertificate(other, cert2, key2, "")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := srv.AddListener(other, alb, awstest.Listener{Protocol: "HTTPS", Port: 443, CertificateARN: old})
	if err != nil {
		t.Fatal(err)
	}
	r := certup(t, srv, "check", "--cert", arn, "--days", "30")
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "valid until") {
		t.Errorf("check: %s", r)
	}
	r = certup(t, srv, "check", "--cert", arn, "--region", "eu-central-1", "--json")
	wantCode(t, r, 0)
	var res awsiam.CheckResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || !res.OK || res.CertificateARN != arn {
		t.Errorf("check --json = %+v, %v", res, err)
	}
	r = certup(t, srv, "attach", "--cert", arn, "--listener", ln)
	wantCode(t, r, 0)
	if def, _, _ := srv.ListenerCertificates(other, ln); def != arn {
		t.Errorf("listener serves %s, want %s", def, arn)
	}
	r = certup(t, srv, "check", "--listener", ln)
	wantCode(t, r, 0)
	t.Run("ARNs of two regions", func(t *testing.T) {
		r := certup(t, srv, "attach", "--cert", strings.Replace(arn, other, "eu-west-1", 1), "--listener", ln)
		wantCode(t, r, 2)
	})
}

// TestStickinessCommand: the WSO2 seed's stickiness on port 80 and 443 of the
// classic ELB, and on every target group of an ALB listener (its rules
// included); a second run changes nothing; --cookie - removes it.
func TestStickinessCommand(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	lb := seed(t, srv)
	api := srv.AddTargetGroup(region, "api", "HTTP", 8080)
	if _, err := srv.AddRule(region, lb.listener, 10, []string{"api.example.com"}, api); err != nil {
		t.Fatal(err)
	}
	policy := awsiam.StickinessPolicyName("JSESSIONID")
	set := args("stickiness", "--elb", lb.elb, "--listener", lb.listener, "--cookie", "JSESSIONID")

	srv.ResetCalls()
	r := certup(t, srv, args(set, "--dry-run"))
	wantCode(t, r, 0)
	if srv.MutatingCalls() != 0 || strings.Count(r.stdout, "would call elb SetLoadBalancerPoliciesOfListener") != 2 ||
		strings.Count(r.stdout, "would call elbv2 ModifyTargetGroupAttributes") != 2 {
		t.Errorf("dry run: %d changing calls\n%s", srv.MutatingCalls(), r)
	}

	r = certup(t, srv, set)
	wantCode(t, r, 0)
	for _, port := range []int{80, 443} {
		st, _ := srv.ClassicListenerOf(region, lb.elb, port)
		if !strings.HasSuffix(strings.Join(st.Policies, ","), policy) {
			t.Errorf("port %d policies %v", port, st.Policies)
		}
	}
	if st, _ := srv.ClassicListenerOf(region, lb.elb, 443); strings.Join(st.Policies, ",") != "tls12,"+policy {
		t.Errorf("port 443 policies %v: the SSL policy must stay", st.Policies)
	}
	for _, tg := range []string{lb.tg, api} {
		if a := srv.TargetGroupAttributes(region, tg); a["stickiness.type"] != "app_cookie" || a["stickiness.app_cookie.cookie_name"] != "JSESSIONID" {
			t.Errorf("target group %s: %v", tg, a)
		}
	}
	for _, want := range []string{"classic ELB web port 80: stickiness on cookie JSESSIONID set", "classic ELB web port 443: stickiness on cookie JSESSIONID set", api} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}

	srv.ResetCalls()
	r = certup(t, srv, args(set, "--json"))
	wantCode(t, r, 0)
	var out struct{ Stickiness []awsiam.StickinessResult }
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out.Stickiness) != 3 {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	for _, st := range out.Stickiness {
		if st.Changed || st.Cookie != "JSESSIONID" {
			t.Errorf("second run changed %+v", st)
		}
	}
	if srv.MutatingCalls() != 0 {
		t.Errorf("second run: %d changing calls\n%s", srv.MutatingCalls(), r)
	}

	r = certup(t, srv, "stickiness", "--elb", lb.elb+":80", "--listener", lb.listener, "--cookie", "-")
	wantCode(t, r, 0)
	if st, _ := srv.ClassicListenerOf(region, lb.elb, 80); len(st.Policies) != 0 {
		t.Errorf("port 80 after removal: %v", st.Policies)
	}
	if st, _ := srv.ClassicListenerOf(region, lb.elb, 443); strings.Join(st.Policies, ",") != "tls12,"+policy {
		t.Errorf("port 443 was not named and must keep its stickiness: %v", st.Policies)
	}
	if a := srv.TargetGroupAttributes(region, api); a["stickiness.enabled"] != "false" {
		t.Errorf("target group %s after removal: %v", api, a)
	}
	if !strings.Contains(r.stdout, "application-cookie stickiness removed") {
		t.Errorf("stdout = %s", r.stdout)
	}

	t.Run("usage", func(t *testing.T) {
		for _, a := range [][]string{
			{"stickiness", "--elb", lb.elb},
			{"stickiness", "--cookie", "JSESSIONID"},
			{"stickiness", "--elb", ":80", "--cookie", "JSESSIONID"},
			{"stickiness", "--listener", "nope", "--cookie", "JSESSIONID"},
		} {
			if r := certup(t, srv, a); r.code != 2 {
				t.Errorf("%v: %s", a, r)
			}
		}
		srv.ResetCalls()
		r := certup(t, srv, "stickiness", "--elb", lb.elb, "--cookie", "bad;name")
		wantRefused(t, srv, r, "cookie name")
	})
}
