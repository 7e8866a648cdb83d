package awsiam

import (
	"crypto"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"strings"
	"testing"

	"github.com/keybridge/keybridge/internal/testkit"
)

func TestCheckIAMPath(t *testing.T) {
	for _, tt := range []struct {
		path string
		ok   bool
	}{
		{"", true},
		{"/", true},
		{"/cloudfront/", true},
		{"/a/b/c/", true},
		{"/!~\x7f/", true},
		{"/" + strings.Repeat("x", MaxIAMPathLen-2) + "/", true},
		{"/" + strings.Repeat("x", MaxIAMPathLen-1) + "/", false},
		{"/with space/", false},
		{"/caf\u00e9/", false},
		{"/nul\x00/", false},
		{"noslash", false},
		{"/open", false},
		{"close/", false},
		{"//", false},
	} {
		err := CheckIAMPath(tt.path)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidPath)) {
			t.Errorf("CheckIAMPath(%q) = %v, want ok %v", tt.path, err, tt.ok)
		}
	}
}

func leafNamed(cn string, sans ...string) *x509.Certificate {
	return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, DNSNames: sans}
}

func TestCheckListenerCertificate(t *testing.T) {
	classic := Listener{ELB: "web", Port: 443}
	alb := Listener{ARN: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/alb/1/2"}
	sni := Listener{ARN: alb.ARN, SNI: true}
	for _, tt := range []struct {
		name    string
		leaf    *x509.Certificate
		l       Listener
		refused bool
		warned  bool
	}{
		{"WSO2 default on an ALB", leafNamed("localhost", "localhost"), alb, true, false},
		{"WSO2 default as SNI", leafNamed("localhost"), sni, true, false},
		{"WSO2 default on a classic ELB", leafNamed("localhost"), classic, false, true},
		{"CN localhost, SAN a FQDN", leafNamed("localhost", "app.example.com"), alb, true, false},
		{"no CN, SAN a FQDN", leafNamed("", "app.example.com"), alb, false, false},
		{"nothing at all", leafNamed(""), alb, true, false},
		{"IP address", leafNamed("10.1.2.3"), alb, true, false},
		{"wildcard", leafNamed("*.example.com"), alb, false, false},
		{"FQDN on classic", leafNamed("app.example.com"), classic, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			warning, err := CheckListenerCertificate(tt.leaf, tt.l)
			if tt.refused != (err != nil) || (err != nil && !errors.Is(err, ErrNotFQDN)) {
				t.Errorf("err = %v, want refused %v", err, tt.refused)
			}
			if tt.warned != (warning != "") {
				t.Errorf("warning = %q, want one: %v", warning, tt.warned)
			}
			if err != nil && !strings.Contains(err.Error(), "UnsupportedCertificate") {
				t.Errorf("the error does not say what AWS would answer: %v", err)
			}
		})
	}
}

func TestCheckReimport(t *testing.T) {
	ec := func() crypto.Signer { return testkit.ECKey(t, elliptic.P256()) }
	ca := testkit.ECKey(t, elliptic.P256())
	caCert := testkit.SignCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, nil, ca, ca)
	issue := func(key crypto.Signer, ku x509.KeyUsage, eku ...x509.ExtKeyUsage) *x509.Certificate {
		return testkit.SignCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "app.example.com"}, DNSNames: []string{"app.example.com"},
			KeyUsage: ku, ExtKeyUsage: eku}, caCert, key, ca)
	}
	ds, ke := x509.KeyUsageDigitalSignature, x509.KeyUsageKeyEncipherment
	srv, cli := x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth
	rsa := testkit.RSAKey(t, 2048)
	for _, tt := range []struct {
		name      string
		old, next *x509.Certificate
		tags      []Tag
		want      string // "" when accepted, else a word of the error
	}{
		{"same shape", issue(ec(), ds, srv), issue(ec(), ds, srv), nil, ""},
		{"adds values", issue(ec(), ds, srv), issue(ec(), ds|x509.KeyUsageKeyAgreement, srv, x509.ExtKeyUsageCodeSigning), nil, ""},
		{"EC to RSA", issue(ec(), ds, srv), issue(rsa, ds, srv), nil, "RSA_2048"},
		{"P-256 to P-384", issue(ec(), ds, srv), issue(testkit.ECKey(t, elliptic.P384()), ds, srv), nil, "EC_secp384r1"},
		{"RSA 2048 to 4096", issue(rsa, ds|ke, srv), issue(testkit.RSAKey(t, 4096), ds|ke, srv), nil, "RSA_4096"},
		{"drops digitalSignature", issue(ec(), ds|ke, srv), issue(ec(), ke, srv), nil, "digitalSignature"},
		{"EC drops keyEncipherment", issue(ec(), ds|ke, srv), issue(ec(), ds, srv), nil, ""},
		{"RSA drops keyEncipherment", issue(rsa, ds|ke, srv), issue(rsa, ds, srv), nil, "keyEncipherment"},
		{"drops serverAuth", issue(ec(), ds, srv, cli), issue(ec(), ds, cli), nil, "serverAuth"},
		{"drops clientAuth", issue(ec(), ds, srv, cli), issue(ec(), ds, srv), nil, ""},
		{"adds key usage where none was", issue(ec(), 0), issue(ec(), ds), nil, "adds"},
		{"adds EKU where none was", issue(ec(), ds), issue(ec(), ds, srv), nil, "adds"},
		{"tags", issue(ec(), ds, srv), issue(ec(), ds, srv), []Tag{{Key: "a", Value: "b"}}, "tags"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckReimport(tt.old, tt.next, tt.tags)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (!errors.Is(err, ErrReimport) || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("err = %v, want ErrReimport naming %q", err, tt.want)
			}
		})
	}
}

func TestCheckSNIQuota(t *testing.T) {
	for _, tt := range []struct {
		current, adding int
		ok              bool
	}{
		{0, 1, true},
		{24, 1, true},
		{25, 0, true},
		{25, 1, false}, // --replaces adds before it removes: a full load balancer cannot rotate
		{20, 5, true},
		{20, 6, false},
		{30, 0, true},
	} {
		err := CheckSNIQuota("lb", tt.current, tt.adding)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrTooManyCertificates)) {
			t.Errorf("CheckSNIQuota(%d, %d) = %v, want ok %v", tt.current, tt.adding, err, tt.ok)
		}
	}
}

func TestLoadBalancerOf(t *testing.T) {
	for in, want := range map[string]string{
		"arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/alb/50dc6c495c0c9188/f2f7dc8efc522ab2": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/alb/50dc6c495c0c9188",
		"arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/net/nlb/1/2":                               "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/nlb/1",
	} {
		if got := loadBalancerOf(in); got != want {
			t.Errorf("loadBalancerOf(%s) = %s, want %s", in, got, want)
		}
	}
}
