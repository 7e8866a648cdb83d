package probes

import (
	"strings"
	"time"
)

// RouteCookie is the proxy's route cookie the probes try to smuggle to the
// application (jksproxy's default name).
const RouteCookie = "KBSRV"

// At once: an answer that needs no timeout to expire.
const atOnce = time.Second

func raw(lines ...string) []byte { return []byte(strings.Join(lines, "")) }

// get is "GET path HTTP/1.1" with Host and the extra lines, ending the head.
func get(path string, extra ...string) []byte {
	return raw("GET "+path+" HTTP/1.1\r\nHost: probe.example\r\n", strings.Join(extra, ""), "\r\n")
}

func post(path string, head string, body string) []byte {
	return raw("POST "+path+" HTTP/1.1\r\nHost: probe.example\r\n", head, "\r\n", body)
}

// bad is the expectation for a request refused before it reaches a backend.
func bad(status ...int) Expect {
	return Expect{Status: status, Answers: 1, Conn: ConnClosed, Reach: ReachNone}
}

// refusedH2 is the expectation for a malformed HTTP/2 request: 400 or a
// reset stream, nothing forwarded.
var refusedH2 = Expect{Status: []int{400, StreamReset}, Reach: ReachNone}

// All is the suite, HTTP/1 probes first.
func All() []Probe {
	ps := []Probe{
		// --- baselines
		{Name: "h1-get", Why: "a plain GET is forwarded and the connection kept",
			Send: get("/"), Expect: Expect{Status: []int{200}, Answers: 1, Conn: ConnOpen, Reach: ReachOne}},
		{Name: "h1-pipelined", Why: "two pipelined GETs are both answered in order",
			Send:   append(get("/a"), get("/b")...),
			Expect: Expect{Status: []int{200}, Answers: 2, Conn: ConnOpen, Reach: ReachTwo}},
		{Name: "h1-post-pipelined", Why: "an upload with a GET pipelined behind it: both answered in order",
			Send:   append(post("/a", "Content-Length: 3\r\n", "abc"), get("/b")...),
			Expect: Expect{Status: []int{200}, Answers: 2, Conn: ConnOpen, Reach: ReachTwo}},
		{Name: "h1-get-with-body", Why: "a GET with a body is forwarded with it",
			Send:   raw("GET / HTTP/1.1\r\nHost: probe.example\r\nContent-Length: 3\r\n\r\nabc"),
			Expect: Expect{Status: []int{200}, Answers: 1, Conn: ConnOpen, Reach: ReachOne, Body: 3}},
		{Name: "h1-http10", Why: "an HTTP/1.0 GET is answered and closed",
			Send:   raw("GET / HTTP/1.0\r\nHost: probe.example\r\n\r\n"),
			Expect: Expect{Status: []int{200}, Answers: 1, Conn: ConnClosed, Reach: ReachOne}},
		{Name: "h1-large-body", Why: "a 2 MiB upload reaches the backend whole (beyond the in-memory buffer)",
			Send:   post("/upload", "Content-Length: 2097152\r\n", strings.Repeat("x", 2<<20)),
			Wait:   5 * time.Second,
			Expect: Expect{Status: []int{200}, Answers: 1, Reach: ReachOne, Body: 2 << 20}},
		{Name: "h1-chunked-trailer", Why: "a chunked upload with a trailer is forwarded with one framing",
			Send:   post("/", "Transfer-Encoding: chunked\r\n", "3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n"),
			Expect: Expect{Status: []int{200}, Answers: 1, Reach: ReachOne, Body: 3}},
		{Name: "h1-expect-continue", Why: "Expect: 100-continue with the body sent at once",
			Send:   post("/", "Content-Length: 5\r\nExpect: 100-continue\r\n", "hello"),
			Expect: Expect{Status: []int{200}, Answers: 1, Reach: ReachOne, Body: 5}},

		// --- framing (issue 13, Why 4)
		{Name: "h1-cl-te-pipelined", Why: "Content-Length beside Transfer-Encoding, a request pipelined behind: close after answering (RFC 9112 §6.3)",
			Send:   raw(string(post("/a", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n")), string(get("/next"))),
			Expect: Expect{Status: []int{200, 400}, Answers: 1, Conn: ConnClosed, Reach: ReachAtMostOne}},
		{Name: "h1-te-cl-smuggle", Why: "chunked body that hides a request if Content-Length were believed",
			Send:   post("/a", "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", "8\r\nSMUGGLED\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: probe.example\r\n\r\n"),
			Expect: Expect{Status: []int{200, 400}, Answers: 1, Conn: ConnClosed, Reach: ReachAtMostOne}},
		{Name: "h1-two-cl", Why: "two different Content-Length fields",
			Send: post("/a", "Content-Length: 3\r\nContent-Length: 40\r\n", "abcGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"), Expect: bad(400)},
		{Name: "h1-two-cl-same", Why: "two equal Content-Length fields (RFC 9110 §8.6 allows either refusing or one value)",
			Send:   post("/a", "Content-Length: 3\r\nContent-Length: 3\r\n", "abc"),
			Expect: Expect{Status: []int{200, 400}, Answers: 1, Reach: ReachAtMostOne, Body: 3}},
		{Name: "h1-cl-list", Why: "Content-Length: 3, 3 (a list of equal values)",
			Send:   post("/a", "Content-Length: 3, 3\r\n", "abc"),
			Expect: Expect{Status: []int{200, 400}, Answers: 1, Reach: ReachAtMostOne, Body: 3}},
		{Name: "h1-cl-plus", Why: "Content-Length: +3", Send: post("/a", "Content-Length: +3\r\n", "abc"), Expect: bad(400)},
		{Name: "h1-cl-negative", Why: "Content-Length: -1", Send: post("/a", "Content-Length: -1\r\n", ""), Expect: bad(400)},
		{Name: "h1-te-xchunked", Why: "Transfer-Encoding: xchunked beside Content-Length",
			Send: post("/a", "Transfer-Encoding: xchunked\r\nContent-Length: 3\r\n", "abc"), Expect: bad(400, 501)},
		{Name: "h1-te-not-last", Why: "Transfer-Encoding: chunked, identity (chunked not final: RFC 9112 §6.3)",
			Send: post("/a", "Transfer-Encoding: chunked, identity\r\nContent-Length: 3\r\n", "abc"), Expect: bad(400, 501)},
		{Name: "h1-te-http10", Why: "HTTP/1.0 with Transfer-Encoding: faulty framing, close after (RFC 9112 §6.1)",
			Send:   raw("POST / HTTP/1.0\r\nHost: probe.example\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
			Expect: Expect{Status: []int{200, 400}, Answers: 1, Conn: ConnClosed, Reach: ReachAtMostOne}},
		{Name: "h1-space-before-colon", Why: "\"Transfer-Encoding : chunked\" (RFC 9112 §5.1: 400)",
			Send: post("/a", "Transfer-Encoding : chunked\r\nContent-Length: 3\r\n", "abc"), Expect: bad(400)},
		{Name: "h1-obs-fold", Why: "a folded header line (RFC 9112 §5.2: 400, or unfolded)",
			Send:   get("/", "X-Folded: a\r\n b\r\n"),
			Expect: Expect{Status: []int{200, 400}, Answers: 1, Reach: ReachAtMostOne}},
		{Name: "h1-te-obs-fold", Why: "Transfer-Encoding folded onto a second line",
			Send: post("/a", "Transfer-Encoding: identity\r\n chunked\r\nContent-Length: 3\r\n", "abc"), Expect: bad(400, 501)},
		{Name: "h1-chunk-ext", Why: "a chunk extension (RFC 9112 §7.1.1: ignored)",
			Send:   post("/", "Transfer-Encoding: chunked\r\n", "3;name=value\r\nabc\r\n0\r\n\r\n"),
			Expect: Expect{Status: []int{200}, Answers: 1, Reach: ReachOne, Body: 3}},
		{Name: "h1-chunk-bare-lf", Why: "chunk lines ended by bare LF",
			Send: post("/", "Transfer-Encoding: chunked\r\n", "3\nabc\n0\n\n"), Wait: StallWait, Expect: bad(400, 408)},
		{Name: "h1-te-uppercase", Why: "Transfer-Encoding: CHUNKED (codings are case-insensitive)",
			Send:   post("/", "Transfer-Encoding: CHUNKED\r\n", "3\r\nabc\r\n0\r\n\r\n"),
			Expect: Expect{Status: []int{200}, Answers: 1, Reach: ReachOne, Body: 3}},
		{Name: "h1-cl-leading-zeros", Why: "Content-Length: 003 (1*DIGIT allows it)",
			Send:   post("/", "Content-Length: 003\r\n", "abc"),
			Expect: Expect{Status: []int{200}, Answers: 1, Reach: ReachOne, Body: 3}},
		{Name: "h1-double-space", Why: "two spaces between method and target",
			Send: raw("GET  / HTTP/1.1\r\nHost: probe.example\r\n\r\n"), Expect: bad(400)},
		{Name: "h1-version-1.2", Why: "HTTP/1.2: a later HTTP/1 minor version is served as HTTP/1.1",
			Send: raw("GET / HTTP/1.2\r\nHost: probe.example\r\n\r\n"), Expect: Expect{Status: []int{200, 505}, Answers: 1, Reach: ReachAtMostOne}},
		{Name: "h1-version-2.0", Why: "HTTP/2.0 in an HTTP/1 request line",
			Send: raw("GET / HTTP/2.0\r\nHost: probe.example\r\n\r\n"), Expect: bad(400, 505)},
		{Name: "h1-h2-preface", Why: "the HTTP/2 connection preface on the HTTP/1 listener (h2c prior knowledge)",
			Send: raw("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Expect: bad(400, 505)},
		{Name: "h1-host-userinfo", Why: "Host with userinfo (RFC 9110 §4.2.4: not allowed)",
			Send: raw("GET / HTTP/1.1\r\nHost: user@probe.example\r\n\r\n"), Expect: bad(400)},
		{Name: "h1-expect-unknown", Why: "an Expect other than 100-continue (RFC 9110 §10.1.1: 417)",
			Send: get("/", "Expect: teapot\r\n"), Expect: Expect{Status: []int{417}, Answers: 1, Reach: ReachNone}},
		{Name: "h1-bare-lf", Why: "a head with bare LF line ends: 400 at once (issue 13, Why 4)",
			Send: raw("GET / HTTP/1.1\nHost: probe.example\n\n"), Expect: withinOnce(bad(400))},
		{Name: "h1-bare-lf-field", Why: "one field line ended by a bare LF",
			Send: raw("GET / HTTP/1.1\r\nHost: probe.example\nX-A: b\r\n\r\n"), Expect: withinOnce(bad(400))},
		{Name: "h1-http09", Why: "an HTTP/0.9 request line: 400 at once (issue 13, Why 4)",
			Send: raw("GET /\r\n"), Expect: withinOnce(bad(400))},
		{Name: "h1-nul-in-field", Why: "a NUL byte in a field value",
			Send: get("/", "X-A: a\x00b\r\n"), Expect: bad(400)},
		{Name: "h1-bad-method", Why: "a method with a separator in it",
			Send: raw("G(T / HTTP/1.1\r\nHost: probe.example\r\n\r\n"), Expect: bad(400, 405, 501)},
		{Name: "h1-no-host", Why: "HTTP/1.1 without Host (RFC 9112 §3.2: 400)",
			Send: raw("GET / HTTP/1.1\r\n\r\n"), Expect: bad(400)},
		{Name: "h1-two-hosts", Why: "two Host fields (RFC 9112 §3.2: 400)",
			Send: get("/", "Host: other.example\r\n"), Expect: bad(400)},
		{Name: "h1-absolute-form", Why: "absolute-form target: Host comes from it (RFC 9112 §3.2.2)",
			Send:   raw("GET http://other.example/p?q=1 HTTP/1.1\r\nHost: probe.example\r\n\r\n"),
			Expect: Expect{Status: []int{200}, Answers: 1, Reach: ReachOne, Host: "other.example", URI: "/p?q=1"}},
		{Name: "h1-oversized-head", Why: "an 80 KiB field, over every proxy's header limit",
			Send: get("/", "X-Big: "+strings.Repeat("a", 80<<10)+"\r\n"), Expect: bad(400, 431)},
		{Name: "h1-oversized-target", Why: "an 80 KiB request target",
			Send: get("/" + strings.Repeat("a", 80<<10)), Expect: bad(400, 414, 431)},

		// --- bodies (issue 13, Why 1 and 4)
		{Name: "h1-chunk-bad-size", Why: "a chunk size that is no hex number: 400, no backend charged",
			Send: post("/", "Transfer-Encoding: chunked\r\n", "zz\r\nabc\r\n0\r\n\r\n"), Expect: bad(400)},
		{Name: "h1-chunk-bad-crlf", Why: "chunk data longer than its size",
			Send: post("/", "Transfer-Encoding: chunked\r\n", "3\r\nabcX\r\n0\r\n\r\n"), Expect: bad(400)},
		{Name: "h1-chunk-size-overflow", Why: "a chunk size of 2^72",
			Send: post("/", "Transfer-Encoding: chunked\r\n", "ffffffffffffffffff\r\nabc\r\n0\r\n\r\n"), Expect: bad(400, 413)},
		{Name: "h1-stalled-body", Why: "10 of 100 body bytes, then silence: 408 after the body timeout",
			Send: post("/", "Content-Length: 100\r\n", "0123456789"), Wait: StallWait, Expect: bad(408)},
		{Name: "h1-stalled-chunked", Why: "one chunk, then silence: 408 after the body timeout",
			Send: post("/", "Transfer-Encoding: chunked\r\n", "a\r\n0123456789\r\n"), Wait: StallWait, Expect: bad(408)},
		{Name: "h1-aborted-upload", Why: "1 KB of a 100 KB upload, then a reset: no backend charged",
			Send: post("/", "Content-Length: 100000\r\n", strings.Repeat("x", 1000)), Abort: true,
			Expect: Expect{Reach: ReachNone}},
		{Name: "h1-aborted-chunked", Why: "a chunked upload cut by a reset",
			Send: post("/", "Transfer-Encoding: chunked\r\n", "3e8\r\n"+strings.Repeat("x", 500)), Abort: true,
			Expect: Expect{Reach: ReachNone}},

		// --- upgrades and methods (issue 13, Why 3 and 4)
		{Name: "h1-websocket", Why: "a WebSocket upgrade is tunnelled",
			Send:   get("/ws", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
			Expect: Expect{Status: []int{101}, Answers: 1, Reach: ReachOne, HasHeader: []string{"Upgrade: websocket"}}},
		{Name: "h1-websocket-case", Why: "Upgrade: WebSocket (the token is case-insensitive, RFC 6455 §4.1)",
			Send:   get("/ws", "Upgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
			Expect: Expect{Status: []int{101}, Answers: 1, Reach: ReachOne}},
		{Name: "h1-h2c-upgrade", Why: "Upgrade: h2c is never tunnelled (h2c smuggling)",
			Send:   get("/", "Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"),
			Expect: Expect{Status: []int{200, 400}, Answers: 1, Reach: ReachAtMostOne, NoHeader: []string{"Upgrade", "HTTP2-Settings"}}},
		{Name: "h1-other-upgrade", Why: "an upgrade to an unlisted protocol is not tunnelled",
			Send:   get("/", "Upgrade: foo/1\r\nConnection: Upgrade\r\n"),
			Expect: Expect{Status: []int{200, 400}, Answers: 1, Reach: ReachAtMostOne, NoHeader: []string{"Upgrade"}}},
		{Name: "h1-connect", Why: "CONNECT is not passed on",
			Send:   raw("CONNECT backend.example:443 HTTP/1.1\r\nHost: backend.example:443\r\n\r\n"),
			Expect: Expect{Status: []int{400, 405, 501}, Answers: 1, Reach: ReachNone}},
		{Name: "h1-trace", Why: "TRACE is not passed on",
			Send:   raw("TRACE / HTTP/1.1\r\nHost: probe.example\r\n\r\n"),
			Expect: Expect{Status: []int{405, 501}, Answers: 1, Reach: ReachNone}},

		// --- header policy (issue 13, Why 4)
		{Name: "h1-route-cookie-only", Own: true, Why: "the route cookie alone never reaches the application",
			Send:   get("/", "Cookie: "+RouteCookie+"=0123456789abcdef\r\n"),
			Expect: Expect{Status: []int{200}, Answers: 1, Reach: ReachOne, NoHeader: []string{"Cookie: " + RouteCookie}}},
		{Name: "h1-route-cookie-among", Own: true, Why: "the route cookie among others is removed, the others kept",
			Send: get("/", "Cookie: a=1; "+RouteCookie+"=0123456789abcdef; b=2\r\n"),
			Expect: Expect{Status: []int{200}, Answers: 1, Reach: ReachOne, NoHeader: []string{"Cookie: " + RouteCookie},
				HasHeader: []string{"Cookie: a=1", "Cookie: b=2"}}},
		{Name: "h1-route-cookie-two-fields", Own: true, Why: "the route cookie in a second Cookie field never reaches the application",
			Send: get("/", "Cookie: a=1\r\nCookie: "+RouteCookie+"=0123456789abcdef\r\n"),
			Expect: Expect{Status: []int{200}, Answers: 1, Reach: ReachOne, NoHeader: []string{"Cookie: " + RouteCookie},
				HasHeader: []string{"Cookie: a=1"}}},
		{Name: "h1-route-cookie-chunked", Own: true, Why: "the route cookie on a chunked upload (another request path) never reaches the application",
			Send:   post("/", "Cookie: "+RouteCookie+"=0123456789abcdef\r\nTransfer-Encoding: chunked\r\n", "3\r\nabc\r\n0\r\n\r\n"),
			Expect: Expect{Status: []int{200}, Answers: 1, Reach: ReachOne, NoHeader: []string{"Cookie: " + RouteCookie}, Body: 3}},
		{Name: "h1-route-cookie-expect", Own: true, Why: "the route cookie on an Expect: 100-continue upload never reaches the application",
			Send:   post("/", "Cookie: "+RouteCookie+"=0123456789abcdef\r\nContent-Length: 3\r\nExpect: 100-continue\r\n", "abc"),
			Expect: Expect{Status: []int{200}, Answers: 1, Reach: ReachOne, NoHeader: []string{"Cookie: " + RouteCookie}, Body: 3}},
		{Name: "h1-route-cookie-websocket", Own: true, Why: "the route cookie on a WebSocket upgrade never reaches the application",
			Send:   get("/ws", "Cookie: a=1; "+RouteCookie+"=0123456789abcdef\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
			Expect: Expect{Status: []int{101}, Answers: 1, Reach: ReachOne, NoHeader: []string{"Cookie: " + RouteCookie}, HasHeader: []string{"Cookie: a=1"}}},
		{Name: "h1-connection-listed-chunked", Why: "a field named in Connection is not forwarded on a chunked upload either",
			Send:   post("/", "Connection: X-Secret\r\nX-Secret: 1\r\nTransfer-Encoding: chunked\r\n", "3\r\nabc\r\n0\r\n\r\n"),
			Expect: Expect{Status: []int{200}, Answers: 1, Reach: ReachOne, NoHeader: []string{"X-Secret"}, Body: 3}},
		{Name: "h1-connection-listed", Why: "a field named in Connection is hop-by-hop and not forwarded",
			Send:   get("/", "Connection: X-Secret\r\nX-Secret: 1\r\n"),
			Expect: Expect{Status: []int{200}, Answers: 1, Reach: ReachOne, NoHeader: []string{"X-Secret"}}},
		{Name: "h1-hop-by-hop", Why: "Keep-Alive, TE, Proxy-Connection are not forwarded",
			Send:   get("/", "Keep-Alive: timeout=99\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\n"),
			Expect: Expect{Status: []int{200}, Answers: 1, Reach: ReachOne, NoHeader: []string{"Keep-Alive", "Proxy-Connection"}}},
	}
	for i := range ps {
		ps[i].Proto = HTTP1
	}
	h2 := []Probe{
		{Name: "h2-get", Why: "a plain HTTP/2 GET",
			Frames: func(h *H2) { h.Get("/") }, Expect: Expect{Status: []int{200}, Answers: 1, Reach: ReachOne}},
		{Name: "h2-post", Why: "an HTTP/2 upload without content-length reaches the backend whole",
			Frames: func(h *H2) {
				id := h.Request(false, ":method", "POST", ":scheme", "https", ":authority", "probe.example", ":path", "/up")
				h.Data(id, 5, true)
			},
			Expect: Expect{Status: []int{200}, Answers: 1, Reach: ReachOne, Body: 5}},
		{Name: "h2-headers-rst", Why: "four streams of HEADERS then RST_STREAM: no backend charged (issue 13, Why 1)",
			Frames: func(h *H2) {
				for i := 0; i < 4; i++ {
					h.Reset(h.Get("/"))
				}
			},
			Expect: Expect{}},
		{Name: "h2-rapid-reset", Why: "100 streams opened and reset at once",
			Frames: func(h *H2) {
				for i := 0; i < 100; i++ {
					h.Reset(h.Get("/"))
				}
			},
			Expect: Expect{}},
		{Name: "h2-upload-rst", Why: "1 KB of a 100 KB upload, then RST_STREAM: no backend charged",
			Frames: func(h *H2) {
				id := h.Request(false, ":method", "POST", ":scheme", "https", ":authority", "probe.example", ":path", "/", "content-length", "100000")
				h.Data(id, 1000, false)
				h.Reset(id)
			},
			Expect: Expect{Reach: ReachNone}},
		{Name: "h2-stalled-body", Why: "10 of 100 body bytes, then silence: 408 after the body timeout",
			Frames: func(h *H2) {
				id := h.Request(false, ":method", "POST", ":scheme", "https", ":authority", "probe.example", ":path", "/", "content-length", "100")
				h.Data(id, 10, false)
			},
			Wait: StallWait, Expect: Expect{Status: []int{408}, Answers: 1, Reach: ReachNone}},
		{Name: "h2-cl-mismatch", Why: "content-length 10 with a 3-byte body (RFC 9113 §8.1.1: malformed)",
			Frames: func(h *H2) {
				id := h.Request(false, ":method", "POST", ":scheme", "https", ":authority", "probe.example", ":path", "/", "content-length", "10")
				h.Data(id, 3, true)
			},
			Expect: refusedH2},
		{Name: "h2-absolute-path", Why: ":path in absolute form is handled as HTTP/1 handles an absolute target (issue 13, Why 4)",
			Frames: func(h *H2) {
				h.Request(true, ":method", "GET", ":scheme", "https", ":authority", "probe.example", ":path", "http://other.example/p?q=1")
			},
			Expect: Expect{Status: []int{200, 400, StreamReset}, Answers: 1, Reach: ReachAtMostOne, Host: "other.example", URI: "/p?q=1"}},
		{Name: "h2-route-cookie-only", Own: true, Why: "the route cookie alone never reaches the application",
			Frames: func(h *H2) { h.Get("/", "cookie", RouteCookie+"=0123456789abcdef") },
			Expect: Expect{Status: []int{200}, Answers: 1, Reach: ReachOne, NoHeader: []string{"Cookie: " + RouteCookie}}},
		{Name: "h2-route-cookie-split", Own: true, Why: "cookie fields sent separately (RFC 9113 §8.2.3), the route cookie among them",
			Frames: func(h *H2) {
				h.Get("/", "cookie", "a=1", "cookie", RouteCookie+"=0123456789abcdef", "cookie", "b=2")
			},
			Expect: Expect{Status: []int{200}, Answers: 1, Reach: ReachOne, NoHeader: []string{"Cookie: " + RouteCookie},
				HasHeader: []string{"Cookie: a=1", "Cookie: b=2"}}},
		{Name: "h2-te-trailers", Why: "te: trailers is the one te an HTTP/2 request may carry",
			Frames: func(h *H2) { h.Get("/", "te", "trailers") }, Expect: Expect{Status: []int{200}, Answers: 1, Reach: ReachOne}},
		{Name: "h2-two-streams", Why: "two streams on one connection, both answered",
			Frames: func(h *H2) { h.Get("/a"); h.Get("/b") }, Expect: Expect{Status: []int{200}, Answers: 2, Reach: ReachTwo}},
		{Name: "h2-pseudo-after-field", Why: "a pseudo-header after a regular field (RFC 9113 §8.3: malformed)",
			Frames: func(h *H2) {
				h.Request(true, ":method", "GET", ":scheme", "https", "x-a", "1", ":authority", "probe.example", ":path", "/")
			},
			Expect: refusedH2},
		{Name: "h2-two-paths", Why: "two :path pseudo-headers (malformed)",
			Frames: func(h *H2) { h.Get("/a", ":path", "/b") }, Expect: refusedH2},
		{Name: "h2-empty-path", Why: "an empty :path (RFC 9113 §8.3.1: malformed)",
			Frames: func(h *H2) {
				h.Request(true, ":method", "GET", ":scheme", "https", ":authority", "probe.example", ":path", "")
			},
			Expect: refusedH2},
		{Name: "h2-crlf-in-value", Why: "CR LF inside a field value (RFC 9113 §8.2.1: malformed)",
			Frames: func(h *H2) { h.Get("/", "x-a", "1\r\nx-injected: 1") }, Expect: refusedH2},
		{Name: "h2-connect", Why: "CONNECT is not passed on",
			Frames: func(h *H2) { h.Request(true, ":method", "CONNECT", ":authority", "backend.example:443") },
			Expect: Expect{Status: []int{400, 405, 501, StreamReset}, Answers: 1, Reach: ReachNone}},
		{Name: "h2-trace", Why: "TRACE is not passed on",
			Frames: func(h *H2) {
				h.Request(true, ":method", "TRACE", ":scheme", "https", ":authority", "probe.example", ":path", "/")
			},
			Expect: Expect{Status: []int{405, 501}, Answers: 1, Reach: ReachNone}},
		{Name: "h2-connection-field", Why: "a connection-specific field (RFC 9113 §8.2.2: malformed)",
			Frames: func(h *H2) { h.Get("/", "connection", "keep-alive") }, Expect: refusedH2},
		{Name: "h2-upgrade-field", Why: "upgrade: h2c in an HTTP/2 request (malformed)",
			Frames: func(h *H2) { h.Get("/", "upgrade", "h2c") }, Expect: refusedH2},
		{Name: "h2-te-gzip", Why: "te other than trailers (RFC 9113 §8.2.2: malformed)",
			Frames: func(h *H2) { h.Get("/", "te", "gzip") }, Expect: refusedH2},
		{Name: "h2-uppercase-field", Why: "an upper-case field name (RFC 9113 §8.2.1: malformed)",
			Frames: func(h *H2) { h.Get("/", "X-Upper", "1") }, Expect: refusedH2},
		{Name: "h2-no-authority", Why: "neither :authority nor host",
			Frames: func(h *H2) { h.Request(true, ":method", "GET", ":scheme", "https", ":path", "/") },
			Expect: refusedH2},
		{Name: "h2-oversized-head", Why: "an 80 KiB field in HEADERS and CONTINUATION",
			Frames: func(h *H2) { h.Get("/", "x-big", strings.Repeat("a", 80<<10)) },
			Expect: Expect{Status: []int{400, 431, StreamReset}, Reach: ReachNone}},
	}
	for i := range h2 {
		h2[i].Proto = HTTP2
	}
	return append(ps, h2...)
}

func withinOnce(e Expect) Expect {
	e.Within = atOnce
	return e
}

// Find returns the probe named name.
func Find(name string) (Probe, bool) {
	for _, p := range All() {
		if p.Name == name {
			return p, true
		}
	}
	return Probe{}, false
}
