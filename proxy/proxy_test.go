package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keybridge/keybridge/internal/demoapp"
)

func oneCluster(backends ...string) []ClusterConfig {
	cc := ClusterConfig{Name: "c", Hosts: []string{"*"}, Health: fastHealth}
	for _, b := range backends {
		cc.Backends = append(cc.Backends, BackendConfig{URL: b})
	}
	return []ClusterConfig{cc}
}

func get(t *testing.T, c *http.Client, u string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func TestConfigValidate(t *testing.T) {
	src := func() (*tls.Certificate, error) { return nil, errors.New("unused") }
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no listener", Config{Clusters: oneCluster("http://a:1")}, "no listener"},
		{"https without cert", Config{ListenHTTPS: ":0", Clusters: oneCluster("http://a:1")}, "certificate source"},
		{"no clusters", Config{ListenHTTP: ":0"}, "no backends"},
		{"bad scheme", Config{ListenHTTP: ":0", Clusters: oneCluster("ftp://a:1")}, "scheme"},
		{"path in backend", Config{ListenHTTP: ":0", Clusters: oneCluster("http://a:1/x")}, "no path"},
		{"duplicate backend", Config{ListenHTTP: ":0", Clusters: oneCluster("http://a:1", "http://A:1")}, "already used"},
		{"bad balance", Config{ListenHTTP: ":0", Clusters: []ClusterConfig{{Hosts: []string{"*"}, Balance: "random", Backends: []BackendConfig{{URL: "http://a:1"}}}}}, "unknown balance"},
		{"bad cookie", Config{ListenHTTP: ":0", Clusters: []ClusterConfig{{Hosts: []string{"*"}, StickyCookie: "a b", Backends: []BackendConfig{{URL: "http://a:1"}}}}}, "cookie name"},
		{"duplicate host", Config{ListenHTTP: ":0", Clusters: []ClusterConfig{
			{Name: "x", Hosts: []string{"a.example"}, Backends: []BackendConfig{{URL: "http://a:1"}}},
			{Name: "y", Hosts: []string{"A.example:443"}, Backends: []BackendConfig{{URL: "http://b:1"}}},
		}}, "already belongs"},
		{"bad id", Config{ListenHTTP: ":0", Clusters: []ClusterConfig{{Hosts: []string{"*"}, Backends: []BackendConfig{{URL: "http://a:1", ID: "a;b"}}}}}, "id"},
		{"ticket keys twice", Config{ListenHTTPS: ":0", Certificate: src, Clusters: oneCluster("http://a:1"),
			SessionTicketKeys: [][32]byte{{1}}, SessionTicketKeyFile: "keys"}, "give one"},
		{"ok", Config{ListenHTTPS: ":0", Certificate: src, Clusters: oneCluster("http://a:1", "https://b")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.setDefaults()
			err := cfg.validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestBackendIDStable(t *testing.T) {
	a, _ := parseBackendURL("http://App1.example:8080/")
	b, _ := parseBackendURL("http://app1.example:8080")
	c, _ := parseBackendURL("https://app1.example")
	if backendID(a) != backendID(b) {
		t.Errorf("same backend, different IDs: %s %s", backendID(a), backendID(b))
	}
	if backendID(a) == backendID(c) {
		t.Errorf("different backends share ID %s", backendID(a))
	}
	if !validID(backendID(a)) {
		t.Errorf("derived ID %q is not cookie-safe", backendID(a))
	}
}

func TestParseConfigYAML(t *testing.T) {
	dir := t.TempDir()
	yml := `
clusters:
  - name: carbon
    hosts: [mgt.example.com, "*.apps.example.com"]
    balance: least_conn
    backends:
      - http://10.0.0.1:9763
      - url: http://10.0.0.2:9763
        id: node2
    health:
      path: /carbon/admin/login.jsp
      interval: 2s
      rise: 3
      expect: "200-302"
  - name: default
    hosts: ["*"]
    sticky_cookie: "-"
    route_cookie: TIER
    request_buffering: false
    preserve_host: false
    backends: [http://10.0.0.3:8080]
`
	p := filepath.Join(dir, "jksproxy.yaml")
	if err := os.WriteFile(p, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	ccs, err := LoadConfigFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(ccs) != 2 {
		t.Fatalf("%d clusters, want 2", len(ccs))
	}
	c := ccs[0]
	if c.Name != "carbon" || c.Balance != LeastConn || len(c.Backends) != 2 || c.Backends[1].ID != "node2" ||
		c.Health.Path != "/carbon/admin/login.jsp" || c.Health.Interval != 2*time.Second || c.Health.Rise != 3 ||
		c.Health.ExpectMin != 200 || c.Health.ExpectMax != 302 {
		t.Errorf("cluster 0 = %+v", c)
	}
	if c.UnbufferedRequests || c.RouteCookie != "" {
		t.Errorf("cluster 0: buffering off %v, route cookie %q; want the defaults", c.UnbufferedRequests, c.RouteCookie)
	}
	if ccs[1].StickyCookie != "-" || ccs[1].PreserveHost == nil || *ccs[1].PreserveHost ||
		ccs[1].RouteCookie != "TIER" || !ccs[1].UnbufferedRequests {
		t.Errorf("cluster 1 = %+v", ccs[1])
	}

	bad := map[string]string{
		"unknown field": "clusters:\n  - name: x\n    hostz: [a]\n",
		"no clusters":   "clusters: []\n",
		"bad expect":    "clusters:\n  - hosts: ['*']\n    backends: [http://a:1]\n    health: {expect: abc}\n",
		"not yaml":      "clusters: [",
		"truststore":    "clusters:\n  - hosts: ['*']\n    backends: [https://a:1]\n    backend_tls: {truststore: missing.jks}\n",
	}
	for name, y := range bad {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, "bad.yaml")
			if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadConfigFile(p); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestRouteCookies(t *testing.T) {
	cl := newCluster(ClusterConfig{Name: "c", StickyCookie: "JSESSIONID", Health: fastHealth,
		Backends: []BackendConfig{{URL: "http://a:1", ID: "a"}, {URL: "http://b:1", ID: "b"}}}, testLogger(t))
	cl.cfg.setDefaults(0)
	tests := []struct {
		cookie     []string
		hasApp     bool
		pinned     string
		foreign    bool
		strippedTo string // what reaches the backend; "-": no Cookie field
		tieredTo   string // the same when the backends are jksproxies
	}{
		{nil, false, "", false, "-", "-"},
		{[]string{"JSESSIONID=abc"}, true, "", false, "JSESSIONID=abc", "JSESSIONID=abc"},
		{[]string{"JSESSIONID=abc; KBSRV=b"}, true, "b", false, "JSESSIONID=abc", "JSESSIONID=abc"},
		{[]string{"KBSRV=a", "x=1;JSESSIONID=z"}, true, "a", false, "x=1; JSESSIONID=z", "x=1; JSESSIONID=z"},
		{[]string{"KBSRV=zzz; JSESSIONID="}, false, "", true, "JSESSIONID=", "KBSRV=zzz; JSESSIONID="},
		{[]string{"KBSRV=\"b\""}, false, "b", false, "-", "-"},
		// The route cookie alone: no Cookie field at all.
		{[]string{"KBSRV=a"}, false, "a", false, "-", "-"},
		{[]string{"KBSRV=zzz"}, false, "", true, "-", "KBSRV=zzz"},
		{[]string{"XKBSRV=a"}, false, "", false, "XKBSRV=a", "XKBSRV=a"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.cookie, "|"), func(t *testing.T) {
			h := http.Header{"Cookie": tt.cookie}
			hasApp, pinned, foreign := cl.routeCookies(h)
			id := ""
			if pinned != nil {
				id = pinned.id
			}
			if hasApp != tt.hasApp || id != tt.pinned || foreign != tt.foreign {
				t.Errorf("routeCookies = %v, %q, %v; want %v, %q, %v", hasApp, id, foreign, tt.hasApp, tt.pinned, tt.foreign)
			}
			for _, tiered := range []bool{false, true} {
				cl.tiered.Store(tiered)
				h := http.Header{"Cookie": tt.cookie}
				cl.stripRouteCookie(h)
				got, want := strings.Join(h["Cookie"], "|"), tt.strippedTo
				if len(h["Cookie"]) == 0 {
					got = "-"
				}
				if tiered {
					want = tt.tieredTo
				}
				if got != want {
					t.Errorf("tiered %v: Cookie sent = %q, want %q", tiered, got, want)
				}
			}
			cl.tiered.Store(false)
		})
	}
}

func TestModifyResponseSticky(t *testing.T) {
	cl := newCluster(ClusterConfig{Name: "c", StickyCookie: "JSESSIONID", Health: fastHealth,
		Backends: []BackendConfig{{URL: "http://a:1", ID: "a"}, {URL: "http://b:1", ID: "b"}}}, testLogger(t))
	a, b := cl.byID["a"], cl.byID["b"]
	tests := []struct {
		name      string
		st        reqState
		setCookie string
		want      string // expected KBSRV Set-Cookie prefix, "" for none
	}{
		{"new session", reqState{used: a, secure: true}, "JSESSIONID=1; Path=/app; HttpOnly", "KBSRV=a; Path=/; HttpOnly; SameSite=Lax; Secure"},
		{"persistent session", reqState{used: b}, "JSESSIONID=1; Max-Age=600", "KBSRV=b; Path=/; Max-Age=600; HttpOnly; SameSite=Lax"},
		{"logout", reqState{used: a, hasApp: true, pinned: a}, "JSESSIONID=; Max-Age=0", "KBSRV=; Path=/; Max-Age=0"},
		{"stays", reqState{used: a, hasApp: true, pinned: a}, "", ""},
		{"failover repins", reqState{used: b, hasApp: true, pinned: a}, "", "KBSRV=b; Path=/"},
		{"no session no cookie", reqState{used: b}, "", ""},
		{"other cookie ignored", reqState{used: b}, "JSESSIONIDX=1", ""},
		{"a tier behind set its own", reqState{used: b}, "KBSRV=app1; Path=/", ""},
		{"stale route cookie repins", reqState{used: b, hasApp: true, foreign: true}, "", "KBSRV=b; Path=/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl.tiered.Store(false)
			st := tt.st
			st.cl = cl
			req := httptest.NewRequest("GET", "/", nil)
			req = req.WithContext(context.WithValue(req.Context(), stateKey{}, &st))
			resp := &http.Response{Header: http.Header{}, Request: req}
			if tt.setCookie != "" {
				resp.Header.Add("Set-Cookie", tt.setCookie)
			}
			if err := cl.modifyResponse(resp); err != nil {
				t.Fatal(err)
			}
			var got string
			for _, l := range resp.Header["Set-Cookie"] {
				if strings.HasPrefix(l, "KBSRV=") && l != tt.setCookie {
					got = l
				}
			}
			if tt.want == "" {
				if got != "" {
					t.Errorf("unexpected %q", got)
				}
				return
			}
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("Set-Cookie %q, want prefix %q", got, tt.want)
			}
		})
	}
}

func TestProxyStickyFailoverAndRecovery(t *testing.T) {
	b1, b2 := demoBackend(t, "one"), demoBackend(t, "two")
	r := startServer(t, Config{ListenHTTP: "127.0.0.1:0", Clusters: oneCluster(b1.URL, b2.URL)})
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	base := "http://" + r.addrs["http"]
	_, body := get(t, c, base+"/")
	first := field(body, "backend")
	for i := 0; i < 100; i++ {
		_, body := get(t, c, base+"/")
		if got := field(body, "backend"); got != first {
			t.Fatalf("request %d went to %s, session is on %s", i, got, first)
		}
	}
	// Kill the sticky backend: its listener closes, connections are refused.
	dead, alive := b1, "two"
	if first == "two" {
		dead, alive = b2, "one"
	}
	deadURL := dead.URL
	dead.Close()
	for i := 0; i < 20; i++ {
		resp, body := get(t, c, base+"/")
		if resp.StatusCode != 200 || field(body, "backend") != alive {
			t.Fatalf("after failover: %d %q", resp.StatusCode, body)
		}
	}
	// Recovery: a new server on the same address is taken back.
	u, _ := url.Parse(deadURL)
	ln, err := net.Listen("tcp", u.Host)
	if err != nil {
		t.Skipf("cannot rebind %s: %v", u.Host, err)
	}
	back := &httptest.Server{Listener: ln, Config: &http.Server{Handler: demoapp.New("back")}}
	back.Start()
	defer back.Close()
	seen := false
	fresh := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !seen {
		_, body := get(t, fresh, base+"/")
		seen = field(body, "backend") == "back"
	}
	if !seen {
		t.Fatal("recovered backend never received a request")
	}
}

// field returns the value of key=value in a demo backend answer.
func field(body, key string) string {
	for _, f := range strings.Fields(body) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

func TestRetryRefusedPOST(t *testing.T) {
	var got atomic.Int64
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/health" {
			got.Add(1)
		}
		w.Write(b)
	}))
	defer live.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := ln.Addr().String()
	ln.Close()
	cc := oneCluster("http://"+deadAddr, live.URL)
	cc[0].Health.Interval = time.Hour // passive ejection only
	r := startServer(t, Config{ListenHTTP: "127.0.0.1:0", Clusters: cc})
	for i := 0; i < 6; i++ {
		resp, err := http.Post("http://"+r.addrs["http"]+"/x", "text/plain", strings.NewReader("payload"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "payload" {
			t.Fatalf("POST %d: %d %q", i, resp.StatusCode, b)
		}
	}
	if got.Load() != 6 {
		t.Errorf("live backend got %d requests, want 6", got.Load())
	}
}

func TestForwardedHeaders(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port", "Forwarded"} {
			fmt.Fprintf(w, "%s: %s\n", h, strings.Join(r.Header.Values(h), " | "))
		}
		fmt.Fprintf(w, "Host: %s\n", r.Host)
	}))
	defer echo.Close()
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		want    []string
	}{
		{"untrusted", nil, []string{"X-Forwarded-For: 127.0.0.1\n", "X-Forwarded-Proto: http\n", "X-Forwarded-Host: app.example\n",
			"Forwarded: for=127.0.0.1;host=\"app.example\";proto=http\n", "Host: app.example\n"}},
		{"trusted", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, []string{"X-Forwarded-For: 6.6.6.6, 127.0.0.1\n",
			"X-Forwarded-Proto: https\n", "X-Forwarded-Port: 443\n", "Forwarded: for=6.6.6.6, for=127.0.0.1;"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := oneCluster(echo.URL)
			cc[0].Health.Path = "/"
			r := startServer(t, Config{ListenHTTP: "127.0.0.1:0", Clusters: cc, TrustedProxies: tc.trusted})
			_, body := get(t, http.DefaultClient, "http://"+r.addrs["http"]+"/",
				"Host", "app.example", "X-Forwarded-For", "6.6.6.6", "X-Forwarded-Proto", "https",
				"X-Forwarded-Port", "443", "Forwarded", "for=6.6.6.6")
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("backend saw:\n%s\nwant %q", body, w)
				}
			}
			if tc.trusted == nil && strings.Contains(body, "6.6.6.6") {
				t.Errorf("spoofed address reached the backend:\n%s", body)
			}
		})
	}
}

func TestHostRoutingAndRedirect(t *testing.T) {
	a, b := demoBackend(t, "a"), demoBackend(t, "b")
	ca := newTestCA(t)
	cert := ca.leaf(t, "localhost")
	r := startServer(t, Config{
		ListenHTTPS:  "127.0.0.1:0",
		ListenHTTP:   "127.0.0.1:0",
		HTTPRedirect: true,
		Certificate:  func() (*tls.Certificate, error) { return cert, nil },
		Clusters: []ClusterConfig{
			{Name: "a", Hosts: []string{"a.example", "*.wild.example"}, Health: fastHealth, Backends: []BackendConfig{{URL: a.URL}}},
			{Name: "b", Hosts: []string{"b.example"}, Health: fastHealth, Backends: []BackendConfig{{URL: b.URL}}},
		},
	})
	c := clientFor(ca)
	for host, want := range map[string]string{"a.example": "a", "B.Example:443": "b", "x.y.wild.example": "a"} {
		_, body := get(t, c, "https://"+r.addrs["https"]+"/", "Host", host)
		if got := field(body, "backend"); got != want {
			t.Errorf("Host %s went to %q, want %q", host, got, want)
		}
	}
	resp, _ := get(t, c, "https://"+r.addrs["https"]+"/", "Host", "unknown.example")
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("unknown host: %d", resp.StatusCode)
	}
	_, port, _ := net.SplitHostPort(r.addrs["https"])
	resp, _ = get(t, c, "http://"+r.addrs["http"]+"/p?q=1", "Host", "a.example")
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "https://a.example:"+port+"/p?q=1" {
		t.Errorf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = get(t, c, "http://"+r.addrs["http"]+"/healthz")
	if resp.StatusCode != 200 {
		t.Errorf("healthz on the redirecting listener: %d", resp.StatusCode)
	}
}

func TestCertStoreReloadKeepsOld(t *testing.T) {
	ca := newTestCA(t)
	c1, c2 := ca.leaf(t, "one"), ca.leaf(t, "two")
	var next atomic.Pointer[tlsResult]
	next.Store(&tlsResult{c: c1})
	cs, err := newCertStore(func() (*tls.Certificate, error) { r := next.Load(); return r.c, r.err }, "", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	next.Store(&tlsResult{err: errors.New("corrupt keystore")})
	if err := cs.reload("test"); err == nil {
		t.Fatal("reload of a failing source succeeded")
	}
	if got, _ := cs.getCertificate(nil); got != c1 || cs.failures.Load() != 1 {
		t.Fatalf("after failed reload: serving %v, failures %d", got.Leaf.Subject, cs.failures.Load())
	}
	next.Store(&tlsResult{c: &tls.Certificate{}})
	if err := cs.reload("test"); err == nil {
		t.Fatal("empty certificate accepted")
	}
	next.Store(&tlsResult{c: c2})
	if err := cs.reload("test"); err != nil {
		t.Fatal(err)
	}
	if got, _ := cs.getCertificate(nil); got != c2 || cs.reloads.Load() != 1 {
		t.Fatalf("after reload: serving %v, reloads %d", got.Leaf.Subject, cs.reloads.Load())
	}
}

type tlsResult struct {
	c   *tls.Certificate
	err error
}

func TestMetricsExposition(t *testing.T) {
	b := demoBackend(t, "m")
	ca := newTestCA(t)
	cert := ca.leaf(t, "localhost")
	r := startServer(t, Config{ListenHTTP: "127.0.0.1:0", ListenHTTPS: "127.0.0.1:0", Admin: "127.0.0.1:0",
		Certificate: func() (*tls.Certificate, error) { return cert, nil }, Clusters: oneCluster(b.URL)})
	for i := 0; i < 3; i++ {
		get(t, http.DefaultClient, "http://"+r.addrs["http"]+"/")
	}
	_, body := get(t, http.DefaultClient, "http://"+r.addrs["admin"]+"/metrics")
	for _, want := range []string{
		`jksproxy_requests_total{code="200"} 3`,
		`jksproxy_request_duration_seconds_bucket{le="+Inf"} 3`,
		`jksproxy_request_duration_seconds_count 3`,
		`jksproxy_backend_up{cluster="c",backend="` + b.URL + `",id=`,
		"jksproxy_certificate_reloads_total 0",
		"jksproxy_certificate_reload_failures_total 0",
		"jksproxy_certificate_expiry_seconds 4",
		"# TYPE jksproxy_request_duration_seconds histogram",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

func TestWebSocketUpgrade(t *testing.T) {
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			w.Write([]byte("ok"))
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo " + line)
		brw.Flush()
	}))
	defer ws.Close()
	r := startServer(t, Config{ListenHTTP: "127.0.0.1:0", Clusters: oneCluster(ws.URL)})
	conn, err := net.Dial("tcp", r.addrs["http"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	fmt.Fprintf(conn, "hello\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "echo hello\n" {
		t.Fatalf("tunnel answered %q, %v", line, err)
	}
}

func TestParseProxyHeader(t *testing.T) {
	v2 := func(cmd, fam byte, addr []byte) []byte {
		b := append([]byte(nil), proxyV2Sig...)
		b = append(b, 0x20|cmd, fam, byte(len(addr)>>8), byte(len(addr)))
		return append(b, addr...)
	}
	v4addr := []byte{192, 0, 2, 1, 198, 51, 100, 2, 0x30, 0x39, 0x01, 0xbb}
	v6addr := append(append(net.ParseIP("2001:db8::1").To16(), net.ParseIP("2001:db8::2").To16()...), 0x30, 0x39, 0x01, 0xbb)
	tests := []struct {
		name     string
		in       []byte
		src, dst string
		ok       bool
	}{
		{"v1 tcp4", []byte("PROXY TCP4 192.0.2.1 198.51.100.2 12345 443\r\nrest"), "192.0.2.1:12345", "198.51.100.2:443", true},
		{"v1 tcp6", []byte("PROXY TCP6 2001:db8::1 2001:db8::2 12345 443\r\n"), "[2001:db8::1]:12345", "[2001:db8::2]:443", true},
		{"v1 unknown", []byte("PROXY UNKNOWN\r\n"), "", "", true},
		{"v1 family mismatch", []byte("PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n"), "", "", false},
		{"v1 bad port", []byte("PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n"), "", "", false},
		{"v1 leading zero", []byte("PROXY TCP4 192.0.2.1 198.51.100.2 012 443\r\n"), "", "", false},
		{"v1 no crlf", []byte("PROXY TCP4 192.0.2.1 198.51.100.2 1 443\n"), "", "", false},
		{"v1 too long", []byte("PROXY TCP4 " + strings.Repeat("1", 120) + "\r\n"), "", "", false},
		{"v1 fields", []byte("PROXY TCP4 192.0.2.1 198.51.100.2 1\r\n"), "", "", false},
		{"v2 tcp4", v2(1, 0x11, v4addr), "192.0.2.1:12345", "198.51.100.2:443", true},
		{"v2 tcp6", v2(1, 0x21, v6addr), "[2001:db8::1]:12345", "[2001:db8::2]:443", true},
		{"v2 tcp4 with tlv", v2(1, 0x11, append(append([]byte{}, v4addr...), 0x03, 0x00, 0x01, 0x00)), "192.0.2.1:12345", "198.51.100.2:443", true},
		{"v2 local", v2(0, 0x00, nil), "", "", true},
		{"v2 short addr", v2(1, 0x11, v4addr[:8]), "", "", false},
		{"v2 udp", v2(1, 0x12, v4addr), "", "", false},
		{"v2 bad command", v2(2, 0x11, v4addr), "", "", false},
		{"v2 truncated", v2(1, 0x11, v4addr)[:20], "", "", false},
		{"no header", []byte("GET / HTTP/1.1\r\n\r\n"), "", "", false},
		{"tls hello", []byte{0x16, 0x03, 0x01, 0x00, 0xa5, 1, 0, 0, 0xa1, 3, 3, 0, 0, 0}, "", "", false},
		{"empty", nil, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, dst, err := parseProxyHeader(bufio.NewReaderSize(bytes.NewReader(tt.in), 256))
			if !tt.ok {
				if err == nil || !errors.Is(err, ErrProxyHeader) {
					t.Fatalf("err = %v, want ErrProxyHeader", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			str := func(a net.Addr) string {
				if a == nil {
					return ""
				}
				return a.String()
			}
			if str(src) != tt.src || str(dst) != tt.dst {
				t.Errorf("got %s → %s, want %s → %s", str(src), str(dst), tt.src, tt.dst)
			}
		})
	}
}

func FuzzParseProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 192.0.2.1 198.51.100.2 12345 443\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(append(append([]byte(nil), proxyV2Sig...), 0x21, 0x11, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = parseProxyHeader(bufio.NewReaderSize(bytes.NewReader(b), 256))
	})
}

func TestProxyProtocolListener(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s|%s", r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Port"))
	}))
	defer echo.Close()
	ca := newTestCA(t)
	cert := ca.leaf(t, "localhost")
	cc := oneCluster(echo.URL)
	cc[0].Health.Path = "/"
	r := startServer(t, Config{ListenHTTPS: "127.0.0.1:0", ProxyProtocol: true, ReadHeaderTimeout: time.Second,
		Certificate: func() (*tls.Certificate, error) { return cert, nil }, Clusters: cc})
	dial := func(header string) (*http.Response, error) {
		conn, err := net.Dial("tcp", r.addrs["https"])
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(conn, header)
		tc := tls.Client(conn, &tls.Config{RootCAs: ca.pool, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
		if err := tc.Handshake(); err != nil {
			return nil, err
		}
		io.WriteString(tc, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil {
			return nil, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(bytes.NewReader(b))
		return resp, nil
	}
	resp, err := dial("PROXY TCP4 203.0.113.9 10.0.0.1 5555 443\r\n")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "203.0.113.9|443" {
		t.Errorf("backend saw %q, want the PROXY header's client and port", b)
	}
	if _, err := dial(""); err == nil {
		t.Error("connection without PROXY header was served")
	}
}

func TestLeastConn(t *testing.T) {
	cl := newCluster(ClusterConfig{Name: "c", Balance: LeastConn, Health: fastHealth,
		Backends: []BackendConfig{{URL: "http://a:1", ID: "a"}, {URL: "http://b:1", ID: "b"}, {URL: "http://c:1", ID: "c"}}}, testLogger(t))
	a, b, c := cl.byID["a"], cl.byID["b"], cl.byID["c"]
	a.active.Store(5)
	b.active.Store(1)
	c.active.Store(3)
	for i := 0; i < 10; i++ {
		if got := cl.pick(nil); got != b {
			t.Fatalf("picked %s, want the least loaded b", got.id)
		}
	}
	if got := cl.pick([]*backend{b}); got != c {
		t.Errorf("with b excluded picked %s, want c", got.id)
	}
	b.healthy.Store(false)
	if got := cl.pick(nil); got != c {
		t.Errorf("with b down picked %s, want c", got.id)
	}
	a.healthy.Store(false)
	c.healthy.Store(false)
	if got := cl.pick(nil); got == nil {
		t.Error("all down: no backend tried at all")
	}
	if got := cl.pick([]*backend{a, b, c}); got != nil {
		t.Errorf("all tried: picked %s", got.id)
	}
}

func TestRoundRobinSpreads(t *testing.T) {
	cl := newCluster(ClusterConfig{Name: "c", Balance: RoundRobin, Health: fastHealth,
		Backends: []BackendConfig{{URL: "http://a:1"}, {URL: "http://b:1"}, {URL: "http://c:1"}}}, testLogger(t))
	count := map[*backend]int{}
	for i := 0; i < 300; i++ {
		count[cl.pick(nil)]++
	}
	for _, b := range cl.backends {
		if count[b] != 100 {
			t.Errorf("%s got %d of 300", b.url, count[b])
		}
	}
}

func TestDrain(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(600 * time.Millisecond)
		}
		w.Write([]byte("done"))
	}))
	defer slow.Close()
	cc := oneCluster(slow.URL)
	cc[0].Health.Path = "/"
	r := startServer(t, Config{ListenHTTP: "127.0.0.1:0", Admin: "127.0.0.1:0", Clusters: cc, DrainDelay: time.Second})
	base := "http://" + r.addrs["http"]
	if resp, _ := get(t, http.DefaultClient, base+"/healthz"); resp.StatusCode != 200 {
		t.Fatalf("healthz %d before drain", resp.StatusCode)
	}
	inflight := make(chan string, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			inflight <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		inflight <- string(b)
	}()
	time.Sleep(100 * time.Millisecond)
	stopped := make(chan error, 1)
	go func() { stopped <- r.stop() }()
	waitUntil(t, time.Second, func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 503
	})
	// Still serving during the delay.
	if resp, body := get(t, &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}, base+"/"); resp.StatusCode != 200 || body != "done" {
		t.Errorf("during the drain delay: %d %q", resp.StatusCode, body)
	}
	if got := <-inflight; got != "done" {
		t.Errorf("in-flight request: %q", got)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := net.DialTimeout("tcp", r.addrs["http"], time.Second); err == nil {
		t.Error("listener still open after Serve returned")
	}
}

func waitUntil(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMaxConns(t *testing.T) {
	b := demoBackend(t, "x")
	r := startServer(t, Config{ListenHTTP: "127.0.0.1:0", MaxConns: 1, Clusters: oneCluster(b.URL)})
	hold, err := net.Dial("tcp", r.addrs["http"])
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(hold, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, err := http.ReadResponse(bufio.NewReader(hold), nil); err != nil {
		t.Fatal(err)
	}
	// The held keep-alive connection uses the only slot: a second client waits.
	done := make(chan int, 1)
	go func() {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + r.addrs["http"] + "/")
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	select {
	case code := <-done:
		t.Fatalf("second connection served (%d) while the limit was reached", code)
	case <-time.After(300 * time.Millisecond):
	}
	if n := r.s.metrics.conns.Load(); n != 1 {
		t.Errorf("open connections %d, want 1", n)
	}
	hold.Close()
	if code := <-done; code != 200 {
		t.Errorf("second client after the slot freed: %d", code)
	}
}

func TestBackendTimeout(t *testing.T) {
	var calls atomic.Int64
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			calls.Add(1)
			time.Sleep(time.Second)
		}
	}))
	defer hang.Close()
	cc := oneCluster(hang.URL)
	cc[0].Health.Path = "/"
	cc[0].ResponseHeaderTimeout = 200 * time.Millisecond
	r := startServer(t, Config{ListenHTTP: "127.0.0.1:0", Clusters: cc})
	resp, _ := get(t, http.DefaultClient, "http://"+r.addrs["http"]+"/slow")
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("status %d, want 504", resp.StatusCode)
	}
	if calls.Load() != 1 {
		t.Errorf("a timed-out request was sent %d times; timeouts are not retried", calls.Load())
	}
}

func TestEarlyAnswerToUpload(t *testing.T) {
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			w.Header().Set("Connection", "close")
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		}
	}))
	defer refuse.Close()
	cc := oneCluster(refuse.URL)
	cc[0].Health.Path = "/"
	r := startServer(t, Config{ListenHTTP: "127.0.0.1:0", Clusters: cc})
	c := &http.Client{Timeout: 10 * time.Second}
	for i := 0; i < 5; i++ {
		resp, err := c.Post("http://"+r.addrs["http"]+"/up", "application/octet-stream", bytes.NewReader(make([]byte, 4<<20)))
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("upload %d: %d", i, resp.StatusCode)
		}
	}
}

func TestAdminPprofOnlyWhenAsked(t *testing.T) {
	b := demoBackend(t, "x")
	for _, on := range []bool{false, true} {
		r := startServer(t, Config{ListenHTTP: "127.0.0.1:0", Admin: "127.0.0.1:0", Pprof: on, Clusters: oneCluster(b.URL)})
		resp, _ := get(t, http.DefaultClient, "http://"+r.addrs["admin"]+"/debug/pprof/")
		if (resp.StatusCode == 200) != on {
			t.Errorf("pprof %v: /debug/pprof/ answered %d", on, resp.StatusCode)
		}
		resp, _ = get(t, http.DefaultClient, "http://"+r.addrs["admin"]+"/healthz")
		if resp.StatusCode != 200 {
			t.Errorf("admin /healthz %d", resp.StatusCode)
		}
	}
}

func TestLoopDetected(t *testing.T) {
	// A backend that is the proxy itself: its own address.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cc := oneCluster("http://" + addr)
	cc[0].Health.Interval = time.Hour
	r := startServer(t, Config{ListenHTTP: addr, Clusters: cc})
	resp, _ := get(t, &http.Client{Timeout: 5 * time.Second}, "http://"+r.addrs["http"]+"/")
	if resp.StatusCode != http.StatusLoopDetected {
		t.Errorf("status %d, want 508", resp.StatusCode)
	}
	// The request and the first health check each made one extra hop: two
	// 508s apiece, and no more later.
	time.Sleep(200 * time.Millisecond)
	if n := r.s.metrics.codes[http.StatusLoopDetected].Load(); n > 4 {
		t.Errorf("%d loop answers counted: the loop was not cut at the first hop", n)
	}
}

func TestViaAppended(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("Via"))
	}))
	defer echo.Close()
	cc := oneCluster(echo.URL)
	cc[0].Health.Path = "/"
	r := startServer(t, Config{ListenHTTP: "127.0.0.1:0", Clusters: cc})
	_, body := get(t, http.DefaultClient, "http://"+r.addrs["http"]+"/", "Via", "1.1 elb")
	if !strings.HasPrefix(body, "1.1 elb, 1.1 jksproxy-") {
		t.Errorf("backend saw Via %q", body)
	}
}

func TestBackendFailsMidBody(t *testing.T) {
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/broken" {
			return
		}
		w.Header().Set("Content-Length", "100000")
		w.Write(make([]byte, 1000))
		w.(http.Flusher).Flush()
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close()
	}))
	defer broken.Close()
	cc := oneCluster(broken.URL)
	cc[0].Health.Path = "/"
	cc[0].Balance = LeastConn
	r := startServer(t, Config{ListenHTTP: "127.0.0.1:0", Clusters: cc})
	resp, err := http.Get("http://" + r.addrs["http"] + "/broken")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Error("a truncated answer was passed on as complete")
	}
	waitUntil(t, 2*time.Second, func() bool { return r.s.clusters[0].backends[0].active.Load() == 0 })
	if r.s.metrics.count.Load() != 1 {
		t.Errorf("aborted request counted %d times", r.s.metrics.count.Load())
	}
}

func TestStalledBodyCut(t *testing.T) {
	var got atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		got.Add(n)
	}))
	defer sink.Close()
	cc := oneCluster(sink.URL)
	cc[0].Health.Path = "/"
	// The deadline moves forward when less than half of BodyTimeout is
	// left, so a pause of BodyTimeout/2 always passes: 300 ms against
	// chunks 100 ms apart left too little room for a loaded machine with
	// the race detector.
	r := startServer(t, Config{ListenHTTP: "127.0.0.1:0", Clusters: cc, BodyTimeout: 600 * time.Millisecond})

	// A steady slow upload, one chunk every 100 ms, passes.
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < 8; i++ {
			pw.Write([]byte("0123456789"))
			time.Sleep(100 * time.Millisecond)
		}
		pw.Close()
	}()
	resp, err := http.Post("http://"+r.addrs["http"]+"/up", "text/plain", pr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || got.Load() != 80 {
		t.Fatalf("steady upload: %d, backend read %d bytes", resp.StatusCode, got.Load())
	}

	// A stalled one is cut.
	conn, err := net.Dial("tcp", r.addrs["http"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadAll(conn)
	if d := time.Since(start); err != nil || d > 3*time.Second {
		t.Errorf("stalled upload: connection ended after %v (%v)", d, err)
	}
}

func TestReadSessionTicketKeys(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, text string
		keys       int
	}{
		{"two keys", "# rotate: newest first\n" + strings.Repeat("ab", 32) + "\n\n" + strings.Repeat("01", 32) + "\r\n", 2},
		{"short", "abcd\n", 0},
		{"not hex", strings.Repeat("zz", 32) + "\n", 0},
		{"empty", "# nothing\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, "keys")
			os.WriteFile(p, []byte(tt.text), 0o600)
			keys, err := ReadSessionTicketKeys(p)
			if tt.keys == 0 {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil || len(keys) != tt.keys || keys[0][0] != 0xab {
				t.Fatalf("%d keys, %v", len(keys), err)
			}
		})
	}
}
