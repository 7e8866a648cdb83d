package cmdutil

import (
	"errors"

	"github.com/keybridge/keybridge/keystore"
)

// KeyMismatchHint is the advice for a certificate that belongs to another
// key, whichever package found the mismatch.
const KeyMismatchHint = "the certificate was issued for another key: use the certificate (CA reply) that belongs to this key"

// KeystoreHint attaches to an error from the keystore package the advice that fixes it.
// prog is the program name used in the advice.
func KeystoreHint(err error, prog string) error {
	if err == nil || HintOf(err) != "" {
		return err
	}
	var hint string
	switch {
	case errors.Is(err, keystore.ErrWrongPassword):
		hint = "check the store password given by --storepass-file, --storepass-env or " + EnvStorePassword
	case errors.Is(err, keystore.ErrWrongKeyPassword):
		hint = "the key password differs from the store password: give it with --keypass-file or --keypass-env"
	case errors.Is(err, keystore.ErrAliasNotFound):
		hint = "see every alias with: " + prog + " list KEYSTORE"
	case errors.Is(err, keystore.ErrAmbiguousAlias):
		hint = "choose the key with --alias NAME"
	case errors.Is(err, keystore.ErrNoPrivateKey):
		hint = "this holds certificates only (a truststore?); use the keystore with the server's private key"
	case errors.Is(err, keystore.ErrKeyMismatch):
		hint = KeyMismatchHint
	case errors.Is(err, keystore.ErrTooLarge):
		hint = "keystores are far smaller; check that the path names a keystore"
	case errors.Is(err, keystore.ErrPasswordEncoding):
		hint = "use a password of printable ASCII characters for this keystore"
	case errors.Is(err, keystore.ErrMalformed):
		hint = "the file is damaged or truncated: copy it again from its source"
	case errors.Is(err, keystore.ErrUnsupportedFormat):
		hint = "give a JKS, JCEKS, PKCS#12 (.p12/.pfx), PEM or DER file"
	default:
		return err
	}
	return Hint(err, hint)
}
