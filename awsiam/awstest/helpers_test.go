package awstest_test

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"testing"
	"time"

	"github.com/keybridge/keybridge/internal/testkit"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/route53"

	"github.com/keybridge/keybridge/awsiam/awstest"
)

type clients struct {
	iam   *iam.Client
	acm   *acm.Client
	elb   *elb.Client
	elbv2 *elbv2.Client
	r53   *route53.Client
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

// uploadIAM uploads m with its chain to IAM under name, at path "/", and
// returns the certificate's ARN.
func uploadIAM(t *testing.T, srv *awstest.Server, name string, m material) string {
	t.Helper()
	arn, err := srv.UploadServerCertificate(name, "/", m.cert, m.key, m.chain)
	if err != nil {
		t.Fatal(err)
	}
	return arn
}

// addListener adds l to the load balancer lbARN in region and returns the
// listener's ARN.
func addListener(t *testing.T, srv *awstest.Server, region, lbARN string, l awstest.Listener) string {
	t.Helper()
	arn, err := srv.AddListener(region, lbARN, l)
	if err != nil {
		t.Fatal(err)
	}
	return arn
}

// sdkClients returns real SDK clients pointed at srv. maxAttempts 1 disables
// retries.
func sdkClients(srv *awstest.Server, region string, maxAttempts int) clients {
	cfg := aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		BaseEndpoint: aws.String(srv.URL()),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = maxAttempts
				o.MaxBackoff = 10 * time.Millisecond
			})
		},
	}
	return clients{
		iam:   iam.NewFromConfig(cfg),
		acm:   acm.NewFromConfig(cfg),
		elb:   elb.NewFromConfig(cfg),
		elbv2: elbv2.NewFromConfig(cfg),
		r53:   route53.NewFromConfig(cfg),
	}
}

type material struct {
	cert, key, chain string
	leaf             *x509.Certificate
}

type pki struct {
	root, inter       *x509.Certificate
	rootKey, interKey crypto.Signer
	rootPEM, interPEM string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{}
	p.rootKey = ecKey(t, elliptic.P256())
	p.root = sign(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Test Root"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, nil, p.rootKey, p.rootKey, time.Now().Add(10*365*24*time.Hour))
	p.interKey = ecKey(t, elliptic.P256())
	p.inter = sign(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Test Intermediate"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, p.root, p.interKey, p.rootKey, time.Now().Add(5*365*24*time.Hour))
	p.rootPEM, p.interPEM = certPEM(p.root), certPEM(p.inter)
	return p
}

func (p *pki) leaf(t *testing.T, cn string, key crypto.Signer) material {
	t.Helper()
	if key == nil {
		key = ecKey(t, elliptic.P256())
	}
	leaf := sign(t, &x509.Certificate{Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, p.inter, key, p.interKey, time.Now().Add(90*24*time.Hour))
	return material{cert: certPEM(leaf), key: keyPEM(t, key), chain: p.interPEM + p.rootPEM, leaf: leaf}
}

func ecKey(t *testing.T, curve elliptic.Curve) crypto.Signer { return testkit.ECKey(t, curve) }

func rsaKey(t *testing.T, bits int) crypto.Signer { return testkit.RSAKey(t, bits) }

func sign(t *testing.T, tmpl, parent *x509.Certificate, key, parentKey crypto.Signer, notAfter time.Time) *x509.Certificate {
	t.Helper()
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), notAfter
	return testkit.SignCert(t, tmpl, parent, key, parentKey)
}

func certPEM(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

func keyPEM(t *testing.T, k crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func elliptic521() elliptic.Curve { return elliptic.P521() }
