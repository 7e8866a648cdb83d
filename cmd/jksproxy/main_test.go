package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/keybridge/keybridge/internal/demoapp"
	"github.com/keybridge/keybridge/internal/testkit"
	"github.com/keybridge/keybridge/keystore"
	"github.com/keybridge/keybridge/proxy"
)

func TestCLIErrors(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no backend", []string{"--keystore", testdata("wso2carbon.jks"), "--storepass-file", testdata("wso2carbon.storepass")}, 2, "no backend"},
		{"no keystore", []string{"--backend", "http://127.0.0.1:1"}, 2, "--keystore is required"},
		{"unknown flag", []string{"--nope"}, 2, "nope"},
		{"wrong password", []string{"--keystore", testdata("wso2carbon.jks"), "--storepass-file", testdata("chain.storepass"),
			"--backend", "http://127.0.0.1:1", "--listen-https", "127.0.0.1:0", "--listen-http", ""}, 1, "wrong store password"},
		{"bad backend", []string{"--keystore", testdata("wso2carbon.jks"), "--storepass-file", testdata("wso2carbon.storepass"),
			"--backend", "ftp://x", "--listen-https", "127.0.0.1:0"}, 1, "scheme must be http or https"},
		{"no listener", []string{"--listen-https", "", "--listen-http", "", "--backend", "http://127.0.0.1:1"}, 2, "nothing to serve"},
		{"truststore without password", []string{"--listen-https", "", "--backend", "https://127.0.0.1:1",
			"--backend-truststore", testdata("wso2carbon.jks")}, 1, "wrong store password"},
		{"bad cidr", []string{"--trusted-proxy", "10.0.0.0/99", "--backend", "http://127.0.0.1:1", "--listen-https", ""}, 2, "trusted-proxy"},
		{"truststore and insecure", []string{"--listen-https", "", "--backend", "https://127.0.0.1:1", "--backend-insecure",
			"--backend-truststore", testdata("multi.jks")}, 2, "exclude each other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := testkit.RunProgram(t, binPath, append(os.Environ(), "KEYSTORE_PASSWORD="), tt.args...)
			if r.Code != tt.code || !strings.Contains(r.Stderr, tt.stderr) || !strings.HasPrefix(r.Stderr, "jksproxy: error: ") {
				t.Errorf("%s; want exit %d and %q", r, tt.code, tt.stderr)
			}
		})
	}
}

// TestTLS: the keystore's leaf and chain exactly, TLS 1.2+ only, h2, resumption.
func TestTLS(t *testing.T) {
	b := startDemo(t, "one")
	exp := expectedFor(t, "chain.jks")
	p := startProxy(t, []string{"https", "http"}, append(fastArgs("--backend", b.url()), keystoreArgs("chain.jks")...)...)
	addr := p.addr("https")

	t.Run("leaf and chain", func(t *testing.T) {
		conn, err := tls.Dial("tcp", addr, insecureTLS())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var got []string
		for _, c := range conn.ConnectionState().PeerCertificates {
			got = append(got, fp(c.Raw))
		}
		want := append([]string{exp.LeafSHA256}, exp.ChainSHA256...)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("served %v, keystore holds %v", got, want)
		}
	})
	t.Run("old versions refused", func(t *testing.T) {
		for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
			cfg := insecureTLS()
			cfg.MinVersion, cfg.MaxVersion = v, v
			if conn, err := tls.Dial("tcp", addr, cfg); err == nil {
				conn.Close()
				t.Errorf("handshake with version %x succeeded", v)
			}
		}
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			cfg := insecureTLS()
			cfg.MinVersion, cfg.MaxVersion = v, v
			conn, err := tls.Dial("tcp", addr, cfg)
			if err != nil {
				t.Errorf("version %x refused: %v", v, err)
				continue
			}
			conn.Close()
		}
	})
	t.Run("http2", func(t *testing.T) {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: insecureTLS(), ForceAttemptHTTP2: true}, Timeout: 5 * time.Second}
		resp, err := c.Get("https://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || field(string(body), "backend") != "one" {
			t.Errorf("proto %s, body %q", resp.Proto, body)
		}
	})
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(fmt.Sprintf("resumption %x", v), func(t *testing.T) {
			cfg := insecureTLS()
			cfg.MinVersion, cfg.MaxVersion = v, v
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(8)
			cfg.NextProtos = []string{"http/1.1"}
			for i := 0; i < 2; i++ {
				if resumed := resumedHandshake(t, addr, cfg); resumed != (i == 1) {
					t.Errorf("connection %d: DidResume = %v", i, resumed)
				}
			}
		})
	}
}

// TestStickyFailover: stickiness over 100 requests, failover without a
// failed request, recovery, /healthz following the backends.
func TestStickyFailover(t *testing.T) {
	one, two := startDemo(t, "one"), startDemo(t, "two")
	p := startProxy(t, []string{"https", "http"}, append(fastArgs("--backend", one.url(), "--backend", two.url()), keystoreArgs("wso2carbon.jks")...)...)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: insecureTLS()}}
	base := "https://" + p.addr("https")
	mustGet := func(what string) string {
		t.Helper()
		code, body, err := do(c, "GET", base+"/", nil)
		if err != nil || code != 200 {
			t.Fatalf("%s: %d %v %q", what, code, err, body)
		}
		return body
	}
	body := mustGet("first")
	stuck, session := field(body, "backend"), field(body, "session")
	for i := 0; i < 100; i++ {
		body := mustGet(fmt.Sprintf("request %d", i))
		if field(body, "backend") != stuck || field(body, "session") != session {
			t.Fatalf("request %d left the session: %q (stuck to %s)", i, body, stuck)
		}
	}
	if code := healthz(p.addr("http")); code != 200 {
		t.Fatalf("/healthz %d with both backends up", code)
	}

	dead, alive := one, two
	if stuck == "two" {
		dead, alive = two, one
	}
	// Killed: connections are refused. Not one request may fail, even
	// before the health check notices.
	dead.kill()
	body = mustGet("right after the kill")
	if field(body, "backend") != alive.name {
		t.Fatalf("after the kill the session went to %q", body)
	}
	moved := field(body, "session")
	for i := 0; i < 30; i++ {
		body := mustGet(fmt.Sprintf("after failover %d", i))
		if field(body, "backend") != alive.name || field(body, "session") != moved {
			t.Fatalf("after failover the session did not stay: %q", body)
		}
	}
	if code := healthz(p.addr("http")); code != 200 {
		t.Fatalf("/healthz %d with one backend up", code)
	}
	alive.kill()
	waitFor(t, 3*time.Second, "/healthz 503 with no backend", func() bool { return healthz(p.addr("http")) == 503 })
	alive.start(t)
	waitFor(t, 3*time.Second, "/healthz 200 after recovery", func() bool { return healthz(p.addr("http")) == 200 })
	dead.start(t)
	// The recovered backend is taken back: new sessions reach it again.
	fresh := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: insecureTLS()}}
	waitFor(t, 3*time.Second, "recovered backend taking requests", func() bool {
		_, body, err := do(fresh, "GET", base+"/", nil)
		return err == nil && field(body, "backend") == dead.name
	})
}

// TestResetBackend: a backend that accepts and drops connections; idempotent
// requests are retried elsewhere, and once the health check ejects it
// nothing reaches it.
func TestResetBackend(t *testing.T) {
	good := startDemo(t, "good")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.(*net.TCPConn).SetLinger(0)
			bufio.NewReader(c).ReadString('\n')
			c.Close()
		}
	}()
	p := startProxy(t, []string{"http"}, fastArgs("--listen-https", "", "--backend", "http://"+ln.Addr().String(), "--backend", good.url())...)
	c := &http.Client{Timeout: 5 * time.Second}
	for i := 0; i < 50; i++ {
		code, body, err := do(c, "GET", "http://"+p.addr("http")+"/", nil)
		if err != nil || code != 200 || field(body, "backend") != "good" {
			t.Fatalf("GET %d: %d %v %q", i, code, err, body)
		}
	}
}

// TestReload: the keystore file is replaced while a client loop runs.
func TestReload(t *testing.T) {
	b := startDemo(t, "one")
	dir := t.TempDir()
	ks := filepath.Join(dir, "server.jks")
	copyFile(t, testdata("wso2carbon.jks"), ks)
	p := startProxy(t, []string{"https", "admin"},
		"--keystore", ks, "--storepass-file", testdata("wso2carbon.storepass"), "--listen-https", "127.0.0.1:0",
		"--listen-http", "", "--admin", "127.0.0.1:0", "--backend", b.url(), "--reload-interval", "100ms",
		"--health-check-path", "/health", "--health-interval", "100ms")
	oldFP := expectedFor(t, "wso2carbon.jks").LeafSHA256
	newFP := expectedFor(t, "ecdsa-demo.jks").LeafSHA256

	var served atomic.Value
	served.Store("")
	var failures, requests atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: insecureTLS(), DisableKeepAlives: true}}
		for i := 0; i < 5000 && ctx.Err() == nil; i++ {
			resp, err := c.Get("https://" + p.addr("https") + "/")
			requests.Add(1)
			if err != nil {
				failures.Add(1)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				failures.Add(1)
			}
			served.Store(fp(resp.TLS.PeerCertificates[0].Raw))
			time.Sleep(5 * time.Millisecond)
		}
	}()
	defer func() { cancel(); wg.Wait() }()
	waitFor(t, 3*time.Second, "first answers", func() bool { return served.Load() == oldFP })

	replaceFile(t, testdata("ecdsa-demo.jks"), ks)
	replaced := time.Now()
	waitFor(t, 2*time.Second, "the new certificate", func() bool { return served.Load() == newFP })
	t.Logf("new certificate served after %v", time.Since(replaced).Round(time.Millisecond))

	// A corrupt replacement keeps the certificate, and is counted.
	data, _ := os.ReadFile(testdata("wso2carbon.jks"))
	writeAtomic(t, ks, data[:len(data)/2])
	waitFor(t, 3*time.Second, "a counted reload failure", func() bool {
		return strings.Contains(metrics(t, p.addr("admin")), "jksproxy_certificate_reload_failures_total 1\n")
	})
	// SIGHUP reloads too: the file is still corrupt, so it fails again.
	p.signal(syscall.SIGHUP)
	waitFor(t, 3*time.Second, "SIGHUP reload attempt", func() bool {
		return strings.Contains(metrics(t, p.addr("admin")), "jksproxy_certificate_reload_failures_total 2\n")
	})
	n := requests.Load()
	waitFor(t, 3*time.Second, "more requests", func() bool { return requests.Load() > n+5 })
	if served.Load() != newFP {
		t.Errorf("after the corrupt replacement the served certificate changed")
	}
	cancel()
	wg.Wait()
	if failures.Load() != 0 {
		t.Errorf("%d of %d requests failed during reloads", failures.Load(), requests.Load())
	}
	m := metrics(t, p.addr("admin"))
	if !strings.Contains(m, "jksproxy_certificate_reloads_total 1\n") || !strings.Contains(m, "jksproxy_certificate_expiry_seconds ") {
		t.Errorf("metrics:\n%s", m)
	}
}

func metrics(t *testing.T, admin string) string {
	_, body, err := do(&http.Client{Timeout: 2 * time.Second}, "GET", "http://"+admin+"/metrics", nil)
	if err != nil {
		t.Logf("metrics: %v", err)
	}
	return body
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func replaceFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, to, data)
}

func writeAtomic(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestSecurity: spoofed forwarding headers, slowloris, oversized headers,
// request smuggling.
func TestSecurity(t *testing.T) {
	type seen struct {
		method, path, xff, cl string
		te                    []string
		body                  string
	}
	var mu sync.Mutex
	var reqs []seen
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			return
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, seen{r.Method, r.URL.Path, r.Header.Get("X-Forwarded-For"), r.Header.Get("Content-Length"), r.TransferEncoding, string(b)})
		mu.Unlock()
		fmt.Fprintf(w, "xff=%s", r.Header.Get("X-Forwarded-For"))
	}))
	defer echo.Close()
	p := startProxy(t, []string{"http"}, fastArgs("--listen-https", "", "--backend", echo.URL,
		"--read-header-timeout", "500ms", "--max-header-bytes", "8192")...)
	addr := p.addr("http")
	reset := func() []seen {
		mu.Lock()
		defer mu.Unlock()
		r := reqs
		reqs = nil
		return r
	}

	t.Run("spoofed X-Forwarded-For", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Header.Set("X-Forwarded-For", "6.6.6.6")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "xff=127.0.0.1" {
			t.Errorf("backend saw %q", b)
		}
	})

	t.Run("slowloris", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		closed := make(chan time.Duration, 1)
		go func() {
			io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n")
			for i := 0; i < 100; i++ {
				if _, err := fmt.Fprintf(conn, "X-Slow-%d: y\r\n", i); err != nil {
					break
				}
				conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				if _, err := conn.Read(make([]byte, 1)); err != nil && !os.IsTimeout(err) {
					break
				}
			}
			closed <- time.Since(start)
		}()
		// Meanwhile others are served.
		for i := 0; i < 5; i++ {
			code, _, err := do(&http.Client{Timeout: 2 * time.Second}, "GET", "http://"+addr+"/", nil)
			if err != nil || code != 200 {
				t.Fatalf("normal client: %d %v", code, err)
			}
		}
		select {
		case d := <-closed:
			if d > 5*time.Second {
				t.Errorf("slow client cut only after %v", d)
			}
		case <-time.After(8 * time.Second):
			t.Fatal("slow client never cut")
		}
	})

	t.Run("oversized headers", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Header.Set("X-Big", strings.Repeat("a", 32<<10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("status %d, want 431", resp.StatusCode)
		}
	})

	// No desync: whatever the framing tricks, the backend sees exactly the
	// requests the proxy parsed and answered on the client's own connection,
	// each with one framing (never Content-Length beside Transfer-Encoding).
	// Ambiguous framings are refused; CL+TE is handled as RFC 9112 says (TE
	// wins, CL removed, and the connection closes after the answer), so
	// nothing after the chunked body is served.
	t.Run("smuggling", func(t *testing.T) {
		tests := []struct {
			name  string
			raw   string
			paths []string // requests the backend must see, in order
			body  string   // the first one's body
		}{
			{"CL.TE", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", []string{"/a"}, ""},
			{"TE.CL", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\nConnection: close\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n", []string{"/a"}, "SMUGGLED"},
			{"two lengths", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabcGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", nil, ""},
			{"TE list", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\nContent-Length: 3\r\n\r\nabc", nil, ""},
			{"TE obfuscated", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\nContent-Length: 3\r\n\r\nabc", nil, ""},
			{"space before colon", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\nContent-Length: 3\r\n\r\nabc", nil, ""},
			{"obs-fold", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n chunked\r\nContent-Length: 3\r\n\r\nabc", nil, ""},
			{"plus length", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", nil, ""},
			{"two TE headers", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", nil, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				reset()
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				io.WriteString(conn, tt.raw)
				br := bufio.NewReader(conn)
				var codes []int
				for {
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						break
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					codes = append(codes, resp.StatusCode)
				}
				got := reset()
				var paths []string
				for _, r := range got {
					paths = append(paths, r.path)
					if r.cl != "" && len(r.te) > 0 {
						t.Errorf("backend got both Content-Length and Transfer-Encoding: %+v", r)
					}
				}
				if strings.Join(paths, " ") != strings.Join(tt.paths, " ") {
					t.Fatalf("backend saw %v, want %v (client got %v)", paths, tt.paths, codes)
				}
				if tt.paths == nil {
					if len(codes) != 1 || codes[0] < 400 {
						t.Errorf("client got %v, want one refusal", codes)
					}
					return
				}
				if got[0].body != tt.body {
					t.Errorf("backend read body %q, want %q", got[0].body, tt.body)
				}
				if len(codes) != len(tt.paths) {
					t.Errorf("client got %d answers for %d proxied requests", len(codes), len(tt.paths))
				}
			})
		}
	})
}

// TestStopOneProxy is the seed's test: a front balancer (a third jksproxy)
// over two jksproxy instances over two backends; one instance is stopped
// under load; no request is lost and sessions keep their backend.
func TestStopOneProxy(t *testing.T) {
	one, two := startDemo(t, "one"), startDemo(t, "two")
	inner := func() *proxyProc {
		return startProxy(t, []string{"http"}, fastArgs("--listen-https", "", "--access-log=false",
			"--backend", one.url(), "--backend", two.url(), "--drain-delay", "500ms")...)
	}
	p1, p2 := inner(), inner()
	front := startProxy(t, []string{"https"}, append(keystoreArgs("wso2carbon.jks"), "--listen-http", "", "--access-log=false",
		"--backend", "http://"+p1.addr("http"), "--backend", "http://"+p2.addr("http"),
		"--sticky-cookie", "-", "--health-check-path", "/healthz", "--health-interval", "100ms",
		"--health-timeout", "500ms", "--health-rise", "1", "--health-fall", "1")...)
	base := "https://" + front.addr("https")

	const clients = 4
	var failures, total atomic.Int64
	var moved atomic.Int64
	var stopped atomic.Bool
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	started := make(chan struct{}, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			jar, _ := cookiejar.New(nil)
			c := &http.Client{Jar: jar, Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: insecureTLS()}}
			var backend, session string
			for n := 0; n < 400 && ctx.Err() == nil; n++ {
				code, body, err := do(c, "GET", base+"/", nil)
				total.Add(1)
				if err != nil || code != 200 {
					failures.Add(1)
					t.Logf("request failed (proxy stopped: %v): %d %v", stopped.Load(), code, err)
					continue
				}
				if backend == "" {
					backend, session = field(body, "backend"), field(body, "session")
					started <- struct{}{}
				} else if field(body, "backend") != backend || field(body, "session") != session {
					moved.Add(1)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	for i := 0; i < clients; i++ {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("clients did not start")
		}
	}
	time.Sleep(300 * time.Millisecond)
	stopped.Store(true)
	if err := p1.stop(); err != nil {
		t.Errorf("stopping proxy 1: %v", err)
	}
	time.Sleep(500 * time.Millisecond)
	cancel()
	wg.Wait()
	if failures.Load() != 0 {
		t.Errorf("%d of %d requests failed", failures.Load(), total.Load())
	}
	if moved.Load() != 0 {
		t.Errorf("%d answers came from another backend or session than the client's", moved.Load())
	}
	if total.Load() < clients*20 {
		t.Errorf("only %d requests made", total.Load())
	}
	if healthz(p2.addr("http")) != 200 {
		t.Error("the remaining proxy is not healthy")
	}
}

// TestHTTPSBackend: HTTPS backends verified against a truststore, or not
// at all with --backend-insecure.
func TestHTTPSBackend(t *testing.T) {
	pass, err := keystore.ReadPasswordFile(testdata("wso2carbon.storepass"))
	if err != nil {
		t.Fatal(err)
	}
	kp, err := keystore.LoadKeyPair(testdata("wso2carbon.jks"), "", pass, nil)
	if err != nil {
		t.Fatal(err)
	}
	backend := httptest.NewUnstartedServer(demoapp.New("tls"))
	backend.TLS = &tls.Config{Certificates: []tls.Certificate{kp.TLSCertificate()}}
	backend.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected here
	backend.StartTLS()
	defer backend.Close()

	tests := []struct {
		name string
		args []string
		want int
	}{
		// Java trusts the certificates of a keystore's key entries: so do we.
		{"truststore", []string{"--backend-truststore", testdata("wso2carbon.jks"), "--backend-truststore-pass-file", testdata("wso2carbon.storepass")}, 200},
		{"other truststore", []string{"--backend-truststore", testdata("chain.jks"), "--backend-truststore-pass-file", testdata("chain.storepass")}, 502},
		{"system roots", nil, 502},
		{"insecure", []string{"--backend-insecure"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--listen-https", "", "--listen-http", "127.0.0.1:0", "--backend", backend.URL,
				"--health-check-path", "/health", "--health-interval", "1h"}, tt.args...)
			p := startProxy(t, []string{"http"}, args...)
			code, body, err := do(&http.Client{Timeout: 5 * time.Second}, "GET", "http://"+p.addr("http")+"/", nil)
			if err != nil || code != tt.want {
				t.Fatalf("%d %v %q, want %d", code, err, body, tt.want)
			}
			if code == 200 && field(body, "backend") != "tls" {
				t.Errorf("answer %q", body)
			}
		})
	}
}

// TestSharedTicketKeys: two proxies with the same ticket keys resume each
// other's TLS sessions (the ELB may send a client to either).
func TestSharedTicketKeys(t *testing.T) {
	b := startDemo(t, "one")
	keys := filepath.Join(t.TempDir(), "tickets")
	if err := os.WriteFile(keys, []byte("# current first\n"+strings.Repeat("ab", 32)+"\n"+strings.Repeat("01", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append(fastArgs("--listen-http", "", "--backend", b.url(), "--session-ticket-key-file", keys), keystoreArgs("wso2carbon.jks")...)
	p1 := startProxy(t, []string{"https"}, args...)
	p2 := startProxy(t, []string{"https"}, args...)
	cfg := insecureTLS()
	cfg.ServerName = "localhost" // one cache key for both addresses
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	cfg.NextProtos = []string{"http/1.1"}
	for i, addr := range []string{p1.addr("https"), p2.addr("https")} {
		if resumed := resumedHandshake(t, addr, cfg); resumed != (i == 1) {
			t.Errorf("connection %d: DidResume = %v", i, resumed)
		}
	}

	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("short\n"), 0o600)
	r := testkit.RunProgram(t, binPath, os.Environ(), append(args, "--session-ticket-key-file", bad)...)
	if r.Code != 1 || !strings.Contains(r.Stderr, "openssl rand -hex 32") {
		t.Errorf("bad key file: %s", r)
	}
}

// TestTicketKeyRotation: both proxies re-read the ticket key file when it
// changes. With the new key first and the previous one kept, tickets sealed
// with the previous key still resume; once it is dropped they do not, and
// the proxies go on resuming each other's new tickets. A file that does not
// read keeps the keys and is counted; a file others can read is warned of.
func TestTicketKeyRotation(t *testing.T) {
	b := startDemo(t, "one")
	keys := filepath.Join(t.TempDir(), "tickets")
	k0, k1, k2 := strings.Repeat("0a", 32), strings.Repeat("1b", 32), strings.Repeat("2c", 32)
	write := func(lines ...string) { writeAtomic(t, keys, []byte(strings.Join(lines, "\n")+"\n")) }
	write(k1, k0)
	args := append(fastArgs("--listen-http", "", "--admin", "127.0.0.1:0", "--backend", b.url(),
		"--session-ticket-key-file", keys, "--reload-interval", "100ms"), keystoreArgs("wso2carbon.jks")...)
	p1 := startProxy(t, []string{"https", "admin"}, args...)
	p2 := startProxy(t, []string{"https", "admin"}, args...)
	client := func() *tls.Config {
		cfg := insecureTLS()
		cfg.ServerName = "localhost" // one cache key for both addresses
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
		cfg.NextProtos = []string{"http/1.1"}
		return cfg
	}
	counted := func(metric string, n int) {
		t.Helper()
		for _, p := range []*proxyProc{p1, p2} {
			waitFor(t, 3*time.Second, metric, func() bool {
				return strings.Contains(metrics(t, p.addr("admin")), fmt.Sprintf("%s %d\n", metric, n))
			})
		}
	}

	early, late := client(), client() // each gets a ticket sealed with k1
	for _, c := range []*tls.Config{early, late} {
		if resumedHandshake(t, p1.addr("https"), c) {
			t.Fatal("a first handshake resumed")
		}
	}
	write(k2, k1)
	counted("jksproxy_session_ticket_key_reloads_total", 1)
	if !resumedHandshake(t, p2.addr("https"), early) {
		t.Error("a ticket sealed with the previous key did not resume while the file keeps that key")
	}
	write(k2)
	counted("jksproxy_session_ticket_key_reloads_total", 2)
	if resumedHandshake(t, p2.addr("https"), late) {
		t.Error("a ticket sealed with a dropped key still resumed")
	}
	if !resumedHandshake(t, p1.addr("https"), late) { // its new ticket: k2, from p2
		t.Error("after the rotation the proxies do not resume each other's tickets")
	}

	write("not a key")
	counted("jksproxy_session_ticket_key_reload_failures_total", 1)
	if !resumedHandshake(t, p2.addr("https"), late) {
		t.Error("a key file that does not read changed the keys")
	}
	if strings.Contains(p1.logs.String(), k2) || strings.Contains(p1.logs.String(), "not a key") {
		t.Error("the log shows the key file's content")
	}

	write(k2)
	os.Chmod(keys, 0o644)
	p3 := startProxy(t, []string{"https"}, args...)
	if !strings.Contains(p3.logs.String(), "chmod 600") {
		t.Error("no warning for a ticket key file others can read")
	}
}

// TestWebSocketBehindNLB: a PROXY protocol v2 header (AWS NLB) in front of
// TLS, then a WebSocket upgrade tunnelled to the backend, which sees the
// client address from the PROXY header.
func TestWebSocketBehindNLB(t *testing.T) {
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			return // health check
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Seen-For: %s\r\n\r\n", r.Header.Get("X-Forwarded-For"))
		brw.Flush()
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			brw.WriteString("echo " + line)
			brw.Flush()
		}
	}))
	defer ws.Close()
	p := startProxy(t, []string{"https"}, append(keystoreArgs("wso2carbon.jks"), "--listen-http", "", "--proxy-protocol",
		"--backend", ws.URL, "--health-check-path", "/", "--health-interval", "100ms")...)

	conn, err := net.Dial("tcp", p.addr("https"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	hdr := []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c")
	hdr = append(hdr, 203, 0, 113, 7, 10, 0, 0, 1, 0x15, 0xb3, 0x01, 0xbb)
	conn.Write(hdr)
	cfg := insecureTLS()
	cfg.NextProtos = []string{"http/1.1"}
	tc := tls.Client(conn, cfg)
	io.WriteString(tc, "GET /chat HTTP/1.1\r\nHost: app.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(tc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("X-Seen-For") != "203.0.113.7" {
		t.Fatalf("upgrade answered %d, backend saw client %q", resp.StatusCode, resp.Header.Get("X-Seen-For"))
	}
	for _, msg := range []string{"one\n", "two\n"} {
		io.WriteString(tc, msg)
		line, err := br.ReadString('\n')
		if err != nil || line != "echo "+msg {
			t.Fatalf("tunnel: %q %v", line, err)
		}
	}

	// Without the PROXY header the connection is refused.
	plain, err := tls.Dial("tcp", p.addr("https"), insecureTLS())
	if err == nil {
		plain.Close()
		t.Error("TLS without a PROXY protocol header was accepted")
	}
}

// TestConfigFile: clusters chosen by Host from a YAML file, beside the
// --backend shorthand; the example file in this directory parses.
func TestConfigFile(t *testing.T) {
	// The example names a truststore that does not exist here: everything
	// else in it must parse, so the failure must be about that file.
	if _, err := proxy.LoadConfigFile("jksproxy.example.yaml"); err == nil || !strings.Contains(err.Error(), "truststore") {
		t.Errorf("example config: %v (want only the missing truststore)", err)
	}
	noTLS := filepath.Join(t.TempDir(), "example.yaml")
	text := readFile(t, "jksproxy.example.yaml")
	i, j := strings.Index(text, "    backend_tls:"), strings.Index(text, "    health:")
	if i < 0 || j < i {
		t.Fatal("example layout changed")
	}
	if err := os.WriteFile(noTLS, []byte(text[:i]+text[j:]), 0o644); err != nil {
		t.Fatal(err)
	}
	ccs, err := proxy.LoadConfigFile(noTLS)
	if err != nil || len(ccs) != 3 || ccs[0].Backends[1].ID != "mgt2" {
		t.Errorf("example without backend_tls: %v %+v", err, ccs)
	}

	mgt, www, other := startDemo(t, "mgt"), startDemo(t, "www"), startDemo(t, "other")
	cfg := filepath.Join(t.TempDir(), "jksproxy.yaml")
	yml := fmt.Sprintf(`clusters:
  - name: mgt
    hosts: [mgt.example.com]
    backends: [%s]
    health: {path: /health, interval: 100ms}
  - name: www
    hosts: ["*.apps.example.com"]
    backends: [%s]
    health: {path: /health, interval: 100ms}
`, mgt.url(), www.url())
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, []string{"http"}, fastArgs("--listen-https", "", "--config", cfg, "--backend", other.url())...)
	c := &http.Client{Timeout: 5 * time.Second}
	for host, want := range map[string]string{"mgt.example.com": "mgt", "a.apps.example.com": "www", "MGT.example.com:80": "mgt", "x.example.org": "other"} {
		req, _ := http.NewRequest("GET", "http://"+p.addr("http")+"/", nil)
		req.Host = host
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := field(string(b), "backend"); got != want {
			t.Errorf("Host %s went to %q, want %q", host, got, want)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSIGHUP: with watching slowed down, SIGHUP alone loads the new keystore.
func TestSIGHUP(t *testing.T) {
	b := startDemo(t, "one")
	ks := filepath.Join(t.TempDir(), "server.jks")
	copyFile(t, testdata("wso2carbon.jks"), ks)
	p := startProxy(t, []string{"https"}, "--keystore", ks, "--storepass-file", testdata("wso2carbon.storepass"),
		"--listen-https", "127.0.0.1:0", "--listen-http", "", "--backend", b.url(), "--reload-interval", "1h")
	served := func() string {
		conn, err := tls.Dial("tcp", p.addr("https"), insecureTLS())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return fp(conn.ConnectionState().PeerCertificates[0].Raw)
	}
	oldFP, newFP := expectedFor(t, "wso2carbon.jks").LeafSHA256, expectedFor(t, "ecdsa-demo.jks").LeafSHA256
	replaceFile(t, testdata("ecdsa-demo.jks"), ks)
	if got := served(); got != oldFP {
		t.Fatalf("served %s before SIGHUP, want the old %s", got, oldFP)
	}
	p.signal(syscall.SIGHUP)
	waitFor(t, 3*time.Second, "the new certificate after SIGHUP", func() bool { return served() == newFP })
}

// TestKeystoreFormats: every format the keystore package reads is served
// with exactly its leaf and chain (values from the keytool+openssl pipeline).
func TestKeystoreFormats(t *testing.T) {
	b := startDemo(t, "one")
	for _, tt := range []struct{ file, alias, pass string }{
		{"wso2carbon.jks", "", "wso2carbon.storepass"},
		{"jceks.jceks", "", "jceks.storepass"},
		{"keytool.p12", "server", "keytool.storepass"},
		{"nomac.p12", "", "nomac.storepass"},
		{"encrypted-pkcs8.pem", "", "encrypted-pkcs8.storepass"},
		{"bundle.pem", "", ""},
		{"multi.jks", "beta", "multi.storepass"},
		{"keypass.jks", "", "keypass.storepass"}, // with --keypass-file
	} {
		t.Run(tt.file, func(t *testing.T) {
			args := []string{"--keystore", testdata(tt.file), "--listen-https", "127.0.0.1:0", "--listen-http", "",
				"--backend", b.url(), "--health-check-path", "/health"}
			if tt.pass != "" {
				args = append(args, "--storepass-file", testdata(tt.pass))
			}
			if tt.alias != "" {
				args = append(args, "--alias", tt.alias)
			}
			if tt.file == "keypass.jks" {
				args = append(args, "--keypass-file", testdata("keypass.keypass"))
			}
			p := startProxy(t, []string{"https"}, args...)
			conn, err := tls.Dial("tcp", p.addr("https"), insecureTLS())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var got []string
			for _, c := range conn.ConnectionState().PeerCertificates {
				got = append(got, fp(c.Raw))
			}
			var want []string
			for _, e := range expectedAll(t) {
				if e.File == tt.file && (tt.alias == "" || e.Alias == tt.alias) {
					want = append([]string{e.LeafSHA256}, e.ChainSHA256...)
				}
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("served %v, want %v", got, want)
			}
		})
	}
}

func expectedAll(t *testing.T) []expected {
	t.Helper()
	data, err := os.ReadFile(testdata("expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all []expected
	if err := json.Unmarshal(data, &all); err != nil {
		t.Fatal(err)
	}
	return all
}

// resumedHandshake connects, sends one request (which makes a TLS 1.3 client read its
// session ticket) and reports whether the handshake resumed a session.
func resumedHandshake(t *testing.T, addr string, cfg *tls.Config) bool {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	io.ReadAll(conn)
	return conn.ConnectionState().DidResume
}
