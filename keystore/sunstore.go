package keystore

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/subtle"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// The JKS and JCEKS file layout ("Sun" keystores) is the same but for the magic number
// and JCEKS's secret-key entries:
//
//	magic u32 | version u32 (1, 2) | count u32 | entries | SHA-1 digest (20 bytes)
//	entry: tag u32 | alias (u16 length, modified UTF-8) | created u64 (ms since epoch) | body
//	  tag 1, private key: length u32, EncryptedPrivateKeyInfo | count u32 | certificates
//	  tag 2, trusted certificate: one certificate
//	  tag 3, secret key (JCEKS only): a Java-serialized SealedObject
//	certificate: (version 2: type string) | length u32 | DER
//	digest = SHA-1(password as UTF-16BE || "Mighty Aphrodite" || everything before it)
//
// sunWalk checks every length against the input before it allocates, so damaged files
// fail with ErrMalformed instead of huge allocations. keystore-go, which reads JKS for
// this package, allocates whatever a length field says: it only ever sees files that
// sunWalk accepted.

const (
	sunTagKey    = 1
	sunTagCert   = 2
	sunTagSecret = 3
	sunDigestLen = sha1.Size
)

var sunWhitener = []byte("Mighty Aphrodite")

type sunEntry struct {
	tag       uint32
	alias     string
	created   time.Time
	protected []byte   // EncryptedPrivateKeyInfo for tag 1
	certs     [][]byte // DER, leaf first
	raw       []byte   // the whole entry as stored, for writing it back unchanged
}

type sunReader struct {
	b   []byte
	off int
	err error
}

func (r *sunReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.err = fmt.Errorf("truncated at byte %d (wants %d more, has %d)", r.off, n, len(r.b)-r.off)
		return nil
	}
	out := r.b[r.off : r.off+n]
	r.off += n
	return out
}

func (r *sunReader) u16() int {
	b := r.take(2)
	if b == nil {
		return 0
	}
	return int(binary.BigEndian.Uint16(b))
}

func (r *sunReader) u32() uint32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

func (r *sunReader) u64() uint64 {
	b := r.take(8)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// length reads a u32 length and checks it fits in what is left.
func (r *sunReader) length() int {
	n := r.u32()
	if r.err == nil && uint64(n) > uint64(len(r.b)-r.off) {
		r.err = fmt.Errorf("length %d at byte %d exceeds the %d bytes left", n, r.off-4, len(r.b)-r.off)
	}
	return int(n)
}

func (r *sunReader) utf() string { return decodeModifiedUTF8(r.take(r.u16())) }

func (r *sunReader) cert(version uint32) []byte {
	if version == 2 {
		if typ := r.utf(); r.err == nil && typ != "X.509" && typ != "X509" {
			r.err = fmt.Errorf("certificate type %q is not X.509", typ)
		}
	}
	return r.take(r.length())
}

// sunWalk parses the layout of a JKS or JCEKS file without any password.
func sunWalk(data []byte, format Format) ([]sunEntry, error) {
	r := &sunReader{b: data}
	r.take(4) // magic, checked by the caller
	version := r.u32()
	if r.err == nil && version != 1 && version != 2 {
		return nil, malformed(format, fmt.Sprintf("version %d (reads 1 and 2)", version), nil)
	}
	count := r.u32()
	// Every entry takes at least 18 bytes: a bound that needs no allocation.
	if r.err == nil && uint64(count)*18 > uint64(len(data)) {
		return nil, malformed(format, fmt.Sprintf("claims %d entries in %d bytes", count, len(data)), nil)
	}
	var entries []sunEntry
	for i := uint32(0); i < count && r.err == nil; i++ {
		start := r.off
		e := sunEntry{tag: r.u32(), alias: r.utf()}
		e.created = time.UnixMilli(int64(r.u64())).UTC()
		switch e.tag {
		case sunTagKey:
			e.protected = r.take(r.length())
			n := r.u32()
			if r.err == nil && uint64(n)*4 > uint64(len(data)-r.off) {
				r.err = fmt.Errorf("entry %q claims %d certificates", e.alias, n)
			}
			for j := uint32(0); j < n && r.err == nil; j++ {
				e.certs = append(e.certs, r.cert(version))
			}
		case sunTagCert:
			e.certs = [][]byte{r.cert(version)}
		case sunTagSecret:
			if format != FormatJCEKS {
				r.err = fmt.Errorf("entry %q: secret-key entries exist only in JCEKS", e.alias)
				break
			}
			n, err := skipJavaObject(data[r.off:])
			if err != nil {
				r.err = fmt.Errorf("secret-key entry %q: %v", e.alias, err)
				break
			}
			r.take(n)
		default:
			r.err = fmt.Errorf("entry %d has unknown tag %d", i, e.tag)
		}
		if r.err == nil {
			e.raw = data[start:r.off]
			entries = append(entries, e)
		}
	}
	if r.err != nil {
		return nil, malformed(format, r.err.Error(), nil)
	}
	if len(data)-r.off != sunDigestLen {
		return nil, malformed(format, fmt.Sprintf("%d bytes after the entries, want a %d-byte digest", len(data)-r.off, sunDigestLen), nil)
	}
	return entries, nil
}

// sunVerify checks the keystore digest with the password encoded as Java does.
func sunVerify(data []byte, password []byte) bool {
	body, digest := data[:len(data)-sunDigestLen], data[len(data)-sunDigestLen:]
	h := sha1.New()
	h.Write(utf16BE(password))
	h.Write(sunWhitener)
	h.Write(body)
	return subtle.ConstantTimeCompare(h.Sum(nil), digest) == 1
}

// sunEntries turns walked entries into the model, parsing certificates.
func sunEntries(walked []sunEntry, format Format, decrypt func(e sunEntry) func([]byte) (crypto.Signer, error)) ([]*Entry, error) {
	out := make([]*Entry, 0, len(walked))
	for _, w := range walked {
		e := &Entry{Alias: w.alias, Created: w.created}
		for _, der := range w.certs {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, malformed(format, fmt.Sprintf("certificate of %q", w.alias), err)
			}
			e.Chain = append(e.Chain, c)
		}
		switch w.tag {
		case sunTagKey:
			e.Kind = PrivateKeyEntry
			e.decrypt = decrypt(w)
		case sunTagCert:
			e.Kind = TrustedCertEntry
		case sunTagSecret:
			e.Kind = SecretKeyEntry
		}
		out = append(out, e)
	}
	return out, nil
}

// utf16BE encodes a UTF-8 password as Java's char[] in big-endian bytes.
func utf16BE(password []byte) []byte {
	runes := bytes.Runes(password)
	units := utf16.Encode(runes)
	out := make([]byte, 0, 2*len(units))
	for _, u := range units {
		out = append(out, byte(u>>8), byte(u))
	}
	return out
}

// latin1 returns the password as one byte per character when every character is below
// U+0100, which is how keystore-go feeds passwords to the JKS digest (0x00, b).
func latin1(password []byte) ([]byte, bool) {
	out := make([]byte, 0, len(password))
	for _, r := range string(password) {
		if r > 0xff || r == utf8.RuneError {
			return nil, false
		}
		out = append(out, byte(r))
	}
	return out, true
}

// decodeModifiedUTF8 decodes Java's DataOutput.writeUTF encoding (NUL as C0 80,
// supplementary characters as surrogate pairs); plain UTF-8 passes unchanged.
func decodeModifiedUTF8(b []byte) string {
	if utf8.Valid(b) && !bytes.Contains(b, []byte{0xc0, 0x80}) {
		return string(b)
	}
	var units []uint16
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c < 0x80:
			units = append(units, uint16(c))
			i++
		case c&0xe0 == 0xc0 && i+1 < len(b):
			units = append(units, uint16(c&0x1f)<<6|uint16(b[i+1]&0x3f))
			i += 2
		case c&0xf0 == 0xe0 && i+2 < len(b):
			units = append(units, uint16(c&0x0f)<<12|uint16(b[i+1]&0x3f)<<6|uint16(b[i+2]&0x3f))
			i += 3
		default:
			units = append(units, utf8.RuneError)
			i++
		}
	}
	return string(utf16.Decode(units))
}
