package keystore

import (
	"errors"
	"fmt"
)

// Sentinel errors, tested with errors.Is. The error values returned carry the file,
// alias or detail in their message and wrap one of these.
var (
	// ErrWrongPassword: the store password does not open the keystore (integrity check
	// or decryption failed).
	ErrWrongPassword = errors.New("wrong store password")
	// ErrWrongKeyPassword: the store opened but the key password does not decrypt the key.
	ErrWrongKeyPassword = errors.New("wrong key password")
	// ErrAliasNotFound: no entry has the requested alias.
	ErrAliasNotFound = errors.New("alias not found")
	// ErrAmbiguousAlias: no alias was given and the keystore holds several private keys.
	ErrAmbiguousAlias = errors.New("several private keys")
	// ErrAliasInUse: the alias to write holds an entry of another kind (a trusted
	// certificate or a secret key), which is not replaced by a private key.
	ErrAliasInUse = errors.New("alias holds another kind of entry")
	// ErrNoPrivateKey: the keystore holds no private key (a truststore, a
	// certificate).
	ErrNoPrivateKey = errors.New("no private key")
	// ErrNotKeyEntry: the chosen alias holds a trusted certificate or a secret key,
	// not a private key (the keystore may hold keys under other aliases). It matches
	// ErrNoPrivateKey too.
	ErrNotKeyEntry = &sentinel{msg: "entry holds no private key", also: ErrNoPrivateKey}
	// ErrUnsupportedFormat: the bytes are not a keystore format this package reads.
	ErrUnsupportedFormat = errors.New("not a keystore")
	// ErrMalformed: the format was recognised but the content is damaged or truncated.
	ErrMalformed = errors.New("malformed keystore")
	// ErrTooLarge: the input is larger than MaxSize and was not parsed.
	ErrTooLarge = errors.New("keystore too large")
	// ErrKeyMismatch: the private key does not belong to the certificate.
	ErrKeyMismatch = errors.New("private key does not match certificate")
	// ErrUnsupportedAlgorithm: an encryption, MAC or key algorithm this package does not
	// implement.
	ErrUnsupportedAlgorithm = errors.New("unsupported algorithm")
	// ErrPasswordEncoding: the password cannot be represented the way the format
	// requires (for example a non-ASCII password for a JCEKS key).
	ErrPasswordEncoding = errors.New("password cannot be encoded for this format")
)

// sentinel is a sentinel error that also matches a broader one.
type sentinel struct {
	msg  string
	also error
}

func (e *sentinel) Error() string { return e.msg }
func (e *sentinel) Unwrap() error { return e.also }

// kerror is an error whose message says everything and which matches a sentinel with
// errors.Is, without repeating the sentinel's text at the end of the line.
type kerror struct {
	msg      string
	sentinel error
}

func (e *kerror) Error() string { return e.msg }
func (e *kerror) Unwrap() error { return e.sentinel }

func errorf(sentinel error, format string, a ...any) error {
	return &kerror{msg: fmt.Sprintf(format, a...), sentinel: sentinel}
}
