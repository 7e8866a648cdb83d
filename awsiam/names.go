package awsiam

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
)

// MaxNameLen is the longest IAM server certificate name.
const MaxNameLen = 128

var nameRE = regexp.MustCompile(`^[\w+=,.@-]+$`)

// ValidName reports whether IAM accepts name as a server certificate name.
func ValidName(name string) error {
	if name == "" || len(name) > MaxNameLen || !nameRE.MatchString(name) {
		return fmt.Errorf("%q: IAM takes 1 to %d characters of letters, digits and +=,.@_-: %w", name, MaxNameLen, ErrInvalidName)
	}
	return nil
}

// DefaultName derives the upload name from the certificate:
// "<prefix>-<notAfter yyyymmdd>-<first 12 hex digits of the SHA-256 of the DER>",
// where prefix defaults to the subject common name (a wildcard "*" becomes
// "wildcard", other characters IAM refuses become "-"). The same certificate
// always gets the same name, so a repeated upload finds the first one.
func DefaultName(leaf *x509.Certificate, prefix string) string {
	sum := sha256.Sum256(leaf.Raw)
	suffix := "-" + leaf.NotAfter.UTC().Format("20060102") + "-" + hex.EncodeToString(sum[:])[:12]
	if prefix == "" {
		prefix = sanitizeName(subjectName(leaf))
	}
	if limit := MaxNameLen - len(suffix); len(prefix) > limit {
		prefix = prefix[:limit]
	}
	return prefix + suffix
}

func sanitizeName(s string) string {
	s = strings.ReplaceAll(s, "*", "wildcard")
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 128 && nameRE.MatchString(string(r)):
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-.")
	if out == "" {
		out = "certificate"
	}
	return out
}
