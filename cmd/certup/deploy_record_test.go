package main_test

import (
	"crypto/elliptic"
	"testing"

	"github.com/keybridge/keybridge/awsiam/awstest"
	"github.com/keybridge/keybridge/internal/testkit"
)

// TestRollbackAfterDeploy: a deploy that switches a listener records what it
// replaced, as rotate does, so rollback puts the listener back on exactly
// that certificate — here one of another CN, which no name group leads back
// to — and, run again, has nothing to do.
func TestRollbackAfterDeploy(t *testing.T) {
	for _, store := range []string{"iam", "acm"} {
		t.Run(store, func(t *testing.T) {
			srv := newServer(t, awstest.Options{})
			acm := store == "acm"
			storeArgs := []string{}
			if acm {
				storeArgs = []string{"--acm"}
			}
			is := newIssuer(t)
			a, aKP := is.keystore(t, "placeholder.example.com", testkit.ECKey(t, elliptic.P256()), 100)
			b, bKP := is.keystore(t, "app.example.com", testkit.ECKey(t, elliptic.P256()), 200)
			if err := srv.AddClassicELB(region, "web", awstest.ClassicListener{Protocol: "HTTPS", Port: 443, InstancePort: 9443}); err != nil {
				t.Fatal(err)
			}
			wantCode(t, run(t, srv, "deploy", pemArgs(a), storeArgs, "--elb", "web"), 0)
			aARN := certARN(t, srv, aKP, acm)
			wantCode(t, run(t, srv, "deploy", pemArgs(b), storeArgs, "--elb", "web"), 0)
			if got := elbServes(srv, "web"); got != certARN(t, srv, bKP, acm) {
				t.Fatalf("deploy did not switch to B: %s", got)
			}
			srv.ResetCalls()
			wantCode(t, run(t, srv, "deploy", pemArgs(b), storeArgs, "--elb", "web"), 0)
			if srv.MutatingCalls() != 0 {
				t.Errorf("deploy run again changed something: %v", srv.CallLog())
			}
			r := run(t, srv, "rollback", "--elb", "web", "--detailed-exitcode")
			wantCode(t, r, 10)
			if got := elbServes(srv, "web"); got != aARN {
				t.Errorf("rollback after deploy: web serves %s, served A (%s) before:\n%s", got, aARN, r)
			}
			wantCode(t, run(t, srv, "rollback", "--elb", "web", "--detailed-exitcode"), 0)
		})
	}
}
