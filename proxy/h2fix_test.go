package proxy

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/keybridge/keybridge/internal/testkit"
)

// stallBackend answers GET /stall with a response head announcing a body
// it never sends, and reports on closed when the proxy closes that
// connection; anything else (health checks) gets 200.
func stallBackend(t *testing.T) (addr string, closed <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 1)
	testkit.ServeConns(t, ln, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		br := bufio.NewReader(c)
		for {
			r, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if r.URL.Path != "/stall" {
				_, _ = io.WriteString(c, okResponse("ok"))
				continue
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
			// Nothing more: wait for the proxy to give up.
			_, _ = io.Copy(io.Discard, br)
			done <- struct{}{}
			return
		}
	})
	return "http://" + ln.Addr().String(), done
}

// A client that resets its stream just as the backend's response head has
// been passed on, before the relay lifts the head's read deadline to read
// the body, gets the backend connection cut all the same: lifting the
// deadline undid the cut the reset made, and the handler then waited on a
// backend that sent nothing more, holding its connection.
func TestH2ResetAtResponseHead(t *testing.T) {
	be, closed := stallBackend(t)
	reset := make(chan struct{})
	var once sync.Once
	testHookRelayHead = func(st *reqState) {
		first := false
		once.Do(func() { first = true })
		if !first {
			return
		}
		// Hold the relay here until the client's reset has been read.
		<-reset
		for i := 0; i < 500 && !st.watch.gone(); i++ {
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Cleanup(func() { testHookRelayHead = nil })
	r := h2Proxy(t, be)
	c := dialH2(t, r.addrs["https"])
	id := c.request("GET", "/stall", true)
	if _, _, err := c.readFrames(5*time.Second, func(rs map[uint32]*response, _ *http2.GoAwayFrame) bool {
		return rs[id] != nil && rs[id].status != ""
	}); err != nil {
		t.Fatalf("no response head: %v", err)
	}
	if err := c.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
		t.Fatal(err)
	}
	close(reset)
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("the backend connection stayed open after the client reset the stream")
	}
	// The connection serves on.
	next := c.request("GET", "/next", true)
	rs, _, err := c.readFrames(5*time.Second, allDone(1))
	if err != nil || rs[next] == nil || rs[next].status != "200" {
		t.Fatalf("the next request: %+v %v", rs[next], err)
	}
	if f := r.s.clusters[0].backends[0].failures.Load(); f != 0 {
		t.Errorf("the client's reset charged the backend %d failures", f)
	}
}

// A request body followed by trailers (a HEADERS frame with END_STREAM
// after the DATA) reaches an HTTP/1.1 backend chunked, with the trailers
// the request declared in its Trailer field; undeclared ones, and fields
// that may not be trailers, are dropped, as net/http's server drops them.
func TestH2RequestTrailers(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var tr []string
		for k, vv := range r.Trailer {
			tr = append(tr, k+"="+strings.Join(vv, ","))
		}
		sort.Strings(tr)
		fmt.Fprintf(w, "body=%s te=%q trailer=%s", b, r.TransferEncoding, strings.Join(tr, ";"))
	}))
	t.Cleanup(be.Close)
	for _, tc := range []struct {
		unbuffered bool
		length     bool // the request has a Content-Length
		want       string
	}{
		{false, false, `body=hello te=["chunked"] trailer=X-Checksum=abc;X-Other=1,2`},
		{true, false, `body=hello te=["chunked"] trailer=X-Checksum=abc;X-Other=1,2`},
		// A body of known length goes with it: no place for trailers.
		{false, true, `body=hello te=[] trailer=`},
		{true, true, `body=hello te=[] trailer=`},
	} {
		r := h2Proxy(t, be.URL, func(c *Config) { c.UnbufferedRequests = tc.unbuffered })
		c := dialH2(t, r.addrs["https"])
		kv := []string{"te", "trailers", "trailer", "X-Checksum, Content-Length, X-Other"}
		if tc.length {
			kv = append(kv, "content-length", "5")
		}
		id := c.request("POST", "/grpc", false, kv...)
		_ = c.fr.WriteData(id, false, []byte("hello"))
		c.hbuf.Reset()
		for _, kv := range [][2]string{{"x-checksum", "abc"}, {"x-undeclared", "no"}, {"content-length", "5"}, {"x-other", "1"}, {"x-other", "2"}} {
			_ = c.enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
		}
		_ = c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(), EndStream: true, EndHeaders: true})
		rs, _, err := c.readFrames(5*time.Second, allDone(1))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(rs[id].body); rs[id].status != "200" || got != tc.want {
			t.Errorf("unbuffered %v, length %v: %s %q, want %q", tc.unbuffered, tc.length, rs[id].status, got, tc.want)
		}
	}
}

// The reading goroutine never waits for a window: an answer the proxy
// gives itself (here /healthz) while a download takes the connection's
// window as the client opens it goes out when it can, and meanwhile the
// client's frames (PING, the WINDOW_UPDATE that opens the window) are
// read. The reader checked the windows, then sent the answer: a handler
// that took the window in between left it waiting on the window that only
// the frames it no longer read could open.
func TestH2ReaderNeverWaitsOnWindow(t *testing.T) {
	big := strings.Repeat("b", 4<<20)
	be := rawBackend(t, func(r *http.Request, _ int) (string, bool) { return okResponse(big), false })
	r := h2Proxy(t, be)
	c := dialH2(t, r.addrs["https"], http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30})
	acks := make(chan [8]byte, 16)
	go func() {
		fr := http2.NewFramer(io.Discard, c.conn)
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				close(acks)
				return
			}
			if p, ok := f.(*http2.PingFrame); ok && p.IsAck() {
				acks <- p.Data
			}
		}
	}()
	c.batch()
	for i := 0; i < 16; i++ {
		c.request("GET", "/big", true)
	}
	c.flush()
	time.Sleep(100 * time.Millisecond) // the downloads take the connection's window
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < 3000 && time.Now().Before(deadline); i++ {
		_ = c.fr.WriteWindowUpdate(0, 200)
		c.request("GET", "/healthz", true)
		_ = c.fr.WritePing(false, [8]byte{byte(i)})
		c.flush()
		select {
		case d, ok := <-acks:
			if !ok {
				t.Fatalf("round %d: the connection closed", i)
			}
			if d[0] != byte(i) {
				t.Fatalf("round %d: PING %d acknowledged", i, d[0])
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("round %d: no PING acknowledgement: the reader waits", i)
		}
	}
}

// Every way the proxy ends a connection on an error tells the client why
// first: a GOAWAY with the error's code and the last stream it opened,
// read here from the socket before it closes.
func TestH2GoAwayOnConnectionError(t *testing.T) {
	r := h2Proxy(t, pathBackend(t), func(c *Config) { c.IdleTimeout = 300 * time.Millisecond })
	addr := r.addrs["https"]
	for _, tc := range []struct {
		name string
		code http2.ErrCode
		// send provokes the error after stream 1 was answered (last 1),
		// or from the start (last 0).
		last uint32
		send func(c *h2Client)
	}{
		{"bad preface", http2.ErrCodeProtocol, 0, nil},
		{"framer error", http2.ErrCodeFrameSize, 1, func(c *h2Client) {
			_ = c.fr.WriteRawFrame(http2.FrameSettings, 0, 0, make([]byte, 5)) // not a multiple of 6
		}},
		{"process error", http2.ErrCodeProtocol, 1, func(c *h2Client) {
			_ = c.fr.WriteWindowUpdate(99, 1) // on a stream not yet opened
		}},
		{"frame too large", http2.ErrCodeFrameSize, 1, func(c *h2Client) {
			// A frame over the proxy's SETTINGS_MAX_FRAME_SIZE, whose
			// payload the proxy does not read.
			_ = c.fr.WriteRawFrame(http2.FrameData, 0, 1, make([]byte, 64<<10))
		}},
		{"frame too large, more coming", http2.ErrCodeFrameSize, 1, func(c *h2Client) {
			// The client goes on sending: the proxy closes with data
			// unread, which makes its kernel send a reset.
			c.quiet = true
			go func() {
				_ = c.conn.SetWriteDeadline(time.Now().Add(3 * time.Second))
				hdr := []byte{0x40, 0, 0, byte(http2.FrameData), 0, 0, 0, 0, 1} // 4 MiB of DATA
				_, _ = c.conn.Write(append(hdr, make([]byte, 4<<20)...))
			}()
		}},
		{"idle timeout", http2.ErrCodeNo, 1, func(c *h2Client) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c *h2Client
			if tc.send == nil {
				conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { conn.Close() })
				c = &h2Client{t: t, conn: conn, fr: http2.NewFramer(conn, conn)}
				c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
				_, _ = io.WriteString(conn, "PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
			} else {
				c = dialH2(t, addr)
				id := c.request("GET", "/", true)
				if rs, _, err := c.readFrames(5*time.Second, allDone(1)); err != nil || rs[id].status != "200" {
					t.Fatalf("first request: %v", err)
				}
				tc.send(c)
			}
			_, ga, err := c.readFrames(5*time.Second, func(_ map[uint32]*response, ga *http2.GoAwayFrame) bool { return ga != nil })
			if ga == nil {
				t.Fatalf("no GOAWAY: %v", err)
			}
			if ga.ErrCode != tc.code || ga.LastStreamID != tc.last {
				t.Errorf("GOAWAY %v, last stream %d; want %v, %d", ga.ErrCode, ga.LastStreamID, tc.code, tc.last)
			}
		})
	}
}

// Trailers that arrive for a stream the proxy has already answered and
// reset (a refused upload, answered before its body ended) are a frame on
// a closed stream (RFC 9113 5.1): that stream's error, not the
// connection's. They were taken for a new stream numbered below the last,
// and the connection, with every other stream on it, was closed.
func TestH2TrailersAfterAnswer(t *testing.T) {
	r := h2Proxy(t, pathBackend(t))
	c := dialH2(t, r.addrs["https"])
	refused := c.request("TRACE", "/", false) // 405, before its body
	rs, _, err := c.readFrames(5*time.Second, allDone(1))
	if err != nil || rs[refused].status != "405" {
		t.Fatalf("refused upload: %+v %v", rs[refused], err)
	}
	_ = c.fr.WriteData(refused, false, []byte("late"))
	c.hbuf.Reset()
	_ = c.enc.WriteField(hpack.HeaderField{Name: "x-checksum", Value: "abc"})
	_ = c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: refused, BlockFragment: c.hbuf.Bytes(), EndStream: true, EndHeaders: true})
	next := c.request("GET", "/next", true)
	rs, ga, err := c.readFrames(5*time.Second, func(rs map[uint32]*response, ga *http2.GoAwayFrame) bool {
		return ga != nil || rs[next] != nil && rs[next].done
	})
	if ga != nil {
		t.Fatalf("GOAWAY %v after trailers on a stream already answered", ga.ErrCode)
	}
	if err != nil || rs[next].status != "200" {
		t.Fatalf("the next request: %+v %v", rs[next], err)
	}
}

// A client that opens streams with Expect: 100-continue and resets them,
// reading nothing, makes the proxy queue a 100 Continue for each: these
// count as the frames a client makes the proxy owe it (h2MaxControl), and
// the connection is cut (ENHANCE_YOUR_CALM) instead of the queue growing
// without end while the writer waits on the client.
func TestH2ContinueFlood(t *testing.T) {
	if raceEnabled {
		t.Skip("run without -race") // tens of thousands of streams
	}
	big := strings.Repeat("b", 16<<20)
	r := h2Proxy(t, rawBackend(t, func(*http.Request, int) (string, bool) { return okResponse(big), false }))
	d := net.Dialer{Control: smallRcvBuf} // the proxy's writes stop early
	conn, err := tls.DialWithDialer(&d, "tcp", r.addrs["https"], &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &h2Client{t: t, conn: conn, next: 1}
	c.enc = hpack.NewEncoder(&c.hbuf)
	c.batch()
	_, _ = c.out.WriteString(http2.ClientPreface)
	_ = c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
	_ = c.fr.WriteWindowUpdate(0, 1<<31-1-65535)
	c.request("GET", "/big", true) // fills the socket: the writer waits
	c.flush()
	time.Sleep(200 * time.Millisecond)
	const n = 3 * h2MaxControl
	sent := 0
	for sent < n {
		// Batches one TLS record carries, under the new-streams rule.
		for i := 0; i < 200; i++ {
			_ = c.fr.WriteRSTStream(c.request("POST", "/up", false, "content-length", "1", "expect", "100-continue"), http2.ErrCodeCancel)
		}
		_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write(c.out.Bytes()); err != nil {
			break // the proxy closed
		}
		c.out.Reset()
		sent += 200
		time.Sleep(2 * time.Millisecond) // the handlers of the streams reset keep up
	}
	continues := 0
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	fr := http2.NewFramer(io.Discard, conn)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			if continues >= sent || isTimeout(err) {
				t.Fatalf("%d streams sent, %d 100 Continue read, then %v", sent, continues, err)
			}
			return // closed, the GOAWAY lost with what the client left unread
		}
		switch f := f.(type) {
		case *http2.HeadersFrame:
			if continues++; continues > sent {
				t.Fatalf("%d streams sent, every 100 Continue queued", sent)
			}
		case *http2.GoAwayFrame:
			if f.ErrCode != http2.ErrCodeEnhanceYourCalm {
				t.Fatalf("GOAWAY %v after %d streams", f.ErrCode, sent)
			}
			return
		}
	}
}

// smallRcvBuf gives a socket a receive buffer of 4 KiB (a net.Dialer's or
// net.ListenConfig's Control): what is sent to it stops early.
func smallRcvBuf(_, _ string, rc syscall.RawConn) error {
	return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
}

// A GOAWAY for an error after the graceful one of a drain names the same
// last stream, not the higher ones the client opened meanwhile, which the
// proxy ignored (RFC 9113 6.8: the last stream identifier must not grow):
// else the client takes them for served and does not retry them.
func TestH2GoAwayLastStreamStays(t *testing.T) {
	be := rawBackend(t, func(r *http.Request, _ int) (string, bool) {
		time.Sleep(time.Second)
		return okResponse("slow"), false
	})
	r := h2Proxy(t, be)
	c := dialH2(t, r.addrs["https"])
	c.quiet = true
	id := c.request("GET", "/slow", true)
	time.Sleep(100 * time.Millisecond)
	go func() { _ = r.stop() }()
	_, ga, err := c.readFrames(5*time.Second, func(_ map[uint32]*response, ga *http2.GoAwayFrame) bool { return ga != nil })
	if ga == nil || ga.ErrCode != http2.ErrCodeNo || ga.LastStreamID != id {
		t.Fatalf("drain: GOAWAY %+v (%v)", ga, err)
	}
	c.request("GET", "/late", true)   // not served: after the GOAWAY
	_ = c.fr.WriteWindowUpdate(99, 1) // a connection error
	_, ga, err = c.readFrames(5*time.Second, func(_ map[uint32]*response, ga *http2.GoAwayFrame) bool { return ga != nil })
	if ga == nil || ga.ErrCode != http2.ErrCodeProtocol {
		t.Fatalf("after the error: GOAWAY %+v (%v)", ga, err)
	}
	if ga.LastStreamID != id {
		t.Errorf("the second GOAWAY names stream %d as the last, the first %d", ga.LastStreamID, id)
	}
}
