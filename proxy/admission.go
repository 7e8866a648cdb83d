package proxy

import (
	"bytes"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// The admission rules, one place for every request path: the HTTP/1 loop
// asks admit and serves what it may (forwarded requests, the health
// path), handing anything else to net/http, whose handler asks the same
// admit and answers.

// verdict is what admission decides for a request.
type verdict uint8

const (
	admitForward  verdict = iota // proxy it to the cluster
	admitHealth                  // the proxy's own health path
	admitRedirect                // the listener redirects to HTTPS
	refuseMethod                 // CONNECT (501) or TRACE (405), unless allowed
	refuseLoop                   // the request came back to this proxy (508)
	refuseHost                   // no cluster serves the Host (421)
	refuseBad                    // no host at all, or the HTTP/2 preface as a request (400)
)

// admitIn is what admission looks at.
type admitIn struct {
	path     string   // the URL path, decoded
	method   string   //
	host     string   // the Host header, or the authority of an absolute target
	via      []string // the Via values (nil: none)
	redirect bool     // the listener redirects to HTTPS instead of proxying
	h2       bool     // an HTTP/2 request: it names a host, or it is malformed (RFC 9113 8.3.1)
}

// admit decides, in this order: the health path; redirect; a request
// that is no request (HTTP/2's preface, HTTP/2 without a host, as HTTP/1.1
// without Host gets 400); method; loop; route. A request proxied comes
// with its cluster.
func (s *Server) admit(in admitIn) (verdict, *cluster) {
	switch {
	case in.path == s.cfg.HealthPath:
		return admitHealth, nil
	case in.redirect:
		return admitRedirect, nil
	case in.method == "PRI" || in.h2 && in.host == "":
		return refuseBad, nil
	case (in.method == http.MethodConnect || in.method == http.MethodTrace) && !slices.Contains(s.cfg.AllowMethods, in.method):
		return refuseMethod, nil
	case len(in.via) > 0 && s.looped(in.via):
		return refuseLoop, nil
	}
	cl := s.route(in.host)
	if cl == nil {
		return refuseHost, nil
	}
	return admitForward, cl
}

// refusal is the answer to a refused request: status, text and extra
// header fields.
func refusal(v verdict, method string) (code int, text string, allow string) {
	switch v {
	case refuseMethod:
		if method == http.MethodConnect {
			return http.StatusNotImplemented, "CONNECT is not served", ""
		}
		return http.StatusMethodNotAllowed, "method not allowed", "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS"
	case refuseLoop:
		return http.StatusLoopDetected, "loop detected", ""
	case refuseBad:
		return http.StatusBadRequest, "bad request", ""
	}
	return http.StatusMisdirectedRequest, "no cluster serves this host", ""
}

// newState fills a request's state once it is admitted: whether the
// client used HTTPS (to this proxy, or to a trusted balancer in front that
// says so in X-Forwarded-Proto), and what its cookies say about its
// session. Both request paths call it.
func (s *Server) newState(st *reqState, cl *cluster, tls bool, client netip.Addr, xfProto string, cookies []string) {
	st.cl, st.tls, st.secure = cl, tls, tls
	if !tls && xfProto == "https" && len(s.cfg.TrustedProxies) > 0 && client.IsValid() && s.trusted(client) {
		st.secure = true
	}
	if cl.sticky && len(cookies) > 0 {
		st.hasApp, st.pinned, st.foreign = cl.routeCookieLines(cookies)
	}
}

// filterUpgrade keeps, of the protocols a request asks to switch to, those
// that may be tunnelled (Config.Upgrades); when none is left the request
// goes on as an ordinary one, without Upgrade (h2c included: its
// HTTP2-Settings goes too). It reports whether an upgrade remains.
func (s *Server) filterUpgrade(h http.Header) bool {
	vv, ok := h["Upgrade"]
	if !ok {
		return false
	}
	var keep []string
	for _, v := range vv {
		for tok := range strings.SplitSeq(v, ",") {
			tok = strings.Trim(tok, " \t")
			name, _, _ := strings.Cut(tok, "/")
			for _, u := range s.cfg.Upgrades {
				if equalFold(name, u) {
					keep = append(keep, tok)
					break
				}
			}
		}
	}
	if len(keep) == 0 {
		delete(h, "Upgrade")
		delete(h, "Http2-Settings")
		return false
	}
	h["Upgrade"] = []string{strings.Join(keep, ", ")}
	return true
}

// badHead reports whether the start of a request head can be refused at
// once, before the rest arrives: a line ended by a bare LF, or a complete
// request line that names no HTTP/1 version (HTTP/0.9's "GET /", HTTP/2's
// preface "PRI * HTTP/2.0", garbage).
// net/http would read a bare LF as a line end where other servers do not.
func badHead(b []byte) bool {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return false
	}
	if i == 0 || b[i-1] != '\r' {
		return true
	}
	line := b[:i-1]
	sp := bytes.LastIndexByte(line, ' ')
	if sp < 0 || !bytes.HasPrefix(line[sp+1:], []byte("HTTP/1.")) {
		return true
	}
	for j := i + 1; j < len(b); j++ {
		if b[j] == '\n' && b[j-1] != '\r' {
			return true
		}
	}
	return false
}

// smuggles reports whether a request head carries both Content-Length and
// Transfer-Encoding. RFC 9112 6.3: Transfer-Encoding wins, and the
// connection must close after the answer: such a request may be an
// attempt at request smuggling.
func smuggles(head string) bool {
	cl, te := false, false
	rest := head
	if _, r, ok := cutLine(rest); ok {
		rest = r
	}
	for {
		f, r, end, ok := nextField(rest)
		if !ok || end {
			return cl && te
		}
		rest = r
		cl = cl || equalFold(f.name, "Content-Length")
		te = te || equalFold(f.name, "Transfer-Encoding")
	}
}
