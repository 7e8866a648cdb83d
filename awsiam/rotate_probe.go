package awsiam

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"net"
	"sync"
	"time"
)

// ProbeResult says what a TLS handshake with a load balancer presented.
type ProbeResult struct {
	Addr     string `json:"addr"`
	Matched  bool   `json:"matched"`
	Served   string `json:"served,omitempty"` // SHA-256 of the leaf last presented
	Attempts int    `json:"attempts"`
	Error    string `json:"error,omitempty"`
}

// probeDialTimeout bounds one handshake.
const probeDialTimeout = 5 * time.Second

// Probe connects to addr (HOST:PORT) until the TLS handshake presents the leaf
// certificate whose SHA-256 is fingerprint (hex), or wait has passed. It checks
// the certificate's identity only, not its trust: it is the certificate just
// rotated in.
func (s *Service) Probe(ctx context.Context, addr, fingerprint string, wait time.Duration) *ProbeResult {
	res := &ProbeResult{Addr: addr}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	cfg := &tls.Config{InsecureSkipVerify: true} // identity is checked by fingerprint below
	if net.ParseIP(host) == nil {
		cfg.ServerName = host
	}
	deadline := time.Now().Add(wait)
	var pause time.Duration
	for {
		res.Attempts++
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: probeDialTimeout}, Config: cfg}
		dctx, cancel := context.WithTimeout(ctx, probeDialTimeout)
		conn, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err == nil {
			state := conn.(*tls.Conn).ConnectionState()
			_ = conn.Close()
			if len(state.PeerCertificates) > 0 {
				sum := sha256.Sum256(state.PeerCertificates[0].Raw)
				res.Served = hex.EncodeToString(sum[:])
			}
			res.Error = ""
			if res.Served == fingerprint {
				res.Matched = true
				s.log.Info("probe: the new certificate is served", "addr", addr, "attempts", res.Attempts)
				return res
			}
		} else {
			res.Error = err.Error()
		}
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			if res.Error == "" {
				res.Error = "still serves another certificate (sha256 " + res.Served + ")"
			}
			return res
		}
		pause = s.poll.next(pause)
		if sleep(ctx, min(pause, left)) != nil {
			res.Error = ctx.Err().Error()
			return res
		}
	}
}

func (r *Rotation) probe(ctx context.Context) {
	var wg sync.WaitGroup
	res := make([]*ProbeResult, len(r.o.Probes))
	for i, addr := range r.o.Probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = r.svcs[0].Probe(ctx, addr, r.Fingerprint, r.o.ProbeWait)
		}()
	}
	wg.Wait()
	r.Probes = res
	for _, p := range res {
		if !p.Matched {
			r.addError("probe %s: %s", p.Addr, p.Error)
		}
	}
}
