package proxy

import (
	"errors"
	"strings"
)

// hfield is one header field. Parsed fields are substrings of one copy of
// the message head, so a request or response costs one string allocation.
type hfield struct{ name, value string }

// maxFields bounds the header fields of a request the HTTP/1 loop serves
// itself; a request with more goes to net/http.
const maxFields = 64

// reqHead is a request head accepted by parseRequestHead.
type reqHead struct {
	method string
	target string // origin-form: starts with "/"
	host   string
	minor  int // HTTP/1.minor
	fields []hfield
	length int64 // Content-Length; -1: no body
	close  bool  // the connection ends after this request's response
	conn   bool  // a Connection field lists header names to drop
	cookie bool  // at least one Cookie field
	fwd    bool  // Via, Forwarded or an X-Forwarded-* field is present
}

var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// hostChar are the bytes a Host value may hold on the fast path: names,
// IPv4, bracketed IPv6 and a port.
var hostChar = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c < 0x80 && (isAlnum(byte(c)) || strings.IndexByte(".-_:[]", byte(c)) >= 0)
	}
	return t
}()

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// parseRequestHead parses a request head (request line and header fields,
// ending with the empty line) for the HTTP/1 loop. It is deliberately
// narrower than HTTP: it accepts only what it can forward without a doubt
// (origin-form target, HTTP/1.0 or 1.1, one Host, at most one
// Content-Length, no Transfer-Encoding, Upgrade or Expect, no obsolete line
// folding, CRLF line ends, valid names and values) and reports false for
// anything else. Those requests go to net/http, whose answers (400, 431,
// chunked bodies, upgrades) they have always had; what this accepts,
// net/http accepts too, with the same meaning.
func parseRequestHead(s string, fields []hfield) (h reqHead, ok bool) {
	h.length = -1
	line, rest, ok := cutLine(s)
	if !ok {
		return h, false
	}
	// Request line: method SP target SP HTTP/1.x
	sp := strings.IndexByte(line, ' ')
	if sp <= 0 || sp > 32 {
		return h, false
	}
	h.method = line[:sp]
	for i := 0; i < len(h.method); i++ {
		if !tchar[h.method[i]] {
			return h, false
		}
	}
	if h.method == "CONNECT" || h.method == "PRI" {
		return h, false
	}
	line = line[sp+1:]
	sp = strings.IndexByte(line, ' ')
	if sp <= 0 || line[0] != '/' {
		return h, false
	}
	h.target = line[:sp]
	if !validTarget(h.target) {
		return h, false
	}
	switch line[sp+1:] {
	case "HTTP/1.1":
		h.minor = 1
	case "HTTP/1.0":
		h.minor = 0
	default:
		return h, false
	}
	hosts, lengths := 0, 0
	keepAlive := false
	h.fields = fields[:0]
	for {
		f, r, end, ok := nextField(rest)
		if !ok || !end && len(h.fields) == maxFields {
			return h, false
		}
		if rest = r; end {
			break
		}
		h.fields = append(h.fields, f)
		switch len(f.name) {
		case 3:
			if equalFold(f.name, "Via") {
				h.fwd = true
			}
		case 4:
			if equalFold(f.name, "Host") {
				hosts++
				h.host = f.value
			}
		case 6:
			switch {
			case equalFold(f.name, "Cookie"):
				h.cookie = true
			case equalFold(f.name, "Expect"):
				return h, false
			}
		case 7:
			if equalFold(f.name, "Upgrade") {
				return h, false
			}
		case 9:
			if equalFold(f.name, "Forwarded") {
				h.fwd = true
			}
		case 10:
			if equalFold(f.name, "Connection") {
				h.conn = true
				cl, ka, up := connectionOptions(f.value)
				if up {
					return h, false
				}
				h.close = h.close || cl
				keepAlive = keepAlive || ka
			}
		case 14:
			if equalFold(f.name, "Content-Length") {
				lengths++
				n, ok := parseLength(f.value)
				if !ok {
					return h, false
				}
				h.length = n
			}
		case 17:
			if equalFold(f.name, "Transfer-Encoding") {
				return h, false
			}
		}
		if len(f.name) > 10 && equalFold(f.name[:10], "X-Forwarde") {
			h.fwd = true
		}
	}
	if rest != "" || hosts != 1 || lengths > 1 || !validHost(h.host) {
		return h, false
	}
	if h.minor == 0 && !keepAlive {
		h.close = true
	}
	return h, true
}

// equalFold compares ASCII case-insensitively, as HTTP's field names and
// tokens are compared. strings.EqualFold also folds Unicode (the Kelvin
// sign matches "k"), which would read tokens other parsers do not.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// connectionOptions reads the options of a Connection field value.
func connectionOptions(v string) (close, keepAlive, upgrade bool) {
	for tok := range strings.SplitSeq(v, ",") {
		switch tok = strings.Trim(tok, " \t"); {
		case equalFold(tok, "close"):
			close = true
		case equalFold(tok, "keep-alive"):
			keepAlive = true
		case equalFold(tok, "upgrade"):
			upgrade = true
		}
	}
	return close, keepAlive, upgrade
}

// cutLine splits off one CRLF-terminated line; a bare CR or LF fails.
func cutLine(s string) (line, rest string, ok bool) {
	i := strings.IndexByte(s, '\n')
	if i < 1 || s[i-1] != '\r' {
		return "", s, false
	}
	line = s[:i-1]
	if strings.IndexByte(line, '\r') >= 0 {
		return "", s, false
	}
	return line, s[i+1:], true
}

// nextField takes the next header field off s; end says s began with the
// empty line that ends the section. ok is false for a malformed line.
func nextField(s string) (f hfield, rest string, end, ok bool) {
	line, rest, ok := cutLine(s)
	if !ok || line == "" {
		return hfield{}, rest, ok, ok
	}
	f, ok = parseField(line)
	return f, rest, false, ok
}

// parseField parses "name: value" with a token name, no space before the
// colon, and a value free of control characters (HTAB aside), trimmed of
// surrounding blanks. A line starting with a blank (obsolete folding)
// fails, as its name is not a token.
func parseField(line string) (hfield, bool) {
	colon := strings.IndexByte(line, ':')
	if colon <= 0 {
		return hfield{}, false
	}
	name := line[:colon]
	for i := 0; i < len(name); i++ {
		if !tchar[name[i]] {
			return hfield{}, false
		}
	}
	v := line[colon+1:]
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return hfield{}, false
		}
	}
	return hfield{name, strings.Trim(v, " \t")}, true
}

// validTarget accepts an origin-form target of visible ASCII with
// well-formed percent escapes and no fragment.
func validTarget(t string) bool {
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c <= ' ' || c >= 0x7f || c == '#':
			return false
		case c == '%':
			if i+2 >= len(t) || !isHex(t[i+1]) || !isHex(t[i+2]) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func validHost(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		if !hostChar[h[i]] {
			return false
		}
	}
	return true
}

// parseLength parses a Content-Length value: 1 to 18 digits.
func parseLength(v string) (int64, bool) {
	if v == "" || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// respHead is a backend's response head.
type respHead struct {
	code    int
	reason  string // the status line after the code, possibly empty
	minor   int
	fields  []hfield
	length  int64 // Content-Length; -1: unknown
	chunked bool
	close   bool // the backend closes the connection after this response
	conn    bool // a Connection field lists header names to drop
	date    bool // a Date field is present
	hasCL   bool
}

var errBadResponse = errors.New("malformed response from backend")

// parseResponseHead parses a backend's status line and header fields
// (ending with the empty line). Framing follows RFC 9112 6.3: chunked wins
// over Content-Length, differing Content-Length values and transfer codings
// other than chunked are errors.
func parseResponseHead(s string, fields []hfield) (h respHead, err error) {
	h.length = -1
	line, rest, ok := cutLine(s)
	if !ok || len(line) < 12 || !strings.HasPrefix(line, "HTTP/1.") || line[8] != ' ' {
		return h, errBadResponse
	}
	switch line[7] {
	case '0':
		h.minor = 0
	case '1':
		h.minor = 1
	default:
		return h, errBadResponse
	}
	for i := 9; i < 12; i++ {
		c := line[i]
		if c < '0' || c > '9' {
			return h, errBadResponse
		}
		h.code = h.code*10 + int(c-'0')
	}
	if h.code < 100 {
		return h, errBadResponse
	}
	if len(line) > 12 {
		if line[12] != ' ' {
			return h, errBadResponse
		}
		h.reason = line[13:]
		for i := 0; i < len(h.reason); i++ {
			if c := h.reason[i]; c < ' ' && c != '\t' || c == 0x7f {
				return h, errBadResponse
			}
		}
	}
	keepAlive := false
	clText := ""
	h.fields = fields[:0]
	for {
		f, r, end, ok := nextField(rest)
		if !ok {
			return h, errBadResponse
		}
		if rest = r; end {
			break
		}
		h.fields = append(h.fields, f)
		switch len(f.name) {
		case 4:
			if equalFold(f.name, "Date") {
				h.date = true
			}
		case 10:
			if equalFold(f.name, "Connection") {
				h.conn = true
				cl, ka, _ := connectionOptions(f.value)
				h.close = h.close || cl
				keepAlive = keepAlive || ka
			}
		case 7:
			// Framing fields cannot be trailers (net/http refuses them too).
			if equalFold(f.name, "Trailer") {
				for tok := range strings.SplitSeq(f.value, ",") {
					tok = strings.Trim(tok, " \t")
					if equalFold(tok, "Content-Length") || equalFold(tok, "Transfer-Encoding") || equalFold(tok, "Trailer") {
						return h, errBadResponse
					}
				}
			}
		case 14:
			if equalFold(f.name, "Content-Length") {
				// Repeated, it must be the same text (as net/http wants).
				n, ok := parseLength(f.value)
				if !ok || h.hasCL && f.value != clText {
					return h, errBadResponse
				}
				h.length, h.hasCL, clText = n, true, f.value
			}
		case 17:
			if equalFold(f.name, "Transfer-Encoding") {
				if !equalFold(f.value, "chunked") || h.chunked {
					return h, errBadResponse
				}
				h.chunked = true
			}
		}
	}
	if rest != "" {
		return h, errBadResponse
	}
	if h.chunked {
		if h.minor == 0 {
			// RFC 9112 6.1: faulty framing. (net/http would ignore the
			// field and read to the close.)
			return h, errBadResponse
		}
		h.length, h.hasCL = -1, false
	}
	if h.minor == 0 && !keepAlive {
		h.close = true
	}
	return h, nil
}

// bodyless reports whether a response to method with this status has no
// body whatever its header says.
func bodyless(method string, code int) bool {
	return method == "HEAD" || code < 200 || code == 204 || code == 304
}

// hopByHop are the header fields that concern one connection only (RFC
// 9110 7.6.1), which a proxy removes in both directions: the list
// httputil.ReverseProxy removes (TestHopByHopTable holds them together),
// for every request path of the proxy.
var hopByHop = [...]string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// hopByLen holds hopByHop by length, for hopField.
var hopByLen = func() (t [20][]string) {
	for _, h := range hopByHop {
		t[len(h)] = append(t[len(h)], h)
	}
	return t
}()

// hopField reports whether a field is one of hopByHop, in any case.
func hopField(name string) bool {
	if len(name) >= len(hopByLen) {
		return false
	}
	for _, h := range hopByLen[len(name)] {
		if equalFold(name, h) {
			return true
		}
	}
	return false
}

// listedIn reports whether name is one of the tokens of the Connection
// fields among fields.
func listedIn(fields []hfield, name string) bool {
	for _, f := range fields {
		if len(f.name) == 10 && equalFold(f.name, "Connection") && hasToken(f.value, name) {
			return true
		}
	}
	return false
}

// hasToken reports whether the comma-separated list v holds token.
func hasToken(v, token string) bool {
	for tok := range strings.SplitSeq(v, ",") {
		if equalFold(strings.Trim(tok, " \t"), token) {
			return true
		}
	}
	return false
}
