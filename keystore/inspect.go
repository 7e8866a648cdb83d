package keystore

import (
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"strings"
	"time"
)

// EntryInfo describes one entry for listing: everything keytool -list -v shows that a
// person deciding what to deploy needs.
type EntryInfo struct {
	Alias       string    `json:"alias"`
	Kind        string    `json:"kind"`
	Created     time.Time `json:"created,omitzero"`
	Subject     string    `json:"subject,omitempty"`
	CommonName  string    `json:"common_name,omitempty"`
	Issuer      string    `json:"issuer,omitempty"`
	Serial      string    `json:"serial,omitempty"`
	NotBefore   time.Time `json:"not_before,omitzero"`
	NotAfter    time.Time `json:"not_after,omitzero"`
	SHA256      string    `json:"sha256,omitempty"`
	KeyType     string    `json:"key_type,omitempty"`
	KeyBits     int       `json:"key_bits,omitempty"`
	ChainLength int       `json:"chain_length"`
	DNSNames    []string  `json:"dns_names,omitempty"`
}

// Describe returns the entries of ks for listing, in file order.
func Describe(ks *Keystore) []EntryInfo {
	out := make([]EntryInfo, 0, len(ks.Entries))
	for _, e := range ks.Entries {
		info := EntryInfo{Alias: e.Alias, Kind: e.Kind.String(), Created: e.Created, ChainLength: len(e.Chain)}
		if c := e.Leaf(); c != nil {
			info.Subject = c.Subject.String()
			info.CommonName = c.Subject.CommonName
			info.Issuer = c.Issuer.String()
			info.Serial = fmt.Sprintf("%x", c.SerialNumber)
			info.NotBefore = c.NotBefore.UTC()
			info.NotAfter = c.NotAfter.UTC()
			info.SHA256 = Fingerprint(c)
			info.KeyType, info.KeyBits = KeyDescription(c.PublicKey)
			info.DNSNames = c.DNSNames
		}
		out = append(out, info)
	}
	return out
}

// Fingerprint returns a certificate's SHA-256 as keytool prints it: uppercase hex
// pairs separated by colons.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	var b strings.Builder
	for i, x := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", x)
	}
	return b.String()
}

// Warnings returns what is wrong with kp that does not stop a conversion: a leaf
// outside its validity window at now, or a chain out of order.
func (kp *KeyPair) Warnings(now time.Time) []string {
	var w []string
	if now.After(kp.Leaf.NotAfter) {
		w = append(w, fmt.Sprintf("certificate %q expired on %s", kp.Leaf.Subject.CommonName, kp.Leaf.NotAfter.UTC().Format(time.DateOnly)))
	}
	if now.Before(kp.Leaf.NotBefore) {
		w = append(w, fmt.Sprintf("certificate %q is not valid before %s", kp.Leaf.Subject.CommonName, kp.Leaf.NotBefore.UTC().Format(time.RFC3339)))
	}
	full := append([]*x509.Certificate{kp.Leaf}, kp.Chain...)
	if i := ChainOrdered(full); i >= 0 {
		w = append(w, fmt.Sprintf("chain out of order: certificate %d (%s) is not issued by certificate %d (%s)",
			i+1, full[i].Subject.CommonName, i+2, full[i+1].Subject.CommonName))
	}
	for _, c := range kp.Chain {
		if now.After(c.NotAfter) {
			w = append(w, fmt.Sprintf("issuer %q in the chain expired on %s", c.Subject.CommonName, c.NotAfter.UTC().Format(time.DateOnly)))
		}
	}
	return w
}
