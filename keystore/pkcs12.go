package keystore

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
)

// PKCS#12 (RFC 7292) as real tools write it. go-pkcs12's decoders take one key and
// insist on a MAC; keystores hold many keys and trusted certificates, and WSO2 ships
// files without a MAC, so the reading is done here and go-pkcs12 is used for writing.

var (
	oidDataContentType          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedDataContentType = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidKeyBag                   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 1}
	oidPKCS8ShroudedKeyBag      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidCertBag                  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}
	oidCRLBag                   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 4}
	oidSecretBag                = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 5}
	oidSafeContentsBag          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 6}
	oidCertTypeX509             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 22, 1}
	oidFriendlyName             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 20}
	oidLocalKeyID               = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 21}
	oidJavaTrustedKeyUsage      = asn1.ObjectIdentifier{2, 16, 840, 1, 113894, 746875, 1, 1}
	oidPBMAC1                   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 14}
)

type pfxPdu struct {
	Version  int
	AuthSafe contentInfo
	MacData  macData `asn1:"optional"`
}

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

type encryptedData struct {
	Version              int
	EncryptedContentInfo encryptedContentInfo
}

type encryptedContentInfo struct {
	ContentType                asn1.ObjectIdentifier
	ContentEncryptionAlgorithm pkix.AlgorithmIdentifier
	EncryptedContent           asn1.RawValue `asn1:"tag:0,optional"`
}

type digestInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	Digest    []byte
}

type macData struct {
	Mac        digestInfo
	MacSalt    []byte
	Iterations int `asn1:"optional,default:1"`
}

type safeBag struct {
	ID         asn1.ObjectIdentifier
	Value      asn1.RawValue     `asn1:"tag:0,explicit"`
	Attributes []pkcs12Attribute `asn1:"set,optional"`
}

type pkcs12Attribute struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue `asn1:"set"`
}

type certBag struct {
	ID   asn1.ObjectIdentifier
	Data []byte `asn1:"tag:0,explicit"`
}

// p12Bag is one bag of interest, flattened out of the nested SafeContents.
type p12Bag struct {
	kind         asn1.ObjectIdentifier
	value        []byte // bag value content
	friendlyName string
	localKeyID   []byte
	javaTrusted  bool
	cert         *x509.Certificate
}

// isBER reports an indefinite-length encoding at the start of data, which DER forbids.
func isBER(data []byte) bool { return len(data) > 1 && data[0] == 0x30 && data[1] == 0x80 }

// isDERCertificate reports whether data is one X.509 certificate in DER.
func isDERCertificate(data []byte) bool {
	var seq asn1.RawValue
	if _, err := asn1.Unmarshal(data, &seq); err != nil || seq.Tag != asn1.TagSequence {
		return false
	}
	// A certificate starts with a SEQUENCE (tbsCertificate); a PFX with an INTEGER.
	var first asn1.RawValue
	if _, err := asn1.Unmarshal(seq.Bytes, &first); err != nil {
		return false
	}
	return first.Tag == asn1.TagSequence
}

func parseDERCert(data []byte) (*Keystore, error) {
	c, err := x509.ParseCertificate(data)
	if err != nil {
		return nil, malformed(FormatDER, "certificate", err)
	}
	return &Keystore{Format: FormatDER, Entries: []*Entry{{Alias: certAlias(c, 0), Kind: TrustedCertEntry, Chain: []*x509.Certificate{c}}}}, nil
}

func parsePKCS12(data []byte, storePass []byte) (*Keystore, error) {
	pfx, _, infos, err := decodePFX(data, storePass)
	if err != nil {
		return nil, err
	}
	checked := hasMAC(&pfx)
	var bags []*p12Bag
	for _, ci := range infos {
		checked = checked || ci.ContentType.Equal(oidEncryptedDataContentType)
		contents, err := safeContents(ci, storePass)
		if err != nil {
			return nil, err
		}
		if bags, err = collectBags(bags, contents, 0); err != nil {
			return nil, err
		}
	}
	ks, err := p12Entries(bags, storePass)
	if err != nil {
		return nil, err
	}
	ks.unchecked = !checked
	return ks, nil
}

// decodePFX reads the outer layers of a PKCS#12 file: the PFX, its authenticated safe
// (checking the MAC when there is one) and the safe's content infos.
func decodePFX(data []byte, storePass []byte) (pfx pfxPdu, authSafe []byte, infos []contentInfo, err error) {
	if isBER(data) {
		return pfx, nil, nil, errorf(ErrUnsupportedFormat, "PKCS#12 in BER (indefinite lengths) is not read; re-encode it as DER with openssl pkcs12 -export or keytool -importkeystore")
	}
	rest, err := asn1.Unmarshal(data, &pfx)
	if err != nil {
		return pfx, nil, nil, errorf(ErrUnsupportedFormat, "not a keystore: DER data that is neither PKCS#12 nor a certificate (%v) (reads JKS, JCEKS, PKCS#12, PEM, DER)", err)
	}
	if len(rest) > 0 {
		return pfx, nil, nil, malformed(FormatPKCS12, fmt.Sprintf("%d bytes after the end", len(rest)), nil)
	}
	if pfx.Version != 3 {
		return pfx, nil, nil, malformed(FormatPKCS12, fmt.Sprintf("version %d, want 3", pfx.Version), nil)
	}
	if !pfx.AuthSafe.ContentType.Equal(oidDataContentType) {
		return pfx, nil, nil, errorf(ErrUnsupportedFormat, "PKCS#12 with public-key integrity (signed data) is not read")
	}
	if _, err := asn1.Unmarshal(pfx.AuthSafe.Content.Bytes, &authSafe); err != nil {
		return pfx, nil, nil, malformed(FormatPKCS12, "authenticated safe", err)
	}
	if hasMAC(&pfx) {
		if err := verifyPKCS12MAC(&pfx.MacData, authSafe, storePass); err != nil {
			return pfx, nil, nil, err
		}
	}
	if rest, err := asn1.Unmarshal(authSafe, &infos); err != nil || len(rest) > 0 {
		return pfx, nil, nil, malformed(FormatPKCS12, "authenticated safe contents", err)
	}
	return pfx, authSafe, infos, nil
}

func hasMAC(pfx *pfxPdu) bool { return len(pfx.MacData.Mac.Algorithm.Algorithm) > 0 }

// safeContents returns the SafeContents of one content info, decrypted with storePass
// when it is encrypted.
func safeContents(ci contentInfo, storePass []byte) ([]byte, error) {
	var contents []byte
	switch {
	case ci.ContentType.Equal(oidDataContentType):
		if _, err := asn1.Unmarshal(ci.Content.Bytes, &contents); err != nil {
			return nil, malformed(FormatPKCS12, "safe contents", err)
		}
		return contents, nil
	case ci.ContentType.Equal(oidEncryptedDataContentType):
		var ed encryptedData
		if _, err := asn1.Unmarshal(ci.Content.Bytes, &ed); err != nil {
			return nil, malformed(FormatPKCS12, "encrypted safe contents", err)
		}
		contents, err := pbeDecrypt(ed.EncryptedContentInfo.ContentEncryptionAlgorithm, ed.EncryptedContentInfo.EncryptedContent.Bytes, storePass)
		if errors.Is(err, errDecrypt) {
			return nil, ErrWrongPassword
		}
		if err != nil {
			return nil, fmt.Errorf("PKCS#12 certificate safe: %w", err)
		}
		return contents, nil
	}
	return nil, errorf(ErrUnsupportedFormat, "PKCS#12 content type %v (enveloped data) is not read", ci.ContentType)
}

func verifyPKCS12MAC(md *macData, content, password []byte) error {
	alg := md.Mac.Algorithm.Algorithm
	if alg.Equal(oidPBMAC1) {
		return errorf(ErrUnsupportedAlgorithm, "PKCS#12 PBMAC1 integrity")
	}
	newHash := macHash(alg)
	if newHash == nil {
		return errorf(ErrUnsupportedAlgorithm, "PKCS#12 MAC digest %v", alg)
	}
	if md.Iterations < 1 || md.Iterations > maxIterations {
		return malformed(FormatPKCS12, fmt.Sprintf("MAC iteration count %d", md.Iterations), nil)
	}
	candidates := [][]byte{bmpPassword(password)}
	if len(password) == 0 {
		candidates = append(candidates, []byte{0, 0})
	}
	for _, pw := range candidates {
		if hmac.Equal(pkcs12MAC(newHash, pw, md.MacSalt, md.Iterations, content), md.Mac.Digest) {
			return nil
		}
	}
	return ErrWrongPassword
}

// collectBags appends the bags of one SafeContents, descending into nested ones.
func collectBags(bags []*p12Bag, contents []byte, depth int) ([]*p12Bag, error) {
	if depth > 8 {
		return nil, malformed(FormatPKCS12, "safe contents nested too deep", nil)
	}
	var raw []safeBag
	if rest, err := asn1.Unmarshal(contents, &raw); err != nil || len(rest) > 0 {
		return nil, malformed(FormatPKCS12, "safe bags", err)
	}
	for _, sb := range raw {
		if sb.ID.Equal(oidSafeContentsBag) {
			var err error
			if bags, err = collectBags(bags, sb.Value.FullBytes, depth+1); err != nil {
				return nil, err
			}
			continue
		}
		b, err := newP12Bag(sb)
		if err != nil {
			return nil, err
		}
		if b == nil {
			continue // SDSI certificates: nothing reads them
		}
		bags = append(bags, b)
	}
	return bags, nil
}

// newP12Bag reads one bag's type, attributes and, for a certificate bag, the
// certificate; nil for a certificate that is not X.509.
func newP12Bag(sb safeBag) (*p12Bag, error) {
	b := &p12Bag{kind: sb.ID, value: sb.Value.FullBytes}
	for _, a := range sb.Attributes {
		switch {
		case a.ID.Equal(oidFriendlyName):
			var s asn1.RawValue
			if _, err := asn1.Unmarshal(a.Value.Bytes, &s); err == nil && s.Tag == asn1.TagBMPString {
				b.friendlyName = decodeBMP(s.Bytes)
			} else if err == nil {
				b.friendlyName = string(s.Bytes)
			}
		case a.ID.Equal(oidLocalKeyID):
			var id []byte
			if _, err := asn1.Unmarshal(a.Value.Bytes, &id); err == nil {
				b.localKeyID = id
			}
		case a.ID.Equal(oidJavaTrustedKeyUsage):
			b.javaTrusted = true
		}
	}
	if sb.ID.Equal(oidCertBag) {
		var cb certBag
		if _, err := asn1.Unmarshal(sb.Value.Bytes, &cb); err != nil {
			return nil, malformed(FormatPKCS12, "certificate bag", err)
		}
		if !cb.ID.Equal(oidCertTypeX509) {
			return nil, nil
		}
		c, err := x509.ParseCertificate(cb.Data)
		if err != nil {
			return nil, malformed(FormatPKCS12, "certificate", err)
		}
		b.cert = c
	}
	return b, nil
}

func decodeBMP(b []byte) string {
	units := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		units = append(units, uint16(b[i])<<8|uint16(b[i+1]))
	}
	for len(units) > 0 && units[len(units)-1] == 0 {
		units = units[:len(units)-1]
	}
	return string(utf16.Decode(units))
}

// p12Entries turns bags into entries as Java's PKCS12KeyStore does: one entry per key
// bag (its leaf found by localKeyId, then friendlyName, then public key), one per
// trusted certificate bag, one per secret bag. Certificates that belong to neither are
// material for chains only.
func p12Entries(bags []*p12Bag, storePass []byte) (*Keystore, error) {
	var certs []*x509.Certificate
	for _, b := range bags {
		if b.cert != nil {
			certs = append(certs, b.cert)
		}
	}
	ks := &Keystore{Format: FormatPKCS12}
	used := map[*x509.Certificate]bool{}
	unnamed := 0
	alias := func(b *p12Bag) string {
		if b.friendlyName != "" {
			return b.friendlyName
		}
		unnamed++
		return strconv.Itoa(unnamed)
	}
	for _, b := range bags {
		switch {
		case b.kind.Equal(oidKeyBag), b.kind.Equal(oidPKCS8ShroudedKeyBag):
			var leafBag *p12Bag
			for _, c := range bags {
				if c.cert != nil && len(b.localKeyID) > 0 && bytes.Equal(c.localKeyID, b.localKeyID) {
					leafBag = c
					break
				}
			}
			if leafBag == nil && b.friendlyName != "" {
				for _, c := range bags {
					if c.cert != nil && !c.javaTrusted && c.friendlyName == b.friendlyName {
						leafBag = c
						break
					}
				}
			}
			e := &Entry{Kind: PrivateKeyEntry}
			if b.friendlyName == "" && leafBag != nil && leafBag.friendlyName != "" {
				e.Alias = leafBag.friendlyName
			} else {
				e.Alias = alias(b)
			}
			bag := b
			e.decrypt = func(keyPass []byte) (crypto.Signer, error) { return decryptKeyBag(bag, keyPass, e.Alias) }
			var leaf *x509.Certificate
			if leafBag != nil {
				leaf = leafBag.cert
			} else if key, err := e.decrypt(storePass); err == nil {
				for _, c := range certs {
					if KeyMatchesCert(key, c) {
						leaf = c
						break
					}
				}
			}
			if leaf != nil {
				used[leaf] = true
				e.Chain = BuildChain(leaf, certs)
			}
			ks.Entries = append(ks.Entries, e)
		case b.kind.Equal(oidSecretBag):
			ks.Entries = append(ks.Entries, &Entry{Alias: alias(b), Kind: SecretKeyEntry})
		}
	}
	// Java lists a certificate bag as a trusted entry only when it carries Oracle's
	// trusted-key-usage attribute. A file with no key and no such attribute (a
	// truststore written by OpenSSL) lists all its certificates instead.
	anyTrusted := false
	for _, b := range bags {
		anyTrusted = anyTrusted || (b.cert != nil && b.javaTrusted)
	}
	trusted := func(b *p12Bag) bool {
		if anyTrusted || len(ks.Entries) > 0 {
			return b.javaTrusted
		}
		return true
	}
	// Trusted certificates keep their file position among the key entries.
	var ordered []*Entry
	ki := 0
	for _, b := range bags {
		switch {
		case b.cert != nil:
			if used[b.cert] || !trusted(b) {
				continue
			}
			name := b.friendlyName
			if name == "" {
				name = certAlias(b.cert, len(ordered))
			}
			ordered = append(ordered, &Entry{Alias: name, Kind: TrustedCertEntry, Chain: []*x509.Certificate{b.cert}})
		case b.kind.Equal(oidKeyBag), b.kind.Equal(oidPKCS8ShroudedKeyBag), b.kind.Equal(oidSecretBag):
			ordered = append(ordered, ks.Entries[ki])
			ki++
		}
	}
	ks.Entries = ordered
	return ks, nil
}

func decryptKeyBag(b *p12Bag, keyPass []byte, alias string) (crypto.Signer, error) {
	der := b.value
	var v asn1.RawValue
	if _, err := asn1.Unmarshal(der, &v); err != nil {
		return nil, malformed(FormatPKCS12, "key bag", err)
	}
	der = v.Bytes
	if b.kind.Equal(oidPKCS8ShroudedKeyBag) {
		var info encryptedPrivateKeyInfo
		if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) > 0 {
			return nil, malformed(FormatPKCS12, "shrouded key bag", err)
		}
		plain, err := pbeDecrypt(info.Algorithm, info.Data, keyPass)
		if errors.Is(err, errDecrypt) {
			return nil, errorf(ErrWrongKeyPassword, "wrong key password for alias %q", alias)
		}
		if err != nil {
			return nil, fmt.Errorf("key of alias %q: %w", alias, err)
		}
		der = plain
	}
	key, err := parsePKCS8Signer(der, alias)
	if err != nil && b.kind.Equal(oidPKCS8ShroudedKeyBag) {
		// Padding that happened to look right under a wrong password.
		return nil, errorf(ErrWrongKeyPassword, "wrong key password for alias %q", alias)
	}
	return key, err
}

// certAlias names a certificate that the file gives no alias: its common name, or its
// fingerprint prefix.
func certAlias(c *x509.Certificate, i int) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	sum := sha256Hex(c.Raw)
	return "cert-" + strconv.Itoa(i+1) + "-" + sum[:12]
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
