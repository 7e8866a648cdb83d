package awsiam_test

import (
	"strings"
	"testing"
	"time"

	"github.com/keybridge/keybridge/awsiam"
	"github.com/keybridge/keybridge/awsiam/awstest"
	"github.com/keybridge/keybridge/keystore"
)

// acmFleet is five listeners in two regions (a classic ELB and ALB listeners)
// serving, in each region, the ACM certificate b imported by certup; a is an
// older import of the same name group.
type acmFleet struct {
	*fleet
	acmA, acmB map[string]string // region → ARN
}

func newACMFleet(t *testing.T) *acmFleet {
	t.Helper()
	f := &acmFleet{fleet: newFleet(t, awstest.Options{}), acmA: map[string]string{}, acmB: map[string]string{}}
	ctx := ctx(t)
	for i, reg := range fleetRegions {
		for _, x := range []struct {
			kp  *keystore.KeyPair
			arn map[string]string
		}{{f.a, f.acmA}, {f.b, f.acmB}} {
			up, err := f.svcs[i].Upload(ctx, x.kp, awsiam.UploadOptions{Target: awsiam.TargetACM})
			if err != nil {
				t.Fatal(err)
			}
			x.arn[reg] = up.ARN
		}
		f.seedLineage(t, f.acmA[reg], f.acmB[reg])
	}
	// Point every listener at its region's b.
	for _, l := range f.listeners {
		for i, reg := range fleetRegions {
			if _, ok := f.srv.ClassicListenerOf(reg, l.ELB, int(l.Port)); (l.ELB == "" && f.region[l] != reg) || (l.ELB != "" && !ok) {
				continue
			}
			if _, err := f.svcs[i].Attach(ctx, f.acmB[reg], l, awsiam.AttachOptions{Wait: time.Second}); err != nil {
				t.Fatal(err)
			}
		}
	}
	f.srv.ResetCalls()
	return f
}

func (f *acmFleet) options() awsiam.RotateOptions {
	o := f.fleet.options()
	o.Upload = awsiam.UploadOptions{Target: awsiam.TargetACM}
	return o
}

// newACM is the region's ACM certificate holding c, or "".
func (f *acmFleet) newACM(region string) string {
	for _, c := range f.srv.ACMCertificates(region) {
		if c.Body == strings.TrimSpace(string(f.c.CertPEM())) {
			return c.ARN
		}
	}
	return ""
}

func (f *acmFleet) acmExists(region, arn string) bool {
	for _, c := range f.srv.ACMCertificates(region) {
		if c.ARN == arn {
			return true
		}
	}
	return false
}

// check: every listener serves an existing certificate of its region, b or the
// new one; with converged, the new one, b kept and a deleted.
func (f *acmFleet) check(t *testing.T, converged bool) {
	t.Helper()
	for _, reg := range fleetRegions {
		for _, l := range f.listeners {
			var cert string
			if l.ELB != "" {
				st, ok := f.srv.ClassicListenerOf(reg, l.ELB, int(l.Port))
				if !ok {
					continue
				}
				cert = st.CertificateARN
			} else if f.region[l] == reg {
				cert, _, _ = f.srv.ListenerCertificates(reg, l.ARN)
			} else {
				continue
			}
			if !f.acmExists(reg, cert) {
				t.Errorf("%s %s serves %s, which does not exist", reg, l, cert)
			}
			want := map[string]bool{f.acmB[reg]: !converged, f.newACM(reg): true}
			if !want[cert] {
				t.Errorf("%s %s serves %s (b %s, new %s)", reg, l, cert, f.acmB[reg], f.newACM(reg))
			}
		}
		if converged && (f.acmExists(reg, f.acmA[reg]) || !f.acmExists(reg, f.acmB[reg])) {
			t.Errorf("%s: a kept %v, b kept %v; want a pruned, b kept", reg, f.acmExists(reg, f.acmA[reg]), f.acmExists(reg, f.acmB[reg]))
		}
	}
}

// TestRotateACMFaultMatrix is the fault matrix for ACM: a new import per
// region, the listeners switched, the older import pruned.
func TestRotateACMFaultMatrix(t *testing.T) {
	ops := []string{
		"acm:ListCertificates",
		"acm:GetCertificate",
		"acm:ImportCertificate",
		"acm:ListTagsForCertificate",
		"acm:DeleteCertificate",
		"elbv2:ModifyListener",
		"elb:SetLoadBalancerListenerSSLCertificate",
	}
	modes := []struct {
		name  string
		fault func(op string) awstest.Fault
	}{
		{"fails once", func(op string) awstest.Fault { return awstest.Fault{Op: op, Code: "AccessDeniedException", Times: 1} }},
		{"fails persistently", func(op string) awstest.Fault { return awstest.Fault{Op: op} }},
	}
	for _, op := range ops {
		for _, m := range modes {
			t.Run(op+"/"+m.name, func(t *testing.T) {
				t.Parallel()
				f := newACMFleet(t)
				ctx := ctx(t)
				remove := f.srv.Inject(m.fault(op))
				r, err := f.rotate(ctx, f.c, f.options())
				remove()
				f.check(t, false)
				if err == nil && r.Outcome == awsiam.OutcomeChanged {
					f.check(t, true)
				}
				r, err = f.rotate(ctx, f.c, f.options())
				if err != nil || (r.Outcome != awsiam.OutcomeChanged && r.Outcome != awsiam.OutcomeUnchanged) {
					t.Fatalf("second run: %v\n%s", err, describe(r))
				}
				f.check(t, true)
				f.srv.ResetCalls()
				r, err = f.rotate(ctx, f.c, f.options())
				if err != nil || r.Outcome != awsiam.OutcomeUnchanged || f.srv.MutatingCalls() != 0 {
					t.Errorf("third run: %v, %v\n%s", err, f.srv.CallLog(), describe(r))
				}
			})
		}
	}
}

func TestRollbackACM(t *testing.T) {
	f := newACMFleet(t)
	plan, err := awsiam.PlanRollback(ctx(t), f.svcs, awsiam.RollbackOptions{Listeners: f.listeners, Wait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := plan.Apply(ctx(t)); err != nil || plan.Outcome != awsiam.OutcomeChanged {
		t.Fatalf("%v\n%s", err, describe(plan))
	}
	for _, p := range plan.Listeners {
		if p.Target != f.acmA[p.Region] || p.State != awsiam.StateConfirmed {
			t.Errorf("%s %s: target %s state %s", p.Region, p.Listener, p.Target, p.State)
		}
	}
}
