package proxy

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Client speaks raw HTTP/2 frames to the proxy.
type h2Client struct {
	t    *testing.T
	conn *tls.Conn
	fr   *http2.Framer
	out  bytes.Buffer // frames batched by the writer
	enc  *hpack.Encoder
	hbuf bytes.Buffer
	next uint32
	// quiet: readFrames writes nothing (another goroutine writes).
	quiet bool
}

// dialH2 opens an HTTP/2 connection: preface and SETTINGS (settings are
// the client's), frames written at once unless batched.
func dialH2(t *testing.T, addr string, settings ...http2.Setting) *h2Client {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN %q", p)
	}
	c := &h2Client{t: t, conn: conn, next: 1}
	c.fr = http2.NewFramer(conn, conn)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.enc = hpack.NewEncoder(&c.hbuf)
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := c.fr.WriteSettings(settings...); err != nil {
		t.Fatal(err)
	}
	return c
}

// batch makes the framer write into c.out until flush sends it in one write.
func (c *h2Client) batch() {
	c.fr = http2.NewFramer(&c.out, c.conn)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
}

func (c *h2Client) flush() {
	if _, err := c.conn.Write(c.out.Bytes()); err != nil {
		c.t.Fatal(err)
	}
	c.out.Reset()
}

// request opens a stream with the fields given as name, value pairs after
// the pseudo-headers of a GET (or method) of path.
func (c *h2Client) request(method, path string, end bool, kv ...string) uint32 {
	c.hbuf.Reset()
	fields := append([]string{":method", method, ":scheme", "https", ":authority", "h2.example", ":path", path}, kv...)
	for i := 0; i+1 < len(fields); i += 2 {
		_ = c.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	id := c.next
	c.next += 2
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(), EndStream: end, EndHeaders: true}); err != nil {
		c.t.Fatal(err)
	}
	return id
}

// response is what one stream received.
type response struct {
	status string
	body   []byte
	reset  http2.ErrCode
	done   bool
}

// readFrames reads frames until stop says so or the connection ends; it
// returns the streams' responses and the GOAWAY, if any.
func (c *h2Client) readFrames(d time.Duration, stop func(map[uint32]*response, *http2.GoAwayFrame) bool) (map[uint32]*response, *http2.GoAwayFrame, error) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	rs := map[uint32]*response{}
	var ga *http2.GoAwayFrame
	get := func(id uint32) *response {
		if rs[id] == nil {
			rs[id] = &response{}
		}
		return rs[id]
	}
	for !stop(rs, ga) {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return rs, ga, err
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			r := get(f.StreamID)
			if s := f.PseudoValue("status"); s != "" && s[0] != '1' {
				r.status = s
			}
			r.done = r.done || f.StreamEnded()
		case *http2.DataFrame:
			r := get(f.StreamID)
			r.body = append(r.body, f.Data()...)
			r.done = r.done || f.StreamEnded()
		case *http2.RSTStreamFrame:
			r := get(f.StreamID)
			r.reset, r.done = f.ErrCode, true
		case *http2.GoAwayFrame:
			ga = f
		case *http2.SettingsFrame:
			if !f.IsAck() && !c.quiet {
				_ = c.fr.WriteSettingsAck()
			}
		}
	}
	return rs, ga, nil
}

// h2Proxy is a proxy with an HTTPS listener in front of backend.
func h2Proxy(t *testing.T, backend string, mod ...func(*Config)) *running {
	t.Helper()
	ca := newTestCA(t)
	cert := ca.leaf(t, "localhost")
	cc := oneCluster(backend)
	cc[0].Health.Interval = time.Hour
	cfg := Config{ListenHTTPS: "127.0.0.1:0", Certificate: func() (*tls.Certificate, error) { return cert, nil }, Clusters: cc}
	for _, m := range mod {
		m(&cfg)
	}
	return startServer(t, cfg)
}

func allDone(n int) func(map[uint32]*response, *http2.GoAwayFrame) bool {
	return func(rs map[uint32]*response, _ *http2.GoAwayFrame) bool {
		k := 0
		for _, r := range rs {
			if r.done {
				k++
			}
		}
		return k >= n
	}
}

// Requests on one connection reach the backend with the HTTP/1 loop's head
// rules and come back whole: many streams at once, a POST body, a HEAD.
func TestH2Requests(t *testing.T) {
	r := h2Proxy(t, pathBackend(t))
	c := dialH2(t, r.addrs["https"])
	c.batch()
	var ids []uint32
	for i := 0; i < 40; i++ {
		ids = append(ids, c.request("GET", "/s"+string(rune('a'+i%26)), true))
	}
	post := c.request("POST", "/up", false, "content-length", "5")
	_ = c.fr.WriteData(post, true, []byte("hello"))
	head := c.request("HEAD", "/h", true)
	c.flush()
	rs, _, err := c.readFrames(5*time.Second, allDone(42))
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if got, want := string(rs[id].body), "GET /s"+string(rune('a'+i%26)); rs[id].status != "200" || got != want {
			t.Errorf("stream %d: %s %q, want 200 %q", id, rs[id].status, got, want)
		}
	}
	if got := string(rs[post].body); rs[post].status != "200" || got != "POST /up" {
		t.Errorf("POST: %s %q", rs[post].status, got)
	}
	if rs[head].status != "200" || len(rs[head].body) != 0 {
		t.Errorf("HEAD: %s %q", rs[head].status, rs[head].body)
	}
}

// Response DATA keeps to the client's windows: with an initial stream
// window of 100 bytes, 100 bytes come, then the rest after a
// WINDOW_UPDATE.
func TestH2FlowControl(t *testing.T) {
	body := strings.Repeat("x", 1000)
	be := rawBackend(t, func(*http.Request, int) (string, bool) { return okResponse(body), false })
	r := h2Proxy(t, be)
	c := dialH2(t, r.addrs["https"], http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100})
	id := c.request("GET", "/", true)
	rs, _, err := c.readFrames(5*time.Second, func(rs map[uint32]*response, _ *http2.GoAwayFrame) bool {
		return rs[id] != nil && len(rs[id].body) >= 100
	})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing more may come until the window opens.
	more, _, err := c.readFrames(300*time.Millisecond, func(rs map[uint32]*response, _ *http2.GoAwayFrame) bool {
		return rs[id] != nil && len(rs[id].body) > 0
	})
	if err == nil || len(rs[id].body) != 100 {
		t.Fatalf("got %d bytes, then %v more (err %v): the window is 100", len(rs[id].body), more[id], err)
	}
	c2 := dialAgain(t, c)
	_ = c2.fr.WriteWindowUpdate(id, 2000)
	rs, _, err = c2.readFrames(5*time.Second, allDone(1))
	if err != nil || len(rs[id].body) != 900 || !rs[id].done {
		t.Fatalf("after the update: %d bytes, done %v, err %v", len(rs[id].body), rs[id].done, err)
	}
}

// dialAgain continues on c's connection after a read that timed out (TLS
// reads that time out leave the connection usable once the deadline moves).
func dialAgain(t *testing.T, c *h2Client) *h2Client {
	_ = c.conn.SetReadDeadline(time.Time{})
	return c
}

// Streams over SETTINGS_MAX_CONCURRENT_STREAMS are refused, and a client
// that goes on opening them gets GOAWAY, as nginx answers it.
func TestH2TooManyStreams(t *testing.T) {
	r := h2Proxy(t, pathBackend(t))
	c := dialH2(t, r.addrs["https"])
	c.batch()
	// Uploads whose bodies never come: each holds its stream open.
	for i := 0; i < h2MaxStreams+h2MaxRefused+10; i++ {
		c.request("POST", "/", false, "content-length", "10")
	}
	c.flush()
	refused := 0
	rs, ga, err := c.readFrames(10*time.Second, func(_ map[uint32]*response, ga *http2.GoAwayFrame) bool { return ga != nil })
	for _, x := range rs {
		if x.reset == http2.ErrCodeRefusedStream {
			refused++
		}
	}
	if ga == nil {
		t.Fatalf("no GOAWAY (err %v); %d streams refused", err, refused)
	}
	if refused != h2MaxRefused || ga.ErrCode != http2.ErrCodeNo {
		t.Errorf("%d streams refused, GOAWAY %v; want %d, NO_ERROR", refused, ga.ErrCode, h2MaxRefused)
	}
}

// Opening streams and resetting them at once (rapid reset) charges no
// backend, keeps /healthz green and leaves the proxy serving.
func TestH2RapidReset(t *testing.T) {
	var hits atomic.Int64
	be := rawBackend(t, func(r *http.Request, _ int) (string, bool) {
		hits.Add(1)
		time.Sleep(50 * time.Millisecond)
		return okResponse("ok"), false
	})
	r := h2Proxy(t, be)
	c := dialH2(t, r.addrs["https"])
	c.batch()
	const n = 2000
	for i := 0; i < n; i++ {
		_ = c.fr.WriteRSTStream(c.request("GET", "/", true), http2.ErrCodeCancel)
		if c.out.Len() > 32<<10 {
			c.flush()
		}
	}
	c.flush()
	// Then a request that must be answered, unless the connection was
	// closed for it.
	last := c.request("GET", "/last", true)
	c.flush()
	rs, ga, err := c.readFrames(10*time.Second, func(rs map[uint32]*response, ga *http2.GoAwayFrame) bool {
		return ga != nil || rs[last] != nil && rs[last].done
	})
	if ga == nil && (err != nil || rs[last].status != "200") {
		t.Fatalf("after %d resets: no answer and no GOAWAY (%v)", n, err)
	}
	b := r.s.clusters[0].backends[0]
	if f := b.failures.Load(); f != 0 || !r.s.anyHealthy() {
		t.Errorf("backend charged %d failures, healthy %v", f, r.s.anyHealthy())
	}
	if h := hits.Load(); h > n/2 {
		t.Errorf("%d of %d reset requests reached the backend", h, n)
	}
	c2 := dialH2(t, r.addrs["https"])
	id := c2.request("GET", "/after", true)
	rs, _, err = c2.readFrames(5*time.Second, allDone(1))
	if err != nil || rs[id].status != "200" {
		t.Fatalf("a new connection after the resets: %v %v", rs[id], err)
	}
}

// A header block that goes on in CONTINUATION frames past the header list
// limit ends the connection with GOAWAY; the proxy does not read it all.
func TestH2ContinuationFlood(t *testing.T) {
	r := h2Proxy(t, pathBackend(t), func(c *Config) { c.MaxHeaderBytes = 16 << 10 })
	c := dialH2(t, r.addrs["https"])
	c.quiet = true
	c.hbuf.Reset()
	for _, kv := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "h2.example"}, {":path", "/"}} {
		_ = c.enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	_ = c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: c.hbuf.Bytes()})
	sent := 0
	done := make(chan error, 1)
	go func() {
		_, ga, err := c.readFrames(10*time.Second, func(_ map[uint32]*response, ga *http2.GoAwayFrame) bool { return ga != nil })
		if ga == nil {
			done <- err
			return
		}
		done <- nil
	}()
	var frag bytes.Buffer
	enc := hpack.NewEncoder(&frag)
	for frag.Len() < 15<<10 {
		_ = enc.WriteField(hpack.HeaderField{Name: "x-flood", Value: strings.Repeat("a", 100)})
	}
	for i := 0; i < 1000; i++ {
		if err := c.fr.WriteContinuation(1, false, frag.Bytes()); err != nil {
			break // the proxy closed the connection
		}
		sent++
	}
	if err := <-done; err != nil {
		t.Fatalf("no GOAWAY after %d CONTINUATION frames: %v", sent, err)
	}
	if sent == 1000 {
		t.Errorf("the proxy read all %d CONTINUATION frames (%d MiB)", sent, sent*frag.Len()>>20)
	}
}

// On SIGTERM (the context ends) an HTTP/2 connection is told GOAWAY, its
// request in flight is answered, and then it closes.
func TestH2Drain(t *testing.T) {
	be := rawBackend(t, func(r *http.Request, _ int) (string, bool) {
		time.Sleep(500 * time.Millisecond)
		return okResponse("slow"), false
	})
	r := h2Proxy(t, be)
	c := dialH2(t, r.addrs["https"])
	id := c.request("GET", "/slow", true)
	time.Sleep(100 * time.Millisecond)
	stopped := make(chan error, 1)
	go func() { stopped <- r.stop() }()
	rs, ga, err := c.readFrames(5*time.Second, func(rs map[uint32]*response, ga *http2.GoAwayFrame) bool {
		return ga != nil && rs[id] != nil && rs[id].done
	})
	if ga == nil || ga.ErrCode != http2.ErrCodeNo || ga.LastStreamID != id {
		t.Fatalf("GOAWAY %+v (err %v)", ga, err)
	}
	if string(rs[id].body) != "slow" {
		t.Errorf("in flight: %s %q", rs[id].status, rs[id].body)
	}
	if _, _, err := c.readFrames(5*time.Second, func(map[uint32]*response, *http2.GoAwayFrame) bool { return false }); !errors.Is(err, io.EOF) {
		t.Errorf("connection after the drain: %v, want EOF", err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// --http2-server=net/http hands HTTP/2 to net/http, which answers a
// request with a connection-specific field with 400 where the own path
// resets the stream (RFC 9113 8.2.2: malformed; h2spec 8.1.2.2).
func TestH2ServerSwitch(t *testing.T) {
	for _, tc := range []struct {
		srv  HTTP2Server
		want string
	}{{HTTP2Own, "reset"}, {HTTP2NetHTTP, "400"}} {
		r := h2Proxy(t, pathBackend(t), func(c *Config) { c.HTTP2Server = tc.srv })
		c := dialH2(t, r.addrs["https"])
		c.hbuf.Reset()
		for _, kv := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "h2.example"}, {":path", "/"}, {"connection", "keep-alive"}} {
			_ = c.enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
		}
		_ = c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: c.hbuf.Bytes(), EndStream: true, EndHeaders: true})
		rs, _, err := c.readFrames(5*time.Second, allDone(1))
		if err != nil {
			t.Fatal(err)
		}
		got := rs[1].status
		if rs[1].reset == http2.ErrCodeProtocol {
			got = "reset"
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.srv, got, tc.want)
		}
	}
	cert := newTestCA(t).leaf(t, "localhost")
	if _, err := New(Config{ListenHTTPS: ":0", HTTP2Server: "h2o", Certificate: func() (*tls.Certificate, error) { return cert, nil },
		Clusters: oneCluster("http://127.0.0.1:1")}, nil); err == nil || !strings.Contains(err.Error(), "http2 server") {
		t.Errorf("unknown HTTP2Server: %v", err)
	}
}

// Expect: 100-continue is answered by the proxy, which reads the body
// before a backend is asked: the backend sees neither the Expect field
// nor a wait.
func TestH2ExpectContinue(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, "expect="+r.Header.Get("Expect")+" body="+string(b))
	}))
	t.Cleanup(be.Close)
	r := h2Proxy(t, be.URL)
	c := dialH2(t, r.addrs["https"])
	id := c.request("POST", "/", false, "content-length", "2", "expect", "100-continue")
	var got100 bool
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for !got100 {
		f, err := c.fr.ReadFrame()
		if err != nil {
			t.Fatalf("no 100 Continue: %v", err)
		}
		if h, ok := f.(*http2.MetaHeadersFrame); ok && h.StreamID == id {
			if h.PseudoValue("status") != "100" {
				t.Fatalf("status %s before the body was sent", h.PseudoValue("status"))
			}
			got100 = true
		}
	}
	_ = c.fr.WriteData(id, true, []byte("hi"))
	rs, _, err := c.readFrames(5*time.Second, allDone(1))
	if err != nil || rs[id].status != "200" || string(rs[id].body) != "expect= body=hi" {
		t.Fatalf("%+v %v", rs[id], err)
	}
}

// Bodies larger than every window, both ways, through Go's own HTTP/2
// client: a 3 MiB upload (past the in-memory buffer, into the temporary
// file) and a 2 MiB download (past the client's 4 MiB connection window
// only after WINDOW_UPDATEs on the stream).
func TestH2LargeBodies(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Got", strconv.FormatInt(n, 10))
		_, _ = w.Write(bytes.Repeat([]byte("d"), 2<<20))
	}))
	t.Cleanup(be.Close)
	ca := newTestCA(t)
	cert := ca.leaf(t, "localhost")
	cc := oneCluster(be.URL)
	cc[0].Health.Interval = time.Hour
	for _, unbuffered := range []bool{false, true} {
		r := startServer(t, Config{ListenHTTPS: "127.0.0.1:0", Certificate: func() (*tls.Certificate, error) { return cert, nil },
			Clusters: cc, UnbufferedRequests: unbuffered})
		c := clientFor(ca)
		for _, size := range []int{0, 1, 3 << 20} {
			for _, known := range []bool{true, false} {
				var body io.Reader = bytes.NewReader(bytes.Repeat([]byte("u"), size))
				if !known {
					body = io.MultiReader(body) // no length: none is sent
				}
				resp, err := c.Post("https://"+r.addrs["https"]+"/big", "application/octet-stream", body)
				if err != nil {
					t.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.ProtoMajor != 2 || resp.StatusCode != 200 || n != 2<<20 || resp.Header.Get("X-Got") != strconv.Itoa(size) {
					t.Errorf("unbuffered %v, upload of %d (length known %v): %s %d, backend got %s, %d bytes back (%v)",
						unbuffered, size, known, resp.Proto, resp.StatusCode, resp.Header.Get("X-Got"), n, err)
				}
			}
		}
	}
}

// More new streams than twice the stream limit in what one read brings
// (here one TLS record of HEADERS+RST_STREAM pairs) are refused, as nginx
// refuses them, though none stays open.
func TestH2StreamsAtOnce(t *testing.T) {
	r := h2Proxy(t, pathBackend(t))
	conn, err := tls.Dial("tcp", r.addrs["https"], &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"},
		DynamicRecordSizingDisabled: true}) // full 16 KiB records from the start
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &h2Client{t: t, conn: conn, next: 1}
	c.enc = hpack.NewEncoder(&c.hbuf)
	c.batch()
	_, _ = c.out.WriteString(http2.ClientPreface)
	_ = c.fr.WriteSettings()
	c.flush()
	c.batch()
	const n = 2*h2MaxStreams + 40
	for i := 0; i < n; i++ {
		_ = c.fr.WriteRSTStream(c.request("GET", "/", true), http2.ErrCodeCancel)
	}
	if c.out.Len() > 16<<10 {
		t.Fatalf("%d bytes: more than one TLS record", c.out.Len())
	}
	c.flush()
	last := c.request("GET", "/last", true)
	c.flush()
	rs, _, err := c.readFrames(10*time.Second, func(rs map[uint32]*response, _ *http2.GoAwayFrame) bool {
		return rs[last] != nil && rs[last].done
	})
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	for _, x := range rs {
		if x.reset == http2.ErrCodeRefusedStream {
			refused++
		}
	}
	if refused != n-h2NewStreamsAtOnce || rs[last].status != "200" {
		t.Errorf("%d of %d streams refused, then %q; want %d, then 200", refused, n, rs[last].status, n-h2NewStreamsAtOnce)
	}
}
