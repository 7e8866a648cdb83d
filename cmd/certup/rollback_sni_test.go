package main_test

import (
	"crypto/elliptic"
	"slices"
	"strings"
	"testing"

	"github.com/keybridge/keybridge/awsiam/awstest"
	"github.com/keybridge/keybridge/internal/testkit"
)

// TestRollbackSNIEndToEnd is invariant I1 for SNI targets: rotate --replaces A
// moves a classic listener's default certificate and an ALB listener's SNI
// certificate from A to B; rollback --replaces A puts both back on exactly A
// (the ALB listener's default untouched) and, run again, has nothing to do;
// OLD may be given by ARN or IAM name.
func TestRollbackSNIEndToEnd(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	is := newIssuer(t)
	a, aKP := is.keystore(t, "app.example.com", testkit.ECKey(t, elliptic.P256()), 100)
	b, bKP := is.keystore(t, "app.example.com", testkit.ECKey(t, elliptic.P256()), 200)
	o, oKP := is.keystore(t, "other.example.com", testkit.ECKey(t, elliptic.P256()), 100)
	wantCode(t, run(t, srv, "upload", pemArgs(a)), 0)
	wantCode(t, run(t, srv, "upload", pemArgs(o)), 0)
	aARN, other := certARN(t, srv, aKP, false), certARN(t, srv, oKP, false)
	if err := srv.AddClassicELB(region, "web", awstest.ClassicListener{Protocol: "HTTPS", Port: 443, InstancePort: 9443, CertificateARN: aARN}); err != nil {
		t.Fatal(err)
	}
	ln, err := srv.AddListener(region, srv.AddALB(region, "shared-alb"), awstest.Listener{Protocol: "HTTPS", Port: 443, CertificateARN: other, SNI: []string{aARN}})
	if err != nil {
		t.Fatal(err)
	}
	serves := func(cert string) bool {
		def, sni, _ := srv.ListenerCertificates(region, ln)
		return elbServes(srv, "web") == cert && def == other && slices.Equal(sni, []string{cert})
	}

	r := run(t, srv, "rotate", pemArgs(b), "--replaces", aARN, "--detailed-exitcode")
	wantCode(t, r, 10)
	if bARN := certARN(t, srv, bKP, false); !serves(bARN) {
		t.Fatalf("rotate did not move both to B:\n%s", r)
	}
	// By IAM name this time: the same certificate.
	r = run(t, srv, "rollback", "--replaces", aARN[strings.LastIndex(aARN, "/")+1:], "--detailed-exitcode")
	wantCode(t, r, 10)
	if !serves(aARN) {
		def, sni, _ := srv.ListenerCertificates(region, ln)
		t.Errorf("after rollback: web %s, ALB default %s SNI %v; want A (%s) on both, the default %s:\n%s", elbServes(srv, "web"), def, sni, aARN, other, r)
	}
	wantNothingToDo(t, srv, run, "rollback", "--replaces", aARN, "--detailed-exitcode")
}

// TestConcurrentModificationRetried: IAM answers ConcurrentModification (409)
// when another request changes the same certificate at that moment — another
// host's certup writing its record — and says to submit the request again
// (IAM API reference, TagServerCertificate, Errors). rollback's restored mark
// meets it once and still finishes in one run.
func TestConcurrentModificationRetried(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	is := newIssuer(t)
	a, aKP := is.keystore(t, "app.example.com", testkit.ECKey(t, elliptic.P256()), 100)
	b, _ := is.keystore(t, "app.example.com", testkit.ECKey(t, elliptic.P256()), 200)
	if err := srv.AddClassicELB(region, "web", awstest.ClassicListener{Protocol: "HTTPS", Port: 443, InstancePort: 9443}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, run(t, srv, "deploy", pemArgs(a), "--elb", "web"), 0)
	wantCode(t, run(t, srv, "rotate", pemArgs(b), "--elb", "web", "--detailed-exitcode"), 10)
	srv.ResetCalls()
	srv.Inject(awstest.Fault{Op: "iam:TagServerCertificate", Code: "ConcurrentModification", Times: 1,
		Message: "Multiple requests to change this object were submitted simultaneously"})
	r := run(t, srv, "rollback", "--elb", "web", "--detailed-exitcode")
	wantCode(t, r, 10)
	// Two for the restored mark on A (one refused, one retried), one for the
	// rolled-back mark on B.
	if aARN := certARN(t, srv, aKP, false); elbServes(srv, "web") != aARN || srv.Calls("iam:TagServerCertificate") != 3 {
		t.Errorf("web serves %s (want %s), %d TagServerCertificate calls:\n%s", elbServes(srv, "web"), aARN, srv.Calls("iam:TagServerCertificate"), r)
	}
}
