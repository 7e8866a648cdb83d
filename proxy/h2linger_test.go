package proxy

import (
	"errors"
	"io"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// TestH2LingersAfterConnectionError: a connection closed on a client's
// protocol error ends as net/http's does, with the GOAWAY, then a clean
// close (close_notify and FIN) while what the client still sends is read
// and dropped. Closed at once with the client's input unread, the kernel
// answered it with a reset: the client read "connection reset" where it
// should read the end, and over a real network the reset can overtake
// the GOAWAY.
func TestH2LingersAfterConnectionError(t *testing.T) {
	r := h2Proxy(t, pathBackend(t))
	c := dialH2(t, r.addrs["https"])
	id := c.request("GET", "/", true)
	if rs, _, err := c.readFrames(5*time.Second, allDone(1)); err != nil || rs[id].status != "200" {
		t.Fatalf("first request: %v", err)
	}
	// A connection error (WINDOW_UPDATE on a stream never opened), and
	// 256 KiB more behind it that the proxy will not read as frames.
	c.quiet = true
	_ = c.fr.WriteWindowUpdate(99, 1)
	_ = c.conn.SetWriteDeadline(time.Now().Add(3 * time.Second))
	wrote := make(chan error, 1)
	go func() { _, err := c.conn.Write(make([]byte, 256<<10)); wrote <- err }()
	_, ga, err := c.readFrames(5*time.Second, func(_ map[uint32]*response, ga *http2.GoAwayFrame) bool { return ga != nil })
	if ga == nil || ga.ErrCode != http2.ErrCodeProtocol {
		t.Fatalf("no GOAWAY PROTOCOL_ERROR: %v %v", ga, err)
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [512]byte
	for {
		_, err = c.conn.Read(b[:])
		if err != nil {
			break
		}
	}
	if !errors.Is(err, io.EOF) {
		t.Errorf("after the GOAWAY the client read %v, want the end of the connection (EOF)", err)
	}
	// The proxy still takes what the client sends for a while: no reset.
	if err := <-wrote; err != nil {
		t.Fatalf("the client's input after the error: %v", err)
	}
	if _, err := c.conn.Write([]byte("more")); err != nil {
		t.Errorf("a write just after the close: %v, want it taken (the proxy lingers)", err)
	}
}
