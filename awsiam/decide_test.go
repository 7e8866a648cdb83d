package awsiam

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecideListener(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	l := Listener{ELB: "web", Port: 443}
	sni := Listener{ARN: "arn:aws:elasticloadbalancing:eu-west-1:1:listener/app/a/1/2", SNI: true}
	const old, nu = "arn:old", "arn:new"
	for _, tc := range []struct {
		name    string
		f       listenerFacts
		action  Action
		state   State
		reason  string // a part of it
		current string
		oldOnly bool
		err     error
	}{
		{"plain HTTP fails", listenerFacts{Listener: l, Protocol: "HTTP", Current: ""}, ActionSkip, StateFailed, "", "", false, ErrNotSecure},
		{"serves another", listenerFacts{Listener: l, Secure: true, Current: old, New: nu}, ActionSwitch, StatePlanned, "serves another certificate", old, false, nil},
		{"new not uploaded yet", listenerFacts{Listener: l, Secure: true, Current: old}, ActionSwitch, StatePlanned, "serves another certificate", old, false, nil},
		{"serves none", listenerFacts{Listener: l, Secure: true, New: nu}, ActionSwitch, StatePlanned, "serves no certificate", "", false, nil},
		{"already new", listenerFacts{Listener: l, Secure: true, Current: nu, New: nu}, ActionSkip, StateUnchanged, "already serves the new certificate", nu, false, nil},
		{"re-import in place", listenerFacts{Listener: l, Secure: true, Current: nu, New: nu, Reimport: true}, ActionReimport, StatePlanned, "re-imported in place", nu, false, nil},
		{"SNI: add then remove", listenerFacts{Listener: sni, Secure: true, SNI: true, Current: old, New: nu}, ActionSwitch, StatePlanned, "add the new, then remove the old", old, false, nil},
		{"SNI: has both", listenerFacts{Listener: sni, Secure: true, SNI: true, SNIHasNew: true, Current: old, New: nu}, ActionSwitch, StatePlanned, "remove the old", old, true, nil},
		{"SNI: new only", listenerFacts{Listener: sni, Secure: true, SNI: true, SNIHasNew: true, New: nu}, ActionSkip, StateUnchanged, "(SNI)", nu, false, nil},
		{"SNI: re-import", listenerFacts{Listener: sni, Secure: true, SNI: true, SNIHasNew: true, New: nu, Reimport: true}, ActionReimport, StatePlanned, "SNI certificate", nu, false, nil},
		{"renew-within: valid long enough", listenerFacts{Listener: l, Secure: true, Current: old, New: nu, Now: now, RenewWithin: 30 * 24 * time.Hour, Expires: now.AddDate(0, 2, 0)},
			ActionSkip, StateUnchanged, "valid until 2026-08-01, more than 30 days", old, false, nil},
		{"renew-within: due", listenerFacts{Listener: l, Secure: true, Current: old, New: nu, Now: now, RenewWithin: 30 * 24 * time.Hour, Expires: now.AddDate(0, 0, 10)},
			ActionSwitch, StatePlanned, "serves another", old, false, nil},
		{"renew-within: expiry unknown", listenerFacts{Listener: l, Secure: true, Current: old, New: nu, Now: now, RenewWithin: time.Hour},
			ActionSwitch, StatePlanned, "serves another", old, false, nil},
		{"renew-within: no certificate to keep", listenerFacts{Listener: l, Secure: true, New: nu, Now: now, RenewWithin: time.Hour, Expires: now.AddDate(1, 0, 0)},
			ActionSwitch, StatePlanned, "serves no certificate", "", false, nil},
		{"renew-within never keeps a listener from the new one", listenerFacts{Listener: l, Secure: true, Current: nu, New: nu, Now: now, RenewWithin: time.Hour, Expires: now.AddDate(1, 0, 0)},
			ActionSkip, StateUnchanged, "already serves", nu, false, nil},
		{"rolled back from the new one: held", listenerFacts{Listener: l, Secure: true, Current: old, New: nu, RolledBack: now},
			ActionSkip, StateUnchanged, "held: a rollback moved the lineage off the new certificate at 2026-06-01 00:00 UTC", old, false, nil},
		{"rolled back: SNI held too", listenerFacts{Listener: sni, Secure: true, SNI: true, Current: old, New: nu, RolledBack: now},
			ActionSkip, StateUnchanged, "held: ", old, false, nil},
		{"rolled back: forced", listenerFacts{Listener: l, Secure: true, Current: old, New: nu, RolledBack: now, Force: true},
			ActionSwitch, StatePlanned, "serves another certificate", old, false, nil},
		{"no downgrade: serves one that outlasts the new", listenerFacts{Listener: l, Secure: true, Current: old, New: nu, NoDowngrade: true, Expires: now.AddDate(1, 0, 0), NewExpires: now.AddDate(0, 3, 0)},
			ActionSkip, StateUnchanged, "kept: it serves a certificate valid until 2027-06-01, after the new one (2026-09-01)", old, false, nil},
		{"no downgrade: SNI too", listenerFacts{Listener: sni, Secure: true, SNI: true, Current: old, New: nu, NoDowngrade: true, Expires: now.AddDate(1, 0, 0), NewExpires: now.AddDate(0, 3, 0)},
			ActionSkip, StateUnchanged, "kept: ", old, false, nil},
		{"no downgrade: the new one lasts longer", listenerFacts{Listener: l, Secure: true, Current: old, New: nu, NoDowngrade: true, Expires: now.AddDate(0, 1, 0), NewExpires: now.AddDate(0, 3, 0)},
			ActionSwitch, StatePlanned, "serves another certificate", old, false, nil},
		{"no downgrade: current expiry unknown", listenerFacts{Listener: l, Secure: true, Current: old, New: nu, NoDowngrade: true, NewExpires: now.AddDate(0, 3, 0)},
			ActionSwitch, StatePlanned, "serves another certificate", old, false, nil},
		{"no downgrade: forced", listenerFacts{Listener: l, Secure: true, Current: old, New: nu, NoDowngrade: true, Force: true, Expires: now.AddDate(1, 0, 0), NewExpires: now.AddDate(0, 3, 0)},
			ActionSwitch, StatePlanned, "serves another certificate", old, false, nil},
		{"no downgrade: a re-import in place is renew's own", listenerFacts{Listener: l, Secure: true, Current: nu, New: nu, Reimport: true, NoDowngrade: true, Expires: now.AddDate(1, 0, 0), NewExpires: now.AddDate(0, 3, 0)},
			ActionReimport, StatePlanned, "re-imported in place", nu, false, nil},
		{"rolled back, but serves it still (a partial rollback)", listenerFacts{Listener: l, Secure: true, Current: nu, New: nu, RolledBack: now},
			ActionSkip, StateUnchanged, "already serves the new certificate", nu, false, nil},
		{"rolled back: a re-import brings another certificate", listenerFacts{Listener: l, Secure: true, Current: nu, New: nu, Reimport: true, RolledBack: now},
			ActionReimport, StatePlanned, "re-imported in place", nu, false, nil},
		{"rolled back: serves none, held", listenerFacts{Listener: l, Secure: true, New: nu, RolledBack: now},
			ActionSkip, StateUnchanged, "held: ", "", false, nil},
		{"rolled back: not secure still fails", listenerFacts{Listener: l, Protocol: "HTTP", New: nu, RolledBack: now}, ActionSkip, StateFailed, "", "", false, ErrNotSecure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decideListener(tc.f)
			if d.Action != tc.action || d.State != tc.state || !strings.Contains(d.Reason, tc.reason) || d.Current != tc.current ||
				d.RemoveOldOnly != tc.oldOnly || !errors.Is(d.Err, tc.err) || (tc.err == nil) != (d.Err == nil) ||
				d.Held != strings.HasPrefix(tc.reason, "held: ") {
				t.Errorf("got %+v", d)
			}
		})
	}
}

func TestDecideRollback(t *testing.T) {
	gen := func(g int) *Record { return &Record{Lineage: "shop", Generation: g} }
	for _, tc := range []struct {
		name string
		f    rollbackFacts
		want rollbackStep
	}{
		{"newest generation goes back", rollbackFacts{Record: gen(3), Newest: 3, Recorded: true}, rollbackRecorded},
		{"older generation stays (partial rotate, or partly rolled back)", rollbackFacts{Record: gen(2), Newest: 3, Recorded: true}, rollbackNotNewest},
		{"no record among recorded ones stays", rollbackFacts{Newest: 3, Recorded: true}, rollbackNotNewest},
		{"moved back already stays", rollbackFacts{Record: gen(2), Marked: true, Newest: 2, Recorded: true}, rollbackAlreadyBack},
		{"untagged and moved back already stays", rollbackFacts{Marked: true, Recorded: true}, rollbackAlreadyBack},
		{"run again: the rest of a rollback under way goes back", rollbackFacts{Record: gen(3), Resuming: true, FromHere: true, Newest: 3, Recorded: true}, rollbackRecorded},
		{"run again: a newer one not being rolled back stays", rollbackFacts{Record: gen(4), Resuming: true, Newest: 4, Recorded: true}, rollbackNotNewest},
		{"marked and still being moved from goes back", rollbackFacts{Record: gen(3), Marked: true, Resuming: true, FromHere: true, Newest: 3, Recorded: true}, rollbackRecorded},
		{"further from a marked one goes back", rollbackFacts{Record: gen(2), Marked: true, Further: true, Newest: 2, Recorded: true}, rollbackRecorded},
		{"further from an untagged one fails", rollbackFacts{Marked: true, Further: true, Recorded: true}, rollbackNoRecord},
		{"no lineage anywhere: upload order", rollbackFacts{}, rollbackUploadOrder},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := decideRollback(tc.f); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}
