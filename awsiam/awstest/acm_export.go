package awstest

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// ACM-issued (AMAZON_ISSUED) certificates: RequestCertificate with
// Options.Export ENABLED makes an exportable public certificate
// (ACM API Reference: RequestCertificate, CertificateOptions); it is
// PENDING_VALIDATION until issued (at once, after SetACMIssueDelay, or never
// when the delay is negative), then ISSUED, signed by the endpoint's own CA.
// ExportCertificate returns the certificate, its chain and the private key as
// passphrase-encrypted PKCS#8 (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC), the
// passphrase 4-128 ASCII characters other than #, $ and % (ACM API Reference:
// ExportCertificate). It refuses an imported certificate or one requested
// without export (ValidationException) and one not issued yet
// (RequestInProgressException, "The certificate request is in process and the
// certificate in your account has not yet been issued.").

// acmIssued is what ACM keeps of a certificate it issued.
type acmIssued struct {
	domains    []string
	keyAlg     string // RSA_2048, EC_prime256v1, EC_secp384r1
	exportable bool
	requested  time.Time
	issueAt    time.Time // zero: never
	key        crypto.Signer
}

// acmCA is the endpoint's issuing CA (one per server, made on first use).
type acmCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func (s *Server) issuingCA() (*acmCA, error) {
	if s.acmCA != nil {
		return s.acmCA, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "awstest Amazon ECDSA 256 M0", Organization: []string{"awstest"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	s.acmCA = &acmCA{cert: cert, key: key}
	return s.acmCA, nil
}

// ACMIssuerPEM is the PEM certificate of the CA that signs the certificates
// the endpoint issues (what a truststore needs).
func (s *Server) ACMIssuerPEM() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ca, err := s.issuingCA()
	if err != nil {
		return "", err
	}
	return pemText([]*x509.Certificate{ca.cert}), nil
}

// issue signs a new key and certificate for c (ACM renewal: same ARN, new serial).
func (s *Server) issue(c *acmCert) error {
	ca, err := s.issuingCA()
	if err != nil {
		return err
	}
	var key crypto.Signer
	switch c.issued.keyAlg {
	case "EC_prime256v1":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EC_secp384r1":
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	default:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: c.issued.domains[0]},
		DNSNames:     c.issued.domains,
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(198 * 24 * time.Hour), // ACM's public certificates: 198 days
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if _, ok := key.(*rsa.PrivateKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	c.leaf = leaf
	c.body = strings.TrimSpace(pemText([]*x509.Certificate{leaf}))
	c.chain = strings.TrimSpace(pemText([]*x509.Certificate{ca.cert}))
	c.keyAlg = keyAlgorithm(leaf.PublicKey)
	c.issued.key = key
	return nil
}

// ready issues c if its time has come; it reports whether c is ISSUED.
func (s *Server) ready(c *acmCert) bool {
	if c.issued == nil || c.leaf != nil {
		return true
	}
	if c.issued.issueAt.IsZero() || !visible(c.issued.issueAt) {
		return false
	}
	return s.issue(c) == nil
}

func (c *acmCert) status() string {
	if c.leaf == nil {
		return "PENDING_VALIDATION"
	}
	return "ISSUED"
}

func (c *acmCert) certType() string {
	if c.issued != nil {
		return "AMAZON_ISSUED"
	}
	return "IMPORTED"
}

// RequestCertificate: DomainName required (at most 253 characters),
// SubjectAlternativeNames up to 100, KeyAlgorithm RSA_2048 (default),
// EC_prime256v1 or EC_secp384r1, Options.Export ENABLED or DISABLED (default),
// an IdempotencyToken repeated within an hour returns the same ARN. ACM API
// Reference: RequestCertificate.
func (s *Server) acmRequest(r *request) (any, *apiError) {
	var in struct {
		DomainName              string
		SubjectAlternativeNames []string
		ValidationMethod        string
		KeyAlgorithm            string
		IdempotencyToken        string
		Options                 struct{ Export string }
		Tags                    []acmTag
	}
	if e := decodeJSON(r, &in); e != nil {
		return nil, e
	}
	if in.DomainName == "" || len(in.DomainName) > 253 {
		return nil, badRequest("ValidationException", "1 validation error detected: Value at 'domainName' failed to satisfy constraint: Member must have length between 1 and 253")
	}
	if len(in.SubjectAlternativeNames) > 100 {
		return nil, badRequest("LimitExceededException", "a certificate can have at most 100 domain names")
	}
	switch in.KeyAlgorithm {
	case "":
		in.KeyAlgorithm = "RSA_2048"
	case "RSA_2048", "EC_prime256v1", "EC_secp384r1":
	default:
		return nil, badRequest("ValidationException", "1 validation error detected: Value '%s' at 'keyAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [RSA_2048, EC_prime256v1, EC_secp384r1]", in.KeyAlgorithm)
	}
	switch in.Options.Export {
	case "", "DISABLED", "ENABLED":
	default:
		return nil, badRequest("ValidationException", "1 validation error detected: Value '%s' at 'options.export' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]", in.Options.Export)
	}
	rs := s.region(r.region)
	now := time.Now()
	if in.IdempotencyToken != "" {
		if c := find(rs.acm, func(c *acmCert) bool {
			return c.issued != nil && c.token == in.IdempotencyToken && now.Sub(c.issued.requested) < time.Hour
		}); c != nil {
			return map[string]string{"CertificateArn": c.arn}, nil
		}
	}
	domains := []string{strings.ToLower(in.DomainName)}
	for _, d := range in.SubjectAlternativeNames {
		if d = strings.ToLower(d); !contains(domains, d) {
			domains = append(domains, d)
		}
	}
	c := s.newRequested(r.region, domains, in.KeyAlgorithm, in.Options.Export == "ENABLED")
	c.token = in.IdempotencyToken
	for _, t := range in.Tags {
		c.tags = append(c.tags, tag{t.Key, t.Value})
	}
	return map[string]string{"CertificateArn": c.arn}, nil
}

func (s *Server) acmExport(r *request) (any, *apiError) {
	var in struct {
		CertificateArn string
		Passphrase     []byte
	}
	if e := decodeJSON(r, &in); e != nil {
		return nil, e
	}
	c, e := s.acmLookup(r, in.CertificateArn)
	if e != nil {
		return nil, e
	}
	if len(in.Passphrase) < 4 || len(in.Passphrase) > 128 {
		return nil, badRequest("ValidationException", "1 validation error detected: Value at 'passphrase' failed to satisfy constraint: Member must have length between 4 and 128")
	}
	for _, b := range in.Passphrase {
		if b < 0x20 || b > 0x7e || b == '#' || b == '$' || b == '%' {
			return nil, badRequest("ValidationException", "The passphrase can contain any ASCII character except #, $, or %%.")
		}
	}
	if c.issued == nil {
		return nil, badRequest("ValidationException", "Certificate ARN: %s is not a private certificate or an exportable public certificate; imported certificates cannot be exported", c.arn)
	}
	if !c.issued.exportable {
		return nil, badRequest("ValidationException", "Certificate ARN: %s was not requested with export enabled", c.arn)
	}
	if !s.ready(c) {
		return nil, badRequest("RequestInProgressException", "Certificate ARN: %s. The certificate request is in process and the certificate in your account has not yet been issued.", c.arn)
	}
	keyPEM, err := encryptPKCS8(c.issued.key, in.Passphrase)
	if err != nil {
		return nil, errorf(500, "InternalServerException", "encrypting the private key: %v", err)
	}
	return map[string]string{
		"Certificate":      c.body + "\n",
		"CertificateChain": c.chain + "\n",
		"PrivateKey":       keyPEM,
	}, nil
}

// RenewACMCertificate makes ACM renew the certificate it issued under arn: a
// new key and certificate under the same ARN, as ACM's managed renewal does.
func (s *Server) RenewACMCertificate(region, arn string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.region(region).acmCert(arn)
	if c == nil || c.issued == nil {
		return fmt.Errorf("awstest: no certificate issued by ACM with ARN %s in %s", arn, region)
	}
	return s.issue(c)
}

// SetACMIssueDelay sets how long certificates requested from now on stay
// PENDING_VALIDATION; a negative delay: never issued.
func (s *Server) SetACMIssueDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acmIssueDelay = d
}

var (
	oidPBES2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
)

// encryptPKCS8 is key as an "ENCRYPTED PRIVATE KEY" PEM block (RFC 5958,
// PBES2 of RFC 8018), what `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes.
func encryptPKCS8(key crypto.Signer, passphrase []byte) (string, error) {
	plain, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	salt := make([]byte, 16)
	iv := make([]byte, aes.BlockSize)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	if _, err := rand.Read(iv); err != nil {
		return "", err
	}
	const iterations = 2048
	dk, err := pbkdf2.Key(sha256.New, string(passphrase), salt, iterations, 32)
	if err != nil {
		return "", err
	}
	block, err := aes.NewCipher(dk)
	if err != nil {
		return "", err
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	for range pad {
		plain = append(plain, byte(pad))
	}
	enc := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(enc, plain)

	type algo struct {
		Algorithm  asn1.ObjectIdentifier
		Parameters asn1.RawValue `asn1:"optional"`
	}
	type pbkdf2Params struct {
		Salt       []byte
		Iterations int
		PRF        pkix.AlgorithmIdentifier
	}
	kdf, err := asn1.Marshal(pbkdf2Params{Salt: salt, Iterations: iterations,
		PRF: pkix.AlgorithmIdentifier{Algorithm: oidHMACSHA256, Parameters: asn1.NullRawValue}})
	if err != nil {
		return "", err
	}
	ivDER, err := asn1.Marshal(iv)
	if err != nil {
		return "", err
	}
	params, err := asn1.Marshal(struct{ KDF, Cipher algo }{
		KDF:    algo{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: kdf}},
		Cipher: algo{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: ivDER}},
	})
	if err != nil {
		return "", err
	}
	der, err := asn1.Marshal(struct {
		Algorithm algo
		Data      []byte
	}{Algorithm: algo{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: params}}, Data: enc})
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der})), nil
}

// RequestACMCertificate requests a certificate for domains in region as
// RequestCertificate does (RSA 2048; exportable when export is true) and
// returns its ARN. It is issued at once unless SetACMIssueDelay says otherwise.
func (s *Server) RequestACMCertificate(region string, export bool, domains ...string) (string, error) {
	if len(domains) == 0 {
		return "", fmt.Errorf("awstest: no domain to request a certificate for")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newRequested(region, domains, "RSA_2048", export).arn, nil
}

// newRequested adds a certificate ACM was asked to issue, issued at once
// unless the issue delay says otherwise.
func (s *Server) newRequested(region string, domains []string, keyAlg string, export bool) *acmCert {
	now := time.Now()
	c := &acmCert{
		arn:       "arn:aws:acm:" + region + ":" + s.opts.AccountID + ":certificate/" + newRequestID(),
		imported:  now,
		visibleAt: now,
		keyAlg:    keyAlg,
		issued:    &acmIssued{domains: domains, keyAlg: keyAlg, exportable: export, requested: now},
	}
	if s.acmIssueDelay >= 0 {
		c.issued.issueAt = now.Add(s.acmIssueDelay)
	}
	rs := s.region(region)
	rs.acm = append(rs.acm, c)
	s.ready(c)
	return c
}
