package awsiam

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/keybridge/keybridge/keystore"
)

// Target is where a certificate is uploaded.
type Target int

const (
	// TargetIAM is IAM server certificates (classic ELB, ALB, NLB, CloudFront).
	TargetIAM Target = iota
	// TargetACM is AWS Certificate Manager (imported certificates).
	TargetACM
)

func (t Target) String() string {
	if t == TargetACM {
		return "acm"
	}
	return "iam"
}

// MaxKeyPEM is the largest PEM private key AWS accepts (ACM: 5 KiB).
const MaxKeyPEM = 5 * 1024

// ValidateOptions relax Validate.
type ValidateOptions struct {
	// AllowExpired accepts a certificate outside its validity window.
	AllowExpired bool
}

// Validate checks, without any AWS call, what the target would refuse or what
// would break TLS clients: the key matches the leaf, the leaf is valid at now,
// the chain leads from the leaf up in order, the key type and size are accepted
// (IAM: RSA 1024–4096, ECDSA P-256/P-384; ACM also P-521) and the PEM key is at
// most 5 KiB.
func Validate(kp *keystore.KeyPair, target Target, now time.Time, o ValidateOptions) error {
	if kp == nil || kp.Key == nil || kp.Leaf == nil {
		return fmt.Errorf("no key pair: %w", ErrKeyMismatch)
	}
	cn := subjectName(kp.Leaf)
	if !keystore.KeyMatchesCert(kp.Key, kp.Leaf) {
		return fmt.Errorf("certificate %q: %w", cn, ErrKeyMismatch)
	}
	if !o.AllowExpired {
		if now.After(kp.Leaf.NotAfter) {
			return fmt.Errorf("certificate %q expired on %s: %w", cn, kp.Leaf.NotAfter.UTC().Format(time.DateOnly), ErrExpired)
		}
		if now.Before(kp.Leaf.NotBefore) {
			return fmt.Errorf("certificate %q is not valid before %s: %w", cn, kp.Leaf.NotBefore.UTC().Format(time.RFC3339), ErrExpired)
		}
	}
	full := append([]*x509.Certificate{kp.Leaf}, kp.Chain...)
	if i := keystore.ChainOrdered(full); i >= 0 {
		return fmt.Errorf("certificate %d (%q) is not issued by certificate %d (%q): %w",
			i+1, subjectName(full[i]), i+2, subjectName(full[i+1]), ErrChainOrder)
	}
	if err := checkKeyType(kp.Leaf, target); err != nil {
		return fmt.Errorf("certificate %q: %w", cn, err)
	}
	keyPEM, err := kp.KeyPEM(keystore.KeyFormatDefault)
	if err != nil {
		return fmt.Errorf("encoding private key: %w", err)
	}
	n := len(keyPEM)
	clear(keyPEM)
	if n > MaxKeyPEM {
		return fmt.Errorf("PEM private key is %d bytes, more than the %d AWS accepts: %w", n, MaxKeyPEM, ErrKeyTooLarge)
	}
	return nil
}

func checkKeyType(leaf *x509.Certificate, target Target) error {
	switch k := leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < 1024 || bits > 4096 {
			return fmt.Errorf("RSA %d: %s takes RSA keys of 1024 to 4096 bits: %w", bits, target, ErrUnsupportedKey)
		}
		return nil
	case *ecdsa.PublicKey:
		switch bits := k.Curve.Params().BitSize; {
		case bits == 256 || bits == 384:
			return nil
		case bits == 521 && target == TargetACM:
			return nil
		case bits == 521:
			return fmt.Errorf("EC P-521: IAM takes EC keys on P-256 and P-384 only (ACM also takes P-521): %w", ErrACMOnlyKey)
		default:
			return fmt.Errorf("EC %s: %w", k.Curve.Params().Name, ErrUnsupportedKey)
		}
	}
	alg, _ := keystore.KeyDescription(leaf.PublicKey)
	return fmt.Errorf("%s keys: %s takes RSA and ECDSA keys only: %w", alg, target, ErrUnsupportedKey)
}

func subjectName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	if len(c.DNSNames) > 0 {
		return c.DNSNames[0]
	}
	return c.Subject.String()
}
