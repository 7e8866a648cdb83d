//go:build cgo && openssl

package osslrsa

/*
#cgo LDFLAGS: -lcrypto
#include <openssl/opensslv.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "osslrsa needs OpenSSL 3 (apt-get install libssl-dev)"
#endif

// OpenSSL's error queue is per thread and a goroutine may change threads
// between cgo calls, so each call takes its own error off the queue and
// returns it.

static EVP_PKEY *osslrsa_import(const unsigned char *der, long len, unsigned long *err) {
	ERR_clear_error();
	const unsigned char *p = der;
	EVP_PKEY *pkey = d2i_PrivateKey(EVP_PKEY_RSA, NULL, &p, len);
	if (pkey == NULL || p != der + len) {
		*err = ERR_get_error();
		ERR_clear_error();
		EVP_PKEY_free(pkey);
		return NULL;
	}
	return pkey;
}

// osslrsa_sign signs digest (already hashed with the hash of md: 256, 384 or
// 512 for SHA-2) with PKCS#1 v1.5 padding, or PSS with a salt as long as the
// digest and MGF1 over the same hash. A new EVP_PKEY_CTX per call makes
// concurrent calls on one EVP_PKEY safe.
static int osslrsa_sign(EVP_PKEY *pkey, int pss, int md, const unsigned char *digest, size_t dlen,
		unsigned char *sig, size_t *siglen, unsigned long *err) {
	const EVP_MD *h = md == 256 ? EVP_sha256() : md == 384 ? EVP_sha384() : md == 512 ? EVP_sha512() : NULL;
	int ok = 0;
	ERR_clear_error();
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
	if (h == NULL || ctx == NULL)
		goto done;
	if (EVP_PKEY_sign_init(ctx) <= 0)
		goto done;
	if (EVP_PKEY_CTX_set_rsa_padding(ctx, pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING) <= 0)
		goto done;
	if (EVP_PKEY_CTX_set_signature_md(ctx, h) <= 0)
		goto done;
	if (pss && (EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, h) <= 0 ||
			EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) <= 0))
		goto done;
	if (EVP_PKEY_sign(ctx, sig, siglen, digest, dlen) <= 0)
		goto done;
	ok = 1;
done:
	if (!ok)
		*err = ERR_get_error();
	ERR_clear_error();
	EVP_PKEY_CTX_free(ctx);
	return ok;
}
*/
import "C"

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"unsafe"
)

// Enabled reports whether this build signs with OpenSSL: true only when built
// with cgo and -tags openssl.
const Enabled = true

// Version is the OpenSSL version in use, e.g. "OpenSSL 3.0.19 27 Jan 2026".
func Version() string { return C.GoString(C.OpenSSL_version(C.OPENSSL_VERSION)) }

// ErrClosed is returned by Sign after Close.
var ErrClosed = errors.New("osslrsa: signer is closed")

// Signer is a crypto.Signer whose RSA private key lives in OpenSSL. It is
// safe for concurrent use. Its key is freed by Close, or when the Signer is
// garbage collected.
type Signer struct {
	key  *rsa.PrivateKey // signs what OpenSSL is not asked to; Public
	size int

	mu      sync.RWMutex // Sign holds it shared, Close exclusively
	pkey    *C.EVP_PKEY
	cleanup runtime.Cleanup
}

var _ crypto.Signer = (*Signer)(nil)

// New copies key into OpenSSL. The key is validated first, and a test
// signature made by OpenSSL must verify with Go's public key.
func New(key *rsa.PrivateKey) (*Signer, error) {
	if key == nil {
		return nil, errors.New("no key")
	}
	if err := key.Validate(); err != nil {
		return nil, fmt.Errorf("invalid RSA key: %w", err)
	}
	der := x509.MarshalPKCS1PrivateKey(key)
	var cerr C.ulong
	pkey := C.osslrsa_import((*C.uchar)(unsafe.Pointer(&der[0])), C.long(len(der)), &cerr)
	clear(der)
	runtime.KeepAlive(der)
	if pkey == nil {
		return nil, fmt.Errorf("OpenSSL could not read the RSA key: %s", errString(cerr))
	}
	s := &Signer{key: key, size: key.Size(), pkey: pkey}
	s.cleanup = runtime.AddCleanup(s, func(p *C.EVP_PKEY) { C.EVP_PKEY_free(p) }, pkey)
	if got := int(C.EVP_PKEY_get_size(pkey)); got != s.size {
		s.Close()
		return nil, fmt.Errorf("OpenSSL sees a %d-byte key, Go a %d-byte one", got, s.size)
	}
	// Pairwise check: the key OpenSSL holds signs for Go's public key.
	digest := sha256.Sum256([]byte("osslrsa pairwise consistency test"))
	opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	sig, err := s.Sign(nil, digest[:], opts)
	if err == nil {
		err = rsa.VerifyPSS(&key.PublicKey, crypto.SHA256, digest[:], sig, opts)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("OpenSSL test signature: %w", err)
	}
	return s, nil
}

// Public returns the Go public key (*rsa.PublicKey).
func (s *Signer) Public() crypto.PublicKey { return &s.key.PublicKey }

// Sign signs digest. *rsa.PSSOptions with a salt as long as the hash (or
// rsa.PSSSaltLengthEqualsHash) and PKCS#1 v1.5, over SHA-256, SHA-384 or
// SHA-512, are signed by OpenSSL, which draws the PSS salt from its own
// CSPRNG (rand is not used); every other option is passed to Go's
// (*rsa.PrivateKey).Sign with rand.
func (s *Signer) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	h := opts.HashFunc()
	pss, isPSS := opts.(*rsa.PSSOptions)
	if !opensslHash(h) || (isPSS && !pssSaltIsHashLen(pss, h)) {
		return s.key.Sign(rand, digest, opts)
	}
	if len(digest) != h.Size() {
		return nil, fmt.Errorf("osslrsa: digest is %d bytes, %v needs %d", len(digest), h, h.Size())
	}
	cpss := C.int(0)
	if isPSS {
		cpss = 1
	}
	sig := make([]byte, s.size)
	siglen := C.size_t(len(sig))
	var cerr C.ulong

	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.pkey == nil {
		return nil, ErrClosed
	}
	ok := C.osslrsa_sign(s.pkey, cpss, C.int(h.Size()*8),
		(*C.uchar)(unsafe.Pointer(&digest[0])), C.size_t(len(digest)),
		(*C.uchar)(unsafe.Pointer(&sig[0])), &siglen, &cerr)
	if ok != 1 {
		return nil, fmt.Errorf("osslrsa: signing: %s", errString(cerr))
	}
	if int(siglen) != len(sig) {
		return nil, fmt.Errorf("osslrsa: signing: %d-byte signature, want %d", siglen, len(sig))
	}
	return sig, nil
}

// Close frees the OpenSSL key; Sign then fails with ErrClosed. It waits for
// signatures in progress and may be called more than once.
func (s *Signer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pkey != nil {
		s.cleanup.Stop()
		C.EVP_PKEY_free(s.pkey)
		s.pkey = nil
	}
	return nil
}

func newSigner(key *rsa.PrivateKey) (crypto.Signer, error) { return New(key) }

func errString(e C.ulong) string {
	if e == 0 {
		return "unknown OpenSSL error"
	}
	var buf [256]C.char
	C.ERR_error_string_n(e, &buf[0], C.size_t(len(buf)))
	return C.GoString(&buf[0])
}
