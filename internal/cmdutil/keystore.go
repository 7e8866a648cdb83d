package cmdutil

import (
	"errors"

	"github.com/keybridge/keybridge/keystore"
)

// KeyMismatchHint is the advice for a certificate that belongs to another
// key, whichever package found the mismatch.
const KeyMismatchHint = "the certificate was issued for another key: use the certificate (CA reply) that belongs to this key"

// KeyPasswordHint is KeystoreHint for an error of a keystore read with a key password
// that was given (keyPassGiven): a wrong key password then means that one.
func KeyPasswordHint(err error, prog string, keyPassGiven bool) error {
	if keyPassGiven && errors.Is(err, keystore.ErrWrongKeyPassword) && HintOf(err) == "" {
		return Hint(err, "check the key password given by --keypass-file or --keypass-env")
	}
	return KeystoreHint(err, prog)
}

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
		hint = "the store password is right but the key has a password of its own: give it with --keypass-file FILE or --keypass-env VAR"
	case errors.Is(err, keystore.ErrAliasNotFound):
		hint = "see every alias with: " + prog + " list KEYSTORE"
	case errors.Is(err, keystore.ErrAmbiguousAlias):
		hint = "choose the key with --alias NAME"
	case errors.Is(err, keystore.ErrNotKeyEntry):
		hint = "choose the alias of a private-key entry with --alias (see every entry with: " + prog + " list KEYSTORE)"
	case errors.Is(err, keystore.ErrAliasInUse):
		hint = "choose another --alias, or remove that entry first with keytool -delete"
	case errors.Is(err, keystore.ErrNoPrivateKey):
		hint = "this keystore holds no private key (a truststore?); use the keystore with the server's private key"
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
