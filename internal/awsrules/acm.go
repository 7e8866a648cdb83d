package awsrules

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"slices"
)

// KeyAlgorithm names a public key as ACM's KeyAlgorithm does (RSA_2048,
// EC_prime256v1, EC_secp384r1, EC_secp521r1…).
func KeyAlgorithm(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA_%d", k.N.BitLen())
	case *ecdsa.PublicKey:
		switch k.Curve.Params().BitSize {
		case 256:
			return "EC_prime256v1"
		case 384:
			return "EC_secp384r1"
		case 521:
			return "EC_secp521r1"
		}
		return "EC_unknown"
	case ed25519.PublicKey:
		return "ED25519"
	}
	return "UNKNOWN"
}

// Conflict is why ACM refuses to re-import a certificate into an ARN.
type Conflict int

// The conflicts, in the order Reimport looks for them.
const (
	NoConflict         Conflict = iota
	KeyChanged                  // another key type or size
	NoDomain                    // no domain name left
	UsageAdded                  // a Key Usage or Extended Key Usage extension the original lacks
	KeyUsageDropped             // a Key Usage value of the original is missing
	ExtKeyUsageDropped          // an Extended Key Usage value of the original is missing
)

// Reimport decides whether ACM re-imports next into the ARN that holds old,
// and names what it drops (KeyUsageDropped, ExtKeyUsageDropped) or the two key
// algorithms (KeyChanged, old then new). The ACM User Guide ("Reimport a
// certificate") lists the conditions: the key type and size cannot be
// changed; Key Usage and Extended Key Usage values present in the original
// cannot be removed, except keyEncipherment from an ECDSA certificate and the
// Client Authentication EKU; not all domain names can be removed; and
// ("Prerequisites for importing ACM certificates") neither extension can be
// added when the original had none.
func Reimport(old, next *x509.Certificate) (Conflict, []string) {
	if a, b := KeyAlgorithm(old.PublicKey), KeyAlgorithm(next.PublicKey); a != b {
		return KeyChanged, []string{a, b}
	}
	if Of(next) == "" {
		return NoDomain, nil
	}
	if old.KeyUsage == 0 && next.KeyUsage != 0 || len(old.ExtKeyUsage) == 0 && len(next.ExtKeyUsage) > 0 {
		return UsageAdded, nil
	}
	dropped := old.KeyUsage &^ next.KeyUsage
	if _, ec := next.PublicKey.(*ecdsa.PublicKey); ec {
		dropped &^= x509.KeyUsageKeyEncipherment
	}
	if dropped != 0 {
		return KeyUsageDropped, keyUsageNames(dropped)
	}
	var lost []string
	for _, u := range old.ExtKeyUsage {
		if u != x509.ExtKeyUsageClientAuth && !slices.Contains(next.ExtKeyUsage, u) {
			lost = append(lost, extKeyUsageName(u))
		}
	}
	if len(lost) > 0 {
		return ExtKeyUsageDropped, lost
	}
	return NoConflict, nil
}

var keyUsageText = []struct {
	u    x509.KeyUsage
	name string
}{
	{x509.KeyUsageDigitalSignature, "digitalSignature"}, {x509.KeyUsageContentCommitment, "nonRepudiation"},
	{x509.KeyUsageKeyEncipherment, "keyEncipherment"}, {x509.KeyUsageDataEncipherment, "dataEncipherment"},
	{x509.KeyUsageKeyAgreement, "keyAgreement"}, {x509.KeyUsageCertSign, "keyCertSign"}, {x509.KeyUsageCRLSign, "cRLSign"},
	{x509.KeyUsageEncipherOnly, "encipherOnly"}, {x509.KeyUsageDecipherOnly, "decipherOnly"},
}

func keyUsageNames(u x509.KeyUsage) []string {
	var out []string
	for _, k := range keyUsageText {
		if u&k.u != 0 {
			out = append(out, k.name)
		}
	}
	return out
}

func extKeyUsageName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageServerAuth:
		return "serverAuth"
	case x509.ExtKeyUsageCodeSigning:
		return "codeSigning"
	case x509.ExtKeyUsageEmailProtection:
		return "emailProtection"
	case x509.ExtKeyUsageTimeStamping:
		return "timeStamping"
	case x509.ExtKeyUsageOCSPSigning:
		return "OCSPSigning"
	case x509.ExtKeyUsageAny:
		return "anyExtendedKeyUsage"
	}
	return fmt.Sprintf("extended key usage %d", u)
}
