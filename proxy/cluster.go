package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// cluster is a set of interchangeable backends with one ReverseProxy.
type cluster struct {
	cfg      ClusterConfig
	backends []*backend
	byID     map[string]*backend
	rr       atomic.Uint64
	sticky   bool
	lean     bool // every backend is plain HTTP: requests take the forwarder
	// appPrefix and routePrefix are "<StickyCookie>=" and "<RouteCookie>="
	// for scanning cookie lines.
	appPrefix, routePrefix string
	// tiered: a backend answered through a jksproxy of its own (its Via
	// says so, or it set the route cookie): route cookies that are not this
	// cluster's are its.
	tiered atomic.Bool
	// via is the Via value the proxy adds to responses ("1.1 jksproxy-…").
	via     string
	proxy   *httputil.ReverseProxy
	metrics *metrics // nil in tests that use a cluster alone
	log     *slog.Logger
}

// reqState travels with a request through the ReverseProxy.
type reqState struct {
	cl       *cluster
	tls      bool     // client connection is TLS (to us)
	secure   bool     // the client used HTTPS (to us or a trusted balancer)
	hasApp   bool     // request carries the application's session cookie
	pinned   *backend // backend named by the request's route cookie
	foreign  bool     // the route cookie names none of the cluster's backends
	target   *backend // backend of the first attempt, chosen in rewrite
	used     *backend // backend that answered
	attempts int
	watch    *connWatch // forwarder only
	code     int        // status the forwarder answered with (499: client gone)
	// closeAfter: the request failed by the client's fault before its body
	// was read whole; the connection closes after the answer.
	closeAfter bool

	// The forwarder's scratch space for the response head. headBuf (nil:
	// none), when the caller has one, holds the head's bytes for as long as
	// the request lasts (see readHead).
	resp       respHead
	respFields [32]hfield
	headBuf    []byte
	// watchClient, set by the HTTP/1 loop, starts watching the client
	// connection for a close while a backend is slow to answer.
	watchClient func()
	context     context.Context // nil: none (the HTTP/1 loop)
}

// clientGone reports whether the client is known to have gone: the HTTP/1
// loop's watch fired, or the net/http request's context was cancelled.
func (st *reqState) clientGone() bool {
	return st.watch != nil && st.watch.gone() || st.context != nil && st.context.Err() != nil
}

func (st *reqState) ctx() context.Context {
	if st.context != nil {
		return st.context
	}
	return context.Background()
}

type stateKey struct{}

func stateFrom(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	return st
}

func newCluster(cc ClusterConfig, log *slog.Logger) *cluster {
	if cc.RouteCookie == "" {
		cc.RouteCookie = StickyRouteCookie
	}
	cl := &cluster{
		cfg:         cc,
		byID:        make(map[string]*backend, len(cc.Backends)),
		sticky:      cc.StickyCookie != "-",
		appPrefix:   cc.StickyCookie + "=",
		routePrefix: cc.RouteCookie + "=",
		log:         log.With("cluster", cc.Name),
	}
	for _, bc := range cc.Backends {
		b := newBackend(bc, &cl.cfg, cl, log)
		cl.backends = append(cl.backends, b)
		cl.byID[b.id] = b
	}
	cl.lean = true
	for _, b := range cl.backends {
		if b.url.Scheme != "http" {
			cl.lean = false
		}
	}
	return cl
}

func (cl *cluster) healthyCount() int {
	n := 0
	for _, b := range cl.backends {
		if b.healthy.Load() {
			n++
		}
	}
	return n
}

func contains(list []*backend, b *backend) bool {
	for _, x := range list {
		if x == b {
			return true
		}
	}
	return false
}

// pick chooses a healthy backend not in exclude. When no backend of the
// cluster is healthy it tries the unhealthy ones (a check may lag behind a
// recovery); nil when every backend is excluded.
func (cl *cluster) pick(exclude []*backend) *backend {
	if b := cl.pickFrom(exclude, true); b != nil {
		return b
	}
	if cl.healthyCount() > 0 {
		return nil // healthy ones exist but were all tried
	}
	return cl.pickFrom(exclude, false)
}

func (cl *cluster) pickFrom(exclude []*backend, healthyOnly bool) *backend {
	n := len(cl.backends)
	start := int(cl.rr.Add(1) % uint64(n))
	var best *backend
	var bestActive int64
	for i := 0; i < n; i++ {
		b := cl.backends[(start+i)%n]
		if healthyOnly && !b.healthy.Load() || contains(exclude, b) {
			continue
		}
		if cl.cfg.Balance == RoundRobin {
			return b
		}
		if a := b.active.Load(); best == nil || a < bestActive {
			best, bestActive = b, a
		}
	}
	return best
}

// routeCookies scans the request's cookies for the application's session
// cookie and the proxy's route cookie.
func (cl *cluster) routeCookies(h http.Header) (hasApp bool, pinned *backend, foreign bool) {
	return cl.routeCookieLines(h["Cookie"])
}

// routeCookieLines: hasApp, the request carries the application's session
// cookie; pinned, the backend its route cookie names; foreign, a route
// cookie names none of this cluster's backends (one of a proxy tier behind
// this one, or a backend no longer configured).
func (cl *cluster) routeCookieLines(lines []string) (hasApp bool, pinned *backend, foreign bool) {
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			name, val, ok := strings.Cut(part, "=")
			if !ok {
				continue
			}
			switch name {
			case cl.cfg.StickyCookie:
				if val != "" {
					hasApp = true
				}
			case cl.cfg.RouteCookie:
				if b, ok := cl.byID[strings.Trim(val, `"`)]; ok {
					pinned = b
				} else if val != "" {
					foreign = true
				}
			}
		}
	}
	return hasApp, pinned, foreign
}

// stripRouteCookie removes the route cookie from the Cookie header sent to
// a backend (see stripRouteCookieLines).
func (cl *cluster) stripRouteCookie(h http.Header) {
	lines, changed := cl.stripRouteCookieLines(h["Cookie"])
	switch {
	case !changed:
	case len(lines) == 0:
		h.Del("Cookie")
	default:
		h["Cookie"] = lines
	}
}

// stripRouteCookieLines returns the Cookie lines without the route cookie,
// and whether that changed them (the same lines when it did not; none when
// the route cookie was all they held). See keepCookie.
func (cl *cluster) stripRouteCookieLines(lines []string) ([]string, bool) {
	found := false
	for _, l := range lines {
		if strings.Contains(l, cl.routePrefix) {
			found = true
			break
		}
	}
	if !found {
		return lines, false
	}
	tiered := cl.tiered.Load()
	var keep []string
	changed := false
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			if !cl.keepCookie(part, tiered) {
				changed = true
				continue
			}
			keep = append(keep, part)
		}
	}
	if !changed {
		return lines, false
	}
	if len(keep) == 0 {
		return nil, true
	}
	return []string{strings.Join(keep, "; ")}, true
}

// keepCookie reports whether a cookie ("name=value") goes on to a backend:
// every one but the route cookie, which stays only when it names none of
// this cluster's backends and they are jksproxies themselves (tiered): it
// is theirs, and keeps the session on one application server behind them.
func (cl *cluster) keepCookie(part string, tiered bool) bool {
	v, ok := strings.CutPrefix(part, cl.routePrefix)
	if !ok {
		return true
	}
	_, ours := cl.byID[strings.Trim(v, `"`)]
	return !ours && tiered
}

// routeCookieIn reports whether a Cookie field among fields may hold the
// route cookie.
func (cl *cluster) routeCookieIn(fields []hfield) bool {
	for _, f := range fields {
		if len(f.name) == 6 && equalFold(f.name, "Cookie") && strings.Contains(f.value, cl.routePrefix) {
			return true
		}
	}
	return false
}

// appendCookies appends the request's Cookie fields as one, without the
// route cookie (see keepCookie); nothing when no cookie is left. It writes
// in place: no allocation.
func (cl *cluster) appendCookies(dst []byte, fields []hfield) []byte {
	tiered := cl.tiered.Load()
	start := len(dst)
	dst = append(dst, "Cookie: "...)
	first := true
	for _, f := range fields {
		if len(f.name) != 6 || !equalFold(f.name, "Cookie") {
			continue
		}
		for line := f.value; line != ""; {
			var part string
			part, line, _ = strings.Cut(line, ";")
			if part = strings.TrimSpace(part); part == "" || !cl.keepCookie(part, tiered) {
				continue
			}
			if !first {
				dst = append(dst, "; "...)
			}
			dst = append(dst, part...)
			first = false
		}
	}
	if first {
		return dst[:start]
	}
	return append(dst, "\r\n"...)
}

// modifyResponse binds the session to the backend that answered: when the
// backend sets the application's cookie, KBSRV is set beside it with the
// same lifetime; when it deletes it, KBSRV is deleted; when a request with a
// session went to another backend than KBSRV named (failover), KBSRV is
// rewritten so the session stays on the new backend.
func (cl *cluster) modifyResponse(resp *http.Response) error {
	resp.Header.Add("Via", cl.via)
	if st := stateFrom(resp.Request.Context()); st != nil && st.used != nil && resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body = &observedBody{ReadCloser: resp.Body, cl: cl, st: st}
	}
	if !cl.sticky {
		return nil
	}
	cl.stick(stateFrom(resp.Request.Context()), resp.Header)
	return nil
}

// stick adds or deletes the route cookie in a backend's response header.
func (cl *cluster) stick(st *reqState, h http.Header) {
	if v := cl.stickCookie(st, h["Set-Cookie"]); v != "" {
		h.Add("Set-Cookie", v)
	}
}

// stickCookie returns the Set-Cookie value for the route cookie that goes
// with a response whose Set-Cookie values are setCookies ("": none). A
// backend that sets the route cookie itself is a jksproxy tier that keeps
// the session on its application server: its cookie is the one that
// counts, and none is added.
func (cl *cluster) stickCookie(st *reqState, setCookies []string) string {
	if st == nil || st.used == nil {
		return ""
	}
	var app *http.Cookie
	for _, line := range setCookies {
		if strings.HasPrefix(line, cl.routePrefix) {
			cl.tiered.Store(true)
			return ""
		}
		if !strings.HasPrefix(line, cl.appPrefix) {
			continue
		}
		if c, err := http.ParseSetCookie(line); err == nil {
			app = c
		}
	}
	switch {
	case app != nil:
		deleted := app.Value == "" || app.MaxAge < 0 ||
			(!app.Expires.IsZero() && app.Expires.Before(time.Now()))
		if deleted {
			return cl.cfg.RouteCookie + "=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
		}
		return cl.routeCookie(st.used.id, app, st.secure || app.Secure)
	case st.hasApp && st.pinned != st.used && !(st.foreign && cl.tiered.Load()):
		// Failover (or a session that came without a route cookie, or with
		// one naming a backend this proxy no longer has): the session
		// stays where it now is. A route cookie of a tier behind is left
		// alone.
		return cl.routeCookie(st.used.id, nil, st.secure)
	}
	return ""
}

func (cl *cluster) routeCookie(id string, app *http.Cookie, secure bool) string {
	var sb strings.Builder
	sb.Grow(96)
	sb.WriteString(cl.cfg.RouteCookie)
	sb.WriteByte('=')
	sb.WriteString(id)
	sb.WriteString("; Path=/")
	if app != nil {
		if app.MaxAge > 0 {
			sb.WriteString("; Max-Age=")
			sb.WriteString(itoa(app.MaxAge))
		}
		if !app.Expires.IsZero() {
			sb.WriteString("; Expires=")
			sb.WriteString(app.Expires.UTC().Format(http.TimeFormat))
		}
	}
	sb.WriteString("; HttpOnly; SameSite=Lax")
	if secure {
		sb.WriteString("; Secure")
	}
	return sb.String()
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	if n == 0 {
		return "0"
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// replayBody lets a request body be sent to another backend when the first
// connection failed before the body was touched.
type replayBody struct {
	rc      io.ReadCloser
	touched atomic.Bool
	err     error // what reading the client's body failed with

	mu          sync.Mutex
	final       bool // no further attempt: Close goes through
	closeWanted bool // the transport closed the body while it was kept
}

func (b *replayBody) Read(p []byte) (int, error) {
	b.touched.Store(true)
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// Close is held back while the body is untouched and another attempt may
// still need it: the transport closes a request body when a dial fails.
func (b *replayBody) Close() error {
	b.mu.Lock()
	if b.touched.Load() || b.final {
		b.mu.Unlock()
		return b.rc.Close()
	}
	b.closeWanted = true
	b.mu.Unlock()
	return nil
}

// finish ends the retries and performs a Close that was held back.
func (b *replayBody) finish() {
	b.mu.Lock()
	b.final = true
	wanted := b.closeWanted
	b.mu.Unlock()
	if wanted {
		_ = b.rc.Close()
	}
}

// first chooses the backend of a request's first attempt: the session's
// backend while it is healthy, else a balanced one.
func (cl *cluster) first(st *reqState) *backend {
	if st.hasApp && st.pinned != nil && st.pinned.healthy.Load() {
		return st.pinned
	}
	return cl.pick(nil)
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// RoundTrip sends the request to the sticky backend or a balanced one.
// A request whose connection could not be made goes to the next backend
// (nothing was sent, so whatever its method); an idempotent request without a
// body whose connection failed afterwards is retried once elsewhere.
func (cl *cluster) RoundTrip(req *http.Request) (*http.Response, error) {
	st := stateFrom(req.Context())
	var body *replayBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &replayBody{rc: req.Body}
		defer body.finish()
	}
	b := st.target
	if b == nil {
		b = cl.first(st)
	}
	a := attempts{cl: cl, st: st}
	for {
		out := req
		if b != st.target || body != nil {
			out = new(http.Request)
			*out = *req
			u := *req.URL
			u.Scheme, u.Host = b.url.Scheme, b.url.Host
			out.URL = &u
			if body != nil {
				out.Body = body
			}
		}
		a.begin(b)
		resp, err := b.rt.RoundTrip(out)
		if err == nil {
			st.used = b
			return resp, nil
		}
		if body != nil && body.err != nil {
			err = &clientBodyError{body.err}
		}
		next, _ := a.failed(b, err, body != nil && body.touched.Load(), body == nil && idempotent(req.Method))
		if next == nil {
			return nil, err
		}
		b = next
	}
}

// observedBody is a response body on the ReverseProxy path, watched as the
// forwarder's relay watches its own: a body read to its end clears the
// backend's failures in a row, one that breaks off is charged to it unless
// the client went away (see attribute).
type observedBody struct {
	io.ReadCloser
	cl   *cluster
	st   *reqState
	done bool
}

func (b *observedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !b.done {
		b.done = true
		if err == io.EOF {
			b.st.used.ok()
		} else {
			attribute(b.cl.metrics, b.st, b.st.used, err)
		}
	}
	return n, err
}
