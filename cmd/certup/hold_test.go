package main_test

import (
	"crypto/elliptic"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/keybridge/keybridge/awsiam/awstest"
	"github.com/keybridge/keybridge/internal/testkit"
	"github.com/keybridge/keybridge/keystore"
)

// rolledBackMark is the value of the certup:rolledback tag of the certificate
// that holds kp ("" when it has none, or a cleared one).
func rolledBackMark(t *testing.T, srv *awstest.Server, kp *keystore.KeyPair, acm bool) string {
	t.Helper()
	arn := certARN(t, srv, kp, acm)
	var tags map[string]string
	if acm {
		for _, c := range srv.ACMCertificates(region) {
			if c.ARN == arn {
				tags = c.Tags
			}
		}
	} else {
		for _, c := range srv.ServerCertificates() {
			if c.ARN == arn {
				tags = c.Tags
			}
		}
	}
	for k, v := range tags {
		if strings.HasPrefix(k, "certup:rolledback:") {
			return v
		}
	}
	return ""
}

// rolledBack is a classic ELB "web" deployed with A, rotated to B and rolled
// back to A (storeArgs given to deploy and rotate); B's and a newer C's
// keystores, and the ARNs of A and B.
func rolledBack(t *testing.T, acm bool, storeArgs []string) (srv *awstest.Server, b string, bKP *keystore.KeyPair,
	c string, cKP *keystore.KeyPair, aARN, bARN string) {
	t.Helper()
	srv = newServer(t, awstest.Options{})
	is := newIssuer(t)
	a, aKP := is.keystore(t, "app.example.com", testkit.ECKey(t, elliptic.P256()), 100)
	b, bKP = is.keystore(t, "app.example.com", testkit.ECKey(t, elliptic.P256()), 200)
	c, cKP = is.keystore(t, "app.example.com", testkit.ECKey(t, elliptic.P256()), 300)
	if err := srv.AddClassicELB(region, "web", awstest.ClassicListener{Protocol: "HTTPS", Port: 443, InstancePort: 9443}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, run(t, srv, "deploy", pemArgs(a), storeArgs, "--elb", "web"), 0)
	wantCode(t, run(t, srv, "rotate", pemArgs(b), storeArgs, "--elb", "web"), 10)
	wantCode(t, run(t, srv, "rollback", "--elb", "web"), 10)
	return srv, b, bKP, c, cKP, certARN(t, srv, aKP, acm), certARN(t, srv, bKP, acm)
}

// TestRollbackHolds: after certup rollback, the next unattended rotate of the
// same keystore leaves the listener where the rollback put it (no changing
// call, exit 0 with --detailed-exitcode, one line saying why and a hint);
// --force rotates and clears the mark; a new keystore certificate rotates
// without it.
func TestRollbackHolds(t *testing.T) {
	for _, store := range []string{"iam", "acm"} {
		t.Run(store, func(t *testing.T) {
			acm := store == "acm"
			var storeArgs []string
			if acm {
				storeArgs = []string{"--acm"}
			}
			srv, b, bKP, c, cKP, aARN, bARN := rolledBack(t, acm, storeArgs)
			if got := elbServes(srv, "web"); got != aARN {
				t.Fatalf("rollback left the listener on %s, want A %s", got, aARN)
			}
			if rolledBackMark(t, srv, bKP, acm) == "" {
				t.Errorf("the rollback did not mark B rolled back from")
			}

			// The timer's next run: same keystore, nothing changes.
			for range 2 {
				srv.ResetCalls()
				r := run(t, srv, "rotate", pemArgs(b), storeArgs, "--elb", "web")
				wantCode(t, r, 0)
				if n := srv.MutatingCalls(); n != 0 {
					t.Errorf("rotate after the rollback made %d changing calls %v:\n%s", n, srv.CallLog(), r)
				}
				if got := elbServes(srv, "web"); got != aARN {
					t.Fatalf("rotate after the rollback moved the listener to %s:\n%s", got, r)
				}
				var held, hint int
				for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
					switch {
					case strings.HasPrefix(l, "certup: 1 listener held: a rollback moved the lineage off the new certificate at "):
						held++
					case strings.HasPrefix(l, "certup: hint: ") && strings.Contains(l, "--force"):
						hint++
					}
				}
				if held != 1 || hint != 1 || !strings.Contains(r.stdout, "nothing to do") {
					t.Errorf("want one line saying why and one hint naming --force:\n%s", r)
				}
			}
			// --quiet (cron) prints nothing when nothing changed.
			if r := run(t, srv, "rotate", pemArgs(b), storeArgs, "--elb", "web", "--quiet"); r.code != 0 || r.stdout+r.stderr != "" {
				t.Errorf("--quiet: want exit 0 and no output:\n%s", r)
			}

			// --force rotates, and the mark is gone.
			r := run(t, srv, "rotate", pemArgs(b), storeArgs, "--elb", "web", "--force")
			wantCode(t, r, 10)
			if got := elbServes(srv, "web"); got != bARN {
				t.Fatalf("--force left the listener on %s, want B %s:\n%s", got, bARN, r)
			}
			if m := rolledBackMark(t, srv, bKP, acm); m != "" {
				t.Errorf("--force left the mark %q on B", m)
			}
			srv.ResetCalls()
			wantCode(t, run(t, srv, "rotate", pemArgs(b), storeArgs, "--elb", "web"), 0)
			if n := srv.MutatingCalls(); n != 0 {
				t.Errorf("rotate after the forced one made %d changing calls %v", n, srv.CallLog())
			}

			// Rolled back again, a newer keystore certificate rotates.
			wantCode(t, run(t, srv, "rollback", "--elb", "web"), 10)
			if got := elbServes(srv, "web"); got != aARN {
				t.Fatalf("second rollback left the listener on %s", got)
			}
			r = run(t, srv, "rotate", pemArgs(c), storeArgs, "--elb", "web")
			wantCode(t, r, 10)
			if got, want := elbServes(srv, "web"), certARN(t, srv, cKP, acm); got != want {
				t.Errorf("a new certificate did not rotate: serves %s, want C %s:\n%s", got, want, r)
			}
			if strings.Contains(r.stderr, "held") {
				t.Errorf("a new certificate is not held:\n%s", r)
			}
		})
	}
}

// TestPruneKeepsHeld: prune --lineage after a rollback keeps the certificate
// the rollback moved off (deleted, the next rotation of the same keystore
// would upload it again without the mark and move the listener back), and
// lets it go once a newer certificate of the lineage serves.
func TestPruneKeepsHeld(t *testing.T) {
	for _, store := range []string{"iam", "acm"} {
		t.Run(store, func(t *testing.T) {
			acm := store == "acm"
			storeArgs := []string{"--lineage", "web"}
			if acm {
				storeArgs = append(storeArgs, "--acm")
			}
			srv, b, _, c, cKP, aARN, bARN := rolledBack(t, acm, storeArgs)
			pruneArgs := []string{"--lineage", "web", "--keep", "0"}
			if acm {
				pruneArgs = append(pruneArgs, "--acm")
			}
			// By lineage and by name group (app.example.com-…).
			for _, args := range [][]string{pruneArgs, pruneArgs[2:]} {
				r := run(t, srv, "prune", args)
				wantCode(t, r, 0)
				if !regexp.MustCompile(`(?m)\sheld\s*$`).MatchString(r.stdout) {
					t.Errorf("prune %v does not say it keeps B because a rollback holds it:\n%s", args, r)
				}
				if !slices.Contains(certARNs(srv, acm), bARN) {
					t.Fatalf("prune %v deleted B, which the rollback holds the lineage off:\n%s", args, r)
				}
			}
			srv.ResetCalls()
			r := run(t, srv, "rotate", pemArgs(b), storeArgs, "--elb", "web")
			wantCode(t, r, 0)
			if got := elbServes(srv, "web"); got != aARN || srv.MutatingCalls() != 0 {
				t.Fatalf("rotate after prune moved the listener to %s (%d changing calls):\n%s", got, srv.MutatingCalls(), r)
			}

			// A newer certificate serves: B is no longer held, and goes.
			wantCode(t, run(t, srv, "rotate", pemArgs(c), storeArgs, "--elb", "web"), 10)
			if got, want := elbServes(srv, "web"), certARN(t, srv, cKP, acm); got != want {
				t.Fatalf("C did not rotate in: serves %s, want %s", got, want)
			}
			r = run(t, srv, "prune", pruneArgs)
			wantCode(t, r, 10)
			if slices.Contains(certARNs(srv, acm), bARN) {
				t.Errorf("prune kept B once C served:\n%s", r)
			}
		})
	}
}
