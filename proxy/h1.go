package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The HTTP/1 loop serves the client listeners. Each connection has one
// goroutine that does the TLS handshake and then reads, forwards and answers
// HTTP/1.x requests itself, with pooled buffers held only while a request is
// in progress: no per-request goroutine, no http.Request, no header maps.
// What it does not serve itself goes to net/http, which has always served
// it: HTTP/2 connections (by ALPN), and any request parseRequestHead does not
// accept (upgrades, Expect, chunked request bodies, heads over 4 KiB, anything
// malformed: net/http answers 400 or 431 as before), the health path with a
// body, hosts no cluster serves, clusters with HTTPS backends, requests that
// looped back. Such a connection is handed over whole, with the bytes already
// read, and stays with net/http.

const (
	h1BufSize = 4 << 10
	// stackRelease: a connection idle this long waits for its next request
	// on a fresh goroutine. The one that did the TLS handshake and the last
	// request has a grown stack; an idle connection needs little.
	stackRelease = 100 * time.Millisecond
)

var (
	h1ReadBufs = sync.Pool{New: func() any { return new([h1BufSize]byte) }}
	h1Writers  sync.Pool // *bufio.Writer, h1BufSize
	h1Reqs     = sync.Pool{New: func() any {
		rq := new(h1Req)
		rq.watchFn = func() { rq.c.startWatch(rq) } // made once: no allocation per request
		return rq
	}}
)

// h1Server serves one client listener. Its methods mirror http.Server's so
// that Serve drains both alike.
type h1Server struct {
	s         *Server
	tls       bool
	fallback  *http.Server
	handoff   *handoffListener
	keepAlive atomic.Bool

	// ownH2: HTTP/2 connections take the own HTTP/2 path (h2.go).
	ownH2 bool

	mu      sync.Mutex
	ln      net.Listener
	conns   map[*h1Conn]struct{}
	h2conns map[*h2Conn]struct{}
	closed  bool
}

func newH1Server(s *Server, tls bool, fallback *http.Server, addr net.Addr) *h1Server {
	h := &h1Server{s: s, tls: tls, fallback: fallback, handoff: newHandoffListener(addr), conns: map[*h1Conn]struct{}{},
		h2conns: map[*h2Conn]struct{}{}}
	h.keepAlive.Store(true)
	h.ownH2 = s.cfg.HTTP2Server == HTTP2Own
	for _, cl := range s.clusters {
		h.ownH2 = h.ownH2 && cl.lean
	}
	return h
}

// Serve accepts connections until the listener is closed.
func (h *h1Server) Serve(ln net.Listener) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return http.ErrServerClosed
	}
	h.ln = ln
	h.mu.Unlock()
	go func() { _ = h.fallback.Serve(h.handoff) }()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if h.isClosed() {
				return http.ErrServerClosed
			}
			if isTemporaryAccept(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				h.s.log.Warn("accept failed, retrying", "err", err, "in", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := &h1Conn{srv: h, nc: nc, first: true}
		if !h.track(c) {
			nc.Close()
			continue
		}
		go c.start()
	}
}

// isTemporaryAccept reports the accept errors net/http retries (EMFILE and
// the like).
func isTemporaryAccept(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (h *h1Server) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

func (h *h1Server) track(c *h1Conn) bool   { return track(h, h.conns, c) }
func (h *h1Server) untrack(c *h1Conn)      { untrack(h, h.conns, c) }
func (h *h1Server) trackH2(c *h2Conn) bool { return track(h, h.h2conns, c) }
func (h *h1Server) untrackH2(c *h2Conn)    { untrack(h, h.h2conns, c) }

// track adds a connection to one of h's sets, unless h is closed.
func track[C comparable](h *h1Server, set map[C]struct{}, c C) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	set[c] = struct{}{}
	return true
}

func untrack[C comparable](h *h1Server, set map[C]struct{}, c C) {
	h.mu.Lock()
	delete(set, c)
	h.mu.Unlock()
}

// SetKeepAlivesEnabled(false) makes every connection close after its
// current response.
func (h *h1Server) SetKeepAlivesEnabled(v bool) {
	h.keepAlive.Store(v)
	h.fallback.SetKeepAlivesEnabled(v)
}

// Shutdown stops accepting, closes idle connections and waits for the others
// to finish their requests, as http.Server.Shutdown does.
func (h *h1Server) Shutdown(ctx context.Context) error {
	h.keepAlive.Store(false)
	h.mu.Lock()
	h.closed = true
	ln := h.ln
	h.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	fbErr := make(chan error, 1)
	go func() { fbErr <- h.fallback.Shutdown(ctx) }()
	wait := time.Millisecond
	for h.closeIdle() > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
	return <-fbErr
}

// closeIdle wakes every idle connection (it sees keep-alives off and
// closes) and returns how many connections remain.
func (h *h1Server) closeIdle() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		if c.idle.Load() {
			_ = c.nc.SetReadDeadline(aLongTimeAgo)
		}
	}
	h2 := make([]*h2Conn, 0, len(h.h2conns))
	for c := range h.h2conns {
		h2 = append(h2, c)
	}
	n := len(h.conns) + len(h.h2conns)
	h.mu.Unlock()
	// Each HTTP/2 connection says GOAWAY once and closes when its streams
	// are done.
	for _, c := range h2 {
		c.shutdown()
	}
	h.mu.Lock()
	return n
}

// Close closes the listener and every connection at once.
func (h *h1Server) Close() error {
	h.keepAlive.Store(false)
	h.mu.Lock()
	h.closed = true
	if h.ln != nil {
		h.ln.Close()
	}
	for c := range h.conns {
		c.nc.Close()
	}
	for c := range h.h2conns {
		c.nc.Close()
	}
	h.mu.Unlock()
	return h.fallback.Close()
}

// h1Conn is one client connection of the HTTP/1 loop.
type h1Conn struct {
	srv  *h1Server
	nc   net.Conn // as accepted
	c    net.Conn // what requests are read from: a *tls.Conn or nc
	idle atomic.Bool

	in     fwdIn    // client address and local port
	fwdc   fwdCache // the last Forwarded element
	remote string   // the client's address, as RemoteAddr gives it

	rb        *[h1BufSize]byte // nil while idle
	r, w      int              // rb[r:w] is read but not yet consumed
	bw        *bufio.Writer    // nil while idle
	one       [1]byte
	first     bool      // no request yet
	idleSince time.Time // zero while a request is in progress
	headStart time.Time // the current head's first byte (the first: the handshake's start)
	released  bool      // this idle wait runs on a fresh goroutine
	rdl, wdl  time.Time // read and write deadlines last set

	// closeFirst: the head at rb[r:] of this length is handed to net/http
	// with Connection: close (0: none).
	closeFirst int

	watchDone chan struct{} // a client watch is running
	watchByte bool          // the watch read the next request's first byte
}

// start does the TLS handshake, hands HTTP/2 connections to net/http and
// serves HTTP/1.
func (c *h1Conn) start() {
	s := c.srv.s
	c.c = c.nc
	c.headStart = time.Now()
	if c.srv.tls {
		tc := tls.Server(c.nc, s.tlsCfg)
		_ = c.nc.SetDeadline(c.headStart.Add(s.cfg.ReadHeaderTimeout))
		if err := tc.HandshakeContext(context.Background()); err != nil {
			s.log.Debug("http: TLS handshake error from " + c.nc.RemoteAddr().String() + ": " + err.Error())
			tc.Close()
			c.srv.untrack(c)
			return
		}
		_ = c.nc.SetWriteDeadline(time.Time{})
		if tc.ConnectionState().NegotiatedProtocol == "h2" {
			c.srv.untrack(c)
			if c.srv.ownH2 {
				// The read deadline stays: ReadHeaderTimeout bounds the
				// preface and the first SETTINGS.
				c.srv.serveH2(c.nc, tc)
				return
			}
			_ = c.nc.SetReadDeadline(time.Time{})
			c.srv.handoff.push(tc)
			return
		}
		c.c = tc
	}
	c.rdl = c.headStart.Add(s.cfg.ReadHeaderTimeout)
	_ = c.nc.SetReadDeadline(c.rdl)
	c.remote = c.nc.RemoteAddr().String()
	ap, _ := netip.ParseAddrPort(c.remote)
	c.in.client = ap.Addr().Unmap()
	c.in.clientIP = c.in.client.String()
	if ta, ok := c.nc.LocalAddr().(*net.TCPAddr); ok {
		c.in.port = portString(ta.Port)
	}
	c.in.cache = &c.fwdc
	c.run()
}

// Results of next.
const (
	nextHead    = iota // a request head is in rb
	nextClose          // the connection is done
	nextRelease        // idle for stackRelease: continue on a fresh goroutine
	nextHandoff        // the head is larger than the buffer: net/http takes over
	nextBad            // the head is refused at once: 400, and close
)

// run serves requests until the connection ends, is handed over, or has
// been idle for stackRelease, when a fresh goroutine takes over the wait.
func (c *h1Conn) run() {
	for {
		var headLen int
		res := c.next(&headLen)
		if res == nextHead {
			res = c.serve(headLen)
		}
		switch res {
		case nextRelease:
			go c.run()
			return
		case nextClose:
			c.close()
			return
		case nextHandoff:
			c.handOff()
			return
		case nextBad:
			c.reject()
			c.close()
			return
		}
	}
}

// next waits for a request and reads its head into rb.
func (c *h1Conn) next(headLen *int) int {
	if c.r == c.w {
		if res := c.await(); res != nextHead {
			return res
		}
	} else {
		c.headStart = time.Now() // pipelined
	}
	limit := c.headStart.Add(c.srv.s.cfg.ReadHeaderTimeout)
	for {
		if i := bytes.Index(c.rb[c.r:c.w], crlfcrlf); i >= 0 {
			*headLen = i + 4
			return nextHead
		}
		if badHead(c.rb[c.r:c.w]) {
			return nextBad
		}
		if c.r > 0 {
			c.w = copy(c.rb[:], c.rb[c.r:c.w])
			c.r = 0
		}
		if c.w == len(c.rb) {
			return nextHandoff
		}
		// More of the head is to come, within ReadHeaderTimeout of its
		// first byte. The short wait of an idle connection may end first:
		// then the rest gets what is left of ReadHeaderTimeout.
		if c.rdl.IsZero() || c.rdl.After(limit) {
			c.setReadDeadline(limit)
		}
		n, err := c.c.Read(c.rb[c.w:])
		c.w += n
		if err != nil && n == 0 {
			if isTimeout(err) && c.rdl.Before(limit) && time.Now().Before(limit) {
				c.setReadDeadline(limit)
				continue
			}
			return nextClose
		}
	}
}

// await waits for the first byte of the next request with no buffer held.
func (c *h1Conn) await() int {
	c.releaseBuffers()
	s := c.srv.s
	now := time.Now()
	var deadline time.Time
	if c.first {
		deadline = c.headStart.Add(s.cfg.ReadHeaderTimeout) // the handshake's start
	} else {
		if c.idleSince.IsZero() {
			c.idleSince = now
		}
		deadline = c.idleSince.Add(s.cfg.IdleTimeout)
	}
	wait := deadline
	if !c.released && now.Add(stackRelease).Before(deadline) {
		wait = now.Add(stackRelease)
		// A deadline left by the last wait that ends in the second half of
		// this one serves (the stack is released after 50 to 100 ms): a
		// busy connection sets no timer per request.
		if c.rdl.After(now.Add(stackRelease/2)) && c.rdl.Before(wait) {
			wait = c.rdl
		}
	}
	c.idle.Store(true)
	c.setReadDeadline(wait)
	if !c.first && !c.srv.keepAlive.Load() {
		c.idle.Store(false)
		return nextClose
	}
	_, err := c.c.Read(c.one[:])
	c.idle.Store(false)
	if !c.srv.keepAlive.Load() {
		c.rdl = aLongTimeAgo // Shutdown may have moved the deadline behind our back
	}
	if err != nil {
		if !wait.Equal(deadline) && isTimeout(err) && (c.first || c.srv.keepAlive.Load()) {
			c.released = true
			return nextRelease
		}
		return nextClose
	}
	c.released = false
	c.acquireBuffers()
	c.rb[0] = c.one[0]
	c.r, c.w = 0, 1
	if !c.first {
		c.idleSince = time.Time{}
		c.headStart = time.Now()
	}
	return nextHead
}

func (c *h1Conn) setReadDeadline(t time.Time) {
	if t.Equal(c.rdl) {
		return
	}
	c.rdl = t
	_ = c.nc.SetReadDeadline(t)
}

func (c *h1Conn) acquireBuffers() {
	if c.rb == nil {
		c.rb = h1ReadBufs.Get().(*[h1BufSize]byte)
	}
	if c.bw == nil {
		if v, ok := h1Writers.Get().(*bufio.Writer); ok {
			v.Reset(c.c)
			c.bw = v
		} else {
			c.bw = bufio.NewWriterSize(c.c, h1BufSize)
		}
	}
}

// releaseBuffers returns the buffers to their pools when nothing is in them.
func (c *h1Conn) releaseBuffers() {
	if c.rb != nil && c.r == c.w {
		h1ReadBufs.Put(c.rb)
		c.rb, c.r, c.w = nil, 0, 0
	}
	if c.bw != nil && c.bw.Buffered() == 0 {
		c.bw.Reset(nil)
		h1Writers.Put(c.bw)
		c.bw = nil
	}
}

func (c *h1Conn) close() {
	c.stopWatch()
	if c.bw != nil {
		c.bw.Reset(nil) // what is left unsent is dropped with the connection
	}
	c.releaseBuffers()
	c.c.Close()
	c.srv.untrack(c)
}

// handOff passes the connection with what was read of it to net/http.
func (c *h1Conn) handOff() {
	var prefix []byte
	if c.rb != nil {
		prefix = bytes.Clone(c.rb[c.r:c.w])
		if n := c.closeFirst; n > 0 {
			prefix = slices.Concat(prefix[:n-2], []byte("Connection: close\r\n\r\n"), prefix[n:])
		}
		c.r = c.w
	}
	c.releaseBuffers()
	c.srv.untrack(c)
	_ = c.nc.SetDeadline(time.Time{})
	c.srv.handoff.push(&prefixConn{Conn: c.c, prefix: prefix})
}

// h1Req is the state of one request, pooled.
type h1Req struct {
	c       *h1Conn
	watchFn func()
	st      reqState
	watch   connWatch
	sink    h1Sink
	body    h1Body
	fr      fwdReq
	fields  [maxFields]hfield
	cookies [4]string // the Cookie values, when they fit
	cbody   countingBody
	spool   spool
	head    [1024]byte // the request head sent to the backend
	// The request head as received and the backend's response head: the
	// parsed heads are strings over these bytes (see bytesString), so that
	// a request allocates nothing for them. They live as long as the
	// request: whatever keeps a part of them longer (the connection's
	// Forwarded cache, log lines) takes a copy.
	reqBuf  [h1BufSize]byte
	respBuf [2048]byte
}

// serve parses and answers the request whose head is rb[r:r+headLen].
func (c *h1Conn) serve(headLen int) int {
	s := c.srv.s
	rq := h1Reqs.Get().(*h1Req)
	h, ok := parseRequestHead(bytesString(c.rb[c.r:c.r+headLen], rq.reqBuf[:]), rq.fields[:0])
	defer func() {
		// Drop what refers to this request; the arrays are overwritten
		// before they are read again.
		clear(rq.fields[:len(h.fields)])
		clear(rq.cookies[:])
		clear(rq.st.respFields[:min(len(rq.st.resp.fields), len(rq.st.respFields))])
		rq.c, rq.st, rq.watch, rq.sink, rq.body, rq.fr, rq.cbody = nil, reqState{}, connWatch{}, h1Sink{}, h1Body{}, fwdReq{}, countingBody{}
		h1Reqs.Put(rq)
	}()
	if !ok {
		b := c.rb[c.r : c.r+headLen]
		if badHead(b) {
			return nextBad
		}
		if smuggles(bytesString(b, nil)) {
			// net/http reads it as chunked (Content-Length removed, as
			// RFC 9112 6.3 says); told to close after answering it, it
			// serves nothing more of this connection.
			c.closeFirst = headLen
		}
		return nextHandoff
	}
	path, _, _ := strings.Cut(h.target, "?")
	if strings.IndexByte(path, '%') >= 0 {
		return nextHandoff // net/http decodes it before comparing with the health path
	}
	var via []string
	if h.fwd {
		via = fieldValues(h.fields, "Via")
	}
	v, cl := s.admit(admitIn{path: path, method: h.method, host: h.host, via: via})
	switch {
	case v == admitHealth && h.length <= 0:
		c.r += headLen
		c.first = false
		return c.health(&h)
	case v != admitForward || !cl.lean:
		// net/http answers by the same admission (or serves HTTPS
		// backends).
		return nextHandoff
	}
	c.r += headLen
	c.first = false
	start := time.Now()

	st := &rq.st
	xfProto := ""
	if h.fwd && !c.srv.tls {
		xfProto = fieldValue(h.fields, "X-Forwarded-Proto")
	}
	var cookies []string
	if h.cookie && cl.sticky {
		cookies = appendValues(rq.cookies[:0], h.fields, "Cookie")
	}
	s.newState(st, cl, c.srv.tls, c.in.client, xfProto, cookies)
	st.watch = &rq.watch
	rq.c = c
	st.watchClient = rq.watchFn
	st.headBuf = rq.respBuf[:]
	k := &rq.sink
	*k = h1Sink{c: c, head: h.method == http.MethodHead, minor: h.minor,
		close: h.close || !c.srv.keepAlive.Load(), body: &rq.body}
	fr := &rq.fr
	*fr = fwdReq{method: h.method, uri: h.target, host: h.host, length: max(h.length, 0)}
	if h.length > 0 {
		rq.body = h1Body{c: c, n: h.length, start: start}
		rq.cbody = countingBody{rc: &rq.body}
		fr.body = &rq.cbody
	}
	in := c.in
	in.host = h.host
	fr.head = s.appendH1Head(rq.head[:0], &h, st, &in)

	var err error
	if fr.body != nil && !s.cfg.UnbufferedRequests && !cl.cfg.UnbufferedRequests {
		if err = s.bufferBody(&rq.spool, &rq.body, h.length); err != nil {
			s.bodyFailed(k, st, h.method, h.target, err)
			err = nil
		} else {
			defer rq.spool.Close()
			fr.body.rc = &rq.spool
		}
	}
	if st.code == 0 && k.code == 0 {
		err = s.forward(k, fr, st)
	}
	proto := "HTTP/1.1"
	if h.minor == 0 {
		proto = "HTTP/1.0"
	}
	// Counted and logged before the last flush, as in net/http's handler:
	// a client holding the whole response finds it counted.
	code := s.account(st, k.code, k.bytes, start, err != nil,
		accessLine{client: c.remote, method: h.method, host: h.host, uri: h.target, proto: proto})
	if err == nil && code != 499 {
		err = k.end()
	}
	c.stopWatch()
	if err != nil || code == 499 || k.close || st.closeAfter || rq.body.n > 0 {
		return nextClose
	}
	return nextHead
}

// reject answers a request head that is refused at once: 400, and the
// connection closes.
func (c *h1Conn) reject() {
	c.acquireBuffers()
	k := h1Sink{c: c, minor: 1, close: true}
	k.simple(http.StatusBadRequest, "", "bad request\n")
	_ = k.end()
	c.srv.s.metrics.observe(http.StatusBadRequest, 0)
}

// health answers the health path.
func (c *h1Conn) health(h *reqHead) int {
	code, text := c.srv.s.healthStatus()
	k := h1Sink{c: c, head: h.method == http.MethodHead, minor: h.minor, close: h.close || !c.srv.keepAlive.Load()}
	k.simple(code, "Cache-Control: no-store\r\n", text)
	c.srv.s.metrics.observe(code, 0)
	if k.end() != nil || k.close {
		return nextClose
	}
	return nextHead
}

// startWatch watches the client connection while a backend is slow to
// answer: a close cuts the backend request (the status is then 499); the
// first byte of a pipelined request is kept.
func (c *h1Conn) startWatch(rq *h1Req) {
	if c.watchDone != nil || c.r != c.w || rq.body.n > 0 {
		return
	}
	c.watchDone = make(chan struct{})
	c.setReadDeadline(time.Time{})
	go func() {
		defer close(c.watchDone)
		n, err := c.c.Read(c.one[:])
		if n == 1 {
			c.watchByte = true
			return
		}
		if err != nil && !isTimeout(err) {
			rq.watch.fire()
		}
	}()
}

func (c *h1Conn) stopWatch() {
	if c.watchDone == nil {
		return
	}
	_ = c.nc.SetReadDeadline(aLongTimeAgo)
	<-c.watchDone
	c.watchDone = nil
	c.rdl = aLongTimeAgo
	if c.watchByte {
		c.watchByte = false
		c.acquireBuffers()
		c.rb[0] = c.one[0]
		c.r, c.w = 0, 1
	}
}

// h1Body reads a request body of known length: first what is buffered,
// then from the connection, moving the read deadline forward while data
// arrives (BodyTimeout), within ReadTimeout when one is set.
type h1Body struct {
	c     *h1Conn
	n     int64     // bytes still to come
	start time.Time // the request's: ReadTimeout counts from here
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	c := b.c
	if c.r < c.w {
		n := copy(p, c.rb[c.r:c.w])
		c.r += n
		b.n -= int64(n)
		return n, nil
	}
	cfg := &c.srv.s.cfg
	if dl, ok := renew(c.rdl, cfg.BodyTimeout); ok {
		if end := b.start.Add(cfg.ReadTimeout); cfg.ReadTimeout > 0 && end.Before(dl) {
			dl = end
		}
		c.setReadDeadline(dl)
	}
	n, err := c.c.Read(p)
	b.n -= int64(n)
	if err == io.EOF && b.n > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// h1Sink writes a response on the HTTP/1 loop's connection.
type h1Sink struct {
	c       *h1Conn
	body    *h1Body
	head    bool // a HEAD request
	minor   int  // the request's HTTP/1.minor
	close   bool // the connection closes after this response
	chunked bool // the body is sent chunked
	ended   bool // the chunked body's last chunk is sent
	code    int
	bytes   int64
}

func (k *h1Sink) writeStatus(code int, reason string) {
	bw := k.c.bw
	bw.WriteString("HTTP/1.1 ")
	bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(code), 10))
	bw.WriteByte(' ')
	if reason == "" {
		reason = http.StatusText(code)
	}
	bw.WriteString(reason)
	bw.WriteString("\r\n")
}

func (k *h1Sink) inform(rh *respHead) error {
	if k.minor == 0 {
		return nil // HTTP/1.0 has no informational responses
	}
	k.writeStatus(rh.code, rh.reason)
	for _, f := range rh.fields {
		if !hopField(f.name) {
			writeHeaderLine(k.c.bw, f.name, f.value)
		}
	}
	k.c.bw.WriteString("\r\n")
	return k.flush()
}

func (k *h1Sink) header(rh *respHead, setCookie, via string) error {
	k.code = rh.code
	bw := k.c.bw
	k.writeStatus(rh.code, rh.reason)
	for _, f := range rh.fields {
		switch {
		case len(f.name) == 14 && equalFold(f.name, "Content-Length"):
			continue // written below
		case len(f.name) == 7 && equalFold(f.name, "Trailer"):
			if !rh.chunked || k.minor == 0 {
				continue
			}
		case hopField(f.name) || rh.conn && listedIn(rh.fields, f.name):
			continue
		}
		writeHeaderLine(bw, f.name, f.value)
	}
	if setCookie != "" {
		writeHeaderLine(bw, "Set-Cookie", setCookie)
	}
	writeHeaderLine(bw, "Via", via)
	if !rh.date {
		writeHeaderLine(bw, "Date", httpDate())
	}
	switch {
	case rh.hasCL:
		writeLength(bw, rh.length)
	case k.head || rh.code == 204 || rh.code == 304:
	case k.minor == 1:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
		k.chunked = true
	default:
		k.close = true // the body ends when the connection does
	}
	k.connection()
	bw.WriteString("\r\n")
	return nil
}

// connection writes the Connection field the response needs. A response
// that comes before its request's body has all arrived closes the
// connection: the rest of the body is not read.
func (k *h1Sink) connection() {
	if k.body != nil && k.body.n > 0 {
		k.close = true
	}
	switch {
	case k.close:
		k.c.bw.WriteString("Connection: close\r\n")
	case k.minor == 0:
		k.c.bw.WriteString("Connection: keep-alive\r\n")
	}
}

func (k *h1Sink) write(p []byte) error {
	if k.head || len(p) == 0 {
		return nil
	}
	bw := k.c.bw
	if k.chunked {
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(len(p)), 16))
		bw.WriteString("\r\n")
	}
	if bw.Available() < len(p) {
		k.c.extendWrite()
	}
	_, err := bw.Write(p)
	if k.chunked {
		bw.WriteString("\r\n")
	}
	k.bytes += int64(len(p))
	return err
}

func (k *h1Sink) flush() error {
	k.c.extendWrite()
	return k.c.bw.Flush()
}

func (k *h1Sink) trailers(fields []hfield) error {
	if !k.chunked {
		return nil
	}
	bw := k.c.bw
	bw.WriteString("0\r\n")
	for _, f := range fields {
		writeHeaderLine(bw, f.name, f.value)
	}
	bw.WriteString("\r\n")
	k.ended = true
	return nil
}

// end finishes the response: the last chunk, and out it goes.
func (k *h1Sink) end() error {
	if k.chunked && !k.ended && !k.head {
		k.c.bw.WriteString("0\r\n\r\n")
		k.ended = true
	}
	return k.flush()
}

func (k *h1Sink) fail(code int) {
	k.simple(code, "", http.StatusText(code)+"\n")
}

// simple writes a whole plain-text response; end sends it.
func (k *h1Sink) simple(code int, extra, text string) {
	k.code = code
	bw := k.c.bw
	k.writeStatus(code, "")
	bw.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
	bw.WriteString(extra)
	writeHeaderLine(bw, "Date", httpDate())
	writeLength(bw, int64(len(text)))
	k.connection()
	bw.WriteString("\r\n")
	if !k.head {
		bw.WriteString(text)
		k.bytes += int64(len(text))
	}
}

// extendWrite moves the write deadline forward when less than half of
// WriteTimeout is left, so WriteTimeout bounds a stalled client rather than
// a long response, with one timer update per WriteTimeout/2.
func (c *h1Conn) extendWrite() {
	if dl, ok := renew(c.wdl, c.srv.s.cfg.WriteTimeout); ok {
		c.wdl = dl
		_ = c.nc.SetWriteDeadline(dl)
	}
}

// httpDate is the current time in the Date format, computed once a second.
func httpDate() string {
	now := time.Now().Unix()
	if d := cachedDate.Load(); d != nil && d.unix == now {
		return d.s
	}
	d := &dateStr{now, time.Unix(now, 0).UTC().Format(http.TimeFormat)}
	cachedDate.Store(d)
	return d.s
}

type dateStr struct {
	unix int64
	s    string
}

var cachedDate atomic.Pointer[dateStr]

// handoffListener gives net/http the connections the HTTP/1 loop hands
// over.
type handoffListener struct {
	ch   chan net.Conn
	done chan struct{}
	addr net.Addr
	once sync.Once
}

func newHandoffListener(addr net.Addr) *handoffListener {
	return &handoffListener{ch: make(chan net.Conn), done: make(chan struct{}), addr: addr}
}

func (l *handoffListener) push(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

// prefixConn reads prefix before the connection.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// accessLine is what an access log line says of a request; the strings
// may be over a request buffer (account copies them).
type accessLine struct{ client, method, host, uri, proto string }

// account ends a forwarded request of the own request paths: its status
// (sunk: what the sink sent; 499 when the client went, 502 when nothing
// was sent), the backend's active count, the metrics and the access log.
func (s *Server) account(st *reqState, sunk int, bytes int64, start time.Time, aborted bool, l accessLine) int {
	code := sunk
	switch {
	case st.code == 499:
		code = 499
	case code == 0:
		code = http.StatusBadGateway
	}
	if st.used != nil {
		st.used.active.Add(-1)
	}
	d := time.Since(start)
	s.metrics.observe(code, d)
	if s.cfg.AccessLog {
		// Copies: a log handler may keep what it is given.
		s.logAccess(l.client, strings.Clone(l.method), strings.Clone(l.host), strings.Clone(l.uri),
			l.proto, code, bytes, d, st, aborted)
	}
	return code
}

// logAccess writes one access log line.
func (s *Server) logAccess(client, method, host, uri, proto string, code int, bytes int64, d time.Duration, st *reqState, aborted bool) {
	backend := ""
	if st.used != nil {
		backend = st.used.url.Host
	}
	al := s.cfg.AccessLogger
	if al == nil {
		al = s.log
	}
	al.LogAttrs(context.Background(), slog.LevelInfo, "access",
		slog.String("client", client),
		slog.String("method", method),
		slog.String("host", host),
		slog.String("uri", uri),
		slog.String("proto", proto),
		slog.Int("status", code),
		slog.Int64("bytes", bytes),
		slog.Duration("duration", d),
		slog.String("cluster", st.cl.cfg.Name),
		slog.String("backend", backend),
		slog.Int("attempts", st.attempts),
		slog.Bool("aborted", aborted),
	)
}
