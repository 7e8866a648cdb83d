package keystore

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/keybridge/keybridge/internal/safefile"
)

// AddTrusted adds certs as trusted-certificate entries to the JKS or JCEKS
// keystore at path (a truststore such as WSO2's client-truststore.jks), in
// place: every entry already there is kept as stored, a certificate already
// present (the same DER under any alias) is not added again, and nothing is
// written when all are present. A new entry's alias is aliasPrefix, or
// aliasPrefix-2, -3, … when taken. The file is written as Merge writes it
// (atomic, owner, group and mode kept). It returns the aliases added.
//
// PKCS#12 truststores are not written yet (ErrUnsupportedFormat).
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
	if format != FormatJKS && format != FormatJCEKS {
		return nil, nil, errorf(ErrUnsupportedFormat, "adding trusted certificates to a %s file: only JKS and JCEKS truststores are written", format)
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
