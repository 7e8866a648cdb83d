package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keybridge/keybridge/awsiam"
	"github.com/keybridge/keybridge/awsiam/awstest"
	"github.com/keybridge/keybridge/internal/testkit"
	"github.com/keybridge/keybridge/keystore"
)

const region = "eu-west-1"

var bin string // the built certup

func TestMain(m *testing.M) { testkit.BuildMain(m, "certup", &bin) }

// awsEnv is the whole environment certup runs with: only what the SDK needs,
// dummy static credentials, a region, empty config files and no instance
// metadata, so nothing real is ever reached. HOME and the empty file are in
// the directory of the built program, which BuildMain removes.
var awsEnv = sync.OnceValues(func() ([]string, error) {
	dir := filepath.Dir(bin)
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		return nil, err
	}
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"AWS_ACCESS_KEY_ID=AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY=dummy-secret-for-tests",
		"AWS_REGION=" + region,
		"AWS_CONFIG_FILE=" + empty,
		"AWS_SHARED_CREDENTIALS_FILE=" + empty,
		"AWS_EC2_METADATA_DISABLED=true",
	}, nil
})

// testEnv returns a copy of awsEnv, for a test to change.
func testEnv(t *testing.T) []string {
	t.Helper()
	env, err := awsEnv()
	if err != nil {
		t.Fatal(err)
	}
	return append([]string(nil), env...)
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// certup runs the built program against srv (nil: no endpoint flag).
func certup(t *testing.T, srv *awstest.Server, parts ...any) result {
	t.Helper()
	return certupWithEnv(t, testEnv(t), srv, parts...)
}

// certupWithEnv is certup with the environment env.
func certupWithEnv(t *testing.T, env []string, srv *awstest.Server, parts ...any) result {
	t.Helper()
	args := args(parts...)
	if srv != nil && len(args) > 0 {
		args = append([]string{args[0], "--endpoint-url", srv.URL(), "--max-backoff", "20ms"}, args[1:]...)
	}
	r := testkit.RunProgram(t, bin, env, args...)
	return result{stdout: r.Stdout, stderr: r.Stderr, code: r.Code}
}

func fixture(name string) string { return testkit.Testdata(name) }

// keystoreArgs returns the KEYSTORE argument and its password flag.
func keystoreArgs(name string) []string {
	base := strings.TrimSuffix(name, filepath.Ext(name))
	return []string{fixture(name), "--storepass-file", fixture(base + ".storepass")}
}

func args(parts ...any) []string {
	var out []string
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			out = append(out, v)
		case []string:
			out = append(out, v...)
		}
	}
	return out
}

func newServer(t *testing.T, opts awstest.Options) *awstest.Server {
	t.Helper()
	srv, err := awstest.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

type lbs struct {
	elb      string
	listener string
	tg       string
}

// seed makes a classic ELB "web" (HTTP 80, HTTPS 443 with an SSL negotiation
// policy) and an ALB HTTPS listener forwarding to an HTTPS target group.
func seed(t *testing.T, srv *awstest.Server) lbs {
	t.Helper()
	if err := srv.AddClassicELB(region, "web",
		awstest.ClassicListener{Protocol: "HTTP", Port: 80, InstancePort: 9763},
		awstest.ClassicListener{Protocol: "HTTPS", Port: 443, InstanceProtocol: "HTTPS", InstancePort: 9443}); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddClassicPolicy(region, "web", "tls12", "SSLNegotiationPolicyType",
		[2]string{"Reference-Security-Policy", "ELBSecurityPolicy-TLS-1-2-2017-01"}); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetClassicListenerPolicies(region, "web", 443, "tls12"); err != nil {
		t.Fatal(err)
	}
	kp := loadPair(t, "ec256.jks")
	key, _ := kp.KeyPEM(keystore.KeyFormatDefault)
	placeholder, err := srv.UploadServerCertificate("placeholder", "/", string(kp.CertPEM()), string(key), "")
	if err != nil {
		t.Fatal(err)
	}
	alb := srv.AddALB(region, "alb")
	tg := srv.AddTargetGroup(region, "carbon", "HTTPS", 9443)
	ln, err := srv.AddListener(region, alb, awstest.Listener{Protocol: "HTTPS", Port: 443, CertificateARN: placeholder, TargetGroupARNs: []string{tg}})
	if err != nil {
		t.Fatal(err)
	}
	return lbs{elb: "web", listener: ln, tg: tg}
}

func loadPair(t *testing.T, name string) *keystore.KeyPair {
	t.Helper()
	base := strings.TrimSuffix(name, filepath.Ext(name))
	kp, err := keystore.LoadKeyPair(fixture(name), "", testkit.Password(t, base+".storepass"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func wantCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("want exit %d, got %s", code, r)
	}
}

func TestUploadIAMWithChainPathAndTags(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	r := certup(t, srv, args("upload", keystoreArgs("chain.jks"), "--path", "/certup/", "--tag", "env=prod", "--tag", "team=web"))
	wantCode(t, r, 0)
	kp := loadPair(t, "chain.jks")
	name := awsiam.DefaultName(kp.Leaf, "")
	if want := "arn:aws:iam::123456789012:server-certificate/certup/" + name + "\n"; r.stdout != want {
		t.Errorf("stdout = %q, want %q", r.stdout, want)
	}
	certs := srv.ServerCertificates()
	if len(certs) != 1 {
		t.Fatalf("server certificates = %+v", certs)
	}
	c := certs[0]
	if c.Path != "/certup/" || c.Tags["env"] != "prod" || c.Tags["team"] != "web" || strings.Count(c.Chain, "BEGIN CERTIFICATE") != 2 {
		t.Errorf("stored: path %q tags %v chain has %d certificates", c.Path, c.Tags, strings.Count(c.Chain, "BEGIN CERTIFICATE"))
	}

	t.Run("again uploads nothing", func(t *testing.T) {
		srv.ResetCalls()
		r := certup(t, srv, args("upload", keystoreArgs("chain.jks"), "--path", "/certup/"))
		wantCode(t, r, 0)
		if srv.MutatingCalls() != 0 || !strings.Contains(r.stdout, name) {
			t.Errorf("mutating calls %d; %s", srv.MutatingCalls(), r)
		}
	})
	t.Run("name collision refused", func(t *testing.T) {
		r := certup(t, srv, args("upload", keystoreArgs("wso2carbon.jks"), "--name", name))
		wantCode(t, r, 1)
		if !strings.Contains(r.stderr, "certup: error:") || !strings.Contains(r.stderr, "different certificate") || !strings.Contains(r.stderr, "certup: hint:") {
			t.Errorf("stderr = %s", r.stderr)
		}
		if len(srv.ServerCertificates()) != 1 {
			t.Error("a certificate was uploaded")
		}
	})
	t.Run("json", func(t *testing.T) {
		r := certup(t, srv, args("upload", "--json", keystoreArgs("chain.jks"), "--path", "/certup/"))
		wantCode(t, r, 0)
		var got awsiam.UploadResult
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.Name != name || got.Uploaded {
			t.Errorf("json = %+v, %v; %s", got, err, r)
		}
	})
}

func TestACMImportAndReimport(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	r := certup(t, srv, args("upload", keystoreArgs("wso2carbon.jks"), "--acm", "--tag", "app=wso2"))
	wantCode(t, r, 0)
	arn := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(arn, "arn:aws:acm:"+region+":") {
		t.Fatalf("ARN = %q", arn)
	}
	// The same key type and no key usage extensions: ACM takes it in place.
	r = certup(t, srv, args("upload", keystoreArgs("rsa2048.jks"), "--acm", "--certificate-arn", arn))
	wantCode(t, r, 0)
	if strings.TrimSpace(r.stdout) != arn {
		t.Errorf("re-import printed %q, want the same ARN %q", r.stdout, arn)
	}
	certs := srv.ACMCertificates(region)
	if len(certs) != 1 || certs[0].ARN != arn || certs[0].Body != strings.TrimSpace(string(loadPair(t, "rsa2048.jks").CertPEM())) {
		t.Errorf("ACM holds %+v", certs)
	}
	if certs[0].Tags["app"] != "wso2" {
		t.Errorf("tags = %v", certs[0].Tags)
	}
	r = certup(t, srv, args("upload", keystoreArgs("chain.jks"), "--certificate-arn", arn))
	wantCode(t, r, 2)
}

func TestAttach(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	lb := seed(t, srv)
	r := certup(t, srv, args("upload", keystoreArgs("rsa2048.jks")))
	wantCode(t, r, 0)
	defARN := strings.TrimSpace(r.stdout)
	name := defARN[strings.LastIndex(defARN, "/")+1:]
	r = certup(t, srv, args("upload", keystoreArgs("rsa4096.jks")))
	wantCode(t, r, 0)
	sniARN := strings.TrimSpace(r.stdout)

	t.Run("classic ELB by name, default port 443", func(t *testing.T) {
		r := certup(t, srv, "attach", "--cert", name, "--elb", lb.elb)
		wantCode(t, r, 0)
		st, _ := srv.ClassicListenerOf(region, lb.elb, 443)
		if st.CertificateARN != defARN || !strings.Contains(r.stdout, "now serves") {
			t.Errorf("listener serves %q; %s", st.CertificateARN, r)
		}
	})
	t.Run("ALB default certificate", func(t *testing.T) {
		wantCode(t, certup(t, srv, "attach", "--cert", defARN, "--listener", lb.listener), 0)
	})
	t.Run("ALB SNI certificate", func(t *testing.T) {
		wantCode(t, certup(t, srv, "attach", "--cert", sniARN, "--listener", lb.listener, "--sni"), 0)
	})
	def, sni, _ := srv.ListenerCertificates(region, lb.listener)
	if def != defARN || len(sni) != 1 || sni[0] != sniARN {
		t.Errorf("ALB listener: default %s, SNI %v", def, sni)
	}
	t.Run("unknown certificate fails at once", func(t *testing.T) {
		r := certup(t, srv, "attach", "--cert", "no-such-cert", "--elb", lb.elb)
		wantCode(t, r, 1)
		if !strings.Contains(r.stderr, "not found") {
			t.Errorf("stderr = %s", r.stderr)
		}
	})
	t.Run("usage", func(t *testing.T) {
		for _, a := range [][]string{
			{"attach", "--cert", name},
			{"attach", "--cert", name, "--elb", "web", "--listener", lb.listener},
			{"attach", "--cert", name, "--elb", "web", "--sni"},
			{"attach", "--cert", name, "--elb", "web:http"},
			{"attach", "--cert", name, "--listener", "not-an-arn"},
			{"attach", "--nope"},
		} {
			r := certup(t, srv, a)
			if r.code != 2 || !strings.Contains(r.stderr, "certup: error:") {
				t.Errorf("%v: %s", a, r)
			}
		}
	})
}

func TestDeployStickinessAndRepeat(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	lb := seed(t, srv)
	deploy := args("deploy", keystoreArgs("rsa2048.jks"), "--elb", lb.elb, "--listener", lb.listener, "--stickiness-cookie", "JSESSIONID")
	r := certup(t, srv, deploy)
	wantCode(t, r, 0)

	policy := awsiam.StickinessPolicyName("JSESSIONID")
	typ, attrs, ok := srv.ClassicPolicy(region, lb.elb, policy)
	if !ok || typ != "AppCookieStickinessPolicyType" || attrs["CookieName"] != "JSESSIONID" {
		t.Errorf("classic policy %s: %v %s %v", policy, ok, typ, attrs)
	}
	st, _ := srv.ClassicListenerOf(region, lb.elb, 443)
	if strings.Join(st.Policies, ",") != "tls12,"+policy {
		t.Errorf("policies of 443 = %v, want the SSL policy kept and the stickiness policy bound", st.Policies)
	}
	tga := srv.TargetGroupAttributes(region, lb.tg)
	if tga["stickiness.enabled"] != "true" || tga["stickiness.type"] != "app_cookie" || tga["stickiness.app_cookie.cookie_name"] != "JSESSIONID" {
		t.Errorf("target group attributes = %v", tga)
	}
	arn := st.CertificateARN
	if def, _, _ := srv.ListenerCertificates(region, lb.listener); def != arn || arn == "" {
		t.Errorf("ALB serves %q, classic ELB %q", def, arn)
	}

	srv.ResetCalls()
	r = certup(t, srv, deploy)
	wantCode(t, r, 0)
	if srv.MutatingCalls() != 0 || srv.Calls("iam:UploadServerCertificate") != 0 {
		t.Errorf("repeated deploy: %d mutating calls (%v)", srv.MutatingCalls(), srv.CallLog())
	}
	if !strings.Contains(r.stdout, "already uploaded") {
		t.Errorf("stdout = %s", r.stdout)
	}

	t.Run("list", func(t *testing.T) {
		r := certup(t, srv, "list")
		wantCode(t, r, 0)
		if !strings.Contains(r.stdout, "web:443, alb:443") || !strings.Contains(r.stdout, "placeholder") {
			t.Errorf("list:\n%s", r.stdout)
		}
		r = certup(t, srv, "list", "--json")
		wantCode(t, r, 0)
		var certs []awsiam.CertificateInfo
		if err := json.Unmarshal([]byte(r.stdout), &certs); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, c := range certs {
			if c.ARN == arn {
				found = len(c.UsedBy) == 2 && c.DaysLeft > 365
			}
		}
		if !found {
			t.Errorf("list --json = %s", r.stdout)
		}
	})
	t.Run("usage", func(t *testing.T) {
		wantCode(t, certup(t, srv, args("deploy", keystoreArgs("wso2carbon.jks"))), 2)
		wantCode(t, certup(t, srv, "deploy", "--elb", "web"), 2)
	})
}

func TestDryRunMakesNoChange(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	lb := seed(t, srv)
	srv.ResetCalls()
	r := certup(t, srv, args("deploy", "--dry-run", keystoreArgs("rsa2048.jks"), "--elb", lb.elb, "--listener", lb.listener,
		"--stickiness-cookie", "JSESSIONID", "--tag", "env=prod"))
	wantCode(t, r, 0)
	if srv.MutatingCalls() != 0 {
		t.Errorf("dry run made %d mutating calls: %v", srv.MutatingCalls(), srv.CallLog())
	}
	for _, want := range []string{"would call iam UploadServerCertificate", "would call elb SetLoadBalancerListenerSSLCertificate",
		"would call elb CreateAppCookieStickinessPolicy", "would call elb SetLoadBalancerPoliciesOfListener",
		"would call elbv2 ModifyListener", "would call elbv2 ModifyTargetGroupAttributes"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "PRIVATE KEY") || len(srv.ServerCertificates()) != 1 {
		t.Errorf("dry run output or state wrong:\n%s", r.stdout)
	}
	// The ARN the upload would get is a placeholder no one can take for a real one.
	name := awsiam.DefaultName(loadPair(t, "rsa2048.jks").Leaf, "")
	if !strings.Contains(r.stdout, "SSLCertificateId=<new: arn of upload "+name+">") ||
		!strings.Contains(r.stdout, "CertificateArn=<new: arn of upload "+name+">") || strings.Contains(r.stdout, "000000000000") {
		t.Errorf("dry run placeholder:\n%s", r.stdout)
	}
	r = certup(t, srv, args("rotate", "--dry-run", keystoreArgs("wso2carbon.jks"), "--acm", "--tag", "Name=site", "--elb", lb.elb))
	if !strings.Contains(r.stdout, "SSLCertificateId=<new: arn of ACM import site>") {
		t.Errorf("rotate dry run placeholder: %s", r)
	}
	for _, a := range [][]string{
		args("upload", "--dry-run", keystoreArgs("chain.jks")),
		args("upload", "--dry-run", "--acm", keystoreArgs("chain.jks")),
		{"attach", "--dry-run", "--cert", "placeholder", "--elb", lb.elb},
	} {
		r := certup(t, srv, a)
		wantCode(t, r, 0)
		if !strings.Contains(r.stdout, "dry run: would call") {
			t.Errorf("%v: %s", a, r)
		}
	}
	if srv.MutatingCalls() != 0 {
		t.Errorf("dry runs made %d mutating calls", srv.MutatingCalls())
	}
}

func TestRefusedLocallyWithZeroAWSCalls(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"key does not match", args("upload", fixture("mismatch.pem"), "--storepass-env", "EMPTY_PASSWORD"), "match"},
		{"expired", args("upload", keystoreArgs("expired.jks")), "expired"},
		{"expired, deploy", args("deploy", keystoreArgs("expired.jks"), "--elb", "web"), "expired"},
		{"wrong password", args("upload", fixture("wso2carbon.jks"), "--storepass-file", fixture("chain.storepass")), "password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.ResetCalls()
			cmd := tt.args
			r := certupEnv(t, srv, []string{"EMPTY_PASSWORD="}, cmd)
			wantCode(t, r, 1)
			if !strings.Contains(strings.ToLower(r.stderr), tt.want) {
				t.Errorf("stderr lacks %q: %s", tt.want, r.stderr)
			}
			if n := srv.Calls("*"); n != 0 {
				t.Errorf("%d AWS calls, want 0: %v", n, srv.CallLog())
			}
		})
	}
	t.Run("expired with --allow-expired", func(t *testing.T) {
		wantCode(t, certup(t, srv, args("upload", "--allow-expired", keystoreArgs("expired.jks"))), 0)
	})
}

func certupEnv(t *testing.T, srv *awstest.Server, env []string, a []string) result {
	t.Helper()
	return certupWithEnv(t, append(testEnv(t), env...), srv, a)
}

func TestPropagationDelay(t *testing.T) {
	srv := newServer(t, awstest.Options{PropagationDelay: 2 * time.Second})
	lb := seed(t, srv)
	t.Run("absorbed by retries", func(t *testing.T) {
		r := certup(t, srv, args("deploy", keystoreArgs("wso2carbon.jks"), "--elb", lb.elb, "--wait", "30s"))
		wantCode(t, r, 0)
		if n := srv.Calls("elb:SetLoadBalancerListenerSSLCertificate"); n < 2 {
			t.Errorf("SetLoadBalancerListenerSSLCertificate called %d times, want retries", n)
		}
		if st, _ := srv.ClassicListenerOf(region, lb.elb, 443); !strings.Contains(st.CertificateARN, "server-certificate/localhost-") {
			t.Errorf("listener serves %q", st.CertificateARN)
		}
		// The same progress lines as rotate's, no log records.
		for _, want := range []string{
			"certup: " + region + " web:443: switching: to arn:aws:iam::",
			"certup: " + region + " web:443: waiting: the load balancer does not see the new certificate yet (attempt 1)\n",
			"certup: " + region + " web:443: confirmed\n",
		} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q: %s", want, r.stderr)
			}
		}
		if strings.Contains(r.stderr, "level=") {
			t.Errorf("log records among the progress lines: %s", r.stderr)
		}
	})
	t.Run("wait shorter than propagation", func(t *testing.T) {
		srv.SetPropagationDelay(time.Hour)
		r := certup(t, srv, args("deploy", keystoreArgs("rsa4096.jks"), "--listener", lb.listener, "--wait", "300ms"))
		wantCode(t, r, 11) // uploaded, not attached: partial
		if !strings.Contains(r.stderr, "propagation did not finish") || !strings.Contains(r.stderr, "--wait") {
			t.Errorf("stderr = %s", r.stderr)
		}
	})
}

func TestThrottlingRetried(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	lb := seed(t, srv)
	srv.Throttle("iam:UploadServerCertificate", 2)
	srv.Throttle("elb:SetLoadBalancerListenerSSLCertificate", 1)
	srv.Throttle("elb:DescribeLoadBalancers", 1)
	r := certup(t, srv, args("deploy", keystoreArgs("wso2carbon.jks"), "--elb", lb.elb))
	wantCode(t, r, 0)
	if srv.Calls("iam:UploadServerCertificate") != 3 || srv.Calls("elb:SetLoadBalancerListenerSSLCertificate") != 2 {
		t.Errorf("calls: %v", srv.CallLog())
	}
	t.Run("gives up after --max-attempts", func(t *testing.T) {
		remove := srv.Throttle("iam:ListServerCertificates", 0)
		defer remove()
		r := certup(t, srv, "list", "--max-attempts", "2")
		wantCode(t, r, 1)
		if !strings.Contains(r.stderr, "Throttling") || srv.Calls("iam:ListServerCertificates") != 2 {
			t.Errorf("%s; calls %d", r, srv.Calls("iam:ListServerCertificates"))
		}
	})
}

func TestCheck(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	lb := seed(t, srv)
	wantCode(t, certup(t, srv, args("deploy", keystoreArgs("rsa2048.jks"), "--elb", lb.elb, "--listener", lb.listener)), 0)
	kp := loadPair(t, "rsa2048.jks")
	name := awsiam.DefaultName(kp.Leaf, "")
	left := int(time.Until(kp.Leaf.NotAfter).Hours() / 24) // whole days of validity left
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"cert, enough days", []string{"--cert", name, "--days", fmt.Sprint(left - 1)}, 0},
		{"cert, too few days", []string{"--cert", name, "--days", fmt.Sprint(left + 2)}, 1},
		{"classic ELB, enough", []string{"--elb", lb.elb + ":443", "--days", "30"}, 0},
		{"classic ELB, too few", []string{"--elb", lb.elb, "--days", fmt.Sprint(left + 2)}, 1},
		{"ALB listener, enough", []string{"--listener", lb.listener}, 0},
		{"ALB listener, too few", []string{"--listener", lb.listener, "--days", fmt.Sprint(left + 2)}, 1},
		{"nothing to check", nil, 2},
		{"two things", []string{"--cert", name, "--elb", lb.elb}, 2},
		{"unknown certificate", []string{"--cert", "nope"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := certup(t, srv, "check", tt.args)
			wantCode(t, r, tt.code)
			switch tt.code {
			case 0:
				if !strings.Contains(r.stdout, "valid until") {
					t.Errorf("stdout = %q", r.stdout)
				}
			case 1:
				if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); !strings.HasPrefix(lines[0], "certup: error: ") {
					t.Errorf("stderr = %q", r.stderr)
				}
			}
		})
	}
	r := certup(t, srv, "check", "--json", "--cert", name, "--days", fmt.Sprint(left+2))
	wantCode(t, r, 1)
	var res awsiam.CheckResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.OK || res.Reason == "" {
		t.Errorf("check --json = %+v, %v", res, err)
	}
}

func TestDebugNeverShowsSecrets(t *testing.T) {
	srv := newServer(t, awstest.Options{PropagationDelay: 300 * time.Millisecond})
	lb := seed(t, srv)
	pass, err := os.ReadFile(fixture("wso2carbon.storepass"))
	if err != nil {
		t.Fatal(err)
	}
	password := strings.TrimSpace(string(pass))
	kp := loadPair(t, "wso2carbon.jks")
	keyPEM, _ := kp.KeyPEM(keystore.KeyFormatDefault)
	keyLine := strings.Split(string(keyPEM), "\n")[2] // a line of the key's base64
	for _, a := range [][]string{
		// WSO2's CN=localhost certificate goes on the classic listener only: an
		// ALB listener refuses it.
		args("deploy", "--debug", keystoreArgs("wso2carbon.jks"), "--elb", lb.elb, "--stickiness-cookie", "JSESSIONID"),
		args("deploy", "--debug", "--json", "--dry-run", keystoreArgs("wso2carbon.jks"), "--elb", lb.elb, "--acm"),
		args("upload", "--debug", "--acm", keystoreArgs("wso2carbon.jks")),
	} {
		r := certup(t, srv, a)
		wantCode(t, r, 0)
		all := r.stdout + r.stderr
		if !strings.Contains(r.stderr, "aws call") {
			t.Errorf("--debug logged no AWS call: %s", r.stderr)
		}
		for _, secret := range []string{"PRIVATE KEY", keyLine, "storepass=" + password, "password=" + password, "dummy-secret-for-tests"} {
			if strings.Contains(all, secret) {
				t.Errorf("%v: output contains %q", a, secret)
			}
		}
		// The password is also the alias and part of file names here; it must not
		// appear outside those.
		cleaned := strings.NewReplacer("wso2carbon.jks", "", "wso2carbon.storepass", "").Replace(all)
		if strings.Contains(cleaned, password) {
			t.Errorf("%v: output contains the password:\n%s", a, all)
		}
	}
}

func TestFlagsAfterKeystore(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	// As the usage shows: KEYSTORE first, flags after.
	r := certup(t, srv, "upload", fixture("chain.jks"), "--storepass-file", fixture("chain.storepass"), "--name", "after")
	wantCode(t, r, 0)
	if !strings.HasSuffix(strings.TrimSpace(r.stdout), "/after") {
		t.Errorf("stdout = %q", r.stdout)
	}
	wantCode(t, certup(t, srv, "upload", fixture("chain.jks"), fixture("chain.jks"), "--storepass-file", fixture("chain.storepass")), 2)
}

func TestNoRegion(t *testing.T) {
	var env []string
	for _, kv := range testEnv(t) {
		if !strings.HasPrefix(kv, "AWS_REGION=") {
			env = append(env, kv)
		}
	}
	r := certupWithEnv(t, env, nil, "list", "--endpoint-url", "http://127.0.0.1:9")
	wantCode(t, r, 1)
	if !strings.Contains(r.stderr, "region") || !strings.Contains(r.stderr, "certup: hint:") {
		t.Errorf("stderr = %s", r.stderr)
	}
}

func TestEndpointFromEnvironment(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	if _, err := srv.SeedDemo(region); err != nil {
		t.Fatal(err)
	}
	// No --endpoint-url: the SDK takes AWS_ENDPOINT_URL.
	r := certupEnv(t, nil, []string{"AWS_ENDPOINT_URL=" + srv.URL()}, []string{"list", "--json"})
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "awstest-placeholder") || srv.Calls("iam:ListServerCertificates") != 1 {
		t.Errorf("%s", r)
	}
}

func TestUnknownProfile(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	r := certup(t, srv, "list", "--profile", "no-such-profile")
	wantCode(t, r, 1)
	if !strings.Contains(r.stderr, "no-such-profile") || srv.Calls("*") != 0 {
		t.Errorf("%s", r)
	}
}

func TestUsageExitCodes(t *testing.T) {
	for _, a := range [][]string{
		{},
		{"bogus"},
		{"upload"},
		{"upload", "--name", "a", "--name-prefix", "b", fixture("chain.jks")},
		{"upload", "--acm", "--path", "/x/", fixture("chain.jks")},
		{"upload", "--tag", "novalue", fixture("chain.jks")},
		{"list", "extra"},
		{"check", "--cert", "x", "--days", "-1"},
	} {
		r := certup(t, nil, a)
		if r.code != 2 {
			t.Errorf("%v: %s", a, r)
		}
	}
	if r := certup(t, nil, "--help"); r.code != 0 || !strings.Contains(r.stdout, "certup deploy KEYSTORE") {
		t.Errorf("--help: %s", r)
	}
}
