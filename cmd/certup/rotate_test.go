package main_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keybridge/keybridge/awsiam"
	"github.com/keybridge/keybridge/awsiam/awstest"
	"github.com/keybridge/keybridge/internal/testkit"
	"github.com/keybridge/keybridge/keystore"
)

const region2 = "us-east-1"

// fleet is five HTTPS listeners in two regions, classic and ALB, all serving a
// placeholder certificate.
type fleet struct {
	placeholder string
	args        []string // --region … --elb … --listener …
	listeners   []string
}

func seedFleet(t *testing.T, srv *awstest.Server) fleet {
	t.Helper()
	kp := loadPair(t, "ec256.jks")
	key, _ := kp.KeyPEM(keystore.KeyFormatDefault)
	ph, err := srv.UploadServerCertificate("placeholder", "/", string(kp.CertPEM()), string(key), "")
	if err != nil {
		t.Fatal(err)
	}
	f := fleet{placeholder: ph, args: []string{"--region", region, "--region", region2, "--elb", "web"}}
	for _, reg := range []string{region, region2} {
		if err := srv.AddClassicELB(reg, "web", awstest.ClassicListener{Protocol: "HTTPS", Port: 443, InstancePort: 9443, CertificateARN: ph}); err != nil {
			t.Fatal(err)
		}
	}
	alb := srv.AddALB(region, "alb")
	for _, port := range []int{443, 8443} {
		ln, err := srv.AddListener(region, alb, awstest.Listener{Protocol: "HTTPS", Port: port, CertificateARN: ph})
		if err != nil {
			t.Fatal(err)
		}
		f.listeners = append(f.listeners, ln)
	}
	alb2 := srv.AddALB(region2, "alb")
	ln, err := srv.AddListener(region2, alb2, awstest.Listener{Protocol: "HTTPS", Port: 443, CertificateARN: ph})
	if err != nil {
		t.Fatal(err)
	}
	f.listeners = append(f.listeners, ln)
	for _, l := range f.listeners {
		f.args = append(f.args, "--listener", l)
	}
	return f
}

// serving lists what the five listeners serve.
func (f fleet) serving(srv *awstest.Server) []string {
	var out []string
	for _, reg := range []string{region, region2} {
		st, _ := srv.ClassicListenerOf(reg, "web", 443)
		out = append(out, st.CertificateARN)
	}
	for i, l := range f.listeners {
		reg := region
		if i == 2 {
			reg = region2
		}
		def, _, _ := srv.ListenerCertificates(reg, l)
		out = append(out, def)
	}
	return out
}

func (f fleet) wantAll(t *testing.T, srv *awstest.Server, arnSuffix string) {
	t.Helper()
	for i, c := range f.serving(srv) {
		if !strings.HasSuffix(c, arnSuffix) {
			t.Errorf("listener %d serves %s, want …%s", i, c, arnSuffix)
		}
	}
}

func noSecrets(t *testing.T, r result) {
	t.Helper()
	pass, _ := os.ReadFile(fixture("wso2carbon.storepass"))
	for _, s := range []string{r.stdout, r.stderr} {
		if strings.Contains(s, "PRIVATE KEY") || (len(strings.TrimSpace(string(pass))) > 0 && strings.Contains(s, strings.TrimSpace(string(pass)))) {
			t.Errorf("output shows a secret:\n%s", r)
		}
	}
}

func TestRotateRollbackPruneEndToEnd(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	f := seedFleet(t, srv)
	wso2 := loadPair(t, "rsa2048.jks")
	chain := loadPair(t, "rsa4096.jks")
	wso2Name := awsiam.DefaultName(wso2.Leaf, "site")
	chainName := awsiam.DefaultName(chain.Leaf, "site")
	rotate := func(ks string, extra ...string) []string {
		return args("rotate", keystoreArgs(ks), "--name-prefix", "site", "--wait", "10s", "--detailed-exitcode", f.args, extra)
	}

	t.Run("dry run", func(t *testing.T) {
		r := certup(t, srv, rotate("rsa2048.jks", "--dry-run"))
		wantCode(t, r, 10)
		for _, want := range []string{"plan (dry run)", "IAM: upload the new certificate", "would call iam UploadServerCertificate",
			"would call elb SetLoadBalancerListenerSSLCertificate", "would call elbv2 ModifyListener", "web:443", "switch"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
			}
		}
		if n := strings.Count(r.stdout, "would call"); n != 6 {
			t.Errorf("%d calls planned, want 6", n)
		}
		if srv.MutatingCalls() != 0 {
			t.Errorf("dry run: %v", srv.CallLog())
		}
		noSecrets(t, r)
	})
	t.Run("rotate", func(t *testing.T) {
		r := certup(t, srv, rotate("rsa2048.jks"))
		wantCode(t, r, 10)
		f.wantAll(t, srv, "/"+wso2Name)
		if n := strings.Count(r.stderr, ": confirmed"); n != 5 {
			t.Errorf("%d confirmed progress lines on stderr:\n%s", n, r.stderr)
		}
		if !strings.Contains(r.stdout, "NOW SERVES") || strings.Count(r.stdout, "confirmed") != 5 || !strings.Contains(r.stdout, "rotated: 5 listeners") {
			t.Errorf("stdout:\n%s", r.stdout)
		}
		noSecrets(t, r)
	})
	t.Run("again: nothing to do, no change", func(t *testing.T) {
		r := wantNothingToDo(t, srv, certup, rotate("rsa2048.jks"))
		if !strings.Contains(r.stdout, "nothing to do") || strings.Count(r.stdout, "already serves the new certificate") != 5 {
			t.Errorf("%s", r)
		}
		r = certup(t, srv, rotate("rsa2048.jks", "--json"))
		wantCode(t, r, 0)
		var got struct {
			Outcome   awsiam.Outcome
			Listeners []awsiam.ListenerPlan
		}
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.Outcome != awsiam.OutcomeUnchanged || len(got.Listeners) != 5 {
			t.Errorf("json: %v %+v\n%s", err, got, r.stdout)
		}
	})
	t.Run("renew-within leaves a long-lived certificate alone", func(t *testing.T) {
		r := wantNothingToDo(t, srv, certup, rotate("rsa4096.jks", "--renew-within", "1"))
		if !strings.Contains(r.stdout, "more than 1 day") {
			t.Errorf("%s", r)
		}
	})
	t.Run("rotate by --replaces", func(t *testing.T) {
		r := certup(t, srv, args("rotate", keystoreArgs("rsa4096.jks"), "--name-prefix", "site", "--replaces", wso2Name,
			"--region", region, "--region", region2, "--detailed-exitcode"))
		wantCode(t, r, 10)
		f.wantAll(t, srv, "/"+chainName)
	})
	t.Run("rollback", func(t *testing.T) {
		r := certup(t, srv, args("rollback", "--dry-run", "--detailed-exitcode", f.args))
		wantCode(t, r, 10)
		if !strings.Contains(r.stdout, "back to "+wso2Name) {
			t.Errorf("%s", r)
		}
		f.wantAll(t, srv, "/"+chainName)
		r = certup(t, srv, args("rollback", "--detailed-exitcode", f.args))
		wantCode(t, r, 10)
		f.wantAll(t, srv, "/"+wso2Name)
		// Run again: the rollback is complete, nothing to do.
		r = wantNothingToDo(t, srv, certup, "rollback", f.args)
		if !strings.Contains(r.stdout, "already back") {
			t.Errorf("%s", r)
		}
		// wso2's lineage record says it replaced the placeholder, although the
		// placeholder is no upload of the name group: --further goes back to it.
		r = certup(t, srv, args("rollback", "--further", "--detailed-exitcode", f.args))
		wantCode(t, r, 10)
		f.wantAll(t, srv, "/placeholder")
		// The placeholder has no record: nothing further back.
		r = certup(t, srv, args("rollback", "--further", f.args))
		wantCode(t, r, 1)
		if !strings.Contains(r.stderr, "no previous certificate to go back to") {
			t.Errorf("%s", r)
		}
		// The rollback holds against wso2: back on it by force.
		wantCode(t, certup(t, srv, rotate("rsa2048.jks", "--no-prune", "--force")), 10)
	})
	t.Run("prune", func(t *testing.T) {
		// The listeners serve wso2 again; chain is the one unused upload, and
		// the rollback holds the lineage off it: prune keeps it.
		r := wantNothingToDo(t, srv, certup, "prune", "--keep", "0", "--region", region, "--region", region2)
		if !regexp.MustCompile(`(?m)^` + chainName + `\s.*\sheld\s*$`).MatchString(r.stdout) {
			t.Errorf("keep 0 while chain is held: %s", r)
		}
		// Forced onto chain (which clears its mark), then rotated back to
		// wso2 (a rotation marks nothing): chain is an unused upload like
		// any other, wso2's rollback target.
		wantCode(t, certup(t, srv, rotate("rsa4096.jks", "--no-prune", "--force")), 10)
		wantCode(t, certup(t, srv, rotate("rsa2048.jks", "--no-prune")), 10)
		r = wantNothingToDo(t, srv, certup, "prune", "--region", region, "--region", region2)
		if !strings.Contains(r.stdout, "kept") {
			t.Errorf("keep 1: %s", r)
		}
		r = certup(t, srv, "prune", "--keep", "0", "--dry-run", "--detailed-exitcode", "--region", region)
		wantCode(t, r, 10)
		if srv.MutatingCalls() != 0 || !strings.Contains(r.stdout, "would call iam DeleteServerCertificate ServerCertificateName="+chainName) {
			t.Errorf("dry run: %s", r)
		}
		r = certup(t, srv, "prune", "--keep", "0", "--json", "--region", region, "--region", region2)
		wantCode(t, r, 0)
		var res awsiam.PruneResult
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || res.Deleted != 1 {
			t.Errorf("%v %+v", err, res)
		}
		names := map[string]bool{}
		for _, c := range srv.ServerCertificates() {
			names[c.Name] = true
		}
		if names[chainName] || !names[wso2Name] || !names["placeholder"] {
			t.Errorf("left: %v", names)
		}
		wantCode(t, certup(t, srv, "prune", "--keep", "0", "--detailed-exitcode", "--region", region), 0)
	})
}

func TestRotatePartialFailureThenConverges(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	f := seedFleet(t, srv)
	rotate := args("rotate", keystoreArgs("rsa2048.jks"), "--wait", "2s", "--max-attempts", "2", f.args)
	remove := srv.Inject(awstest.Fault{Op: "elbv2:ModifyListener", Code: "AccessDenied", Message: "not allowed"})
	r := certup(t, srv, rotate)
	wantCode(t, r, 11)
	if !strings.Contains(r.stderr, "certup: error: partial: 3 listeners failed") || !strings.Contains(r.stderr, "run the same command again") ||
		!strings.Contains(r.stdout, "partial failure") {
		t.Errorf("%s", r)
	}
	name := awsiam.DefaultName(loadPair(t, "rsa2048.jks").Leaf, "")
	for i, c := range f.serving(srv) {
		if c != f.placeholder && !strings.HasSuffix(c, "/"+name) {
			t.Errorf("listener %d serves %s", i, c)
		}
	}
	remove()
	r = certup(t, srv, rotate)
	wantCode(t, r, 0)
	f.wantAll(t, srv, "/"+name)
	wantNothingToDo(t, srv, certup, rotate)
}

func TestRotateProbeEndToEnd(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	f := seedFleet(t, srv)
	kp := loadPair(t, "rsa2048.jks")
	cert := kp.TLSCertificate()
	addr := testkit.ServeTLS(t, &tls.Config{Certificates: []tls.Certificate{cert}})
	r := certup(t, srv, args("rotate", keystoreArgs("rsa2048.jks"), f.args, "--probe", addr, "--probe-wait", "5s"))
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "probe "+addr+": serves the new certificate") {
		t.Errorf("%s", r)
	}
	// A probe that never sees it: partial failure.
	r = certup(t, srv, args("rotate", keystoreArgs("rsa4096.jks"), f.args, "--probe", addr, "--probe-wait", "300ms"))
	wantCode(t, r, 11)
	if !strings.Contains(r.stdout, "FAILED") {
		t.Errorf("%s", r)
	}
}

func TestRotateUsageAndErrors(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	f := seedFleet(t, srv)
	for _, a := range [][]string{
		args("rotate", keystoreArgs("rsa2048.jks")),
		args("rotate", keystoreArgs("rsa2048.jks"), "--elb", "web", "--probe", "nohost"),
		args("rotate", keystoreArgs("rsa2048.jks"), "--elb", "web", "--parallel", "0"),
		args("rotate", "--elb", "web"),
		args("rollback"),
		args("rollback", "--listener", "not-an-arn"),
		args("prune", "--keep", "-1"),
		args("prune", "--path-prefix", "nope"),
		args("prune", "--acm", "--path-prefix", "/x/"),
	} {
		r := certup(t, srv, a)
		if r.code != 2 || !strings.Contains(r.stderr, "certup: error:") {
			t.Errorf("%v: %s", a, r)
		}
	}
	if srv.Calls("*") != 0 {
		t.Errorf("usage errors made calls: %v", srv.CallLog())
	}
	r := certup(t, srv, args("rotate", keystoreArgs("expired.jks"), f.args))
	wantCode(t, r, 1)
	if !strings.Contains(r.stderr, "expired") || srv.Calls("*") != 0 {
		t.Errorf("%s", r)
	}
}

func TestRotateInterruptedBySignal(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	f := seedFleet(t, srv)
	srv.SetLatency("elbv2:ModifyListener", 100*time.Millisecond)
	srv.SetLatency("elb:SetLoadBalancerListenerSSLCertificate", 100*time.Millisecond)
	a := args("rotate", "--endpoint-url", srv.URL(), "--max-backoff", "20ms", keystoreArgs("rsa2048.jks"), "--parallel", "1", f.args)
	cmd := exec.Command(bin, a...)
	cmd.Env = testEnv(t)
	var out bytes.Buffer
	cmd.Stdout = &out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	signalled := false
	var errText strings.Builder
	for sc.Scan() {
		errText.WriteString(sc.Text() + "\n")
		if !signalled && strings.HasSuffix(sc.Text(), ": switched") {
			signalled = true
			_ = cmd.Process.Signal(os.Interrupt)
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 11 {
		t.Fatalf("exit: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errText.String())
	}
	name := awsiam.DefaultName(loadPair(t, "rsa2048.jks").Leaf, "")
	moved := 0
	for i, c := range f.serving(srv) {
		switch {
		case strings.HasSuffix(c, "/"+name):
			moved++
		case c != f.placeholder:
			t.Errorf("listener %d serves %s", i, c)
		}
	}
	if moved == 0 || moved == 5 {
		t.Errorf("%d of 5 listeners moved before the interrupt", moved)
	}
	r := certup(t, srv, args("rotate", keystoreArgs("rsa2048.jks"), f.args))
	wantCode(t, r, 0)
	f.wantAll(t, srv, "/"+name)
}

func TestPruneLeavesWhatAWSReportsInUse(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	f := seedFleet(t, srv)
	wantCode(t, certup(t, srv, args("rotate", keystoreArgs("rsa2048.jks"), "--name-prefix", "site", f.args)), 0)
	wantCode(t, certup(t, srv, args("rotate", keystoreArgs("rsa4096.jks"), "--name-prefix", "site", f.args)), 0)
	// The first upload also serves a listener in a region prune is not told about.
	first := "arn:aws:iam::" + srv.AccountID() + ":server-certificate/" + awsiam.DefaultName(loadPair(t, "rsa2048.jks").Leaf, "site")
	if err := srv.AddClassicELB("ap-south-1", "far", awstest.ClassicListener{Protocol: "HTTPS", Port: 443, InstancePort: 80, CertificateARN: first}); err != nil {
		t.Fatal(err)
	}
	r := certup(t, srv, "prune", "--keep", "0", "--region", region, "--region", region2)
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "left") || !strings.Contains(r.stdout, "DeleteConflict") {
		t.Errorf("%s", r)
	}
	if st, _ := srv.ClassicListenerOf("ap-south-1", "far", 443); st.CertificateARN != first {
		t.Errorf("far serves %s", st.CertificateARN)
	}
}

func TestRotateQuietForCron(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	f := seedFleet(t, srv)
	rotate := args("rotate", "--quiet", keystoreArgs("rsa2048.jks"), f.args)
	r := certup(t, srv, rotate)
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "rotated: 5 listeners") || strings.Contains(r.stdout, "REASON") || r.stderr != "" {
		t.Errorf("first run: %s", r)
	}
	// What cron runs every day: no output at all when there is nothing to do.
	r = certup(t, srv, rotate)
	wantCode(t, r, 0)
	if r.stdout != "" || r.stderr != "" {
		t.Errorf("nothing to do, yet output: %s", r)
	}
}
