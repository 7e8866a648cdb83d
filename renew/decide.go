package renew

import (
	"fmt"
	"time"
)

// Window is a renewal window suggested by the CA (RFC 9773 section 4.2).
type Window struct {
	Start, End time.Time
}

// Decision says whether the certificate is due, and why.
type Decision struct {
	Due    bool
	Reason string
}

// Due decides whether a certificate valid from notBefore to notAfter is due
// for renewal at now. ari is the CA's suggested window (nil when the CA offers
// none for this certificate); a window is due once its start has passed (RFC
// 9773 lets a client pick any time in the window; a daily timer renews on the
// first run inside it). Without a window the certificate is due when within
// remains (within 0: a third of its lifetime). force makes it due regardless.
func Due(now, notBefore, notAfter time.Time, ari *Window, within time.Duration, force bool) Decision {
	left := notAfter.Sub(now)
	switch {
	case force:
		return Decision{true, "renewal forced"}
	case !now.Before(notAfter):
		return Decision{true, fmt.Sprintf("expired on %s", day(notAfter))}
	case ari != nil && !now.Before(ari.Start):
		return Decision{true, fmt.Sprintf("inside the CA's renewal window (%s to %s)", day(ari.Start), day(ari.End))}
	case ari != nil:
		return Decision{false, fmt.Sprintf("the CA's renewal window opens on %s", day(ari.Start))}
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

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

func days(d time.Duration) string {
	n := d.Hours() / 24
	if n < 1 && n > -1 {
		return fmt.Sprintf("%.0f hours", d.Hours())
	}
	return fmt.Sprintf("%.0f days", n)
}
