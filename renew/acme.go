package renew

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/acme/api"
	"github.com/go-acme/lego/v5/certcrypto"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/go-acme/lego/v5/lego"
	legolog "github.com/go-acme/lego/v5/log"
	"github.com/go-acme/lego/v5/registration"

	"github.com/keybridge/keybridge/internal/safefile"
	"github.com/keybridge/keybridge/keystore"
)

// ACME configures the ACME source.
type ACME struct {
	// Directory is the CA's ACME directory URL.
	Directory string
	// Email is the account's contact, optional.
	Email string
	// EABKeyID and EABHMAC are the external account binding some CAs require
	// (the HMAC key as the CA gives it: base64url).
	EABKeyID string
	EABHMAC  []byte
	// CABundle is a PEM file of CA certificates trusted for the directory's
	// HTTPS, besides the system's.
	CABundle string
	// AccountKey is the account key file; default DefaultAccountKeyPath.
	AccountKey string
	// Domains to request; default the DNS names of the current certificate.
	Domains []string
	// Route53ZoneID fixes the hosted zone; default: the zone with the longest
	// name that holds the challenge name.
	Route53ZoneID string
	// Resolvers ("host:port") that must answer the challenge record before the
	// CA is asked to validate; default the system's.
	Resolvers []string
	// PropagationTimeout bounds the wait for Route 53 and the resolvers;
	// default 2 minutes.
	PropagationTimeout time.Duration
	// ReuseKey keeps the current private key; default a new key per renewal.
	ReuseKey bool
	// KeyType of the new key; default the current key's type.
	KeyType KeyType
}

// KeyType is the type of a new private key.
type KeyType string

// Key types.
const (
	KeyCurrent KeyType = ""
	RSA2048    KeyType = "rsa2048"
	RSA3072    KeyType = "rsa3072"
	RSA4096    KeyType = "rsa4096"
	EC256      KeyType = "ec256"
	EC384      KeyType = "ec384"
)

// ParseKeyType reads a key type name.
func ParseKeyType(s string) (KeyType, error) {
	switch k := KeyType(strings.ToLower(s)); k {
	case RSA2048, RSA3072, RSA4096, EC256, EC384:
		return k, nil
	}
	return "", fmt.Errorf("key type %q: want rsa2048, rsa3072, rsa4096, ec256 or ec384", s)
}

// keyTypeOf is the type of pub, for a new key of the same kind.
func keyTypeOf(pub crypto.PublicKey) (KeyType, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return EC256, nil
		case elliptic.P384():
			return EC384, nil
		}
	default:
		alg, bits := keystore.KeyDescription(pub)
		if alg == "RSA" {
			switch {
			case bits <= 2048:
				return RSA2048, nil
			case bits <= 3072:
				return RSA3072, nil
			default:
				return RSA4096, nil
			}
		}
	}
	alg, bits := keystore.KeyDescription(pub)
	return "", fmt.Errorf("current key is %s %d, which ACME CAs do not issue for", alg, bits)
}

func (k KeyType) lego() certcrypto.KeyType {
	return map[KeyType]certcrypto.KeyType{
		RSA2048: certcrypto.RSA2048, RSA3072: certcrypto.RSA3072, RSA4096: certcrypto.RSA4096,
		EC256: certcrypto.EC256, EC384: certcrypto.EC384,
	}[k]
}

// DefaultAccountKeyPath is where the account key for directory is kept:
// <user config dir>/keybridge/acme/<directory host>/account.key.
func DefaultAccountKeyPath(directory string) (string, error) {
	u, err := url.Parse(directory)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("ACME directory %q is not a URL", directory)
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the user's config directory for the ACME account key: %w", err)
	}
	host := strings.NewReplacer(":", "_", "/", "_").Replace(u.Host)
	return filepath.Join(dir, "keybridge", "acme", host, "account.key"), nil
}

// loadAccountKey reads the account key, or makes a P-256 one when the file
// does not exist: saved (0600, in a 0700 directory) unless ephemeral.
func loadAccountKey(path string, ephemeral bool) (crypto.Signer, bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil || ephemeral {
			return key, false, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, false, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, false, fmt.Errorf("account key %s: %w: %w", path, ErrAccountKey, err)
		}
		if err := safefile.Write(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, false, fmt.Errorf("account key %s: %w: %w", path, ErrAccountKey, err)
		}
		return key, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("account key %s: %w: %w", path, ErrAccountKey, err)
	}
	signer, err := certcrypto.ParsePEMPrivateKey(data)
	if err != nil {
		return nil, false, fmt.Errorf("account key %s: not a PEM private key: %w", path, ErrAccountKey)
	}
	return signer, false, nil
}

type acmeUser struct {
	email string
	key   crypto.Signer
	reg   *acme.ExtendedAccount
}

func (u *acmeUser) GetEmail() string                       { return u.email }
func (u *acmeUser) GetRegistration() *acme.ExtendedAccount { return u.reg }
func (u *acmeUser) GetPrivateKey() crypto.Signer           { return u.key }

// httpClient trusts the system's CAs plus those of bundle.
func httpClient(bundle string) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if bundle != "" {
		data, err := os.ReadFile(bundle)
		if err != nil {
			return nil, fmt.Errorf("reading the ACME CA bundle: %w", err)
		}
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("ACME CA bundle %s holds no PEM certificate", bundle)
		}
	}
	return &http.Client{
		Timeout: time.Minute,
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 15 * time.Second}).DialContext,
			TLSHandshakeTimeout: 15 * time.Second,
			TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		},
	}, nil
}

// acmeSession is a registered ACME client with its DNS-01 provider.
type acmeSession struct {
	client   *lego.Client
	provider *dnsProvider
}

// newACMESession reaches the directory, registers (or finds) the account and
// sets up DNS-01 through Route 53. A dry run (readOnly) only reaches the
// directory, for the renewal information, which is fetched without an account
// (RFC 9773 section 4.3: a GET): it registers nothing and writes no account key
// (a missing one is stood in for by a key made in memory and dropped).
func newACMESession(ctx context.Context, cfg ACME, r53 Route53API, log *slog.Logger, readOnly bool) (*acmeSession, error) {
	legolog.SetDefault(log) // lego logs through its package default, to stdout unless told
	keyPath := cfg.AccountKey
	if keyPath == "" {
		var err error
		if keyPath, err = DefaultAccountKeyPath(cfg.Directory); err != nil {
			return nil, err
		}
	}
	key, made, err := loadAccountKey(keyPath, readOnly)
	if err != nil {
		return nil, err
	}
	if made {
		log.Info("made a new ACME account key", "file", keyPath)
	}
	hc, err := httpClient(cfg.CABundle)
	if err != nil {
		return nil, err
	}
	user := &acmeUser{email: cfg.Email, key: key}
	lc := lego.NewConfig(user)
	lc.CADirURL = cfg.Directory
	lc.HTTPClient = hc
	lc.UserAgent = "keybridge-certup"
	client, err := lego.NewClient(lc)
	if err != nil {
		return nil, fmt.Errorf("ACME directory %s: %w", cfg.Directory, classify(err))
	}
	if readOnly {
		return &acmeSession{client: client}, nil
	}
	if cfg.EABKeyID != "" {
		user.reg, err = client.Registration.RegisterWithExternalAccountBinding(ctx, registration.RegisterEABOptions{
			TermsOfServiceAgreed: true, Kid: cfg.EABKeyID, HmacEncoded: strings.TrimSpace(string(cfg.EABHMAC)),
		})
	} else {
		user.reg, err = client.Registration.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true})
	}
	if err != nil {
		return nil, fmt.Errorf("ACME account at %s: %w", cfg.Directory, classify(err))
	}
	resolvers := cfg.Resolvers
	if len(resolvers) == 0 {
		if resolvers, err = systemResolvers(); err != nil {
			return nil, err
		}
	}
	// lego follows CNAMEs of _acme-challenge through its package-wide DNS
	// client: make it ask the same resolvers.
	dns01.SetDefaultClient(dns01.NewClient(&dns01.Options{RecursiveNameservers: resolvers, Timeout: 5 * time.Second}))
	timeout := cfg.PropagationTimeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	p := &dnsProvider{
		r53: r53, zoneID: cfg.Route53ZoneID, resolvers: resolvers,
		timeout: timeout, interval: min(2*time.Second, max(timeout/20, 100*time.Millisecond)), log: log,
		present: map[string][]string{}, zones: map[string]string{},
	}
	err = client.Challenge.SetDNS01Provider(p,
		dns01.WrapPreCheck(func(ctx context.Context, _, fqdn, value string, _ dns01.PreCheckFunc) (bool, error) {
			return p.visible(ctx, fqdn, value)
		}))
	if err != nil {
		return nil, err
	}
	return &acmeSession{client: client, provider: p}, nil
}

// renewalWindow asks the CA's ACME Renewal Information for cert; nil when the
// CA offers none or does not know the certificate.
func (s *acmeSession) renewalWindow(ctx context.Context, cert *x509.Certificate, log *slog.Logger) (*Window, string) {
	info, err := s.client.Certificate.GetRenewalInfo(ctx, cert)
	if err != nil {
		if !errors.Is(err, api.ErrNoARI) {
			log.Debug("no ACME renewal information for the current certificate", "error", err)
		}
		return nil, ""
	}
	id, _ := api.MakeARICertID(cert)
	w := &Window{Start: info.SuggestedWindow.Start, End: info.SuggestedWindow.End}
	w.At = PickTime(*w, cert.Raw)
	return w, id
}

// obtain orders a certificate for domains with key, answering DNS-01 in Route 53.
func (s *acmeSession) obtain(ctx context.Context, domains []string, key crypto.Signer, replaces string) (leaf []*x509.Certificate, err error) {
	defer func() {
		if cerr := s.provider.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("removing challenge records: %w", cerr))
		}
	}()
	res, err := s.client.Certificate.Obtain(ctx, certificate.ObtainRequest{
		Domains:        domains,
		PrivateKey:     key,
		Bundle:         true,
		ReplacesCertID: replaces,
	})
	if err != nil {
		return nil, fmt.Errorf("ordering a certificate for %s: %w", strings.Join(domains, ", "), classify(err))
	}
	certs, err := certcrypto.ParsePEMBundle(res.Certificate)
	if err != nil {
		return nil, fmt.Errorf("reading the certificate the CA issued: %w", err)
	}
	return certs, nil
}

// newKey makes a private key of type k.
func newKey(k KeyType) (crypto.Signer, error) {
	return certcrypto.GeneratePrivateKey(k.lego())
}

// classify wraps err with the sentinel of its cause: the CA unreachable, rate
// limited, refusing, or an order gone invalid. Challenge record errors keep
// their own sentinels.
func classify(err error) error {
	if err == nil {
		return nil
	}
	for _, own := range []error{ErrDNSNotVisible, ErrZoneNotFound, ErrUnauthorized, ErrRateLimited, ErrCAUnreachable, ErrOrderInvalid} {
		if errors.Is(err, own) {
			return err
		}
	}
	var rl *acme.RateLimitedError
	if errors.As(err, &rl) {
		e := &RateLimitError{Err: err}
		if rl.RetryAfter > 0 {
			e.RetryAt = time.Now().Add(rl.RetryAfter).Truncate(time.Second)
		}
		return e
	}
	var pd *acme.ProblemDetails
	if errors.As(err, &pd) && pd.Method == "" && pd.URL == "" {
		// A problem that came inside a challenge (not as the answer to a
		// request) is the CA's validation failing, whatever its type: Boulder
		// and Pebble say unauthorized for a TXT record they could not find.
		return fmt.Errorf("%w: %w", ErrOrderInvalid, err)
	}
	if errors.As(err, &pd) {
		switch strings.TrimPrefix(pd.Type, "urn:ietf:params:acme:error:") {
		case "rateLimited":
			return fmt.Errorf("%w: %w", ErrRateLimited, err)
		case "unauthorized", "rejectedIdentifier", "externalAccountRequired", "accountDoesNotExist", "caa", "userActionRequired":
			return fmt.Errorf("%w: %w", ErrUnauthorized, err)
		}
		return fmt.Errorf("%w: %w", ErrOrderInvalid, err)
	}
	var ne net.Error
	var ue *url.Error
	var oe *net.OpError
	if errors.As(err, &oe) || errors.As(err, &ue) || errors.As(err, &ne) {
		return fmt.Errorf("%w: %w", ErrCAUnreachable, err)
	}
	return err
}

// hmacOK reports whether an EAB HMAC key looks like base64url (what CAs hand out).
func hmacOK(b []byte) bool {
	_, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(string(b)), "="))
	return err == nil
}
