package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
)

// countingListener counts the connections a backend accepted.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// echoBackend answers with the length of the body it read; it counts its
// connections.
func echoBackend(t *testing.T) (string, *countingListener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%d %v", n, err)
	})}
	go srv.Serve(cl)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String(), cl
}

// TestBufferingHoldsNoBackendConnection: while a client sends its body,
// no backend connection is taken (with buffering off, one is at once); a
// body over the buffer limit streams.
func TestBufferingHoldsNoBackendConnection(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		head    string
		body    int
		waiting bool // a backend connection is open while the body arrives
	}{
		{"content-length", Config{}, "Content-Length: 20000", 20000, false},
		{"chunked", Config{}, "Transfer-Encoding: chunked", 20000, false},
		{"unbuffered", Config{UnbufferedRequests: true}, "Content-Length: 20000", 20000, true},
		{"over the limit", Config{RequestBufferMemory: 4096, RequestBufferLimit: 8192}, "Content-Length: 20000", 20000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be, conns := echoBackend(t)
			cfg := tc.cfg
			cfg.ListenHTTP = "127.0.0.1:0"
			r := faultServer(t, cfg, be)
			waitUntil(t, 5*time.Second, func() bool { return conns.n.Load() >= 1 }) // the first check
			base := conns.n.Load()
			rc := dialRaw(t, r.addrs["http"])
			rc.send("POST /up HTTP/1.1\r\nHost: x\r\n" + tc.head + "\r\n\r\n")
			chunked := strings.Contains(tc.head, "chunked")
			part := func(n int) {
				p := strings.Repeat("a", n)
				if chunked {
					p = fmt.Sprintf("%x\r\n%s\r\n", n, p)
				}
				rc.send(p)
			}
			part(tc.body / 2)
			time.Sleep(300 * time.Millisecond)
			if got := conns.n.Load() - base; (got > 0) != tc.waiting {
				t.Fatalf("backend connections opened while the body arrives: %d", got)
			}
			part(tc.body - tc.body/2)
			if chunked {
				rc.send("0\r\n\r\n")
			}
			resp, got := rc.read("POST")
			if resp.StatusCode != 200 || got != fmt.Sprintf("%d <nil>", tc.body) {
				t.Fatalf("%d %q", resp.StatusCode, got)
			}
		})
	}
}

// TestBufferedBodyFile: the part of a body beyond the memory buffer goes to
// a file that no other user can read and that no directory lists.
func TestBufferedBodyFile(t *testing.T) {
	dir := t.TempDir()
	s := &Server{cfg: Config{RequestBufferMemory: 1000, RequestBufferLimit: 1 << 20, TempDir: dir}}
	body := bytes.Repeat([]byte("0123456789"), 500)
	for _, length := range []int64{int64(len(body)), -1} {
		t.Run(fmt.Sprint(length), func(t *testing.T) {
			sp := &spool{}
			if err := s.bufferBody(sp, iotest.OneByteReader(bytes.NewReader(body)), length); err != nil {
				t.Fatal(err)
			}
			defer sp.Close()
			if sp.file == nil || len(sp.mem) != 1000 || sp.size() != int64(len(body)) {
				t.Fatalf("memory %d, file %v, size %d", len(sp.mem), sp.file != nil, sp.size())
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Fatalf("the body's file is listed: %v", ents[0].Name())
			}
			fi, err := sp.file.Stat()
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
			}
			if got, _ := io.ReadAll(sp); !bytes.Equal(got, body) {
				t.Errorf("read back %d bytes, differing", len(got))
			}
		})
	}
}

func TestBufferBodyErrors(t *testing.T) {
	s := &Server{cfg: Config{RequestBufferMemory: 100, RequestBufferLimit: 1000, TempDir: t.TempDir()}}
	cut := errors.New("reset by peer")
	for _, tc := range []struct {
		name   string
		src    io.Reader
		length int64
		want   fault
	}{
		{"short in memory", strings.NewReader("abc"), 50, faultClientGone},
		{"short in the file", strings.NewReader(strings.Repeat("x", 300)), 500, faultClientGone},
		{"stalled", io.MultiReader(strings.NewReader(strings.Repeat("x", 300)), iotest.ErrReader(timeoutErr{})), 500, faultClientStall},
		{"reset", io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(cut)), -1, faultClientBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := &spool{}
			err := s.bufferBody(sp, tc.src, tc.length)
			if err == nil {
				sp.Close()
				t.Fatal("no error")
			}
			if f := blame(err, false); f != tc.want {
				t.Fatalf("blame(%v) = %v, want %v", err, f, tc.want)
			}
		})
	}
	if ents, _ := os.ReadDir(s.cfg.TempDir); len(ents) != 0 {
		t.Errorf("files left behind: %v", ents)
	}
	// No temporary file: what is over the memory buffer streams.
	s.cfg.TempDir = filepath.Join(s.cfg.TempDir, "missing")
	s.log = slog.New(slog.DiscardHandler)
	sp := &spool{}
	body := strings.Repeat("x", 500)
	if err := s.bufferBody(sp, strings.NewReader(body), 500); err != nil || sp.rest == nil {
		t.Fatalf("a temporary file that cannot be made: %v, streaming %v", err, sp.rest != nil)
	}
	if got, _ := io.ReadAll(sp); string(got) != body {
		t.Errorf("read back %d bytes", len(got))
	}
}

func TestRateReader(t *testing.T) {
	src := strings.NewReader(strings.Repeat("x", 100))
	rr := newRateReader(src, 1000).(*rateReader)
	buf := make([]byte, 10)
	if _, err := rr.Read(buf); err != nil {
		t.Fatalf("within the grace period: %v", err)
	}
	rr.start = time.Now().Add(-2 * minRateGrace) // 10 bytes in 10 s, 1000 B/s wanted
	if _, err := rr.Read(buf); !errors.Is(err, errBodyTooSlow) {
		t.Fatalf("below the rate after the grace: %v", err)
	}
	fast := newRateReader(strings.NewReader(strings.Repeat("x", 100)), 1).(*rateReader)
	fast.start = time.Now().Add(-2 * minRateGrace)
	if _, err := io.ReadAll(fast); err != nil {
		t.Fatalf("above the rate: %v", err)
	}
}
