package keystore

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/keybridge/keybridge/internal/safefile"
)

// AddTrusted adds certs as trusted-certificate entries to the JKS, JCEKS or
// PKCS#12 keystore at path (a truststore such as WSO2's client-truststore.jks), in
// place: every entry already there is kept as stored, a certificate already
// present (the same DER under any alias) is not added again, and nothing is
// written when all are present. JKS and JCEKS: the entries are written as
// keytool -importcert writes them. A new entry's alias is aliasPrefix, or
// aliasPrefix-2, -3, … when taken. The file is written as Merge writes it
// (atomic, owner, group and mode kept). It returns the aliases added.
//
// PKCS#12 (WSO2 4.10's client-truststore.p12): the other bags are kept byte for
// byte, the new certificates go into a content info of their own as keytool
// writes trusted certificates (friendlyName and Oracle's trusted-key-usage
// attribute), encrypted when the file encrypted its certificates, and a file
// with a MAC gets a new one.
func AddTrusted(path string, storePass []byte, certs []*x509.Certificate, aliasPrefix string) (added []string, err error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	out, added, err := AddTrustedData(data, storePass, certs, aliasPrefix, time.Now())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(added) == 0 {
		return nil, nil
	}
	if err := safefile.Write(path, out, 0o644); err != nil {
		return nil, err
	}
	return added, nil
}

// AddTrustedData is AddTrusted on the bytes of a keystore; out is nil when
// nothing was added.
func AddTrustedData(data, storePass []byte, certs []*x509.Certificate, aliasPrefix string, created time.Time) (out []byte, added []string, err error) {
	format := DetectFormat(data)
	if format == FormatPKCS12 {
		return addTrustedPKCS12(data, storePass, certs, aliasPrefix)
	}
	if format != FormatJKS && format != FormatJCEKS {
		return nil, nil, errorf(ErrUnsupportedFormat, "adding trusted certificates to a %s file: JKS, JCEKS and PKCS#12 truststores are written", format)
	}
	walked, err := sunWalk(data, format)
	if err != nil {
		return nil, nil, err
	}
	if !sunVerify(data, storePass) {
		return nil, nil, ErrWrongPassword
	}
	taken := map[string]bool{}
	raws := make([][]byte, 0, len(walked)+len(certs))
	present := func(der []byte) bool {
		for _, w := range walked {
			for _, c := range w.certs {
				if bytes.Equal(c, der) {
					return true
				}
			}
		}
		return false
	}
	for _, w := range walked {
		taken[strings.ToLower(w.alias)] = true
		raws = append(raws, w.raw)
	}
	version := binary.BigEndian.Uint32(data[4:8])
	for _, c := range certs {
		if present(c.Raw) {
			continue
		}
		alias := strings.ToLower(aliasPrefix)
		for n := 2; taken[alias]; n++ {
			alias = fmt.Sprintf("%s-%d", strings.ToLower(aliasPrefix), n)
		}
		taken[alias] = true
		raws = append(raws, sunTrustedEntry(version, alias, c, created))
		walked = append(walked, sunEntry{certs: [][]byte{c.Raw}})
		added = append(added, alias)
	}
	if len(added) == 0 {
		return nil, nil, nil
	}
	return encodeSun(format, version, raws, storePass), added, nil
}

// sunTrustedEntry encodes a trusted-certificate entry as keytool -importcert writes it.
func sunTrustedEntry(version uint32, alias string, c *x509.Certificate, created time.Time) []byte {
	var b bytes.Buffer
	putUTF := func(s string) {
		m := encodeModifiedUTF8(s)
		binary.Write(&b, binary.BigEndian, uint16(len(m)))
		b.Write(m)
	}
	binary.Write(&b, binary.BigEndian, uint32(sunTagCert))
	putUTF(alias)
	binary.Write(&b, binary.BigEndian, uint64(created.UnixMilli()))
	if version == 2 {
		putUTF("X.509")
	}
	binary.Write(&b, binary.BigEndian, uint32(len(c.Raw)))
	b.Write(c.Raw)
	return b.Bytes()
}

// oidAnyExtendedKeyUsage is what keytool puts in the trusted-key-usage
// attribute of a trusted certificate.
var oidAnyExtendedKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37, 0}

func addTrustedPKCS12(data, storePass []byte, certs []*x509.Certificate, aliasPrefix string) ([]byte, []string, error) {
	ks, err := Parse(data, storePass)
	if err != nil {
		return nil, nil, err
	}
	pfx, authSafe, cis, err := decodePFX(data, storePass)
	if err != nil {
		return nil, nil, err
	}
	var infos []asn1.RawValue
	if _, err := asn1.Unmarshal(authSafe, &infos); err != nil || len(infos) != len(cis) {
		return nil, nil, malformed(FormatPKCS12, "authenticated safe contents", err)
	}
	encrypted := false
	for _, ci := range cis {
		encrypted = encrypted || ci.ContentType.Equal(oidEncryptedDataContentType)
	}
	present, taken := map[string]bool{}, map[string]bool{}
	for _, e := range ks.Entries {
		taken[strings.ToLower(e.Alias)] = true
		for _, c := range e.Chain {
			present[string(c.Raw)] = true
		}
	}
	usage, err := asn1.Marshal(oidAnyExtendedKeyUsage)
	if err != nil {
		return nil, nil, err
	}
	trustedAttr := pkcs12Attribute{ID: oidJavaTrustedKeyUsage, Value: asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: usage}}
	var bags []asn1.RawValue
	var added []string
	for _, c := range certs {
		if present[string(c.Raw)] {
			continue
		}
		present[string(c.Raw)] = true
		alias := strings.ToLower(aliasPrefix)
		for n := 2; taken[alias]; n++ {
			alias = fmt.Sprintf("%s-%d", strings.ToLower(aliasPrefix), n)
		}
		taken[alias] = true
		name, err := friendlyNameAttr(alias)
		if err != nil {
			return nil, nil, err
		}
		bag, err := p12CertBag(c, []pkcs12Attribute{name, trustedAttr})
		if err != nil {
			return nil, nil, err
		}
		bags = append(bags, bag)
		added = append(added, alias)
	}
	if len(bags) == 0 {
		return nil, nil, nil
	}
	ci, err := p12ContentInfo(bags, encrypted, storePass)
	if err != nil {
		return nil, nil, err
	}
	out, err := encodePFX(&pfx, append(infos, ci), storePass)
	if err != nil {
		return nil, nil, err
	}
	return out, added, nil
}
