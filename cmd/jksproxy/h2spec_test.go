package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// h2specPath finds h2spec (github.com/summerwind/h2spec): $H2SPEC, PATH,
// or where .ci/run installs it.
func h2specPath() string {
	if p := os.Getenv("H2SPEC"); p != "" {
		return p
	}
	if p, err := exec.LookPath("h2spec"); err == nil {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "keybridge", "bin", "h2spec")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

var h2specSummary = regexp.MustCompile(`(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed`)

// TestH2Spec runs every h2spec test against the built jksproxy, on each
// HTTP/2 server it has: the own path passes them all; net/http's is known
// to fail four (4.2 #3, 6.5.3 #1, 8.1.2.2 #1 and #2), which is logged.
func TestH2Spec(t *testing.T) {
	bin := h2specPath()
	if bin == "" {
		t.Skip("h2spec not installed (.ci/run installs it)")
	}
	d := startDemo(t, "h2spec")
	for _, srv := range []string{"own", "net/http"} {
		p := startProxy(t, []string{"https", "http"}, append(keystoreArgs("wso2carbon.jks"),
			"--listen-http", "127.0.0.1:0", "--http2-server", srv, "--backend", d.url(), "--access-log=false")...)
		_, port, _ := net.SplitHostPort(p.addr("https"))
		out, err := exec.Command(bin, "-h", "127.0.0.1", "-p", port, "-t", "-k", "-o", "2").CombinedOutput()
		m := h2specSummary.FindSubmatch(out)
		if m == nil {
			t.Fatalf("%s: h2spec: %v\n%s", srv, err, tail(string(out), 40))
		}
		total, _ := strconv.Atoi(string(m[1]))
		failed, _ := strconv.Atoi(string(m[4]))
		t.Logf("%s: %s", srv, m[0])
		switch {
		case total < 140:
			t.Errorf("%s: only %d h2spec tests ran", srv, total)
		case srv == "own" && failed > 0:
			t.Errorf("own HTTP/2 path: %s\n%s", m[0], tail(string(out), 60))
		}
	}
}
