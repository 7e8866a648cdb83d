package keystore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"hash"
	"math/big"
	"unicode/utf16"
)

// Password-based encryption as PKCS#12 (RFC 7292) and PKCS#8 files use it: the PKCS#12
// key derivation with 3DES and RC2 (legacy files), and PBES2 with PBKDF2 and AES or 3DES
// (keytool 17+, OpenSSL 3).

var (
	oidPBEWithSHAAnd3KeyTripleDESCBC = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 3}
	oidPBEWithSHAAnd2KeyTripleDESCBC = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 4}
	oidPBEWithSHAAnd128BitRC2CBC     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 5}
	oidPBEWithSHAAnd40BitRC2CBC      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 6}
	oidPBES2                         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2                        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACWithSHA1                  = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACWithSHA224                = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 8}
	oidHMACWithSHA256                = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACWithSHA384                = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACWithSHA512                = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128CBC                     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC                     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC                     = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC                    = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
	oidSHA1                          = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256                        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384                        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512                        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidSHA224                        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}
)

// maxIterations bounds the work a hostile file can ask for (about half a second of one
// core per derivation); real files use 2,048 (OpenSSL) to 600,000 (OWASP's advice).
const maxIterations = 1_000_000

// bmpPassword encodes a UTF-8 password as PKCS#12 wants it for its own key derivation:
// UTF-16BE with a two-byte terminator. The empty password is the empty string, as
// OpenSSL encodes it; callers try the terminator-only form too.
func bmpPassword(password []byte) []byte {
	if len(password) == 0 {
		return nil
	}
	units := utf16.Encode([]rune(string(password)))
	out := make([]byte, 0, 2*len(units)+2)
	for _, u := range units {
		out = append(out, byte(u>>8), byte(u))
	}
	return append(out, 0, 0)
}

// pkcs12KDF is the key derivation of RFC 7292, appendix B.2. id is 1 for keys, 2 for
// IVs and 3 for MAC keys. password is already BMP-encoded.
func pkcs12KDF(newHash func() hash.Hash, password, salt []byte, id byte, iterations, size int) []byte {
	h := newHash()
	u := h.Size()
	v := h.BlockSize()
	fill := func(b []byte) []byte {
		if len(b) == 0 {
			return nil
		}
		n := v * ((len(b) + v - 1) / v)
		out := make([]byte, n)
		for i := range out {
			out[i] = b[i%len(b)]
		}
		return out
	}
	D := make([]byte, v)
	for i := range D {
		D[i] = id
	}
	I := append(fill(salt), fill(password)...)
	out := make([]byte, 0, size+u)
	one := big.NewInt(1)
	for len(out) < size {
		h.Reset()
		h.Write(D)
		h.Write(I)
		A := h.Sum(nil)
		for r := 1; r < iterations; r++ {
			h.Reset()
			h.Write(A)
			A = h.Sum(A[:0])
		}
		out = append(out, A...)
		if len(out) >= size {
			break
		}
		// I_j = (I_j + B + 1) mod 2^(8v) for each v-byte block of I.
		B := new(big.Int).SetBytes(fill(A)[:v])
		B.Add(B, one)
		for j := 0; j < len(I); j += v {
			Ij := new(big.Int).SetBytes(I[j : j+v])
			Ij.Add(Ij, B)
			b := Ij.Bytes()
			if len(b) > v {
				b = b[len(b)-v:]
			}
			blk := I[j : j+v]
			for k := range blk {
				blk[k] = 0
			}
			copy(blk[v-len(b):], b)
		}
	}
	return out[:size]
}

type pbeParams struct {
	Salt       []byte
	Iterations int
}

type pbes2Params struct {
	KeyDerivationFunc pkix.AlgorithmIdentifier
	EncryptionScheme  pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt       []byte
	Iterations int
	KeyLength  int                      `asn1:"optional"`
	PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
}

// errDecrypt is returned when decryption produced garbage: in practice a wrong password.
var errDecrypt = fmt.Errorf("decryption failed (wrong password)")

// pbeDecrypt decrypts data encrypted with the algorithm alg under password (UTF-8).
func pbeDecrypt(alg pkix.AlgorithmIdentifier, data, password []byte) ([]byte, error) {
	switch {
	case alg.Algorithm.Equal(oidPBES2):
		return pbes2Decrypt(alg.Parameters.FullBytes, data, password)
	case alg.Algorithm.Equal(oidPBEWithSHAAnd3KeyTripleDESCBC), alg.Algorithm.Equal(oidPBEWithSHAAnd2KeyTripleDESCBC),
		alg.Algorithm.Equal(oidPBEWithSHAAnd128BitRC2CBC), alg.Algorithm.Equal(oidPBEWithSHAAnd40BitRC2CBC):
		return pkcs12PBEDecrypt(alg, data, password)
	}
	return nil, errorf(ErrUnsupportedAlgorithm, "encryption %v", alg.Algorithm)
}

func pkcs12PBEDecrypt(alg pkix.AlgorithmIdentifier, data, password []byte) ([]byte, error) {
	var p pbeParams
	if rest, err := asn1.Unmarshal(alg.Parameters.FullBytes, &p); err != nil || len(rest) > 0 {
		return nil, errorf(ErrMalformed, "PKCS#12 PBE parameters")
	}
	if p.Iterations < 1 || p.Iterations > maxIterations {
		return nil, errorf(ErrMalformed, "PBE iteration count %d", p.Iterations)
	}
	if len(data) == 0 || len(data)%8 != 0 {
		return nil, errorf(ErrMalformed, "encrypted length %d", len(data))
	}
	try := func(pw []byte) ([]byte, error) {
		out := append([]byte(nil), data...)
		switch {
		case alg.Algorithm.Equal(oidPBEWithSHAAnd3KeyTripleDESCBC), alg.Algorithm.Equal(oidPBEWithSHAAnd2KeyTripleDESCBC):
			key := pkcs12KDF(sha1.New, pw, p.Salt, 1, p.Iterations, 24)
			if alg.Algorithm.Equal(oidPBEWithSHAAnd2KeyTripleDESCBC) {
				key = append(key[:16], key[:8]...)
			}
			iv := pkcs12KDF(sha1.New, pw, p.Salt, 2, p.Iterations, 8)
			block, err := des.NewTripleDESCipher(key)
			if err != nil {
				return nil, err
			}
			cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, out)
		default:
			n := 5
			if alg.Algorithm.Equal(oidPBEWithSHAAnd128BitRC2CBC) {
				n = 16
			}
			key := pkcs12KDF(sha1.New, pw, p.Salt, 1, p.Iterations, n)
			iv := pkcs12KDF(sha1.New, pw, p.Salt, 2, p.Iterations, 8)
			newRC2(key, n*8).decryptCBC(iv, out)
		}
		return pkcs7Unpad(out, 8)
	}
	out, err := try(bmpPassword(password))
	if err != nil && len(password) == 0 {
		out, err = try([]byte{0, 0})
	}
	if err != nil {
		return nil, errDecrypt
	}
	return out, nil
}

func pbes2Decrypt(params, data, password []byte) ([]byte, error) {
	var p pbes2Params
	if rest, err := asn1.Unmarshal(params, &p); err != nil || len(rest) > 0 {
		return nil, errorf(ErrMalformed, "PBES2 parameters")
	}
	if !p.KeyDerivationFunc.Algorithm.Equal(oidPBKDF2) {
		return nil, errorf(ErrUnsupportedAlgorithm, "PBES2 key derivation %v", p.KeyDerivationFunc.Algorithm)
	}
	var kdf pbkdf2Params
	if rest, err := asn1.Unmarshal(p.KeyDerivationFunc.Parameters.FullBytes, &kdf); err != nil || len(rest) > 0 {
		return nil, errorf(ErrMalformed, "PBKDF2 parameters")
	}
	if kdf.Iterations < 1 || kdf.Iterations > maxIterations {
		return nil, errorf(ErrMalformed, "PBKDF2 iteration count %d", kdf.Iterations)
	}
	prf := sha1.New
	switch alg := kdf.PRF.Algorithm; {
	case len(alg) == 0, alg.Equal(oidHMACWithSHA1):
	case alg.Equal(oidHMACWithSHA224):
		prf = sha256.New224
	case alg.Equal(oidHMACWithSHA256):
		prf = sha256.New
	case alg.Equal(oidHMACWithSHA384):
		prf = sha512.New384
	case alg.Equal(oidHMACWithSHA512):
		prf = sha512.New
	default:
		return nil, errorf(ErrUnsupportedAlgorithm, "PBKDF2 PRF %v", alg)
	}
	var keyLen int
	var newBlock func([]byte) (cipher.Block, error)
	switch alg := p.EncryptionScheme.Algorithm; {
	case alg.Equal(oidAES128CBC):
		keyLen, newBlock = 16, aes.NewCipher
	case alg.Equal(oidAES192CBC):
		keyLen, newBlock = 24, aes.NewCipher
	case alg.Equal(oidAES256CBC):
		keyLen, newBlock = 32, aes.NewCipher
	case alg.Equal(oidDESEDE3CBC):
		keyLen, newBlock = 24, des.NewTripleDESCipher
	default:
		return nil, errorf(ErrUnsupportedAlgorithm, "PBES2 cipher %v", alg)
	}
	if kdf.KeyLength != 0 && kdf.KeyLength != keyLen {
		return nil, errorf(ErrMalformed, "PBKDF2 key length %d for a %d-byte cipher", kdf.KeyLength, keyLen)
	}
	var iv []byte
	if rest, err := asn1.Unmarshal(p.EncryptionScheme.Parameters.FullBytes, &iv); err != nil || len(rest) > 0 {
		return nil, errorf(ErrMalformed, "PBES2 IV")
	}
	key, err := pbkdf2.Key(prf, string(password), kdf.Salt, kdf.Iterations, keyLen)
	if err != nil {
		return nil, errorf(ErrMalformed, "PBKDF2: %v", err)
	}
	block, err := newBlock(key)
	if err != nil {
		return nil, err
	}
	if len(iv) != block.BlockSize() || len(data) == 0 || len(data)%block.BlockSize() != 0 {
		return nil, errorf(ErrMalformed, "PBES2 IV or data length")
	}
	out := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, data)
	out, err = pkcs7Unpad(out, block.BlockSize())
	if err != nil {
		return nil, errDecrypt
	}
	return out, nil
}

// macHash returns the hash named by a PKCS#12 MAC digest algorithm.
func macHash(oid asn1.ObjectIdentifier) func() hash.Hash {
	switch {
	case oid.Equal(oidSHA1):
		return sha1.New
	case oid.Equal(oidSHA224):
		return sha256.New224
	case oid.Equal(oidSHA256):
		return sha256.New
	case oid.Equal(oidSHA384):
		return sha512.New384
	case oid.Equal(oidSHA512):
		return sha512.New
	}
	return nil
}

// pkcs12MAC computes the HMAC of content with a key derived as RFC 7292 says.
func pkcs12MAC(newHash func() hash.Hash, bmpPass, salt []byte, iterations int, content []byte) []byte {
	key := pkcs12KDF(newHash, bmpPass, salt, 3, iterations, newHash().Size())
	m := hmac.New(newHash, key)
	m.Write(content)
	return m.Sum(nil)
}
