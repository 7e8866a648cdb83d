// Package systemd_test checks the systemd units in contrib/systemd.
package systemd_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// units are every unit file here.
func units(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, pattern := range []string{"*.service", "*.timer", "*.path"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	if len(out) < 6 {
		t.Fatalf("only %v here", out)
	}
	return out
}

// TestUnitsVerify runs systemd-analyze verify on every unit, where it is
// installed (Debian: package systemd). verify also wants the programs the units
// run: the copies under test run stand-ins at /usr/local/bin's place.
func TestUnitsVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("skipping: systemd-analyze is not installed (Debian: apt-get install systemd)")
	}
	dir := t.TempDir()
	stand := filepath.Join(dir, "bin")
	if err := os.Mkdir(stand, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"jksproxy", "certup"} {
		if err := os.WriteFile(filepath.Join(stand, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var paths []string
	for _, u := range units(t) {
		data, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(data), "/usr/local/bin/", stand+"/")
		p := filepath.Join(dir, u)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	// verify exits 0 on unknown keys too, but says so: any output is a finding.
	out, err := exec.Command(analyze, append([]string{"verify", "--man=no"}, paths...)...).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestJksproxyUnit pins what the README promises of jksproxy.service.
func TestJksproxyUnit(t *testing.T) {
	data, err := os.ReadFile("jksproxy.service")
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(data), "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, want := range []string{
		"ExecReload=/bin/kill -HUP $MAINPID",
		"AmbientCapabilities=CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
		"User=jksproxy",
		"NoNewPrivileges=yes",
		"ProtectSystem=strict",
		"PrivateTmp=yes",
	} {
		if !lines[want] {
			t.Errorf("jksproxy.service lacks %q", want)
		}
	}
	env, err := os.ReadFile("jksproxy.env")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(env), "--listen-https :443 --listen-http :80") {
		t.Errorf("jksproxy.env does not show the 80/443 layout:\n%s", env)
	}
}
