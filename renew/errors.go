package renew

import (
	"errors"
	"time"
)

// Sentinel errors, for errors.Is.
var (
	// ErrNotPrivateKey: the alias holds no private key entry (a trusted
	// certificate or a secret key).
	ErrNotPrivateKey = errors.New("alias holds no private key")
	// ErrCAUnreachable: the ACME directory or an ACME request could not be reached.
	ErrCAUnreachable = errors.New("ACME server unreachable")
	// ErrRateLimited: the CA answered rateLimited.
	ErrRateLimited = errors.New("rate limited by the CA")
	// ErrUnauthorized: the CA refuses this account or these names
	// (unauthorized, rejectedIdentifier, externalAccountRequired, caa, ...).
	ErrUnauthorized = errors.New("refused by the CA")
	// ErrOrderInvalid: the order or a challenge ended invalid.
	ErrOrderInvalid = errors.New("order failed at the CA")
	// ErrDNSNotVisible: the challenge record did not show at the resolvers in time.
	ErrDNSNotVisible = errors.New("challenge record not visible in DNS")
	// ErrZoneNotFound: no Route 53 hosted zone holds the name.
	ErrZoneNotFound = errors.New("no hosted zone for the name")
	// ErrNotExportable: ACM will not export the certificate (imported, or
	// requested without export).
	ErrNotExportable = errors.New("certificate not exportable from ACM")
	// ErrNotIssued: the ACM certificate is not issued yet.
	ErrNotIssued = errors.New("certificate not issued yet")
	// ErrNoDomains: no names to request (none given, none in the current certificate).
	ErrNoDomains = errors.New("no domain names to request")
	// ErrTruststore: the truststore cannot be read or written (wraps the
	// keystore error that says why).
	ErrTruststore = errors.New("truststore")
	// ErrAccountKey: the ACME account key file cannot be read or made.
	ErrAccountKey = errors.New("unusable ACME account key")
)

// RateLimitError is ErrRateLimited with the time the CA said to retry at
// (its Retry-After; zero when it gave none).
type RateLimitError struct {
	RetryAt time.Time
	Err     error
}

func (e *RateLimitError) Error() string {
	if e.RetryAt.IsZero() {
		return ErrRateLimited.Error() + ": " + e.Err.Error()
	}
	return ErrRateLimited.Error() + " until " + e.RetryAt.UTC().Format("2006-01-02 15:04:05 UTC") + ": " + e.Err.Error()
}

// Unwrap makes errors.Is(err, ErrRateLimited) hold, and reaches the CA's problem.
func (e *RateLimitError) Unwrap() []error { return []error{ErrRateLimited, e.Err} }
