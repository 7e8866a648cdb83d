package awsiam_test

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"testing"
	"time"

	"github.com/keybridge/keybridge/internal/testkit"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/keybridge/keybridge/awsiam"
	"github.com/keybridge/keybridge/awsiam/awstest"
	"github.com/keybridge/keybridge/keystore"
)

const region = "eu-west-1"

type env struct {
	srv *awstest.Server
	svc *awsiam.Service
	log *syncBuffer
}

type syncBuffer = testkit.Buffer

func newEnv(t *testing.T, opts awstest.Options, svcOpts awsiam.Options) *env {
	t.Helper()
	srv, err := awstest.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	e := &env{srv: srv, log: &syncBuffer{}}
	e.svc = e.service(svcOpts)
	return e
}

// testConfig is an SDK configuration for region pointed at srv with dummy
// credentials and a standard retryer of maxAttempts, backing off at most maxBackoff.
func testConfig(srv *awstest.Server, region string, maxAttempts int, maxBackoff time.Duration) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "dummy", ""),
		BaseEndpoint: aws.String(srv.URL()),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = maxAttempts
				o.MaxBackoff = maxBackoff
			})
		},
	}
}

// debugLogger logs everything to w.
func debugLogger(w *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (e *env) service(o awsiam.Options) *awsiam.Service {
	cfg := testConfig(e.srv, region, 5, 20*time.Millisecond)
	if o.Logger == nil {
		o.Logger = debugLogger(e.log)
	}
	if o.Poll.Initial == 0 {
		o.Poll = awsiam.Backoff{Initial: 50 * time.Millisecond, Max: 200 * time.Millisecond, Factor: 2}
	}
	return awsiam.New(awsiam.NewClients(cfg), o)
}

type ca struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newCA(t *testing.T) *ca {
	t.Helper()
	key := ecKey(t, elliptic.P256())
	c := sign(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, nil, key, key, time.Now().Add(-time.Hour), time.Now().Add(10*365*24*time.Hour))
	return &ca{cert: c, key: key}
}

// pair issues a leaf for cn valid from notBefore to notAfter.
func (c *ca) pair(t *testing.T, cn string, key crypto.Signer, notBefore, notAfter time.Time) *keystore.KeyPair {
	t.Helper()
	if key == nil {
		key = ecKey(t, elliptic.P256())
	}
	leaf := sign(t, &x509.Certificate{Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, c.cert, key, c.key, notBefore, notAfter)
	return &keystore.KeyPair{Alias: "server", Key: key, Leaf: leaf, Chain: []*x509.Certificate{c.cert}}
}

func (c *ca) valid(t *testing.T, cn string) *keystore.KeyPair {
	return c.pair(t, cn, nil, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour))
}

func ecKey(t *testing.T, curve elliptic.Curve) crypto.Signer { return testkit.ECKey(t, curve) }

func rsaKey(t *testing.T, bits int) crypto.Signer { return testkit.RSAKey(t, bits) }

func sign(t *testing.T, tmpl, parent *x509.Certificate, key, parentKey crypto.Signer, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	tmpl.NotBefore, tmpl.NotAfter = notBefore, notAfter
	return testkit.SignCert(t, tmpl, parent, key, parentKey)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}
