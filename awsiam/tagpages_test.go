package awsiam_test

import (
	"testing"
	"time"

	"github.com/keybridge/keybridge/awsiam"
	"github.com/keybridge/keybridge/awsiam/awstest"
)

// TestLineageReadsEveryTagPage: IAM may return a certificate's tags over
// several ListServerCertificateTags pages even below MaxItems; with one tag
// a page, the lineage records are still read whole: rotate writes b → c,
// rollback finds b in c's record and puts every listener back on it, and run
// again finds nothing to do.
func TestLineageReadsEveryTagPage(t *testing.T) {
	f := newFleet(t, awstest.Options{IAMTagPageSize: 1})
	ctx := ctx(t)
	if r, err := f.rotate(ctx, f.c, f.options()); err != nil || r.Outcome != awsiam.OutcomeChanged || r.Lineage != fleetLineage {
		t.Fatalf("rotate: %v (lineage %q)\n%s", err, r.Lineage, describe(r))
	}
	f.assertConverged(t)
	for range 2 {
		plan, err := awsiam.PlanRollback(ctx, f.svcs, awsiam.RollbackOptions{Listeners: f.listeners, Wait: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := plan.Apply(ctx); err != nil {
			t.Fatal(err)
		}
		f.assertAll(t, f.bARN)
	}
	if f.srv.Calls("iam:ListServerCertificateTags") == 0 {
		t.Error("no tag read")
	}
}
