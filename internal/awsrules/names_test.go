package awsrules

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
)

func TestIsFQDN(t *testing.T) {
	for _, tt := range []struct {
		name string
		want bool
	}{
		{"www.example.com", true},
		{"example.com", true},
		{"example.com.", true},
		{"*.example.com", true},
		{"app-1.eu.example.co.uk", true},
		{"localhost", false},
		{"localhost.", false},
		{"*.com", false},
		{"*", false},
		{"a.*.example.com", false},
		{"*foo.example.com", false},
		{"10.0.0.1", false},
		{"::1", false},
		{"host.123", false},
		{"-bad.example.com", false},
		{"bad-.example.com", false},
		{"under_score.example.com", false},
		{"exa mple.com", false},
		{"", false},
		{"..", false},
		{"a..b", false},
	} {
		if got := IsFQDN(tt.name); got != tt.want {
			t.Errorf("IsFQDN(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestOf(t *testing.T) {
	for _, tt := range []struct {
		cn   string
		sans []string
		want string
	}{
		{"localhost", []string{"app.example.com"}, "localhost"},
		{"", []string{"app.example.com", "localhost"}, "app.example.com"},
		{"", nil, ""},
	} {
		c := &x509.Certificate{Subject: pkix.Name{CommonName: tt.cn}, DNSNames: tt.sans}
		if got := Of(c); got != tt.want {
			t.Errorf("Of(CN %q, SAN %v) = %q, want %q", tt.cn, tt.sans, got, tt.want)
		}
	}
}
