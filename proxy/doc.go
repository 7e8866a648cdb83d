// Package proxy is the TLS-terminating reverse proxy behind jksproxy.
//
// It serves one certificate (normally loaded from a Java keystore by the
// caller) on an HTTPS listener, reloads it on request or when the keystore
// file's content changes, and forwards requests to clusters of HTTP or HTTPS
// backends chosen by the request's Host. Backends are health checked actively
// and observed passively on real traffic: a backend is charged only with
// what it did (blame, in fault.go, decides whose fault a failure was; a
// client's aborts, resets and bad or stalled bodies are counted apart and
// never eject a backend), and every response it finishes clears its
// failures in a row. Requests are balanced round robin or to the backend
// with the fewest active requests. Request bodies are read whole before a
// backend is used (body.go), so a slow client holds no application thread.
//
// Every request path (the own HTTP/1 loop, net/http with the forwarder,
// ReverseProxy) calls the same rules: admission (admission.go), one
// hop-by-hop table, one failover (attempts) and one failure attribution.
//
// Session stickiness follows the application's session cookie (JSESSIONID by
// default) without shared state: when a backend sets that cookie, the proxy
// adds its own cookie (KBSRV, or its configured name) whose value is the
// backend's stable ID, a hash
// of the backend URL or an ID given in the configuration. Any proxy instance
// configured with the same backends, including one that has just restarted,
// routes the session to the same backend. If that backend is down the request
// goes to a healthy one and KBSRV is rewritten so the session stays there.
//
// Forwarding headers (X-Forwarded-*, Forwarded) are replaced unless the
// peer is a trusted proxy; Via is appended, and a request that already
// carries this process's Via pseudonym is refused with 508 (a backend that
// points at the proxy itself). The HTTPS listener can require a PROXY
// protocol v1/v2 header (AWS ELB TCP listeners, NLB).
//
// The client listeners are served by an own HTTP/1 loop (h1.go): one
// goroutine per connection does the TLS handshake, reads request heads into
// a pooled 4 KiB buffer, parses them with a deliberately strict parser and
// forwards them without http.Request or header maps; between requests a
// connection holds no buffer, and after 100 ms idle it waits on a fresh
// goroutine with a small stack. HTTP/2 connections (by ALPN) and every
// request the strict parser does not accept (upgrades, Expect, chunked
// uploads, heads over 4 KiB, anything malformed) go to net/http with the
// connection and the bytes already read, so they get net/http's answers
// (400, 431) and handling as they always have.
//
// Requests to clusters of plain-HTTP backends take a lean forwarder: the
// connection's goroutine writes the request to a pooled keep-alive backend
// connection and reads the response itself (no per-connection goroutines),
// checks an idle connection with one non-blocking peek before reusing it
// (skipped within a second of its last use for a request that can be sent
// again), and replaces a reused connection the backend had closed when the
// request can be sent again. Upgrades (WebSocket), Expect: 100-continue,
// CONNECT and HTTPS backends go through httputil.ReverseProxy and
// http.Transport.
//
// The package never prints or exits; it logs through the *slog.Logger it is
// given. Run is the one entry point used by cmd/jksproxy; New and
// Server.Serve are the same in two steps for tests and embedding.
package proxy
