package awsiam_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keybridge/keybridge/internal/testkit"

	"github.com/keybridge/keybridge/awsiam"
	"github.com/keybridge/keybridge/awsiam/awstest"
	"github.com/keybridge/keybridge/keystore"
)

var fleetRegions = []string{"eu-west-1", "us-east-1"}

// fleet is six HTTPS listeners in two regions — classic ELBs and ALB listeners —
// all serving certificate b; a is an older upload of the same name group, kept
// for rollback; c is the renewed certificate to rotate to.
type fleet struct {
	srv       *awstest.Server
	svcs      []*awsiam.Service
	listeners []awsiam.Listener
	region    map[awsiam.Listener]string
	ca        *ca
	a, b, c   *keystore.KeyPair
	aARN      string
	bARN      string
	log       *syncBuffer
}

const fleetCN = "shop.example.com"

func newFleet(t *testing.T, opts awstest.Options) *fleet {
	t.Helper()
	srv, err := awstest.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	f := &fleet{srv: srv, region: map[awsiam.Listener]string{}, ca: newCA(t), log: &syncBuffer{}}
	now := time.Now()
	f.a = f.ca.pair(t, fleetCN, nil, now.Add(-time.Hour), now.Add(30*24*time.Hour))
	f.b = f.ca.pair(t, fleetCN, nil, now.Add(-time.Hour), now.Add(60*24*time.Hour))
	f.c = f.ca.pair(t, fleetCN, nil, now.Add(-time.Hour), now.Add(90*24*time.Hour))
	f.aARN = f.seedIAM(t, f.a)
	f.bARN = f.seedIAM(t, f.b)
	for i, reg := range fleetRegions {
		classic := []string{"web", "api"}
		if i == 1 {
			classic = classic[:1]
		}
		for _, name := range classic {
			if err := srv.AddClassicELB(reg, name,
				awstest.ClassicListener{Protocol: "HTTP", Port: 80, InstancePort: 8080},
				awstest.ClassicListener{Protocol: "HTTPS", Port: 443, InstanceProtocol: "HTTP", InstancePort: 8080, CertificateARN: f.bARN}); err != nil {
				t.Fatal(err)
			}
			f.add(reg, awsiam.Listener{ELB: name, Port: 443})
		}
		alb := srv.AddALB(reg, "alb")
		ports := []int{443, 8443}
		if i == 1 {
			ports = ports[:1]
		}
		for _, port := range ports {
			ln, err := srv.AddListener(reg, alb, awstest.Listener{Protocol: "HTTPS", Port: port, CertificateARN: f.bARN})
			if err != nil {
				t.Fatal(err)
			}
			f.add(reg, awsiam.Listener{ARN: ln})
		}
	}
	for _, reg := range fleetRegions {
		f.svcs = append(f.svcs, f.service(reg, false))
	}
	f.seedLineage(t, f.aARN, f.bARN)
	return f
}

func (f *fleet) add(region string, l awsiam.Listener) {
	if _, ok := f.region[l]; ok {
		return // the same classic ELB name in two regions is one target
	}
	f.listeners = append(f.listeners, l)
	f.region[l] = region
}

func (f *fleet) seedIAM(t *testing.T, kp *keystore.KeyPair) string {
	t.Helper()
	key, err := kp.KeyPEM(keystore.KeyFormatDefault)
	if err != nil {
		t.Fatal(err)
	}
	arn, err := f.srv.UploadServerCertificate(awsiam.DefaultName(kp.Leaf, ""), "/", string(kp.CertPEM()), string(key), string(kp.ChainPEM()))
	if err != nil {
		t.Fatal(err)
	}
	return arn
}

// fleetLineage is the lineage earlier rotations put a and b in.
const fleetLineage = "shop"

// seedLineage records that b replaced a on every listener of the fleet in
// fleetLineage (generations 1 and 2), as two earlier rotations would have.
func (f *fleet) seedLineage(t *testing.T, a, b string) {
	t.Helper()
	prev := map[string]string{}
	for _, l := range f.listeners {
		for _, reg := range fleetRegions {
			prev[awsiam.ListenerRef(reg, l)] = awsiam.CertRef(a)
		}
	}
	for _, x := range []struct {
		arn string
		rec awsiam.Record
	}{{a, awsiam.Record{Lineage: fleetLineage, Generation: 1}}, {b, awsiam.Record{Lineage: fleetLineage, Generation: 2, Prev: prev}}} {
		tags := map[string]string{"certup:origin": fleetLineage}
		for _, tg := range x.rec.Tags() {
			tags[tg.Key] = tg.Value
		}
		if err := f.srv.AddTags(x.arn, tags); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fleet) service(region string, dryRun bool) *awsiam.Service {
	cfg := testConfig(f.srv, region, 4, 5*time.Millisecond)
	return awsiam.New(awsiam.NewClients(cfg), awsiam.Options{Region: region, DryRun: dryRun,
		Logger: debugLogger(f.log),
		Poll:   awsiam.Backoff{Initial: 5 * time.Millisecond, Max: 40 * time.Millisecond, Factor: 2}})
}

func (f *fleet) options() awsiam.RotateOptions {
	return awsiam.RotateOptions{Listeners: f.listeners, Wait: time.Second, Parallel: 3}
}

func (f *fleet) rotate(ctx context.Context, kp *keystore.KeyPair, o awsiam.RotateOptions) (*awsiam.Rotation, error) {
	plan, err := awsiam.PlanRotation(ctx, f.svcs, kp, o)
	if err != nil {
		return nil, err
	}
	return plan, plan.Apply(ctx)
}

// serving reports the certificate each listener serves now.
func (f *fleet) serving(t *testing.T) map[awsiam.Listener][]string {
	t.Helper()
	out := map[awsiam.Listener][]string{}
	for _, l := range f.listeners {
		for _, reg := range fleetRegions {
			if l.ELB != "" {
				if st, ok := f.srv.ClassicListenerOf(reg, l.ELB, int(l.Port)); ok {
					out[l] = append(out[l], st.CertificateARN)
				}
			} else if def, _, ok := f.srv.ListenerCertificates(reg, l.ARN); ok {
				out[l] = append(out[l], def)
			}
		}
	}
	return out
}

func (f *fleet) iamARNs() map[string]bool {
	out := map[string]bool{}
	for _, c := range f.srv.ServerCertificates() {
		out[c.ARN] = true
	}
	return out
}

// assertSafe: every listener serves an existing certificate, the old or the new.
func (f *fleet) assertSafe(t *testing.T, allowed ...string) {
	t.Helper()
	exists := f.iamARNs()
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[a] = true
	}
	for l, certs := range f.serving(t) {
		for _, c := range certs {
			if !exists[c] {
				t.Errorf("%s serves %s, which does not exist", l, c)
			}
			if !ok[c] {
				t.Errorf("%s serves %s, neither the old nor the new certificate", l, c)
			}
		}
	}
}

// assertAll: every listener serves arn.
func (f *fleet) assertAll(t *testing.T, arn string) {
	t.Helper()
	for l, certs := range f.serving(t) {
		for _, c := range certs {
			if c != arn {
				t.Errorf("%s serves %s, want %s", l, c, arn)
			}
		}
	}
}

func (f *fleet) newARN() string {
	return "arn:aws:iam::" + f.srv.AccountID() + ":server-certificate/" + awsiam.DefaultName(f.c.Leaf, "")
}

// assertConverged: all on c, b kept for rollback, a pruned.
func (f *fleet) assertConverged(t *testing.T) {
	t.Helper()
	f.assertAll(t, f.newARN())
	have := f.iamARNs()
	if !have[f.bARN] || have[f.aARN] || !have[f.newARN()] {
		t.Errorf("IAM holds %v; want the new and the previous certificate (b), not a", have)
	}
}

func describe(r *awsiam.Rotation) string {
	if r == nil {
		return "no plan"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "outcome %s errors %v\n", r.Outcome, r.Errors)
	for _, p := range r.Listeners {
		fmt.Fprintf(&b, "  %s %s %s %s %s\n", p.Region, p.Listener, p.Action, p.State, p.Error)
	}
	return b.String()
}

func TestRotateConvergesAndRepeatsWithoutChanges(t *testing.T) {
	f := newFleet(t, awstest.Options{})
	ctx := ctx(t)
	var events atomic.Int32
	o := f.options()
	o.Progress = func(awsiam.Event) { events.Add(1) }
	r, err := f.rotate(ctx, f.c, o)
	if err != nil || r.Outcome != awsiam.OutcomeChanged {
		t.Fatalf("err %v\n%s", err, describe(r))
	}
	if len(r.Listeners) != 6 {
		t.Errorf("plan has %d listeners, want 6", len(r.Listeners))
	}
	for _, p := range r.Listeners {
		if p.State != awsiam.StateConfirmed {
			t.Errorf("%s: %s %s", p.Listener, p.State, p.Error)
		}
	}
	f.assertConverged(t)
	if r.Prune == nil || r.Prune.Deleted != 1 {
		t.Errorf("prune = %+v", r.Prune)
	}
	if events.Load() == 0 {
		t.Error("no progress events")
	}
	if n := f.srv.Calls("iam:UploadServerCertificate"); n != 1 {
		t.Errorf("%d uploads", n)
	}

	f.srv.ResetCalls()
	r, err = f.rotate(ctx, f.c, f.options())
	if err != nil || r.Outcome != awsiam.OutcomeUnchanged {
		t.Fatalf("second run: err %v\n%s", err, describe(r))
	}
	if n := f.srv.MutatingCalls(); n != 0 {
		t.Errorf("second run made %d mutating calls: %v", n, f.srv.CallLog())
	}
	for _, p := range r.Listeners {
		if p.Action != awsiam.ActionSkip || p.Reason != "already serves the new certificate" {
			t.Errorf("second run: %s %s %q", p.Listener, p.Action, p.Reason)
		}
	}
}

func TestRotateDryRunMakesNoChange(t *testing.T) {
	f := newFleet(t, awstest.Options{})
	svcs := []*awsiam.Service{f.service(fleetRegions[0], true), f.service(fleetRegions[1], true)}
	plan, err := awsiam.PlanRotation(ctx(t), svcs, f.c, f.options())
	if err != nil {
		t.Fatal(err)
	}
	if plan.Outcome != awsiam.OutcomeChanged || !plan.DryRun {
		t.Errorf("outcome %s dry run %v", plan.Outcome, plan.DryRun)
	}
	// One upload and six switches.
	if len(plan.Calls) != 7 || plan.Calls[0].Operation != "UploadServerCertificate" {
		t.Errorf("calls = %v", plan.Calls)
	}
	for _, c := range plan.Calls {
		for k, v := range c.Params {
			if strings.Contains(v, "PRIVATE KEY") {
				t.Errorf("%s %s shows key material", c, k)
			}
		}
	}
	if err := plan.Apply(ctx(t)); err == nil {
		t.Error("a dry-run plan was applied")
	}
	if n := f.srv.MutatingCalls(); n != 0 {
		t.Errorf("%d mutating calls: %v", n, f.srv.CallLog())
	}
	f.assertAll(t, f.bARN)
}

func TestRotateCallsPerListener(t *testing.T) {
	f := newFleet(t, awstest.Options{})
	if _, err := f.rotate(ctx(t), f.c, f.options()); err != nil {
		t.Fatal(err)
	}
	// Plan, read-back and prune read in bulk: per region one classic describe and
	// one DescribeListeners for the ALB listeners, each three times.
	for _, op := range []string{"elb:DescribeLoadBalancers", "elbv2:DescribeListeners"} {
		if n := f.srv.Calls(op); n > 3*len(fleetRegions) {
			t.Errorf("%s called %d times", op, n)
		}
	}
	if n := f.srv.Calls("elb:SetLoadBalancerListenerSSLCertificate") + f.srv.Calls("elbv2:ModifyListener"); n != 6 {
		t.Errorf("%d switches for 6 listeners", n)
	}
}

// rotationOps are the operations a rotation from b to c (pruning a) calls.
var rotationOps = []string{
	"iam:GetServerCertificate",
	"iam:UploadServerCertificate",
	"iam:ListServerCertificates",
	"iam:DeleteServerCertificate",
	"iam:ListServerCertificateTags",
	"elb:DescribeLoadBalancers",
	"elb:SetLoadBalancerListenerSSLCertificate",
	"elbv2:DescribeLoadBalancers",
	"elbv2:DescribeListeners",
	"elbv2:DescribeListenerCertificates",
	"elbv2:ModifyListener",
}

// TestRotateFaultMatrix makes each operation fail once, and fail persistently,
// during a rotation over six listeners in two regions. After every run each
// listener serves an existing certificate, the old or the new; with the fault
// gone, the next run converges; the run after that changes nothing.
func TestRotateFaultMatrix(t *testing.T) {
	modes := []struct {
		name  string
		fault func(op string) awstest.Fault
	}{
		// A client error the SDK does not retry: the run sees it.
		{"fails once", func(op string) awstest.Fault { return awstest.Fault{Op: op, Code: "AccessDenied", Times: 1} }},
		// A server error on every call: the SDK's retries run out.
		{"fails persistently", func(op string) awstest.Fault { return awstest.Fault{Op: op} }},
		// Fails on the third call and after: hits the middle of the switches.
		{"fails midway", func(op string) awstest.Fault { return awstest.Fault{Op: op, Code: "AccessDenied", Skip: 2} }},
	}
	for _, op := range rotationOps {
		for _, m := range modes {
			t.Run(op+"/"+m.name, func(t *testing.T) {
				t.Parallel()
				f := newFleet(t, awstest.Options{})
				ctx := ctx(t)
				remove := f.srv.Inject(m.fault(op))
				r, err := f.rotate(ctx, f.c, f.options())
				remove()
				f.assertSafe(t, f.bARN, f.newARN())
				if f.iamARNs()[f.bARN] == false {
					t.Error("the previous certificate was deleted")
				}
				if err == nil && r.Outcome == awsiam.OutcomeChanged {
					// The fault missed (the operation was not called) or was retried.
					f.assertConverged(t)
				}
				if r != nil && (r.Outcome == awsiam.OutcomePartial || r.Outcome == awsiam.OutcomeFailed) && len(r.Errors) == 0 {
					failed := false
					for _, p := range r.Listeners {
						failed = failed || p.State == awsiam.StateFailed
					}
					if !failed {
						t.Errorf("outcome %s without a failure reported\n%s", r.Outcome, describe(r))
					}
				}
				r2, err := f.rotate(ctx, f.c, f.options())
				if err != nil || (r2.Outcome != awsiam.OutcomeChanged && r2.Outcome != awsiam.OutcomeUnchanged) {
					t.Fatalf("second run: %v\n%s", err, describe(r2))
				}
				f.assertConverged(t)
				f.srv.ResetCalls()
				r3, err := f.rotate(ctx, f.c, f.options())
				if err != nil || r3.Outcome != awsiam.OutcomeUnchanged || f.srv.MutatingCalls() != 0 {
					t.Errorf("third run: %v, %d mutating calls\n%s", err, f.srv.MutatingCalls(), describe(r3))
				}
			})
		}
	}
}

func TestRotatePropagationDelay(t *testing.T) {
	f := newFleet(t, awstest.Options{PropagationDelay: 300 * time.Millisecond})
	r, err := f.rotate(ctx(t), f.c, f.options())
	if err != nil || r.Outcome != awsiam.OutcomeChanged {
		t.Fatalf("%v\n%s", err, describe(r))
	}
	f.assertConverged(t)
	// Only the first listener of each region waits out the delay.
	switches := f.srv.Calls("elb:SetLoadBalancerListenerSSLCertificate") + f.srv.Calls("elbv2:ModifyListener")
	retried := 0
	for _, p := range r.Listeners {
		if p.Attempts > 1 {
			retried++
		}
	}
	if retried == 0 || retried > 2*len(fleetRegions) || switches < 7 {
		t.Errorf("%d listeners retried, %d switch calls\n%s", retried, switches, describe(r))
	}
}

func TestRotatePropagationOutlastsWait(t *testing.T) {
	f := newFleet(t, awstest.Options{PropagationDelay: time.Hour})
	o := f.options()
	o.Wait = 150 * time.Millisecond
	r, err := f.rotate(ctx(t), f.c, o)
	if err != nil || r.Outcome != awsiam.OutcomePartial {
		t.Fatalf("%v\n%s", err, describe(r))
	}
	propagation := false
	for _, p := range r.Listeners {
		propagation = propagation || strings.Contains(p.Error, "propagation did not finish")
	}
	if !propagation {
		t.Errorf("no listener says propagation did not finish\n%s", describe(r))
	}
	f.assertSafe(t, f.bARN, f.newARN())
	f.srv.Propagate()
	if r, err = f.rotate(ctx(t), f.c, f.options()); err != nil || r.Outcome != awsiam.OutcomeChanged {
		t.Fatalf("after propagation: %v\n%s", err, describe(r))
	}
	f.assertConverged(t)
}

func TestRotateThrottlingStorm(t *testing.T) {
	f := newFleet(t, awstest.Options{})
	f.srv.Throttle("*", 20)
	// The SDK retries throttling (4 attempts here); a storm longer than that
	// fails some calls, and the next run finishes.
	var r *awsiam.Rotation
	var err error
	runs := 0
	for runs < 6 {
		runs++
		r, err = f.rotate(ctx(t), f.c, f.options())
		f.assertSafe(t, f.bARN, f.newARN())
		if err == nil && r.Outcome == awsiam.OutcomeChanged {
			break
		}
	}
	if err != nil || r.Outcome != awsiam.OutcomeChanged {
		t.Fatalf("after %d runs: %v\n%s", runs, err, describe(r))
	}
	f.assertConverged(t)
	if f.srv.Calls("*") < 20 {
		t.Errorf("the storm was not met: %d calls", f.srv.Calls("*"))
	}
}

func TestRotateInterrupted(t *testing.T) {
	f := newFleet(t, awstest.Options{})
	f.srv.SetLatency("elbv2:ModifyListener", 30*time.Millisecond)
	f.srv.SetLatency("elb:SetLoadBalancerListenerSSLCertificate", 30*time.Millisecond)
	c, cancel := context.WithCancel(ctx(t))
	defer cancel()
	o := f.options()
	o.Parallel = 1
	var once sync.Once
	o.Progress = func(e awsiam.Event) {
		if e.State == awsiam.StateSwitched {
			once.Do(cancel)
		}
	}
	r, err := f.rotate(c, f.c, o)
	if err != nil || r.Outcome != awsiam.OutcomePartial {
		t.Fatalf("%v\n%s", err, describe(r))
	}
	confirmed, failed := 0, 0
	for _, p := range r.Listeners {
		switch p.State {
		case awsiam.StateConfirmed, awsiam.StateSwitched:
			confirmed++
		case awsiam.StateFailed:
			failed++
		}
	}
	if failed == 0 {
		t.Errorf("the cancelled run failed nothing\n%s", describe(r))
	}
	f.assertSafe(t, f.bARN, f.newARN())
	if !f.iamARNs()[f.aARN] {
		t.Error("the interrupted run pruned")
	}
	r, err = f.rotate(ctx(t), f.c, f.options())
	if err != nil || r.Outcome != awsiam.OutcomeChanged {
		t.Fatalf("re-run: %v\n%s", err, describe(r))
	}
	f.assertConverged(t)
}

func TestRotateRenewWithin(t *testing.T) {
	f := newFleet(t, awstest.Options{})
	o := f.options()
	o.RenewWithin = 30 * 24 * time.Hour // b has 60 days left
	r, err := f.rotate(ctx(t), f.c, o)
	if err != nil || r.Outcome != awsiam.OutcomeUnchanged {
		t.Fatalf("%v\n%s", err, describe(r))
	}
	if f.srv.MutatingCalls() != 0 || !strings.Contains(r.Listeners[0].Reason, "more than 30 days") {
		t.Errorf("%d mutating calls, reason %q", f.srv.MutatingCalls(), r.Listeners[0].Reason)
	}
	o.RenewWithin = 61 * 24 * time.Hour
	if r, err = f.rotate(ctx(t), f.c, o); err != nil || r.Outcome != awsiam.OutcomeChanged {
		t.Fatalf("%v\n%s", err, describe(r))
	}
	f.assertConverged(t)
}

func TestRotateReplacesFindsListeners(t *testing.T) {
	f := newFleet(t, awstest.Options{})
	// A listener on another certificate is left alone.
	other := f.seedIAM(t, f.ca.valid(t, "other.example.com"))
	if err := f.srv.AddClassicELB(fleetRegions[1], "other", awstest.ClassicListener{Protocol: "HTTPS", Port: 443, InstancePort: 80, CertificateARN: other}); err != nil {
		t.Fatal(err)
	}
	o := f.options()
	o.Listeners = nil
	o.Replaces = []string{awsiam.DefaultName(f.b.Leaf, "")}
	r, err := f.rotate(ctx(t), f.c, o)
	if err != nil || r.Outcome != awsiam.OutcomeChanged || len(r.Listeners) != 6 {
		t.Fatalf("%v\n%s", err, describe(r))
	}
	f.assertConverged(t)
	if st, _ := f.srv.ClassicListenerOf(fleetRegions[1], "other", 443); st.CertificateARN != other {
		t.Errorf("other serves %s", st.CertificateARN)
	}
	// Again: the listeners now serve the new certificate and are shown as done.
	f.srv.ResetCalls()
	r, err = f.rotate(ctx(t), f.c, o)
	if err != nil || r.Outcome != awsiam.OutcomeUnchanged || len(r.Listeners) != 6 || f.srv.MutatingCalls() != 0 {
		t.Fatalf("%v, %d mutating\n%s", err, f.srv.MutatingCalls(), describe(r))
	}
}

func TestRotateNotFoundAndHTTPListeners(t *testing.T) {
	f := newFleet(t, awstest.Options{})
	o := f.options()
	o.Listeners = append(o.Listeners, awsiam.Listener{ELB: "missing", Port: 443}, awsiam.Listener{ELB: "web", Port: 80})
	r, err := f.rotate(ctx(t), f.c, o)
	if err != nil || r.Outcome != awsiam.OutcomePartial {
		t.Fatalf("%v\n%s", err, describe(r))
	}
	var msgs []string
	for _, p := range r.Listeners {
		if p.State == awsiam.StateFailed {
			msgs = append(msgs, p.Error)
		}
	}
	if got := strings.Join(msgs, "|"); !strings.Contains(got, "listener not found") || !strings.Contains(got, "uses HTTP") {
		t.Errorf("failures: %v", msgs)
	}
	f.assertAll(t, f.newARN())
}

func TestPruneDeleteConflict(t *testing.T) {
	t.Run("a listener in a region not scanned", func(t *testing.T) {
		f := newFleet(t, awstest.Options{})
		// a is in use in a region the rotation does not look at: IAM refuses.
		if err := f.srv.AddClassicELB("ap-south-1", "far", awstest.ClassicListener{Protocol: "HTTPS", Port: 443, InstancePort: 80, CertificateARN: f.aARN}); err != nil {
			t.Fatal(err)
		}
		r, err := f.rotate(ctx(t), f.c, f.options())
		if err != nil || r.Outcome != awsiam.OutcomeChanged {
			t.Fatalf("%v\n%s", err, describe(r))
		}
		if r.Prune == nil || r.Prune.Conflicts != 1 || r.Prune.Deleted != 0 {
			t.Fatalf("prune = %+v", r.Prune)
		}
		for _, c := range r.Prune.Certificates {
			if c.ARN == f.aARN && (c.Action != awsiam.PruneConflict || !strings.Contains(c.Error, "DeleteConflict")) {
				t.Errorf("a: %+v", c)
			}
		}
		if st, _ := f.srv.ClassicListenerOf("ap-south-1", "far", 443); st.CertificateARN != f.aARN {
			t.Error("the far listener was changed")
		}
		f.assertAll(t, f.newARN())
	})
	t.Run("injected", func(t *testing.T) {
		f := newFleet(t, awstest.Options{})
		f.srv.Inject(awstest.Fault{Op: "iam:DeleteServerCertificate", Code: "DeleteConflict", Message: "in use"})
		res, err := awsiam.Prune(ctx(t), f.svcs, awsiam.PruneOptions{Keep: -1})
		if err != nil || res.Conflicts != 1 || res.Outcome != awsiam.OutcomeUnchanged {
			t.Fatalf("%v %+v", err, res)
		}
		if !f.iamARNs()[f.aARN] {
			t.Error("a deleted")
		}
	})
}

func TestPruneKeepsAndDeletes(t *testing.T) {
	f := newFleet(t, awstest.Options{})
	// Not certup's: never touched.
	foreign := f.ca.valid(t, "foreign.example.com")
	key, _ := foreign.KeyPEM(keystore.KeyFormatDefault)
	if _, err := f.srv.UploadServerCertificate("hand-made", "/", string(foreign.CertPEM()), string(key), ""); err != nil {
		t.Fatal(err)
	}
	dry := []*awsiam.Service{f.service(fleetRegions[0], true)}
	res, err := awsiam.Prune(ctx(t), dry, awsiam.PruneOptions{Keep: -1})
	if err != nil || res.Outcome != awsiam.OutcomeChanged || len(res.Calls) != 1 || f.srv.MutatingCalls() != 0 {
		t.Fatalf("dry run: %v %+v, %d mutating", err, res, f.srv.MutatingCalls())
	}
	res, err = awsiam.Prune(ctx(t), f.svcs, awsiam.PruneOptions{})
	if err != nil || res.Outcome != awsiam.OutcomeUnchanged || res.Deleted != 0 {
		t.Fatalf("keep 1: %v %+v", err, res)
	}
	res, err = awsiam.Prune(ctx(t), f.svcs, awsiam.PruneOptions{Keep: -1})
	if err != nil || res.Deleted != 1 {
		t.Fatalf("keep none: %v %+v", err, res)
	}
	have := f.iamARNs()
	if have[f.aARN] || !have[f.bARN] || len(have) != 2 {
		t.Errorf("left %v", have)
	}
}

func TestRollback(t *testing.T) {
	f := newFleet(t, awstest.Options{})
	ctx := ctx(t)
	plan, err := awsiam.PlanRollback(ctx, f.svcs, awsiam.RollbackOptions{Listeners: f.listeners, Wait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := plan.Apply(ctx); err != nil || plan.Outcome != awsiam.OutcomeChanged {
		t.Fatalf("%v\n%s", err, describe(plan))
	}
	f.assertAll(t, f.aARN)
	// Run again: the rollback is complete, nothing to do.
	f.srv.ResetCalls()
	plan, err = awsiam.PlanRollback(ctx, f.svcs, awsiam.RollbackOptions{Listeners: f.listeners})
	if err != nil || plan.Outcome != awsiam.OutcomeUnchanged {
		t.Fatalf("%v\n%s", err, describe(plan))
	}
	if err := plan.Apply(ctx); err != nil || f.srv.MutatingCalls() != 0 {
		t.Errorf("%v, %d mutating calls", err, f.srv.MutatingCalls())
	}
	// Further: a is the first of its lineage, nothing to go back to.
	plan, err = awsiam.PlanRollback(ctx, f.svcs, awsiam.RollbackOptions{Listeners: f.listeners, Further: true})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Outcome != awsiam.OutcomeFailed || !strings.Contains(plan.Listeners[0].Error, awsiam.ErrNoPredecessor.Error()) {
		t.Errorf("%s", describe(plan))
	}
	if err := plan.Apply(ctx); err != nil || f.srv.MutatingCalls() != 0 {
		t.Errorf("%v, %d mutating calls", err, f.srv.MutatingCalls())
	}
	f.assertAll(t, f.aARN)
}

func TestRotateACM(t *testing.T) {
	f := newFleet(t, awstest.Options{})
	ctx := ctx(t)
	reg := fleetRegions[0]
	key, _ := f.b.KeyPEM(keystore.KeyFormatDefault)
	acmARN, err := f.srv.ImportACMCertificate(reg, string(f.b.CertPEM()), string(key), string(f.b.ChainPEM()))
	if err != nil {
		t.Fatal(err)
	}
	alb := f.srv.AddALB(reg, "acm-alb")
	ln, err := f.srv.AddListener(reg, alb, awstest.Listener{Protocol: "HTTPS", Port: 443, CertificateARN: acmARN})
	if err != nil {
		t.Fatal(err)
	}
	svcs := f.svcs[:1]
	t.Run("re-import in place", func(t *testing.T) {
		o := awsiam.RotateOptions{Listeners: []awsiam.Listener{{ARN: ln}}, Wait: time.Second,
			Upload: awsiam.UploadOptions{Target: awsiam.TargetACM, CertificateARN: acmARN}}
		f.srv.ResetCalls()
		plan, err := awsiam.PlanRotation(ctx, svcs, f.c, o)
		if err != nil {
			t.Fatal(err)
		}
		if plan.Listeners[0].Action != awsiam.ActionReimport || len(plan.Calls) != 1 || plan.Calls[0].Operation != "ImportCertificate" {
			t.Fatalf("plan: %s calls %v", describe(plan), plan.Calls)
		}
		if err := plan.Apply(ctx); err != nil || plan.Outcome != awsiam.OutcomeChanged {
			t.Fatalf("%v\n%s", err, describe(plan))
		}
		if f.srv.MutatingCalls() != 1 || f.srv.Calls("elbv2:ModifyListener") != 0 {
			t.Errorf("calls: %v", f.srv.CallLog())
		}
		certs := f.srv.ACMCertificates(reg)
		if len(certs) != 1 || certs[0].Body != strings.TrimSpace(string(f.c.CertPEM())) {
			t.Errorf("ACM holds %+v", certs)
		}
		f.srv.ResetCalls()
		plan, err = awsiam.PlanRotation(ctx, svcs, f.c, o)
		if err != nil || plan.Outcome != awsiam.OutcomeUnchanged {
			t.Fatalf("again: %v\n%s", err, describe(plan))
		}
		_ = plan.Apply(ctx)
		if f.srv.MutatingCalls() != 0 {
			t.Errorf("again: %v", f.srv.CallLog())
		}
	})
	t.Run("new import in two regions", func(t *testing.T) {
		o := f.options()
		o.Upload = awsiam.UploadOptions{Target: awsiam.TargetACM}
		r, err := f.rotate(ctx, f.ca.valid(t, fleetCN), o)
		if err != nil || r.Outcome != awsiam.OutcomeChanged || len(r.Uploads) != 2 {
			t.Fatalf("%v\n%s", err, describe(r))
		}
		for l, certs := range f.serving(t) {
			if !strings.HasPrefix(certs[0], "arn:aws:acm:"+f.region[l]+":") && l.ELB == "" {
				t.Errorf("%s serves %v", l, certs)
			}
		}
	})
}

func TestRotateProbe(t *testing.T) {
	f := newFleet(t, awstest.Options{})
	serve := func(kp *keystore.KeyPair) tls.Certificate {
		return tls.Certificate{Certificate: [][]byte{kp.Leaf.Raw}, PrivateKey: kp.Key, Leaf: kp.Leaf}
	}
	var current atomic.Pointer[tls.Certificate]
	var hellos atomic.Int64
	old := serve(f.b)
	current.Store(&old)
	addr := testkit.ServeTLS(t, &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		hellos.Add(1)
		return current.Load(), nil
	}})
	sum := sha256.Sum256(f.c.Leaf.Raw)
	want := hex.EncodeToString(sum[:])

	t.Run("never switches", func(t *testing.T) {
		// It keeps trying until the window has passed: a second attempt
		// follows whenever the first handshake ends within the window. The
		// window is long beside one handshake on 127.0.0.1 even on a loaded
		// machine (100 ms was not), and what is checked does not depend on it:
		// it waited the whole window, tried more than once, every attempt
		// reached the server, and it says why it did not match.
		const window = time.Second
		before, start := hellos.Load(), time.Now()
		res := f.svcs[0].Probe(ctx(t), addr, want, window)
		elapsed, seen := time.Since(start), hellos.Load()-before
		if res.Matched || res.Attempts < 2 || seen < int64(res.Attempts) || elapsed < window || !strings.Contains(res.Error, "another certificate") {
			t.Errorf("%+v after %s, %d handshakes seen", res, elapsed, seen)
		}
	})
	t.Run("rotation switches the served certificate", func(t *testing.T) {
		o := f.options()
		o.Probes = []string{addr}
		o.ProbeWait = 5 * time.Second
		var once sync.Once
		o.Progress = func(e awsiam.Event) {
			if e.State == awsiam.StateConfirmed {
				once.Do(func() {
					// The load balancer starts serving the new certificate a bit later.
					time.AfterFunc(50*time.Millisecond, func() { c := serve(f.c); current.Store(&c) })
				})
			}
		}
		r, err := f.rotate(ctx(t), f.c, o)
		if err != nil || r.Outcome != awsiam.OutcomeChanged || len(r.Probes) != 1 || !r.Probes[0].Matched {
			t.Fatalf("%v %+v\n%s", err, r.Probes, describe(r))
		}
	})
	t.Run("refused connection", func(t *testing.T) {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := l.Addr().String()
		l.Close()
		res := f.svcs[0].Probe(ctx(t), addr, want, 50*time.Millisecond)
		if res.Matched || res.Error == "" {
			t.Errorf("%+v", res)
		}
	})
}

func TestRotateRefusesBadInput(t *testing.T) {
	f := newFleet(t, awstest.Options{})
	expired := f.ca.pair(t, fleetCN, nil, time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour))
	if _, err := awsiam.PlanRotation(ctx(t), f.svcs, expired, f.options()); !errors.Is(err, awsiam.ErrExpired) {
		t.Errorf("expired: %v", err)
	}
	if _, err := awsiam.PlanRotation(ctx(t), f.svcs, f.c, awsiam.RotateOptions{}); err == nil {
		t.Error("no listeners accepted")
	}
	o := f.options()
	o.Listeners = []awsiam.Listener{{ARN: "arn:aws:elasticloadbalancing:sa-east-1:123456789012:listener/app/x/1/2"}}
	if _, err := awsiam.PlanRotation(ctx(t), f.svcs, f.c, o); err == nil || !strings.Contains(err.Error(), "sa-east-1") {
		t.Errorf("listener of another region: %v", err)
	}
	if f.srv.Calls("*") != 0 {
		t.Errorf("calls made: %v", f.srv.CallLog())
	}
}

func TestRotateReplacesSNICertificates(t *testing.T) {
	f := newFleet(t, awstest.Options{})
	ctx := ctx(t)
	// An ALB listener whose default is another certificate and whose SNI list
	// holds b: b is replaced in the list, the default stays.
	other := f.seedIAM(t, f.ca.valid(t, "other.example.com"))
	alb := f.srv.AddALB(fleetRegions[0], "sni-alb")
	ln, err := f.srv.AddListener(fleetRegions[0], alb, awstest.Listener{Protocol: "HTTPS", Port: 443, CertificateARN: other, SNI: []string{f.bARN}})
	if err != nil {
		t.Fatal(err)
	}
	o := f.options()
	o.Listeners = nil
	o.Replaces = []string{f.bARN}
	check := func() {
		t.Helper()
		def, sni, _ := f.srv.ListenerCertificates(fleetRegions[0], ln)
		if def != other || len(sni) != 1 || sni[0] != f.newARN() {
			t.Errorf("SNI listener: default %s, SNI %v", def, sni)
		}
	}

	t.Run("remove fails once: both kept, the next run removes", func(t *testing.T) {
		remove := f.srv.Inject(awstest.Fault{Op: "elbv2:RemoveListenerCertificates", Code: "AccessDenied", Times: 1})
		r, err := f.rotate(ctx, f.c, o)
		remove()
		if err != nil || r.Outcome != awsiam.OutcomePartial {
			t.Fatalf("%v\n%s", err, describe(r))
		}
		if _, sni, _ := f.srv.ListenerCertificates(fleetRegions[0], ln); len(sni) != 2 {
			t.Errorf("SNI after a failed remove: %v", sni)
		}
		f.srv.ResetCalls()
		r, err = f.rotate(ctx, f.c, o)
		if err != nil || r.Outcome != awsiam.OutcomeChanged {
			t.Fatalf("%v\n%s", err, describe(r))
		}
		if f.srv.Calls("elbv2:AddListenerCertificates") != 0 || f.srv.Calls("elbv2:RemoveListenerCertificates") != 1 {
			t.Errorf("second run: %v", f.srv.CallLog())
		}
		check()
		f.assertConverged(t)
	})
	t.Run("again: nothing to do", func(t *testing.T) {
		f.srv.ResetCalls()
		r, err := f.rotate(ctx, f.c, o)
		if err != nil || r.Outcome != awsiam.OutcomeUnchanged || f.srv.MutatingCalls() != 0 {
			t.Fatalf("%v %v\n%s", err, f.srv.CallLog(), describe(r))
		}
		sni := 0
		for _, p := range r.Listeners {
			if p.Listener.SNI {
				sni++
			}
		}
		if len(r.Listeners) != 7 || sni != 1 {
			t.Errorf("%s", describe(r))
		}
		check()
	})
}
