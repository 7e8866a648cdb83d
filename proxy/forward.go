package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/keybridge/keybridge/proxy/internal/rawio"
)

// The forwarder is the request path for plain-HTTP backends: the handler
// goroutine writes the request to a pooled keep-alive connection and reads
// the response itself, with no goroutines per backend connection and no
// copies of the request. Upgrades, Expect: 100-continue, CONNECT and HTTPS
// backends go through httputil.ReverseProxy and http.Transport instead.

const (
	backendReadBuf  = 8 << 10
	backendWriteBuf = 4 << 10
	max1xx          = 5
)

// bconn is one keep-alive connection to a backend, owned by one request at
// a time: the pool hands it out and takes it back.
type bconn struct {
	nc     net.Conn
	rc     syscall.RawConn // nil when the connection has none
	lr     limitedConn     // what br reads from: nc, with a byte budget
	br     *bufio.Reader
	bw     *bufio.Writer
	body   io.LimitedReader // a response body of known length
	idleAt time.Time
	rdl    time.Time // the read deadline last set
}

// maxResponseHeaderBytes bounds what a backend may send before its response
// header ends (1xx responses included), as http.Transport's
// MaxResponseHeaderBytes does: a broken backend cannot make the proxy buffer
// without end.
const maxResponseHeaderBytes = 1 << 20

// limitedConn reads from a connection while budget lasts.
type limitedConn struct {
	nc     net.Conn
	budget int64
}

func (l *limitedConn) Read(p []byte) (int, error) {
	if l.budget <= 0 {
		return 0, fmt.Errorf("backend response header larger than %d bytes", maxResponseHeaderBytes)
	}
	if int64(len(p)) > l.budget {
		p = p[:l.budget]
	}
	n, err := l.nc.Read(p)
	l.budget -= int64(n)
	return n, err
}

// connPool keeps a backend's idle connections, most recently used last.
type connPool struct {
	addr        string
	dialer      *net.Dialer
	max         int
	idleTimeout time.Duration

	mu     sync.Mutex
	idle   []*bconn
	closed bool
}

var bufReaders, bufWriters sync.Pool

func (p *connPool) dial(ctx context.Context) (*bconn, error) {
	nc, err := p.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, &dialError{err}
	}
	var rc syscall.RawConn
	if sc, ok := nc.(syscall.Conn); ok {
		rc, _ = sc.SyscallConn()
	}
	nc = rawio.Wrap(nc)
	c := &bconn{nc: nc, rc: rc, lr: limitedConn{nc: nc, budget: math.MaxInt64}}
	if v, ok := bufReaders.Get().(*bufio.Reader); ok {
		v.Reset(&c.lr)
		c.br = v
	} else {
		c.br = bufio.NewReaderSize(&c.lr, backendReadBuf)
	}
	if v, ok := bufWriters.Get().(*bufio.Writer); ok {
		v.Reset(nc)
		c.bw = v
	} else {
		c.bw = bufio.NewWriterSize(nc, backendWriteBuf)
	}
	return c, nil
}

// close closes the connection and recycles its buffers.
func (c *bconn) close() {
	_ = c.nc.Close()
	c.br.Reset(nil)
	c.bw.Reset(nil)
	bufReaders.Put(c.br)
	bufWriters.Put(c.bw)
	c.br, c.bw = nil, nil
}

// quickReuse: a connection that was idle for less than this is reused for a
// request that can be sent again without first checking that the backend
// has not closed it. Backends close idle connections after seconds, not
// milliseconds; should one have, the request fails before any response and
// goes again on a new connection (roundTrip), as http.Transport retries.
// This saves a system call per request on a busy connection.
const quickReuse = time.Second

// get returns an idle connection that is still open, or nil. replayable
// says the request can be sent again after a failure on a stale
// connection (idempotent, no body).
func (p *connPool) get(replayable bool) *bconn {
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			return nil
		}
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		idle := time.Since(c.idleAt)
		if idle < p.idleTimeout && (replayable && idle < quickReuse && c.br.Buffered() == 0 || c.alive()) {
			return c
		}
		c.close()
	}
}

// put returns a connection whose last response was read completely.
func (p *connPool) put(c *bconn) {
	c.idleAt = time.Now()
	p.mu.Lock()
	if p.closed || len(p.idle) >= p.max {
		p.mu.Unlock()
		c.close()
		return
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// prune closes connections idle for longer than the idle timeout.
func (p *connPool) prune() {
	p.mu.Lock()
	var old []*bconn
	keep := p.idle[:0]
	for _, c := range p.idle {
		if time.Since(c.idleAt) >= p.idleTimeout {
			old = append(old, c)
		} else {
			keep = append(keep, c)
		}
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	p.mu.Unlock()
	for _, c := range old {
		c.close()
	}
}

// closeIdle closes every idle connection; with final, later puts close too.
func (p *connPool) closeIdle(final bool) {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	if final {
		p.closed = true
	}
	p.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

// alive reports whether an idle connection is still open: the backend has
// neither closed it nor sent anything unasked. One non-blocking peek; this
// is what http.Transport learns from its per-connection read goroutine.
func (c *bconn) alive() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	if c.rc == nil {
		return true
	}
	return rawio.PeekAlive(c.rc)
}

// leanOK reports whether a request can take the forwarder.
func leanOK(r *http.Request) bool {
	if r.Method == http.MethodConnect {
		return false
	}
	h := r.Header
	if _, ok := h["Upgrade"]; ok {
		return false
	}
	if _, ok := h["Expect"]; ok {
		return false
	}
	return true
}

// countingBody notes whether any of the request body was read.
type countingBody struct {
	rc      io.Reader
	touched bool
	n       int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	b.touched = true
	n, err := b.rc.Read(p)
	b.n += int64(n)
	return n, err
}

// errStale is a reused connection that failed before any of the response
// arrived: the backend had closed it while idle.
type staleError struct{ err error }

func (e *staleError) Error() string { return e.err.Error() }
func (e *staleError) Unwrap() error { return e.err }

// fwdReq is a request as the forwarder sends it. The HTTP/1 loop fills it
// from the bytes it parsed, the net/http handler (HTTP/2, connections
// handed over) from an *http.Request.
type fwdReq struct {
	method string
	uri    string // request target, origin-form
	host   string // the client's Host
	// head holds the header fields to send, "Name: value\r\n" each, the
	// forwarding fields included; Host and the framing are added per attempt.
	head   []byte
	body   *countingBody // nil: no body
	length int64         // body length; -1: unknown, sent chunked
	// trailer holds a chunked body's trailers once the body is read (its
	// keys, the trailers declared, before).
	trailer http.Header
}

// sink is where the forwarder sends a response: the HTTP/1 loop's own
// connection, or a net/http ResponseWriter.
type sink interface {
	// inform passes on an informational response (103 Early Hints).
	inform(h *respHead) error
	// header sends the status line and header fields, with setCookie ("":
	// none) as one more Set-Cookie field and via as one more Via field
	// (RFC 9110 7.6.3: a proxy names itself in what it forwards).
	header(h *respHead, setCookie, via string) error
	write(p []byte) error
	flush() error
	// trailers sends the fields that followed a chunked body.
	trailers(fields []hfield) error
	// fail answers with an error status when nothing was sent yet.
	fail(code int)
}

// forward proxies one request: backend choice, retries and failure
// attribution as in cluster.RoundTrip (both ask blame and retryPlan). An
// error means the response broke off after it had begun (the client or the
// backend failed mid-body): the client connection must be closed.
func (s *Server) forward(k sink, fr *fwdReq, st *reqState) error {
	a := attempts{cl: st.cl, st: st}
	b := st.cl.first(st)
	for {
		a.begin(b)
		rh, c, err := s.roundTrip(k, fr, st, b)
		if err == nil {
			st.used = b
			return s.relay(k, fr, st, b, rh, c)
		}
		next, f := a.failed(b, err, fr.body != nil && fr.body.touched, fr.body == nil && idempotent(fr.method))
		if next == nil {
			s.failed(k, st, fr.method, fr.uri, f, err)
			return nil
		}
		b = next
	}
}

// attribute asks blame whose fault a failed attempt on b was, and charges
// the backend or counts the client's failure accordingly. Every request
// path calls it for every failed attempt.
func attribute(m *metrics, st *reqState, b *backend, err error) fault {
	f := blame(err, st.clientGone())
	if f.client() {
		m.clientFault(f)
	} else {
		var de *dialError
		b.charge(err, errors.As(err, &de))
	}
	return f
}

// failed answers a request no backend could serve (see fault.status);
// nothing when the client has gone (logged as 499).
func (s *Server) failed(k sink, st *reqState, method, uri string, f fault, err error) {
	code := f.status(isTimeout(err))
	if code == 499 {
		st.code = 499
		return
	}
	// Copies: the HTTP/1 loop's strings are over its request buffer, and a
	// log handler may keep what it is given.
	level := slog.LevelWarn
	if f.client() {
		level = slog.LevelDebug
		st.closeAfter = true // the rest of the body is not read
	}
	s.log.Log(context.Background(), level, "proxy error", "cluster", st.cl.cfg.Name, "method", strings.Clone(method),
		"uri", strings.Clone(uri), "status", code, "fault", f.String(), "err", err)
	k.fail(code)
}

// roundTrip sends the request on a pooled or new connection to b and reads
// the response head. A pooled connection the backend closed while it was
// idle is replaced by a new one, as http.Transport does, when the request
// can be sent again: nothing of its body was read, or it has no body and is
// idempotent.
func (s *Server) roundTrip(k sink, fr *fwdReq, st *reqState, b *backend) (*respHead, *bconn, error) {
	fresh := false
	for {
		var c *bconn
		if !fresh {
			c = b.pool.get(fr.body == nil && idempotent(fr.method))
		}
		reused := c != nil
		if c == nil {
			var err error
			if c, err = b.pool.dial(st.ctx()); err != nil {
				return nil, nil, err
			}
		}
		rh, err := s.exchange(k, c, fr, st, b, reused)
		if err == nil {
			return rh, c, nil
		}
		c.close()
		var se *staleError
		if errors.As(err, &se) && !st.watch.gone() &&
			(fr.body == nil && idempotent(fr.method) || fr.body != nil && !fr.body.touched) {
			fresh = true
			continue
		}
		return nil, nil, err
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// connWatch cuts the backend connection a request is using when its client
// goes away.
type connWatch struct {
	mu    sync.Mutex
	c     *bconn
	fired bool
}

// set makes c the watched connection (nil: none) and reports whether the
// client has gone; after set(nil) the previous connection is left alone.
func (w *connWatch) set(c *bconn) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.c = c
	if w.fired && c != nil {
		_ = c.nc.SetDeadline(aLongTimeAgo)
	}
	return w.fired
}

func (w *connWatch) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fired = true
	if w.c != nil {
		_ = w.c.nc.SetDeadline(aLongTimeAgo)
	}
}

// lift lifts c's read deadline (clearDeadline) unless the watch has
// fired: the deadline that cut the connection for a client gone stays, or
// the read that follows would wait on the backend for nothing.
func (w *connWatch) lift(c *bconn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.fired {
		c.clearDeadline()
	}
}

func (w *connWatch) gone() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fired
}

// exchange writes the request to c and reads the response head; 1xx
// responses other than 100 Continue go to the client on the way.
func (s *Server) exchange(k sink, c *bconn, fr *fwdReq, st *reqState, b *backend, reused bool) (_ *respHead, err error) {
	st.watch.set(c)
	defer func() {
		if err != nil {
			st.watch.set(nil)
		}
	}()

	writeErr := writeRequest(c.bw, fr, st, b)
	if writeErr != nil && isClientBodyError(writeErr) {
		return nil, writeErr
	}
	if writeErr != nil && (fr.body == nil || !fr.body.touched) {
		if reused {
			return nil, &staleError{writeErr}
		}
		return nil, writeErr
	}
	// After a failed body write the backend may still have answered early
	// (413, 401): read what it sent.
	headDeadline, err := st.awaitResponse(c, st.cl.cfg.ResponseHeaderTimeout)
	if err != nil {
		if writeErr != nil {
			return nil, writeErr
		}
		if reused && !isTimeout(err) {
			return nil, &staleError{err}
		}
		return nil, err
	}
	c.lr.budget = maxResponseHeaderBytes
	defer func() { c.lr.budget = math.MaxInt64 }()
	rh := &st.resp
	for n := 0; ; n++ {
		head, err := readHead(c.br, st.headBuf, c, headDeadline)
		headDeadline = time.Time{} // after a 1xx, no deadline (clearDeadline)
		if err == nil {
			*rh, err = parseResponseHead(head, st.respFields[:0])
		}
		if err != nil {
			if reused && n == 0 && !isTimeout(err) {
				// Garbage before the answer on a reused connection (a backend
				// that sent more than its last response said): a request that
				// can be sent again goes again on a new connection.
				return nil, &staleError{err}
			}
			return nil, err
		}
		if rh.code >= 200 {
			break
		}
		st.watch.lift(c)
		if rh.code == http.StatusSwitchingProtocols || n >= max1xx {
			return nil, fmt.Errorf("backend sent an unexpected 1xx response: %d", rh.code)
		}
		// 100 Continue is for the proxy (no Expect reaches this path);
		// others (103 Early Hints) pass to the client, as ReverseProxy does.
		if rh.code != http.StatusContinue {
			if err := k.inform(rh); err != nil {
				return nil, &clientBodyError{err}
			}
		}
	}
	if writeErr != nil {
		rh.close = true
	}
	if st.watch.gone() {
		return nil, context.Canceled
	}
	return rh, nil
}

// awaitResponse waits until the backend's answer begins, within timeout
// (0: none), and returns the deadline of the whole head. The HTTP/1 loop learns that its client went away only when it
// looks: if the answer takes longer than clientCheckAfter, it starts
// watching the client connection (net/http watches every request).
func (st *reqState) awaitResponse(c *bconn, timeout time.Duration) (time.Time, error) {
	now := time.Now()
	var deadline time.Time
	if timeout > 0 {
		deadline = now.Add(timeout)
	}
	if st.watchClient == nil || timeout > 0 && timeout <= clientCheckAfter {
		c.setReadDeadline(deadline)
		// A watch that fired before (while the request was written, failing
		// the write) had cut the connection: the deadline above undid that,
		// and the backend, given half a body, may never answer.
		if st.clientGone() {
			return deadline, context.Canceled
		}
		return deadline, c.await()
	}
	// The check is a heuristic: a deadline set by an earlier request on
	// this connection that falls in the second half of the second serves,
	// which saves two timer updates per request on a busy connection.
	if first := now.Add(clientCheckAfter); c.rdl.Before(now.Add(clientCheckAfter/2)) || c.rdl.After(first) {
		c.setReadDeadline(first)
	}
	err := c.await()
	if err != nil && isTimeout(err) && !st.watch.gone() {
		st.watchClient()
		c.setReadDeadline(deadline)
		// The watch may have found the client gone and cut the
		// connection before the deadline above undid that.
		if st.watch.gone() {
			return deadline, context.Canceled
		}
		err = c.await()
	}
	return deadline, err
}

func (c *bconn) setReadDeadline(t time.Time) {
	if !t.Equal(c.rdl) {
		c.rdl = t
		_ = c.nc.SetReadDeadline(t)
	}
}

// headDeadline sets the read deadline for the rest of a response head; a
// nil c does nothing.
func (c *bconn) headDeadline(deadline time.Time) {
	if c != nil {
		c.setReadDeadline(deadline)
	}
}

// clearDeadline lifts the read deadline before a read that may wait on the
// backend for longer (a body, the next head after a 1xx).
func (c *bconn) clearDeadline() {
	c.setReadDeadline(time.Time{})
}

// await waits for the first byte of a response. (Waiting for readability
// before the first read would save a read that finds nothing, but Go's
// poller forgets readiness when a read begins: a response that arrived just
// before would never wake the wait.)
func (c *bconn) await() error {
	_, err := c.br.Peek(1)
	return err
}

// clientCheckAfter is how long the HTTP/1 loop lets a backend think before
// it watches for the client going away.
const clientCheckAfter = time.Second

// readHead reads a message head up to and including the empty line that
// ends it. When the head is not all in the first read, the rest has until
// deadline (c's read deadline may have been the client check's shorter
// one); c nil: the deadline stays as it is. The common case is one allocation, or none when the head fits in
// buf: the head is then returned as a string over buf's bytes, which the
// caller must leave alone, and keep, for as long as that string or any part
// of it is in use (the HTTP/1 loop's pooled request state: see
// h1Req.respBuf).
func readHead(br *bufio.Reader, buf []byte, c *bconn, deadline time.Time) (string, error) {
	from := 0
	waited := false
	for {
		n := br.Buffered()
		b, _ := br.Peek(n)
		if i := bytes.Index(b[from:], crlfcrlf); i >= 0 {
			b = b[:from+i+4]
			_, _ = br.Discard(len(b))
			return bytesString(b, buf), nil
		}
		from = max(0, n-3)
		if n == br.Size() {
			break
		}
		if !waited {
			c.headDeadline(deadline)
			waited = true
		}
		if _, err := br.Peek(n + 1); err != nil {
			if err == io.EOF && n > 0 {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
	// Larger than the buffer: gather it line by line (the connection's
	// byte budget bounds it).
	if !waited {
		c.headDeadline(deadline)
	}
	var acc []byte
	for {
		line, err := br.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		acc = append(acc, line...)
		if bytes.HasSuffix(acc, crlfcrlf) {
			return string(acc), nil
		}
	}
}

var crlfcrlf = []byte("\r\n\r\n")

// bytesString returns b as a string: copied into buf and read in place when
// it fits (no allocation; buf must then outlive the string and stay as it
// is, see readHead), else copied to a new string.
func bytesString(b, buf []byte) string {
	if len(b) == 0 || len(b) > len(buf) {
		return string(b)
	}
	n := copy(buf, b)
	return unsafe.String(&buf[0], n)
}

// skipOut reports whether a request field is one the forwarder replaces
// with its own.
func skipOut(name string) bool {
	switch len(name) {
	case 3:
		return equalFold(name, "Via")
	case 4:
		return equalFold(name, "Host")
	case 9:
		return equalFold(name, "Forwarded")
	case 14:
		return equalFold(name, "Content-Length")
	case 15:
		return equalFold(name, "X-Forwarded-For")
	case 16:
		return equalFold(name, "X-Forwarded-Host") || equalFold(name, "X-Forwarded-Port")
	case 17:
		return equalFold(name, "X-Forwarded-Proto")
	}
	return false
}

// connectionTokens returns the header names a Connection header lists.
func connectionTokens(h http.Header) map[string]bool {
	lines := h["Connection"]
	if len(lines) == 0 {
		return nil
	}
	m := map[string]bool{}
	for _, line := range lines {
		for _, f := range strings.Split(line, ",") {
			if f = textproto.TrimString(f); f != "" {
				m[textproto.CanonicalMIMEHeaderKey(f)] = true
			}
		}
	}
	return m
}

// appendHTTPHead renders the fields of a net/http request for the backend:
// hop-by-hop and forwarding fields dropped, the route cookie removed, the
// forwarding fields added.
func (s *Server) appendHTTPHead(dst []byte, r *http.Request, st *reqState) []byte {
	conn := connectionTokens(r.Header)
	var cookies []string
	strip := false
	if st.cl.sticky {
		cookies, strip = st.cl.stripRouteCookieLines(r.Header["Cookie"])
	}
	for k, vv := range r.Header {
		if hopField(k) || skipOut(k) || conn[k] {
			continue
		}
		if k == "Cookie" && strip {
			vv = cookies
		}
		for _, v := range vv {
			dst = appendField(dst, k, v)
		}
	}
	if te := r.Header["Te"]; len(te) > 0 && !conn["Te"] && containsToken(te, "trailers") {
		dst = append(dst, "Te: trailers\r\n"...)
	}
	in := httpFwdIn(r)
	return appendForwarding(dst, s.forwarding(&in, st))
}

// appendH1Head is appendHTTPHead for a request parsed by the HTTP/1 loop.
func (s *Server) appendH1Head(dst []byte, h *reqHead, st *reqState, in *fwdIn) []byte {
	strip := st.cl.sticky && h.cookie && st.cl.routeCookieIn(h.fields)
	te := false
	for i, f := range h.fields {
		if hopField(f.name) || skipOut(f.name) || h.conn && listedIn(h.fields, f.name) {
			if len(f.name) == 2 && !te && !(h.conn && listedIn(h.fields, "TE")) {
				te = hasToken(f.value, "trailers")
			}
			continue
		}
		if strip && len(f.name) == 6 && equalFold(f.name, "Cookie") {
			if firstField(h.fields, i, "Cookie") {
				dst = st.cl.appendCookies(dst, h.fields)
			}
			continue
		}
		dst = appendField(dst, f.name, f.value)
	}
	if te {
		dst = append(dst, "Te: trailers\r\n"...)
	}
	if h.fwd {
		in.xff = fieldValues(h.fields, "X-Forwarded-For")
		in.fwd = fieldValues(h.fields, "Forwarded")
		in.via = fieldValues(h.fields, "Via")
		in.xfProto = fieldValue(h.fields, "X-Forwarded-Proto")
		in.xfHost = fieldValue(h.fields, "X-Forwarded-Host")
		in.xfPort = fieldValue(h.fields, "X-Forwarded-Port")
	}
	return appendForwarding(dst, s.forwarding(in, st))
}

// fieldValues returns the values of the fields named name, in order.
func fieldValues(fields []hfield, name string) []string {
	return appendValues(nil, fields, name)
}

// appendValues appends the values of the fields named name to dst.
func appendValues(dst []string, fields []hfield, name string) []string {
	for _, f := range fields {
		if equalFold(f.name, name) {
			dst = append(dst, f.value)
		}
	}
	return dst
}

// fieldValue returns the first value of the field named name.
func fieldValue(fields []hfield, name string) string {
	for _, f := range fields {
		if equalFold(f.name, name) {
			return f.value
		}
	}
	return ""
}

// firstField reports whether fields[i] is the first field named name.
func firstField(fields []hfield, i int, name string) bool {
	for _, f := range fields[:i] {
		if equalFold(f.name, name) {
			return false
		}
	}
	return true
}

func appendForwarding(dst []byte, f fwdValues) []byte {
	dst = appendField(dst, "Via", f.via)
	if f.xff != "" {
		dst = appendField(dst, "X-Forwarded-For", f.xff)
	}
	dst = appendField(dst, "X-Forwarded-Proto", f.proto)
	dst = appendField(dst, "X-Forwarded-Host", f.host)
	if f.port != "" {
		dst = appendField(dst, "X-Forwarded-Port", f.port)
	}
	return appendField(dst, "Forwarded", f.fwd)
}

func appendField(dst []byte, k, v string) []byte {
	dst = append(dst, k...)
	dst = append(dst, ": "...)
	dst = append(dst, v...)
	return append(dst, "\r\n"...)
}

// writeRequest writes the request line, Host, the rendered fields, the
// framing and the body to bw, and flushes it.
func writeRequest(bw *bufio.Writer, fr *fwdReq, st *reqState, b *backend) error {
	bw.WriteString(fr.method)
	bw.WriteByte(' ')
	bw.WriteString(fr.uri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	if *st.cl.cfg.PreserveHost {
		bw.WriteString(fr.host)
	} else {
		bw.WriteString(b.url.Host)
	}
	bw.WriteString("\r\n")
	bw.Write(fr.head)
	body := fr.body
	switch {
	case body == nil:
		switch fr.method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			bw.WriteString("Content-Length: 0\r\n")
		}
		bw.WriteString("\r\n")
	case fr.length >= 0:
		writeLength(bw, fr.length)
		bw.WriteString("\r\n")
		if err := copyBody(writerOnly{bw}, body); err != nil {
			return err
		}
		if body.n != fr.length {
			return &clientBodyError{errors.New("request body shorter than its Content-Length")}
		}
	default:
		if len(fr.trailer) > 0 {
			// The trailers to come are named, as net/http's Transport
			// names them.
			bw.WriteString("Trailer: ")
			bw.WriteString(strings.Join(slices.Sorted(maps.Keys(fr.trailer)), ","))
			bw.WriteString("\r\n")
		}
		bw.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		cw := httputil.NewChunkedWriter(bw)
		if err := copyBody(cw, body); err != nil {
			return err
		}
		if err := cw.Close(); err != nil {
			return err
		}
		for k, vv := range fr.trailer {
			for _, v := range vv {
				writeHeaderLine(bw, k, v)
			}
		}
		bw.WriteString("\r\n")
	}
	return bw.Flush()
}

func isClientBodyError(err error) bool {
	var ce *clientBodyError
	return errors.As(err, &ce)
}

// copyBody copies a request body with a pooled buffer.
func copyBody(w io.Writer, body *countingBody) error {
	bp := copyBuffers.Get().(*[copyBufSize]byte)
	defer copyBuffers.Put(bp)
	buf := bp[:]
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return &clientBodyError{rerr}
		}
	}
}

var copyBuffers = sync.Pool{New: func() any { return new([copyBufSize]byte) }}

// writerOnly hides bufio.Writer's ReadFrom, which would hand the body to the
// connection's own ReadFrom with a fresh buffer.
type writerOnly struct{ io.Writer }

// writeLength writes a Content-Length field.
func writeLength(bw *bufio.Writer, n int64) {
	bw.WriteString("Content-Length: ")
	bw.Write(strconv.AppendInt(bw.AvailableBuffer(), n, 10))
	bw.WriteString("\r\n")
}

func writeHeaderLine(bw *bufio.Writer, k, v string) {
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(v)
	bw.WriteString("\r\n")
}

func containsToken(lines []string, token string) bool {
	for _, line := range lines {
		if hasToken(line, token) {
			return true
		}
	}
	return false
}

// testHookRelayHead, when set (by tests), runs once the response head has
// gone to the client and before the body is read.
var testHookRelayHead func(*reqState)

// relay sends the backend's response to the client and gives the
// connection back to the pool when it can carry another request.
func (s *Server) relay(k sink, fr *fwdReq, st *reqState, b *backend, rh *respHead, c *bconn) error {
	setCookie := ""
	if st.cl.sticky {
		setCookie = st.cl.stickCookie(st, fieldValues(rh.fields, "Set-Cookie"))
	}
	release := func(reusable bool) {
		if canceled := st.watch.set(nil); reusable && !rh.close && !canceled {
			b.pool.put(c)
		} else {
			c.close()
		}
	}
	if err := k.header(rh, setCookie, st.cl.via); err != nil {
		release(false)
		return err
	}
	if testHookRelayHead != nil {
		testHookRelayHead(st)
	}
	if bodyless(fr.method, rh.code) {
		release(true)
		b.ok()
		return nil
	}

	if rh.chunked || rh.length < 0 || int64(c.br.Buffered()) < rh.length {
		st.watch.lift(c) // more is to be read
	}
	var body io.Reader
	switch {
	case rh.chunked:
		body = httputil.NewChunkedReader(c.br)
	case rh.length >= 0:
		c.body = io.LimitedReader{R: c.br, N: rh.length}
		body = &c.body
	default:
		body = c.br // until the backend closes
	}
	stream := rh.length < 0 || strings.HasPrefix(fieldValue(rh.fields, "Content-Type"), "text/event-stream")
	bp := copyBuffers.Get().(*[copyBufSize]byte)
	buf := bp[:]
	var copyErr error
	backendErr := false // copyErr came from reading the backend
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if werr := k.write(buf[:n]); werr != nil {
				copyErr = werr
				break
			}
			if stream {
				if werr := k.flush(); werr != nil {
					copyErr = werr
					break
				}
			}
		}
		if rerr == io.EOF {
			if !rh.chunked && rh.length >= 0 && c.body.N > 0 {
				copyErr, backendErr = io.ErrUnexpectedEOF, true
			}
			break
		}
		if rerr != nil {
			copyErr, backendErr = rerr, true
			break
		}
	}
	copyBuffers.Put(bp)
	if copyErr == nil && rh.chunked {
		copyErr = s.relayTrailers(k, c)
		backendErr = copyErr != nil // the sinks' trailers do not fail
	}
	if copyErr == nil && st.watch.gone() {
		copyErr = context.Canceled
	}
	if copyErr != nil {
		release(false)
		if backendErr {
			attribute(s.metrics, st, b, copyErr)
		}
		s.log.Debug("response body copy failed", "cluster", st.cl.cfg.Name, "backend", b.url.Host, "err", copyErr)
		return copyErr
	}
	release(rh.chunked || rh.length >= 0)
	b.ok()
	return nil
}

// relayTrailers reads the trailer section after a chunked body and passes
// its fields on.
func (s *Server) relayTrailers(k sink, c *bconn) error {
	if b, err := c.br.Peek(2); err == nil && string(b) == "\r\n" {
		_, _ = c.br.Discard(2)
		return nil
	}
	c.lr.budget = maxResponseHeaderBytes
	defer func() { c.lr.budget = math.MaxInt64 }()
	sect, err := readHead(c.br, nil, nil, time.Time{})
	if err != nil {
		return err
	}
	var fields []hfield
	for rest := sect; ; {
		f, r, end, ok := nextField(rest)
		if !ok {
			return errBadResponse
		}
		if rest = r; end {
			break
		}
		if !hopField(f.name) && !equalFold(f.name, "Content-Length") {
			fields = append(fields, f)
		}
	}
	return k.trailers(fields)
}
