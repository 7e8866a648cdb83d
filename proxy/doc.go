// Package proxy is the TLS-terminating reverse proxy behind jksproxy.
//
// It serves one certificate (normally loaded from a Java keystore by the
// caller) on an HTTPS listener, reloads it on request or when the keystore
// file's content changes, and forwards requests to clusters of HTTP or HTTPS
// backends chosen by the request's Host. Backends are health checked actively
// and ejected passively on connection errors; requests are balanced round
// robin or to the backend with the fewest active requests.
//
// Session stickiness follows the application's session cookie (JSESSIONID by
// default) without shared state: when a backend sets that cookie, the proxy
// adds its own cookie (KBSRV) whose value is the backend's stable ID, a hash
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
// Requests to clusters of plain-HTTP backends take a lean forwarder: the
// handler goroutine writes the request to a pooled keep-alive backend
// connection and reads the response itself (no per-connection goroutines),
// checks an idle connection with one non-blocking peek before reusing it,
// and replaces a reused connection the backend had closed when the request
// can be sent again. Upgrades (WebSocket), Expect: 100-continue, CONNECT
// and HTTPS backends go through httputil.ReverseProxy and http.Transport.
//
// The package never prints or exits; it logs through the *slog.Logger it is
// given. Run is the one entry point used by cmd/jksproxy; New and
// Server.Serve are the same in two steps for tests and embedding.
package proxy
