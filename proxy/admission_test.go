package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keybridge/keybridge/internal/testkit"
)

func TestAdmit(t *testing.T) {
	s, err := New(Config{ListenHTTP: ":0", AllowMethods: nil, Clusters: []ClusterConfig{
		{Name: "mgt", Hosts: []string{"mgt.example.com"}, Backends: []BackendConfig{{URL: "http://a:1"}}},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	self := []string{"1.1 " + s.via}
	for _, tc := range []struct {
		name string
		in   admitIn
		want verdict
	}{
		{"forward", admitIn{path: "/", method: "GET", host: "mgt.example.com"}, admitForward},
		{"forward with port", admitIn{path: "/x", method: "POST", host: "MGT.example.com:8443"}, admitForward},
		{"health first", admitIn{path: "/healthz", method: "TRACE", host: "other", via: self}, admitHealth},
		{"health on a redirecting listener", admitIn{path: "/healthz", method: "GET", redirect: true}, admitHealth},
		{"redirect before the rest", admitIn{path: "/", method: "TRACE", host: "other", redirect: true}, admitRedirect},
		{"TRACE", admitIn{path: "/", method: "TRACE", host: "mgt.example.com"}, refuseMethod},
		{"CONNECT", admitIn{path: "", method: "CONNECT", host: "mgt.example.com:443"}, refuseMethod},
		{"method before loop", admitIn{path: "/", method: "TRACE", host: "mgt.example.com", via: self}, refuseMethod},
		{"loop", admitIn{path: "/", method: "GET", host: "mgt.example.com", via: []string{"1.1 lb", "1.1 " + s.via}}, refuseLoop},
		{"loop before route", admitIn{path: "/", method: "GET", host: "other", via: self}, refuseLoop},
		{"another proxy's Via", admitIn{path: "/", method: "GET", host: "mgt.example.com", via: []string{"1.1 jksproxy-0000"}}, admitForward},
		{"no cluster", admitIn{path: "/", method: "GET", host: "other"}, refuseHost},
		{"HTTP/2 preface as a request", admitIn{path: "*", method: "PRI", host: "mgt.example.com"}, refuseBad},
		{"HTTP/2 without a host", admitIn{path: "/", method: "GET", h2: true}, refuseBad},
		{"HTTP/1.0 without a host", admitIn{path: "/", method: "GET"}, refuseHost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, cl := s.admit(tc.in)
			if v != tc.want || (v == admitForward) != (cl != nil) {
				t.Fatalf("admit = %v, cluster %v; want %v", v, cl != nil, tc.want)
			}
		})
	}
	s.cfg.AllowMethods = []string{"TRACE"}
	if v, _ := s.admit(admitIn{path: "/", method: "TRACE", host: "mgt.example.com"}); v != admitForward {
		t.Errorf("TRACE allowed: %v", v)
	}
}

func TestBadHead(t *testing.T) {
	for _, tc := range []struct {
		head string
		bad  bool
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n", false},
		{"GET / HTTP/1.1\r\nHo", false},
		{"GET / HT", false},
		{"GET / HTTP/1.1\nHost: a\n\n", true},
		{"GET / HTTP/1.1\r\nHost: a\n", true},
		{"\n", true},
		{"GET /\r\n", true},
		{"GET / FOO/1.1\r\n", true},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", true},
		{"GET / HTTP/2.0\r\n", true},
		{"GET / HTTP/1.2\r\n", false},
	} {
		if got := badHead([]byte(tc.head)); got != tc.bad {
			t.Errorf("badHead(%q) = %v, want %v", tc.head, got, tc.bad)
		}
	}
	for _, tc := range []struct {
		head string
		want bool
	}{
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nhost: a\r\ncontent-length: 5\r\n\r\n", true},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", false},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", false},
	} {
		if got := smuggles(tc.head); got != tc.want {
			t.Errorf("smuggles(%q) = %v, want %v", tc.head, got, tc.want)
		}
	}
}

func TestFilterUpgrade(t *testing.T) {
	s := &Server{cfg: Config{Upgrades: []string{"websocket"}}}
	for _, tc := range []struct {
		in   []string
		want string // "-": no Upgrade field left
		kept bool
	}{
		{[]string{"websocket"}, "websocket", true},
		{[]string{"WebSocket"}, "WebSocket", true},
		{[]string{"h2c"}, "-", false},
		{[]string{"h2c, websocket"}, "websocket", true},
		{[]string{"TLS/1.2", "websocket/13"}, "websocket/13", true},
		{[]string{"foo"}, "-", false},
	} {
		h := http.Header{"Upgrade": tc.in, "Http2-Settings": {"AAMAAABkAARAAAAAAAIAAAAA"}}
		kept := s.filterUpgrade(h)
		got := strings.Join(h["Upgrade"], "|")
		if _, ok := h["Upgrade"]; !ok {
			got = "-"
		}
		if got != tc.want || kept != tc.kept {
			t.Errorf("%q: Upgrade %q (%v), want %q (%v)", tc.in, got, kept, tc.want, tc.kept)
		}
		if _, ok := h["Http2-Settings"]; ok == (got == "-") {
			t.Errorf("%q: HTTP2-Settings kept %v", tc.in, ok)
		}
	}
}

// TestRefusedAtOnce: heads that other servers refuse get 400 at once (not
// after ReadHeaderTimeout), and the connection closes; CONNECT and TRACE
// are refused unless allowed.
func TestRefusedAtOnce(t *testing.T) {
	px := leanServer(t, pathBackend(t))
	for _, tc := range []struct {
		name, req string
		code      int
		closed    bool
	}{
		{"bare LF head", "GET / HTTP/1.1\nHost: x\n\n", 400, true},
		{"bare LF in a field", "GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", 400, true},
		{"bare LF, head not done", "GET / HTTP/1.1\r\nHost: x\n", 400, true},
		{"HTTP/0.9", "GET /\r\n", 400, true},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, true},
		{"CL and TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 200, true},
		{"TRACE", "TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", 405, false},
		{"CONNECT", "CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n", 501, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, px)
			_ = rc.c.SetDeadline(time.Now().Add(2 * time.Second)) // ReadHeaderTimeout is 10 s
			rc.send(tc.req)
			resp, _ := rc.read("GET")
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.code)
			}
			if tc.code == 405 && resp.Header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
			if tc.closed && !rc.closed() {
				t.Error("connection left open")
			}
		})
	}
	cc := oneCluster(pathBackend(t))
	cc[0].Health.Interval = time.Hour
	r := startServer(t, Config{ListenHTTP: "127.0.0.1:0", Clusters: cc, AllowMethods: []string{"TRACE"}})
	rc := dialRaw(t, r.addrs["http"])
	rc.send("TRACE /t HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := rc.read("TRACE"); resp.StatusCode != 200 || body != "TRACE /t" {
		t.Errorf("allowed TRACE: %d %q", resp.StatusCode, body)
	}
}

// upgradeBackend switches to any protocol asked for and echoes a line; it
// reports what Upgrade it saw.
func upgradeBackend(t *testing.T) (string, chan string) {
	t.Helper()
	seen := make(chan string, 4)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	testkit.ServeConns(t, ln, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		for {
			r, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, r.Body)
			up := r.Header.Get("Upgrade")
			if r.URL.Path == "/health" {
				io.WriteString(c, okResponse("ok"))
				continue
			}
			seen <- up
			if up == "" {
				io.WriteString(c, okResponse("plain"))
				continue
			}
			fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", up)
			line, _ := br.ReadString('\n')
			io.WriteString(c, "echo "+line)
			return
		}
	})
	return "http://" + ln.Addr().String(), seen
}

// TestOnlyWebSocketTunnels: a WebSocket upgrade is tunnelled; h2c (and
// any protocol not listed) is stripped, and the request is answered as an
// ordinary one.
func TestOnlyWebSocketTunnels(t *testing.T) {
	be, seen := upgradeBackend(t)
	px := leanServer(t, be)
	rc := dialRaw(t, px)
	rc.send("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("websocket: %v %v", resp, err)
	}
	rc.send("hello\n")
	if line, _ := rc.br.ReadString('\n'); line != "echo hello\n" {
		t.Fatalf("tunnel echoed %q", line)
	}
	if up := <-seen; up != "websocket" {
		t.Errorf("backend saw Upgrade %q", up)
	}
	for _, up := range []string{"h2c", "foo"} {
		rc := dialRaw(t, px)
		rc.send("GET /x HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: " + up + "\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
		resp, body := rc.read("GET")
		if resp.StatusCode != 200 || body != "plain" {
			t.Errorf("%s: %d %q, want the plain answer", up, resp.StatusCode, body)
		}
		if got := <-seen; got != "" {
			t.Errorf("%s: backend saw Upgrade %q", up, got)
		}
	}
}

// TestHTTP2AbsolutePath: an HTTP/2 request whose :path is in absolute form
// is routed by the host it names, as net/http routes the same HTTP/1
// request.
func TestHTTP2AbsolutePath(t *testing.T) {
	a, b := cookieBackend(t), cookieBackend(t)
	s, err := New(Config{ListenHTTP: ":0", Clusters: []ClusterConfig{
		{Name: "a", Hosts: []string{"a.example"}, Backends: []BackendConfig{{URL: a.URL}}},
		{Name: "b", Hosts: []string{"*"}, Backends: []BackendConfig{{URL: b.URL}}},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &listenerHandler{s: s, tls: true, proxy: true}
	for _, proto := range []int{1, 2} {
		u, _ := url.Parse("https://a.example/x")
		r := httptest.NewRequest("GET", "https://b.example/x", nil)
		r.URL, r.ProtoMajor, r.ProtoMinor = u, proto, 0
		r.Host = "b.example" // :authority
		if proto == 1 {
			r.Host = "a.example" // what net/http's reader makes of it
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 || !strings.Contains(w.Header().Get("Via"), s.via) || s.clusters[0].backends[0].requests.Load() != uint64(proto) {
			t.Errorf("HTTP/%d: %d, cluster a served %d requests", proto, w.Code, s.clusters[0].backends[0].requests.Load())
		}
	}
}

// TestHTTP2WithoutHost: an HTTP/2 request with neither :authority nor Host
// gets 400, as an HTTP/1.1 request without Host does, instead of going to
// the cluster for any host.
func TestHTTP2WithoutHost(t *testing.T) {
	be := cookieBackend(t)
	s, err := New(Config{ListenHTTP: ":0", Clusters: oneCluster(be.URL)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.ProtoMajor, r.ProtoMinor, r.Host = 2, 0, ""
	w := httptest.NewRecorder()
	(&listenerHandler{s: s, tls: true, proxy: true}).ServeHTTP(w, r)
	if w.Code != 400 || s.clusters[0].backends[0].requests.Load() != 0 {
		t.Fatalf("%d, %d requests sent", w.Code, s.clusters[0].backends[0].requests.Load())
	}
}
