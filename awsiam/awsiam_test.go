package awsiam_test

import (
	"context"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/keybridge/keybridge/awsiam"
	"github.com/keybridge/keybridge/awsiam/awstest"
	"github.com/keybridge/keybridge/keystore"
)

func TestValidate(t *testing.T) {
	c := newCA(t)
	other := newCA(t)
	now := time.Now()
	good := c.valid(t, "www.example.com")
	mismatch := &keystore.KeyPair{Key: ecKey(t, elliptic.P256()), Leaf: good.Leaf, Chain: good.Chain}
	expired := c.pair(t, "old.example.com", nil, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	future := c.pair(t, "new.example.com", nil, now.Add(24*time.Hour), now.Add(48*time.Hour))
	wrongChain := &keystore.KeyPair{Key: good.Key, Leaf: good.Leaf, Chain: []*x509.Certificate{other.cert}}
	p521 := c.pair(t, "p521.example.com", ecKey(t, elliptic.P521()), now.Add(-time.Hour), now.Add(time.Hour))
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ed := c.pair(t, "ed.example.com", edKey, now.Add(-time.Hour), now.Add(time.Hour))

	tests := []struct {
		name   string
		kp     *keystore.KeyPair
		target awsiam.Target
		opts   awsiam.ValidateOptions
		want   error
	}{
		{"valid IAM", good, awsiam.TargetIAM, awsiam.ValidateOptions{}, nil},
		{"valid ACM", good, awsiam.TargetACM, awsiam.ValidateOptions{}, nil},
		{"key mismatch", mismatch, awsiam.TargetIAM, awsiam.ValidateOptions{}, awsiam.ErrKeyMismatch},
		{"expired", expired, awsiam.TargetIAM, awsiam.ValidateOptions{}, awsiam.ErrExpired},
		{"expired allowed", expired, awsiam.TargetIAM, awsiam.ValidateOptions{AllowExpired: true}, nil},
		{"not yet valid", future, awsiam.TargetACM, awsiam.ValidateOptions{}, awsiam.ErrExpired},
		{"chain from another CA", wrongChain, awsiam.TargetIAM, awsiam.ValidateOptions{}, awsiam.ErrChainOrder},
		{"P-521 to IAM", p521, awsiam.TargetIAM, awsiam.ValidateOptions{}, awsiam.ErrUnsupportedKey},
		{"P-521 to ACM", p521, awsiam.TargetACM, awsiam.ValidateOptions{}, nil},
		{"Ed25519", ed, awsiam.TargetACM, awsiam.ValidateOptions{}, awsiam.ErrUnsupportedKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := awsiam.Validate(tt.kp, tt.target, now, tt.opts)
			if tt.want == nil && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("Validate = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDefaultName(t *testing.T) {
	c := newCA(t)
	now := time.Now()
	long := strings.Repeat("a", 200) + ".example.com"
	tests := []struct {
		cn, prefix, wantPrefix string
	}{
		{"www.example.com", "", "www.example.com-"},
		{"*.example.com", "", "wildcard.example.com-"},
		{"host name/with:odd", "", "host-name-with-odd-"},
		{"www.example.com", "wso2", "wso2-"},
		{long, "", "aaaa"},
	}
	re := regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	for _, tt := range tests {
		t.Run(tt.cn, func(t *testing.T) {
			kp := c.pair(t, tt.cn, nil, now.Add(-time.Hour), time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC))
			name := awsiam.DefaultName(kp.Leaf, tt.prefix)
			if !re.MatchString(name) {
				t.Fatalf("name %q is not an IAM name", name)
			}
			if !strings.HasPrefix(name, tt.wantPrefix) || !regexp.MustCompile(`-20310304-[0-9a-f]{12}$`).MatchString(name) {
				t.Errorf("name = %q", name)
			}
			if again := awsiam.DefaultName(kp.Leaf, tt.prefix); again != name {
				t.Errorf("not deterministic: %q then %q", name, again)
			}
			if err := awsiam.ValidName(name); err != nil {
				t.Error(err)
			}
		})
	}
	if err := awsiam.ValidName("bad name!"); !errors.Is(err, awsiam.ErrInvalidName) {
		t.Errorf("ValidName(bad) = %v", err)
	}
}

func TestUploadIAM(t *testing.T) {
	e := newEnv(t, awstest.Options{}, awsiam.Options{})
	c := newCA(t)
	kp := c.valid(t, "www.example.com")
	ctx := ctx(t)
	opts := awsiam.UploadOptions{Path: "/certup/", Tags: []awsiam.Tag{{Key: "env", Value: "prod"}}}
	res, err := e.svc.Upload(ctx, kp, opts)
	if err != nil {
		t.Fatal(err)
	}
	name := awsiam.DefaultName(kp.Leaf, "")
	if !res.Uploaded || res.Name != name || res.ARN != "arn:aws:iam::123456789012:server-certificate/certup/"+name {
		t.Errorf("result = %+v", res)
	}
	stored := e.srv.ServerCertificates()
	if len(stored) != 1 || stored[0].Tags["env"] != "prod" || !strings.Contains(stored[0].Chain, "BEGIN CERTIFICATE") {
		t.Errorf("stored = %+v", stored)
	}

	t.Run("same certificate again uploads nothing", func(t *testing.T) {
		e.srv.ResetCalls()
		again, err := e.svc.Upload(ctx, kp, opts)
		if err != nil {
			t.Fatal(err)
		}
		if again.Uploaded || again.ARN != res.ARN || e.srv.MutatingCalls() != 0 {
			t.Errorf("again = %+v, mutating calls %d", again, e.srv.MutatingCalls())
		}
	})
	t.Run("same name, other certificate", func(t *testing.T) {
		other := c.valid(t, "www.example.com")
		_, err := e.svc.Upload(ctx, other, awsiam.UploadOptions{Name: name})
		if !errors.Is(err, awsiam.ErrNameTaken) {
			t.Fatalf("err = %v, want ErrNameTaken", err)
		}
	})
	t.Run("invalid name", func(t *testing.T) {
		e.srv.ResetCalls()
		_, err := e.svc.Upload(ctx, kp, awsiam.UploadOptions{Name: "no spaces please"})
		if !errors.Is(err, awsiam.ErrInvalidName) || e.srv.Calls("*") != 0 {
			t.Fatalf("err = %v, calls %d", err, e.srv.Calls("*"))
		}
	})
	t.Run("refused locally with zero calls", func(t *testing.T) {
		e.srv.ResetCalls()
		bad := &keystore.KeyPair{Key: ecKey(t, elliptic.P256()), Leaf: kp.Leaf}
		if _, err := e.svc.Upload(ctx, bad, awsiam.UploadOptions{}); !errors.Is(err, awsiam.ErrKeyMismatch) {
			t.Fatalf("err = %v", err)
		}
		old := c.pair(t, "old.example.com", nil, time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour))
		if _, err := e.svc.Upload(ctx, old, awsiam.UploadOptions{}); !errors.Is(err, awsiam.ErrExpired) {
			t.Fatalf("err = %v", err)
		}
		if n := e.srv.Calls("*"); n != 0 {
			t.Errorf("AWS calls = %d, want 0", n)
		}
	})
	t.Run("throttling is retried", func(t *testing.T) {
		e.srv.Throttle("iam:UploadServerCertificate", 2)
		r, err := e.svc.Upload(ctx, c.valid(t, "throttled.example.com"), awsiam.UploadOptions{})
		if err != nil || !r.Uploaded {
			t.Fatalf("upload = %+v, %v", r, err)
		}
	})
	if strings.Contains(e.log.String(), "PRIVATE KEY") {
		t.Error("the log holds key material")
	}
}

func TestUploadACM(t *testing.T) {
	e := newEnv(t, awstest.Options{}, awsiam.Options{})
	c := newCA(t)
	ctx := ctx(t)
	kp := c.pair(t, "acm.example.com", ecKey(t, elliptic.P521()), time.Now().Add(-time.Hour), time.Now().Add(30*24*time.Hour))
	res, err := e.svc.Upload(ctx, kp, awsiam.UploadOptions{Target: awsiam.TargetACM, Tags: []awsiam.Tag{{Key: "team", Value: "web"}}})
	if err != nil {
		t.Fatal(err)
	}
	certs := e.srv.ACMCertificates(region)
	if len(certs) != 1 || certs[0].ARN != res.ARN || certs[0].Tags["Name"] != awsiam.DefaultName(kp.Leaf, "") || certs[0].Tags["team"] != "web" {
		t.Fatalf("ACM = %+v, result %+v", certs, res)
	}
	e.srv.ResetCalls()
	again, err := e.svc.Upload(ctx, kp, awsiam.UploadOptions{Target: awsiam.TargetACM})
	if err != nil || again.Uploaded || again.ARN != res.ARN || e.srv.MutatingCalls() != 0 {
		t.Fatalf("again = %+v, %v, mutating %d", again, err, e.srv.MutatingCalls())
	}
	renewed := c.pair(t, "acm.example.com", ecKey(t, elliptic.P521()), time.Now().Add(-time.Hour), time.Now().Add(60*24*time.Hour))
	re, err := e.svc.Upload(ctx, renewed, awsiam.UploadOptions{Target: awsiam.TargetACM, CertificateARN: res.ARN})
	if err != nil || !re.Reimported || re.ARN != res.ARN {
		t.Fatalf("re-import = %+v, %v", re, err)
	}
	if n := len(e.srv.ACMCertificates(region)); n != 1 {
		t.Errorf("%d ACM certificates after re-import, want 1", n)
	}
	_, err = e.svc.Upload(ctx, renewed, awsiam.UploadOptions{Target: awsiam.TargetACM,
		CertificateARN: "arn:aws:acm:" + region + ":123456789012:certificate/missing"})
	if !errors.Is(err, awsiam.ErrCertificateNotFound) {
		t.Errorf("re-import into a missing ARN: %v", err)
	}
}

func seedClassic(t *testing.T, srv *awstest.Server, certARN string) {
	t.Helper()
	if err := srv.AddClassicELB(region, "web", awstest.ClassicListener{Protocol: "HTTP", Port: 80, InstancePort: 9763},
		awstest.ClassicListener{Protocol: "HTTPS", Port: 443, InstancePort: 9443, CertificateARN: certARN}); err != nil {
		t.Fatal(err)
	}
}

func TestAttachWaitsForPropagation(t *testing.T) {
	e := newEnv(t, awstest.Options{PropagationDelay: time.Hour}, awsiam.Options{})
	c := newCA(t)
	ctx := ctx(t)
	seedClassic(t, e.srv, "")

	t.Run("absorbed", func(t *testing.T) {
		up, err := e.svc.Upload(ctx, c.valid(t, "a.example.com"), awsiam.UploadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Propagation finishes once the load balancer has refused the certificate.
		go func() {
			for i := 0; i < 1000 && e.srv.Calls("elb:SetLoadBalancerListenerSSLCertificate") == 0; i++ {
				time.Sleep(10 * time.Millisecond)
			}
			e.srv.Propagate()
		}()
		res, err := e.svc.Attach(ctx, up.ARN, awsiam.Listener{ELB: "web", Port: 443}, awsiam.AttachOptions{Wait: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Changed || !res.Confirmed || res.Attempts < 2 {
			t.Errorf("result = %+v, want a change confirmed after retries", res)
		}
		st, _ := e.srv.ClassicListenerOf(region, "web", 443)
		if st.CertificateARN != up.ARN {
			t.Errorf("listener serves %q", st.CertificateARN)
		}
	})
	t.Run("wait too short", func(t *testing.T) {
		up, err := e.svc.Upload(ctx, c.valid(t, "b.example.com"), awsiam.UploadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Attach(ctx, up.ARN, awsiam.Listener{ELB: "web", Port: 443}, awsiam.AttachOptions{Wait: 100 * time.Millisecond})
		if !errors.Is(err, awsiam.ErrPropagation) || !strings.Contains(err.Error(), "CertificateNotFound") {
			t.Fatalf("err = %v, want ErrPropagation", err)
		}
	})
	t.Run("unknown port and load balancer", func(t *testing.T) {
		if _, err := e.svc.Attach(ctx, "arn:x", awsiam.Listener{ELB: "web", Port: 8443}, awsiam.AttachOptions{}); !errors.Is(err, awsiam.ErrListenerNotFound) {
			t.Errorf("port: %v", err)
		}
		if _, err := e.svc.Attach(ctx, "arn:x", awsiam.Listener{ELB: "nope", Port: 443}, awsiam.AttachOptions{}); !errors.Is(err, awsiam.ErrListenerNotFound) {
			t.Errorf("load balancer: %v", err)
		}
		if _, err := e.svc.Attach(ctx, "arn:x", awsiam.Listener{ELB: "web", Port: 80}, awsiam.AttachOptions{}); err == nil || !strings.Contains(err.Error(), "HTTPS") {
			t.Errorf("HTTP listener: %v", err)
		}
	})
}

func seedALB(t *testing.T, srv *awstest.Server, tgProtocol string) (listenerARN, tgARN string) {
	t.Helper()
	lb := srv.AddALB(region, "alb")
	tgARN = srv.AddTargetGroup(region, "carbon", tgProtocol, 9443)
	placeholder := newCA(t).valid(t, "placeholder")
	pem, _ := placeholder.KeyPEM(keystore.KeyFormatDefault)
	arn, err := srv.UploadServerCertificate("placeholder", "/", string(placeholder.CertPEM()), string(pem), "")
	if err != nil {
		t.Fatal(err)
	}
	listenerARN, err = srv.AddListener(region, lb, awstest.Listener{Protocol: "HTTPS", Port: 443, CertificateARN: arn, TargetGroupARNs: []string{tgARN}})
	if err != nil {
		t.Fatal(err)
	}
	return listenerARN, tgARN
}

func TestAttachALB(t *testing.T) {
	e := newEnv(t, awstest.Options{}, awsiam.Options{})
	c := newCA(t)
	ctx := ctx(t)
	ln, _ := seedALB(t, e.srv, "HTTPS")
	def, err := e.svc.Upload(ctx, c.valid(t, "default.example.com"), awsiam.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sni, err := e.svc.Upload(ctx, c.valid(t, "sni.example.com"), awsiam.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Attach(ctx, def.ARN, awsiam.Listener{ARN: ln}, awsiam.AttachOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Attach(ctx, sni.ARN, awsiam.Listener{ARN: ln, SNI: true}, awsiam.AttachOptions{}); err != nil {
		t.Fatal(err)
	}
	d, s, _ := e.srv.ListenerCertificates(region, ln)
	if d != def.ARN || len(s) != 1 || s[0] != sni.ARN {
		t.Fatalf("listener: default %s, sni %v", d, s)
	}
	e.srv.ResetCalls()
	for _, l := range []awsiam.Listener{{ARN: ln}} {
		r, err := e.svc.Attach(ctx, def.ARN, l, awsiam.AttachOptions{})
		if err != nil || r.Changed {
			t.Errorf("again: %+v, %v", r, err)
		}
	}
	if r, err := e.svc.Attach(ctx, sni.ARN, awsiam.Listener{ARN: ln, SNI: true}, awsiam.AttachOptions{}); err != nil || r.Changed {
		t.Errorf("SNI again: %+v, %v", r, err)
	}
	if e.srv.MutatingCalls() != 0 {
		t.Errorf("mutating calls = %d, want 0", e.srv.MutatingCalls())
	}
	if _, err := e.svc.Attach(ctx, def.ARN, awsiam.Listener{ARN: ln + "0"}, awsiam.AttachOptions{}); !errors.Is(err, awsiam.ErrListenerNotFound) {
		t.Errorf("unknown listener: %v", err)
	}
}

func TestStickinessClassic(t *testing.T) {
	e := newEnv(t, awstest.Options{}, awsiam.Options{})
	ctx := ctx(t)
	seedClassic(t, e.srv, "")
	if err := e.srv.AddClassicPolicy(region, "web", "tls12", "SSLNegotiationPolicyType"); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.AddClassicPolicy(region, "web", "lbcookie", "LBCookieStickinessPolicyType"); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.SetClassicListenerPolicies(region, "web", 443, "tls12", "lbcookie"); err != nil {
		t.Fatal(err)
	}
	l := awsiam.Listener{ELB: "web", Port: 443}
	res, err := e.svc.SetStickiness(ctx, l, "JSESSIONID")
	if err != nil {
		t.Fatal(err)
	}
	st, _ := e.srv.ClassicListenerOf(region, "web", 443)
	if strings.Join(st.Policies, ",") != "tls12,"+res.Policy {
		t.Errorf("policies = %v: want the SSL policy kept and the LB-cookie policy replaced", st.Policies)
	}
	typ, attrs, ok := e.srv.ClassicPolicy(region, "web", res.Policy)
	if !ok || typ != "AppCookieStickinessPolicyType" || attrs["CookieName"] != "JSESSIONID" {
		t.Errorf("policy = %s %v", typ, attrs)
	}
	e.srv.ResetCalls()
	again, err := e.svc.SetStickiness(ctx, l, "JSESSIONID")
	if err != nil || again.Changed || e.srv.MutatingCalls() != 0 {
		t.Errorf("again = %+v, %v, mutating %d", again, err, e.srv.MutatingCalls())
	}
}

func TestStickinessALB(t *testing.T) {
	ctx := ctx(t)
	t.Run("ALB", func(t *testing.T) {
		e := newEnv(t, awstest.Options{}, awsiam.Options{})
		ln, tg := seedALB(t, e.srv, "HTTPS")
		res, err := e.svc.SetStickiness(ctx, awsiam.Listener{ARN: ln}, "JSESSIONID")
		if err != nil || !res.Changed || len(res.TargetGroups) != 1 {
			t.Fatalf("result = %+v, %v", res, err)
		}
		attrs := e.srv.TargetGroupAttributes(region, tg)
		if attrs["stickiness.enabled"] != "true" || attrs["stickiness.type"] != "app_cookie" || attrs["stickiness.app_cookie.cookie_name"] != "JSESSIONID" {
			t.Errorf("attributes = %v", attrs)
		}
		e.srv.ResetCalls()
		if again, err := e.svc.SetStickiness(ctx, awsiam.Listener{ARN: ln}, "JSESSIONID"); err != nil || again.Changed || e.srv.MutatingCalls() != 0 {
			t.Errorf("again = %+v, %v", again, err)
		}
	})
	t.Run("NLB target group refused", func(t *testing.T) {
		e := newEnv(t, awstest.Options{}, awsiam.Options{})
		ln, _ := seedALB(t, e.srv, "TCP")
		if _, err := e.svc.SetStickiness(ctx, awsiam.Listener{ARN: ln}, "JSESSIONID"); !errors.Is(err, awsiam.ErrStickiness) {
			t.Fatalf("err = %v, want ErrStickiness", err)
		}
	})
}

func TestDeployDryRunAndRepeat(t *testing.T) {
	e := newEnv(t, awstest.Options{PropagationDelay: 100 * time.Millisecond}, awsiam.Options{})
	c := newCA(t)
	ctx := ctx(t)
	seedClassic(t, e.srv, "")
	ln, _ := seedALB(t, e.srv, "HTTPS")
	kp := c.valid(t, "www.example.com")
	opts := awsiam.DeployOptions{
		Listeners:        []awsiam.Listener{{ELB: "web", Port: 443}, {ARN: ln}},
		Attach:           awsiam.AttachOptions{Wait: 5 * time.Second},
		StickinessCookie: "JSESSIONID",
	}
	dry := e.service(awsiam.Options{DryRun: true})
	e.srv.ResetCalls()
	res, err := dry.Deploy(ctx, kp, opts)
	if err != nil {
		t.Fatal(err)
	}
	if e.srv.MutatingCalls() != 0 || !res.Upload.DryRun {
		t.Fatalf("dry run: mutating calls %d, result %+v", e.srv.MutatingCalls(), res.Upload)
	}
	var ops []string
	for _, call := range dry.Planned() {
		ops = append(ops, call.Operation)
		if strings.Contains(call.String(), "PRIVATE KEY") {
			t.Errorf("planned call shows key material: %s", call)
		}
	}
	want := "UploadServerCertificate,SetLoadBalancerListenerSSLCertificate,CreateAppCookieStickinessPolicy,SetLoadBalancerPoliciesOfListener,ModifyListener,ModifyTargetGroupAttributes"
	if strings.Join(ops, ",") != want {
		t.Errorf("planned = %v\nwant      %s", ops, want)
	}

	if _, err := e.svc.Deploy(ctx, kp, opts); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetCalls()
	again, err := e.svc.Deploy(ctx, kp, opts)
	if err != nil {
		t.Fatal(err)
	}
	if e.srv.MutatingCalls() != 0 || again.Upload.Uploaded {
		t.Errorf("repeat: mutating calls %d, upload %+v", e.srv.MutatingCalls(), again.Upload)
	}
}

func TestListAndCheck(t *testing.T) {
	e := newEnv(t, awstest.Options{}, awsiam.Options{})
	c := newCA(t)
	ctx := ctx(t)
	now := time.Now()
	soon := c.pair(t, "soon.example.com", nil, now.Add(-time.Hour), now.Add(10*24*time.Hour+time.Hour))
	later := c.pair(t, "later.example.com", nil, now.Add(-time.Hour), now.Add(100*24*time.Hour+time.Hour))
	up1, err := e.svc.Upload(ctx, soon, awsiam.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	up2, err := e.svc.Upload(ctx, later, awsiam.UploadOptions{Path: "/other/"})
	if err != nil {
		t.Fatal(err)
	}
	seedClassic(t, e.srv, up1.ARN)
	list, err := e.svc.List(ctx, awsiam.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ARN != up1.ARN || list[0].DaysLeft != 10 || len(list[0].UsedBy) != 1 ||
		list[0].UsedBy[0].String() != "web:443" || len(list[1].UsedBy) != 0 {
		t.Fatalf("list = %+v", list)
	}
	if only, err := e.svc.List(ctx, awsiam.ListOptions{PathPrefix: "/other/"}); err != nil || len(only) != 1 || only[0].ARN != up2.ARN {
		t.Errorf("path prefix list = %+v, %v", only, err)
	}

	tests := []struct {
		name   string
		ref    string
		l      *awsiam.Listener
		days   int
		wantOK bool
	}{
		{"by name, enough days", up1.Name, nil, 5, true},
		{"by name, too few days", up1.Name, nil, 30, false},
		{"by ARN", up2.ARN, nil, 30, true},
		{"by classic listener", "", &awsiam.Listener{ELB: "web", Port: 443}, 30, false},
		{"by classic listener, enough", "", &awsiam.Listener{ELB: "web", Port: 443}, 9, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := e.svc.Check(ctx, tt.ref, tt.l, tt.days)
			if err != nil {
				t.Fatal(err)
			}
			if res.OK != tt.wantOK || res.Reason == "" {
				t.Errorf("check = %+v, want ok=%v", res, tt.wantOK)
			}
		})
	}
	if _, err := e.svc.Check(ctx, "missing", nil, 1); !errors.Is(err, awsiam.ErrCertificateNotFound) {
		t.Errorf("missing: %v", err)
	}
}

func TestDeployFailingMidwayConverges(t *testing.T) {
	e := newEnv(t, awstest.Options{}, awsiam.Options{})
	ctx := ctx(t)
	seedClassic(t, e.srv, "")
	ln, _ := seedALB(t, e.srv, "HTTPS")
	kp := newCA(t).valid(t, "www.example.com")
	opts := awsiam.DeployOptions{Listeners: []awsiam.Listener{{ELB: "web", Port: 443}, {ARN: ln}}, StickinessCookie: "JSESSIONID"}

	remove := e.srv.Inject(awstest.Fault{Op: "elbv2:ModifyListener", Code: "AccessDenied", Message: "not authorized"})
	res, err := e.svc.Deploy(ctx, kp, opts)
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("err = %v, want the injected AccessDenied", err)
	}
	if len(res.Attached) != 1 {
		t.Errorf("attached before the failure: %+v", res.Attached)
	}
	remove()
	e.srv.ResetCalls()
	if _, err := e.svc.Deploy(ctx, kp, opts); err != nil {
		t.Fatal(err)
	}
	// Only what was left: the ALB listener and its target group's stickiness.
	if got := e.srv.MutatingCalls(); got != 2 || e.srv.Calls("elbv2:ModifyListener") != 1 || e.srv.Calls("elbv2:ModifyTargetGroupAttributes") != 1 {
		t.Errorf("second run: %d mutating calls: %v", got, e.srv.CallLog())
	}
	if def, _, _ := e.srv.ListenerCertificates(region, ln); !strings.Contains(def, awsiam.DefaultName(kp.Leaf, "")) {
		t.Errorf("ALB serves %s", def)
	}
}

func TestAttachCancelledWhileWaiting(t *testing.T) {
	e := newEnv(t, awstest.Options{PropagationDelay: time.Hour}, awsiam.Options{})
	seedClassic(t, e.srv, "")
	up, err := e.svc.Upload(ctx(t), newCA(t).valid(t, "a.example.com"), awsiam.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = e.svc.Attach(c, up.ARN, awsiam.Listener{ELB: "web", Port: 443}, awsiam.AttachOptions{Wait: time.Hour})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
}

// staleV2 answers DescribeListenerCertificates with what the listener served
// before, as an eventually consistent API may.
type staleV2 struct {
	awsiam.ELBv2API
	def string
}

func (s staleV2) DescribeListenerCertificates(ctx context.Context, in *elbv2.DescribeListenerCertificatesInput, opt ...func(*elbv2.Options)) (*elbv2.DescribeListenerCertificatesOutput, error) {
	return &elbv2.DescribeListenerCertificatesOutput{Certificates: []elbv2types.Certificate{{CertificateArn: aws.String(s.def), IsDefault: aws.Bool(true)}}}, nil
}

func TestAttachNotConfirmed(t *testing.T) {
	e := newEnv(t, awstest.Options{}, awsiam.Options{})
	ctx := ctx(t)
	ln, _ := seedALB(t, e.srv, "HTTPS")
	def, _, _ := e.srv.ListenerCertificates(region, ln)
	up, err := e.svc.Upload(ctx, newCA(t).valid(t, "a.example.com"), awsiam.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "dummy", ""), BaseEndpoint: aws.String(e.srv.URL())}
	clients := awsiam.NewClients(cfg)
	clients.ELBv2 = staleV2{ELBv2API: clients.ELBv2, def: def}
	svc := awsiam.New(clients, awsiam.Options{Poll: awsiam.Backoff{Initial: 20 * time.Millisecond, Max: 50 * time.Millisecond, Factor: 2}})
	_, err = svc.Attach(ctx, up.ARN, awsiam.Listener{ARN: ln}, awsiam.AttachOptions{Wait: 200 * time.Millisecond})
	if !errors.Is(err, awsiam.ErrNotConfirmed) {
		t.Fatalf("err = %v, want ErrNotConfirmed", err)
	}
}
