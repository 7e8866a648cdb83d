//go:build !(cgo && openssl)

package osslrsa

import (
	"crypto"
	"crypto/rsa"
	"errors"
)

// Enabled reports whether this build signs with OpenSSL: true only when built
// with cgo and -tags openssl.
const Enabled = false

// Version is the OpenSSL version in use ("" without the openssl build tag).
func Version() string { return "" }

func newSigner(*rsa.PrivateKey) (crypto.Signer, error) {
	return nil, errors.New("built without -tags openssl")
}
