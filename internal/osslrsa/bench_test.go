package osslrsa

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"testing"
)

// BenchmarkSign compares Go's RSA-2048 PSS signing (what crypto/tls does for
// TLS 1.3) with the OpenSSL signer, when built with -tags openssl.
func BenchmarkSign(b *testing.B) {
	key := rsaKey(b, 2048)
	digest := sha256.Sum256([]byte("hello"))
	opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	signers := map[string]crypto.Signer{"go": key}
	if Enabled {
		c, err := Wrap(tls.Certificate{PrivateKey: key})
		if err != nil {
			b.Fatal(err)
		}
		signers["openssl"] = c.PrivateKey.(crypto.Signer)
	}
	for _, name := range []string{"go", "openssl"} {
		s := signers[name]
		if s == nil {
			continue
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Sign(rand.Reader, digest[:], opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
