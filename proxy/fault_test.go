package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestBlame(t *testing.T) {
	refused := &dialError{&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	dialCanceled := &dialError{&net.OpError{Op: "dial", Net: "tcp", Err: context.Canceled}}
	for _, tc := range []struct {
		name   string
		err    error
		gone   bool
		want   fault
		status int
	}{
		{"connect refused", refused, false, faultBackend, 502},
		{"connect timed out", &dialError{timeoutErr{}}, false, faultBackend, 504},
		{"reset before the head", fmt.Errorf("read: %w", syscall.ECONNRESET), false, faultBackend, 502},
		{"EOF before the head", io.ErrUnexpectedEOF, false, faultBackend, 502},
		{"malformed head", errBadResponse, false, faultBackend, 502},
		{"no head in time", timeoutErr{}, false, faultBackend, 504},
		{"dial cancelled by the client", dialCanceled, false, faultClientGone, 499},
		{"wait cancelled", context.Canceled, false, faultClientGone, 499},
		{"client gone, backend read cut", timeoutErr{}, true, faultClientGone, 499},
		{"client gone, backend refused", refused, true, faultClientGone, 499},
		{"malformed chunked body", &clientBodyError{errors.New("malformed chunked encoding")}, false, faultClientBody, 400},
		{"body cut off", &clientBodyError{io.ErrUnexpectedEOF}, false, faultClientGone, 499},
		{"body stalled", &clientBodyError{timeoutErr{}}, false, faultClientStall, 408},
		{"body stalled, net/http cancelled the request", &clientBodyError{timeoutErr{}}, true, faultClientStall, 408},
		{"body reset, client gone", &clientBodyError{syscall.ECONNRESET}, true, faultClientGone, 499},
		{"body too slow", &clientBodyError{errBodyTooSlow}, false, faultClientSlow, 408},
		{"wrapped body error", fmt.Errorf("write: %w", &clientBodyError{errors.New("x")}), false, faultClientBody, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := blame(tc.err, tc.gone)
			if got != tc.want {
				t.Fatalf("blame = %v, want %v", got, tc.want)
			}
			if s := got.status(isTimeout(tc.err)); s != tc.status {
				t.Errorf("status = %d, want %d", s, tc.status)
			}
			if got.client() == (tc.want == faultBackend) {
				t.Errorf("client() = %v for %v", got.client(), got)
			}
		})
	}
}

func TestRetryPlan(t *testing.T) {
	other := errors.New("connection reset")
	for _, tc := range []struct {
		name                                  string
		f                                     fault
		err                                   error
		dial, sent, replayable, retriedBefore bool
		retry, afterConnect                   bool
	}{
		{"dial failed, nothing sent", faultBackend, other, true, false, false, false, true, false},
		{"dial failed, again", faultBackend, other, true, false, false, true, true, false},
		{"dial failed after body read", faultBackend, other, true, true, false, false, false, false},
		{"GET reset", faultBackend, other, false, false, true, false, true, true},
		{"GET reset twice", faultBackend, other, false, false, true, true, false, false},
		{"GET timed out", faultBackend, timeoutErr{}, false, false, true, false, false, false},
		{"POST reset", faultBackend, other, false, true, false, false, false, false},
		{"client gone", faultClientGone, context.Canceled, true, false, true, false, false, false},
		{"bad body", faultClientBody, other, false, true, false, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			retry, after := retryPlan(tc.f, tc.err, tc.dial, tc.sent, tc.replayable, tc.retriedBefore)
			if retry != tc.retry || after != tc.afterConnect {
				t.Fatalf("retryPlan = %v, %v; want %v, %v", retry, after, tc.retry, tc.afterConnect)
			}
		})
	}
}

// TestPassiveOKClearsFailures: a finished response starts the count of
// failures in a row again, so scattered failures never add up to Fall.
func TestPassiveOKClearsFailures(t *testing.T) {
	cl := newCluster(ClusterConfig{Name: "c", Health: HealthConfig{Fall: 2},
		Backends: []BackendConfig{{URL: "http://127.0.0.1:1"}}}, slog.New(slog.DiscardHandler))
	b := cl.backends[0]
	for range 3 {
		b.charge(errors.New("reset"), false)
		b.ok()
	}
	if !b.healthy.Load() {
		t.Fatal("backend ejected by failures that each followed a good response")
	}
	b.charge(errors.New("reset"), false)
	b.charge(errors.New("reset"), false)
	if b.healthy.Load() {
		t.Fatal("two failures in a row with Fall 2 did not eject")
	}
}

// faultServer is a proxy over one backend that a single charge ejects
// (Fall 1) and no check brings back (the first check only).
func faultServer(t *testing.T, cfg Config, backend string) *running {
	t.Helper()
	cc := oneCluster(backend)
	cc[0].Health = HealthConfig{Path: "/", Interval: time.Hour, Timeout: time.Second, Rise: 1, Fall: 1}
	cfg.Clusters = cc
	return startServer(t, cfg)
}

// mustStayUp checks that no backend was charged and /healthz says 200.
func mustStayUp(t *testing.T, r *running) {
	t.Helper()
	for _, cl := range r.s.clusters {
		for _, b := range cl.backends {
			if !b.healthy.Load() || b.failures.Load() != 0 {
				t.Fatalf("backend %s: healthy %v, charged %d times", b.url, b.healthy.Load(), b.failures.Load())
			}
		}
	}
	if code, _ := r.s.healthStatus(); code != 200 {
		t.Fatalf("/healthz would answer %d", code)
	}
}

func clientFaults(r *running) uint64 {
	var n uint64
	for f := range numFaults {
		n += r.s.metrics.clientFaults[f].Load()
	}
	return n
}

// TestClientFaultsChargeNoBackend: what clients do wrong with their
// request bodies, over HTTP/1 (the own loop and net/http) and HTTP/2, never
// ejects a backend nor turns /healthz red, and is counted as the client's.
func TestClientFaultsChargeNoBackend(t *testing.T) {
	slow := make(chan struct{})
	t.Cleanup(func() { close(slow) })
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-slow:
			case <-r.Context().Done():
			}
		}
		_, _ = io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(backend.Close)
	ca := newTestCA(t)
	leaf := ca.leaf(t, "localhost")
	for _, buffering := range []bool{true, false} {
		t.Run(fmt.Sprintf("buffering=%v", buffering), func(t *testing.T) {
			r := faultServer(t, Config{ListenHTTP: "127.0.0.1:0", ListenHTTPS: "127.0.0.1:0",
				Certificate:        func() (*tls.Certificate, error) { return leaf, nil },
				UnbufferedRequests: !buffering, BodyTimeout: 300 * time.Millisecond}, backend.URL)
			addr := r.addrs["http"]

			// Malformed chunked body (net/http reads it): 400.
			rc := dialRaw(t, addr)
			rc.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n")
			if resp, _ := rc.read("POST"); resp.StatusCode != 400 {
				t.Errorf("malformed chunked body: %d, want 400", resp.StatusCode)
			}
			// Content-Length body cut off by the client (the own loop).
			rc = dialRaw(t, addr)
			rc.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
			time.Sleep(50 * time.Millisecond)
			rc.c.Close()
			// Chunked body cut off by the client.
			rc = dialRaw(t, addr)
			rc.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
			time.Sleep(50 * time.Millisecond)
			rc.c.Close()
			// A stalled body: 408.
			rc = dialRaw(t, addr)
			rc.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
			if resp, _ := rc.read("POST"); resp.StatusCode != 408 {
				t.Errorf("stalled body: %d, want 408", resp.StatusCode)
			}
			// A stalled chunked body (net/http reads it): 408.
			rc = dialRaw(t, addr)
			rc.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
			if resp, _ := rc.read("POST"); resp.StatusCode != 408 {
				t.Errorf("stalled chunked body: %d, want 408", resp.StatusCode)
			}
			// HTTP/2: an upload reset mid-body, and a request reset while
			// the backend thinks.
			h2 := clientFor(ca)
			for _, path := range []string{"/upload", "/slow"} {
				ctx, cancel := context.WithCancel(context.Background())
				pr, pw := io.Pipe()
				var body io.Reader = pr
				if path == "/slow" {
					body = nil
				}
				req, _ := http.NewRequestWithContext(ctx, "POST", "https://"+r.addrs["https"]+path, body)
				if path == "/upload" {
					req.ContentLength = 1000
					go func() { pw.Write([]byte(strings.Repeat("x", 100))) }()
				}
				time.AfterFunc(150*time.Millisecond, cancel)
				if resp, err := h2.Do(req); err == nil {
					resp.Body.Close()
					t.Errorf("%s: answered %d, want the reset to cut it", path, resp.StatusCode)
				}
				pw.Close()
			}
			// Let the proxy notice each end.
			time.Sleep(400 * time.Millisecond)
			mustStayUp(t, r)
			if n := clientFaults(r); n < 4 {
				t.Errorf("client failures counted: %d, want at least 4", n)
			}
			resp, body := get(t, http.DefaultClient, "http://"+addr+"/")
			if resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("after the client faults: %d %q", resp.StatusCode, body)
			}
		})
	}
}

// cookieBackend answers with the Cookie fields it received, joined by "|"
// ("-": none).
func cookieBackend(t *testing.T) *httptest.Server {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		c := strings.Join(r.Header["Cookie"], "|")
		if c == "" {
			c = "-"
		}
		io.WriteString(w, c)
	}))
	t.Cleanup(be.Close)
	return be
}

// TestRouteCookieNeverReachesTheApp: on every request path the route
// cookie naming a backend is taken off, also when it is the only cookie
// (the HTTP/1 loop sent that one on).
func TestRouteCookieNeverReachesTheApp(t *testing.T) {
	be := cookieBackend(t)
	ca := newTestCA(t)
	leaf := ca.leaf(t, "localhost")
	cc := oneCluster(be.URL)
	cc[0].Backends[0].ID = "app1"
	cc[0].Health.Interval = time.Hour
	r := startServer(t, Config{ListenHTTP: "127.0.0.1:0", ListenHTTPS: "127.0.0.1:0", Clusters: cc,
		Certificate: func() (*tls.Certificate, error) { return leaf, nil }})
	for _, cookie := range []string{"KBSRV=app1", "a=1; KBSRV=app1", "KBSRV=app1; JSESSIONID=s"} {
		want := strings.TrimPrefix(strings.ReplaceAll(cookie, "KBSRV=app1", ""), "; ")
		want = strings.TrimSuffix(want, "; ")
		if want == "" {
			want = "-"
		}
		t.Run(cookie, func(t *testing.T) {
			// The own HTTP/1 loop, then net/http (a chunked body is
			// handed over), then HTTP/2.
			rc := dialRaw(t, r.addrs["http"])
			rc.send("GET / HTTP/1.1\r\nHost: x\r\nCookie: " + cookie + "\r\n\r\n")
			if _, got := rc.read("GET"); got != want {
				t.Errorf("HTTP/1 loop: backend got Cookie %q, want %q", got, want)
			}
			rc.send("POST / HTTP/1.1\r\nHost: x\r\nCookie: " + cookie + "\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n")
			if _, got := rc.read("POST"); got != want {
				t.Errorf("net/http: backend got Cookie %q, want %q", got, want)
			}
			resp, got := get(t, clientFor(ca), "https://"+r.addrs["https"]+"/", "Cookie", cookie)
			if resp.ProtoMajor != 2 || got != want {
				t.Errorf("HTTP/%d: backend got Cookie %q, want %q", resp.ProtoMajor, got, want)
			}
		})
	}
}

// TestTwoTiersKeepSessions: a jksproxy in front of two jksproxies in front
// of two application servers, every proxy with default stickiness: each
// response carries one route cookie (the inner tier's), and a session
// stays on one application server whichever inner proxy takes it.
func TestTwoTiersKeepSessions(t *testing.T) {
	apps := []string{demoBackend(t, "app1").URL, demoBackend(t, "app2").URL}
	var inner []string
	for range 2 {
		cc := oneCluster(apps...)
		r := startServer(t, Config{ListenHTTP: "127.0.0.1:0", Clusters: cc})
		inner = append(inner, "http://"+r.addrs["http"])
	}
	cc := oneCluster(inner...)
	cc[0].Health.Path = "/health"
	outer := startServer(t, Config{ListenHTTP: "127.0.0.1:0", Clusters: cc})
	waitUntil(t, 5*time.Second, func() bool { return outer.s.clusters[0].tiered.Load() })
	for session := range 4 {
		c := &http.Client{Timeout: 5 * time.Second}
		var cookies []string
		first := ""
		for i := range 8 {
			req, _ := http.NewRequest("GET", "http://"+outer.addrs["http"]+"/", nil)
			for _, ck := range cookies {
				req.Header.Add("Cookie", ck)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			n := 0
			for _, sc := range resp.Header["Set-Cookie"] {
				if strings.HasPrefix(sc, "KBSRV=") {
					n++
				}
				cookies = append(cookies, strings.SplitN(sc, ";", 2)[0])
			}
			if n > 1 {
				t.Fatalf("session %d request %d: %d KBSRV cookies: %q", session, i, n, resp.Header["Set-Cookie"])
			}
			app := resp.Header.Get("X-Backend")
			if first == "" {
				first = app
			} else if app != first {
				t.Fatalf("session %d request %d: went to %s, began on %s", session, i, app, first)
			}
		}
	}
}

// TestBrokenResponseCharged: a response the backend breaks off is charged
// to it, and a finished one clears its failures in a row, on the
// forwarder's path (plain HTTP backends) and on ReverseProxy's (HTTPS).
func TestBrokenResponseCharged(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/broken" {
			io.WriteString(w, "ok")
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
		brw.Flush()
		c.Close()
	})
	for _, https := range []bool{false, true} {
		t.Run(fmt.Sprintf("https=%v", https), func(t *testing.T) {
			be := httptest.NewUnstartedServer(h)
			if https {
				be.StartTLS()
			} else {
				be.Start()
			}
			t.Cleanup(be.Close)
			cc := oneCluster(be.URL)
			cc[0].InsecureSkipVerify = true
			cc[0].Health = HealthConfig{Path: "/", Interval: time.Hour, Timeout: time.Second, Rise: 1, Fall: 2}
			r := startServer(t, Config{ListenHTTP: "127.0.0.1:0", Clusters: cc})
			b := r.s.clusters[0].backends[0]
			if b.cluster.lean == https {
				t.Fatalf("lean %v with https %v", b.cluster.lean, https)
			}
			c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			fetch := func(path string) {
				resp, err := c.Get("http://" + r.addrs["http"] + path)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
			for i, step := range []struct {
				path    string
				charged uint64
				up      bool
			}{
				{"/broken", 1, true},
				{"/ok", 1, true},
				{"/broken", 2, true}, // one in a row: the good answer cleared the first
				{"/broken", 3, false},
			} {
				fetch(step.path)
				waitUntil(t, 2*time.Second, func() bool { return b.failures.Load() >= step.charged })
				if got := b.failures.Load(); got != step.charged || b.healthy.Load() != step.up {
					t.Fatalf("step %d %s: charged %d times, up %v; want %d, %v", i, step.path, got, b.healthy.Load(), step.charged, step.up)
				}
			}
		})
	}
}

// TestAttemptsTryEachBackendOnce: a request whose connections are all
// refused tries every backend of a large cluster once, then fails.
func TestAttemptsTryEachBackendOnce(t *testing.T) {
	var cc ClusterConfig
	cc.Name, cc.Health.Fall = "c", 3
	for i := range 7 {
		cc.Backends = append(cc.Backends, BackendConfig{URL: fmt.Sprintf("http://127.0.0.1:%d", i+1)})
	}
	cl := newCluster(cc, slog.New(slog.DiscardHandler))
	st := &reqState{cl: cl}
	a := attempts{cl: cl, st: st}
	seen := map[*backend]bool{}
	refused := &dialError{&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	for b := cl.first(st); b != nil; {
		if seen[b] {
			t.Fatalf("%s tried twice", b.url)
		}
		seen[b] = true
		a.begin(b)
		b, _ = a.failed(b, refused, false, false)
	}
	if len(seen) != 7 || st.attempts != 7 {
		t.Fatalf("tried %d backends in %d attempts, want 7", len(seen), st.attempts)
	}
}
