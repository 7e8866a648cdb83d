package keystore

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keybridge/keybridge/internal/safefile"
)

// Passwords are the two passwords of a keystore: Store opens the file and checks its
// integrity; Key protects the private key of the entry written (nil: the store
// password, as keytool does by default).
type Passwords struct {
	Store []byte
	Key   []byte
}

// KeyPass returns the key password: Key, or Store when Key is nil.
func (p Passwords) KeyPass() []byte {
	if p.Key == nil {
		return p.Store
	}
	return p.Key
}

// Merge puts key with its certificate chain under alias in the existing JKS, JCEKS or
// PKCS#12 keystore at path, in place: how a renewed certificate goes back into
// wso2carbon.jks or wso2carbon.p12.
//
// chain[0] is the certificate of key; chain[1:] are its issuers in any order (they are
// ordered from the leaf up, and certificates that certify nothing in the chain are left
// out). An entry with the same alias (compared case-insensitively, as Java does) is
// replaced; every other entry is kept as it was stored, byte for byte, with its own
// key password: see MergeData for what each format keeps.
//
// changed is false, and the file is not written, when alias already holds key with the
// same chain. Otherwise the new keystore is read back and checked, then written
// atomically (a temporary file in the same directory, renamed over the old one) with
// the file's owner, group and mode kept; a symbolic link keeps pointing where it did.
// On any error nothing is written. The file must exist (errors.Is(err, fs.ErrNotExist)
// otherwise): a new keystore is made with EncodeJKS or EncodePKCS12.
//
// The key password (pass.Key, or the store password) must open the key that alias
// holds now, if any: the new key gets that password, which the server reading the
// keystore expects.
//
// Errors wrap ErrWrongPassword (store password), ErrWrongKeyPassword (the key password
// does not open alias's current key), ErrAliasInUse (alias holds a certificate or a
// secret key), ErrKeyMismatch, ErrPasswordEncoding, ErrUnsupportedFormat or
// safefile.ErrOwner.
func Merge(path string, pass Passwords, alias string, key crypto.PrivateKey, chain []*x509.Certificate) (changed bool, err error) {
	signer, ok := key.(crypto.Signer)
	if !ok {
		return false, errorf(ErrUnsupportedAlgorithm, "%s: private key of type %T", path, key)
	}
	if len(chain) == 0 || chain[0] == nil {
		return false, fmt.Errorf("%s: no certificate for alias %q", path, alias)
	}
	if alias == "" {
		return false, fmt.Errorf("%s: empty alias", path)
	}
	kp, err := NewKeyPair(alias, signer, chain[0], chain[1:])
	if err != nil {
		return false, fmt.Errorf("%s: alias %q: %w", path, alias, err)
	}
	existing, err := readLimited(path)
	if err != nil {
		return false, err
	}
	out, changed, err := MergeData(existing, pass, kp, time.Now())
	if err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	if !changed {
		return false, nil
	}
	if err := safefile.Write(path, out, 0o600); err != nil {
		return false, err
	}
	return true, nil
}

// MergeData is Merge on the bytes of a keystore: it returns the new keystore, or
// changed false (and out nil) when kp.Alias already holds kp's key and chain. created
// is the new entry's creation time where the format records one.
//
// JKS and JCEKS: every other entry is copied as stored (its key still under its own
// password, its creation time, JCEKS secret keys); the new key is protected as keytool
// protects it (JKS: Sun's KeyProtector; JCEKS: PBEWithMD5AndTripleDES) and the alias
// is written in lower case, as Java stores it. PKCS#12: every content info that holds
// nothing of the replaced entry is copied byte for byte; one that held the old key or
// certificates is written again without them (an encrypted one re-encrypted with
// PBES2, AES-256 and a new salt); the new key and certificates are added in content
// infos of their own, protected as keytool 17 does (PBES2, AES-256-CBC, PBKDF2 with
// HMAC-SHA-256, 10,000 iterations); certificates are encrypted only when the file
// encrypted its own; a file with a MAC gets a new one, a file without stays without.
func MergeData(existing []byte, pass Passwords, kp *KeyPair, created time.Time) (out []byte, changed bool, err error) {
	if len(existing) > MaxSize {
		return nil, false, errorf(ErrTooLarge, "larger than %d MiB, refused before parsing", MaxSize>>20)
	}
	defer func() {
		if r := recover(); r != nil {
			out, changed, err = nil, false, errorf(ErrMalformed, "internal error while merging: %v", r)
		}
	}()
	format := DetectFormat(existing)
	switch format {
	case FormatJKS, FormatJCEKS:
		out, changed, err = mergeSun(existing, format, pass, kp, created)
	case FormatPKCS12:
		out, changed, err = mergePKCS12(existing, pass, kp)
	default:
		if _, perr := Parse(existing, pass.Store); perr != nil && !errors.Is(perr, ErrWrongPassword) {
			return nil, false, perr
		}
		return nil, false, errorf(ErrUnsupportedFormat, "a %s file, not a keystore to put a key entry in (JKS, JCEKS or PKCS#12)", format)
	}
	if err != nil || !changed {
		return nil, false, err
	}
	if err := checkMerged(out, pass, kp); err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// findAlias returns the entry with alias compared case-insensitively, or nil.
func findAlias(ks *Keystore, alias string) *Entry {
	for _, e := range ks.Entries {
		if strings.EqualFold(e.Alias, alias) {
			return e
		}
	}
	return nil
}

// sameEntry reports whether e holds kp's key and chain. An entry of another kind is
// ErrAliasInUse; a key that keyPass does not open is reported with keyErr and counts
// as different.
func sameEntry(e *Entry, kp *KeyPair, keyPass []byte) (same bool, keyErr error, err error) {
	if e == nil {
		return false, nil, nil
	}
	if e.Kind != PrivateKeyEntry {
		return false, nil, errorf(ErrAliasInUse, "alias %q holds a %s, not a private key; it was not replaced", e.Alias, e.Kind)
	}
	key, keyErr := e.decrypt(keyPass)
	if keyErr != nil {
		return false, keyErr, nil
	}
	return sameKey(key, kp.Key) && sameChain(e.Chain, kp), nil, nil
}

func sameKey(a, b crypto.Signer) bool {
	type equaler interface{ Equal(crypto.PrivateKey) bool }
	ea, ok := a.(equaler)
	return ok && ea.Equal(b)
}

// sameChain reports whether chain is kp's leaf and issuers, in order.
func sameChain(chain []*x509.Certificate, kp *KeyPair) bool {
	want := append([]*x509.Certificate{kp.Leaf}, kp.Chain...)
	if len(chain) != len(want) {
		return false
	}
	for i := range want {
		if !bytes.Equal(chain[i].Raw, want[i].Raw) {
			return false
		}
	}
	return true
}

// keptKeyPassword refuses to replace a key that the key password does not open: the
// server that reads the keystore expects the entry's key under its old password (WSO2's
// KeyPassword), and the new key would get another one.
func keptKeyPassword(alias string, keyErr error) error {
	if errors.Is(keyErr, ErrWrongKeyPassword) {
		return errorf(ErrWrongKeyPassword, "wrong key password for alias %q: the key it replaces has a password of its own, which the new key must keep", alias)
	}
	return nil
}

// checkMerged reads a merged keystore back: the new entry must open with the key
// password, hold the key and start with the leaf and its issuers.
func checkMerged(out []byte, pass Passwords, kp *KeyPair) error {
	ks, err := Parse(out, pass.Store)
	if err != nil {
		return fmt.Errorf("the merged keystore does not read back: %w", err)
	}
	e := findAlias(ks, kp.Alias)
	if e == nil || e.Kind != PrivateKeyEntry {
		return errorf(ErrMalformed, "the merged keystore lacks the key entry %q", kp.Alias)
	}
	key, err := e.decrypt(pass.KeyPass())
	if err != nil {
		return fmt.Errorf("the merged keystore's entry %q does not open: %w", kp.Alias, err)
	}
	want := append([]*x509.Certificate{kp.Leaf}, kp.Chain...)
	ok := sameKey(key, kp.Key) && len(e.Chain) >= len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = bytes.Equal(e.Chain[i].Raw, want[i].Raw)
	}
	if !ok {
		return errorf(ErrMalformed, "the merged keystore's entry %q does not hold the new key and chain", kp.Alias)
	}
	return nil
}
