package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"strings"
	"sync"
	"syscall"
	"time"
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
	idleAt time.Time
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
	c := &bconn{nc: nc, lr: limitedConn{nc: nc, budget: math.MaxInt64}}
	if sc, ok := nc.(syscall.Conn); ok {
		c.rc, _ = sc.SyscallConn()
	}
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

// get returns an idle connection that is still open, or nil.
func (p *connPool) get() *bconn {
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
		if time.Since(c.idleAt) < p.idleTimeout && c.alive() {
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
	return peekAlive(c.rc)
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

// forward proxies one request through the forwarder, with the same
// backend choice, retries and passive ejection as cluster.RoundTrip.
func (s *Server) forward(w *respWriter, r *http.Request, st *reqState) {
	cl := st.cl
	var body *countingBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &countingBody{rc: r.Body}
	}
	stop := context.AfterFunc(r.Context(), st.watch.fire)
	defer stop()
	b := cl.first(st)
	var triedBuf [4]*backend
	tried := triedBuf[:0]
	retriedOther := false
	for {
		st.attempts++
		b.active.Add(1)
		b.requests.Add(1)
		resp, c, err := s.roundTrip(w, r, st, b, body)
		if err == nil {
			st.used = b
			s.relay(w, r, st, b, resp, c)
			return
		}
		b.active.Add(-1)
		if r.Context().Err() != nil {
			s.proxyErrorState(w, r, st, err)
			return
		}
		var de *dialError
		dial := errors.As(err, &de)
		b.failures.Add(1)
		b.markFailure(err, dial)
		tried = append(tried, b)
		untouched := body == nil || !body.touched
		switch {
		case dial && untouched:
		case !retriedOther && !isTimeout(err) && body == nil && idempotent(r.Method):
			retriedOther = true
		default:
			s.proxyErrorState(w, r, st, err)
			return
		}
		next := cl.pick(tried)
		if next == nil {
			s.proxyErrorState(w, r, st, err)
			return
		}
		cl.log.Debug("retrying on another backend", "from", b.url.String(), "to", next.url.String(), "err", err)
		b = next
	}
}

// roundTrip sends the request on a pooled or new connection to b and reads
// the response head. A pooled connection the backend closed while it was
// idle is replaced by a new one, as http.Transport does, when the request
// can be sent again: nothing of its body was read, or it has no body and is
// idempotent.
func (s *Server) roundTrip(w *respWriter, r *http.Request, st *reqState, b *backend, body *countingBody) (*http.Response, *bconn, error) {
	ctx := r.Context()
	fresh := false
	for {
		var c *bconn
		if !fresh {
			c = b.pool.get()
		}
		reused := c != nil
		if c == nil {
			var err error
			if c, err = b.pool.dial(ctx); err != nil {
				return nil, nil, err
			}
		}
		resp, err := s.exchange(w, c, r, st, b, body, reused)
		if err == nil {
			return resp, c, nil
		}
		c.close()
		var se *staleError
		if errors.As(err, &se) && ctx.Err() == nil &&
			(body == nil && idempotent(r.Method) || body != nil && !body.touched) {
			fresh = true
			continue
		}
		return nil, nil, err
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// connWatch cuts the backend connection a request is using when its client
// goes away (one context.AfterFunc per request).
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

// exchange writes the request to c and reads the response head.
func (s *Server) exchange(w *respWriter, c *bconn, r *http.Request, st *reqState, b *backend, body *countingBody, reused bool) (_ *http.Response, err error) {
	ctx := r.Context()
	st.watch.set(c)
	defer func() {
		if err != nil {
			st.watch.set(nil)
		}
	}()

	writeErr := s.writeRequest(c.bw, r, st, b, body)
	var ce *clientBodyError
	if errors.As(writeErr, &ce) {
		return nil, writeErr
	}
	if writeErr != nil && (body == nil || !body.touched) {
		if reused {
			return nil, &staleError{writeErr}
		}
		return nil, writeErr
	}
	// After a failed body write the backend may still have answered early
	// (413, 401): read what it sent.
	if t := st.cl.cfg.ResponseHeaderTimeout; t > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(t))
	}
	if _, err := c.br.Peek(1); err != nil {
		if writeErr != nil {
			return nil, writeErr
		}
		if reused && !isTimeout(err) {
			return nil, &staleError{err}
		}
		return nil, err
	}
	var resp *http.Response
	c.lr.budget = maxResponseHeaderBytes
	defer func() { c.lr.budget = math.MaxInt64 }()
	for n := 0; ; n++ {
		var err error
		resp, err = http.ReadResponse(c.br, r)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 200 {
			break
		}
		if resp.StatusCode == http.StatusSwitchingProtocols || n >= max1xx {
			return nil, errors.New("backend sent an unexpected 1xx response: " + resp.Status)
		}
		// 100 Continue is for the proxy (no Expect reaches this path);
		// others (103 Early Hints) pass to the client, as ReverseProxy does.
		if resp.StatusCode != http.StatusContinue {
			h := w.Header()
			for k, vv := range resp.Header {
				if !hopHeaders[k] {
					h[k] = vv
				}
			}
			w.WriteHeader(resp.StatusCode)
			clear(h)
		}
	}
	if writeErr != nil {
		resp.Close = true
	}
	if st.cl.cfg.ResponseHeaderTimeout > 0 {
		_ = c.nc.SetReadDeadline(time.Time{})
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return resp, nil
}

// hopHeaders are removed in both directions (RFC 9110 7.6.1), as
// httputil.ReverseProxy does.
var hopHeaders = map[string]bool{
	"Connection":          true,
	"Proxy-Connection":    true,
	"Keep-Alive":          true,
	"Proxy-Authenticate":  true,
	"Proxy-Authorization": true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
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

// skipOut are request headers the forwarder replaces with its own.
var skipOut = map[string]bool{
	"Host":              true,
	"Content-Length":    true,
	"X-Forwarded-For":   true,
	"X-Forwarded-Host":  true,
	"X-Forwarded-Proto": true,
	"X-Forwarded-Port":  true,
	"Forwarded":         true,
	"Via":               true,
}

// writeRequest writes the request line, filtered headers, forwarding
// headers and body to bw, and flushes it.
func (s *Server) writeRequest(bw *bufio.Writer, r *http.Request, st *reqState, b *backend, body *countingBody) error {
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(r.URL.RequestURI())
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	if *st.cl.cfg.PreserveHost {
		bw.WriteString(r.Host)
	} else {
		bw.WriteString(b.url.Host)
	}
	bw.WriteString("\r\n")

	conn := connectionTokens(r.Header)
	var cookies []string
	if st.cl.sticky {
		if lines := r.Header["Cookie"]; len(lines) > 0 {
			h := http.Header{"Cookie": lines}
			stripRouteCookie(h)
			cookies = h["Cookie"]
		}
	}
	for k, vv := range r.Header {
		if hopHeaders[k] || skipOut[k] || conn[k] {
			continue
		}
		if k == "Cookie" && st.cl.sticky {
			vv = cookies
		}
		for _, v := range vv {
			writeHeaderLine(bw, k, v)
		}
	}
	if te := r.Header["Te"]; len(te) > 0 && !conn["Te"] && containsToken(te, "trailers") {
		bw.WriteString("Te: trailers\r\n")
	}
	f := s.forwarding(r, st)
	writeHeaderLine(bw, "Via", f.via)
	if f.xff != "" {
		writeHeaderLine(bw, "X-Forwarded-For", f.xff)
	}
	writeHeaderLine(bw, "X-Forwarded-Proto", f.proto)
	writeHeaderLine(bw, "X-Forwarded-Host", f.host)
	if f.port != "" {
		writeHeaderLine(bw, "X-Forwarded-Port", f.port)
	}
	writeHeaderLine(bw, "Forwarded", f.fwd)

	switch {
	case body == nil:
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			bw.WriteString("Content-Length: 0\r\n")
		}
		bw.WriteString("\r\n")
	case r.ContentLength >= 0:
		bw.WriteString("Content-Length: ")
		var nb [20]byte
		bw.Write(appendInt(nb[:0], r.ContentLength))
		bw.WriteString("\r\n\r\n")
		if err := copyBody(writerOnly{bw}, body); err != nil {
			return err
		}
		if body.n != r.ContentLength {
			return &clientBodyError{errors.New("request body shorter than its Content-Length")}
		}
	default:
		bw.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		cw := httputil.NewChunkedWriter(bw)
		if err := copyBody(cw, body); err != nil {
			return err
		}
		if err := cw.Close(); err != nil {
			return err
		}
		for k, vv := range r.Trailer {
			for _, v := range vv {
				writeHeaderLine(bw, k, v)
			}
		}
		bw.WriteString("\r\n")
	}
	return bw.Flush()
}

// clientBodyError is a failure to read the client's request body.
type clientBodyError struct{ err error }

func (e *clientBodyError) Error() string { return "reading request body: " + e.err.Error() }
func (e *clientBodyError) Unwrap() error { return e.err }

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

func writeHeaderLine(bw *bufio.Writer, k, v string) {
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(v)
	bw.WriteString("\r\n")
}

func appendInt(b []byte, n int64) []byte {
	if n == 0 {
		return append(b, '0')
	}
	var tmp [20]byte
	i := len(tmp)
	for n > 0 {
		i--
		tmp[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, tmp[i:]...)
}

func containsToken(lines []string, token string) bool {
	for _, line := range lines {
		for _, f := range strings.Split(line, ",") {
			if strings.EqualFold(textproto.TrimString(f), token) {
				return true
			}
		}
	}
	return false
}

// relay sends the backend's response to the client and gives the
// connection back to the pool when it can carry another request.
func (s *Server) relay(w *respWriter, r *http.Request, st *reqState, b *backend, resp *http.Response, c *bconn) {
	ctx := r.Context()
	conn := connectionTokens(resp.Header)
	h := w.Header()
	for k, vv := range resp.Header {
		if hopHeaders[k] || conn[k] {
			continue
		}
		h[k] = vv
	}
	if st.cl.sticky {
		st.cl.stick(st, h)
	}
	announced := len(resp.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		h.Add("Trailer", strings.Join(keys, ", "))
	}
	w.WriteHeader(resp.StatusCode)
	if resp.Body == http.NoBody {
		if canceled := st.watch.set(nil); resp.Close || canceled {
			c.close()
		} else {
			b.pool.put(c)
		}
		return
	}

	flush := resp.ContentLength < 0 || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	var fl http.Flusher
	if flush {
		fl, _ = w.ResponseWriter.(http.Flusher)
	}
	bp := copyBuffers.Get().(*[copyBufSize]byte)
	buf := bp[:]
	if resp.ContentLength >= 0 && resp.ContentLength < int64(len(buf)) {
		// One read past the end sees EOF; a small body needs a small slice.
		buf = buf[:resp.ContentLength+1]
	}
	var copyErr error
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				copyErr = werr
				break
			}
			if fl != nil {
				fl.Flush()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			copyErr = rerr
			break
		}
	}
	copyBuffers.Put(bp)
	canceled := st.watch.set(nil)
	if copyErr != nil || canceled {
		c.close()
		if copyErr == nil {
			copyErr = ctx.Err()
		}
		s.log.Debug("response body copy failed", "cluster", st.cl.cfg.Name, "backend", b.url.Host, "err", copyErr)
		panic(http.ErrAbortHandler)
	}
	if resp.Close {
		c.close()
	} else {
		b.pool.put(c)
	}
	if len(resp.Trailer) > 0 {
		if f, ok := w.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		if len(resp.Trailer) == announced {
			for k, vv := range resp.Trailer {
				h[k] = vv
			}
		} else {
			for k, vv := range resp.Trailer {
				for _, v := range vv {
					h.Add(http.TrailerPrefix+k, v)
				}
			}
		}
	}
}
