package keystore

import (
	"bytes"
	"crypto"
	"crypto/cipher"
	"crypto/des"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"
)

// jceksIterations is what keytool's JCEKS KeyProtector uses since JDK 11
// (jdk.jceks.iterationCount).
const jceksIterations = 200_000

// mergeSun replaces or adds kp's alias in a JKS or JCEKS keystore. The other entries
// are copied as sunWalk found them.
func mergeSun(data []byte, format Format, pass Passwords, kp *KeyPair, created time.Time) ([]byte, bool, error) {
	walked, err := sunWalk(data, format)
	if err != nil {
		return nil, false, err
	}
	if !sunVerify(data, pass.Store) {
		return nil, false, ErrWrongPassword
	}
	entries, err := sunEntries(walked, format, func(w sunEntry) func([]byte) (crypto.Signer, error) {
		return func(keyPass []byte) (crypto.Signer, error) { return decryptSunKey(w, keyPass) }
	})
	if err != nil {
		return nil, false, err
	}
	same, keyErr, err := sameEntry(findAlias(&Keystore{Entries: entries}, kp.Alias), kp, pass.KeyPass())
	if err == nil {
		err = keptKeyPassword(kp.Alias, keyErr)
	}
	if err != nil || same {
		return nil, false, err
	}
	version := binary.BigEndian.Uint32(data[4:8])
	var kept [][]byte
	for _, w := range walked {
		if !strings.EqualFold(w.alias, kp.Alias) {
			kept = append(kept, w.raw)
		}
	}
	entry, err := sunKeyEntry(format, version, kp, pass.KeyPass(), created)
	if err != nil {
		return nil, false, err
	}
	return encodeSun(format, version, append(kept, entry), pass.Store), true, nil
}

// encodeSun writes a JKS or JCEKS file of already encoded entries, with the digest
// keyed by storePass.
func encodeSun(format Format, version uint32, entries [][]byte, storePass []byte) []byte {
	var b bytes.Buffer
	if format == FormatJCEKS {
		b.Write(magicJCEKS)
	} else {
		b.Write(magicJKS)
	}
	binary.Write(&b, binary.BigEndian, version)
	binary.Write(&b, binary.BigEndian, uint32(len(entries)))
	for _, e := range entries {
		b.Write(e)
	}
	h := sha1.New()
	h.Write(utf16BE(storePass))
	h.Write(sunWhitener)
	h.Write(b.Bytes())
	return h.Sum(b.Bytes())
}

// sunKeyEntry encodes a private-key entry: the alias in lower case (Java looks JKS and
// JCEKS aliases up in lower case), the key protected as keytool protects it, the chain
// leaf first.
func sunKeyEntry(format Format, version uint32, kp *KeyPair, keyPass []byte, created time.Time) ([]byte, error) {
	plain, err := x509.MarshalPKCS8PrivateKey(kp.Key)
	if err != nil {
		return nil, err
	}
	var protected []byte
	if format == FormatJCEKS {
		protected, err = jceKeyProtectorEncrypt(plain, keyPass)
	} else {
		protected, err = jksKeyProtectorEncrypt(plain, utf16BE(keyPass))
	}
	if err != nil {
		return nil, err
	}
	if len(encodeModifiedUTF8(kp.Alias)) > 0xffff {
		return nil, fmt.Errorf("alias of %d characters: %s takes at most 65535 bytes", len(kp.Alias), format)
	}
	var b bytes.Buffer
	put32 := func(v uint32) { binary.Write(&b, binary.BigEndian, v) }
	putUTF := func(s string) {
		m := encodeModifiedUTF8(s)
		binary.Write(&b, binary.BigEndian, uint16(len(m)))
		b.Write(m)
	}
	put32(sunTagKey)
	putUTF(strings.ToLower(kp.Alias))
	binary.Write(&b, binary.BigEndian, uint64(created.UnixMilli()))
	put32(uint32(len(protected)))
	b.Write(protected)
	chain := append([]*x509.Certificate{kp.Leaf}, kp.Chain...)
	put32(uint32(len(chain)))
	for _, c := range chain {
		if version == 2 {
			putUTF("X.509")
		}
		put32(uint32(len(c.Raw)))
		b.Write(c.Raw)
	}
	return b.Bytes(), nil
}

// jksKeyProtectorEncrypt is the inverse of jksKeyProtectorDecrypt, with a random salt.
func jksKeyProtectorEncrypt(plain, password []byte) ([]byte, error) {
	salt := make([]byte, sha1.Size)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	data := append(append(append([]byte(nil), salt...), jksKeystream(plain, password, salt)...), jksCheck(password, plain)...)
	return asn1.Marshal(encryptedPrivateKeyInfo{
		Algorithm: pkix.AlgorithmIdentifier{Algorithm: oidJKSKeyProtector, Parameters: asn1.NullRawValue},
		Data:      data,
	})
}

// jceKeyProtectorEncrypt is the inverse of jceKeyProtectorDecrypt, with a random salt.
func jceKeyProtectorEncrypt(plain, password []byte) ([]byte, error) {
	for _, c := range password {
		if c < 0x20 || c > 0x7e {
			return nil, errorf(ErrPasswordEncoding, "JCEKS key passwords are printable ASCII only")
		}
	}
	salt := make([]byte, 8)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	params, err := asn1.Marshal(struct {
		Salt       []byte
		Iterations int
	}{salt, jceksIterations})
	if err != nil {
		return nil, err
	}
	key, iv := jceDerive(salt, jceksIterations, password)
	block, err := des.NewTripleDESCipher(key)
	if err != nil {
		return nil, err
	}
	data := pkcs7Pad(plain, des.BlockSize)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(data, data)
	return asn1.Marshal(encryptedPrivateKeyInfo{
		Algorithm: pkix.AlgorithmIdentifier{Algorithm: oidJCEKSKeyProtector, Parameters: asn1.RawValue{FullBytes: params}},
		Data:      data,
	})
}

// pkcs7Pad returns a copy of b padded to a whole number of blocks.
func pkcs7Pad(b []byte, blockSize int) []byte {
	n := blockSize - len(b)%blockSize
	return append(append([]byte(nil), b...), bytes.Repeat([]byte{byte(n)}, n)...)
}

// encodeModifiedUTF8 encodes s as Java's DataOutput.writeUTF does: NUL as C0 80 and
// supplementary characters as two three-byte surrogates.
func encodeModifiedUTF8(s string) []byte {
	var out []byte
	for _, u := range utf16.Encode([]rune(s)) {
		switch {
		case u != 0 && u < 0x80:
			out = append(out, byte(u))
		case u < 0x800:
			out = append(out, 0xc0|byte(u>>6), 0x80|byte(u&0x3f))
		default:
			out = append(out, 0xe0|byte(u>>12), 0x80|byte(u>>6&0x3f), 0x80|byte(u&0x3f))
		}
	}
	return out
}
