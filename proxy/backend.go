package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// backend is one server of a cluster with its own connection pool.
type backend struct {
	id      string
	url     *url.URL
	cluster *cluster
	rt      *http.Transport // HTTPS backends, upgrades and health checks
	pool    *connPool       // the forwarder's keep-alive connections
	log     *slog.Logger

	healthy atomic.Bool
	active  atomic.Int64 // requests in flight, for least_conn

	requests atomic.Uint64
	failures atomic.Uint64 // failures charged to the backend (see blame)

	// fails counts consecutive failures while up (checks and requests);
	// written under mu, read without it by ok.
	fails atomic.Int32

	mu        sync.Mutex // guards the fields below
	checked   bool       // the first active check has run
	successes int        // consecutive successful checks while down
}

// dialError marks an error from connecting to a backend: nothing of the
// request was sent, so it may go to another backend whatever its method.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

func newBackend(bc BackendConfig, cc *ClusterConfig, cl *cluster, log *slog.Logger) *backend {
	u, _ := parseBackendURL(bc.URL) // validated before
	id := bc.ID
	if id == "" {
		id = backendID(u)
	}
	dialer := &net.Dialer{Timeout: cc.DialTimeout, KeepAlive: 30 * time.Second}
	rt := &http.Transport{
		Proxy: nil, // never an environment proxy between us and a backend
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, &dialError{err}
			}
			return c, nil
		},
		MaxIdleConns:          0, // no global cap; per host below
		MaxIdleConnsPerHost:   cc.MaxIdleConnsPerBackend,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   cc.DialTimeout,
		ResponseHeaderTimeout: max(cc.ResponseHeaderTimeout, 0),
		ExpectContinueTimeout: time.Second,
		// Pass the client's Accept-Encoding through and the body untouched.
		DisableCompression: true,
		WriteBufferSize:    16 << 10,
		ReadBufferSize:     16 << 10,
	}
	if u.Scheme == "https" {
		rt.TLSClientConfig = &tls.Config{
			MinVersion:         tls.VersionTLS12,
			RootCAs:            cc.RootCAs,
			InsecureSkipVerify: cc.InsecureSkipVerify, //nolint:gosec // explicit --backend-insecure
			ServerName:         u.Hostname(),
		}
	}
	pool := &connPool{addr: u.Host, dialer: dialer, max: cc.MaxIdleConnsPerBackend, idleTimeout: 90 * time.Second}
	b := &backend{id: id, url: u, cluster: cl, rt: rt, pool: pool, log: log.With("cluster", cc.Name, "backend", u.String())}
	b.healthy.Store(true) // optimistic until the first check says otherwise
	return b
}

// markFailure records a failed check or a connection error. A dial error
// ejects at once; other failures after fall in a row.
func (b *backend) markFailure(err error, immediate bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.successes = 0
	if !b.healthy.Load() {
		return
	}
	if n := b.fails.Add(1); immediate || int(n) >= b.cluster.cfg.Health.Fall {
		b.healthy.Store(false)
		b.fails.Store(0)
		b.log.Warn("backend down", "err", err)
	}
}

// ok records a response the backend finished (passive health, as
// HAProxy's observe layer7): the consecutive-failure count starts again.
// It does not bring an ejected backend back; the checks do. One atomic
// load when nothing failed.
func (b *backend) ok() {
	if b.fails.Load() == 0 {
		return
	}
	b.mu.Lock()
	b.fails.Store(0)
	b.mu.Unlock()
}

// charge records a failure blame put on the backend; dial failures eject at
// once.
func (b *backend) charge(err error, dial bool) {
	b.failures.Add(1)
	b.markFailure(err, dial)
}

func (b *backend) markSuccess() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fails.Store(0)
	if b.healthy.Load() {
		return
	}
	b.successes++
	if b.successes >= b.cluster.cfg.Health.Rise {
		b.healthy.Store(true)
		b.successes = 0
		b.log.Info("backend up")
	}
}

// check performs one active health check.
func (b *backend) check(ctx context.Context) error {
	h := &b.cluster.cfg.Health
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.url.String()+h.Path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "jksproxy-health-check")
	resp, err := b.rt.RoundTrip(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if viaJksproxy(resp.Header["Via"]) {
		b.cluster.tiered.Store(true)
	}
	if resp.StatusCode < h.ExpectMin || resp.StatusCode > h.ExpectMax {
		return fmt.Errorf("health check %s answered %d", h.Path, resp.StatusCode)
	}
	return nil
}

// healthLoop checks the backend at once and then every interval.
func (b *backend) healthLoop(ctx context.Context) {
	t := time.NewTicker(b.cluster.cfg.Health.Interval)
	defer t.Stop()
	for {
		err := b.check(ctx)
		if ctx.Err() != nil {
			return
		}
		b.mu.Lock()
		first := !b.checked
		b.checked = true
		b.mu.Unlock()
		if first {
			// The first check decides at once, so a proxy started with a
			// dead backend does not report it healthy for fall intervals.
			if err != nil && b.healthy.Swap(false) {
				b.log.Warn("backend down", "err", err)
			}
		} else if err != nil {
			b.markFailure(err, false)
		} else {
			b.markSuccess()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b.pool.prune()
	}
}

// viaJksproxy reports whether a response passed a jksproxy on its way
// (see Server.via).
func viaJksproxy(via []string) bool {
	for _, v := range via {
		if strings.Contains(v, viaPrefix) {
			return true
		}
	}
	return false
}
