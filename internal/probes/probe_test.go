package probes

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	seen := func(h ...string) Seen {
		s := Seen{Method: "GET", URI: "/", Host: "probe.example", Header: http.Header{}}
		for i := 0; i+1 < len(h); i += 2 {
			s.Header.Add(h[i], h[i+1])
		}
		return s
	}
	ok := Result{Statuses: []int{200}, Seen: []Seen{seen()}, BackendsUp: true}
	tests := []struct {
		name   string
		expect Expect
		result Result
		want   string // a problem it must report; "" for none
	}{
		{"as expected", Expect{Status: []int{200}, Answers: 1, Reach: ReachOne}, ok, ""},
		{"wrong status", Expect{Status: []int{400}}, ok, "answer 200, want one of 400"},
		{"no answer allowed", Expect{Status: []int{NoAnswer}}, Result{BackendsUp: true}, ""},
		{"no answer not allowed", Expect{Status: []int{400}}, Result{BackendsUp: true}, "answer none"},
		{"reset allowed", Expect{Status: []int{400, StreamReset}}, Result{Statuses: []int{StreamReset}, BackendsUp: true}, ""},
		{"too many answers", Expect{Answers: 1}, Result{Statuses: []int{200, 200}, BackendsUp: true}, "2 final answers, want 1"},
		{"late", Expect{Within: time.Second}, Result{Statuses: []int{400}, First: 10 * time.Second, BackendsUp: true}, "want within 1s"},
		{"never", Expect{Within: time.Second}, Result{BackendsUp: true}, "after never"},
		{"left open", Expect{Conn: ConnClosed}, ok, "left open"},
		{"closed", Expect{Conn: ConnOpen}, Result{Closed: true, BackendsUp: true}, "closed, want it kept open"},
		{"reached", Expect{Reach: ReachNone}, ok, "backends saw 1 requests (GET /), want none"},
		{"at most one", Expect{Reach: ReachAtMostOne}, Result{Seen: []Seen{seen(), seen()}, BackendsUp: true}, "want at most one"},
		{"forbidden field", Expect{NoHeader: []string{"Upgrade"}}, Result{Seen: []Seen{seen("Upgrade", "h2c")}, BackendsUp: true}, `saw "Upgrade"`},
		{"forbidden value", Expect{NoHeader: []string{"Cookie: KBSRV"}}, Result{Seen: []Seen{seen("Cookie", "a=1; kbsrv=2")}, BackendsUp: true}, `saw "Cookie: KBSRV"`},
		{"other value fine", Expect{NoHeader: []string{"Cookie: KBSRV"}}, Result{Seen: []Seen{seen("Cookie", "a=1")}, BackendsUp: true}, ""},
		{"missing field", Expect{HasHeader: []string{"Cookie: a=1"}}, Result{Seen: []Seen{seen()}, BackendsUp: true}, `did not see "Cookie: a=1"`},
		{"host", Expect{Host: "other.example"}, ok, `Host "probe.example", want "other.example"`},
		{"target", Expect{URI: "/p"}, ok, `target "/", want "/p"`},
		{"body cut", Expect{Body: 3}, Result{Seen: []Seen{{Header: http.Header{}, BodyLen: 1, BodyErr: "unexpected EOF"}}, BackendsUp: true}, "1-byte body"},
		{"two framings", Expect{}, Result{Seen: []Seen{seen("Content-Length", "3", "Transfer-Encoding", "chunked")}, BackendsUp: true}, "Content-Length beside Transfer-Encoding"},
		{"backend out", Expect{}, Result{UpNote: "b1 took none"}, "not all up afterwards: b1 took none"},
		{"not run", Expect{}, Result{Err: "refused"}, "probe not run: refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(tt.expect.Check(tt.result), "\n")
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("Check = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseH1(t *testing.T) {
	tests := []struct {
		in       string
		statuses []int
		info     []int
		unparsed bool
		done     bool
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", []int{200}, nil, false, true},
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\no", nil, nil, false, false},
		{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", []int{200}, []int{100}, false, true},
		{"HTTP/1.1 100 Continue\r\n\r\n", nil, []int{100}, false, false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n", []int{200, 400}, nil, false, true},
		{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nanything", []int{101}, nil, false, true},
		{"<html>an HTTP/0.9 answer</html>", nil, nil, true, true},
		{"", nil, nil, false, false},
	}
	for _, tt := range tests {
		var r Result
		done := parseH1([]byte(tt.in), &r)
		if done != tt.done || !slices.Equal(r.Statuses, tt.statuses) || !slices.Equal(r.Informational, tt.info) || (r.Unparsed != "") != tt.unparsed {
			t.Errorf("parseH1(%q) = %v %+v", tt.in, done, r)
		}
	}
}

// TestProbeNames: names are unique and every probe can be run.
func TestProbeNames(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range All() {
		if p.Name == "" || seen[p.Name] || p.Why == "" {
			t.Errorf("probe %q: empty or repeated name, or no Why", p.Name)
		}
		seen[p.Name] = true
		if (p.Proto == HTTP1) != (len(p.Send) > 0) || (p.Proto == HTTP2) != (p.Frames != nil) {
			t.Errorf("probe %s: %s without what to send", p.Name, p.Proto)
		}
	}
	if len(seen) < 30 {
		t.Errorf("%d probes", len(seen))
	}
}

func TestSummaries(t *testing.T) {
	r := Result{Statuses: []int{400}, Informational: []int{100}, Closed: true, BackendsUp: true,
		Seen: []Seen{{Method: "GET", URI: "/"}, {Method: "GET", URI: "/"}, {Method: "POST", URI: "/a", BodyErr: "unexpected EOF"}}}
	for _, c := range []struct{ got, want string }{
		{r.Answer(), "100 400 closed"},
		{r.Backend(), "saw GET / ×2, POST /a (body cut)"},
		{Result{Statuses: []int{StreamReset}, Resets: []string{"CANCEL", "CANCEL"}, First: time.Second, UpNote: "b1 took none"}.Answer(), "reset RST_STREAM CANCEL open after 1s"},
		{Result{UpNote: "b1 took none"}.Backend(), "saw none; DOWN: b1 took none"},
		{bad(400).String(), "400; closed; reaches none; backends up"},
		{Expect{Status: []int{200}, Answers: 2, Conn: ConnOpen, NoHeader: []string{"Upgrade"}}.String(), "2× 200; kept open; no Upgrade; backends up"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
