package main

import (
	"regexp"
	"testing"
)

// TestConvertExpiredSaysDaysAgo: the summary line of an expired certificate says
// "expired N days ago", not "(-N days)"; a valid one "N days left".
func TestConvertExpiredSaysDaysAgo(t *testing.T) {
	r := run(t, nil, "--out-dir", t.TempDir(), "--storepass-file", td("expired.storepass"), td("expired.jks"))
	if r.code != 0 || !regexp.MustCompile(`valid until 2021-01-01 \(expired \d+ days ago\), chain of 3\n`).MatchString(r.stdout) {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, nil, "--out-dir", t.TempDir(), "--storepass-file", td("wso2carbon.storepass"), td("wso2carbon.jks"))
	if r.code != 0 || !regexp.MustCompile(`valid until 2046-11-19 \(\d+ days left\), chain of 1\n`).MatchString(r.stdout) {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
