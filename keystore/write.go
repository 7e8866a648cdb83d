package keystore

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"time"
	"unicode/utf16"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// KeyFormat is how a private key is written as PEM.
type KeyFormat int

const (
	// KeyFormatDefault writes RSA keys as PKCS#1 ("BEGIN RSA PRIVATE KEY", what AWS
	// documents) and EC keys as SEC1 ("BEGIN EC PRIVATE KEY"); other keys as PKCS#8.
	KeyFormatDefault KeyFormat = iota
	// KeyFormatPKCS8 writes every key as PKCS#8 ("BEGIN PRIVATE KEY").
	KeyFormatPKCS8
)

// ParseKeyFormat reads "pkcs1" (also "sec1", "traditional") or "pkcs8".
func ParseKeyFormat(s string) (KeyFormat, error) {
	switch s {
	case "", "pkcs1", "sec1", "traditional":
		return KeyFormatDefault, nil
	case "pkcs8":
		return KeyFormatPKCS8, nil
	}
	return 0, fmt.Errorf("key format %q: want pkcs1 or pkcs8", s)
}

// EncodeKeyPEM writes key as one PEM block.
func EncodeKeyPEM(key crypto.Signer, f KeyFormat) ([]byte, error) {
	if f == KeyFormatDefault {
		switch k := key.(type) {
		case *rsa.PrivateKey:
			return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), nil
		case *ecdsa.PrivateKey:
			der, err := x509.MarshalECPrivateKey(k)
			if err != nil {
				return nil, err
			}
			return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
		}
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// EncodeCertsPEM writes certificates as PEM blocks with LF line endings.
func EncodeCertsPEM(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// KeyPEM returns the private key as PEM.
func (kp *KeyPair) KeyPEM(f KeyFormat) ([]byte, error) { return EncodeKeyPEM(kp.Key, f) }

// CertPEM returns the leaf certificate as PEM.
func (kp *KeyPair) CertPEM() []byte { return EncodeCertsPEM(kp.Leaf) }

// ChainPEM returns the issuers as PEM, leaf excluded, root last; empty when the leaf
// is self-signed or the file held no issuer.
func (kp *KeyPair) ChainPEM() []byte { return EncodeCertsPEM(kp.Chain...) }

// FullChainPEM returns the leaf followed by its issuers.
func (kp *KeyPair) FullChainPEM() []byte {
	return append(kp.CertPEM(), kp.ChainPEM()...)
}

// NewKeyPair checks that key matches leaf and orders chain (issuers, any order, extra
// certificates ignored) from the leaf up.
func NewKeyPair(alias string, key crypto.Signer, leaf *x509.Certificate, chain []*x509.Certificate) (*KeyPair, error) {
	if !KeyMatchesCert(key, leaf) {
		return nil, ErrKeyMismatch
	}
	built := BuildChain(leaf, chain)
	return &KeyPair{Alias: alias, Key: key, Leaf: leaf, Chain: built[1:]}, nil
}

// EncodeJKS writes kp as a one-entry JKS keystore, as keytool writes one: the alias in
// lower case (Java looks JKS aliases up in lower case), the key under Sun's
// KeyProtector with keyPass.
func EncodeJKS(kp *KeyPair, storePass, keyPass []byte, created time.Time) ([]byte, error) {
	return encodeNewSun(FormatJKS, kp, storePass, keyPass, created)
}

// EncodeJCEKS writes kp as a one-entry JCEKS keystore, the key under
// PBEWithMD5AndTripleDES with keyPass (printable ASCII only, as Java requires).
func EncodeJCEKS(kp *KeyPair, storePass, keyPass []byte, created time.Time) ([]byte, error) {
	return encodeNewSun(FormatJCEKS, kp, storePass, keyPass, created)
}

func encodeNewSun(format Format, kp *KeyPair, storePass, keyPass []byte, created time.Time) ([]byte, error) {
	entry, err := sunKeyEntry(format, 2, kp, keyPass, created)
	if err != nil {
		return nil, err
	}
	return encodeSun(format, 2, [][]byte{entry}, storePass), nil
}

// EncodePKCS12 writes kp as a PKCS#12 file as keytool 17 does (PBES2 AES-256,
// HMAC-SHA-256 MAC, 10,000 iterations) through go-pkcs12, then names the key bag
// with kp.Alias (friendlyName), which keytool shows as the alias.
func EncodePKCS12(kp *KeyPair, password []byte) ([]byte, error) {
	pfx, err := pkcs12.Modern2023.WithIterations(10000).WithRand(rand.Reader).Encode(kp.Key, kp.Leaf, kp.Chain, string(password))
	if err != nil {
		return nil, err
	}
	return nameKeyBag(pfx, kp.Alias, password)
}

// nameKeyBag adds a friendlyName to every key bag and certificate bag with a
// localKeyId (the unencrypted SafeContents go-pkcs12 writes the key into) and
// recomputes the MAC.
func nameKeyBag(pfxDER []byte, alias string, password []byte) ([]byte, error) {
	var pfx pfxPdu
	if _, err := asn1.Unmarshal(pfxDER, &pfx); err != nil {
		return nil, err
	}
	var authSafe []byte
	if _, err := asn1.Unmarshal(pfx.AuthSafe.Content.Bytes, &authSafe); err != nil {
		return nil, err
	}
	var infos []contentInfo
	if _, err := asn1.Unmarshal(authSafe, &infos); err != nil {
		return nil, err
	}
	name, err := friendlyNameAttr(alias)
	if err != nil {
		return nil, err
	}
	for i, ci := range infos {
		if !ci.ContentType.Equal(oidDataContentType) {
			continue
		}
		var contents []byte
		if _, err := asn1.Unmarshal(ci.Content.Bytes, &contents); err != nil {
			return nil, err
		}
		var bags []safeBag
		if _, err := asn1.Unmarshal(contents, &bags); err != nil {
			return nil, err
		}
		for j := range bags {
			if bags[j].ID.Equal(oidPKCS8ShroudedKeyBag) || bags[j].ID.Equal(oidKeyBag) {
				bags[j].Attributes = append([]pkcs12Attribute{name}, bags[j].Attributes...)
			}
		}
		if contents, err = asn1.Marshal(bags); err != nil {
			return nil, err
		}
		if infos[i].Content.Bytes, err = asn1.Marshal(contents); err != nil {
			return nil, err
		}
		infos[i].Content.FullBytes = nil
	}
	if authSafe, err = asn1.Marshal(infos); err != nil {
		return nil, err
	}
	if pfx.AuthSafe.Content.Bytes, err = asn1.Marshal(authSafe); err != nil {
		return nil, err
	}
	pfx.AuthSafe.Content.FullBytes = nil
	newHash := macHash(pfx.MacData.Mac.Algorithm.Algorithm)
	if newHash == nil {
		return nil, errorf(ErrUnsupportedAlgorithm, "MAC digest %v", pfx.MacData.Mac.Algorithm.Algorithm)
	}
	pfx.MacData.Mac.Digest = pkcs12MAC(newHash, bmpPassword(password), pfx.MacData.MacSalt, pfx.MacData.Iterations, authSafe)
	return asn1.Marshal(pfx)
}

func friendlyNameAttr(alias string) (pkcs12Attribute, error) {
	units := utf16.Encode([]rune(alias))
	b := make([]byte, 0, 2*len(units))
	for _, u := range units {
		b = append(b, byte(u>>8), byte(u))
	}
	val, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagBMPString, Bytes: b})
	if err != nil {
		return pkcs12Attribute{}, err
	}
	return pkcs12Attribute{ID: oidFriendlyName, Value: asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: val}}, nil
}

// AssembleKeyPair finds among certs the certificate that belongs to key and builds its
// chain from the others: how a key, a CA reply and an intermediate bundle given in any
// order become one key entry.
func AssembleKeyPair(alias string, key crypto.Signer, certs []*x509.Certificate) (*KeyPair, error) {
	for _, c := range certs {
		if KeyMatchesCert(key, c) {
			return NewKeyPair(alias, key, c, certs)
		}
	}
	return nil, errorf(ErrKeyMismatch, "none of the %d certificates belongs to the private key", len(certs))
}

// AllCertificates returns every certificate in ks, entries' chains included, without
// repeats, in file order.
func (ks *Keystore) AllCertificates() []*x509.Certificate {
	var out []*x509.Certificate
	seen := map[string]bool{}
	for _, e := range ks.Entries {
		for _, c := range e.Chain {
			if !seen[string(c.Raw)] {
				seen[string(c.Raw)] = true
				out = append(out, c)
			}
		}
	}
	return out
}
