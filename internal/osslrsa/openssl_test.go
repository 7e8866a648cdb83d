//go:build cgo && openssl

package osslrsa

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
)

func digestOf(h crypto.Hash, msg []byte) []byte {
	w := h.New()
	w.Write(msg)
	return w.Sum(nil)
}

func newSignerT(t testing.TB, key *rsa.PrivateKey) *Signer {
	t.Helper()
	s, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Every option OpenSSL signs verifies with Go; PKCS#1 v1.5 signatures are
// deterministic, so they must equal Go's byte for byte.
func TestSignVerifiesWithGo(t *testing.T) {
	for _, bits := range []int{2048, 4096} {
		key := rsaKey(t, bits)
		s := newSignerT(t, key)
		if !key.PublicKey.Equal(s.Public()) {
			t.Fatal("Public() is not the Go public key")
		}
		for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
			opts := []crypto.SignerOpts{
				h,
				&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h},
				&rsa.PSSOptions{SaltLength: h.Size(), Hash: h},
			}
			for _, opt := range opts {
				name := fmt.Sprintf("%d/%v/pkcs1v15", bits, h)
				if p, ok := opt.(*rsa.PSSOptions); ok {
					name = fmt.Sprintf("%d/%v/pss-salt%d", bits, h, p.SaltLength)
				}
				t.Run(name, func(t *testing.T) {
					n := 40
					if bits > 2048 {
						n = 8
					}
					var prev []byte
					for i := 0; i < n; i++ {
						msg := []byte(fmt.Sprintf("message %d %s", i, strings.Repeat("x", i*7)))
						d := digestOf(h, msg)
						sig, err := s.Sign(rand.Reader, d, opt)
						if err != nil {
							t.Fatal(err)
						}
						if len(sig) != key.Size() {
							t.Fatalf("signature is %d bytes, want %d", len(sig), key.Size())
						}
						if p, ok := opt.(*rsa.PSSOptions); ok {
							// Verify with the exact salt length, not auto-detection.
							if err := rsa.VerifyPSS(&key.PublicKey, h, d, sig, &rsa.PSSOptions{SaltLength: h.Size(), Hash: p.Hash}); err != nil {
								t.Fatalf("message %d: Go does not verify: %v", i, err)
							}
							again, err := s.Sign(rand.Reader, d, opt)
							if err != nil {
								t.Fatal(err)
							}
							if bytes.Equal(again, sig) {
								t.Fatal("two PSS signatures of one digest are equal: no random salt")
							}
						} else {
							if err := rsa.VerifyPKCS1v15(&key.PublicKey, h, d, sig); err != nil {
								t.Fatalf("message %d: Go does not verify: %v", i, err)
							}
							want, err := rsa.SignPKCS1v15(nil, key, h, d)
							if err != nil {
								t.Fatal(err)
							}
							if !bytes.Equal(sig, want) {
								t.Fatalf("message %d: PKCS#1 v1.5 signature differs from Go's", i)
							}
						}
						// A signature over another message must not verify.
						if prev != nil {
							if rsa.VerifyPKCS1v15(&key.PublicKey, h, d, prev) == nil ||
								rsa.VerifyPSS(&key.PublicKey, h, d, prev, nil) == nil {
								t.Fatalf("message %d: previous signature verifies", i)
							}
						}
						prev = sig
					}
				})
			}
		}
	}
}

// Options OpenSSL is not asked to sign go to Go's crypto/rsa, with Go's
// results and errors.
func TestSignFallsBackToGo(t *testing.T) {
	key := rsaKey(t, 2048)
	s := newSignerT(t, key)
	sha1Digest := sha1.Sum([]byte("m"))
	d256 := digestOf(crypto.SHA256, []byte("m"))
	tests := []struct {
		name   string
		digest []byte
		opts   crypto.SignerOpts
		verify func(sig []byte) error
	}{
		{"pkcs1v15 sha1", sha1Digest[:], crypto.SHA1, func(sig []byte) error {
			return rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA1, sha1Digest[:], sig)
		}},
		{"pss salt auto", d256, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: crypto.SHA256}, func(sig []byte) error {
			return rsa.VerifyPSS(&key.PublicKey, crypto.SHA256, d256, sig, &rsa.PSSOptions{SaltLength: key.Size() - 2 - 32})
		}},
		{"pss salt 20", d256, &rsa.PSSOptions{SaltLength: 20, Hash: crypto.SHA256}, func(sig []byte) error {
			return rsa.VerifyPSS(&key.PublicKey, crypto.SHA256, d256, sig, &rsa.PSSOptions{SaltLength: 20})
		}},
		{"unhashed pkcs1v15", []byte("raw"), crypto.Hash(0), func(sig []byte) error {
			return rsa.VerifyPKCS1v15(&key.PublicKey, 0, []byte("raw"), sig)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := s.Sign(rand.Reader, tt.digest, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.verify(sig); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSignErrors(t *testing.T) {
	key := rsaKey(t, 2048)
	s := newSignerT(t, key)
	for _, tt := range []struct {
		name   string
		digest []byte
		opts   crypto.SignerOpts
	}{
		{"short digest", make([]byte, 31), crypto.SHA256},
		{"long digest pss", make([]byte, 33), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}},
		{"sha512 digest for sha384", make([]byte, 64), crypto.SHA384},
		{"empty digest", nil, crypto.SHA512},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if sig, err := s.Sign(rand.Reader, tt.digest, tt.opts); err == nil {
				t.Fatalf("signed (%d bytes), want an error", len(sig))
			}
		})
	}
}

func TestClose(t *testing.T) {
	s, err := New(rsaKey(t, 2048))
	if err != nil {
		t.Fatal(err)
	}
	d := digestOf(crypto.SHA256, []byte("m"))
	if _, err := s.Sign(rand.Reader, d, crypto.SHA256); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Sign(rand.Reader, d, crypto.SHA256); !errors.Is(err, ErrClosed) {
		t.Fatalf("Sign after Close: %v, want ErrClosed", err)
	}
}

func TestNewRejectsBadKeys(t *testing.T) {
	good := rsaKey(t, 2048)
	wrongD := *good
	wrongD.D = new(big.Int).Add(good.D, big.NewInt(2))
	wrongD.Precomputed = rsa.PrecomputedValues{}
	wrongP := *good
	wrongP.Primes = []*big.Int{new(big.Int).Add(good.Primes[0], big.NewInt(2)), good.Primes[1]}
	wrongP.Precomputed = rsa.PrecomputedValues{}
	for _, tt := range []struct {
		name string
		key  *rsa.PrivateKey
	}{
		{"nil", nil},
		{"wrong private exponent", &wrongD},
		{"wrong prime", &wrongP},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := New(tt.key); err == nil {
				s.Close()
				t.Fatal("New accepted a bad key")
			}
			if tt.key == nil {
				return
			}
			c := tls.Certificate{PrivateKey: tt.key}
			got, err := Wrap(c)
			if err == nil {
				t.Fatal("Wrap accepted a bad key")
			}
			if got.PrivateKey != tt.key {
				t.Fatal("Wrap changed the certificate on error")
			}
		})
	}
}

// Many goroutines sign with one Signer (run under -race).
func TestConcurrentSign(t *testing.T) {
	key := rsaKey(t, 2048)
	s := newSignerT(t, key)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 15; i++ {
				d := digestOf(crypto.SHA256, []byte(fmt.Sprintf("%d/%d", g, i)))
				opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
				sig, err := s.Sign(rand.Reader, d, opts)
				if err == nil {
					err = rsa.VerifyPSS(&key.PublicKey, crypto.SHA256, d, sig, opts)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// A real tls.Server signs with the wrapped key: TLS 1.3 (PSS) and TLS 1.2
// restricted to PKCS#1 v1.5. Once the Signer is closed, the same
// certificate fails the handshake, which shows OpenSSL did the signing.
func TestTLSHandshakeUsesOpenSSL(t *testing.T) {
	cert, err := Wrap(selfSigned(t, rsaKey(t, 2048)))
	if err != nil {
		t.Fatal(err)
	}
	s, ok := cert.PrivateKey.(*Signer)
	if !ok {
		t.Fatalf("PrivateKey is %T, want *Signer", cert.PrivateKey)
	}
	pkcs1 := cert
	pkcs1.SupportedSignatureAlgorithms = []tls.SignatureScheme{tls.PKCS1WithSHA256}
	cases := []struct {
		name   string
		cert   tls.Certificate
		client *tls.Config
	}{
		{"tls13 pss", cert, &tls.Config{MinVersion: tls.VersionTLS13}},
		{"tls12 pss", cert, &tls.Config{MaxVersion: tls.VersionTLS12}},
		{"tls12 pkcs1v15", pkcs1, &tls.Config{MaxVersion: tls.VersionTLS12}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := handshake(t, tc.cert, tc.client); err != nil {
				t.Fatal(err)
			}
		})
	}
	s.Close()
	if err := handshake(t, cert, &tls.Config{MinVersion: tls.VersionTLS13}); err == nil {
		t.Fatal("handshake succeeded with a closed signer: OpenSSL was not used")
	}
}

func TestVersion(t *testing.T) {
	if v := Version(); !strings.HasPrefix(v, "OpenSSL 3") {
		t.Fatalf("Version() = %q", v)
	}
}

// Close while other goroutines sign: each Sign either returns a valid
// signature or ErrClosed (run under -race).
func TestCloseWhileSigning(t *testing.T) {
	key := rsaKey(t, 2048)
	s, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	d := digestOf(crypto.SHA256, []byte("m"))
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	start := make(chan struct{})
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := 0; i < 20; i++ {
				sig, err := s.Sign(rand.Reader, d, crypto.SHA256)
				if errors.Is(err, ErrClosed) {
					return
				}
				if err == nil {
					err = rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, d, sig)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	close(start)
	s.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := s.Sign(rand.Reader, d, crypto.SHA256); !errors.Is(err, ErrClosed) {
		t.Fatalf("Sign after Close: %v", err)
	}
}
