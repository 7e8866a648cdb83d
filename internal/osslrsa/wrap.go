package osslrsa

import (
	"crypto"
	"crypto/fips140"
	"crypto/rsa"
	"crypto/tls"
	"fmt"
)

// Wrap returns c with its *rsa.PrivateKey replaced by a Signer backed by
// OpenSSL. A certificate with any other key, a build without the openssl tag
// (Enabled false) and FIPS 140 mode leave c as it is. On error c is returned
// unchanged, so the caller may go on signing with Go.
func Wrap(c tls.Certificate) (tls.Certificate, error) {
	key, ok := c.PrivateKey.(*rsa.PrivateKey)
	if !ok || !Enabled || fips140.Enabled() {
		return c, nil
	}
	s, err := newSigner(key)
	if err != nil {
		return c, fmt.Errorf("moving RSA key to OpenSSL: %w", err)
	}
	c.PrivateKey = s
	return c, nil
}

// opensslHash reports whether OpenSSL signs with hash here; Go signs the rest.
func opensslHash(h crypto.Hash) bool {
	return h == crypto.SHA256 || h == crypto.SHA384 || h == crypto.SHA512
}

// pssSaltIsHashLen reports whether opts ask for a PSS salt as long as the hash
// (crypto/tls uses rsa.PSSSaltLengthEqualsHash).
func pssSaltIsHashLen(opts *rsa.PSSOptions, h crypto.Hash) bool {
	return opts.SaltLength == rsa.PSSSaltLengthEqualsHash || opts.SaltLength == h.Size()
}
