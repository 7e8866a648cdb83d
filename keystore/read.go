package keystore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// MaxSize is the largest input Parse accepts. Real keystores, even truststores with
// hundreds of certificates, are well below it.
const MaxSize = 16 << 20

var (
	magicJKS   = []byte{0xfe, 0xed, 0xfe, 0xed}
	magicJCEKS = []byte{0xce, 0xce, 0xce, 0xce}
)

// ReadFile reads and parses the keystore at path. Errors name the file.
func ReadFile(path string, storePass []byte) (*Keystore, error) {
	data, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	ks, err := Parse(data, storePass)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ks, nil
}

// readLimited reads at most MaxSize bytes of path; a larger file is ErrTooLarge.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > MaxSize {
		return nil, errorf(ErrTooLarge, "%s: larger than %d MiB, refused before parsing", path, MaxSize>>20)
	}
	return data, nil
}

// DetectFormat tells the format of data from its first bytes.
func DetectFormat(data []byte) Format {
	switch {
	case bytes.HasPrefix(data, magicJKS):
		return FormatJKS
	case bytes.HasPrefix(data, magicJCEKS):
		return FormatJCEKS
	case len(data) > 1 && data[0] == 0x30:
		if isDERCertificate(data) {
			return FormatDER
		}
		return FormatPKCS12
	case bytes.Contains(data[:min(len(data), 4096)], []byte("-----BEGIN ")):
		return FormatPEM
	}
	return FormatUnknown
}

// Parse parses a keystore of any supported format. storePass may be empty for PEM and
// DER input; for PEM it decrypts encrypted private keys.
func Parse(data []byte, storePass []byte) (ks *Keystore, err error) {
	if len(data) > MaxSize {
		return nil, errorf(ErrTooLarge, "larger than %d MiB, refused before parsing", MaxSize>>20)
	}
	if len(data) == 0 {
		return nil, errorf(ErrUnsupportedFormat, "empty file (reads JKS, JCEKS, PKCS#12, PEM, DER)")
	}
	// The decoders check every length against the input; this is the last line of
	// defence that keeps a parser bug from taking a program down on hostile input.
	defer func() {
		if r := recover(); r != nil {
			ks, err = nil, errorf(ErrMalformed, "internal parser error: %v", r)
		}
	}()
	switch f := DetectFormat(data); f {
	case FormatJKS:
		return parseJKS(data, storePass)
	case FormatJCEKS:
		return parseJCEKS(data, storePass)
	case FormatPKCS12:
		return parsePKCS12(data, storePass)
	case FormatDER:
		return parseDERCert(data)
	case FormatPEM:
		return parsePEM(data, storePass)
	}
	return nil, errorf(ErrUnsupportedFormat, "not a keystore: first bytes % x (reads JKS, JCEKS, PKCS#12, PEM, DER)", data[:min(len(data), 4)])
}

// malformed wraps a decoding failure as ErrMalformed with a short description.
func malformed(format Format, what string, err error) error {
	if err == nil {
		return errorf(ErrMalformed, "damaged %s keystore: %s", format, what)
	}
	if errors.Is(err, ErrMalformed) {
		return err
	}
	return errorf(ErrMalformed, "damaged %s keystore: %s: %v", format, what, err)
}

// NeedsPassword reports whether data can only be read with a store password: always
// for JKS, JCEKS and PKCS#12; for PEM only when it holds an encrypted key; never for
// a DER certificate or bytes of no format read here (reading them says so).
func NeedsPassword(data []byte) bool {
	switch DetectFormat(data) {
	case FormatPEM:
		return bytes.Contains(data, []byte("ENCRYPTED"))
	case FormatDER, FormatUnknown:
		return false
	}
	return true
}
