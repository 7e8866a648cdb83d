package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAsTheSystemdUnitRunsIt runs jksproxy as contrib/systemd/jksproxy.service
// does: an unprivileged user (nobody) whose one capability is
// CAP_NET_BIND_SERVICE (ambient and bounding set, no new privileges), on a file
// system read-only but for a private /tmp (ProtectSystem=strict, PrivateTmp).
// It listens on a port below 1024, spools a large request body to the private
// /tmp, and reloads the keystore on SIGHUP and when its content changes. Without
// the capability the same command cannot listen there.
func TestAsTheSystemdUnitRunsIt(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to change user and mount namespace")
	}
	for _, tool := range []string{"unshare", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: needs %s (util-linux)", tool)
		}
	}
	if err := exec.Command("unshare", "-m", "true").Run(); err != nil {
		t.Skipf("skipping: no mount namespace here: %v", err)
	}
	// Files nobody can read: a directory of its own, mode 0755.
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin, ks := filepath.Join(dir, "jksproxy"), filepath.Join(dir, "server.jks")
	copyFile(t, binPath, bin)
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	publish(t, testdata("wso2carbon.jks"), ks)
	pass, err := os.ReadFile(testdata("wso2carbon.storepass"))
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "KEYSTORE_PASSWORD=" + strings.TrimSpace(string(pass))}
	// In a mount namespace of its own (per-mount remounts: the host's stay
	// writable): the test's directory at /srv, read-only as all of /, a private
	// writable /tmp (PrivateTmp=yes), proven by a failing and a working write;
	// then the user switch.
	sandbox := func(caps bool) []string {
		w := []string{"unshare", "--mount", "--propagation", "private", "sh", "-c",
			`mount --bind "$0" /srv && mount -o remount,bind,ro /srv && mount -o remount,bind,ro / &&
			mount -t tmpfs -o mode=1777 tmpfs /tmp && ! touch /srv/written 2>/dev/null && touch /tmp/private &&
			exec "$@"`, dir,
			"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--no-new-privs"}
		if caps {
			w = append(w, "--inh-caps=-all,+net_bind_service", "--ambient-caps=-all,+net_bind_service", "--bounding-set=-all,+net_bind_service")
		} else {
			w = append(w, "--inh-caps=-all", "--bounding-set=-all")
		}
		return append(w, "--")
	}
	b := bodyBackend(t)
	port := lowPort(t)
	// Request bodies over 4 KiB go to a temporary file, in the private /tmp.
	args := []string{"--keystore", "/srv/server.jks", "--listen-https", fmt.Sprintf("127.0.0.1:%d", port), "--listen-http", "",
		"--backend", b, "--reload-interval", "100ms", "--request-buffer-memory", "4096"}
	inside := "/srv/jksproxy"

	// Without the capability: refused.
	cmd := exec.Command(sandbox(false)[0], append(append(sandbox(false)[1:], inside), args...)...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "permission denied") {
		t.Fatalf("without CAP_NET_BIND_SERVICE: %v\n%s", err, out)
	}

	p := startProxyAs(t, []string{"https"}, sandbox(true), inside, env, args...)
	if got := p.addr("https"); got != fmt.Sprintf("127.0.0.1:%d", port) {
		t.Fatalf("listening on %s", got)
	}
	// What the kernel says of the running proxy: nobody, CAP_NET_BIND_SERVICE (bit
	// 10) and nothing else, no new privileges.
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\nUid:\t65534\t65534\t65534\t65534\n", "\nCapEff:\t0000000000000400\n", "\nCapBnd:\t0000000000000400\n", "\nNoNewPrivs:\t1\n"} {
		if !strings.Contains(string(status), want) {
			t.Errorf("/proc/PID/status lacks %q:\n%s", want, status)
		}
	}
	served := func() string {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", p.addr("https"), insecureTLS())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return fp(conn.ConnectionState().PeerCertificates[0].Raw)
	}
	oldFP, newFP := expectedFor(t, "wso2carbon.jks").LeafSHA256, expectedFor(t, "ecdsa-demo.jks").LeafSHA256
	if got := served(); got != oldFP {
		t.Fatalf("served %s, want %s", got, oldFP)
	}
	// A request body larger than the memory buffer: spooled to the private /tmp.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: insecureTLS()}}
	code, body, err := do(c, "POST", "https://"+p.addr("https")+"/upload", bytes.NewReader(make([]byte, 256<<10)))
	if err != nil || code != 200 || body != "got 262144 bytes" {
		t.Errorf("POST of 256 KiB: %d %q %v", code, body, err)
	}
	// A change of content (written from outside, where the file system is writable).
	publish(t, testdata("ecdsa-demo.jks"), ks)
	waitFor(t, 5*time.Second, "the new certificate after the keystore changed", func() bool { return served() == newFP })
	// SIGHUP, as ExecReload sends it.
	publish(t, testdata("wso2carbon.jks"), ks)
	p.signal(syscall.SIGHUP)
	waitFor(t, 5*time.Second, "the old certificate again after SIGHUP", func() bool { return served() == oldFP })
	if err := p.stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
}

// bodyBackend serves a backend that answers with the size of the request body
// it got, and returns its URL.
func bodyBackend(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "got %d bytes", n)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// lowPort returns a port below 1024 that is free on 127.0.0.1 now.
func lowPort(t *testing.T) int {
	t.Helper()
	for port := 600 + os.Getpid()%300; port < 1024; port++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Skip("skipping: no free port below 1024")
	return 0
}

// publish replaces to with the content of from, atomically, readable by all
// (as a keystore the service's user reads).
func publish(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	tmp := to + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}
