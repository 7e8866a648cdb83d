package awsiam

import (
	"fmt"
	"time"
)

// listenerFacts is what a rotation plan knows of one listener when it decides
// what to do with it.
type listenerFacts struct {
	Listener Listener
	// Secure: HTTPS, SSL or TLS (Protocol), a listener that takes a certificate.
	Secure   bool
	Protocol string
	// Current is the default certificate; for an SNI entry, the old certificate
	// the new one replaces ("" when only the new one is on its list).
	Current string
	// SNI: an additional (SNI) certificate of an ALB/NLB listener; SNIHasNew: the
	// new certificate is on its list already.
	SNI, SNIHasNew bool
	// New is the new certificate's ARN ("" until uploaded); Reimport: it is an
	// ACM certificate re-imported in place.
	New      string
	Reimport bool
	// Expires is when what the listener serves expires (zero: not known);
	// with RenewWithin, a listener whose certificate is valid for longer is left
	// alone.
	Expires     time.Time
	RenewWithin time.Duration
	Now         time.Time
	// RolledBack is when a rollback in the rotation's lineage moved listeners
	// off New (zero: never, or cleared since); unless Force, a listener the
	// rotation would move to New stays where the rollback put it.
	RolledBack time.Time
	Force      bool
	// NoDowngrade: a listener whose certificate expires after NewExpires (both
	// known) stays, unless Force.
	NoDowngrade bool
	NewExpires  time.Time
}

// listenerDecision is what the plan does with one listener.
type listenerDecision struct {
	Action Action
	State  State
	Reason string
	Err    error
	// Current is what the plan reports the listener serves.
	Current string
	// RemoveOldOnly: an SNI listener that has the new certificate already; only
	// the old one is to be removed.
	RemoveOldOnly bool
	// Held: left where a rollback put it (listenerFacts.RolledBack).
	Held bool
	// Kept: left on a certificate that outlasts the new one (NoDowngrade).
	Kept bool
}

// decideListener decides what a rotation does with one listener: skip it
// (nothing to do, or its certificate is valid for longer than RenewWithin),
// switch it to the new certificate, or leave the switch to a re-import in
// place; a listener without TLS fails. A rollback holds: a listener is not
// moved to a certificate its lineage rolled back from (unless forced; a
// re-import brings a different certificate under the same ARN); with
// NoDowngrade, nor off a certificate that expires after the new one.
func decideListener(f listenerFacts) listenerDecision {
	d := listenerDecision{Action: ActionSwitch, State: StatePlanned, Current: f.Current}
	switch {
	case !f.Secure:
		return listenerDecision{Action: ActionSkip, State: StateFailed, Current: f.Current,
			Err: fmt.Errorf("%s uses %s; certificates need HTTPS, SSL or TLS: %w", f.Listener, f.Protocol, ErrNotSecure)}
	case f.SNI && f.Current == "" && f.Reimport:
		d.Current, d.Action, d.Reason = f.New, ActionReimport, "serves "+f.New+" as an SNI certificate; it is re-imported in place"
	case f.SNI && f.Current == "":
		return listenerDecision{Action: ActionSkip, State: StateUnchanged, Current: f.New, Reason: "already serves the new certificate (SNI)"}
	case f.SNI && f.SNIHasNew:
		d.RemoveOldOnly, d.Reason = true, "serves the new and the old certificate (SNI): remove the old"
	case f.SNI:
		d.Reason = "serves the old certificate as an SNI certificate: add the new, then remove the old"
	case f.New != "" && f.Current == f.New && f.Reimport:
		d.Action, d.Reason = ActionReimport, "serves "+f.New+", which is re-imported in place"
	case f.New != "" && f.Current == f.New:
		return listenerDecision{Action: ActionSkip, State: StateUnchanged, Current: f.Current, Reason: "already serves the new certificate"}
	case f.Current == "":
		d.Reason = "serves no certificate"
	default:
		d.Reason = "serves another certificate"
	}
	if d.Action == ActionSwitch && !f.Reimport && f.New != "" && !f.RolledBack.IsZero() && !f.Force {
		return listenerDecision{Action: ActionSkip, State: StateUnchanged, Current: d.Current, Held: true,
			Reason: "held: a rollback moved the lineage off the new certificate at " + f.RolledBack.UTC().Format("2006-01-02 15:04 UTC")}
	}
	if d.Action == ActionSwitch && d.Current != "" && f.NoDowngrade && !f.Force && !f.Expires.IsZero() && !f.NewExpires.IsZero() &&
		f.Expires.After(f.NewExpires) {
		return listenerDecision{Action: ActionSkip, State: StateUnchanged, Current: d.Current, Kept: true,
			Reason: fmt.Sprintf("kept: it serves a certificate valid until %s, after the new one (%s)",
				f.Expires.UTC().Format(time.DateOnly), f.NewExpires.UTC().Format(time.DateOnly))}
	}
	if d.Current != "" && f.RenewWithin > 0 && !f.Expires.IsZero() && f.Expires.Sub(f.Now) > f.RenewWithin {
		return listenerDecision{Action: ActionSkip, State: StateUnchanged, Current: d.Current,
			Reason: fmt.Sprintf("current certificate valid until %s, more than %s", f.Expires.UTC().Format(time.DateOnly), days(f.RenewWithin))}
	}
	return d
}
