package proxy

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// FuzzH2Conn feeds frame sequences made from the fuzzer's bytes (through
// x/net's Framer and HPACK, so mostly well formed) to the own HTTP/2 path
// over loopback TLS, in front of a backend that answers at once, slowly, or
// with a body larger than the windows. Whatever comes, the proxy must not
// panic (a panic ends the test binary), must answer a PING or end the
// connection within a bounded time (its reader never stalls), and once the
// client has gone, none of the connection's goroutines may be left.
func FuzzH2Conn(f *testing.F) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		switch {
		case strings.HasPrefix(r.URL.Path, "/slow"):
			time.Sleep(30 * time.Millisecond)
		case strings.HasPrefix(r.URL.Path, "/big"):
			w.Header().Set("Content-Length", "300000")
			_, _ = w.Write(bytes.Repeat([]byte("b"), 300000))
			return
		case strings.HasPrefix(r.URL.Path, "/chunked"):
			w.Header().Set("Trailer", "X-T")
			_, _ = w.Write([]byte("part"))
			w.(http.Flusher).Flush()
			w.Header().Set("X-T", "t")
		}
		_, _ = io.WriteString(w, r.Method+" "+r.URL.RequestURI()+" "+strconv.FormatInt(n, 10))
	}))
	f.Cleanup(be.Close)
	ca := newTestCA(f)
	cert := ca.leaf(f, "localhost")
	cc := oneCluster(be.URL)
	cc[0].Health.Interval = time.Hour
	r := startServerB(f, Config{ListenHTTPS: "127.0.0.1:0", Clusters: cc,
		Certificate: func() (*tls.Certificate, error) { return cert, nil },
		// Short, so that a stalled body or a closed window ends quickly.
		BodyTimeout: time.Second, WriteTimeout: 2 * time.Second})
	addr := r.addrs["https"]
	for _, seed := range h2FuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h2FuzzOne(t, addr, data)
	})
}

// h2FuzzSeeds: sequences that reach the paths a reviewer would aim at.
func h2FuzzSeeds() [][]byte {
	return [][]byte{
		{},
		// GETs, a POST with its body, a reset mid-forward.
		{0, 0, 0, 0, 0, 1, 0, 0x10, 1, 2, 2, 0, 8},
		// WINDOW_UPDATE to 2^31-1 on the connection and a stream.
		{0, 0, 3, 0, 0xff, 0xff, 0xff, 0x7f, 3, 1, 0xff, 0xff, 0xff, 0x7f, 3, 1, 0xff, 0xff, 0xff, 0x7f},
		// SETTINGS_INITIAL_WINDOW_SIZE 0 then large, streams with big bodies.
		{4, 4, 0, 0, 0, 0, 0, 4, 0, 0, 0, 4, 4, 0xff, 0xff, 0xff, 0x7f, 3, 1, 9, 9, 9, 0},
		// A request with a body then RST_STREAM, then a new stream.
		{0, 0x21, 0, 1, 1, 0x40, 2, 1, 8, 0, 0, 0},
		// CONTINUATION flood start, then a PING.
		{7, 1, 7, 1, 7, 1, 5, 0},
		// GOAWAY from the client with streams in flight.
		{0, 4, 0, 4, 0, 4, 8, 0, 1, 0},
		// Raw frames of unknown and known types.
		{9, 0, 0, 1, 0, 9, 0xff, 0, 0, 9, 8, 0, 0, 4, 1, 2, 3, 4},
		// Trailers on a request body, padding, priority loops.
		{0, 0x21, 1, 1, 1, 0x20, 10, 1, 6, 1, 1},
	}
}

// h2FuzzOne runs one input on a new connection.
func h2FuzzOne(t *testing.T, addr string, data []byte) {
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The proxy's frames are read all along (else its writes would wait
	// on the client), watching for the final PING's acknowledgement.
	pong := make(chan error, 1)
	go func() {
		fr := http2.NewFramer(io.Discard, conn)
		fr.SetMaxReadFrameSize(1 << 24)
		for {
			f, err := fr.ReadFrame()
			var ce http2.ConnectionError
			if errors.As(err, &ce) || errors.Is(err, http2.ErrFrameTooLarge) {
				pong <- err // the proxy sent what the client cannot read
				return
			}
			if err != nil {
				var se http2.StreamError
				if errors.As(err, &se) {
					continue
				}
				pong <- nil // the connection ended
				return
			}
			if p, ok := f.(*http2.PingFrame); ok && p.IsAck() && p.Data == h2FuzzPing {
				pong <- nil
				return
			}
		}
	}()
	g := h2Gen{data: data}
	var out bytes.Buffer
	g.fr = http2.NewFramer(&out, nil)
	g.fr.AllowIllegalWrites = true
	g.enc = hpack.NewEncoder(&g.hbuf)
	out.WriteString(http2.ClientPreface)
	g.settings()
	send := func() bool {
		_ = conn.SetWriteDeadline(time.Now().Add(3 * time.Second))
		_, err := conn.Write(out.Bytes())
		out.Reset()
		return err == nil
	}
	for steps := 0; g.more() && steps < 200; steps++ {
		g.step()
		if out.Len() > 32<<10 && !send() {
			break
		}
	}
	_ = g.fr.WritePing(false, h2FuzzPing)
	if send() {
		select {
		case err := <-pong:
			if err != nil {
				t.Fatalf("the proxy sent a frame its client cannot read: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the proxy neither answered PING nor ended the connection in 5s")
		}
	}
	conn.Close()
	h2NoGoroutinesLeft(t, 5*time.Second)
}

var h2FuzzPing = [8]byte{'f', 'u', 'z', 'z', 'p', 'i', 'n', 'g'}

// h2NoGoroutinesLeft waits until no goroutine runs the own HTTP/2 path's
// code for a connection (idle pooled workers hold none) or fails.
func h2NoGoroutinesLeft(t *testing.T, within time.Duration) {
	deadline := time.Now().Add(within)
	for {
		left := h2ConnGoroutines()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of a closed HTTP/2 connection left after %v:\n%s", len(left), within, strings.Join(left, "\n\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// h2Gen makes frames from the fuzzer's bytes.
type h2Gen struct {
	data []byte
	fr   *http2.Framer
	enc  *hpack.Encoder
	hbuf bytes.Buffer
	next uint32 // the next new stream
	open []uint32
}

func (g *h2Gen) more() bool { return len(g.data) > 0 }

func (g *h2Gen) byte() byte {
	if len(g.data) == 0 {
		return 0
	}
	b := g.data[0]
	g.data = g.data[1:]
	return b
}

func (g *h2Gen) u32() uint32 {
	var b [4]byte
	for i := range b {
		b[i] = g.byte()
	}
	return binary.LittleEndian.Uint32(b[:])
}

// stream picks a stream id: mostly one opened, else 0, a new one or any.
func (g *h2Gen) stream() uint32 {
	b := g.byte()
	switch {
	case b < 200 && len(g.open) > 0:
		return g.open[int(b)%len(g.open)]
	case b < 220:
		return 1
	case b < 240:
		return g.next + 2
	case b < 250:
		return 0
	}
	return g.u32() & (1<<31 - 1)
}

func (g *h2Gen) settings() {
	n := int(g.byte() % 4)
	var ss []http2.Setting
	for i := 0; i < n; i++ {
		id := http2.SettingID(1 + g.byte()%6)
		var val uint32
		switch v := g.byte(); {
		case v < 64:
			val = uint32(v)
		case v < 128:
			val = uint32(v) << 8
		case v < 192:
			val = uint32(v) << 16
		default:
			val = g.u32()
		}
		ss = append(ss, http2.Setting{ID: id, Val: val})
	}
	_ = g.fr.WriteSettings(ss...)
}

var h2FuzzPaths = []string{"/", "/slow", "/big", "/chunked", "/health", "*", "http://other/x", "/a%2fb?q=1", "", "/../x"}
var h2FuzzMethods = []string{"GET", "POST", "HEAD", "PUT", "TRACE", "CONNECT", "OPTIONS", ""}
var h2FuzzFields = [][2]string{{"content-length", "5"}, {"content-length", "0"}, {"content-length", "100000"},
	{"expect", "100-continue"}, {"cookie", "KBSRV=x"}, {"te", "trailers"}, {"te", "gzip"}, {"connection", "close"},
	{"host", "h2.example"}, {"host", "other"}, {"x-forwarded-for", "1.2.3.4"}, {"via", "1.1 x"}, {"Upper", "x"},
	{":path", "/dup"}, {":protocol", "websocket"}, {"big", strings.Repeat("v", 5000)}}

// header encodes a request's header block.
func (g *h2Gen) header() []byte {
	g.hbuf.Reset()
	b := g.byte()
	m := h2FuzzMethods[int(b)%len(h2FuzzMethods)]
	p := h2FuzzPaths[int(b>>3)%len(h2FuzzPaths)]
	if m != "" {
		_ = g.enc.WriteField(hpack.HeaderField{Name: ":method", Value: m})
	}
	if b&0x80 == 0 {
		_ = g.enc.WriteField(hpack.HeaderField{Name: ":scheme", Value: "https"})
		_ = g.enc.WriteField(hpack.HeaderField{Name: ":authority", Value: "h2.example"})
	}
	if p != "" {
		_ = g.enc.WriteField(hpack.HeaderField{Name: ":path", Value: p})
	}
	for n := g.byte() % 4; n > 0; n-- {
		kv := h2FuzzFields[int(g.byte())%len(h2FuzzFields)]
		_ = g.enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	return g.hbuf.Bytes()
}

func (g *h2Gen) step() {
	switch op := g.byte() % 12; op {
	case 0: // HEADERS opening a stream (or on one, as trailers)
		flags := g.byte()
		id := g.next*2 + 1
		if flags&0x40 != 0 {
			id = g.stream()
		} else {
			g.next++
			g.open = append(g.open, id)
		}
		p := http2.HeadersFrameParam{StreamID: id, BlockFragment: g.header(), EndStream: flags&1 != 0, EndHeaders: true}
		if flags&0x20 != 0 {
			p.PadLength = flags >> 2
		}
		if flags&0x10 != 0 {
			p.Priority = http2.PriorityParam{StreamDep: g.stream(), Weight: g.byte(), Exclusive: flags&8 != 0}
		}
		_ = g.fr.WriteHeaders(p)
	case 1: // DATA
		id := g.stream()
		flags := g.byte()
		n := int(g.byte()) * int(1+flags&0x1f) * 8
		pad := []byte(nil)
		if flags&0x40 != 0 {
			pad = make([]byte, g.byte())
		}
		_ = g.fr.WriteDataPadded(id, flags&0x80 != 0, bytes.Repeat([]byte("d"), min(n, 16384-len(pad)-1)), pad)
	case 2: // RST_STREAM
		_ = g.fr.WriteRSTStream(g.stream(), http2.ErrCode(g.byte()%14))
	case 3: // WINDOW_UPDATE
		id := g.stream()
		if g.byte()&1 == 0 {
			id = 0
		}
		_ = g.fr.WriteWindowUpdate(id, g.u32()&(1<<31-1))
	case 4:
		g.settings()
	case 5:
		_ = g.fr.WritePing(g.byte()&1 == 1, [8]byte{1})
	case 6:
		_ = g.fr.WritePriority(g.stream(), http2.PriorityParam{StreamDep: g.stream(), Weight: g.byte()})
	case 7: // a header block in pieces: HEADERS then CONTINUATIONs
		id := g.next*2 + 1
		g.next++
		g.open = append(g.open, id)
		block := g.header()
		k := int(g.byte()%4) + 1
		cut := len(block) / (k + 1)
		_ = g.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block[:cut], EndStream: true})
		for i := 1; i <= k; i++ {
			end := min(len(block), (i+1)*cut)
			if i == k {
				end = len(block)
			}
			_ = g.fr.WriteContinuation(id, i == k && g.byte()&7 != 0, block[i*cut:end])
		}
	case 8:
		_ = g.fr.WriteGoAway(g.stream(), http2.ErrCode(g.byte()%14), nil)
	case 9: // any frame
		typ, flags, id := http2.FrameType(g.byte()%12), http2.Flags(g.byte()), g.stream()
		n := int(g.byte())
		n = min(len(g.data), n)
		payload := g.data[:n]
		g.data = g.data[n:]
		_ = g.fr.WriteRawFrame(typ, flags, id, payload)
	case 10: // trailers on a stream
		g.hbuf.Reset()
		_ = g.enc.WriteField(hpack.HeaderField{Name: "x-trailer", Value: "v"})
		_ = g.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: g.stream(), BlockFragment: g.hbuf.Bytes(), EndStream: g.byte()&1 == 0, EndHeaders: true})
	case 11:
		_ = g.fr.WriteSettingsAck()
	}
}
