package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests here hold the HTTP/1 fast path's parsers to their promise:
// what parseRequestHead accepts, Go's net/http server accepts with the same
// meaning, and what parseResponseHead accepts, http.ReadResponse accepts
// with the same framing. Each accepted input runs through net/http itself
// (over net.Pipe: no sockets), in the table tests and in FuzzRequestHead
// and FuzzResponseHead.

// h1tReqWant is what a table test expects of an accepted request head.
type h1tReqWant struct {
	method, target, host     string
	minor                    int
	length                   int64
	close, conn, cookie, fwd bool
	nfields                  int
}

func h1tSummarizeReq(h reqHead) h1tReqWant {
	return h1tReqWant{h.method, h.target, h.host, h.minor, h.length, h.close, h.conn, h.cookie, h.fwd, len(h.fields)}
}

// h1tManyFields is a request head with n header fields, Host the first.
func h1tManyFields(n int) string {
	var b strings.Builder
	b.WriteString("GET / HTTP/1.1\r\nHost: a\r\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "X-F%d: %d\r\n", i, i)
	}
	b.WriteString("\r\n")
	return b.String()
}

var h1AcceptedRequests = []struct {
	name   string
	in     string
	want   h1tReqWant
	fields []hfield // if set, the parsed fields exactly
}{
	{"get", "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
		h1tReqWant{"GET", "/", "example.com", 1, -1, false, false, false, false, 1},
		[]hfield{{"Host", "example.com"}}},
	{"get browser", "GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: text/html,application/xhtml+xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n\r\n",
		h1tReqWant{"GET", "/index.html", "www.example.com", 1, -1, false, false, false, false, 5}, nil},
	{"head", "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n",
		h1tReqWant{"HEAD", "/x", "a", 1, -1, false, false, false, false, 1}, nil},
	{"options path", "OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n",
		h1tReqWant{"OPTIONS", "/x", "a", 1, -1, false, false, false, false, 1}, nil},
	{"custom method", "PURGE /cache/x HTTP/1.1\r\nHost: a\r\n\r\n",
		h1tReqWant{"PURGE", "/cache/x", "a", 1, -1, false, false, false, false, 1}, nil},
	{"lowercase method", "get / HTTP/1.1\r\nHost: a\r\n\r\n",
		h1tReqWant{"get", "/", "a", 1, -1, false, false, false, false, 1}, nil},
	{"post", "POST /submit HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\n\r\n",
		h1tReqWant{"POST", "/submit", "api.example.com", 1, 11, false, false, false, false, 3}, nil},
	{"post empty", "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
		h1tReqWant{"POST", "/submit", "a", 1, 0, false, false, false, false, 2}, nil},
	{"put lowercase names", "PUT /o HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\n\r\n",
		h1tReqWant{"PUT", "/o", "a", 1, 3, false, false, false, false, 2}, nil},
	{"get with body", "GET /q HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n",
		h1tReqWant{"GET", "/q", "a", 1, 2, false, false, false, false, 2}, nil},
	{"length leading zeros", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n",
		h1tReqWant{"POST", "/", "a", 1, 7, false, false, false, false, 2}, nil},
	{"length blanks", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \t5 \r\n\r\n",
		h1tReqWant{"POST", "/", "a", 1, 5, false, false, false, false, 2}, nil},
	{"http10", "GET / HTTP/1.0\r\nHost: a\r\n\r\n",
		h1tReqWant{"GET", "/", "a", 0, -1, true, false, false, false, 1}, nil},
	{"http10 keep-alive", "GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
		h1tReqWant{"GET", "/", "a", 0, -1, false, true, false, false, 2}, nil},
	{"http10 Keep-Alive", "GET / HTTP/1.0\r\nHost: a\r\nConnection: Keep-Alive\r\n\r\n",
		h1tReqWant{"GET", "/", "a", 0, -1, false, true, false, false, 2}, nil},
	{"http10 keep-alive listed", "GET / HTTP/1.0\r\nHost: a\r\nConnection: foo ,\tkeep-alive\r\n\r\n",
		h1tReqWant{"GET", "/", "a", 0, -1, false, true, false, false, 2}, nil},
	{"http10 keep-alive and close", "GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
		h1tReqWant{"GET", "/", "a", 0, -1, true, true, false, false, 3}, nil},
	{"http10 post", "POST /p HTTP/1.0\r\nHost: a\r\nContent-Length: 4\r\nConnection: keep-alive\r\n\r\n",
		h1tReqWant{"POST", "/p", "a", 0, 4, false, true, false, false, 3}, nil},
	{"connection close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		h1tReqWant{"GET", "/", "a", 1, -1, true, true, false, false, 2}, nil},
	{"connection CLOSE", "GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n",
		h1tReqWant{"GET", "/", "a", 1, -1, true, true, false, false, 2}, nil},
	{"connection list close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n",
		h1tReqWant{"GET", "/", "a", 1, -1, true, true, false, false, 2}, nil},
	{"connection keep-alive", "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n",
		h1tReqWant{"GET", "/", "a", 1, -1, false, true, false, false, 3}, nil},
	{"connection other token", "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Hop, closed\r\nX-Hop: 1\r\n\r\n",
		h1tReqWant{"GET", "/", "a", 1, -1, false, true, false, false, 3}, nil},
	{"cookies", "GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1; b=2\r\nAccept: */*\r\nCookie: c=3\r\ncookie: d=4\r\n\r\n",
		h1tReqWant{"GET", "/", "a", 1, -1, false, false, true, false, 5},
		[]hfield{{"Host", "a"}, {"Cookie", "a=1; b=2"}, {"Accept", "*/*"}, {"Cookie", "c=3"}, {"cookie", "d=4"}}},
	{"escaped path", "GET /a%20b/%E2%82%AC/%2F%2e%2E HTTP/1.1\r\nHost: a\r\n\r\n",
		h1tReqWant{"GET", "/a%20b/%E2%82%AC/%2F%2e%2E", "a", 1, -1, false, false, false, false, 1}, nil},
	{"escaped query", "GET /search?q=caf%C3%A9+au+lait&x=%2F&y=a%26b HTTP/1.1\r\nHost: a\r\n\r\n",
		h1tReqWant{"GET", "/search?q=caf%C3%A9+au+lait&x=%2F&y=a%26b", "a", 1, -1, false, false, false, false, 1}, nil},
	{"query chars", "GET /p;x=1?a=[1]&b={2}|'\"!$()*,:@~^` HTTP/1.1\r\nHost: a\r\n\r\n",
		h1tReqWant{"GET", "/p;x=1?a=[1]&b={2}|'\"!$()*,:@~^`", "a", 1, -1, false, false, false, false, 1}, nil},
	{"empty query", "GET /p? HTTP/1.1\r\nHost: a\r\n\r\n",
		h1tReqWant{"GET", "/p?", "a", 1, -1, false, false, false, false, 1}, nil},
	{"double slash", "GET //evil.example/x HTTP/1.1\r\nHost: a\r\n\r\n",
		h1tReqWant{"GET", "//evil.example/x", "a", 1, -1, false, false, false, false, 1}, nil},
	{"dot segments", "GET /a/../../b/./c HTTP/1.1\r\nHost: a\r\n\r\n",
		h1tReqWant{"GET", "/a/../../b/./c", "a", 1, -1, false, false, false, false, 1}, nil},
	{"ipv6 host", "GET / HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n",
		h1tReqWant{"GET", "/", "[::1]:8443", 1, -1, false, false, false, false, 1}, nil},
	{"ipv4 host port", "GET / HTTP/1.1\r\nHost: 192.0.2.7:443\r\n\r\n",
		h1tReqWant{"GET", "/", "192.0.2.7:443", 1, -1, false, false, false, false, 1}, nil},
	{"host mixed case", "GET / HTTP/1.1\r\nHOST: Www.Example.COM:8443\r\n\r\n",
		h1tReqWant{"GET", "/", "Www.Example.COM:8443", 1, -1, false, false, false, false, 1}, nil},
	{"host underscore", "GET / HTTP/1.1\r\nHost: my_host.internal\r\n\r\n",
		h1tReqWant{"GET", "/", "my_host.internal", 1, -1, false, false, false, false, 1}, nil},
	{"host last", "GET / HTTP/1.1\r\nAccept: */*\r\nHost: a.example\r\n\r\n",
		h1tReqWant{"GET", "/", "a.example", 1, -1, false, false, false, false, 2}, nil},
	{"forwarded fields", "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 192.0.2.1\r\n\r\n",
		h1tReqWant{"GET", "/", "a", 1, -1, false, false, false, true, 2}, nil},
	{"via", "GET / HTTP/1.1\r\nHost: a\r\nvia: 1.1 p\r\n\r\n",
		h1tReqWant{"GET", "/", "a", 1, -1, false, false, false, true, 2}, nil},
	{"forwarded", "GET / HTTP/1.1\r\nHost: a\r\nForwarded: for=192.0.2.1\r\n\r\n",
		h1tReqWant{"GET", "/", "a", 1, -1, false, false, false, true, 2}, nil},
	{"x-forwarded-proto", "GET / HTTP/1.1\r\nHost: a\r\nx-forwarded-proto: https\r\n\r\n",
		h1tReqWant{"GET", "/", "a", 1, -1, false, false, false, true, 2}, nil},
	{"value blanks", "GET / HTTP/1.1\r\nHost:a\r\nX-A:  \tb c\t \r\nX-Empty:\r\nX-Blank: \t \r\n\r\n",
		h1tReqWant{"GET", "/", "a", 1, -1, false, false, false, false, 4},
		[]hfield{{"Host", "a"}, {"X-A", "b c"}, {"X-Empty", ""}, {"X-Blank", ""}}},
	{"value obs-text", "GET / HTTP/1.1\r\nHost: a\r\nX-Name: Jos\xc3\xa9 \xff\x80\r\n\r\n",
		h1tReqWant{"GET", "/", "a", 1, -1, false, false, false, false, 2}, nil},
	{"value colons", "GET / HTTP/1.1\r\nHost: a\r\nX-T: a:b: c\r\n\r\n",
		h1tReqWant{"GET", "/", "a", 1, -1, false, false, false, false, 2},
		[]hfield{{"Host", "a"}, {"X-T", "a:b: c"}}},
	{"token names", "GET / HTTP/1.1\r\nHost: a\r\nX!#$%&'*+-.^_`|~9: v\r\n\r\n",
		h1tReqWant{"GET", "/", "a", 1, -1, false, false, false, false, 2}, nil},
	{"look-alike names", "POST / HTTP/1.1\r\nHost: a\r\nX-Transfer-Encoding: chunked\r\nContent-Lengths: 9\r\nUpgrade-Insecure-Requests: 1\r\nExpect-CT: x\r\n\r\n",
		h1tReqWant{"POST", "/", "a", 1, -1, false, false, false, false, 5}, nil},
	// An ordinary field to net/http as well, which passes it on as is.
	{"TE underscore", "POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n",
		h1tReqWant{"POST", "/", "a", 1, -1, false, false, false, false, 2}, nil},
	{"pragma", "GET / HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\n\r\n",
		h1tReqWant{"GET", "/", "a", 1, -1, false, false, false, false, 2}, nil},
	{"max fields", h1tManyFields(maxFields),
		h1tReqWant{"GET", "/", "a", 1, -1, false, false, false, false, maxFields}, nil},
}

var h1RefusedRequests = []struct{ name, in string }{
	// Framing: every way to make two parsers disagree on where the body ends.
	{"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"},
	{"TE and CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"},
	{"two CLs", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n"},
	{"two equal CLs", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n"},
	{"CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 4\r\n\r\n"},
	{"CL plus", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n"},
	{"CL minus", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"},
	{"CL hex", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n"},
	{"CL underscore", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1_0\r\n\r\n"},
	{"CL exponent", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1e3\r\n\r\n"},
	{"CL inner space", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\n"},
	{"CL empty", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n"},
	{"CL 19 digits", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000000000\r\n\r\n"},
	{"CL overflow", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n"},
	{"CL unicode digit", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \xd9\xa3\r\n\r\n"},
	{"CL space before colon", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 4\r\n\r\n"},
	{"TE chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"},
	{"TE CHUNKED", "POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: CHUNKED\r\n\r\n"},
	{"TE identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\nContent-Length: 4\r\n\r\n"},
	{"TE gzip chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"},
	{"TE chunked twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"},
	{"TE empty", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n"},
	{"TE space before colon", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n"},
	{"TE tab before colon", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\t: chunked\r\n\r\n"},
	{"TE vertical tab", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0bchunked\r\n\r\n"},
	{"TE form feed", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\x0c\r\n\r\n"},
	{"TE folded", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n"},
	{"TE http10", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"},
	{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n"},
	{"obs-fold tab", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n"},
	{"first field folded", "GET / HTTP/1.1\r\n Host: a\r\n\r\n"},
	{"blank field line", "GET / HTTP/1.1\r\nHost: a\r\n \r\n\r\n"},
	// Line ends.
	{"bare LF", "GET / HTTP/1.1\nHost: a\n\n"},
	{"bare LF in fields", "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n"},
	{"bare LF request line", "GET / HTTP/1.1\nHost: a\r\n\r\n"},
	{"bare LF end", "GET / HTTP/1.1\r\nHost: a\r\n\n\r\n\r\n"},
	{"bare CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"},
	{"bare CR line end", "GET / HTTP/1.1\r\nHost: a\r\r\nX: b\r\n\r\n"},
	{"bare CR request line", "GET / HTTP/1.1\r\r\nHost: a\r\n\r\n"},
	{"bare CR in target", "GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"CR CR LF", "GET / HTTP/1.1\r\nHost: a\r\n\r\r\n\r\n"},
	{"no end", "GET / HTTP/1.1\r\nHost: a\r\n"},
	{"empty", ""},
	{"only CRLFs", "\r\n\r\n"},
	{"leading CRLF", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"},
	// Field values and names.
	{"NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n"},
	{"DEL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n"},
	{"CTL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n"},
	{"ESC in value", "GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[31m\r\n\r\n"},
	{"NUL in name", "GET / HTTP/1.1\r\nHost: a\r\nX\x00: b\r\n\r\n"},
	{"DEL in name", "GET / HTTP/1.1\r\nHost: a\r\nX\x7f: b\r\n\r\n"},
	{"name with space", "GET / HTTP/1.1\r\nHost: a\r\nX Foo: bar\r\n\r\n"},
	{"name with slash", "GET / HTTP/1.1\r\nHost: a\r\nX/Y: bar\r\n\r\n"},
	{"name with at", "GET / HTTP/1.1\r\nHost: a\r\nX@: bar\r\n\r\n"},
	{"name non-ASCII", "GET / HTTP/1.1\r\nHost: a\r\nX-\xc3\xa9: bar\r\n\r\n"},
	{"empty name", "GET / HTTP/1.1\r\nHost: a\r\n: bar\r\n\r\n"},
	{"no colon", "GET / HTTP/1.1\r\nHost: a\r\nFoo\r\n\r\n"},
	{"too many fields", h1tManyFields(maxFields + 1)},
	{"trailing bytes", "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: b\r\n\r\n"},
	{"trailing body", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody"},
	// Host.
	{"no host", "GET / HTTP/1.1\r\n\r\n"},
	{"no host http10", "GET / HTTP/1.0\r\n\r\n"},
	{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
	{"two equal hosts", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"},
	{"empty host", "GET / HTTP/1.1\r\nHost:\r\n\r\n"},
	{"blank host", "GET / HTTP/1.1\r\nHost: \t \r\n\r\n"},
	{"host space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"},
	{"host tab", "GET / HTTP/1.1\r\nHost: a\tb\r\n\r\n"},
	{"host slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"},
	{"host at", "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n"},
	{"host percent", "GET / HTTP/1.1\r\nHost: a%2fb\r\n\r\n"},
	{"host comma", "GET / HTTP/1.1\r\nHost: a,b\r\n\r\n"},
	{"host semicolon", "GET / HTTP/1.1\r\nHost: a;b\r\n\r\n"},
	{"host quote", "GET / HTTP/1.1\r\nHost: \"a\"\r\n\r\n"},
	{"host backslash", "GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n"},
	{"host non-ASCII", "GET / HTTP/1.1\r\nHost: b\xc3\xbccher.example\r\n\r\n"},
	{"host zone", "GET / HTTP/1.1\r\nHost: [fe80::1%25eth0]:443\r\n\r\n"},
	// Request line.
	{"absolute form", "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"absolute form https", "GET https://b.example/x HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"asterisk", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"authority form", "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n"},
	{"connect path", "CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
	{"pri path", "PRI / HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"http09", "GET /\r\n\r\n"},
	{"http09 version", "GET / HTTP/0.9\r\nHost: a\r\n\r\n"},
	{"http12", "GET / HTTP/1.2\r\nHost: a\r\n\r\n"},
	{"http20", "GET / HTTP/2.0\r\nHost: a\r\n\r\n"},
	{"http110", "GET / HTTP/1.10\r\nHost: a\r\n\r\n"},
	{"http lowercase", "GET / http/1.1\r\nHost: a\r\n\r\n"},
	{"version space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n"},
	{"version missing", "GET / \r\nHost: a\r\n\r\n"},
	{"double space before target", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"double space after target", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"tab separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"leading space", " GET / HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"space in target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"empty target", "GET  HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"relative target", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"query target", "GET ?a HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"fragment", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"fragment in query", "GET /a?b#c HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"percent at end", "GET /a% HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"percent one digit", "GET /a%2 HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"percent non-hex", "GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"percent half hex", "GET /a%g0 HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"percent in query", "GET /a?q=% HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"percent bad in query", "GET /a?q=%4g HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"non-ASCII target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"DEL in target", "GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"NUL in target", "GET /a\x00 HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"tab in target", "GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"empty method", " / HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"method non-token", "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"method NUL", "G\x00T / HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"method non-ASCII", "G\xc3\x89T / HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"method too long", strings.Repeat("M", 33) + " / HTTP/1.1\r\nHost: a\r\n\r\n"},
	{"no spaces", "GET/HTTP/1.1\r\nHost: a\r\n\r\n"},
	// Protocol switches and interim answers.
	{"upgrade", "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"},
	{"upgrade alone", "GET / HTTP/1.1\r\nHost: a\r\nupgrade: h2c\r\n\r\n"},
	{"connection upgrade", "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n"},
	{"connection list upgrade", "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive,\tUPGRADE\r\n\r\n"},
	{"h2c upgrade", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"},
	{"expect", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"},
	{"expect other", "GET / HTTP/1.1\r\nHost: a\r\nexpect: foo\r\n\r\n"},
	{"expect empty", "GET / HTTP/1.1\r\nHost: a\r\nExpect:\r\n\r\n"},
}

func TestH1ParseRequestAccepts(t *testing.T) {
	for _, tc := range h1AcceptedRequests {
		t.Run(tc.name, func(t *testing.T) {
			h, ok := parseRequestHead(tc.in, nil)
			if !ok {
				t.Fatalf("parseRequestHead(%q) refused it", tc.in)
			}
			if got := h1tSummarizeReq(h); got != tc.want {
				t.Errorf("parseRequestHead(%q)\n got %+v\nwant %+v", tc.in, got, tc.want)
			}
			if tc.fields != nil && !slices.Equal(h.fields, tc.fields) {
				t.Errorf("fields %q, want %q", h.fields, tc.fields)
			}
			h1tCheckFlags(t, tc.in, h)
		})
	}
}

func TestH1ParseRequestRefuses(t *testing.T) {
	for _, tc := range h1RefusedRequests {
		t.Run(tc.name, func(t *testing.T) {
			if h, ok := parseRequestHead(tc.in, nil); ok {
				t.Errorf("parseRequestHead(%q) accepted it: %+v", tc.in, h1tSummarizeReq(h))
			}
		})
	}
}

// TestH1ParseRequestReusesFields checks that the fields land in the
// caller's slice when it is large enough.
func TestH1ParseRequestReusesFields(t *testing.T) {
	buf := make([]hfield, 3, maxFields)
	h, ok := parseRequestHead("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n", buf)
	if !ok || len(h.fields) != 2 || &h.fields[0] != &buf[0] {
		t.Fatalf("fields %q not in the caller's slice", h.fields)
	}
}

// h1tCheckFlags checks reqHead's summary flags against its fields.
func h1tCheckFlags(t *testing.T, in string, h reqHead) {
	t.Helper()
	var conn, cookie, fwd, fwdLike bool
	for _, f := range h.fields {
		n := strings.ToLower(f.name)
		conn = conn || n == "connection"
		cookie = cookie || n == "cookie"
		fwd = fwd || n == "via" || n == "forwarded" || strings.HasPrefix(n, "x-forwarded-")
		fwdLike = fwdLike || len(n) > 10 && strings.HasPrefix(n, "x-forwarde")
	}
	// fwd may err on the safe side for names like X-Forwarded or
	// X-Forwardee.
	if h.conn != conn || h.cookie != cookie || h.fwd != fwd && !(h.fwd && fwdLike) {
		t.Errorf("parseRequestHead(%q): conn, cookie, fwd = %v, %v, %v; fields say %v, %v, %v",
			in, h.conn, h.cookie, h.fwd, conn, cookie, fwd)
	}
}

// TestH1RequestNetHTTP runs every table input through Go's HTTP server:
// what parseRequestHead accepts, net/http must serve with the same meaning.
func TestH1RequestNetHTTP(t *testing.T) {
	for _, tc := range h1AcceptedRequests {
		t.Run(tc.name, func(t *testing.T) {
			h, ok := parseRequestHead(tc.in, nil)
			if !ok {
				t.Fatalf("parseRequestHead(%q) refused it", tc.in)
			}
			checkRequestNetHTTP(t, tc.in, h)
		})
	}
	// The refused ones need no check; run them through the same path as
	// the fuzz target so that a change that accepts one is still held to
	// the property.
	for _, tc := range h1RefusedRequests {
		t.Run(tc.name, func(t *testing.T) { fuzzRequestHead(t, tc.in) })
	}
}

func FuzzRequestHead(f *testing.F) {
	for _, tc := range h1AcceptedRequests {
		f.Add(tc.in)
	}
	for _, tc := range h1RefusedRequests {
		f.Add(tc.in)
	}
	f.Fuzz(fuzzRequestHead)
}

func fuzzRequestHead(t *testing.T, in string) {
	// The HTTP/1 loop hands the parser the bytes up to and including the
	// first empty line.
	i := strings.Index(in, "\r\n\r\n")
	if i < 0 {
		return
	}
	in = in[:i+4]
	h, ok := parseRequestHead(in, nil)
	if !ok {
		return // net/http answers it, as before
	}
	h1tCheckFlags(t, in, h)
	checkRequestNetHTTP(t, in, h)
}

// h1tDescribeReq is a reqHead for failure messages.
func h1tDescribeReq(h reqHead) string {
	return fmt.Sprintf("method %q target %q host %q HTTP/1.%d length %d close %v fields %q",
		h.method, h.target, h.host, h.minor, h.length, h.close, h.fields)
}

// checkRequestNetHTTP sends head (and a body of the length it declares)
// to a net/http server and fails t unless the server's handler saw the
// request parseRequestHead made of it.
func checkRequestNetHTTP(t *testing.T, head string, h reqHead) {
	t.Helper()
	o := nhServe(head, h.method, h.length)
	if o.seen == nil {
		if o.err != nil {
			t.Fatalf("parseRequestHead accepted %q (%s); net/http did not serve it: %v", head, h1tDescribeReq(h), o.err)
		}
		t.Fatalf("parseRequestHead accepted %q (%s); net/http answered %q without calling the handler: %q",
			head, h1tDescribeReq(h), o.status, o.body)
	}
	r := o.seen
	var diffs []string
	diff := func(what string, ours, theirs any) {
		diffs = append(diffs, fmt.Sprintf("%s: ours %#v, net/http %#v", what, ours, theirs))
	}
	if r.method != h.method {
		diff("method", h.method, r.method)
	}
	if r.requestURI != h.target {
		diff("target", h.target, r.requestURI)
	}
	if r.host != h.host {
		diff("host", h.host, r.host)
	}
	if r.protoMajor != 1 || r.protoMinor != h.minor {
		diff("version", fmt.Sprintf("HTTP/1.%d", h.minor), fmt.Sprintf("HTTP/%d.%d", r.protoMajor, r.protoMinor))
	}
	if want := max(h.length, 0); r.contentLength != want {
		diff("length", h.length, r.contentLength)
	}
	if r.transferEncoding != nil {
		diff("transfer-encoding", nil, r.transferEncoding)
	}
	if r.close != h.close {
		diff("close", h.close, r.close)
	}
	want := make(http.Header)
	for _, f := range h.fields {
		k := textproto.CanonicalMIMEHeaderKey(f.name)
		if k != "Host" { // net/http moves it to r.Host
			want[k] = append(want[k], f.value)
		}
	}
	nhPragma(want)
	if h.length < 0 {
		if _, ok := r.header["Content-Length"]; ok {
			diff("Content-Length field", nil, r.header["Content-Length"])
		}
	}
	if d := nhHeaderDiff(want, r.header); d != "" {
		diffs = append(diffs, "fields: "+d)
	}
	if o.full {
		if o.bodyErr != nil || o.bodyN != max(h.length, 0) {
			diff("body read", max(h.length, 0), fmt.Sprintf("%d bytes, %v", o.bodyN, o.bodyErr))
		}
		if o.err != nil {
			diffs = append(diffs, fmt.Sprintf("response: %v", o.err))
		} else if o.status != "200 OK" {
			diff("response", "200 OK", o.status)
		}
	}
	if diffs != nil {
		t.Errorf("parseRequestHead and net/http disagree on %q:\n\t%s", head, strings.Join(diffs, "\n\t"))
	}
}

// nhPragma does what net/http does to a header it reads (RFC 7234
// 5.4: "Pragma: no-cache" without Cache-Control means Cache-Control:
// no-cache); it adds a field but parses nothing differently.
func nhPragma(h http.Header) {
	if p := h["Pragma"]; len(p) > 0 && p[0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = []string{"no-cache"}
		}
	}
}

// nhHeaderDiff describes how got differs from want, or returns "".
func nhHeaderDiff(want, got http.Header) string {
	var d []string
	for k, v := range want {
		if !slices.Equal(v, got[k]) {
			d = append(d, fmt.Sprintf("%s: ours %q, net/http %q", k, v, got[k]))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			d = append(d, fmt.Sprintf("%s: ours none, net/http %q", k, v))
		}
	}
	slices.Sort(d)
	return strings.Join(d, "; ")
}

// nhSeen is what the net/http server's handler saw.
type nhSeen struct {
	method, requestURI, host string
	protoMajor, protoMinor   int
	header                   http.Header
	contentLength            int64
	transferEncoding         []string
	close                    bool
	body                     chan nhBodyRead // the handler's read of the body
}

type nhBodyRead struct {
	n   int64
	err error
}

// nhOutcome is what happened to one request sent to net/http.
type nhOutcome struct {
	seen    *nhSeen // nil: the handler was not called
	full    bool    // the whole body was sent, read and answered
	bodyN   int64
	bodyErr error
	status  string // net/http's answer
	body    string
	err     error // no answer
}

// The net/http server the request tests talk to, one per process.
var nhServer struct {
	once sync.Once
	l    *nhListener
}

const (
	nhTimeout = 10 * time.Second
	nhMaxBody = 64 << 10 // bodies up to this are sent whole
)

type nhConnKey struct{}

func nhServerListener() *nhListener {
	nhServer.once.Do(func() {
		l := &nhListener{newHandoffListener(nhAddr{})}
		srv := &http.Server{
			Handler:        http.HandlerFunc(nhRecord),
			MaxHeaderBytes: DefaultMaxHeaderBytes,
			ReadTimeout:    nhTimeout,
			WriteTimeout:   nhTimeout,
			ErrorLog:       log.New(io.Discard, "", 0),
			ConnContext: func(ctx context.Context, c net.Conn) context.Context {
				return context.WithValue(ctx, nhConnKey{}, c)
			},
		}
		go srv.Serve(l)
		nhServer.l = l
	})
	return nhServer.l
}

func nhRecord(w http.ResponseWriter, r *http.Request) {
	c, _ := r.Context().Value(nhConnKey{}).(*nhConn)
	if c == nil {
		http.Error(w, "not a test pipe", http.StatusInternalServerError)
		return
	}
	s := &nhSeen{
		method: r.Method, requestURI: r.RequestURI, host: r.Host,
		protoMajor: r.ProtoMajor, protoMinor: r.ProtoMinor,
		header: r.Header.Clone(), contentLength: r.ContentLength,
		transferEncoding: r.TransferEncoding, close: r.Close,
		body: make(chan nhBodyRead, 1),
	}
	select {
	case c.seen <- s:
	default: // a second request on the connection: the first one counts
	}
	n, err := io.Copy(io.Discard, r.Body)
	s.body <- nhBodyRead{n, err}
	io.WriteString(w, "ok")
}

// nhServe sends head and a body of length bytes (when the length is
// at most nhMaxBody; otherwise only the head) to the net/http server.
func nhServe(head, method string, length int64) (o nhOutcome) {
	seen := make(chan *nhSeen, 1)
	c, err := nhServerListener().dial(seen)
	if err != nil {
		o.err = err
		return o
	}
	defer c.Close()
	deadline := time.Now().Add(nhTimeout)
	_ = c.SetDeadline(deadline)
	o.full = length <= nhMaxBody
	msg := head
	if o.full && length > 0 {
		msg += strings.Repeat("b", int(length))
	}
	go func() { _, _ = io.WriteString(c, msg) }() // ends when c closes

	type answer struct {
		status, body string
		err          error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
		if err != nil {
			answered <- answer{err: err}
			return
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
		answered <- answer{resp.Status, string(b), err}
	}()
	timeout := time.NewTimer(time.Until(deadline) + time.Second)
	defer timeout.Stop()
	select {
	case o.seen = <-seen:
	case a := <-answered:
		// The handler reports before it answers: without a report,
		// net/http answered (or failed) on its own.
		select {
		case o.seen = <-seen:
			answered <- a
		default:
			o.status, o.body, o.err = a.status, a.body, a.err
			return o
		}
	case <-timeout.C:
		o.err = fmt.Errorf("no answer within %v", nhTimeout)
		return o
	}
	if !o.full {
		return o
	}
	select {
	case b := <-o.seen.body:
		o.bodyN, o.bodyErr = b.n, b.err
	case <-timeout.C:
		o.bodyErr = fmt.Errorf("body not read within %v", nhTimeout)
		return o
	}
	select {
	case a := <-answered:
		o.status, o.body, o.err = a.status, a.body, a.err
	case <-timeout.C:
		o.err = fmt.Errorf("no answer within %v", nhTimeout)
	}
	return o
}

// nhListener is a net.Listener whose connections are net.Pipe ends: the
// loop's own hand-over listener, fed by dial.
type nhListener struct{ *handoffListener }

// nhConn is the server's end of a pipe; the handler reports what it saw
// on seen.
type nhConn struct {
	net.Conn
	seen chan<- *nhSeen
}

// dial returns the client's end of a new connection to l.
func (l *nhListener) dial(seen chan<- *nhSeen) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.ch <- &nhConn{server, seen}:
		return client, nil
	case <-l.done:
		client.Close()
		server.Close()
		return nil, net.ErrClosed
	}
}

type nhAddr struct{}

func (nhAddr) Network() string { return "pipe" }
func (nhAddr) String() string  { return "pipe" }

// Responses.

type h1tRespWant struct {
	code          int
	reason        string
	minor         int
	length        int64
	chunked       bool
	close         bool
	conn, date    bool
	hasCL         bool
	nfields       int
	firstFieldVal string
}

func h1tSummarizeResp(h respHead) h1tRespWant {
	w := h1tRespWant{h.code, h.reason, h.minor, h.length, h.chunked, h.close, h.conn, h.date, h.hasCL, len(h.fields), ""}
	if len(h.fields) > 0 {
		w.firstFieldVal = h.fields[0].value
	}
	return w
}

var h1AcceptedResponses = []struct {
	name string
	in   string
	want h1tRespWant
}{
	{"ok", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
		h1tRespWant{200, "OK", 1, 5, false, false, false, false, true, 1, "5"}},
	{"no reason", "HTTP/1.1 204\r\n\r\n",
		h1tRespWant{204, "", 1, -1, false, false, false, false, false, 0, ""}},
	{"empty reason", "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n",
		h1tRespWant{200, "", 1, 0, false, false, false, false, true, 1, "0"}},
	{"long reason", "HTTP/1.1 404 Not Found Here\t(really) \xc3\xa9\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\n",
		h1tRespWant{404, "Not Found Here\t(really) \xc3\xa9", 1, 9, false, false, false, false, true, 2, "text/plain"}},
	{"typical", "HTTP/1.1 200 OK\r\nDate: Mon, 02 Jan 2006 15:04:05 GMT\r\nServer: x\r\nContent-Type: text/html; charset=utf-8\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2; Path=/\r\nContent-Length: 1024\r\n\r\n",
		h1tRespWant{200, "OK", 1, 1024, false, false, false, true, true, 6, "Mon, 02 Jan 2006 15:04:05 GMT"}},
	{"http10", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n",
		h1tRespWant{200, "OK", 0, 2, false, true, false, false, true, 1, "2"}},
	{"http10 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n",
		h1tRespWant{200, "OK", 0, 2, false, false, true, false, true, 2, "keep-alive"}},
	{"http10 Keep-Alive no length", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n",
		h1tRespWant{200, "OK", 0, -1, false, false, true, false, false, 1, "Keep-Alive"}},
	{"http10 keep-alive close", "HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\n",
		h1tRespWant{200, "OK", 0, 2, false, true, true, false, true, 2, "keep-alive, close"}},
	{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n",
		h1tRespWant{200, "OK", 1, 2, false, true, true, false, true, 2, "close"}},
	{"connection Close listed", "HTTP/1.1 200 OK\r\nConnection: X-Hop,\tClose\r\nX-Hop: 1\r\nContent-Length: 2\r\n\r\n",
		h1tRespWant{200, "OK", 1, 2, false, true, true, false, true, 3, "X-Hop,\tClose"}},
	{"no length", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n",
		h1tRespWant{200, "OK", 1, -1, false, false, false, false, false, 1, "text/event-stream"}},
	{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		h1tRespWant{200, "OK", 1, -1, true, false, false, false, false, 1, "chunked"}},
	{"chunked case", "HTTP/1.1 200 OK\r\ntransfer-encoding:  Chunked \r\n\r\n",
		h1tRespWant{200, "OK", 1, -1, true, false, false, false, false, 1, "Chunked"}},
	{"chunked wins over CL", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n",
		h1tRespWant{200, "OK", 1, -1, true, false, false, false, false, 2, "10"}},
	{"chunked wins over later CL", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 10\r\n\r\n",
		h1tRespWant{200, "OK", 1, -1, true, false, false, false, false, 2, "chunked"}},
	{"identical CLs", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\n",
		h1tRespWant{200, "OK", 1, 3, false, false, false, false, true, 2, "3"}},
	{"CL blanks", "HTTP/1.1 200 OK\r\nContent-Length:\t 42 \r\n\r\n",
		h1tRespWant{200, "OK", 1, 42, false, false, false, false, true, 1, "42"}},
	{"CL leading zeros", "HTTP/1.1 200 OK\r\nContent-Length: 0042\r\n\r\n",
		h1tRespWant{200, "OK", 1, 42, false, false, false, false, true, 1, "0042"}},
	{"CL 18 digits", "HTTP/1.1 200 OK\r\nContent-Length: 999999999999999999\r\n\r\n",
		h1tRespWant{200, "OK", 1, 999999999999999999, false, false, false, false, true, 1, "999999999999999999"}},
	{"continue", "HTTP/1.1 100 Continue\r\n\r\n",
		h1tRespWant{100, "Continue", 1, -1, false, false, false, false, false, 0, ""}},
	{"early hints", "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n",
		h1tRespWant{103, "Early Hints", 1, -1, false, false, false, false, false, 1, "</style.css>; rel=preload; as=style"}},
	{"switching", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
		h1tRespWant{101, "Switching Protocols", 1, -1, false, false, true, false, false, 2, "websocket"}},
	{"not modified", "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 100\r\n\r\n",
		h1tRespWant{304, "Not Modified", 1, 100, false, false, false, false, true, 2, "\"x\""}},
	{"no content with CL", "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
		h1tRespWant{204, "No Content", 1, 0, false, false, false, false, true, 1, "0"}},
	{"odd code", "HTTP/1.1 599 Whatever\r\nContent-Length: 0\r\n\r\n",
		h1tRespWant{599, "Whatever", 1, 0, false, false, false, false, true, 1, "0"}},
	{"code 999", "HTTP/1.1 999 X\r\nContent-Length: 0\r\n\r\n",
		h1tRespWant{999, "X", 1, 0, false, false, false, false, true, 1, "0"}},
	{"pragma", "HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 0\r\n\r\n",
		h1tRespWant{200, "OK", 1, 0, false, false, false, false, true, 2, "no-cache"}},
	{"trailer", "HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n",
		h1tRespWant{200, "OK", 1, -1, true, false, false, false, false, 2, "X-Sum"}},
	{"value blanks", "HTTP/1.1 200 OK\r\nX-A: \t a b \t\r\nX-Empty:\r\nContent-Length: 0\r\n\r\n",
		h1tRespWant{200, "OK", 1, 0, false, false, false, false, true, 3, "a b"}},
}

// h1RefusedResponses are refused by parseResponseHead. Those marked
// "net/http accepts" are deliberate narrowings: a backend that sends them
// gets a 502 where httputil.ReverseProxy passed its answer on.
var h1RefusedResponses = []struct{ name, in string }{
	{"differing CLs", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"},
	{"differing CLs chunked", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"},
	{"CL list", "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n"},
	{"CL plus", "HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\n"},
	{"CL minus", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"},
	{"CL empty", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n"},
	{"CL letters", "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n"},
	{"CL 19 digits", "HTTP/1.1 200 OK\r\nContent-Length: 1000000000000000000\r\n\r\n"}, // net/http accepts
	{"CL space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\n"},         // net/http accepts
	{"TE gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"},
	{"TE gzip chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"},
	{"TE identity", "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 3\r\n\r\n"},
	{"TE chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"},
	{"TE chunked list", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"},
	{"TE empty", "HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n"},
	{"TE space before colon", "HTTP/1.1 200 OK\r\nTransfer-Encoding : chunked\r\n\r\n"}, // net/http accepts
	{"code 2 digits", "HTTP/1.1 20 OK\r\n\r\n"},
	{"code 4 digits", "HTTP/1.1 2000 OK\r\n\r\n"},
	{"code below 100", "HTTP/1.1 099 Low\r\n\r\n"}, // net/http accepts
	{"code 000", "HTTP/1.1 000 Zero\r\n\r\n"},      // net/http accepts
	{"code letters", "HTTP/1.1 abc OK\r\n\r\n"},
	{"code sign", "HTTP/1.1 +20 OK\r\n\r\n"}, // net/http accepts
	{"code minus", "HTTP/1.1 -20 OK\r\n\r\n"},
	{"code space", "HTTP/1.1 2 0 OK\r\n\r\n"},
	{"code short", "HTTP/1.1 20\r\n\r\n"},
	{"no code", "HTTP/1.1\r\n\r\n"},
	{"no space after code", "HTTP/1.1 200OK\r\n\r\n"},
	{"tab after code", "HTTP/1.1 200\tOK\r\n\r\n"},
	{"two spaces before code", "HTTP/1.1  200 OK\r\n\r\n"}, // net/http accepts
	{"tab before code", "HTTP/1.1\t200 OK\r\n\r\n"},
	{"http2", "HTTP/2.0 200 OK\r\n\r\n"},  // net/http accepts
	{"http12", "HTTP/1.2 200 OK\r\n\r\n"}, // net/http accepts
	{"http09", "HTTP/0.9 200 OK\r\n\r\n"}, // net/http accepts
	{"http lowercase", "http/1.1 200 OK\r\n\r\n"},
	{"http no minor", "HTTP/1 200 OK\r\n\r\n"},
	{"icy", "ICY 200 OK\r\n\r\n"},
	{"NUL in reason", "HTTP/1.1 200 O\x00K\r\n\r\n"},   // net/http accepts
	{"DEL in reason", "HTTP/1.1 200 OK\x7f\r\n\r\n"},   // net/http accepts
	{"CTL in reason", "HTTP/1.1 200 \x01OK\r\n\r\n"},   // net/http accepts
	{"bare CR in reason", "HTTP/1.1 200 O\rK\r\n\r\n"}, // net/http accepts
	{"NUL in value", "HTTP/1.1 200 OK\r\nX: a\x00b\r\n\r\n"},
	{"DEL in value", "HTTP/1.1 200 OK\r\nX: a\x7fb\r\n\r\n"},
	{"CTL in value", "HTTP/1.1 200 OK\r\nX: a\x1fb\r\n\r\n"},
	{"bare CR in value", "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n"},
	{"name with space", "HTTP/1.1 200 OK\r\nX Y: b\r\n\r\n"}, // net/http accepts
	{"empty name", "HTTP/1.1 200 OK\r\n: b\r\n\r\n"},
	{"no colon", "HTTP/1.1 200 OK\r\nXY\r\n\r\n"},
	{"obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"},                       // net/http accepts
	{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n"},                       // net/http accepts
	{"bare LF in fields", "HTTP/1.1 200 OK\r\nX: a\nContent-Length: 0\r\n\r\n"}, // net/http accepts
	{"no end", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"},
	{"trailing bytes", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"},
	{"empty", ""},
	{"leading CRLF", "\r\nHTTP/1.1 200 OK\r\n\r\n"},
}

func TestH1ParseResponseAccepts(t *testing.T) {
	for _, tc := range h1AcceptedResponses {
		t.Run(tc.name, func(t *testing.T) {
			h, err := parseResponseHead(tc.in, nil)
			if err != nil {
				t.Fatalf("parseResponseHead(%q): %v", tc.in, err)
			}
			if got := h1tSummarizeResp(h); got != tc.want {
				t.Errorf("parseResponseHead(%q)\n got %+v\nwant %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestH1ParseResponseRefuses(t *testing.T) {
	for _, tc := range h1RefusedResponses {
		t.Run(tc.name, func(t *testing.T) {
			if h, err := parseResponseHead(tc.in, nil); err == nil {
				t.Errorf("parseResponseHead(%q) accepted it: %+v", tc.in, h1tSummarizeResp(h))
			} else if err != errBadResponse {
				t.Errorf("parseResponseHead(%q): %v, want errBadResponse", tc.in, err)
			}
		})
	}
}

// TestH1ResponseNetHTTP holds every table input to the property: what
// parseResponseHead accepts, http.ReadResponse reads the same way.
func TestH1ResponseNetHTTP(t *testing.T) {
	for _, tc := range h1AcceptedResponses {
		t.Run(tc.name, func(t *testing.T) {
			h, err := parseResponseHead(tc.in, nil)
			if err != nil {
				t.Fatalf("parseResponseHead(%q): %v", tc.in, err)
			}
			checkResponseNetHTTP(t, tc.in, h)
		})
	}
	for _, tc := range h1RefusedResponses {
		t.Run(tc.name, func(t *testing.T) { fuzzResponseHead(t, tc.in) })
	}
}

func FuzzResponseHead(f *testing.F) {
	for _, tc := range h1AcceptedResponses {
		f.Add(tc.in)
	}
	for _, tc := range h1RefusedResponses {
		f.Add(tc.in)
	}
	f.Fuzz(fuzzResponseHead)
}

func fuzzResponseHead(t *testing.T, in string) {
	// readHead hands the parser the bytes up to and including the first
	// empty line.
	i := strings.Index(in, "\r\n\r\n")
	if i < 0 {
		return
	}
	in = in[:i+4]
	h, err := parseResponseHead(in, nil)
	if err != nil {
		return
	}
	checkResponseNetHTTP(t, in, h)
}

// checkResponseNetHTTP fails t unless http.ReadResponse, answering a GET,
// reads head as parseResponseHead did.
func checkResponseNetHTTP(t *testing.T, head string, h respHead) {
	t.Helper()
	desc := func() string {
		return fmt.Sprintf("code %d HTTP/1.%d length %d chunked %v close %v fields %q",
			h.code, h.minor, h.length, h.chunked, h.close, h.fields)
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(head)), &http.Request{Method: "GET"})
	if err != nil {
		t.Fatalf("parseResponseHead accepted %q (%s); http.ReadResponse: %v", head, desc(), err)
	}
	var diffs []string
	diff := func(what string, ours, theirs any) {
		diffs = append(diffs, fmt.Sprintf("%s: ours %#v, net/http %#v", what, ours, theirs))
	}
	if resp.StatusCode != h.code {
		diff("code", h.code, resp.StatusCode)
	}
	if resp.ProtoMajor != 1 || resp.ProtoMinor != h.minor {
		diff("version", fmt.Sprintf("HTTP/1.%d", h.minor), resp.Proto)
	}
	if chunked := slices.Equal(resp.TransferEncoding, []string{"chunked"}); chunked != h.chunked || !chunked && resp.TransferEncoding != nil {
		diff("chunked", h.chunked, resp.TransferEncoding)
	}
	body := !bodyless("GET", h.code)
	if body && !h.chunked && resp.ContentLength != h.length {
		diff("length", h.length, resp.ContentLength)
	}
	if h.chunked && h.hasCL {
		diff("hasCL", true, "chunked")
	}
	// net/http marks a body that ends with the connection as Close; the
	// forwarder does not reuse such a connection either (length -1).
	wantClose := h.close || body && !h.chunked && h.length < 0
	if resp.Close != wantClose {
		diff("close", wantClose, resp.Close)
	}
	// Fields: net/http takes Transfer-Encoding out, drops Content-Length
	// under chunked (and folds duplicates), and drops a Connection field
	// listing close; those are compared as framing above.
	want := make(http.Header)
	for _, f := range h.fields {
		k := textproto.CanonicalMIMEHeaderKey(f.name)
		want[k] = append(want[k], f.value)
	}
	nhPragma(want)
	got := resp.Header.Clone()
	for _, k := range []string{"Transfer-Encoding", "Content-Length"} {
		delete(want, k)
		delete(got, k)
	}
	if _, ok := got["Connection"]; !ok && resp.Close {
		delete(want, "Connection")
	}
	// Under chunked, net/http moves the Trailer field to resp.Trailer.
	if h.chunked {
		var names []string
		for _, v := range want["Trailer"] {
			for n := range strings.SplitSeq(v, ",") {
				if n = textproto.TrimString(n); n != "" {
					names = append(names, http.CanonicalHeaderKey(n))
				}
			}
		}
		delete(want, "Trailer")
		var theirs []string
		for n := range resp.Trailer {
			theirs = append(theirs, n)
		}
		slices.Sort(names)
		names = slices.Compact(names)
		slices.Sort(theirs)
		if !slices.Equal(names, theirs) {
			diff("trailer names", names, theirs)
		}
	}
	if d := nhHeaderDiff(want, got); d != "" {
		diffs = append(diffs, "fields: "+d)
	}
	if body && !h.chunked && h.hasCL {
		cl := resp.Header["Content-Length"]
		if n, err := strconv.ParseInt(strings.Join(cl, ","), 10, 64); err != nil || n != h.length {
			diff("Content-Length field", h.length, cl)
		}
	}
	if diffs != nil {
		t.Errorf("parseResponseHead and http.ReadResponse disagree on %q:\n\t%s", head, strings.Join(diffs, "\n\t"))
	}
}
