package probes

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRecorder: requests are recorded with their fields and bodies, check
// requests are counted apart, connections are counted while open, and an
// upgrade is switched to with a correct WebSocket accept key.
func TestRecorder(t *testing.T) {
	r, err := StartRecorder("b1")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c := &http.Client{Timeout: 5 * time.Second}
	req, _ := http.NewRequest("POST", r.URL()+"/x?y=1", strings.NewReader("hello"))
	req.Header.Set("Cookie", "a=1")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp, err := c.Get(r.URL() + CheckPath); err == nil {
		// Read to the end: a body closed unread makes the client close the
		// connection, and whether the backend has seen that yet is a race.
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	seen := r.Seen()
	if len(seen) != 1 || seen[0].Method != "POST" || seen[0].URI != "/x?y=1" || seen[0].BodyLen != 5 ||
		seen[0].Header.Get("Cookie") != "a=1" || seen[0].Backend != "b1" || r.Checks() != 1 {
		t.Fatalf("recorded %+v, %d checks", seen, r.Checks())
	}
	if r.Conns() != 1 { // the client's keep-alive connection
		t.Errorf("%d connections open, want 1", r.Conns())
	}
	if got := r.Reset(); len(got) != 1 || len(r.Seen()) != 0 || r.Checks() != 0 {
		t.Errorf("Reset returned %d, left %d and %d checks", len(got), len(r.Seen()), r.Checks())
	}

	conn, err := net.Dial("tcp", r.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nping\n")
	br := bufio.NewReader(conn)
	up, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	// RFC 6455 §1.3's example key and accept value.
	if up.StatusCode != 101 || up.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("upgrade answered %d %v", up.StatusCode, up.Header)
	}
	if line, err := br.ReadString('\n'); err != nil || line != "echo ping\n" {
		t.Errorf("tunnel: %q %v", line, err)
	}
}
