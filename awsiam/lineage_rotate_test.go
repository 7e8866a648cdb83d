package awsiam_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keybridge/keybridge/awsiam"
	"github.com/keybridge/keybridge/awsiam/awstest"
	"github.com/keybridge/keybridge/keystore"
)

// TestRotateRefusesTagBudgetBeforeAnyChange: the user's tags and the lineage
// record together beyond IAM's 50 tags per certificate are refused at plan
// time, with no changing call.
func TestRotateRefusesTagBudgetBeforeAnyChange(t *testing.T) {
	f := newFleet(t, awstest.Options{})
	o := f.options()
	for i := range 48 {
		o.Upload.Tags = append(o.Upload.Tags, awsiam.Tag{Key: fmt.Sprint("team", i), Value: "x"})
	}
	f.srv.ResetCalls()
	_, err := f.rotate(ctx(t), f.c, o)
	if !errors.Is(err, awsiam.ErrTooManyTags) || f.srv.MutatingCalls() != 0 {
		t.Errorf("%v, %d changing calls", err, f.srv.MutatingCalls())
	}
	// The record of one predecessor is three tags (membership, predecessor,
	// origin): 47 of the user's fit.
	o.Upload.Tags = o.Upload.Tags[:47]
	if r, err := f.rotate(ctx(t), f.c, o); err != nil || r.Outcome != awsiam.OutcomeChanged {
		t.Errorf("47 tags and the record: %v\n%s", err, describe(r))
	}
}

// TestPruneLineageNeverTouchesCloudFrontOrOthers: a lineage's prune leaves
// certificates under /cloudfront/, untagged ones and another lineage's, even
// unused and with the same CN.
func TestPruneLineageNeverTouchesCloudFrontOrOthers(t *testing.T) {
	f := newFleet(t, awstest.Options{})
	ctx := ctx(t)
	upload := func(name, path string, tags map[string]string) string {
		kp := f.ca.valid(t, fleetCN)
		key, _ := kp.KeyPEM(keystore.KeyFormatDefault)
		arn, err := f.srv.UploadServerCertificate(name, path, string(kp.CertPEM()), string(key), "")
		if err != nil {
			t.Fatal(err)
		}
		if tags != nil {
			if err := f.srv.AddTags(arn, tags); err != nil {
				t.Fatal(err)
			}
		}
		return arn
	}
	cf := upload("cf", "/cloudfront/", map[string]string{"certup:lineage:" + fleetLineage: "1", "certup:origin": fleetLineage})
	untagged := upload(awsiam.DefaultName(f.ca.valid(t, fleetCN).Leaf, ""), "/", nil)
	other := upload("other", "/", map[string]string{"certup:lineage:other": "1"})
	shared := upload("shared", "/", map[string]string{"certup:lineage:" + fleetLineage: "1", "certup:lineage:other": "1", "certup:origin": fleetLineage})
	adopted := upload("adopted", "/", map[string]string{"certup:lineage:" + fleetLineage: "1"})
	res, err := awsiam.Prune(ctx, f.svcs, awsiam.PruneOptions{Lineage: fleetLineage, Keep: -1})
	if err != nil {
		t.Fatal(err)
	}
	have := f.iamARNs()
	for name, arn := range map[string]string{"cloudfront": cf, "untagged": untagged, "other lineage": other, "shared": shared, "adopted (not uploaded for the lineage)": adopted, "served": f.bARN} {
		if !have[arn] {
			t.Errorf("%s certificate deleted", name)
		}
	}
	if have[f.aARN] || res.Deleted != 1 {
		t.Errorf("a (the lineage's, unused, no rollback needs it with keep 0) kept; %+v", res)
	}
}

// TestRollbackFaultMatrix makes each operation of a rollback fail once, and
// fail persistently, after a rotation from b to c: every listener serves b or
// c all along; run again, the rollback finishes on b; the run after that
// changes nothing.
func TestRollbackFaultMatrix(t *testing.T) {
	ops := []string{
		"iam:ListServerCertificateTags",
		"iam:TagServerCertificate",
		"iam:ListServerCertificates",
		"elb:DescribeLoadBalancers",
		"elb:SetLoadBalancerListenerSSLCertificate",
		"elbv2:DescribeListeners",
		"elbv2:ModifyListener",
	}
	eachFault(t, ops, func(t *testing.T, f *fleet, fault awstest.Fault) {
		ctx := ctx(t)
		if r, err := f.rotate(ctx, f.c, f.options()); err != nil || r.Outcome != awsiam.OutcomeChanged {
			t.Fatalf("rotate: %v\n%s", err, describe(r))
		}
		rollback := func() (*awsiam.Rotation, error) {
			plan, err := awsiam.PlanRollback(ctx, f.svcs, awsiam.RollbackOptions{Listeners: f.listeners, Wait: time.Second})
			if err != nil {
				return nil, err
			}
			return plan, plan.Apply(ctx)
		}
		remove := f.srv.Inject(fault)
		_, _ = rollback()
		remove()
		f.assertSafe(t, f.bARN, f.newARN())
		r, err := rollback()
		if err != nil || (r.Outcome != awsiam.OutcomeChanged && r.Outcome != awsiam.OutcomeUnchanged) {
			t.Fatalf("run again: %v\n%s", err, describe(r))
		}
		f.assertAll(t, f.bARN)
		f.srv.ResetCalls()
		r, err = rollback()
		if err != nil || r.Outcome != awsiam.OutcomeUnchanged || f.srv.MutatingCalls() != 0 {
			t.Errorf("third run: %v, %v\n%s", err, f.srv.CallLog(), describe(r))
		}
	})
}
