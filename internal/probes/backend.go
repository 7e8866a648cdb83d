package probes

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Seen is one request as a Recorder backend received it.
type Seen struct {
	Backend string
	Method  string
	URI     string // the request target as sent
	Host    string
	Header  http.Header
	BodyLen int64
	BodyErr string // reading the body failed (the proxy gave up mid-body)
}

// CheckPath is the path Run's after-check requests carry; Recorders answer
// it but do not record it with the probe's requests.
const CheckPath = "/__probe_check"

// Recorder is an HTTP/1.1 backend that records every request it receives,
// counts the connections open to it, answers 200 (and 101 to any Upgrade:
// a permissive backend, so that only the proxy decides what is tunnelled),
// and answers /health for health checks.
type Recorder struct {
	Name string
	Addr string

	srv *http.Server
	ln  net.Listener

	mu       sync.Mutex
	seen     []Seen
	checks   int // CheckPath requests since Reset
	conns    int // open connections
	inFlight int // requests whose handler runs (body being read or answered)
}

// StartRecorder serves a Recorder on 127.0.0.1 on a free port.
func StartRecorder(name string) (*Recorder, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("recorder %s: %w", name, err)
	}
	r := &Recorder{Name: name, Addr: ln.Addr().String(), ln: ln}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, ConnState: r.connState,
		ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// URL is the backend's base URL.
func (r *Recorder) URL() string { return "http://" + r.Addr }

// Close stops the backend and closes every connection.
func (r *Recorder) Close() { _ = r.srv.Close() }

func (r *Recorder) connState(_ net.Conn, s http.ConnState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch s {
	case http.StateNew:
		r.conns++
	case http.StateClosed, http.StateHijacked:
		r.conns--
	}
}

// Conns is the number of connections open to the backend now.
func (r *Recorder) Conns() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns
}

// InFlight is the number of requests the backend is busy with now.
func (r *Recorder) InFlight() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inFlight
}

// Reset forgets the requests recorded so far and returns them.
func (r *Recorder) Reset() []Seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.seen
	r.seen, r.checks = nil, 0
	return s
}

// Seen returns the requests recorded since the last Reset.
func (r *Recorder) Seen() []Seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Seen(nil), r.seen...)
}

// Checks is the number of CheckPath requests since the last Reset.
func (r *Recorder) Checks() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.checks
}

func (r *Recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	switch req.URL.Path {
	case "/health", "/healthz":
		_, _ = io.WriteString(w, "ok\n")
		return
	case CheckPath:
		r.mu.Lock()
		r.checks++
		r.mu.Unlock()
		_, _ = io.WriteString(w, "backend="+r.Name+"\n")
		return
	}
	r.mu.Lock()
	r.inFlight++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inFlight--
		r.mu.Unlock()
	}()
	s := Seen{Backend: r.Name, Method: req.Method, URI: req.RequestURI, Host: req.Host, Header: req.Header.Clone()}
	if len(req.TransferEncoding) > 0 {
		s.Header["Transfer-Encoding"] = req.TransferEncoding
	}
	n, err := io.Copy(io.Discard, req.Body)
	s.BodyLen = n
	if err != nil {
		s.BodyErr = err.Error()
	}
	r.mu.Lock()
	r.seen = append(r.seen, s)
	r.mu.Unlock()
	if up := req.Header.Get("Upgrade"); up != "" {
		r.upgrade(w, up, req.Header.Get("Sec-WebSocket-Key"))
		return
	}
	if c := req.URL.Query().Get("set-cookie"); c != "" {
		w.Header().Add("Set-Cookie", c)
	}
	_, _ = fmt.Fprintf(w, "backend=%s\n", r.Name)
}

// upgrade switches to whatever protocol was asked for and echoes lines. A
// WebSocket key is answered as RFC 6455 §4.2.2 says (HAProxy checks it).
func (r *Recorder) upgrade(w http.ResponseWriter, proto, wsKey string) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	accept := ""
	if wsKey != "" {
		sum := sha1.Sum([]byte(wsKey + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		accept = "Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n"
	}
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: %s\r\nConnection: Upgrade\r\n%s\r\n", proto, accept)
	if brw.Flush() != nil {
		return
	}
	br := bufio.NewReader(brw)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		if _, err := io.WriteString(conn, "echo "+line); err != nil {
			return
		}
	}
}

// headerHas reports whether any value of the named field contains sub
// (case-insensitively).
func headerHas(h http.Header, name, sub string) bool {
	for _, v := range h.Values(name) {
		if strings.Contains(strings.ToLower(v), strings.ToLower(sub)) {
			return true
		}
	}
	return false
}
