package keystore

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Format is a keystore file format, detected from the bytes.
type Format int

// The formats read by Parse.
const (
	FormatUnknown Format = iota
	FormatJKS
	FormatJCEKS
	FormatPKCS12
	FormatPEM
	FormatDER
)

func (f Format) String() string {
	switch f {
	case FormatJKS:
		return "JKS"
	case FormatJCEKS:
		return "JCEKS"
	case FormatPKCS12:
		return "PKCS12"
	case FormatPEM:
		return "PEM"
	case FormatDER:
		return "DER"
	}
	return "unknown"
}

// EntryKind says what an entry holds.
type EntryKind int

// The kinds of entry a keystore holds.
const (
	PrivateKeyEntry EntryKind = iota + 1
	TrustedCertEntry
	SecretKeyEntry
)

func (k EntryKind) String() string {
	switch k {
	case PrivateKeyEntry:
		return "PrivateKeyEntry"
	case TrustedCertEntry:
		return "trustedCertEntry"
	case SecretKeyEntry:
		return "SecretKeyEntry"
	}
	return "unknown"
}

// Keystore is a parsed keystore: its format and its entries in file order.
type Keystore struct {
	Format  Format
	Entries []*Entry

	// unchecked: nothing in the file could tell whether the store password is right
	// (a PKCS#12 file with neither a MAC nor an encrypted safe): only its keys can.
	unchecked bool
}

// Entry is one alias of a keystore.
type Entry struct {
	Alias   string
	Kind    EntryKind
	Created time.Time // zero where the format records no time
	// Chain is the entry's certificate chain, leaf first. For a trusted-certificate
	// entry it holds the one certificate. For JKS and JCEKS it is the chain stored with
	// the key; for PKCS#12 and PEM it is built from the leaf along issuer→subject.
	Chain []*x509.Certificate

	// decrypt turns the stored key into a signer; nil for entries without a key.
	decrypt func(keyPass []byte) (crypto.Signer, error)
}

// Leaf returns the entry's first certificate, or nil.
func (e *Entry) Leaf() *x509.Certificate {
	if len(e.Chain) == 0 {
		return nil
	}
	return e.Chain[0]
}

// PrivateKey decrypts the entry's private key with keyPass and checks that it matches
// the entry's leaf certificate.
func (e *Entry) PrivateKey(keyPass []byte) (crypto.Signer, error) {
	if e.Kind != PrivateKeyEntry || e.decrypt == nil {
		return nil, errorf(ErrNotKeyEntry, "entry %q is a %s", e.Alias, e.Kind)
	}
	key, err := e.decrypt(keyPass)
	if err != nil {
		return nil, err
	}
	if leaf := e.Leaf(); leaf != nil && !KeyMatchesCert(key, leaf) {
		return nil, errorf(ErrKeyMismatch, "entry %q", e.Alias)
	}
	return key, nil
}

// Aliases returns every alias in file order.
func (ks *Keystore) Aliases() []string {
	out := make([]string, len(ks.Entries))
	for i, e := range ks.Entries {
		out[i] = e.Alias
	}
	return out
}

// Entry returns the entry with the alias, compared case-insensitively as keytool does.
func (ks *Keystore) Entry(alias string) (*Entry, error) {
	for _, e := range ks.Entries {
		if e.Alias == alias {
			return e, nil
		}
	}
	for _, e := range ks.Entries {
		if strings.EqualFold(e.Alias, alias) {
			return e, nil
		}
	}
	return nil, errorf(ErrAliasNotFound, "alias %q not found; aliases: %s", alias, listAliases(ks.Entries, 0))
}

// KeyEntries returns the private-key entries in file order.
func (ks *Keystore) KeyEntries() []*Entry {
	var out []*Entry
	for _, e := range ks.Entries {
		if e.Kind == PrivateKeyEntry {
			out = append(out, e)
		}
	}
	return out
}

// KeyEntry returns the private-key entry with the alias or, when alias is empty, the
// only private-key entry; with several, the error lists their aliases.
func (ks *Keystore) KeyEntry(alias string) (*Entry, error) {
	if alias != "" {
		e, err := ks.Entry(alias)
		if err != nil {
			return nil, err
		}
		if e.Kind != PrivateKeyEntry {
			return nil, errorf(ErrNotKeyEntry, "alias %q is a %s, not a private key; key aliases: %s",
				e.Alias, e.Kind, listAliases(ks.KeyEntries(), PrivateKeyEntry))
		}
		return e, nil
	}
	keys := ks.KeyEntries()
	switch len(keys) {
	case 0:
		return nil, errorf(ErrNoPrivateKey, "%s, none with a private key", plural(len(ks.Entries), "entry", "entries"))
	case 1:
		return keys[0], nil
	}
	return nil, errorf(ErrAmbiguousAlias, "%d private keys, no alias chosen: %s", len(keys), listAliases(keys, 0))
}

// plural returns n with the noun that fits it: "1 entry", "3 entries".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func listAliases(entries []*Entry, kind EntryKind) string {
	var names []string
	for _, e := range entries {
		if kind == 0 || e.Kind == kind {
			names = append(names, e.Alias)
		}
	}
	if len(names) == 0 {
		return "(none)"
	}
	const most = 20
	if len(names) > most {
		return strings.Join(names[:most], ", ") + fmt.Sprintf(", … (%d more)", len(names)-most)
	}
	return strings.Join(names, ", ")
}

// Certificates returns the certificates of every trusted-certificate entry, in file
// order: the content of a truststore.
func (ks *Keystore) Certificates() []*x509.Certificate {
	var out []*x509.Certificate
	for _, e := range ks.Entries {
		if e.Kind == TrustedCertEntry && len(e.Chain) > 0 {
			out = append(out, e.Chain[0])
		}
	}
	return out
}

// CertPool returns a pool of the trusted certificates, for verifying peers.
func (ks *Keystore) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range ks.Certificates() {
		pool.AddCert(c)
	}
	return pool
}

// KeyPair is a private key with its certificate and the chain of issuers: what a TLS
// server serves and what AWS IAM and ACM take.
type KeyPair struct {
	Alias string
	Key   crypto.Signer
	Leaf  *x509.Certificate
	// Chain holds the issuers only, leaf excluded, each certifying the one before it,
	// root last.
	Chain []*x509.Certificate
}

// KeyPair decrypts the key of the private-key entry chosen as by KeyEntry.
func (ks *Keystore) KeyPair(alias string, keyPass []byte) (*KeyPair, error) {
	e, err := ks.KeyEntry(alias)
	if err != nil {
		return nil, err
	}
	key, err := e.PrivateKey(keyPass)
	if err != nil {
		return nil, err
	}
	if len(e.Chain) == 0 {
		return nil, fmt.Errorf("entry %q has no certificate", e.Alias)
	}
	return &KeyPair{Alias: e.Alias, Key: key, Leaf: e.Chain[0], Chain: e.Chain[1:]}, nil
}

// LoadKeyPair reads the keystore at path and decrypts the private key of alias (the
// only private key when alias is empty) with keyPass, or storePass when keyPass is nil.
func LoadKeyPair(path, alias string, storePass, keyPass []byte) (*KeyPair, error) {
	ks, err := ReadFile(path, storePass)
	if err != nil {
		return nil, err
	}
	defaulted := keyPass == nil
	if defaulted {
		keyPass = storePass
	}
	kp, err := ks.KeyPair(alias, keyPass)
	if defaulted && ks.unchecked && errors.Is(err, ErrWrongKeyPassword) {
		// The key password defaulted to the store password, which nothing else in
		// this file checks: the store password is what is wrong. Where the store
		// password was checked, the key has a password of its own.
		err = ErrWrongPassword
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return kp, nil
}

// TLSCertificate returns the pair as served by crypto/tls: leaf then chain.
func (kp *KeyPair) TLSCertificate() tls.Certificate {
	c := tls.Certificate{PrivateKey: kp.Key, Leaf: kp.Leaf}
	c.Certificate = append(c.Certificate, kp.Leaf.Raw)
	for _, ca := range kp.Chain {
		c.Certificate = append(c.Certificate, ca.Raw)
	}
	return c
}

// Fingerprint returns the SHA-256 of the leaf certificate's DER.
func (kp *KeyPair) Fingerprint() [32]byte { return sha256.Sum256(kp.Leaf.Raw) }

// KeyMatchesCert reports whether key is the private half of cert's public key.
func KeyMatchesCert(key crypto.Signer, cert *x509.Certificate) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	pub, ok := key.Public().(equaler)
	return ok && pub.Equal(cert.PublicKey)
}

// KeyDescription returns the key's algorithm and size, e.g. "RSA 2048" or "EC P-256".
func KeyDescription(pub crypto.PublicKey) (alg string, bits int) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		return "EC", k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return "Ed25519", 256
	}
	return "unknown", 0
}

// Issued reports whether parent issued child: names chain and parent's key verifies
// child's signature.
func Issued(parent, child *x509.Certificate) bool {
	if !bytes.Equal(parent.RawSubject, child.RawIssuer) {
		return false
	}
	return parent.CheckSignature(child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature) == nil
}

// isSelfSigned reports whether c issued itself.
func isSelfSigned(c *x509.Certificate) bool { return Issued(c, c) }

// BuildChain returns leaf followed by its issuers found in pool, each certifying the one
// before it, stopping at a self-signed certificate or when no issuer is found. Among
// several candidates for one step, the one valid the longest is taken.
func BuildChain(leaf *x509.Certificate, pool []*x509.Certificate) []*x509.Certificate {
	chain := []*x509.Certificate{leaf}
	used := map[*x509.Certificate]bool{leaf: true}
	cur := leaf
	for len(chain) < 16 && !isSelfSigned(cur) {
		var cands []*x509.Certificate
		for _, c := range pool {
			if !used[c] && !bytes.Equal(c.Raw, cur.Raw) && Issued(c, cur) {
				cands = append(cands, c)
			}
		}
		if len(cands) == 0 {
			break
		}
		sort.SliceStable(cands, func(i, j int) bool { return cands[i].NotAfter.After(cands[j].NotAfter) })
		cur = cands[0]
		used[cur] = true
		chain = append(chain, cur)
	}
	return chain
}

// ChainOrdered reports whether each certificate of chain (leaf first) is issued by the
// next one. It returns the index of the first break, or -1.
func ChainOrdered(chain []*x509.Certificate) int {
	for i := 0; i+1 < len(chain); i++ {
		if !Issued(chain[i+1], chain[i]) {
			return i
		}
	}
	return -1
}
