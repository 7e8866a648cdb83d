package proxy

import (
	"bytes"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// latencyBuckets are the upper bounds, in seconds, of the request latency
// histogram.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// metrics are lock-free counters rendered in the Prometheus text format.
type metrics struct {
	codes    [600]atomic.Uint64 // by status code; [0] holds out-of-range codes
	buckets  []atomic.Uint64    // len(latencyBuckets)+1, not cumulative
	sumNanos atomic.Uint64
	count    atomic.Uint64
	conns    atomic.Int64
	// clientFaults counts requests that failed by their client's fault,
	// by fault (faultBackend's slot stays 0).
	clientFaults [numFaults]atomic.Uint64
}

// clientFault counts a request that failed by its client's fault; a nil
// m counts nothing.
func (m *metrics) clientFault(f fault) {
	if m != nil && f < numFaults {
		m.clientFaults[f].Add(1)
	}
}

func newMetrics() *metrics {
	return &metrics{buckets: make([]atomic.Uint64, len(latencyBuckets)+1)}
}

func (m *metrics) observe(code int, d time.Duration) {
	if code < 0 || code >= len(m.codes) {
		code = 0
	}
	m.codes[code].Add(1)
	sec := d.Seconds()
	i := 0
	for i < len(latencyBuckets) && sec > latencyBuckets[i] {
		i++
	}
	m.buckets[i].Add(1)
	m.sumNanos.Add(uint64(d))
	m.count.Add(1)
}

// serveMetrics writes the exposition format, version 0.0.4.
func (s *Server) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	var b bytes.Buffer
	m := s.metrics
	header := func(name, typ, help string) {
		b.WriteString("# HELP " + name + " " + help + "\n# TYPE " + name + " " + typ + "\n")
	}
	sample := func(name, labels string, v float64) {
		b.WriteString(name)
		if labels != "" {
			b.WriteString("{" + labels + "}")
		}
		b.WriteByte(' ')
		b.WriteString(formatFloat(v))
		b.WriteByte('\n')
	}

	header("jksproxy_requests_total", "counter", "Proxied requests answered, by HTTP status code.")
	for code := range m.codes {
		if n := m.codes[code].Load(); n > 0 {
			c := strconv.Itoa(code)
			if code == 0 {
				c = "other"
			}
			sample("jksproxy_requests_total", `code="`+c+`"`, float64(n))
		}
	}

	header("jksproxy_request_duration_seconds", "histogram", "Time from request headers read to response finished.")
	var cum uint64
	for i, ub := range latencyBuckets {
		cum += m.buckets[i].Load()
		sample("jksproxy_request_duration_seconds_bucket", `le="`+formatFloat(ub)+`"`, float64(cum))
	}
	cum += m.buckets[len(latencyBuckets)].Load()
	sample("jksproxy_request_duration_seconds_bucket", `le="+Inf"`, float64(cum))
	sample("jksproxy_request_duration_seconds_sum", "", time.Duration(m.sumNanos.Load()).Seconds())
	sample("jksproxy_request_duration_seconds_count", "", float64(m.count.Load()))

	header("jksproxy_backend_up", "gauge", "1 if the backend passes its health checks.")
	for _, cl := range s.clusters {
		for _, be := range cl.backends {
			up := 0.0
			if be.healthy.Load() {
				up = 1
			}
			sample("jksproxy_backend_up", backendLabels(cl, be), up)
		}
	}
	header("jksproxy_backend_active_requests", "gauge", "Requests in flight to the backend.")
	for _, cl := range s.clusters {
		for _, be := range cl.backends {
			sample("jksproxy_backend_active_requests", backendLabels(cl, be), float64(be.active.Load()))
		}
	}
	header("jksproxy_backend_requests_total", "counter", "Attempts to send a request to the backend.")
	for _, cl := range s.clusters {
		for _, be := range cl.backends {
			sample("jksproxy_backend_requests_total", backendLabels(cl, be), float64(be.requests.Load()))
		}
	}
	header("jksproxy_backend_connection_errors_total", "counter", "Attempts that failed by the backend's fault (connect refused or timed out, reset or malformed before a complete response head, response broken off).")
	for _, cl := range s.clusters {
		for _, be := range cl.backends {
			sample("jksproxy_backend_connection_errors_total", backendLabels(cl, be), float64(be.failures.Load()))
		}
	}

	header("jksproxy_client_failures_total", "counter", "Requests that failed by their client's fault (gone, bad, stalled or slow body); never charged to a backend.")
	for f := faultClientGone; f < numFaults; f++ {
		sample("jksproxy_client_failures_total", `reason="`+f.String()+`"`, float64(m.clientFaults[f].Load()))
	}

	header("jksproxy_open_connections", "gauge", "Client connections open on the HTTPS and HTTP listeners.")
	sample("jksproxy_open_connections", "", float64(m.conns.Load()))
	header("jksproxy_draining", "gauge", "1 while the proxy drains before stopping.")
	d := 0.0
	if s.draining.Load() {
		d = 1
	}
	sample("jksproxy_draining", "", d)

	if s.certs != nil {
		header("jksproxy_certificate_reloads_total", "counter", "Successful certificate reloads.")
		sample("jksproxy_certificate_reloads_total", "", float64(s.certs.reloads.Load()))
		header("jksproxy_certificate_reload_failures_total", "counter", "Failed certificate reloads (the previous certificate stays).")
		sample("jksproxy_certificate_reload_failures_total", "", float64(s.certs.failures.Load()))
		if s.tickets != nil {
			header("jksproxy_session_ticket_key_reloads_total", "counter", "Successful session ticket key reloads.")
			sample("jksproxy_session_ticket_key_reloads_total", "", float64(s.tickets.reloads.Load()))
			header("jksproxy_session_ticket_key_reload_failures_total", "counter", "Failed session ticket key reloads (the previous keys stay).")
			sample("jksproxy_session_ticket_key_reload_failures_total", "", float64(s.tickets.failures.Load()))
		}
		leaf := s.certs.cur.Load().Leaf
		header("jksproxy_certificate_expiry_seconds", "gauge", "Seconds until the served certificate expires (negative once expired).")
		sample("jksproxy_certificate_expiry_seconds", "", math.Round(time.Until(leaf.NotAfter).Seconds()))
		header("jksproxy_certificate_not_after_timestamp_seconds", "gauge", "Expiry of the served certificate, Unix time.")
		sample("jksproxy_certificate_not_after_timestamp_seconds", "", float64(leaf.NotAfter.Unix()))
	}

	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

func backendLabels(cl *cluster, be *backend) string {
	return `cluster="` + escapeLabel(cl.cfg.Name) + `",backend="` + escapeLabel(be.url.String()) + `",id="` + escapeLabel(be.id) + `"`
}

func escapeLabel(s string) string {
	if !strings.ContainsAny(s, "\\\"\n") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return r.Replace(s)
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
