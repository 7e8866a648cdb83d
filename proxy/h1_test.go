package proxy

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rawClient is one client connection written and read by hand.
type rawClient struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(addr, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	return &rawClient{t: t, c: c, br: bufio.NewReader(c)}
}

func (rc *rawClient) send(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatal(err)
	}
}

// read reads one response to a request of method and returns it with its
// body.
func (rc *rawClient) read(method string) (*http.Response, string) {
	rc.t.Helper()
	resp, err := http.ReadResponse(rc.br, &http.Request{Method: method})
	if err != nil {
		rc.t.Fatalf("reading response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		rc.t.Fatalf("reading body: %v", err)
	}
	return resp, string(b)
}

// closed reports whether the server closed the connection (within 3 s).
func (rc *rawClient) closed() bool {
	_ = rc.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err := rc.br.ReadByte()
	return err == io.EOF
}

// pathBackend answers every request with its method and path.
func pathBackend(t *testing.T) string {
	return rawBackend(t, func(r *http.Request, nth int) (string, bool) {
		return okResponse(r.Method + " " + r.URL.RequestURI()), false
	})
}

func TestH1Pipelining(t *testing.T) {
	px := leanServer(t, pathBackend(t))
	rc := dialRaw(t, px)
	rc.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n" +
		"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
		"GET /c?q=1 HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, want := range []string{"GET /a", "POST /b", "GET /c?q=1"} {
		resp, body := rc.read("GET")
		if resp.StatusCode != 200 || body != want {
			t.Fatalf("got %d %q, want %q", resp.StatusCode, body, want)
		}
	}
}

func TestH1HTTP10(t *testing.T) {
	px := leanServer(t, pathBackend(t))
	rc := dialRaw(t, px)
	rc.send("GET /one HTTP/1.0\r\nHost: x\r\n\r\n")
	if _, body := rc.read("GET"); body != "GET /one" {
		t.Fatalf("body %q", body)
	}
	if !rc.closed() {
		t.Error("HTTP/1.0 without keep-alive: connection left open")
	}

	rc = dialRaw(t, px)
	for i := 0; i < 2; i++ {
		rc.send("GET /ka HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
		resp, body := rc.read("GET")
		if body != "GET /ka" || resp.Header.Get("Connection") != "keep-alive" {
			t.Fatalf("request %d: %q, Connection %q", i, body, resp.Header.Get("Connection"))
		}
	}
}

// A body whose length the backend does not give (it closes the connection
// at the end) reaches an HTTP/1.1 client chunked, an HTTP/1.0 client
// delimited by the close.
func TestH1UnknownLengthBody(t *testing.T) {
	body := strings.Repeat("0123456789", 2000)
	be := rawBackend(t, func(r *http.Request, nth int) (string, bool) {
		return "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body, true
	})
	px := leanServer(t, be)
	rc := dialRaw(t, px)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, got := rc.read("GET")
	if got != body || len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("HTTP/1.1: %d bytes, transfer encoding %v", len(got), resp.TransferEncoding)
	}
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n") // the client connection stays usable
	if _, got := rc.read("GET"); got != body {
		t.Fatalf("second request: %d bytes", len(got))
	}

	rc = dialRaw(t, px)
	rc.send("GET / HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
	resp, got = rc.read("GET")
	if got != body || resp.ContentLength != -1 || !resp.Close {
		t.Fatalf("HTTP/1.0: %d bytes, length %d, close %v", len(got), resp.ContentLength, resp.Close)
	}
}

func TestH1HeadAndNoContent(t *testing.T) {
	be := rawBackend(t, func(r *http.Request, nth int) (string, bool) {
		switch r.URL.Path {
		case "/head":
			return "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", false
		case "/204":
			return "HTTP/1.1 204 No Content\r\n\r\n", false
		}
		return okResponse("after"), false
	})
	px := leanServer(t, be)
	rc := dialRaw(t, px)
	rc.send("HEAD /head HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := rc.read("HEAD")
	if resp.ContentLength != 1234 || body != "" {
		t.Fatalf("HEAD: length %d, body %q", resp.ContentLength, body)
	}
	rc.send("GET /204 HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := rc.read("GET"); resp.StatusCode != 204 || len(resp.TransferEncoding) > 0 {
		t.Fatalf("204: %d %v", resp.StatusCode, resp.TransferEncoding)
	}
	rc.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := rc.read("GET"); body != "after" {
		t.Fatalf("after HEAD and 204: %q", body)
	}
}

// Requests the loop does not serve itself go to net/http with the
// connection, mid-connection too, and are answered on it.
func TestH1HandsOver(t *testing.T) {
	px := leanServer(t, pathBackend(t))
	rc := dialRaw(t, px)
	rc.send("GET /own HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := rc.read("GET"); body != "GET /own" {
		t.Fatalf("%q", body)
	}
	// A head larger than the loop's buffer.
	rc.send("GET /big HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 6000) + "\r\n\r\n")
	if _, body := rc.read("GET"); body != "GET /big" {
		t.Fatalf("%q", body)
	}
	// net/http keeps the connection.
	rc.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := rc.read("GET"); body != "GET /after" {
		t.Fatalf("%q", body)
	}

	// A chunked upload as the first request.
	rc = dialRaw(t, px)
	rc.send("POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
	if _, body := rc.read("POST"); body != "POST /chunked" {
		t.Fatalf("%q", body)
	}
	// Malformed: net/http's answer.
	rc = dialRaw(t, px)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n")
	if resp, _ := rc.read("GET"); resp.StatusCode != 400 {
		t.Fatalf("malformed header: %d", resp.StatusCode)
	}
}

// A connection idle for longer than stackRelease moves to a fresh goroutine
// and serves the next request; IdleTimeout still counts from the response.
func TestH1IdleConnection(t *testing.T) {
	cc := oneCluster(pathBackend(t))
	cc[0].Health.Interval = time.Hour
	r := startServer(t, Config{ListenHTTP: "127.0.0.1:0", Clusters: cc, IdleTimeout: 700 * time.Millisecond})
	rc := dialRaw(t, r.addrs["http"])
	for i := 0; i < 3; i++ {
		rc.send("GET /idle HTTP/1.1\r\nHost: x\r\n\r\n")
		if _, body := rc.read("GET"); body != "GET /idle" {
			t.Fatalf("request %d: %q", i, body)
		}
		time.Sleep(3 * stackRelease)
	}
	start := time.Now()
	if !rc.closed() {
		t.Fatal("idle connection not closed")
	}
	// 3×stackRelease of the 700 ms had passed before.
	if d := time.Since(start); d > 700*time.Millisecond {
		t.Errorf("closed %v after the check began; the idle timeout is 700ms", d)
	}
}

// A client that goes away while the backend thinks cuts the backend request.
func TestH1ClientGone(t *testing.T) {
	var canceled atomic.Bool
	done := make(chan struct{})
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/slow" {
			return
		}
		select {
		case <-r.Context().Done():
			canceled.Store(true)
		case <-time.After(10 * time.Second):
		}
		close(done)
	}))
	defer be.Close()
	cc := oneCluster(be.URL)
	cc[0].Health.Interval = time.Hour
	r := startServer(t, Config{ListenHTTP: "127.0.0.1:0", Clusters: cc})
	rc := dialRaw(t, r.addrs["http"])
	rc.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(200 * time.Millisecond)
	rc.c.Close()
	select {
	case <-done:
	case <-time.After(8 * time.Second):
		var stacks strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
		t.Fatalf("backend request never ended; goroutines:\n%s", stacks.String())
	}
	if !canceled.Load() {
		t.Fatal("backend request ran to its end after the client left")
	}
	deadline := time.Now().Add(2 * time.Second)
	for r.s.metrics.codes[499].Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no 499 counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Shutting down closes idle keep-alive connections at once instead of
// waiting for them until the drain timeout.
func TestH1ShutdownClosesIdle(t *testing.T) {
	cc := oneCluster(pathBackend(t))
	cc[0].Health.Interval = time.Hour
	r := startServer(t, Config{ListenHTTP: "127.0.0.1:0", Clusters: cc, DrainTimeout: 20 * time.Second})
	var clients []*rawClient
	for i := 0; i < 3; i++ {
		rc := dialRaw(t, r.addrs["http"])
		rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		rc.read("GET")
		clients = append(clients, rc)
		time.Sleep(time.Duration(i) * stackRelease) // some on a fresh goroutine
	}
	start := time.Now()
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop took %v with idle connections open", d)
	}
	for i, rc := range clients {
		if !rc.closed() {
			t.Errorf("client %d still open", i)
		}
	}
}

// The same over TLS: handshake, HTTP/1.1 by ALPN and without, keep-alive.
func TestH1TLS(t *testing.T) {
	ca := newTestCA(t)
	cc := oneCluster(pathBackend(t))
	cc[0].Health.Interval = time.Hour
	cert := ca.leaf(t, "localhost")
	r := startServer(t, Config{ListenHTTPS: "127.0.0.1:0", Certificate: func() (*tls.Certificate, error) { return cert, nil }, Clusters: cc})
	c := clientFor(ca)
	c.Transport.(*http.Transport).ForceAttemptHTTP2 = false
	for i := 0; i < 3; i++ {
		resp, body := get(t, c, fmt.Sprintf("https://%s/tls%d", r.addrs["https"], i))
		if resp.ProtoMajor != 1 || body != fmt.Sprintf("GET /tls%d", i) {
			t.Fatalf("%s %q", resp.Proto, body)
		}
	}
	h2 := clientFor(ca)
	resp, body := get(t, h2, "https://"+r.addrs["https"]+"/h2")
	if resp.ProtoMajor != 2 || body != "GET /h2" {
		t.Fatalf("%s %q", resp.Proto, body)
	}
}

// A backend that sends more than its response said (a body after a HEAD
// answer) leaves garbage on the pooled connection: the next request, which
// reuses it without a peek, goes again on a new connection.
func TestForwardGarbageAfterResponse(t *testing.T) {
	be := rawBackend(t, func(r *http.Request, nth int) (string, bool) {
		if r.Method == http.MethodHead {
			return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false
		}
		return okResponse("GET " + r.URL.Path), false
	})
	px := leanServer(t, be)
	rc := dialRaw(t, px)
	rc.send("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := rc.read("HEAD"); resp.StatusCode != 200 {
		t.Fatalf("HEAD: %d", resp.StatusCode)
	}
	time.Sleep(50 * time.Millisecond) // the stray body reaches the proxy
	for i := 0; i < 3; i++ {
		rc.send("GET /g HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "GET /g" {
			t.Fatalf("GET after the stray body: %d %q", resp.StatusCode, body)
		}
	}
}

// The loop parses request and response heads in place, in per-request
// buffers (bytesString): nothing from one request may show up in another.
// Several connections, each with requests for changing hosts (the
// Forwarded element is cached per connection) and responses whose heads
// vary in size, some larger than the in-place buffer.
func TestH1HeadsStayWithTheirRequest(t *testing.T) {
	px := leanServer(t, rawBackend(t, func(r *http.Request, nth int) (string, bool) {
		pad := ""
		if strings.HasSuffix(r.URL.Path, "/big") {
			pad = "X-Pad: " + strings.Repeat("p", 3000) + "\r\n"
		}
		body := r.Header.Get("Forwarded")
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nX-Path: %s\r\n%sContent-Length: %d\r\n\r\n%s",
			r.URL.Path, pad, len(body), body), false
	}))
	// Hosts of one length and paths of one length put every Host value at
	// the same place in the buffer: a cache that kept a string over the
	// buffer would find the next host there and give it the last one's
	// Forwarded element.
	hosts := []string{"a.example", "b.example", "c.example:80", "d.example:81"}
	done := make(chan error, 4)
	for conn := range 4 {
		go func() {
			c, err := net.Dial("tcp", strings.TrimPrefix(px, "http://"))
			if err != nil {
				done <- err
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			br := bufio.NewReader(c)
			for i := range 150 {
				host := hosts[(i+conn)%len(hosts)]
				path := fmt.Sprintf("/c%d/r%03d/small", conn, i)
				if i%5 == 0 {
					path = fmt.Sprintf("/c%d/r%03d/big", conn, i)
				}
				fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nX-Filler-%d: %s\r\n\r\n", path, host, i, strings.Repeat("f", i%40))
				resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
				if err != nil {
					done <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					done <- err
					return
				}
				if got := resp.Header.Get("X-Path"); got != path {
					done <- fmt.Errorf("request %s: response X-Path %q", path, got)
					return
				}
				if want := `host="` + host + `"`; !strings.Contains(string(b), want) {
					done <- fmt.Errorf("request %s for %s: Forwarded %q, want %s in it", path, host, b, want)
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
