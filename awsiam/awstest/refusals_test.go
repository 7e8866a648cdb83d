package awstest_test

import (
	"crypto"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keybridge/keybridge/awsiam/awstest"
)

// wantRefusal fails unless err is the AWS error code with the HTTP status.
func wantRefusal(t *testing.T, what string, err error, code string, status int) {
	t.Helper()
	var re *awshttp.ResponseError
	switch {
	case !isCode(err, code):
		t.Errorf("%s: %v, want %s", what, err, code)
	case !errors.As(err, &re) || re.HTTPStatusCode() != status:
		t.Errorf("%s: %v, want HTTP %d", what, err, status)
	}
}

// custom issues a leaf with the template's names and usages.
func (p *pki) custom(t *testing.T, tmpl *x509.Certificate, key crypto.Signer) material {
	t.Helper()
	if key == nil {
		key = ecKey(t, elliptic.P256())
	}
	leaf := sign(t, tmpl, p.inter, key, p.interKey, time.Now().Add(90*24*time.Hour))
	return material{cert: certPEM(leaf), key: keyPEM(t, key), chain: p.interPEM + p.rootPEM, leaf: leaf}
}

func TestListenersRefuseCertificatesWithoutFQDN(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	const region = "eu-west-1"
	c := sdkClients(srv, region, 1)
	p := newPKI(t)
	ctx := ctx(t)
	good := p.leaf(t, "app.example.com", nil)
	goodARN := uploadIAM(t, srv, "good", good)
	lbARN := srv.AddALB(region, "alb")
	lnARN := addListener(t, srv, region, lbARN, awstest.Listener{Protocol: "HTTPS", Port: 443, CertificateARN: goodARN})
	if err := srv.AddClassicELB(region, "classic", awstest.ClassicListener{Protocol: "HTTPS", Port: 443, InstancePort: 9443, CertificateARN: goodARN}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		tmpl *x509.Certificate
		ok   bool
	}{
		{"CN localhost (WSO2's default)", &x509.Certificate{Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"}}, false},
		{"CN localhost, SAN a FQDN", &x509.Certificate{Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"app.example.com"}}, false},
		{"no CN, SAN a FQDN", &x509.Certificate{DNSNames: []string{"app.example.com"}}, true},
		{"CN an IP address", &x509.Certificate{Subject: pkix.Name{CommonName: "10.0.0.1"}}, false},
		{"wildcard", &x509.Certificate{Subject: pkix.Name{CommonName: "*.example.com"}, DNSNames: []string{"*.example.com"}}, true},
		{"apex", &x509.Certificate{Subject: pkix.Name{CommonName: "example.com"}}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := p.custom(t, tt.tmpl, nil)
			iamARN := uploadIAM(t, srv, strings.NewReplacer(" ", "-", ",", "", "(", "", ")", "", "'", "").Replace(tt.name), m)
			acmARN, err := srv.ImportACMCertificate(region, m.cert, m.key, m.chain)
			if err != nil {
				t.Fatal(err)
			}
			for _, arn := range []string{iamARN, acmARN} {
				_, err := c.elbv2.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: aws.String(lnARN),
					Certificates: []elbv2types.Certificate{{CertificateArn: aws.String(arn)}}})
				_, err2 := c.elbv2.AddListenerCertificates(ctx, &elbv2.AddListenerCertificatesInput{ListenerArn: aws.String(lnARN),
					Certificates: []elbv2types.Certificate{{CertificateArn: aws.String(arn)}}})
				if tt.ok {
					if err != nil || err2 != nil {
						t.Errorf("%s: ModifyListener %v, AddListenerCertificates %v", arn, err, err2)
					}
					continue
				}
				wantRefusal(t, "ModifyListener", err, "UnsupportedCertificate", http.StatusBadRequest)
				wantRefusal(t, "AddListenerCertificates", err2, "UnsupportedCertificate", http.StatusBadRequest)
				if err != nil && !strings.Contains(err.Error(), "must have a fully-qualified domain name") {
					t.Errorf("message: %v", err)
				}
				if def, sni, _ := srv.ListenerCertificates(region, lnARN); def == arn || len(sni) > 0 && sni[len(sni)-1] == arn {
					t.Errorf("refused certificate was attached: default %s, SNI %v", def, sni)
				}
			}
			// Classic load balancers take it (their API documents no such error).
			if _, err := c.elb.SetLoadBalancerListenerSSLCertificate(ctx, &elb.SetLoadBalancerListenerSSLCertificateInput{
				LoadBalancerName: aws.String("classic"), LoadBalancerPort: 443, SSLCertificateId: aws.String(iamARN)}); err != nil {
				t.Errorf("classic: %v", err)
			}
		})
	}
}

func TestSNIQuotaIsPerLoadBalancer(t *testing.T) {
	srv := newServer(t, awstest.Options{MaxServerCertificates: 100})
	const region = "eu-west-1"
	c := sdkClients(srv, region, 1)
	p := newPKI(t)
	ctx := ctx(t)
	var arns []string
	for i := range awstest.MaxCertificatesPerLoadBalancer + 3 {
		m := p.leaf(t, fmt.Sprintf("site%d.example.com", i), nil)
		arn := uploadIAM(t, srv, fmt.Sprintf("site%d", i), m)
		arns = append(arns, arn)
	}
	lbARN := srv.AddALB(region, "alb")
	other := srv.AddALB(region, "other")
	var listeners []string
	for _, port := range []int{443, 8443} {
		ln := addListener(t, srv, region, lbARN, awstest.Listener{Protocol: "HTTPS", Port: port, CertificateARN: arns[0]})
		listeners = append(listeners, ln)
	}
	otherLn := addListener(t, srv, region, other, awstest.Listener{Protocol: "HTTPS", Port: 443, CertificateARN: arns[0]})
	add := func(ln, arn string) error {
		_, err := c.elbv2.AddListenerCertificates(ctx, &elbv2.AddListenerCertificatesInput{ListenerArn: aws.String(ln),
			Certificates: []elbv2types.Certificate{{CertificateArn: aws.String(arn)}}})
		return err
	}
	// 25 SNI certificates spread over both listeners: the default ones do not count.
	for i := range awstest.MaxCertificatesPerLoadBalancer {
		if err := add(listeners[i%2], arns[i+1]); err != nil {
			t.Fatalf("certificate %d: %v", i+1, err)
		}
	}
	if err := add(listeners[0], arns[1]); err != nil {
		t.Errorf("adding a certificate the listener has: %v", err)
	}
	for _, ln := range listeners {
		var tooMany *elbv2types.TooManyCertificatesException
		err := add(ln, arns[len(arns)-1])
		wantRefusal(t, "26th certificate", err, "TooManyCertificates", http.StatusBadRequest)
		if !errors.As(err, &tooMany) {
			t.Errorf("26th: %T, want TooManyCertificatesException", err)
		}
	}
	if err := add(otherLn, arns[len(arns)-1]); err != nil {
		t.Errorf("another load balancer has its own quota: %v", err)
	}
}

func TestACMReimportRules(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	const region = "eu-west-1"
	c := sdkClients(srv, region, 1)
	p := newPKI(t)
	ctx := ctx(t)
	base := func() *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: "app.example.com"}, DNSNames: []string{"app.example.com"},
			KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	}
	with := func(f func(*x509.Certificate)) *x509.Certificate { c := base(); f(c); return c }
	for _, tt := range []struct {
		name      string
		origKey   func() crypto.Signer
		next      *x509.Certificate
		nextKey   func() crypto.Signer
		tags      []acmtypes.Tag
		code      string
		wantError bool
	}{
		{name: "same shape, new domain", next: with(func(c *x509.Certificate) {
			c.Subject.CommonName, c.DNSNames = "new.example.com", []string{"new.example.com"}
		})},
		{name: "EC P-256 to RSA 2048", next: base(), nextKey: func() crypto.Signer { return rsaKey(t, 2048) }, code: "ValidationException"},
		{name: "RSA 2048 to RSA 3072", origKey: func() crypto.Signer { return rsaKey(t, 2048) }, next: base(),
			nextKey: func() crypto.Signer { return rsaKey(t, 3072) }, code: "ValidationException"},
		{name: "P-256 to P-384", next: base(), nextKey: func() crypto.Signer { return ecKey(t, elliptic.P384()) }, code: "ValidationException"},
		{name: "drops digitalSignature", next: with(func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageKeyEncipherment }), code: "ValidationException"},
		{name: "EC drops keyEncipherment (allowed)", next: with(func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageDigitalSignature })},
		{name: "RSA drops keyEncipherment", origKey: func() crypto.Signer { return rsaKey(t, 2048) },
			next: with(func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageDigitalSignature }), nextKey: func() crypto.Signer { return rsaKey(t, 2048) },
			code: "ValidationException"},
		{name: "drops serverAuth", next: with(func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth} }), code: "ValidationException"},
		{name: "drops clientAuth (allowed)", next: with(func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} })},
		{name: "adds codeSigning (allowed)", next: with(func(c *x509.Certificate) {
			c.ExtKeyUsage = append(c.ExtKeyUsage, x509.ExtKeyUsageCodeSigning)
		})},
		{name: "with tags", next: base(), tags: []acmtypes.Tag{{Key: aws.String("a"), Value: aws.String("b")}}, code: "InvalidParameterException"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var origKey crypto.Signer
			if tt.origKey != nil {
				origKey = tt.origKey()
			}
			orig := p.custom(t, base(), origKey)
			arn, err := srv.ImportACMCertificate(region, orig.cert, orig.key, orig.chain)
			if err != nil {
				t.Fatal(err)
			}
			nextKey := origKey
			if tt.nextKey != nil {
				nextKey = tt.nextKey()
			} else if nextKey == nil {
				nextKey = ecKey(t, elliptic.P256())
			}
			m := p.custom(t, tt.next, nextKey)
			_, err = c.acm.ImportCertificate(ctx, &acm.ImportCertificateInput{CertificateArn: aws.String(arn),
				Certificate: []byte(m.cert), PrivateKey: []byte(m.key), CertificateChain: []byte(m.chain), Tags: tt.tags})
			stored := srv.ACMCertificates(region)[len(srv.ACMCertificates(region))-1]
			if tt.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if stored.Body != strings.TrimSpace(m.cert) {
					t.Error("the new certificate is not stored")
				}
				return
			}
			wantRefusal(t, "re-import", err, tt.code, http.StatusBadRequest)
			if stored.Body != strings.TrimSpace(orig.cert) {
				t.Error("a refused re-import changed the certificate")
			}
		})
	}
}

func TestIAMPathCharacters(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	c := sdkClients(srv, "us-east-1", 1)
	p := newPKI(t)
	ctx := ctx(t)
	m := p.leaf(t, "www.example.com", nil)
	for i, tt := range []struct {
		path string
		ok   bool
	}{
		{"/", true},
		{"/cloudfront/", true},
		{"/a/b/", true},
		{"/tilde~and\x7f/", true}, // \u007F is inside the pattern
		{"/" + strings.Repeat("a", 510) + "/", true},
		{"/" + strings.Repeat("a", 511) + "/", false},
		{"/with space/", false},
		{"/caf\u00e9/", false},
		{"/tab\t/", false},
		{"nolead/", false},
		{"/notrail", false},
		{"//", false},
	} {
		_, err := c.iam.UploadServerCertificate(ctx, &iam.UploadServerCertificateInput{ServerCertificateName: aws.String(fmt.Sprintf("p%d", i)),
			Path: aws.String(tt.path), CertificateBody: aws.String(m.cert), PrivateKey: aws.String(m.key)})
		if tt.ok {
			if err != nil {
				t.Errorf("path %q: %v", tt.path, err)
			}
			continue
		}
		wantRefusal(t, fmt.Sprintf("path %q", tt.path), err, "ValidationError", http.StatusBadRequest)
	}
}

func TestClassicDefaultsAndConflicts(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	const region = "eu-west-1"
	c := sdkClients(srv, region, 1)
	p := newPKI(t)
	ctx := ctx(t)
	m := p.leaf(t, "www.example.com", nil)
	arn := uploadIAM(t, srv, "www", m)
	if _, err := c.elb.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{LoadBalancerName: aws.String("web"),
		Listeners: []elbtypes.Listener{
			{Protocol: aws.String("HTTP"), LoadBalancerPort: 80, InstancePort: aws.Int32(9763)},
			{Protocol: aws.String("HTTPS"), LoadBalancerPort: 443, InstancePort: aws.Int32(9443), SSLCertificateId: aws.String(arn)},
			{Protocol: aws.String("TCP"), LoadBalancerPort: 8080, InstancePort: aws.Int32(8080)},
		}}); err != nil {
		t.Fatal(err)
	}
	st, _ := srv.ClassicListenerOf(region, "web", 443)
	if strings.Join(st.Policies, ",") != awstest.DefaultClassicSSLPolicy {
		t.Errorf("HTTPS listener created without a policy has %v, want %s", st.Policies, awstest.DefaultClassicSSLPolicy)
	}
	typ, attrs, ok := srv.ClassicPolicy(region, "web", awstest.DefaultClassicSSLPolicy)
	if !ok || typ != "SSLNegotiationPolicyType" || attrs["Reference-Security-Policy"] != awstest.DefaultClassicSSLPolicy {
		t.Errorf("default policy: %v %s %v", ok, typ, attrs)
	}
	if st, _ := srv.ClassicListenerOf(region, "web", 80); len(st.Policies) != 0 {
		t.Errorf("HTTP listener policies = %v", st.Policies)
	}

	_, err := c.elb.SetLoadBalancerListenerSSLCertificate(ctx, &elb.SetLoadBalancerListenerSSLCertificateInput{
		LoadBalancerName: aws.String("web"), LoadBalancerPort: 80, SSLCertificateId: aws.String(arn)})
	wantRefusal(t, "certificate on HTTP", err, "InvalidConfigurationRequest", http.StatusConflict)

	if _, err := c.elb.CreateAppCookieStickinessPolicy(ctx, &elb.CreateAppCookieStickinessPolicyInput{LoadBalancerName: aws.String("web"),
		PolicyName: aws.String("sticky"), CookieName: aws.String("JSESSIONID")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.elb.SetLoadBalancerPoliciesOfListener(ctx, &elb.SetLoadBalancerPoliciesOfListenerInput{LoadBalancerName: aws.String("web"),
		LoadBalancerPort: 8080, PolicyNames: []string{"sticky"}})
	wantRefusal(t, "stickiness on TCP", err, "InvalidConfigurationRequest", http.StatusConflict)
	if _, err := c.elb.SetLoadBalancerPoliciesOfListener(ctx, &elb.SetLoadBalancerPoliciesOfListenerInput{LoadBalancerName: aws.String("web"),
		LoadBalancerPort: 80, PolicyNames: []string{"sticky"}}); err != nil {
		t.Errorf("stickiness on HTTP: %v", err)
	}
	_, err = c.elb.DeleteLoadBalancerPolicy(ctx, &elb.DeleteLoadBalancerPolicyInput{LoadBalancerName: aws.String("web"), PolicyName: aws.String("sticky")})
	wantRefusal(t, "deleting a policy in use", err, "InvalidConfigurationRequest", http.StatusConflict)
}

func TestDescribeRules(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	const region = "eu-west-1"
	c := sdkClients(srv, region, 1)
	ctx := ctx(t)
	lb := srv.AddALB(region, "alb")
	web := srv.AddTargetGroup(region, "web", "HTTP", 80)
	api := srv.AddTargetGroup(region, "api", "HTTP", 8080)
	ln := addListener(t, srv, region, lb, awstest.Listener{Protocol: "HTTP", Port: 80, TargetGroupARNs: []string{web}})
	ruleARN, err := srv.AddRule(region, ln, 10, []string{"api.example.com"}, api)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.elbv2.DescribeRules(ctx, &elbv2.DescribeRulesInput{ListenerArn: aws.String(ln)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Rules) != 2 {
		t.Fatalf("rules = %+v", out.Rules)
	}
	r0, def := out.Rules[0], out.Rules[1]
	if aws.ToString(r0.RuleArn) != ruleARN || aws.ToString(r0.Priority) != "10" || aws.ToBool(r0.IsDefault) ||
		aws.ToString(r0.Actions[0].TargetGroupArn) != api || r0.Conditions[0].HostHeaderConfig.Values[0] != "api.example.com" {
		t.Errorf("rule = %+v", r0)
	}
	if !aws.ToBool(def.IsDefault) || aws.ToString(def.Priority) != "default" || aws.ToString(def.Actions[0].TargetGroupArn) != web {
		t.Errorf("default rule = %+v", def)
	}
	var rnf *elbv2types.RuleNotFoundException
	if _, err := c.elbv2.DescribeRules(ctx, &elbv2.DescribeRulesInput{RuleArns: []string{ruleARN + "x"}}); !errors.As(err, &rnf) {
		t.Errorf("unknown rule: %v", err)
	}
}
