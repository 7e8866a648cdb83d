package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
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
	t.Cleanup(func() { ln.Close() })
	done := make(chan struct{}, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
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
			}()
		}
	}()
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
}

var _ = strings.Repeat
