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

// TestSlowUploaders: 200 clients sending a body at 1 byte/s hold no backend
// connection while they send (request bodies are buffered before a backend
// is used); once their bodies are complete every one is answered.
func TestSlowUploaders(t *testing.T) {
	p, backends := chaosProxy(t)
	addr := p.addr("http")
	// Let the first health checks open what they open.
	time.Sleep(300 * time.Millisecond)
	conns := func() (open, busy int) {
		for _, b := range backends {
			open += b.Conns()
			busy += b.InFlight()
		}
		return
	}
	before, _ := conns()

	const clients, bodyLen = 200, 10
	cs := make([]net.Conn, 0, clients)
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	for i := 0; i < clients; i++ {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		cs = append(cs, c)
		c.SetDeadline(time.Now().Add(15 * time.Second))
		if _, err := fmt.Fprintf(c, "POST /slow/%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", i, bodyLen); err != nil {
			t.Fatal(err)
		}
	}
	worst, worstBusy := before, 0
	for sec := 0; sec < 3; sec++ { // one byte a second, for three seconds
		for _, c := range cs {
			c.Write([]byte("s"))
		}
		time.Sleep(time.Second)
		open, busy := conns()
		worst, worstBusy = max(worst, open), max(worstBusy, busy)
	}
	t.Logf("while %d clients sent at 1 byte/s: up to %d backend connections open (%d before), %d requests in progress", clients, worst, before, worstBusy)
	if worstBusy > 0 || worst > before+2 {
		t.Errorf("while %d clients sent a body at 1 byte/s the backends had up to %d connections open (%d before) and %d requests in progress; want none taken by the uploads",
			clients, worst, before, worstBusy)
	}

	// The rest of each body: every upload is answered 200 and reaches a backend whole.
	for _, c := range cs {
		c.Write(bytes.Repeat([]byte("s"), bodyLen-3))
	}
	answered := 0
	for i, c := range cs {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Errorf("upload %d: %v", i, err)
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			answered++
		}
	}
	whole := 0
	for _, b := range backends {
		for _, s := range b.Seen() {
			if strings.HasPrefix(s.URI, "/slow/") && s.BodyLen == bodyLen && s.BodyErr == "" {
				whole++
			}
		}
	}
	if answered != clients || whole != clients {
		t.Errorf("%d of %d uploads answered 200, %d reached a backend whole", answered, clients, whole)
	}
}
