package keystore

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
)

// parsePEM reads a PEM bundle: certificates and at most a few private keys in any
// order, keys as PKCS#1, PKCS#8, SEC1 or encrypted PKCS#8 (decrypted with storePass).
// Each key becomes a private-key entry whose chain is built from the certificate that
// matches it; certificates that belong to no key's chain become trusted entries.
func parsePEM(data []byte, storePass []byte) (*Keystore, error) {
	var certs []*x509.Certificate
	type keyBlock struct {
		block *pem.Block
		index int
	}
	var keys []keyBlock
	rest := data
	for n := 0; ; n++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE", "TRUSTED CERTIFICATE", "X509 CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, malformed(FormatPEM, fmt.Sprintf("certificate %d", len(certs)+1), err)
			}
			certs = append(certs, c)
		case "RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
			keys = append(keys, keyBlock{b, n})
		case "EC PARAMETERS", "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST", "X509 CRL", "PUBLIC KEY":
			// Parameters travel with SEC1 keys; the others are not keystore material.
		default:
			return nil, errorf(ErrUnsupportedFormat, "PEM block %q is not read (reads certificates and private keys)", b.Type)
		}
	}
	if len(certs) == 0 && len(keys) == 0 {
		return nil, malformed(FormatPEM, "no PEM block could be decoded", nil)
	}
	ks := &Keystore{Format: FormatPEM}
	used := map[*x509.Certificate]bool{}
	for i, kb := range keys {
		key, err := parsePEMKey(kb.block, storePass)
		if err != nil {
			return nil, err
		}
		var leaf *x509.Certificate
		for _, c := range certs {
			if KeyMatchesCert(key, c) {
				leaf = c
				break
			}
		}
		e := &Entry{Kind: PrivateKeyEntry}
		k := key
		e.decrypt = func([]byte) (crypto.Signer, error) { return k, nil }
		if leaf == nil {
			if len(certs) > 0 {
				return nil, errorf(ErrKeyMismatch, "private key %d matches none of the %d certificates in the bundle", i+1, len(certs))
			}
			e.Alias = fmt.Sprintf("key-%d", i+1)
		} else {
			e.Chain = BuildChain(leaf, certs)
			for _, c := range e.Chain {
				used[c] = true
			}
			e.Alias = certAlias(leaf, i)
		}
		ks.Entries = append(ks.Entries, e)
	}
	for i, c := range certs {
		if !used[c] {
			ks.Entries = append(ks.Entries, &Entry{Alias: certAlias(c, i), Kind: TrustedCertEntry, Chain: []*x509.Certificate{c}})
		}
	}
	return ks, nil
}

func parsePEMKey(b *pem.Block, password []byte) (crypto.Signer, error) {
	der := b.Bytes
	if b.Type == "ENCRYPTED PRIVATE KEY" {
		var info encryptedPrivateKeyInfo
		if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) > 0 {
			return nil, malformed(FormatPEM, "encrypted private key", err)
		}
		if len(password) == 0 {
			return nil, errorf(ErrWrongPassword, "the private key is encrypted and no password was given")
		}
		plain, err := pbeDecrypt(info.Algorithm, info.Data, password)
		if errors.Is(err, errDecrypt) {
			return nil, ErrWrongPassword
		}
		if err != nil {
			return nil, err
		}
		der = plain
	} else if _, ok := b.Headers["DEK-Info"]; ok {
		return nil, errorf(ErrUnsupportedAlgorithm, "OpenSSL's legacy PEM encryption (Proc-Type/DEK-Info) is not read; convert it with openssl pkcs8 -topk8")
	}
	var key any
	var err error
	switch b.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(der)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(der)
	default:
		key, err = x509.ParsePKCS8PrivateKey(der)
	}
	if err != nil {
		if b.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, ErrWrongPassword
		}
		return nil, malformed(FormatPEM, "private key", err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, errorf(ErrUnsupportedAlgorithm, "private key of type %T", key)
	}
	return s, nil
}
