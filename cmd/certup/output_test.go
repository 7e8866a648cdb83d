package main_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/keybridge/keybridge/awsiam/awstest"
	"github.com/keybridge/keybridge/keystore"
)

// TestExpiryWording: an expired certificate is "expired N days ago", never a
// negative count of days.
func TestExpiryWording(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	kp := loadPair(t, "expired.jks")
	key, _ := kp.KeyPEM(keystore.KeyFormatDefault)
	if _, err := srv.UploadServerCertificate("old", "/", string(kp.CertPEM()), string(key), string(kp.ChainPEM())); err != nil {
		t.Fatal(err)
	}
	r := certup(t, srv, "list")
	wantCode(t, r, 0)
	if !regexp.MustCompile(`old +2021-01-01 +expired \d+ days ago +-\n`).MatchString(r.stdout) {
		t.Errorf("list: %s", r)
	}
	r = certup(t, srv, "check", "--cert", "old")
	wantCode(t, r, 1)
	if !regexp.MustCompile(`certup: error: certificate old expired \d+ days ago \(on 2021-01-01`).MatchString(r.stderr) {
		t.Errorf("%s", r)
	}
}

// TestSingular: one listener is "1 listener".
func TestSingular(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	lb := seed(t, srv)
	r := certup(t, srv, args("rotate", keystoreArgs("wso2carbon.jks"), "--elb", lb.elb, "--dry-run"))
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "dry run: 1 listener would change") {
		t.Errorf("%s", r)
	}
	r = certup(t, srv, args("rotate", keystoreArgs("chain.jks"), "--elb", lb.elb))
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "rotated: 1 listener\n") {
		t.Errorf("%s", r)
	}
}

// TestWarningsReadAsCertupLines: a library warning reads as the program's own
// lines do, not as a log record.
func TestWarningsReadAsCertupLines(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	wantCode(t, certup(t, srv, args("upload", keystoreArgs("wso2carbon.jks"), "--path", "/a/")), 0)
	r := certup(t, srv, args("upload", keystoreArgs("wso2carbon.jks"), "--path", "/b/"))
	wantCode(t, r, 0)
	if !strings.HasPrefix(r.stderr, "certup: warning: certificate already uploaded under another path (") || strings.Contains(r.stderr, "level=") {
		t.Errorf("%s", r)
	}
}
