package renew

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"
)

// Window is a renewal window suggested by the CA (RFC 9773 section 4.2) and
// the time inside it at which this client renews.
type Window struct {
	Start, End time.Time
	// At is the renewal time chosen inside [Start, End] (PickTime); zero: Start.
	At time.Time
}

// PickTime is the renewal time inside w for the certificate whose DER is cert.
// RFC 9773 section 4.2 asks for a uniform random time in the window, so that
// clients do not all renew at its start. The point is drawn from the
// certificate's SHA-256 rather than from a random source: uniform across
// certificates, and the same on every run, so that a daily timer renews at the
// chosen point (a fresh draw each day would make the first days of the window
// ever more likely, the bunching the RFC wants to avoid), and tests are
// deterministic.
func PickTime(w Window, cert []byte) time.Time {
	if !w.End.After(w.Start) {
		return w.Start
	}
	sum := sha256.Sum256(cert)
	f := float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53) // [0, 1)
	return w.Start.Add(time.Duration(f * float64(w.End.Sub(w.Start)))).Truncate(time.Second)
}

// Decision says whether the certificate is due, and why.
type Decision struct {
	Due    bool
	Reason string
}

// Due decides whether a certificate valid from notBefore to notAfter is due
// for renewal at now. ari is the CA's suggested window (nil when the CA offers
// none for this certificate): due once its renewal time (ari.At) has come, or
// when it comes before the next run, every from now (RFC 9773 section 4.2: a
// client that cannot wake at that time renews at once if the time precedes
// its next regular wake-up). Without a window the certificate is due when
// within remains (within 0: a third of its lifetime). force makes it due
// regardless.
func Due(now, notBefore, notAfter time.Time, ari *Window, within, every time.Duration, force bool) Decision {
	left := notAfter.Sub(now)
	var at time.Time
	if ari != nil {
		if at = ari.At; at.IsZero() {
			at = ari.Start
		}
	}
	window := func() string {
		if ari == nil {
			return ""
		}
		return fmt.Sprintf("the CA's renewal window (%s to %s)", day(ari.Start), day(ari.End))
	}()
	switch {
	case force:
		return Decision{true, "renewal forced"}
	case !now.Before(notAfter):
		return Decision{true, fmt.Sprintf("expired on %s", day(notAfter))}
	case ari != nil && !now.Before(at):
		return Decision{true, fmt.Sprintf("inside %s, past its renewal time %s", window, stamp(at))}
	case ari != nil && every > 0 && at.Before(now.Add(every)):
		return Decision{true, fmt.Sprintf("its renewal time %s in %s comes before the next run", stamp(at), window)}
	case ari != nil:
		return Decision{false, fmt.Sprintf("renewing on %s, inside %s", stamp(at), window)}
	case within > 0 && left <= within:
		return Decision{true, fmt.Sprintf("%s left, renewing within %s", days(left), days(within))}
	case within > 0:
		return Decision{false, fmt.Sprintf("%s left, renewing within %s", days(left), days(within))}
	}
	third := notAfter.Sub(notBefore) / 3
	if left <= third {
		return Decision{true, fmt.Sprintf("%s left of %s, a third or less", days(left), days(notAfter.Sub(notBefore)))}
	}
	return Decision{false, fmt.Sprintf("%s left of %s; renewing when a third remains (on %s)", days(left), days(notAfter.Sub(notBefore)), day(notAfter.Add(-third)))}
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

func days(d time.Duration) string {
	n := d.Hours() / 24
	if n < 1 && n > -1 {
		return fmt.Sprintf("%.0f hours", d.Hours())
	}
	return fmt.Sprintf("%.0f days", n)
}
