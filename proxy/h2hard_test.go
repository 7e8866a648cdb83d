package proxy

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
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
