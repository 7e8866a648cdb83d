package awsiam_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keybridge/keybridge/awsiam"
	"github.com/keybridge/keybridge/awsiam/awstest"
)

// TestRollbackReplacesSNI: a rotation with Replaces moves an ALB listener's
// SNI certificate (b → c) besides the default certificates; a rollback with
// the same Replaces puts b back on the SNI list and takes c off (adding
// before removing), and every default certificate back on b (I1). A remove
// that fails leaves both on the list; run again, only the remove is made;
// after that nothing changes. Rotated again, an SNI add beyond the load balancer's quota is
// refused before any change.
func TestRollbackReplacesSNI(t *testing.T) {
	f := newFleet(t, awstest.Options{})
	ctx := ctx(t)
	reg := fleetRegions[0]
	other := f.seedIAM(t, f.ca.valid(t, "other.example.com"))
	alb := f.srv.AddALB(reg, "sni-alb")
	ln, err := f.srv.AddListener(reg, alb, awstest.Listener{Protocol: "HTTPS", Port: 443, CertificateARN: other, SNI: []string{f.bARN}})
	if err != nil {
		t.Fatal(err)
	}
	before := f.serving(t)
	o := f.options()
	o.Listeners = nil
	o.Replaces = []string{f.bARN}
	o.NoPrune = true
	if r, err := f.rotate(ctx, f.c, o); err != nil || r.Outcome != awsiam.OutcomeChanged {
		t.Fatalf("rotate: %v\n%s", err, describe(r))
	}
	if def, sni, _ := f.srv.ListenerCertificates(reg, ln); def != other || !slices.Equal(sni, []string{f.newARN()}) {
		t.Fatalf("after the rotate: default %s, SNI %v", def, sni)
	}
	rollback := func() (*awsiam.Rotation, error) {
		plan, err := awsiam.PlanRollback(ctx, f.svcs, awsiam.RollbackOptions{Replaces: []string{f.bARN}, Wait: time.Second})
		if err != nil {
			return nil, err
		}
		return plan, plan.Apply(ctx)
	}

	t.Run("remove fails once: both kept, the next run removes", func(t *testing.T) {
		remove := f.srv.Inject(awstest.Fault{Op: "elbv2:RemoveListenerCertificates", Code: "AccessDenied", Times: 1})
		r, err := rollback()
		remove()
		if err != nil || r.Outcome != awsiam.OutcomePartial {
			t.Fatalf("%v\n%s", err, describe(r))
		}
		if _, sni, _ := f.srv.ListenerCertificates(reg, ln); len(sni) != 2 {
			t.Errorf("SNI after a failed remove: %v", sni)
		}
		f.srv.ResetCalls()
		r, err = rollback()
		if err != nil || r.Outcome != awsiam.OutcomeChanged {
			t.Fatalf("%v\n%s", err, describe(r))
		}
		if f.srv.Calls("elbv2:AddListenerCertificates") != 0 || f.srv.Calls("elbv2:RemoveListenerCertificates") != 1 {
			t.Errorf("second run: %v", f.srv.CallLog())
		}
	})
	t.Run("I1: every listener back on what it served", func(t *testing.T) {
		if def, sni, _ := f.srv.ListenerCertificates(reg, ln); def != other || !slices.Equal(sni, []string{f.bARN}) {
			t.Errorf("SNI listener: default %s, SNI %v", def, sni)
		}
		now := f.serving(t)
		for l, was := range before {
			if !slices.Equal(now[l], was) {
				t.Errorf("%s serves %v, served %v before the rotate", l, now[l], was)
			}
		}
	})
	t.Run("again: nothing to do", func(t *testing.T) {
		f.srv.ResetCalls()
		r, err := rollback()
		if err != nil || r.Outcome != awsiam.OutcomeUnchanged || f.srv.MutatingCalls() != 0 {
			t.Fatalf("%v %v\n%s", err, f.srv.CallLog(), describe(r))
		}
	})
	t.Run("quota: refused before any change", func(t *testing.T) {
		// The rollback holds against c: a rotation to it again is forced.
		o := o
		o.Force = true
		if r, err := f.rotate(ctx, f.c, o); err != nil || r.Outcome != awsiam.OutcomeChanged {
			t.Fatalf("rotate: %v\n%s", err, describe(r))
		}
		// c on the SNI listener and 24 on another listener of its load
		// balancer: b cannot go back on before c comes off.
		var full []string
		for i := range awstest.MaxCertificatesPerLoadBalancer - 1 {
			full = append(full, fmt.Sprintf("arn:aws:iam::123456789012:server-certificate/filler-%d", i))
		}
		_, err := f.srv.AddListener(reg, alb, awstest.Listener{Protocol: "HTTPS", Port: 8443, CertificateARN: other, SNI: full})
		if err != nil {
			t.Fatal(err)
		}
		f.srv.ResetCalls()
		_, err = rollback()
		if !errors.Is(err, awsiam.ErrTooManyCertificates) || f.srv.MutatingCalls() != 0 {
			t.Errorf("%v, %d changing calls: %v", err, f.srv.MutatingCalls(), f.srv.CallLog())
		}
	})

}
