// Package awsrules holds the rules AWS applies to certificates that both
// certup (to refuse before changing anything) and the awstest endpoint (to
// refuse as AWS does) need, so that the two cannot drift apart: the fully
// qualified domain name Elastic Load Balancing wants, and what ACM keeps when it
// re-imports a certificate.
package awsrules

import (
	"crypto/x509"
	"net"
	"strings"
)

// Of is the domain name AWS reads from a certificate: the subject common name,
// or, when there is none, the first DNS subject alternative name (ACM's
// DomainName is derived the same way).
func Of(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	if len(c.DNSNames) > 0 {
		return c.DNSNames[0]
	}
	return ""
}

// IsFQDN reports whether name is a fully qualified domain name as the Elastic
// Load Balancing guides define it ("www.example.com or an apex domain name such
// as example.com"; a wildcard "*" only as the whole leftmost label of such a
// name): at least two labels, each 1-63 letters, digits or hyphens, not
// starting or ending with a hyphen, the last not all digits, 253 characters
// at most; a trailing dot is allowed. An IP address is not one, nor is
// "localhost".
func IsFQDN(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 || net.ParseIP(name) != nil {
		return false
	}
	labels := strings.Split(name, ".")
	if labels[0] == "*" {
		labels = labels[1:]
	}
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if !isLabel(l) {
			return false
		}
	}
	last := labels[len(labels)-1]
	return strings.Trim(last, "0123456789") != ""
}

func isLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
