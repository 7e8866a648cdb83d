package awstest

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keybridge/keybridge/internal/awsrules"
)

// parseCertsPEM parses one or more PEM CERTIFICATE blocks; anything else in the
// text (other block types, garbage between blocks) is an error.
func parseCertsPEM(text string) ([]*x509.Certificate, error) {
	rest := []byte(strings.TrimSpace(text))
	var certs []*x509.Certificate
	for len(rest) > 0 {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("not PEM encoded")
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate: %v", err)
		}
		certs = append(certs, c)
		rest = []byte(strings.TrimSpace(string(rest)))
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate")
	}
	return certs, nil
}

// parseKeyPEM parses a PKCS#1, SEC1 or PKCS#8 private key and returns its
// public key.
func parseKeyPEM(text string) (crypto.PublicKey, error) {
	block, rest := pem.Decode([]byte(strings.TrimSpace(text)))
	if block == nil {
		return nil, errors.New("private key is not PEM encoded")
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return nil, errors.New("private key has trailing data")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("unsupported PEM block %q for a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing private key: %v", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("unsupported private key type")
	}
	return signer.Public(), nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// keyAlgorithm names a public key the way ACM does (RSA_2048, EC_prime256v1…).
func keyAlgorithm(pub crypto.PublicKey) string { return awsrules.KeyAlgorithm(pub) }

// checkMaterial validates what IAM UploadServerCertificate and ACM
// ImportCertificate check: parseable PEM, exactly one leaf, key matches, chain in
// order, key algorithm accepted.
func checkMaterial(body, key, chain string, accepted map[string]bool) (leaf *x509.Certificate, issuers []*x509.Certificate, problem, code string) {
	certs, err := parseCertsPEM(body)
	if err != nil {
		return nil, nil, "Unable to parse certificate. Please ensure the certificate is in PEM format: " + err.Error(), "malformed"
	}
	if len(certs) != 1 {
		return nil, nil, "The certificate body must contain exactly one certificate", "malformed"
	}
	leaf = certs[0]
	pub, err := parseKeyPEM(key)
	if err != nil {
		return nil, nil, "Unable to parse private key: " + err.Error(), "malformed"
	}
	if !publicKeysEqual(pub, leaf.PublicKey) {
		return nil, nil, "The public key of the certificate does not match the private key", "mismatch"
	}
	if alg := keyAlgorithm(pub); !accepted[alg] {
		return nil, nil, fmt.Sprintf("The private key algorithm %s is not supported", alg), "malformed"
	}
	if strings.TrimSpace(chain) != "" {
		issuers, err = parseCertsPEM(chain)
		if err != nil {
			return nil, nil, "Unable to parse certificate chain: " + err.Error(), "malformed"
		}
		prev := leaf
		for _, c := range issuers {
			if err := prev.CheckSignatureFrom(c); err != nil {
				return nil, nil, "Unable to validate certificate chain. The certificate chain must start with the immediate signing certificate, followed by any intermediaries in order", "malformed"
			}
			prev = c
		}
	}
	return leaf, issuers, "", ""
}

var iamKeyAlgorithms = map[string]bool{
	"RSA_1024": true, "RSA_2048": true, "RSA_3072": true, "RSA_4096": true,
	"EC_prime256v1": true, "EC_secp384r1": true,
}

var acmKeyAlgorithms = map[string]bool{
	"RSA_1024": true, "RSA_2048": true, "RSA_3072": true, "RSA_4096": true,
	"EC_prime256v1": true, "EC_secp384r1": true, "EC_secp521r1": true,
}

func pemText(certs []*x509.Certificate) string {
	var b strings.Builder
	for _, c := range certs {
		b.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	}
	return b.String()
}

func visible(at time.Time) bool { return !time.Now().Before(at) }
