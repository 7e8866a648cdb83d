package renew_test

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/keybridge/keybridge/awsiam/awstest"
	"github.com/keybridge/keybridge/internal/testkit"
	"github.com/keybridge/keybridge/keystore"
	"github.com/keybridge/keybridge/renew"
)

var storePass = []byte("changeit")

// env is awstest (Route 53 and its DNS) and Pebble validating through it.
type env struct {
	aws     *awstest.Server
	zoneID  string
	pebble  *testkit.Pebble
	clients renew.Clients
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv, err := awstest.New(awstest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	zone, err := srv.AddHostedZone("example.test")
	if err != nil {
		t.Fatal(err)
	}
	cfg := aws.Config{
		Region:       "eu-west-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		BaseEndpoint: aws.String(srv.URL()),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 1 })
		},
	}
	return &env{aws: srv, zoneID: zone, pebble: testkit.StartPebble(t, srv.DNSAddr(), testkit.PebbleConfig{}), clients: renew.NewClients(cfg)}
}

func (e *env) acme(t *testing.T) *renew.ACME {
	return &renew.ACME{
		Directory:          e.pebble.Directory,
		CABundle:           e.pebble.CABundle,
		AccountKey:         filepath.Join(t.TempDir(), "account.key"),
		Resolvers:          []string{e.aws.DNSAddr()},
		PropagationTimeout: 5 * time.Second,
	}
}

// selfSignedJKS writes a JKS with alias "server" holding a self-signed
// certificate for names, valid from notBefore to notAfter, plus a trusted entry.
func selfSignedJKS(t *testing.T, notBefore, notAfter time.Time, names ...string) (string, *x509.Certificate) {
	t.Helper()
	key := testkit.ECKey(t, elliptic.P256())
	cert := testkit.SignCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: notBefore, NotAfter: notAfter, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}, nil, key, key)
	kp, err := keystore.NewKeyPair("server", key, cert, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := keystore.EncodeJKS(kp, storePass, storePass, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "server.jks")
	if err := os.WriteFile(path, data, 0o640); err != nil {
		t.Fatal(err)
	}
	return path, cert
}

func aliasChain(t *testing.T, path, alias string) ([]*x509.Certificate, crypto.Signer) {
	t.Helper()
	ks, err := keystore.ReadFile(path, storePass)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ks.Entries {
		if strings.EqualFold(e.Alias, alias) {
			k, err := e.PrivateKey(storePass)
			if err != nil {
				t.Fatal(err)
			}
			return e.Chain, k
		}
	}
	t.Fatalf("no alias %q in %s", alias, path)
	return nil, nil
}

func TestACMEWithPebble(t *testing.T) {
	e := newEnv(t)
	// 100 days of 120 used: a third or less remains, so it is due.
	path, old := selfSignedJKS(t, time.Now().Add(-100*24*time.Hour), time.Now().Add(20*24*time.Hour), "www.example.test", "example.test")
	a := e.acme(t)
	cfg := renew.Config{Keystore: path, Alias: "server", Passwords: keystore.Passwords{Store: storePass}, ACME: a}
	ctx := context.Background()

	logBuf := &testkit.Buffer{}
	res, err := renew.Run(ctx, cfg, e.clients, slog.New(slog.NewTextHandler(logBuf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("renew: %v\nlog:\n%s\npebble:\n%s", err, logBuf.String(), e.pebble.Log())
	}
	if res.Action != renew.Renewed {
		t.Fatalf("action %s (%s), want renewed", res.Action, res.Reason)
	}
	chain, key := aliasChain(t, path, "server")
	leaf := chain[0]
	if leaf.Equal(old) || !strings.Contains(leaf.Issuer.CommonName, "Pebble") || len(chain) < 2 {
		t.Fatalf("alias holds %s issued by %s (chain %d), want a Pebble certificate with its issuer", leaf.Subject, leaf.Issuer, len(chain))
	}
	names := slices.Sorted(slices.Values(leaf.DNSNames))
	if !keystore.KeyMatchesCert(key, leaf) || strings.Join(names, ",") != "example.test,www.example.test" {
		t.Fatalf("key matches %v, names %v", keystore.KeyMatchesCert(key, leaf), leaf.DNSNames)
	}
	if _, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || old.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(key.Public()) {
		t.Fatal("the renewal kept the old key; a new one is the default")
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode after renewal: %v %v", fi.Mode(), err)
	}
	sets, _ := e.aws.RecordSets(e.zoneID)
	for _, s := range sets {
		if s.Type == "TXT" {
			t.Fatalf("challenge record left behind: %+v", s)
		}
	}

	// The CA's renewal window for a fresh certificate lies ahead: nothing to do.
	before, _ := os.ReadFile(path)
	calls := e.aws.Calls("route53:ChangeResourceRecordSets")
	res, err = renew.Run(ctx, cfg, e.clients, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != renew.NotDue || !strings.Contains(res.Reason, "renewal window") {
		t.Fatalf("re-run: %s (%s), want not-due by the CA's window", res.Action, res.Reason)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) || e.aws.Calls("route53:ChangeResourceRecordSets") != calls {
		t.Fatal("a re-run that was not due wrote the keystore or Route 53")
	}

	// The renewal time is a point inside the CA's window (RFC 9773 section 4.2),
	// the same on every run; a daily run renews on the last run before it.
	at := renewalTime(t, res.Reason)
	dry := cfg
	dry.DryRun = true
	for _, tc := range []struct {
		now  time.Time
		want renew.Action
	}{
		{at.Add(-25 * time.Hour), renew.NotDue},
		{at.Add(-23 * time.Hour), renew.WouldRenew},
		{at.Add(time.Minute), renew.WouldRenew},
	} {
		dry.Now = func() time.Time { return tc.now }
		res, err := renew.Run(ctx, dry, e.clients, nil)
		if err != nil || res.Action != tc.want {
			t.Fatalf("at %s: %s (%s) %v, want %s", tc.now, res.Action, res.Reason, err, tc.want)
		}
	}
	if res2, _ := renew.Run(ctx, cfg, e.clients, nil); renewalTime(t, res2.Reason) != at {
		t.Fatalf("the renewal time moved between runs: %s, then %s", res.Reason, res2.Reason)
	}
}

// renewalTime reads the renewal time out of a not-due reason ("renewing on
// 2027-02-05 13:04 UTC, inside the CA's renewal window ...").
func renewalTime(t *testing.T, reason string) time.Time {
	t.Helper()
	s, ok := strings.CutPrefix(reason, "renewing on ")
	if !ok || len(s) < len("2006-01-02 15:04 UTC") {
		t.Fatalf("no renewal time in %q", reason)
	}
	at, err := time.Parse("2006-01-02 15:04 UTC", s[:len("2006-01-02 15:04 UTC")])
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func TestACMEFaults(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		names  []string
		setup  func(a *renew.ACME) func()
		target error
	}{
		{"zone not found", []string{"www.nozone.test"}, nil, renew.ErrZoneNotFound},
		{"record never visible", []string{"slow.example.test"}, func(a *renew.ACME) func() {
			a.PropagationTimeout = 1500 * time.Millisecond
			e.aws.SetRoute53Delay(time.Hour)
			return func() { e.aws.SetRoute53Delay(0) }
		}, renew.ErrDNSNotVisible},
		{"resolver never answers it", []string{"hidden.example.test"}, func(a *renew.ACME) func() {
			// Route 53 is INSYNC at once, but the resolver asked is another
			// server, which knows no zone.
			other, err := awstest.New(awstest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			a.Resolvers = []string{other.DNSAddr()}
			a.PropagationTimeout = 1500 * time.Millisecond
			return other.Close
		}, renew.ErrDNSNotVisible},
		{"name the CA refuses", []string{testkit.PebbleBlockedDomain}, nil, renew.ErrUnauthorized},
		{"CA cannot validate", []string{"www.example.test"}, func(a *renew.ACME) func() {
			// certup sees the record, but this CA asks a DNS server that knows
			// no zone: the challenge, hence the order, ends invalid.
			blind, err := awstest.New(awstest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			p := testkit.StartPebble(t, blind.DNSAddr(), testkit.PebbleConfig{})
			a.Directory, a.CABundle = p.Directory, p.CABundle
			return blind.Close
		}, renew.ErrOrderInvalid},
		{"CA unreachable", []string{"www.example.test"}, func(a *renew.ACME) func() {
			a.Directory = "https://" + testkit.FreePort(t) + "/dir"
			return func() {}
		}, renew.ErrCAUnreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.names[0] == testkit.PebbleBlockedDomain {
				if _, err := e.aws.AddHostedZone(testkit.PebbleBlockedDomain); err != nil {
					t.Fatal(err)
				}
			}
			path, _ := selfSignedJKS(t, time.Now().Add(-100*24*time.Hour), time.Now().Add(20*24*time.Hour), tc.names...)
			before, _ := os.ReadFile(path)
			a := e.acme(t)
			if tc.setup != nil {
				defer tc.setup(a)()
			}
			_, err := renew.Run(ctx, renew.Config{Keystore: path, Alias: "server", Passwords: keystore.Passwords{Store: storePass}, ACME: a}, e.clients, nil)
			if !errors.Is(err, tc.target) {
				t.Fatalf("error %v, want %v", err, tc.target)
			}
			if after, _ := os.ReadFile(path); string(after) != string(before) {
				t.Fatal("keystore written after a failure")
			}
			sets, _ := e.aws.RecordSets(e.zoneID)
			for _, s := range sets {
				if s.Type == "TXT" {
					t.Fatalf("challenge record left behind: %+v", s)
				}
			}
		})
	}
}

func TestCheckBeforeAnyCall(t *testing.T) {
	path, _ := selfSignedJKS(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "www.example.test")
	for _, tc := range []struct {
		name   string
		cfg    renew.Config
		target error
	}{
		{"wrong store password", renew.Config{Keystore: path, Alias: "server", Passwords: keystore.Passwords{Store: []byte("nope")}}, keystore.ErrWrongPassword},
		{"unknown alias", renew.Config{Keystore: path, Alias: "other", Passwords: keystore.Passwords{Store: storePass}}, keystore.ErrAliasNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := renew.Check(tc.cfg); !errors.Is(err, tc.target) {
				t.Fatalf("Check: %v, want %v", err, tc.target)
			}
		})
	}
	pem := filepath.Join(t.TempDir(), "server.pem")
	chain, key := aliasChain(t, path, "server")
	kp, _ := keystore.NewKeyPair("server", key, chain[0], nil)
	k, _ := kp.KeyPEM(keystore.KeyFormatPKCS8)
	if err := os.WriteFile(pem, append(kp.CertPEM(), k...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := renew.Check(renew.Config{Keystore: pem, Alias: chainAlias(t, pem), Passwords: keystore.Passwords{Store: storePass}}); !errors.Is(err, keystore.ErrUnsupportedFormat) {
		t.Fatalf("PEM file: %v, want ErrUnsupportedFormat", err)
	}
}

func chainAlias(t *testing.T, path string) string {
	ks, err := keystore.ReadFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ks.Entries[0].Alias
}
