package probes

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Target is a proxy under test in front of its Recorder backends.
type Target struct {
	HTTP     string // host:port of the plain HTTP/1 listener
	HTTPS    string // host:port of the TLS listener (ALPN h2)
	Backends []*Recorder
}

// grace is how long a connection must stay silent after a complete answer
// to count as kept open.
const grace = 500 * time.Millisecond

// Run sends p to t and classifies the outcome. The backends' records are
// reset first.
func Run(t Target, p Probe) Result {
	for _, b := range t.Backends {
		b.Reset()
	}
	r := Exchange(t, p)
	settle(t.Backends)
	for _, b := range t.Backends {
		r.Seen = append(r.Seen, b.Seen()...)
	}
	r.BackendsUp, r.UpNote = afterCheck(t)
	return r
}

// Exchange is the client's half of Run: it sends p and classifies what the
// client got, without looking at the backends (the chaos test sends probes
// as hostile traffic with it).
func Exchange(t Target, p Probe) Result {
	wait := p.Wait
	if wait == 0 {
		wait = DefaultWait
	}
	r := Result{Probe: p.Name}
	switch p.Proto {
	case HTTP1:
		runH1(t.HTTP, p, wait, &r)
	case HTTP2:
		runH2(t.HTTPS, p, wait, &r)
	default:
		r.Err = "unknown protocol " + p.Proto.String()
	}
	return r
}

// settle waits a moment for requests the proxy may still be passing on.
func settle(backends []*Recorder) {
	time.Sleep(200 * time.Millisecond)
	for i := 0; i < 40; i++ {
		busy := 0
		for _, b := range backends {
			busy += b.InFlight()
		}
		if busy == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// AfterChecks bounds the plain requests sent after each probe: with round
// robin over two backends every backend gets one of the first two, unless it
// is out (or a stray request of the probe's took its turn: hence more).
const AfterChecks = 8

// afterCheck sends requests, each on a new connection, until every backend
// has taken one (or AfterChecks were sent), and reports whether every
// backend took one and every one got 200.
func afterCheck(t Target) (bool, string) {
	c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	idle := func() (names []string) {
		for _, b := range t.Backends {
			if b.Checks() == 0 {
				names = append(names, b.Name)
			}
		}
		return names
	}
	for i := 0; i < AfterChecks && len(idle()) > 0; i++ {
		resp, err := c.Get("http://" + t.HTTP + CheckPath)
		if err != nil {
			return false, "after-check request: " + err.Error()
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return false, fmt.Sprintf("after-check request answered %d", resp.StatusCode)
		}
	}
	if names := idle(); len(names) > 0 {
		return false, fmt.Sprintf("%s took none of %d requests", strings.Join(names, ", "), AfterChecks)
	}
	return true, ""
}

func runH1(addr string, p Probe, wait time.Duration, r *Result) {
	conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		r.Err = err.Error()
		return
	}
	defer conn.Close()
	start := time.Now()
	if p.Abort {
		_ = conn.SetWriteDeadline(start.Add(wait))
		_, _ = conn.Write(p.Send)
		time.Sleep(50 * time.Millisecond) // let the proxy start on it
		_ = conn.(*net.TCPConn).SetLinger(0)
		r.Closed = true
		return
	}
	go func() { // a large body may block until the proxy reads it
		_ = conn.SetWriteDeadline(start.Add(wait))
		_, _ = conn.Write(p.Send)
	}()
	var got []byte
	buf := make([]byte, 64<<10)
	end := start.Add(wait)
	for {
		deadline := end
		if parseH1(got, r) {
			if g := time.Now().Add(grace); g.Before(deadline) {
				deadline = g
			}
		}
		_ = conn.SetReadDeadline(deadline)
		n, err := conn.Read(buf)
		if n > 0 {
			if r.First == 0 {
				r.First = time.Since(start)
			}
			got = append(got, buf[:n]...)
		}
		if err != nil {
			var ne net.Error
			r.Closed = !(errors.As(err, &ne) && ne.Timeout())
			break
		}
	}
	parseH1(got, r)
}

// parseH1 reads the answers in b into r; done reports whether the last one
// is a complete final answer (or a 101, after which the bytes are tunnelled).
// A final answer that says "Connection: close" counts as closing the
// connection, however long the server then lingers before it does.
func parseH1(b []byte, r *Result) (done bool) {
	r.Statuses, r.Informational, r.Unparsed = nil, nil, ""
	br := bufio.NewReader(bytes.NewReader(b))
	for {
		if _, err := br.Peek(1); err != nil {
			return done
		}
		if head, _ := br.Peek(5); !bytes.Equal(head, []byte("HTTP/")) && len(head) == 5 {
			r.Unparsed = string(b[len(b)-br.Buffered():])
			return true
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
		if err != nil {
			return false
		}
		switch {
		case resp.StatusCode == 101:
			r.Statuses = append(r.Statuses, 101)
			return true
		case resp.StatusCode < 200:
			r.Informational = append(r.Informational, resp.StatusCode)
			done = false
			continue
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return false
		}
		r.Statuses = append(r.Statuses, resp.StatusCode)
		r.Closed = r.Closed || resp.Close
		done = true
	}
}

// H2 is an HTTP/2 client connection a probe writes frames on.
type H2 struct {
	fr   *http2.Framer
	enc  *hpack.Encoder
	hbuf bytes.Buffer
	next uint32
	err  error

	mu     sync.Mutex
	opened []uint32        // streams in the order opened
	done   map[uint32]bool // streams answered in full, reset, or reset by us
	mine   map[uint32]bool // streams reset by us
}

// Request opens a stream with the given header fields (name, value pairs,
// pseudo-headers first), ending the stream when end is set.
func (h *H2) Request(end bool, fields ...string) uint32 {
	id := h.next
	h.next += 2
	h.hbuf.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		_ = h.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	block := h.hbuf.Bytes()
	h.mu.Lock()
	h.opened = append(h.opened, id)
	h.mu.Unlock()
	// Large blocks go out as HEADERS and CONTINUATION frames of 16 KiB.
	const max = 16384
	first := block
	if len(first) > max {
		first = block[:max]
	}
	h.note(h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndStream: end, EndHeaders: len(block) <= max}))
	for rest := block[len(first):]; len(rest) > 0; {
		n := min(len(rest), max)
		h.note(h.fr.WriteContinuation(id, n == len(rest), rest[:n]))
		rest = rest[n:]
	}
	return id
}

// Get opens a GET stream for path with the usual pseudo-headers and extra fields.
func (h *H2) Get(path string, extra ...string) uint32 {
	return h.Request(true, append([]string{":method", "GET", ":scheme", "https", ":authority", "probe.example", ":path", path}, extra...)...)
}

// Data sends n bytes on stream id.
func (h *H2) Data(id uint32, n int, end bool) {
	h.note(h.fr.WriteData(id, end, bytes.Repeat([]byte("x"), n)))
}

// Reset cancels stream id.
func (h *H2) Reset(id uint32) {
	h.mu.Lock()
	h.done[id], h.mine[id] = true, true
	h.mu.Unlock()
	h.note(h.fr.WriteRSTStream(id, http2.ErrCodeCancel))
}

func (h *H2) note(err error) {
	if err != nil && h.err == nil {
		h.err = err
	}
}

func (h *H2) allDone() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range h.opened {
		if !h.done[id] {
			return false
		}
	}
	return true
}

func runH2(addr string, p Probe, wait time.Duration, r *Result) {
	d := &net.Dialer{Timeout: 3 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}) //nolint:gosec // probes a test proxy
	if err != nil {
		r.Err = err.Error()
		return
	}
	defer conn.Close()
	if conn.ConnectionState().NegotiatedProtocol != "h2" {
		r.Err = "the server did not choose h2"
		return
	}
	start := time.Now()
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		r.Err = err.Error()
		return
	}
	h := &H2{fr: http2.NewFramer(conn, conn), next: 1, done: map[uint32]bool{}, mine: map[uint32]bool{}}
	h.enc = hpack.NewEncoder(&h.hbuf)
	h.fr.ReadMetaHeaders = hpack.NewDecoder(65536, nil)
	h.fr.MaxHeaderListSize = 1 << 20
	var wmu sync.Mutex // the reader acknowledges SETTINGS and PINGs too
	wmu.Lock()
	h.note(h.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20}))
	h.note(h.fr.WriteWindowUpdate(0, 1<<30))
	wmu.Unlock()

	status := map[uint32]int{}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			f, err := h.fr.ReadFrame()
			if err != nil {
				var ne net.Error
				r.Closed = !(errors.As(err, &ne) && ne.Timeout())
				return
			}
			if r.First == 0 && f.Header().Type != http2.FrameSettings && f.Header().Type != http2.FrameWindowUpdate {
				r.First = time.Since(start)
			}
			id := f.Header().StreamID
			end := false
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					wmu.Lock()
					_ = h.fr.WriteSettingsAck()
					wmu.Unlock()
				}
			case *http2.PingFrame:
				if !f.IsAck() {
					wmu.Lock()
					_ = h.fr.WritePing(true, f.Data)
					wmu.Unlock()
				}
			case *http2.MetaHeadersFrame:
				if s := f.PseudoValue("status"); s != "" {
					var code int
					fmt.Sscan(s, &code)
					if code >= 200 || code == 101 {
						status[id] = code
					} else if code > 0 {
						r.Informational = append(r.Informational, code)
					}
				}
				end = f.StreamEnded()
			case *http2.DataFrame:
				end = f.StreamEnded()
			case *http2.RSTStreamFrame:
				r.Resets = append(r.Resets, f.ErrCode.String())
				end = true
			case *http2.GoAwayFrame:
				r.GoAway = f.ErrCode.String()
			}
			if end {
				h.mu.Lock()
				h.done[id] = true
				h.mu.Unlock()
			}
		}
	}()
	_ = conn.SetReadDeadline(start.Add(wait))
	wmu.Lock()
	p.Frames(h)
	wmu.Unlock()
	// Wait for every stream to be answered or reset, then a moment more,
	// or until the connection ends or the wait is over.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	quiet := time.Time{}
loop:
	for {
		select {
		case <-readDone:
			break loop
		case now := <-tick.C:
			if now.After(start.Add(wait)) {
				break loop
			}
			if h.allDone() {
				if quiet.IsZero() {
					quiet = now
				} else if now.Sub(quiet) > grace {
					break loop
				}
			}
		}
	}
	_ = conn.SetReadDeadline(time.Now())
	<-readDone
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range h.opened {
		if c, ok := status[id]; ok {
			r.Statuses = append(r.Statuses, c)
		} else if h.done[id] && !h.mine[id] {
			r.Statuses = append(r.Statuses, StreamReset)
		}
	}
	if r.GoAway != "" && len(r.Statuses) == 0 && len(h.opened) > 0 {
		r.Statuses = append(r.Statuses, StreamReset)
	}
}
