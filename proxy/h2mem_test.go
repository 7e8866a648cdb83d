package proxy

import (
	"bytes"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// h2ConnGoroutines returns the stacks of the goroutines that run the own
// HTTP/2 path's code for a connection (pooled handler goroutines waiting
// for work hold none).
func h2ConnGoroutines() []string {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	var out []string
	for _, g := range strings.Split(string(buf[:n]), "\n\n") {
		if strings.Contains(g, "proxy.(*h2Conn)") || strings.Contains(g, "proxy.(*h2Stream)") ||
			strings.Contains(g, "proxy.(*h1Server).serveH2") {
			out = append(out, g)
		}
	}
	return out
}

// An idle HTTP/2 connection holds one goroutine, which waits for the next
// frame with no read buffer (in await) and, after stackRelease, not on the
// goroutine whose stack grew with the TLS handshake and the requests; the
// connection goes on serving, and IdleTimeout still counts from the last
// response.
func TestH2IdleConnectionHoldsLittle(t *testing.T) {
	const idle = 1500 * time.Millisecond
	r := h2Proxy(t, pathBackend(t), func(c *Config) { c.IdleTimeout = idle })
	const conns = 3
	var cs []*h2Client
	for i := 0; i < conns; i++ {
		c := dialH2(t, r.addrs["https"])
		id := c.request("GET", "/a", true)
		rs, _, err := c.readFrames(5*time.Second, allDone(1))
		if err != nil || rs[id].status != "200" {
			t.Fatalf("connection %d: %v %+v", i, err, rs[id])
		}
		cs = append(cs, c)
	}
	deadline := time.Now().Add(idle * 2 / 3)
	for {
		gs := h2ConnGoroutines()
		settled := len(gs) == conns
		for _, g := range gs {
			settled = settled && strings.Contains(g, "proxy.(*h2Conn).await") &&
				!strings.Contains(g, "proxy.(*h1Conn).start") && !strings.Contains(g, "writeLoop")
		}
		if settled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d idle connections: want as many goroutines, each waiting in await on a fresh goroutine; have %d:\n%s",
				conns, len(gs), strings.Join(gs, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i, c := range cs {
		id := c.request("GET", "/b", true)
		rs, _, err := c.readFrames(5*time.Second, allDone(1))
		if got := string(rs[id].body); err != nil || rs[id].status != "200" || got != "GET /b" {
			t.Fatalf("connection %d after its wait moved: %v %s %q", i, err, rs[id].status, got)
		}
	}
	start := time.Now()
	_, ga, err := cs[0].readFrames(5*time.Second, func(_ map[uint32]*response, ga *http2.GoAwayFrame) bool { return ga != nil })
	if err != nil || ga == nil || ga.ErrCode != http2.ErrCodeNo {
		t.Fatalf("no GOAWAY after the idle timeout: %v %v", err, ga)
	}
	// The idle deadline set when the last stream ended holds, not the
	// stackRelease wait's (the response left the proxy shortly before
	// start).
	if d := time.Since(start); d < idle/2 {
		t.Errorf("GOAWAY %v after the response; the idle timeout is %v", d, idle)
	}
}

// h2Reader holds a buffer only while bytes wait in it, reads what is
// larger than the buffer past it, and notes short reads.
func TestH2Reader(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 3*h2ReadBuf)
	b := &h2Reader{src: io.MultiReader(strings.NewReader("abcdefgh"), bytes.NewReader(big))}
	p := make([]byte, 5)
	if n, err := b.Read(p[:3]); n != 3 || err != nil || string(p[:3]) != "abc" || b.buf == nil {
		t.Fatalf("first read: %d %v %q, buffer held %v", n, err, p[:n], b.buf != nil)
	}
	if !b.short || b.buffered() != 5 {
		t.Errorf("8 bytes came, 3 read: short %v, buffered %d", b.short, b.buffered())
	}
	b.release(false)
	if b.buf == nil {
		t.Fatal("released with bytes in it")
	}
	if n, _ := b.Read(p); n != 5 || string(p) != "defgh" {
		t.Fatalf("buffered bytes: %d %q", n, p[:n])
	}
	b.release(false)
	if b.buf != nil || b.buffered() != 0 {
		t.Fatal("empty buffer kept")
	}
	large := make([]byte, 2*h2ReadBuf)
	if n, _ := b.Read(large); n != len(large) || b.buf != nil || b.short {
		t.Fatalf("large read: %d bytes, buffer held %v, short %v", n, b.buf != nil, b.short)
	}
	rest, err := io.ReadAll(b)
	if err != nil || len(rest) != len(big)-len(large) {
		t.Fatalf("the rest: %d bytes, %v", len(rest), err)
	}
	b.release(true)
	if b.buf != nil {
		t.Error("buffer kept at the end")
	}
}
