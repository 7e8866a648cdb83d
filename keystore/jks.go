package keystore

import (
	"bytes"
	"crypto"
	"crypto/cipher"
	"crypto/des"
	"crypto/md5"
	"crypto/sha1"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"

	jks "github.com/pavlo-v-chernykh/keystore-go/v4"
)

var (
	oidJKSKeyProtector   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 42, 2, 17, 1, 1}
	oidJCEKSKeyProtector = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 42, 2, 19, 1} // PBEWithMD5AndTripleDES
)

type encryptedPrivateKeyInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	Data      []byte
}

// parseJKS reads a JKS keystore. Passwords whose characters all fit in Latin-1 go through
// keystore-go exactly as keytool hashes them; keystore-go sends each password byte as
// (0x00, b), which cannot express characters above U+00FF, so those passwords are
// checked here with the full UTF-16BE encoding Java uses, sharing the JCEKS code.
func parseJKS(data []byte, storePass []byte) (*Keystore, error) {
	walked, err := sunWalk(data, FormatJKS)
	if err != nil {
		return nil, err
	}
	var decrypt func(sunEntry) func([]byte) (crypto.Signer, error)
	if pass, ok := latin1(storePass); ok {
		store := jks.New(jks.WithCaseExactAliases())
		if err := store.Load(bytes.NewReader(data), pass); err != nil {
			if sunVerify(data, storePass) {
				return nil, malformed(FormatJKS, "keystore-go", err)
			}
			return nil, ErrWrongPassword
		}
		decrypt = func(w sunEntry) func([]byte) (crypto.Signer, error) {
			return func(keyPass []byte) (crypto.Signer, error) {
				kp, ok := latin1(keyPass)
				if !ok {
					return decryptSunKey(w, keyPass)
				}
				entry, err := store.GetPrivateKeyEntry(w.alias, kp)
				if err != nil {
					if errors.Is(err, jks.ErrEntryNotFound) {
						return decryptSunKey(w, keyPass)
					}
					return nil, errorf(ErrWrongKeyPassword, "wrong key password for alias %q", w.alias)
				}
				return parsePKCS8Signer(entry.PrivateKey, w.alias)
			}
		}
	} else {
		if !sunVerify(data, storePass) {
			return nil, ErrWrongPassword
		}
		decrypt = func(w sunEntry) func([]byte) (crypto.Signer, error) {
			return func(keyPass []byte) (crypto.Signer, error) { return decryptSunKey(w, keyPass) }
		}
	}
	entries, err := sunEntries(walked, FormatJKS, decrypt)
	if err != nil {
		return nil, err
	}
	return &Keystore{Format: FormatJKS, Entries: entries}, nil
}

// parseJCEKS reads a JCEKS keystore (the layout of JKS plus secret-key entries).
func parseJCEKS(data []byte, storePass []byte) (*Keystore, error) {
	walked, err := sunWalk(data, FormatJCEKS)
	if err != nil {
		return nil, err
	}
	if !sunVerify(data, storePass) {
		return nil, ErrWrongPassword
	}
	entries, err := sunEntries(walked, FormatJCEKS, func(w sunEntry) func([]byte) (crypto.Signer, error) {
		return func(keyPass []byte) (crypto.Signer, error) { return decryptSunKey(w, keyPass) }
	})
	if err != nil {
		return nil, err
	}
	return &Keystore{Format: FormatJCEKS, Entries: entries}, nil
}

// decryptSunKey decrypts a JKS or JCEKS private key with either of Sun's key protectors.
func decryptSunKey(w sunEntry, keyPass []byte) (crypto.Signer, error) {
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(w.protected, &info); err != nil || len(rest) > 0 {
		return nil, errorf(ErrMalformed, "damaged protected key of alias %q", w.alias)
	}
	var plain []byte
	var err error
	switch alg := info.Algorithm.Algorithm; {
	case alg.Equal(oidJKSKeyProtector):
		plain, err = jksKeyProtectorDecrypt(info.Data, utf16BE(keyPass))
	case alg.Equal(oidJCEKSKeyProtector):
		plain, err = jceKeyProtectorDecrypt(info.Algorithm.Parameters.FullBytes, info.Data, keyPass)
	default:
		return nil, errorf(ErrUnsupportedAlgorithm, "alias %q: key protection %v", w.alias, alg)
	}
	if err != nil {
		if errors.Is(err, ErrPasswordEncoding) || errors.Is(err, ErrMalformed) {
			return nil, fmt.Errorf("alias %q: %w", w.alias, err)
		}
		return nil, errorf(ErrWrongKeyPassword, "wrong key password for alias %q", w.alias)
	}
	return parsePKCS8Signer(plain, w.alias)
}

// jksKeyProtectorDecrypt implements sun.security.provider.KeyProtector: a SHA-1 keystream
// seeded by a 20-byte salt, and a SHA-1 check of the password and plaintext at the end.
func jksKeyProtectorDecrypt(data, password []byte) ([]byte, error) {
	if len(data) < 2*sha1.Size {
		return nil, errorf(ErrMalformed, "protected key too short")
	}
	salt := data[:sha1.Size]
	enc := data[sha1.Size : len(data)-sha1.Size]
	check := data[len(data)-sha1.Size:]
	plain := jksKeystream(enc, password, salt)
	if subtle.ConstantTimeCompare(jksCheck(password, plain), check) != 1 {
		return nil, ErrWrongKeyPassword
	}
	return plain, nil
}

// jksKeystream XORs in with the KeyProtector's keystream: SHA-1(password || previous
// digest) blocks, the first digest being the salt. It both encrypts and decrypts.
func jksKeystream(in, password, salt []byte) []byte {
	out := make([]byte, len(in))
	digest := salt
	for off := 0; off < len(in); off += sha1.Size {
		h := sha1.New()
		h.Write(password)
		h.Write(digest)
		digest = h.Sum(nil)
		for i := 0; i < sha1.Size && off+i < len(in); i++ {
			out[off+i] = in[off+i] ^ digest[i]
		}
	}
	return out
}

// jksCheck is the KeyProtector's integrity check: SHA-1(password || plaintext).
func jksCheck(password, plain []byte) []byte {
	h := sha1.New()
	h.Write(password)
	h.Write(plain)
	return h.Sum(nil)
}

// jceKeyProtectorDecrypt implements com.sun.crypto.provider.KeyProtector:
// PBEWithMD5AndTripleDES, Sun's own MD5-based derivation of a 3DES key and IV.
func jceKeyProtectorDecrypt(params, data, password []byte) ([]byte, error) {
	var p struct {
		Salt       []byte
		Iterations int
	}
	if rest, err := asn1.Unmarshal(params, &p); err != nil || len(rest) > 0 || len(p.Salt) != 8 {
		return nil, errorf(ErrMalformed, "PBEWithMD5AndTripleDES parameters")
	}
	if p.Iterations < 1 || p.Iterations > maxIterations {
		return nil, errorf(ErrMalformed, "PBEWithMD5AndTripleDES iteration count %d", p.Iterations)
	}
	for _, c := range password {
		if c < 0x20 || c > 0x7e { // javax.crypto.spec.PBEKeySpec takes printable ASCII only
			return nil, errorf(ErrPasswordEncoding, "JCEKS key passwords are printable ASCII only")
		}
	}
	if len(data) == 0 || len(data)%des.BlockSize != 0 {
		return nil, errorf(ErrMalformed, "encrypted key length %d", len(data))
	}
	key, iv := jceDerive(p.Salt, p.Iterations, password)
	block, err := des.NewTripleDESCipher(key)
	if err != nil {
		return nil, err
	}
	plain := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, data)
	return pkcs7Unpad(plain, des.BlockSize)
}

// jceDerive is Sun's MD5-based derivation of the 3DES key and IV of
// PBEWithMD5AndTripleDES from an 8-byte salt.
func jceDerive(salt8 []byte, iterations int, password []byte) (key, iv []byte) {
	salt := append([]byte(nil), salt8...)
	if bytes.Equal(salt[:4], salt[4:]) {
		salt[0], salt[3] = salt[3], salt[0]
		salt[1], salt[2] = salt[2], salt[1]
	}
	var derived []byte
	h := md5.New()
	var buf [md5.Size]byte
	for half := 0; half < 2; half++ {
		cur := salt[half*4 : half*4+4]
		for j := 0; j < iterations; j++ {
			// No allocation per round: JCEKS keys take 200,000 of them.
			h.Reset()
			h.Write(cur)
			h.Write(password)
			cur = h.Sum(buf[:0])
		}
		derived = append(derived, cur...)
	}
	return derived[:24], derived[24:32]
}

// pkcs7Unpad removes PKCS#5/#7 padding; bad padding almost always means a wrong password.
func pkcs7Unpad(b []byte, blockSize int) ([]byte, error) {
	if len(b) == 0 || len(b)%blockSize != 0 {
		return nil, ErrWrongKeyPassword
	}
	n := int(b[len(b)-1])
	if n == 0 || n > blockSize || n > len(b) {
		return nil, ErrWrongKeyPassword
	}
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			return nil, ErrWrongKeyPassword
		}
	}
	return b[:len(b)-n], nil
}

// parsePKCS8Signer parses a decrypted PKCS#8 key.
func parsePKCS8Signer(der []byte, alias string) (crypto.Signer, error) {
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errorf(ErrMalformed, "private key of alias %q: %v", alias, err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, errorf(ErrUnsupportedAlgorithm, "private key of alias %q is a %T", alias, key)
	}
	return s, nil
}
