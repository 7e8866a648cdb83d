package main_test

import (
	"strings"
	"testing"

	"github.com/keybridge/keybridge/awsiam/awstest"
)

// TestExitCodes pins every exit code of the built certup, command by command: 0
// when it succeeded whether or not it changed something, 10 and 0 with
// --detailed-exitcode, 11 partial, 1 error, 2 usage.
func TestExitCodes(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	lb := seed(t, srv)
	// One name group, so that rollback finds the upload before.
	ks := args(keystoreArgs("rsa2048.jks"), "--name-prefix", "site")
	ks2 := args(keystoreArgs("rsa4096.jks"), "--name-prefix", "site")
	const detailed = "--detailed-exitcode"
	steps := []struct {
		name string
		args []string
		code int
	}{
		{"upload, dry run, detailed: changes planned", args("upload", ks, "--dry-run", detailed), 10},
		{"upload, dry run: done", args("upload", ks, "--dry-run"), 0},
		{"upload changes something: still 0", args("upload", ks), 0},
		{"upload again, detailed: nothing to do", args("upload", ks, detailed), 0},
		{"upload of another keystore, detailed: changed", args("upload", ks2, detailed), 10},
		{"attach, detailed: changed", args("attach", "--cert", "placeholder", "--elb", lb.elb, detailed), 10},
		{"attach again, detailed: nothing to do", args("attach", "--cert", "placeholder", "--elb", lb.elb, detailed), 0},
		{"deploy changes something: 0", args("deploy", ks, "--elb", lb.elb), 0},
		{"deploy, detailed, stickiness is new: changed", args("deploy", ks, "--elb", lb.elb, "--stickiness-cookie", "JSESSIONID", detailed), 10},
		{"deploy again, detailed: nothing to do", args("deploy", ks, "--elb", lb.elb, "--stickiness-cookie", "JSESSIONID", detailed), 0},
		{"stickiness on every port, detailed: port 80 is new", args("stickiness", "--elb", lb.elb, "--cookie", "JSESSIONID", detailed), 10},
		{"stickiness again, detailed: nothing to do", args("stickiness", "--elb", lb.elb, "--cookie", "JSESSIONID", detailed), 0},
		{"stickiness removed: 0", args("stickiness", "--elb", lb.elb, "--cookie", "-"), 0},
		{"rotate, detailed: changed", args("rotate", ks2, "--elb", lb.elb, "--listener", lb.listener, detailed), 10},
		{"rotate again, detailed: nothing to do", args("rotate", ks2, "--elb", lb.elb, "--listener", lb.listener, detailed), 0},
		{"rollback, dry run, detailed: changes planned", args("rollback", "--elb", lb.elb, "--listener", lb.listener, "--dry-run", detailed), 10},
		{"rollback changes something: 0", args("rollback", "--elb", lb.elb, "--listener", lb.listener), 0},
		{"prune keeps what the rollback holds, detailed: nothing to do", args("prune", "--keep", "0", detailed), 0},
		{"rotate --force back, detailed: changed", args("rotate", ks2, "--elb", lb.elb, "--listener", lb.listener, "--no-prune", "--force", detailed), 10},
		{"prune --keep 0, dry run, detailed", args("prune", "--keep", "0", "--dry-run", detailed), 10},
		{"prune --keep 0: 0", args("prune", "--keep", "0"), 0},
		{"prune again, detailed: nothing to do", args("prune", "--keep", "0", detailed), 0},
		{"list: 0", args("list"), 0},
		{"check passes: 0", args("check", "--elb", lb.elb, "--days", "1"), 0},
		{"check fails: 1", args("check", "--elb", lb.elb, "--days", "100000"), 1},
		{"error: unknown certificate", args("attach", "--cert", "no-such", "--elb", lb.elb, detailed), 1},
		{"error: wrong store password", args("upload", fixture("rsa2048.jks"), "--storepass-file", fixture("wso2carbon.storepass"), detailed), 1},
		{"usage: unknown flag", args("rotate", ks, "--elb", lb.elb, "--no-such-flag"), 2},
		{"usage: no listener", args("deploy", ks, detailed), 2},
		{"usage: unknown command", args("rotates"), 2},
	}
	for _, s := range steps {
		r := certup(t, srv, s.args)
		if r.code != s.code {
			t.Fatalf("%s: want exit %d, got %s", s.name, s.code, r)
		}
	}
}

// TestExitCodePartial: a rotation or a deploy that changed something and then
// failed exits 11, with or without --detailed-exitcode, and the same command
// then finishes the job with 0.
func TestExitCodePartial(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	lb := seed(t, srv)
	deploy := args("deploy", keystoreArgs("rsa2048.jks"), "--elb", lb.elb, "--listener", lb.listener, "--max-attempts", "1")
	remove := srv.Inject(awstest.Fault{Op: "elbv2:ModifyListener", Code: "AccessDenied", Message: "not allowed"})
	r := certup(t, srv, deploy)
	wantCode(t, r, 11)
	if !strings.Contains(r.stdout, "uploaded ") || !strings.Contains(r.stdout, "classic ELB web port 443 now serves") ||
		!strings.Contains(r.stderr, "certup: error: ") || !strings.Contains(r.stderr, "run the same command again") {
		t.Errorf("partial deploy: %s", r)
	}
	// The same failure again changes nothing: an error, not a partial failure.
	r = certup(t, srv, args(deploy, "--detailed-exitcode"))
	wantCode(t, r, 1)
	remove()
	r = certup(t, srv, args(deploy, "--detailed-exitcode"))
	wantCode(t, r, 10)
	if !strings.Contains(r.stdout, "already uploaded") {
		t.Errorf("the second deploy did not find the upload: %s", r)
	}

	rotate := args("rotate", keystoreArgs("rsa4096.jks"), "--elb", lb.elb, "--listener", lb.listener, "--max-attempts", "1", "--wait", "2s")
	remove = srv.Inject(awstest.Fault{Op: "elbv2:ModifyListener", Code: "AccessDenied", Message: "not allowed"})
	wantCode(t, certup(t, srv, rotate), 11)
	wantCode(t, certup(t, srv, args(rotate, "--detailed-exitcode")), 1)
	remove()
	wantCode(t, certup(t, srv, rotate), 0)
	wantCode(t, certup(t, srv, args(rotate, "--detailed-exitcode")), 0)
}
