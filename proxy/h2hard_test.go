package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// The connection's receive window comes back whole for request bodies the
// proxy never reads: DATA received for a refused request while its answer
// waits for the client's window, and a DATA frame past the request's
// content-length. Else a client whose streams end so loses the window a
// byte at a time until its uploads on the connection stall for good.
func TestH2ConnWindowComesBack(t *testing.T) {
	r := h2Proxy(t, pathBackend(t))
	// A stream window of 0: the proxy's answers wait for WINDOW_UPDATE.
	c := dialH2(t, r.addrs["https"], http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	c.batch()
	chunk := bytes.Repeat([]byte("x"), 16000)
	sent := 0
	var ids []uint32
	for i := 0; i < 3; i++ {
		id := c.request("TRACE", "/refused", false) // refused (405) before its body
		for j := 0; j < 4; j++ {
			_ = c.fr.WriteData(id, false, chunk)
			sent += len(chunk)
		}
		ids = append(ids, id)
	}
	over := c.request("POST", "/over", false, "content-length", "5")
	_ = c.fr.WriteData(over, false, chunk)
	sent += len(chunk)
	ids = append(ids, over)
	c.flush()
	time.Sleep(200 * time.Millisecond) // the DATA is read before the answers may go
	for _, id := range ids[:3] {
		_ = c.fr.WriteWindowUpdate(id, 1000)
	}
	c.flush()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	credited := -(h2ConnWindow - 65535) // the proxy's first update opens its window
	done := map[uint32]bool{}
	for credited < sent || len(done) < len(ids) {
		f, err := c.fr.ReadFrame()
		if err != nil {
			t.Fatalf("after %d of %d bytes credited, %d of %d streams ended: %v", credited, sent, len(done), len(ids), err)
		}
		switch f := f.(type) {
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				credited += int(f.Increment)
			}
		case *http2.RSTStreamFrame:
			done[f.StreamID] = true
		case *http2.DataFrame:
			if f.StreamEnded() {
				done[f.StreamID] = true
			}
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v", f.ErrCode)
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = c.fr.WriteSettingsAck()
				c.flush()
			}
		}
	}
	if credited != sent {
		t.Errorf("%d bytes credited for %d sent", credited, sent)
	}
}

// Trailers too large for one frame go in HEADERS and CONTINUATION frames,
// as a response head does. They were dropped after being encoded, which
// left the proxy's HPACK table with entries the client never saw: the next
// response's fields on the connection then decoded wrong, or not at all.
func TestH2LargeTrailers(t *testing.T) {
	var trailer strings.Builder
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&trailer, "X-T%02d: %s\r\n", i, strings.Repeat("t", 1000))
	}
	be := rawBackend(t, func(r *http.Request, _ int) (string, bool) {
		if r.URL.Path == "/trailers" {
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T00\r\n\r\n4\r\nbody\r\n0\r\n" + trailer.String() + "\r\n", false
		}
		// A field the proxy's table has from the trailers.
		return "HTTP/1.1 200 OK\r\nX-T39: " + strings.Repeat("t", 1000) + "\r\nContent-Length: 2\r\n\r\nok", false
	})
	r := h2Proxy(t, be)
	c := dialH2(t, r.addrs["https"])
	first := c.request("GET", "/trailers", true, "te", "trailers")
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	// fields collects each stream's decoded fields, trailers included.
	fields := map[uint32]map[string]string{}
	ended := map[uint32]bool{}
	read := func(id uint32) {
		t.Helper()
		for !ended[id] {
			f, err := c.fr.ReadFrame()
			if err != nil {
				t.Fatalf("stream %d: %v", id, err)
			}
			switch f := f.(type) {
			case *http2.MetaHeadersFrame:
				if fields[f.StreamID] == nil {
					fields[f.StreamID] = map[string]string{}
				}
				for _, hf := range f.Fields {
					fields[f.StreamID][hf.Name] = hf.Value
				}
				ended[f.StreamID] = ended[f.StreamID] || f.StreamEnded()
			case *http2.DataFrame:
				ended[f.StreamID] = ended[f.StreamID] || f.StreamEnded()
			case *http2.RSTStreamFrame:
				t.Fatalf("stream %d reset: %v", f.StreamID, f.ErrCode)
			case *http2.GoAwayFrame:
				t.Fatalf("GOAWAY %v", f.ErrCode)
			case *http2.SettingsFrame:
				if !f.IsAck() {
					_ = c.fr.WriteSettingsAck()
				}
			}
		}
	}
	read(first)
	for i := 0; i < 40; i++ {
		if k := fmt.Sprintf("x-t%02d", i); len(fields[first][k]) != 1000 {
			t.Errorf("trailer %s: %d bytes, want 1000", k, len(fields[first][k]))
		}
	}
	second := c.request("GET", "/second", true)
	read(second)
	if got := fields[second]; got[":status"] != "200" || len(got["x-t39"]) != 1000 || len(got) != 5 {
		t.Errorf("the next response's fields: %v", got)
	}
}

// A client that reads a large download slowly has more than h2MaxQueued
// bytes of DATA waiting for the writer; its PING is answered all the same,
// not taken for a flood of control frames.
func TestH2PingDuringSlowDownload(t *testing.T) {
	big := strings.Repeat("b", 8<<20)
	be := rawBackend(t, func(*http.Request, int) (string, bool) { return okResponse(big), false })
	r := h2Proxy(t, be)
	c := dialH2(t, r.addrs["https"], http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
	c.batch()
	_ = c.fr.WriteWindowUpdate(0, 1<<31-1-65535)
	var ids []uint32
	for i := 0; i < 4; i++ {
		ids = append(ids, c.request("GET", "/big", true))
	}
	c.flush()
	// Nothing is read meanwhile: the socket's buffers fill, then the queue.
	time.Sleep(500 * time.Millisecond)
	_ = c.fr.WritePing(false, [8]byte{'s', 'l', 'o', 'w'})
	c.flush()
	rs, ga, err := c.readFrames(20*time.Second, func(rs map[uint32]*response, ga *http2.GoAwayFrame) bool {
		return ga != nil || allDone(len(ids))(rs, ga)
	})
	if ga != nil {
		t.Fatalf("GOAWAY %v", ga.ErrCode)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if len(rs[id].body) != len(big) {
			t.Errorf("stream %d: %d bytes", id, len(rs[id].body))
		}
	}
}

// A client that provokes RST_STREAM after RST_STREAM (here PRIORITY frames
// naming their own stream, each a stream error) and reads none of them is
// cut (GOAWAY ENHANCE_YOUR_CALM), as one flooding PINGs is, instead of having
// the proxy queue answers without end (CVE-2019-9514).
func TestH2ControlFlood(t *testing.T) {
	if raceEnabled {
		// Half a million frames take the race detector 20 s: `make test`
		// runs this test without it.
		t.Skip("run without -race")
	}
	r := h2Proxy(t, pathBackend(t))
	t.Run("reset", func(t *testing.T) {
		h2Flood(t, r.addrs["https"], func(fr *http2.Framer, i int) {
			_ = fr.WritePriority(uint32(2*i+1), http2.PriorityParam{StreamDep: uint32(2*i + 1)})
		})
	})
	t.Run("ping", func(t *testing.T) {
		h2Flood(t, r.addrs["https"], func(fr *http2.Framer, i int) { _ = fr.WritePing(false, [8]byte{}) })
	})
}

// h2Flood sends n frames that each call for an answer, reading none.
func h2Flood(t *testing.T, addr string, frame func(*http2.Framer, int)) {
	d := net.Dialer{Control: smallRcvBuf} // the proxy's writes stop early
	conn, err := tls.DialWithDialer(&d, "tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var out bytes.Buffer
	fr := http2.NewFramer(&out, conn)
	out.WriteString(http2.ClientPreface)
	_ = fr.WriteSettings()
	// Answers to more than the 4 MiB a socket's send buffer takes at most
	// (net.ipv4.tcp_wmem) beyond the 4 KiB the client takes.
	const n = 500000
	sent := 0
	for i := 0; i < n; i++ {
		frame(fr, i)
		if out.Len() > 64<<10 || i == n-1 {
			_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := conn.Write(out.Bytes()); err != nil {
				break // the proxy closed: read what it said
			}
			out.Reset()
			sent = i + 1
		}
	}
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	answers := 0
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			// Closed (the GOAWAY may be lost to the reset that closing
			// with the flood unread sends): fine, if not every frame
			// was answered first.
			if answers == n || isTimeout(err) {
				t.Fatalf("the connection stayed after %d of %d frames sent, %d answers read: %v", sent, n, answers, err)
			}
			return
		}
		switch f := f.(type) {
		case *http2.RSTStreamFrame, *http2.PingFrame:
			answers++
		case *http2.GoAwayFrame:
			if f.ErrCode != http2.ErrCodeEnhanceYourCalm {
				t.Fatalf("GOAWAY %v", f.ErrCode)
			}
			return
		}
	}
}

// A client that resets its stream while the proxy is still writing the
// request body to a backend gets the backend connection cut at once: the
// watch's deadline fails the write, and the wait for an early answer that
// follows must not lift it again (the backend, given half a body, never
// answers: the proxy held its connection for ResponseHeaderTimeout).
func TestH2ResetMidUpload(t *testing.T) {
	lc := net.ListenConfig{Control: smallRcvBuf} // the proxy's body write stops early
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	headRead := make(chan net.Conn, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				br := bufio.NewReader(c)
				for {
					first, err := br.ReadString('\n')
					for line := first; err == nil && line != "\r\n"; {
						line, err = br.ReadString('\n')
					}
					if err != nil {
						c.Close()
						return
					}
					if strings.HasPrefix(first, "POST /up ") {
						headRead <- c // the body is left unread
						return
					}
					_, _ = io.WriteString(c, okResponse("ok")) // health checks
				}
			}()
		}
	}()
	r := h2Proxy(t, "http://"+ln.Addr().String())
	c := dialH2(t, r.addrs["https"], http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	// The proxy's WINDOW_UPDATEs are counted, so that the body keeps to
	// the windows.
	credit := make(chan int, 1000)
	go func() {
		fr := http2.NewFramer(io.Discard, c.conn)
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				close(credit)
				return
			}
			if wu, ok := f.(*http2.WindowUpdateFrame); ok && wu.StreamID != 0 {
				credit <- int(wu.Increment)
			}
		}
	}()
	const size = 8 << 20
	id := c.request("POST", "/up", false, "content-length", strconv.Itoa(size))
	window := h2StreamWindow // the connection's is larger and opened as the stream's is
	var mu sync.Mutex        // the framer's writes
	sending, stop := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sending)
		for sent := 0; sent < size; {
			for window < 16<<10 {
				select {
				case n, ok := <-credit:
					if !ok {
						return
					}
					window += n
				case <-stop:
					return
				}
			}
			n := min(16<<10, size-sent)
			mu.Lock()
			err := c.fr.WriteData(id, sent+n == size, make([]byte, n))
			mu.Unlock()
			if err != nil {
				return
			}
			sent += n
			window -= n
		}
	}()
	var bc net.Conn
	select {
	case bc = <-headRead:
	case <-time.After(5 * time.Second):
		t.Fatal("the request did not reach the backend")
	}
	defer bc.Close()
	time.Sleep(200 * time.Millisecond) // the proxy's write waits on the backend
	mu.Lock()
	_ = c.fr.WriteRSTStream(id, http2.ErrCodeCancel)
	mu.Unlock()
	close(stop)
	<-sending
	// The proxy closes the backend connection: what it had sent drains,
	// then EOF, well before the 60 s ResponseHeaderTimeout.
	_ = bc.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.Copy(io.Discard, bc); err != nil {
		t.Fatalf("backend connection after the reset: %v, want it closed", err)
	}
}
