package proxy

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/keybridge/keybridge/internal/testkit"
)

// TestKeepAliveRequestAllocs guards the HTTP/1 loop's claim of no
// allocation per keep-alive request (README: the request path): a GET
// through the proxy, with a client and a backend that allocate nothing
// themselves, costs less than one allocation on average over the whole
// process. Buffering request bodies and failure attribution must add
// nothing to a request without a body.
func TestKeepAliveRequestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	answer := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nDate: Mon, 07 Dec 2026 14:00:00 GMT\r\n\r\nok")
	testkit.ServeConns(t, ln, func(c net.Conn) {
		buf := make([]byte, 4096)
		n := 0
		for {
			k, err := c.Read(buf[n:])
			if err != nil {
				return
			}
			n += k
			for {
				i := bytes.Index(buf[:n], crlfcrlf)
				if i < 0 {
					break
				}
				if _, err := c.Write(answer); err != nil {
					return
				}
				n = copy(buf, buf[i+4:n])
			}
		}
	})
	cc := oneCluster("http://" + ln.Addr().String())
	cc[0].Health.Interval = time.Hour
	r := startServer(t, Config{ListenHTTP: "127.0.0.1:0", Clusters: cc})
	id := r.s.clusters[0].backends[0].id
	for _, tc := range []struct {
		name string
		req  string
		max  float64 // allocations per request, fewer than
	}{
		{"GET", "GET /x HTTP/1.1\r\nHost: app.example\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n", 1},
		{"sticky GET", "GET /x HTTP/1.1\r\nHost: app.example\r\nCookie: JSESSIONID=abc; KBSRV=" + id + "\r\n\r\n", 1},
		// A buffered body: its memory comes from a pool, its spool lives in
		// the request's pooled state (before buffering: 4 allocations).
		{"POST", "POST /x HTTP/1.1\r\nHost: app.example\r\nContent-Length: 5\r\n\r\nhello", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			allocs := requestAllocs(t, r.addrs["http"], []byte(tc.req))
			t.Logf("%.2f allocations per request", allocs)
			if allocs >= tc.max {
				t.Errorf("%.2f allocations per keep-alive request, want < %v", allocs, tc.max)
			}
		})
	}
}

// requestAllocs sends req on one keep-alive connection, again and again,
// and returns the allocations per request and answer in the process.
func requestAllocs(t *testing.T, addr string, req []byte) float64 {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 4096)
	var failed error
	roundTrip := func() {
		if _, err := c.Write(req); err != nil {
			failed = err
			return
		}
		n := 0
		for {
			k, err := c.Read(buf[n:])
			if err != nil {
				failed = err
				return
			}
			n += k
			if i := bytes.Index(buf[:n], crlfcrlf); i >= 0 && n >= i+4+2 {
				return
			}
		}
	}
	for range 200 { // warm the pools
		roundTrip()
	}
	allocs := testing.AllocsPerRun(500, roundTrip)
	if failed != nil {
		t.Fatal(failed)
	}
	if !bytes.HasPrefix(buf, []byte("HTTP/1.1 200 OK")) {
		t.Fatalf("answer: %q", buf[:64])
	}
	return allocs
}
