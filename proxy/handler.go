package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// listenerHandler serves one client-facing listener.
type listenerHandler struct {
	s     *Server
	tls   bool
	proxy bool // false: redirect to HTTPS
}

func (h *listenerHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := h.s
	if r.URL.Host != "" {
		// An absolute target names the host, whatever Host (or HTTP/2's
		// :authority) says: net/http does this for HTTP/1 requests, and
		// an HTTP/2 :path in absolute form is taken alike.
		r.Host = r.URL.Host
	}
	v, cl := s.admit(admitIn{path: r.URL.Path, method: r.Method, host: r.Host, via: r.Header["Via"], redirect: !h.proxy, h2: r.ProtoMajor == 2})
	switch v {
	case admitHealth:
		s.serveHealth(w, r)
		return
	case admitRedirect:
		s.redirect(w, r)
		return
	case refuseMethod, refuseLoop, refuseHost, refuseBad:
		code, text, allow := refusal(v, r.Method)
		if v == refuseLoop {
			s.log.Warn("request looped back to this proxy: does a backend point at the proxy itself?", "host", r.Host, "uri", r.RequestURI)
		}
		if allow != "" {
			w.Header().Set("Allow", allow)
		}
		s.metrics.observe(code, 0)
		http.Error(w, text, code)
		return
	}
	start := time.Now()
	// One allocation for the request's state and its response writer.
	pair := &struct {
		st reqState
		rw respWriter
		cw connWatch
		sp spool
	}{rw: respWriter{ResponseWriter: w, wto: s.cfg.WriteTimeout,
		// The server set this write deadline as the request arrived (a
		// little earlier): no need to set it again before wto/2 has passed.
		deadline: start.Add(s.cfg.WriteTimeout)}}
	st, rw := &pair.st, &pair.rw
	ap, _ := netip.ParseAddrPort(r.RemoteAddr)
	s.newState(st, cl, h.tls, ap.Addr().Unmap(), r.Header.Get("X-Forwarded-Proto"), r.Header["Cookie"])
	st.watch = &pair.cw
	st.context = r.Context()
	if r.ProtoMajor == 1 {
		s.filterUpgrade(r.Header)
	} else {
		delete(r.Header, "Upgrade") // not an HTTP/2 field (RFC 9113 8.2.2)
	}
	defer func() {
		// Also after ReverseProxy's ErrAbortHandler panic (the backend
		// failed mid-body): the counters must not leak.
		p := recover()
		s.finish(r, st, rw, start, p != nil)
		if p != nil {
			panic(p)
		}
	}()
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &bodyReader{rc: r.Body, w: w, timeout: s.cfg.BodyTimeout}
		if !s.cfg.UnbufferedRequests && !cl.cfg.UnbufferedRequests && r.ContentLength != 0 {
			sp := &pair.sp
			if err := s.bufferBody(sp, r.Body, r.ContentLength); err != nil {
				s.bodyFailed(&httpSink{w: rw}, st, r.Method, r.RequestURI, err)
				if st.code == 499 {
					rw.code = 499
				}
				return
			}
			s.buffered(r, sp)
		}
	}
	if cl.lean && leanOK(r) {
		defer pair.sp.Close()
		s.forwardHTTP(rw, r, st)
		return
	}
	// ReverseProxy's transport closes the body (the spool) when it is done
	// with it, which may be after ServeHTTP returns.
	r = r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
	cl.proxy.ServeHTTP(rw, r)
}

// buffered makes a request's body the buffered sp: a whole body is sent
// with its length (a chunked one too, unless it has trailers), and the
// client's Expect is answered (net/http sent 100 Continue as the body was
// read).
func (s *Server) buffered(r *http.Request, sp *spool) {
	r.Body = sp
	r.Header.Del("Expect")
	if sp.rest == nil && len(r.Trailer) == 0 {
		r.ContentLength = sp.size()
		r.TransferEncoding = nil
		if r.ContentLength == 0 {
			r.Body = http.NoBody
			sp.Close()
		}
	}
}

// bodyReader moves the connection's read deadline forward while a request
// body arrives: a client that stalls for longer than timeout is cut.
type bodyReader struct {
	rc       io.ReadCloser
	w        http.ResponseWriter
	timeout  time.Duration
	deadline time.Time
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if dl, ok := renew(b.deadline, b.timeout); ok {
		b.deadline = dl
		_ = http.NewResponseController(b.w).SetReadDeadline(dl)
	}
	return b.rc.Read(p)
}

// renew returns a deadline d from now when less than half of d is left
// before deadline: moving a deadline forward while data flows costs one timer
// update per d/2, and a stall is still cut within d.
func renew(deadline time.Time, d time.Duration) (time.Time, bool) {
	now := time.Now()
	if deadline.Sub(now) > d/2 {
		return deadline, false
	}
	return now.Add(d), true
}

func (b *bodyReader) Close() error { return b.rc.Close() }

// finish counts and logs a proxied request.
func (s *Server) finish(r *http.Request, st *reqState, rw *respWriter, start time.Time, aborted bool) {
	if st.used != nil {
		st.used.active.Add(-1)
	}
	code := rw.code
	if code == 0 {
		code = http.StatusOK
	}
	d := time.Since(start)
	s.metrics.observe(code, d)
	if s.cfg.AccessLog {
		s.logAccess(r.RemoteAddr, r.Method, r.Host, r.RequestURI, r.Proto, code, rw.bytes, d, st, aborted)
	}
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	code, text := s.healthStatus()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(text))
}

// healthStatus is the health check's answer: 503 while draining or with no
// healthy backend.
func (s *Server) healthStatus() (int, string) {
	switch {
	case s.draining.Load():
		return http.StatusServiceUnavailable, "draining\n"
	case !s.anyHealthy():
		return http.StatusServiceUnavailable, "no healthy backend\n"
	}
	return http.StatusOK, "ok\n"
}

func (s *Server) anyHealthy() bool {
	for _, cl := range s.clusters {
		if cl.healthyCount() > 0 {
			return true
		}
	}
	return false
}

// redirect sends a plain-HTTP client to the same URL over HTTPS.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request) {
	host := normalizeHost(r.Host)
	if host == "" {
		http.Error(w, "missing Host header", http.StatusBadRequest)
		return
	}
	if strings.IndexByte(host, ':') >= 0 {
		host = "[" + host + "]"
	}
	target := "https://" + host
	if s.redirectPort != 443 {
		target += ":" + strconv.Itoa(s.redirectPort)
	}
	target += r.URL.RequestURI()
	code := http.StatusPermanentRedirect
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		code = http.StatusMovedPermanently
	}
	w.Header().Set("Location", target)
	w.WriteHeader(code)
	s.metrics.observe(code, 0)
}

// route finds the cluster for a Host header.
func (s *Server) route(hostHeader string) *cluster {
	h := normalizeHost(hostHeader)
	if cl, ok := s.hosts[h]; ok {
		return cl
	}
	if len(s.wild) > 0 {
		for rest := h; ; {
			i := strings.IndexByte(rest, '.')
			if i < 0 {
				break
			}
			rest = rest[i+1:]
			if cl, ok := s.wild[rest]; ok {
				return cl
			}
		}
	}
	return s.any
}

// looped reports whether this proxy's Via pseudonym is among the Via values.
func (s *Server) looped(via []string) bool {
	for _, v := range via {
		if strings.Contains(v, s.via) {
			return true
		}
	}
	return false
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// rewrite sets the forwarding headers. ReverseProxy has already removed the
// client's Forwarded, X-Forwarded-For/Host/Proto from pr.Out; they are
// carried over from pr.In only when the peer is a trusted proxy.
func (s *Server) rewrite(pr *httputil.ProxyRequest) {
	in, out := pr.In, pr.Out
	st := stateFrom(in.Context())
	// The first attempt's backend is chosen here, so RoundTrip copies the
	// request only for a retry.
	b := st.cl.first(st)
	st.target = b
	out.URL.Scheme, out.URL.Host = b.url.Scheme, b.url.Host
	if !*st.cl.cfg.PreserveHost {
		out.Host = ""
	}
	out.Header.Del("X-Forwarded-Port")
	if st.cl.sticky {
		st.cl.stripRouteCookie(out.Header)
	}

	fi := httpFwdIn(in)
	f := s.forwarding(&fi, st)
	vals := [...]string{f.xff, f.proto, f.host, f.port, f.fwd, f.via} // one backing array
	v := vals[:]
	out.Header["Via"] = v[5:6:6]
	if f.xff != "" {
		out.Header["X-Forwarded-For"] = v[0:1:1]
	}
	out.Header["X-Forwarded-Proto"] = v[1:2:2]
	out.Header["X-Forwarded-Host"] = v[2:3:3]
	if f.port != "" {
		out.Header["X-Forwarded-Port"] = v[3:4:4]
	}
	out.Header["Forwarded"] = v[4:5:5]
}

// fwdValues are the forwarding header values for one request; xff and port
// are empty when the header is not sent.
type fwdValues struct{ xff, proto, host, port, fwd, via string }

// fwdIn is what the forwarding fields are made of: the client's address,
// the listener's port and the request's own forwarding fields.
type fwdIn struct {
	client   netip.Addr
	clientIP string // client.String()
	port     string
	host     string
	h2       bool
	// The request's own fields, used when the client is a trusted proxy.
	xff, fwd, via           []string
	xfProto, xfHost, xfPort string
	// cache keeps the last Forwarded element of a connection (nil: none):
	// its requests mostly name the same host.
	cache *fwdCache
}

type fwdCache struct{ host, proto, elem string }

func httpFwdIn(r *http.Request) fwdIn {
	ap, _ := netip.ParseAddrPort(r.RemoteAddr)
	in := fwdIn{client: ap.Addr().Unmap(), host: r.Host, h2: r.ProtoMajor == 2,
		xff: r.Header["X-Forwarded-For"], fwd: r.Header["Forwarded"], via: r.Header["Via"]}
	in.clientIP = in.client.String()
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ta, ok := la.(*net.TCPAddr); ok {
			in.port = portString(ta.Port)
		}
	}
	for _, x := range [...]struct {
		dst  *string
		name string
	}{{&in.xfProto, "X-Forwarded-Proto"}, {&in.xfHost, "X-Forwarded-Host"}, {&in.xfPort, "X-Forwarded-Port"}} {
		if v := r.Header[x.name]; len(v) > 0 {
			*x.dst = v[0]
		}
	}
	return in
}

// forwarding computes the X-Forwarded-*, Forwarded and Via values: the
// client's own are carried over only when the peer is a trusted proxy.
func (s *Server) forwarding(in *fwdIn, st *reqState) fwdValues {
	client := in.client
	clientIP := in.clientIP
	proto := "http"
	if st.tls {
		proto = "https"
	}
	port := in.port
	host := in.host
	var elem string
	if c := in.cache; c != nil && c.host == host && c.proto == proto && c.elem != "" {
		elem = c.elem
	} else {
		elem = forwardedElement(client, clientIP, host, proto)
		if c != nil {
			// A copy: host may be over the HTTP/1 loop's request buffer.
			*c = fwdCache{host: strings.Clone(host), proto: proto, elem: elem}
		}
	}

	if client.IsValid() && s.trusted(client) {
		if len(in.xff) > 0 {
			clientIP = strings.Join(in.xff, ", ") + ", " + clientIP
		}
		if in.xfProto != "" {
			proto = in.xfProto
		}
		if in.xfHost != "" {
			host = in.xfHost
		}
		if in.xfPort != "" {
			port = in.xfPort
		}
		if len(in.fwd) > 0 {
			elem = strings.Join(in.fwd, ", ") + ", " + elem
		}
	}
	via := s.viaHeaders[0]
	if in.h2 {
		via = s.viaHeaders[1]
	}
	if len(in.via) > 0 {
		via = strings.Join(in.via, ", ") + ", " + via
	}
	xff := ""
	if client.IsValid() {
		xff = clientIP
	}
	return fwdValues{xff: xff, proto: proto, host: host, port: port, fwd: elem, via: via}
}

// lastPort caches the decimal form of the most recent local port: a
// listener has one, so this saves an allocation per request.
var lastPort atomic.Pointer[portStr]

type portStr struct {
	port int
	s    string
}

func portString(p int) string {
	if c := lastPort.Load(); c != nil && c.port == p {
		return c.s
	}
	c := &portStr{p, strconv.Itoa(p)}
	lastPort.Store(c)
	return c.s
}

// forwardedElement renders one RFC 7239 element.
func forwardedElement(client netip.Addr, clientIP, host, proto string) string {
	var sb strings.Builder
	sb.Grow(64)
	sb.WriteString("for=")
	switch {
	case !client.IsValid():
		sb.WriteString("unknown")
	case client.Is6():
		sb.WriteString(`"[`)
		sb.WriteString(clientIP)
		sb.WriteString(`]"`)
	default:
		sb.WriteString(clientIP)
	}
	if host != "" {
		sb.WriteString(`;host="`)
		for i := 0; i < len(host); i++ {
			if c := host[i]; c == '"' || c == '\\' {
				sb.WriteByte('\\')
			}
			sb.WriteByte(host[i])
		}
		sb.WriteByte('"')
	}
	sb.WriteString(";proto=")
	sb.WriteString(proto)
	return sb.String()
}

// proxyError answers when no backend could be reached (ReverseProxy).
func (s *Server) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	st := stateFrom(r.Context())
	// RoundTrip has charged the backend or counted the client's fault;
	// this only decides the answer.
	s.failed(&httpSink{w: w}, st, r.Method, r.RequestURI, blame(err, st.clientGone()), err)
	if rw, ok := w.(*respWriter); ok && st.code == 499 {
		rw.code = 499
	}
}

// forwardHTTP sends a net/http request (HTTP/2, or a connection the HTTP/1
// loop handed over) through the forwarder.
func (s *Server) forwardHTTP(w *respWriter, r *http.Request, st *reqState) {
	fr := fwdReq{method: r.Method, uri: r.URL.RequestURI(), host: r.Host, length: r.ContentLength}
	// An HTTP/2 request without a body still has a Body; its length 0 says
	// there is none.
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		fr.body = &countingBody{rc: r.Body}
		fr.trailer = r.Trailer
	}
	var buf [1024]byte
	fr.head = s.appendHTTPHead(buf[:0], r, st)
	stop := context.AfterFunc(r.Context(), st.watch.fire)
	defer stop()
	err := s.forward(&httpSink{w: w}, &fr, st)
	if st.code == 499 {
		w.code = 499
	}
	if err != nil {
		// The response broke off: net/http closes the connection.
		panic(http.ErrAbortHandler)
	}
}

// httpSink writes a forwarded response to a net/http ResponseWriter.
type httpSink struct {
	w        http.ResponseWriter
	declared []string // trailers named by the backend's Trailer field
}

func (k *httpSink) inform(rh *respHead) error {
	h := k.w.Header()
	for _, f := range rh.fields {
		if !hopField(f.name) {
			h.Add(f.name, f.value)
		}
	}
	k.w.WriteHeader(rh.code)
	clear(h)
	return nil
}

func (k *httpSink) header(rh *respHead, setCookie, via string) error {
	h := k.w.Header()
	for _, f := range rh.fields {
		switch {
		case len(f.name) == 7 && equalFold(f.name, "Trailer"):
			if rh.chunked {
				for tok := range strings.SplitSeq(f.value, ",") {
					if tok = textproto.TrimString(tok); tok != "" {
						k.declared = append(k.declared, textproto.CanonicalMIMEHeaderKey(tok))
					}
				}
			}
			continue
		case hopField(f.name) || rh.conn && listedIn(rh.fields, f.name):
			continue
		case rh.chunked && len(f.name) == 14 && equalFold(f.name, "Content-Length"):
			continue
		}
		h.Add(f.name, f.value)
	}
	if setCookie != "" {
		h.Add("Set-Cookie", setCookie)
	}
	h.Add("Via", via)
	if len(k.declared) > 0 {
		h.Add("Trailer", strings.Join(k.declared, ", "))
	}
	k.w.WriteHeader(rh.code)
	return nil
}

func (k *httpSink) write(p []byte) error {
	_, err := k.w.Write(p)
	return err
}

func (k *httpSink) flush() error {
	return http.NewResponseController(k.w).Flush()
}

func (k *httpSink) trailers(fields []hfield) error {
	if len(fields) == 0 {
		return nil
	}
	_ = k.flush()
	h := k.w.Header()
	for _, f := range fields {
		name := textproto.CanonicalMIMEHeaderKey(f.name)
		if slices.Contains(k.declared, name) {
			h[name] = append(h[name], f.value)
		} else {
			h.Add(http.TrailerPrefix+name, f.value)
		}
	}
	return nil
}

func (k *httpSink) fail(code int) {
	k.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	k.w.WriteHeader(code)
	_, _ = k.w.Write([]byte(http.StatusText(code) + "\n"))
}

// respWriter records the status and size of a response and moves the write
// deadline forward while data flows, so WriteTimeout bounds a stalled
// client rather than a long response.
type respWriter struct {
	http.ResponseWriter
	code     int
	bytes    int64
	wto      time.Duration
	deadline time.Time
}

func (w *respWriter) extendDeadline() {
	if dl, ok := renew(w.deadline, w.wto); ok {
		w.deadline = dl
		_ = http.NewResponseController(w.ResponseWriter).SetWriteDeadline(dl)
	}
}

func (w *respWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
		w.extendDeadline()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.extendDeadline()
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and friends.
func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack is used for protocol upgrades (WebSocket): the connection then
// belongs to the tunnel, without the server's deadlines.
func (w *respWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.code = http.StatusSwitchingProtocols
	_ = c.SetDeadline(time.Time{})
	return c, brw, nil
}

const copyBufSize = 32 << 10

// bufferPool lends ReverseProxy its copy buffers. It pools array pointers,
// so neither Get nor Put allocates.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { return new([copyBufSize]byte) }}}
}

func (bp *bufferPool) Get() []byte { return bp.p.Get().(*[copyBufSize]byte)[:] }

func (bp *bufferPool) Put(b []byte) {
	if cap(b) >= copyBufSize {
		bp.p.Put((*[copyBufSize]byte)(b[:copyBufSize]))
	}
}

// errorLogWriter adapts the servers' log.Logger output to slog: TLS
// handshake noise from scanners at debug, the rest as warnings.
type errorLogWriter struct{ log *slog.Logger }

func (e errorLogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	level := slog.LevelWarn
	if strings.Contains(msg, "TLS handshake error") || strings.Contains(msg, "proxy protocol") {
		level = slog.LevelDebug
	}
	e.log.Log(context.Background(), level, msg)
	return len(p), nil
}

var errDrainTimeout = errors.New("drain deadline passed with requests still in flight")
