package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/http/httputil"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keybridge/keybridge/internal/testkit"
)

// rawBackend serves HTTP/1.1 by hand so a test decides what happens to each
// connection: handle gets the request and its number on the connection and
// answers with the raw response, or "" to close without answering; with
// closeAfter it closes the connection after the answer.
func rawBackend(t *testing.T, handle func(r *http.Request, nth int) (resp string, closeAfter bool)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				for nth := 1; ; nth++ {
					r, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, r.Body)
					out, closeAfter := handle(r, nth)
					if out == "" {
						return
					}
					if _, err := io.WriteString(c, out); err != nil || closeAfter {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

func okResponse(body string) string {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

func leanServer(t *testing.T, backends ...string) string {
	t.Helper()
	cc := oneCluster(backends...)
	cc[0].Health.Interval = time.Hour // the first check only
	r := startServer(t, Config{ListenHTTP: "127.0.0.1:0", Clusters: cc})
	return "http://" + r.addrs["http"]
}

func doReq(t *testing.T, c *http.Client, method, u string, body io.Reader, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, u, err)
	}
	return resp, string(b)
}

func TestForwardBackendClosesBetweenRequests(t *testing.T) {
	// The backend answers one request per connection without saying
	// Connection: close, then closes: the next request must not fail on
	// the dead pooled connection, whatever its method.
	var served atomic.Int64
	be := rawBackend(t, func(r *http.Request, nth int) (string, bool) {
		served.Add(1)
		return okResponse("hello " + r.Method), true
	})
	px := leanServer(t, be)
	c := &http.Client{Timeout: 10 * time.Second}
	for i := 0; i < 10; i++ {
		method := http.MethodGet
		var body io.Reader
		if i%2 == 1 {
			method, body = http.MethodPost, strings.NewReader("payload")
		}
		time.Sleep(5 * time.Millisecond) // let the backend's close arrive
		resp, got := doReq(t, c, method, px+"/x", body)
		if resp.StatusCode != 200 || got != "hello "+method {
			t.Fatalf("request %d (%s): %d %q", i, method, resp.StatusCode, got)
		}
	}
}

func TestForwardRetriesStalePooledConn(t *testing.T) {
	// The backend reads the second request on a connection and closes
	// without answering (its keep-alive timer fired as the request came):
	// an idempotent request without a body goes again on a new connection.
	var conns atomic.Int64
	be := rawBackend(t, func(r *http.Request, nth int) (string, bool) {
		if nth == 1 {
			conns.Add(1)
			return okResponse("fresh"), false
		}
		return "", true
	})
	px := leanServer(t, be)
	c := &http.Client{Timeout: 10 * time.Second}
	for i := 0; i < 5; i++ {
		resp, got := doReq(t, c, http.MethodGet, px+"/x", nil)
		if resp.StatusCode != 200 || got != "fresh" {
			t.Fatalf("GET %d: %d %q", i, resp.StatusCode, got)
		}
	}
	if n := conns.Load(); n < 5 {
		t.Errorf("backend saw %d first requests, want at least 5 (one per GET)", n)
	}
}

func TestForwardFramings(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			w.Header().Set("Trailer", "X-Sum")
			w.Write([]byte("part one, "))
			w.(http.Flusher).Flush()
			w.Write([]byte("part two"))
			w.Header().Set("X-Sum", "42")
		case "/head":
			w.Header().Set("Content-Length", "1000")
			if r.Method != http.MethodHead {
				w.Write(make([]byte, 1000))
			}
		case "/304":
			w.Header().Set("ETag", `"v1"`)
			w.WriteHeader(http.StatusNotModified)
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/echo":
			h := sha256.New()
			n, _ := io.Copy(h, r.Body)
			fmt.Fprintf(w, "%d %x %v", n, h.Sum(nil), r.TransferEncoding)
		case "/big":
			w.Header().Set("Content-Length", fmt.Sprint(8<<20))
			w.Write(bytes.Repeat([]byte("0123456789abcdef"), (8<<20)/16))
		default:
			w.Write([]byte("ok"))
		}
	}))
	defer be.Close()
	px := leanServer(t, be.URL)
	c := &http.Client{Timeout: 20 * time.Second}

	t.Run("chunked response with trailer", func(t *testing.T) {
		resp, got := doReq(t, c, http.MethodGet, px+"/chunked", nil)
		if got != "part one, part two" || resp.ContentLength != -1 {
			t.Fatalf("got %q, length %d", got, resp.ContentLength)
		}
		if v := resp.Trailer.Get("X-Sum"); v != "42" {
			t.Errorf("trailer X-Sum = %q, want 42", v)
		}
	})
	for _, tc := range []struct {
		method, path string
		code         int
		length       string
	}{
		{http.MethodHead, "/head", 200, "1000"},
		{http.MethodGet, "/304", 304, ""},
		{http.MethodGet, "/204", 204, ""},
	} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			for i := 0; i < 3; i++ { // the connections stay in step
				resp, got := doReq(t, c, tc.method, px+tc.path, nil)
				if resp.StatusCode != tc.code || got != "" || resp.Header.Get("Content-Length") != tc.length {
					t.Fatalf("%d %q Content-Length %q", resp.StatusCode, got, resp.Header.Get("Content-Length"))
				}
				if _, got := doReq(t, c, http.MethodGet, px+"/", nil); got != "ok" {
					t.Fatalf("next request got %q", got)
				}
			}
		})
	}
	payload := bytes.Repeat([]byte("kb"), 3<<20) // 6 MiB
	sum := fmt.Sprintf("%d %x", len(payload), sha256.Sum256(payload))
	t.Run("large content-length upload", func(t *testing.T) {
		_, got := doReq(t, c, http.MethodPost, px+"/echo", bytes.NewReader(payload))
		if got != sum+" []" {
			t.Errorf("backend saw %q, want %q", got, sum+" []")
		}
	})
	t.Run("large chunked upload", func(t *testing.T) {
		// An io.Reader of unknown length makes the client send chunks;
		// buffered whole (1 MiB in memory, the rest in a file), it reaches
		// the backend with its length, as nginx sends it.
		_, got := doReq(t, c, http.MethodPut, px+"/echo", io.MultiReader(bytes.NewReader(payload)))
		if got != sum+" []" {
			t.Errorf("backend saw %q, want %q", got, sum+" []")
		}
	})
	t.Run("large download", func(t *testing.T) {
		resp, got := doReq(t, c, http.MethodGet, px+"/big", nil)
		if resp.ContentLength != 8<<20 || len(got) != 8<<20 || !strings.HasPrefix(got, "0123456789abcdef0123") {
			t.Errorf("length %d, read %d", resp.ContentLength, len(got))
		}
	})
	t.Run("empty POST", func(t *testing.T) {
		_, got := doReq(t, c, http.MethodPost, px+"/echo", nil)
		if !strings.HasPrefix(got, "0 ") {
			t.Errorf("backend saw %q", got)
		}
	})
}

func TestForwardHopByHop(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Secret")
		w.Header().Set("X-Secret", "internal")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("Proxy-Authenticate", "Basic")
		w.Header().Set("X-Public", "yes")
		for _, h := range []string{"Connection", "X-Drop", "Keep-Alive", "Proxy-Authorization", "Te", "X-Keep", "Upgrade"} {
			fmt.Fprintf(w, "%s=%s\n", h, strings.Join(r.Header.Values(h), ","))
		}
	}))
	defer be.Close()
	px := leanServer(t, be.URL)
	resp, got := doReq(t, http.DefaultClient, http.MethodGet, px+"/", nil,
		"Connection", "X-Drop", "X-Drop", "1", "Keep-Alive", "300", "Proxy-Authorization", "Basic eA==",
		"Te", "trailers, deflate", "X-Keep", "kept")
	want := "Connection=\nX-Drop=\nKeep-Alive=\nProxy-Authorization=\nTe=trailers\nX-Keep=kept\nUpgrade=\n"
	if got != want {
		t.Errorf("backend saw:\n%s\nwant:\n%s", got, want)
	}
	for _, h := range []string{"X-Secret", "Keep-Alive", "Proxy-Authenticate"} {
		if v := resp.Header.Get(h); v != "" {
			t.Errorf("client got hop-by-hop %s: %q", h, v)
		}
	}
	if resp.Header.Get("X-Public") != "yes" {
		t.Errorf("end-to-end header lost: %v", resp.Header)
	}
}

func TestForwardConcurrentRequestsStayApart(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s|%s", r.URL.Path, b)
	}))
	defer be.Close()
	px := leanServer(t, be.URL)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var wg sync.WaitGroup
	errs := make(chan string, 16*25)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				path := fmt.Sprintf("/g%d/r%d", g, i)
				var body io.Reader
				if i%3 == 0 {
					body = strings.NewReader(path)
				}
				req, _ := http.NewRequest(http.MethodPost, px+path, body)
				resp, err := c.Do(req)
				if err != nil {
					errs <- err.Error()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := path + "|"
				if i%3 == 0 {
					want += path
				}
				if string(b) != want {
					errs <- fmt.Sprintf("%s got %q", path, b)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestForwardEarlyHintsAndRequestTrailer(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s|%s", b, r.Trailer.Get("X-Checksum"))
	}))
	defer be.Close()
	px := leanServer(t, be.URL)
	var hints []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		hints = append(hints, fmt.Sprintf("%d %s", code, h.Get("Link")))
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
		http.MethodPost, px+"/", io.MultiReader(strings.NewReader("data")))
	req.Trailer = http.Header{"X-Checksum": nil}
	req.Body = io.NopCloser(&trailerSetter{r: strings.NewReader("data"), set: func() { req.Trailer.Set("X-Checksum", "c0ffee") }})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "data|c0ffee" {
		t.Errorf("backend saw %q, want body and trailer", b)
	}
	if len(hints) != 1 || hints[0] != "103 </style.css>; rel=preload" {
		t.Errorf("client got 1xx %q, want the 103 with its Link", hints)
	}
	if resp.Header.Get("Link") != "" {
		t.Errorf("103 header leaked into the final response: %v", resp.Header)
	}
}

// trailerSetter calls set when its reader is exhausted, as a client that
// computes a trailer while sending does.
type trailerSetter struct {
	r   io.Reader
	set func()
}

func (t *trailerSetter) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err == io.EOF {
		t.set()
	}
	return n, err
}

func TestForwardBoundsBackendResponseHeader(t *testing.T) {
	header := func(size int) string {
		line := "X-Pad: " + strings.Repeat("p", 57) + "\r\n" // 66 bytes
		return "HTTP/1.1 200 OK\r\n" + strings.Repeat(line, size/len(line)) + "Content-Length: 2\r\n\r\nok"
	}
	c := &http.Client{Timeout: 10 * time.Second}
	for _, tc := range []struct {
		name string
		size int
		want int
	}{
		{"100 KiB header passes", 100 << 10, http.StatusOK},
		{"2 MiB header is refused", 2 << 20, http.StatusBadGateway},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := rawBackend(t, func(*http.Request, int) (string, bool) { return header(tc.size), true })
			resp, body := doReq(t, c, http.MethodGet, leanServer(t, be)+"/h", nil)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == http.StatusOK && body != "ok" {
				t.Errorf("body %q", body)
			}
		})
	}
}

// recordingTransport answers every request with a response carrying
// respHeader, and keeps the request it was given.
type recordingTransport struct {
	out        *http.Request
	respHeader http.Header
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.out = r
	return &http.Response{StatusCode: 200, Header: rt.respHeader.Clone(), Body: http.NoBody, Request: r}, nil
}

// TestHopByHopTable ties the one hop-by-hop table to what
// httputil.ReverseProxy (the path for HTTPS backends and upgrades) removes:
// in requests and responses, the own forwarder's paths drop exactly the
// fields ReverseProxy drops.
func TestHopByHopTable(t *testing.T) {
	// Every field either list might hold, and some that neither should.
	candidates := []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Http2-Settings", "Alt-Svc",
		"X-Keep", "Proxy-Foo", "Trailers", "Tea", "Connections", "Keep-Alives", "Content-Type"}
	hdr := http.Header{}
	for _, name := range candidates {
		hdr.Set(name, "v") // no value ReverseProxy keeps (Te: trailers, Connection: upgrade)
	}
	rt := &recordingTransport{respHeader: hdr}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {}, Transport: rt}
	in := httptest.NewRequest("GET", "http://x/", nil)
	in.Header = hdr.Clone()
	w := httptest.NewRecorder()
	rp.ServeHTTP(w, in)
	if rt.out == nil {
		t.Fatal("ReverseProxy sent nothing")
	}
	s := &Server{viaHeaders: [2]string{"1.1 p", "2.0 p"}}
	st := &reqState{cl: &cluster{}}
	head := string(s.appendHTTPHead(nil, in, st))
	fields := make([]hfield, 0, len(candidates))
	for _, name := range candidates {
		fields = append(fields, hfield{name, "v"})
	}
	h1 := string(s.appendH1Head(nil, &reqHead{fields: fields}, st, &fwdIn{}))
	rec := httptest.NewRecorder()
	k := &httpSink{w: rec}
	_ = k.header(&respHead{code: 200, fields: fields}, "", "1.1 p")
	for _, name := range candidates {
		want := hopField(name)
		if got := rt.out.Header.Get(name) == ""; got != want {
			t.Errorf("%s: ReverseProxy request drops it: %v; hopField: %v", name, got, want)
		}
		if got := w.Header().Get(name) == ""; got != want {
			t.Errorf("%s: ReverseProxy response drops it: %v; hopField: %v", name, got, want)
		}
		if got := !strings.Contains(head, name+": "); got != want {
			t.Errorf("%s: net/http request head drops it: %v", name, got)
		}
		if got := !strings.Contains(h1, name+": "); got != want {
			t.Errorf("%s: HTTP/1 loop request head drops it: %v", name, got)
		}
		if got := rec.Header().Get(name) == ""; got != want {
			t.Errorf("%s: forwarded response drops it: %v", name, got)
		}
		for _, v := range []string{strings.ToLower(name), strings.ToUpper(name)} {
			if hopField(v) != want {
				t.Errorf("hopField(%q) = %v", v, !want)
			}
		}
	}
}

// TestSlowResponseHead: a response head that arrives in parts has until
// the response header timeout (60 s) to be whole, not the one second after
// which the HTTP/1 loop starts watching its client (a 2 MiB head read on a
// loaded machine took longer and got 504).
func TestSlowResponseHead(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	testkit.ServeConns(t, ln, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			r, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if r.URL.Path != "/slow" {
				io.WriteString(c, okResponse("ok"))
				continue
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Part: 1\r\n")
			time.Sleep(1300 * time.Millisecond)
			io.WriteString(c, "Content-Length: 2\r\n\r\nok")
		}
	})
	px := leanServer(t, "http://"+ln.Addr().String())
	resp, body := doReq(t, &http.Client{Timeout: 10 * time.Second}, http.MethodGet, px+"/slow", nil)
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("%d %q, want 200 ok", resp.StatusCode, body)
	}
}
