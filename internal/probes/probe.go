package probes

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Proto is the protocol a probe speaks to the proxy.
type Proto int

const (
	HTTP1 Proto = iota + 1 // plain TCP, HTTP/1.x bytes
	HTTP2                  // TLS with ALPN h2, frames
)

func (p Proto) String() string {
	switch p {
	case HTTP1:
		return "HTTP/1"
	case HTTP2:
		return "HTTP/2"
	}
	return "Proto(" + strconv.Itoa(int(p)) + ")"
}

// Answers that are not a status code.
const (
	NoAnswer    = 0  // nothing came back
	StreamReset = -1 // HTTP/2: the stream was reset (RST_STREAM or GOAWAY) without an answer
)

// Conn is what is expected of the client connection after the answers.
type Conn int

const (
	ConnAny    Conn = iota // not checked
	ConnOpen               // still open (keep-alive)
	ConnClosed             // closed by the proxy
)

// Reach is how many of the probe's requests may reach the backends.
type Reach int

const (
	ReachAny       Reach = iota // not checked
	ReachNone                   // not one request
	ReachOne                    // exactly one
	ReachTwo                    // exactly two
	ReachAtMostOne              // none or one (refused, or forwarded once)
)

// Probe is one hostile or edge-case exchange.
type Probe struct {
	Name  string
	Why   string // what it checks, in one line
	Proto Proto

	// HTTP/1: Send is written at once after connecting; with Abort the
	// connection is then reset (SO_LINGER 0) without reading an answer.
	Send  []byte
	Abort bool
	// HTTP/2: Frames writes the probe's frames after the connection preface.
	Frames func(*H2)

	// Own marks a probe of a jksproxy feature its peers do not have (its
	// route cookie): nginx and HAProxy pass that cookie on like any other.
	Own bool

	// Wait bounds the wait for answers (default DefaultWait).
	Wait time.Duration

	Expect Expect
}

// DefaultWait is how long a probe waits for answers unless it says otherwise.
const DefaultWait = 1500 * time.Millisecond

// StallWait is the wait of probes that stall a body: the proxies under test
// are configured with a body timeout of BodyTimeout.
const (
	BodyTimeout = time.Second
	StallWait   = BodyTimeout + 3*time.Second
)

// Expect is jksproxy's expected outcome of a probe. Whatever the probe,
// every backend must still take requests afterwards, and no backend may get
// a request with both Content-Length and Transfer-Encoding.
type Expect struct {
	// Status lists the allowed answers (status codes, NoAnswer,
	// StreamReset); every final answer must be one of them. Empty: not
	// checked.
	Status []int
	// Answers is the exact number of final answers (0: not checked).
	Answers int
	// Within bounds the time to the first answer (0: not checked).
	Within time.Duration
	Conn   Conn
	Reach  Reach
	// NoHeader: no request a backend saw carries a field of this name
	// ("Name") or one whose value contains a text ("Name: text").
	NoHeader []string
	// HasHeader: every request a backend saw carries it (same syntax).
	HasHeader []string
	// Host and URI, when set, are what every request a backend saw says.
	Host, URI string
	// Body, when positive, is the body length every request a backend saw has.
	Body int64
}

// Result is what happened to one probe against one proxy.
type Result struct {
	Probe         string
	Statuses      []int    // final answers in order (HTTP/2: per stream, StreamReset for a reset one)
	Informational []int    // 1xx answers other than 101
	Resets        []string // HTTP/2: RST_STREAM error codes received
	GoAway        string   // HTTP/2: the GOAWAY error code, if one came
	Closed        bool     // the proxy closed the connection
	Unparsed      string   // HTTP/1: bytes that are no HTTP/1 response (e.g. an HTTP/0.9 answer)
	First         time.Duration
	Seen          []Seen
	BackendsUp    bool   // every backend took an after-check request
	UpNote        string // why BackendsUp is false
	Err           string // the probe could not be run (refused, TLS failed)
}

// Check returns what in r differs from e, empty when r is as expected.
func (e Expect) Check(r Result) []string {
	var bad []string
	if r.Err != "" {
		return []string{"probe not run: " + r.Err}
	}
	answers := r.Statuses
	if len(answers) == 0 {
		answers = []int{NoAnswer}
	}
	if len(e.Status) > 0 {
		for _, s := range answers {
			if !slices.Contains(e.Status, s) {
				bad = append(bad, fmt.Sprintf("answer %s, want one of %s", statusText(s), statusList(e.Status)))
				break
			}
		}
	}
	if e.Answers > 0 && len(r.Statuses) != e.Answers {
		bad = append(bad, fmt.Sprintf("%d final answers, want %d", len(r.Statuses), e.Answers))
	}
	if e.Within > 0 && (r.First == 0 || r.First > e.Within) {
		bad = append(bad, fmt.Sprintf("first answer after %s, want within %s", firstText(r.First), e.Within))
	}
	switch {
	case e.Conn == ConnOpen && r.Closed:
		bad = append(bad, "connection closed, want it kept open")
	case e.Conn == ConnClosed && !r.Closed:
		bad = append(bad, "connection left open, want it closed")
	}
	n := len(r.Seen)
	if want, ok := map[Reach]bool{ReachNone: n == 0, ReachOne: n == 1, ReachTwo: n == 2, ReachAtMostOne: n <= 1}[e.Reach]; ok && !want {
		bad = append(bad, fmt.Sprintf("backends saw %d requests (%s), want %s", n, seenText(r.Seen), e.Reach))
	}
	for _, s := range r.Seen {
		for _, h := range e.NoHeader {
			if fieldMatches(s, h) {
				bad = append(bad, fmt.Sprintf("backend saw %q", h))
			}
		}
		for _, h := range e.HasHeader {
			if !fieldMatches(s, h) {
				bad = append(bad, fmt.Sprintf("backend did not see %q", h))
			}
		}
		if e.Host != "" && s.Host != e.Host {
			bad = append(bad, fmt.Sprintf("backend saw Host %q, want %q", s.Host, e.Host))
		}
		if e.URI != "" && s.URI != e.URI {
			bad = append(bad, fmt.Sprintf("backend saw target %q, want %q", s.URI, e.URI))
		}
		if e.Body > 0 && (s.BodyLen != e.Body || s.BodyErr != "") {
			bad = append(bad, fmt.Sprintf("backend read a %d-byte body (%s), want %d", s.BodyLen, s.BodyErr, e.Body))
		}
		if s.Header.Get("Content-Length") != "" && len(s.Header.Values("Transfer-Encoding")) > 0 {
			bad = append(bad, "backend saw Content-Length beside Transfer-Encoding")
		}
	}
	if !r.BackendsUp {
		bad = append(bad, "backends not all up afterwards: "+r.UpNote)
	}
	return bad
}

func (r Reach) String() string {
	switch r {
	case ReachNone:
		return "none"
	case ReachOne:
		return "one"
	case ReachTwo:
		return "two"
	case ReachAtMostOne:
		return "at most one"
	}
	return "any"
}

// fieldMatches reports whether s carries the field h ("Name" or "Name: text").
func fieldMatches(s Seen, h string) bool {
	name, text, ok := strings.Cut(h, ":")
	if !ok {
		return len(s.Header.Values(name)) > 0
	}
	return headerHas(s.Header, name, strings.TrimSpace(text))
}

func statusText(s int) string {
	switch s {
	case NoAnswer:
		return "none"
	case StreamReset:
		return "reset"
	}
	return strconv.Itoa(s)
}

func statusList(l []int) string {
	var s []string
	for _, c := range l {
		s = append(s, statusText(c))
	}
	return strings.Join(s, "/")
}

func firstText(d time.Duration) string {
	if d == 0 {
		return "never"
	}
	return d.Round(time.Millisecond).String()
}

func seenText(seen []Seen) string {
	if len(seen) == 0 {
		return "none"
	}
	var s []string
	n := 0
	for i, x := range seen {
		t := x.Method + " " + x.URI
		if x.BodyErr != "" {
			t += " (body cut)"
		}
		n++
		if i+1 < len(seen) && seen[i+1].Method == x.Method && seen[i+1].URI == x.URI && seen[i+1].BodyErr == x.BodyErr {
			continue // the same request again: counted
		}
		if n > 1 {
			t += fmt.Sprintf(" ×%d", n)
		}
		s = append(s, t)
		n = 0
	}
	return strings.Join(s, ", ")
}

// String summarises the expectation, e.g. "400; closed; reaches none".
func (e Expect) String() string {
	var parts []string
	if len(e.Status) > 0 {
		s := statusList(e.Status)
		if e.Answers > 1 {
			s = fmt.Sprintf("%d× %s", e.Answers, s)
		}
		if e.Within > 0 {
			s += " within " + e.Within.String()
		}
		parts = append(parts, s)
	}
	switch e.Conn {
	case ConnOpen:
		parts = append(parts, "kept open")
	case ConnClosed:
		parts = append(parts, "closed")
	}
	if e.Reach != ReachAny {
		parts = append(parts, "reaches "+e.Reach.String())
	}
	for _, h := range e.NoHeader {
		parts = append(parts, "no "+h)
	}
	for _, h := range e.HasHeader {
		parts = append(parts, "with "+h)
	}
	if e.Host != "" {
		parts = append(parts, "Host "+e.Host)
	}
	if e.URI != "" {
		parts = append(parts, "target "+e.URI)
	}
	if e.Body > 0 {
		parts = append(parts, fmt.Sprintf("%d-byte body", e.Body))
	}
	parts = append(parts, "backends up")
	return strings.Join(parts, "; ")
}

// Answer summarises what the client got, e.g. "400 closed", "200 200 open",
// "reset(PROTOCOL_ERROR)", "none, closed after 10s".
func (r Result) Answer() string {
	if r.Err != "" {
		return "error: " + r.Err
	}
	var parts []string
	for _, s := range r.Informational {
		parts = append(parts, strconv.Itoa(s))
	}
	for _, s := range r.Statuses {
		parts = append(parts, statusText(s))
	}
	if len(parts) == 0 {
		parts = append(parts, "none")
	}
	if r.Unparsed != "" {
		parts = append(parts, "non-HTTP/1 bytes")
	}
	if len(r.Resets) > 0 {
		parts = append(parts, "RST_STREAM "+strings.Join(dedupe(r.Resets), ","))
	}
	if r.GoAway != "" {
		parts = append(parts, "GOAWAY "+r.GoAway)
	}
	if r.Closed {
		parts = append(parts, "closed")
	} else {
		parts = append(parts, "open")
	}
	s := strings.Join(parts, " ")
	if r.First > 250*time.Millisecond {
		s += " after " + r.First.Round(100*time.Millisecond).String()
	}
	return s
}

// Backend summarises what the backends got.
func (r Result) Backend() string {
	s := "saw " + seenText(r.Seen)
	if !r.BackendsUp {
		s += "; DOWN: " + r.UpNote
	}
	return s
}

func dedupe(l []string) []string {
	var out []string
	for _, s := range l {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
