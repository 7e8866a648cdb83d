package renew

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/route53"

	"github.com/keybridge/keybridge/keystore"
)

// Config is one renewal: the keystore alias to renew and its source, ACM
// (ACMCertificateARN) or an ACME CA (ACME); exactly one is set.
type Config struct {
	Keystore  string
	Alias     string
	Passwords keystore.Passwords

	ACMCertificateARN string
	ACME              *ACME

	// RenewWithin: renew when this much validity remains, where the CA offers
	// no renewal window (0: when a third of the lifetime remains).
	RenewWithin time.Duration
	// Every is how often renewals run (a timer's period; default DefaultEvery):
	// a renewal time inside the CA's window that comes before the next run
	// renews now. Negative: only once the time has come.
	Every time.Duration
	// Force renews whatever the dates say.
	Force bool
	// DryRun decides and reports, and writes nothing (ACME: no account is
	// registered, no account key made, no order placed).
	DryRun bool
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Truststore, when set, is a JKS, JCEKS or PKCS#12 truststore (WSO2's
	// client-truststore.jks or .p12) that must hold the alias's certificate and its
	// issuers as trusted entries; TruststorePass opens it.
	Truststore     string
	TruststorePass []byte
}

// DefaultEvery is the period of the daily timer contrib/systemd runs renew with.
const DefaultEvery = 24 * time.Hour

// Clients are the AWS clients a renewal uses: Route 53 for ACME's DNS-01,
// ACM for the ACM source.
type Clients struct {
	Route53 Route53API
	ACM     ACMExportAPI
}

// NewClients makes the clients from the same aws.Config as the rest of
// keybridge (awsiam.LoadAWSConfig), so an endpoint override reaches them too.
func NewClients(cfg aws.Config) Clients {
	return Clients{Route53: route53.NewFromConfig(cfg), ACM: acm.NewFromConfig(cfg)}
}

// Action is what a run did.
type Action string

// Actions.
const (
	// Renewed: the alias now holds the new certificate and key.
	Renewed Action = "renewed"
	// Unchanged: the source's certificate is the one the alias holds already.
	Unchanged Action = "unchanged"
	// NotDue: the current certificate is not due for renewal.
	NotDue Action = "not-due"
	// WouldRenew: a dry run found the certificate due (ACME) or a different
	// certificate at the source (ACM).
	WouldRenew Action = "would-renew"
)

// CertInfo describes a certificate in a Result.
type CertInfo struct {
	Subject  string    `json:"subject"`
	Issuer   string    `json:"issuer"`
	Serial   string    `json:"serial"`
	NotAfter time.Time `json:"not_after"`
	DNSNames []string  `json:"dns_names,omitempty"`
	SHA256   string    `json:"sha256"`
}

func certInfo(c *x509.Certificate) *CertInfo {
	if c == nil {
		return nil
	}
	return &CertInfo{Subject: c.Subject.String(), Issuer: c.Issuer.String(), Serial: c.SerialNumber.Text(16),
		NotAfter: c.NotAfter.UTC(), DNSNames: c.DNSNames, SHA256: keystore.Fingerprint(c)}
}

// Result is what a run did and why.
type Result struct {
	Keystore string    `json:"keystore"`
	Alias    string    `json:"alias"`
	Source   string    `json:"source"` // "acm" or "acme"
	Action   Action    `json:"action"`
	Reason   string    `json:"reason"`
	Domains  []string  `json:"domains,omitempty"`
	Previous *CertInfo `json:"previous"`
	New      *CertInfo `json:"new,omitempty"`
	// Chain is the new certificate's chain, leaf first (for a rotation); nil
	// unless Renewed.
	Chain []*x509.Certificate `json:"-"`
	// TruststoreAdded are the aliases added to the truststore.
	TruststoreAdded []string `json:"truststore_added,omitempty"`
}

// current is the alias as it stands.
type current struct {
	key   crypto.Signer
	chain []*x509.Certificate
}

// Check opens the keystore and the alias as a renewal will, and proves the
// keystore can be written back (the current entry merged in memory), without
// any call to a CA or AWS: wrong passwords, a missing alias, an alias without
// a private key and a format that cannot be written fail here.
func Check(cfg Config) error {
	_, err := inspect(cfg)
	return err
}

func inspect(cfg Config) (*current, error) {
	data, err := os.ReadFile(cfg.Keystore)
	if err != nil {
		return nil, fmt.Errorf("reading keystore: %w", err)
	}
	ks, err := keystore.Parse(data, cfg.Passwords.Store)
	if err != nil {
		return nil, fmt.Errorf("keystore %s: %w", cfg.Keystore, err)
	}
	var entry *keystore.Entry
	for _, e := range ks.Entries {
		if strings.EqualFold(e.Alias, cfg.Alias) {
			entry = e
		}
	}
	if entry == nil {
		return nil, fmt.Errorf("keystore %s: alias %q: %w", cfg.Keystore, cfg.Alias, keystore.ErrAliasNotFound)
	}
	if entry.Kind != keystore.PrivateKeyEntry || entry.Leaf() == nil {
		return nil, fmt.Errorf("keystore %s: alias %q is a %s: %w", cfg.Keystore, cfg.Alias, entry.Kind, ErrNotPrivateKey)
	}
	key, err := entry.PrivateKey(cfg.Passwords.KeyPass())
	if err != nil {
		return nil, fmt.Errorf("keystore %s: alias %q: %w", cfg.Keystore, cfg.Alias, err)
	}
	kp, err := keystore.NewKeyPair(entry.Alias, key, entry.Chain[0], entry.Chain[1:])
	if err != nil {
		return nil, fmt.Errorf("keystore %s: alias %q: %w", cfg.Keystore, cfg.Alias, err)
	}
	// The write path, tried in memory: the current entry merged into the file
	// must come out unchanged. A format or password the writer cannot handle
	// is refused here, before anything is asked of a CA.
	if _, _, err := keystore.MergeData(data, cfg.Passwords, kp, time.Now()); err != nil {
		return nil, fmt.Errorf("keystore %s cannot be written back: %w", cfg.Keystore, err)
	}
	if cfg.Truststore != "" {
		ts, err := os.ReadFile(cfg.Truststore)
		if err != nil {
			return nil, fmt.Errorf("reading %w: %w", ErrTruststore, err)
		}
		if _, _, err := keystore.AddTrustedData(ts, cfg.TruststorePass, nil, cfg.Alias, time.Now()); err != nil {
			return nil, fmt.Errorf("%w %s: %w", ErrTruststore, cfg.Truststore, err)
		}
	}
	return &current{key: key, chain: entry.Chain}, nil
}

// Run renews cfg.Alias in cfg.Keystore. The keystore is checked first (Check);
// on any error after that nothing is written and every challenge record made
// is removed.
func Run(ctx context.Context, cfg Config, clients Clients, log *slog.Logger) (Result, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	res := Result{Keystore: cfg.Keystore, Alias: cfg.Alias}
	if (cfg.ACMCertificateARN == "") == (cfg.ACME == nil) {
		return res, errors.New("renewal needs exactly one source: an ACM certificate ARN or an ACME directory")
	}
	cur, err := inspect(cfg)
	if err != nil {
		return res, err
	}
	res.Previous = certInfo(cur.chain[0])

	var key crypto.Signer
	var chain []*x509.Certificate
	if cfg.ACMCertificateARN != "" {
		res.Source = "acm"
		key, chain, err = exportACM(ctx, clients.ACM, cfg.ACMCertificateARN)
		if err != nil {
			return res, err
		}
		res.Domains = chain[0].DNSNames
		if bytes.Equal(chain[0].Raw, cur.chain[0].Raw) {
			res.Action, res.Reason = Unchanged, "the keystore already holds ACM's current certificate"
			return trust(cfg, cur.chain, res, log)
		}
		res.New = certInfo(chain[0])
		if cfg.DryRun {
			res.Action, res.Reason = WouldRenew, "ACM holds a different certificate"
			return res, nil
		}
		res.Reason = "ACM holds a different certificate"
	} else {
		res.Source = "acme"
		var decision Decision
		key, chain, decision, err = renewACME(ctx, cfg, cur, clients, now, log, &res)
		if err != nil {
			return res, err
		}
		res.Reason = decision.Reason
		if !decision.Due {
			res.Action = NotDue
			if cfg.DryRun {
				return res, nil
			}
			return trust(cfg, cur.chain, res, log)
		}
		if cfg.DryRun {
			res.Action = WouldRenew
			return res, nil
		}
		res.New = certInfo(chain[0])
	}
	changed, err := keystore.Merge(cfg.Keystore, cfg.Passwords, cfg.Alias, key, chain)
	if err != nil {
		return res, fmt.Errorf("writing the new certificate into %s: %w", cfg.Keystore, err)
	}
	if !changed {
		res.Action = Unchanged
		return trust(cfg, cur.chain, res, log)
	}
	res.Action, res.Chain = Renewed, chain
	log.Info("renewed", "keystore", cfg.Keystore, "alias", cfg.Alias, "serial", res.New.Serial, "not_after", res.New.NotAfter)
	return trust(cfg, chain, res, log)
}

// trust makes the truststore, if any, hold chain (the alias's certificate and
// its issuers). It runs whatever the keystore step did, so a truststore that
// failed once is brought up to date by the next run.
func trust(cfg Config, chain []*x509.Certificate, res Result, log *slog.Logger) (Result, error) {
	if cfg.Truststore == "" || cfg.DryRun {
		return res, nil
	}
	added, err := keystore.AddTrusted(cfg.Truststore, cfg.TruststorePass, chain, cfg.Alias)
	if err != nil {
		return res, fmt.Errorf("adding the certificate to the %w %s (the keystore is %s): %w", ErrTruststore, cfg.Truststore, res.Action, err)
	}
	res.TruststoreAdded = added
	if len(added) > 0 {
		log.Info("truststore updated", "truststore", cfg.Truststore, "aliases", strings.Join(added, ","))
	}
	return res, nil
}

// renewACME decides and, when due and not a dry run, orders the new certificate.
func renewACME(ctx context.Context, cfg Config, cur *current, clients Clients, now func() time.Time, log *slog.Logger, res *Result) (crypto.Signer, []*x509.Certificate, Decision, error) {
	a := cfg.ACME
	leaf := cur.chain[0]
	domains := a.Domains
	if len(domains) == 0 {
		domains = leaf.DNSNames
	}
	if len(domains) == 0 {
		return nil, nil, Decision{}, fmt.Errorf("alias %q: its certificate names no DNS names: %w", cfg.Alias, ErrNoDomains)
	}
	res.Domains = domains
	keyType := a.KeyType
	if keyType == KeyCurrent && !a.ReuseKey {
		var err error
		if keyType, err = keyTypeOf(cur.key.Public()); err != nil {
			return nil, nil, Decision{}, fmt.Errorf("alias %q: %w", cfg.Alias, err)
		}
	}
	if a.EABKeyID != "" && !hmacOK(a.EABHMAC) {
		return nil, nil, Decision{}, errors.New("the external account binding HMAC key is not base64url")
	}
	sess, err := newACMESession(ctx, *a, clients.Route53, log, cfg.DryRun)
	if err != nil {
		return nil, nil, Decision{}, err
	}
	window, certID := sess.renewalWindow(ctx, leaf, log)
	every := cfg.Every
	if every == 0 {
		every = DefaultEvery
	}
	decision := Due(now(), leaf.NotBefore, leaf.NotAfter, window, cfg.RenewWithin, every, cfg.Force)
	if !decision.Due || cfg.DryRun {
		return nil, nil, decision, nil
	}
	key := cur.key
	if !a.ReuseKey {
		if key, err = newKey(keyType); err != nil {
			return nil, nil, decision, err
		}
	}
	chain, err := sess.obtain(ctx, domains, key, certID)
	if err != nil {
		return nil, nil, decision, err
	}
	return key, chain, decision, nil
}
