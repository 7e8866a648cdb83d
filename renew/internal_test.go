package renew

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-acme/lego/v5/acme"
)

func TestLongestZone(t *testing.T) {
	zones := []hostedZone{
		{ID: "ZCOM", Name: "example.com."},
		{ID: "ZSHOP", Name: "shop.example.com."},
		{ID: "ZPRIV", Name: "internal.shop.example.com.", Private: true},
		{ID: "ZOTHER", Name: "ample.com."},
	}
	for _, tc := range []struct {
		fqdn, want string
		ok         bool
	}{
		{"_acme-challenge.www.example.com.", "ZCOM", true},
		{"_acme-challenge.shop.example.com.", "ZSHOP", true},
		{"_acme-challenge.a.b.shop.example.com", "ZSHOP", true},
		{"_acme-challenge.internal.shop.example.com.", "ZSHOP", true}, // the private zone is not used
		{"_ACME-CHALLENGE.WWW.EXAMPLE.COM.", "ZCOM", true},
		{"example.com.", "ZCOM", true},
		{"_acme-challenge.www.sample.com.", "", false}, // "ample.com." is not a label suffix
		{"_acme-challenge.example.org.", "", false},
	} {
		got, ok := longestZone(tc.fqdn, zones)
		if got != tc.want || ok != tc.ok {
			t.Errorf("longestZone(%q) = %q, %v; want %q, %v", tc.fqdn, got, ok, tc.want, tc.ok)
		}
	}
}

func TestClassify(t *testing.T) {
	problem := func(typ string) error {
		return &acme.ProblemDetails{Type: "urn:ietf:params:acme:error:" + typ, HTTPStatus: 403, Method: "POST", URL: "https://ca/order"}
	}
	// What a challenge object carries: no request behind it.
	challenge := func(typ string) error {
		return fmt.Errorf("invalid authorization: %w", &acme.ProblemDetails{Type: "urn:ietf:params:acme:error:" + typ, HTTPStatus: 403})
	}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"rate limited (typed)", &acme.RateLimitedError{ProblemDetails: &acme.ProblemDetails{Type: "urn:ietf:params:acme:error:rateLimited"}}, ErrRateLimited},
		{"rate limited (problem)", problem("rateLimited"), ErrRateLimited},
		{"unauthorized", problem("unauthorized"), ErrUnauthorized},
		{"rejected identifier", problem("rejectedIdentifier"), ErrUnauthorized},
		{"EAB required", problem("externalAccountRequired"), ErrUnauthorized},
		{"CAA", problem("caa"), ErrUnauthorized},
		{"wrapped problem", fmt.Errorf("solving: %w", problem("incorrectResponse")), ErrOrderInvalid},
		{"dns problem", problem("dns"), ErrOrderInvalid},
		{"validation failed (unauthorized in a challenge)", challenge("unauthorized"), ErrOrderInvalid},
		{"validation failed (dns in a challenge)", challenge("dns"), ErrOrderInvalid},
		{"connection refused", &url.Error{Op: "Get", URL: "https://ca/dir", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}, ErrCAUnreachable},
		{"own sentinel kept", fmt.Errorf("x: %w", ErrDNSNotVisible), ErrDNSNotVisible},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(tc.err); !errors.Is(got, tc.want) {
				t.Fatalf("classify = %v, want %v", got, tc.want)
			}
		})
	}
	// The CA's Retry-After becomes the time to retry at, in the message too.
	before := time.Now()
	got := classify(fmt.Errorf("new order: %w", &acme.RateLimitedError{RetryAfter: time.Hour,
		ProblemDetails: &acme.ProblemDetails{Type: "urn:ietf:params:acme:error:rateLimited", HTTPStatus: 429}}))
	var rl *RateLimitError
	if !errors.As(got, &rl) || rl.RetryAt.Before(before.Add(time.Hour-time.Second)) || rl.RetryAt.After(time.Now().Add(time.Hour)) {
		t.Fatalf("rate limited with Retry-After 1h: %#v", got)
	}
	if !strings.Contains(got.Error(), "until "+rl.RetryAt.UTC().Format("2006-01-02 15:04:05 UTC")) {
		t.Fatalf("message does not say until when: %v", got)
	}
	if classify(nil) != nil {
		t.Fatal("classify(nil) != nil")
	}
	plain := errors.New("something else")
	if got := classify(plain); got != plain {
		t.Fatalf("an unknown error was wrapped: %v", got)
	}
}

func TestParseKeyType(t *testing.T) {
	for _, s := range []string{"rsa2048", "RSA4096", "ec256", "ec384", "rsa3072"} {
		if _, err := ParseKeyType(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for _, s := range []string{"", "rsa1024", "ed25519", "ec521"} {
		if _, err := ParseKeyType(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}
