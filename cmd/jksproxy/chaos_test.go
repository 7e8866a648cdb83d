package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keybridge/keybridge/internal/probes"
)

// chaosProxy is a built jksproxy with default flags and extra, in front of
// two recording backends.
func chaosProxy(t *testing.T, extra ...string) (*proxyProc, []*probes.Recorder) {
	t.Helper()
	var backends []*probes.Recorder
	args := append(keystoreArgs("wso2carbon.jks"), "--listen-http", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--health-check-path", "/health", "--access-log=false")
	for _, name := range []string{"b1", "b2"} {
		r, err := probes.StartRecorder(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		backends = append(backends, r)
		args = append(args, "--backend", r.URL())
	}
	return startProxy(t, []string{"https", "http", "admin"}, append(args, extra...)...), backends
}

// TestChaos: normal clients at a steady rate, over HTTP/1 and HTTP/2, while
// others abort uploads, reset HTTP/2 streams, stall and send malformed
// bodies (probes from internal/probes). Throughout, /healthz stays 200,
// /metrics shows every backend up, and not one normal request fails.
func TestChaos(t *testing.T) {
	// A short body timeout, so that the stalled clients are cut within the test.
	p, backends := chaosProxy(t, "--body-timeout", probes.BodyTimeout.String())
	target := probes.Target{HTTP: p.addr("http"), HTTPS: p.addr("https"), Backends: backends}
	const chaosFor = 4 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), chaosFor)
	defer cancel()
	var wg sync.WaitGroup
	loop := func(every time.Duration, max int, f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(every)
			defer tick.Stop()
			for i := 0; i < max && ctx.Err() == nil; i++ {
				f()
				select {
				case <-ctx.Done():
				case <-tick.C:
				}
			}
		}()
	}

	// Normal clients: keep-alive HTTP/1 GETs and uploads, HTTP/2 GETs.
	var normal, failed atomic.Int64
	var failMu sync.Mutex
	var failures []string
	fail := func(what string) {
		failed.Add(1)
		failMu.Lock()
		if len(failures) < 10 {
			failures = append(failures, what)
		}
		failMu.Unlock()
	}
	h1 := &http.Client{Timeout: 5 * time.Second}
	h2 := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: insecureTLS(), ForceAttemptHTTP2: true}}
	for i := 0; i < 3; i++ {
		loop(20*time.Millisecond, 1000, func() {
			normal.Add(1)
			code, body, err := do(h1, "GET", "http://"+target.HTTP+"/normal", nil)
			if err != nil || code != 200 {
				fail(fmt.Sprintf("HTTP/1 GET: %d %v %q", code, err, body))
			}
		})
	}
	loop(30*time.Millisecond, 1000, func() {
		normal.Add(1)
		code, body, err := do(h1, "POST", "http://"+target.HTTP+"/upload", bytes.NewReader(bytes.Repeat([]byte("u"), 4096)))
		if err != nil || code != 200 {
			fail(fmt.Sprintf("HTTP/1 POST: %d %v %q", code, err, body))
		}
	})
	loop(20*time.Millisecond, 1000, func() {
		normal.Add(1)
		code, body, err := do(h2, "GET", "https://"+target.HTTPS+"/normal", nil)
		if err != nil || code != 200 {
			fail(fmt.Sprintf("HTTP/2 GET: %d %v %q", code, err, body))
		}
	})

	// Hostile clients, each probe in its own loop.
	var hostile atomic.Int64
	for _, name := range []string{"h1-aborted-upload", "h1-aborted-chunked", "h2-headers-rst", "h2-upload-rst",
		"h1-chunk-bad-size", "h1-chunk-bad-crlf", "h2-cl-mismatch", "h1-stalled-body", "h1-stalled-chunked", "h2-stalled-body"} {
		pr, ok := probes.Find(name)
		if !ok {
			t.Fatalf("no probe %s", name)
		}
		pr.Wait = min(pr.Wait, 2*time.Second) // a stall is answered after the 1 s body timeout, or dropped here
		loop(50*time.Millisecond, 200, func() {
			hostile.Add(1)
			probes.Exchange(target, pr)
		})
	}

	// The watch: /healthz and /metrics every 50 ms.
	var samples, unhealthy, down atomic.Int64
	var watchMu sync.Mutex
	var seenBad []string
	note := func(s string) {
		watchMu.Lock()
		if len(seenBad) < 10 {
			seenBad = append(seenBad, s)
		}
		watchMu.Unlock()
	}
	loop(50*time.Millisecond, 1000, func() {
		samples.Add(1)
		if code := healthz(p.addr("admin")); code != 200 {
			unhealthy.Add(1)
			note(fmt.Sprintf("/healthz %d", code))
		}
		for _, l := range strings.Split(metrics(t, p.addr("admin")), "\n") {
			if strings.HasPrefix(l, "jksproxy_backend_up{") && !strings.HasSuffix(l, " 1") {
				down.Add(1)
				note(l)
			}
		}
	})
	wg.Wait()

	t.Logf("%d normal requests, %d hostile exchanges, %d watch samples", normal.Load(), hostile.Load(), samples.Load())
	if failed.Load() > 0 {
		t.Errorf("%d of %d normal requests failed, e.g.:\n%s", failed.Load(), normal.Load(), strings.Join(failures, "\n"))
	}
	if unhealthy.Load() > 0 || down.Load() > 0 {
		t.Errorf("in %d of %d samples /healthz was not 200, %d backend-down lines in /metrics, e.g.:\n%s",
			unhealthy.Load(), samples.Load(), down.Load(), strings.Join(seenBad, "\n"))
	}
	// The hostile clients' failures are counted as theirs.
	var clientFaults float64
	for _, l := range strings.Split(metrics(t, p.addr("admin")), "\n") {
		if strings.HasPrefix(l, "jksproxy_client_failures_total") {
			var v float64
			fmt.Sscan(l[strings.LastIndexByte(l, ' ')+1:], &v)
			clientFaults += v
		}
	}
	t.Logf("jksproxy_client_failures_total: %v in all", clientFaults)
	if clientFaults < float64(hostile.Load())/4 {
		t.Errorf("/metrics counts %v client failures for %d hostile exchanges", clientFaults, hostile.Load())
	}
	if normal.Load() < 100 || hostile.Load() < 50 || samples.Load() < 20 {
		t.Errorf("too little traffic to tell: %d normal, %d hostile, %d samples", normal.Load(), hostile.Load(), samples.Load())
	}
}

// TestSlowUploaders: 200 HTTP/1 clients, and 100 HTTP/2 streams, sending a
// body at 1 byte/s hold no backend connection while they send (request
// bodies are buffered before a backend is used); once their bodies are
// complete every one is answered and reaches a backend whole.
func TestSlowUploaders(t *testing.T) {
	// Each part has a proxy of its own, whose pool holds nothing from the other.
	t.Run("HTTP/1", func(t *testing.T) {
		p, backends := chaosProxy(t)
		before := settledConns(backends)
		ups := make([]uploader, 200)
		for i := range ups {
			c, err := net.DialTimeout("tcp", p.addr("http"), 2*time.Second)
			if err != nil {
				t.Fatalf("client %d: %v", i, err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(15 * time.Second))
			if _, err := fmt.Fprintf(c, "POST /slow1/%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", i, slowBody); err != nil {
				t.Fatal(err)
			}
			ups[i] = uploader{
				send: func(b []byte) { c.Write(b) },
				answer: func() int {
					resp, err := http.ReadResponse(bufio.NewReader(c), nil)
					if err != nil {
						t.Errorf("upload %d: %v", i, err)
						return 0
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					return resp.StatusCode
				},
			}
		}
		slowUploads(t, backends, before, "/slow1/", ups)
	})

	t.Run("HTTP/2", func(t *testing.T) {
		p, backends := chaosProxy(t)
		before := settledConns(backends)
		tr := &http.Transport{TLSClientConfig: insecureTLS(), ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: 15 * time.Second}
		ups := make([]uploader, 100)
		for i := range ups {
			pr, pw := io.Pipe()
			defer pw.Close()
			req, _ := http.NewRequest("POST", fmt.Sprintf("https://%s/slow2/%d", p.addr("https"), i), pr)
			req.ContentLength = slowBody
			done := make(chan int, 1)
			go func() {
				resp, err := c.Do(req)
				if err != nil {
					t.Errorf("upload %d: %v", i, err)
					done <- 0
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.ProtoMajor != 2 {
					t.Errorf("upload %d went over %s", i, resp.Proto)
				}
				done <- resp.StatusCode
			}()
			ups[i] = uploader{send: func(b []byte) { pw.Write(b) }, end: func() { pw.Close() }, answer: func() int { return <-done }}
		}
		slowUploads(t, backends, before, "/slow2/", ups)
	})
}

// slowBody is the length of each slow upload's body.
const slowBody = 10

// uploader is one slow upload under way: send writes body bytes, end (if
// set) ends the body, answer waits for the status it gets.
type uploader struct {
	send   func([]byte)
	end    func()
	answer func() int
}

// settledConns waits for the first health checks and returns the number of
// connections open to the backends.
func settledConns(backends []*probes.Recorder) int {
	time.Sleep(300 * time.Millisecond)
	n := 0
	for _, b := range backends {
		n += b.Conns()
	}
	return n
}

// slowUploads sends one byte a second on every upload for three seconds,
// checking that the backends meanwhile hold no connection nor request for
// them, then the rest of each body, and checks every upload is answered 200
// and reaches a backend (whose path starts with prefix) whole. before is the
// number of connections open to the backends before the uploads began.
func slowUploads(t *testing.T, backends []*probes.Recorder, before int, prefix string, ups []uploader) {
	t.Helper()
	conns := func() (open, busy int) {
		for _, b := range backends {
			open += b.Conns()
			busy += b.InFlight()
		}
		return
	}
	worst, worstBusy := before, 0
	for sec := 0; sec < 3; sec++ {
		for _, u := range ups {
			u.send([]byte("s"))
		}
		time.Sleep(time.Second)
		open, busy := conns()
		worst, worstBusy = max(worst, open), max(worstBusy, busy)
	}
	t.Logf("while %d uploads sent at 1 byte/s: up to %d backend connections open (%d before), %d requests in progress", len(ups), worst, before, worstBusy)
	if worstBusy > 0 || worst > before+2 {
		t.Errorf("while %d uploads sent a body at 1 byte/s the backends had up to %d connections open (%d before) and %d requests in progress; want none taken by the uploads",
			len(ups), worst, before, worstBusy)
	}
	for _, u := range ups {
		u.send(bytes.Repeat([]byte("s"), slowBody-3))
		if u.end != nil {
			u.end()
		}
	}
	answered := 0
	for _, u := range ups {
		if u.answer() == 200 {
			answered++
		}
	}
	whole := 0
	for _, b := range backends {
		for _, s := range b.Seen() {
			if strings.HasPrefix(s.URI, prefix) && s.BodyLen == slowBody && s.BodyErr == "" {
				whole++
			}
		}
	}
	if answered != len(ups) || whole != len(ups) {
		t.Errorf("%d of %d uploads answered 200, %d reached a backend whole", answered, len(ups), whole)
	}
}
