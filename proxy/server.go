package proxy

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/http/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// viaPrefix begins every jksproxy's Via pseudonym.
const viaPrefix = "jksproxy-"

// Server is a configured proxy; Serve runs it.
type Server struct {
	cfg      Config
	log      *slog.Logger
	certs    *certStore
	tickets  *ticketKeys // nil: keys fixed by Config.SessionTicketKeys, or Go's own
	tlsCfg   *tls.Config
	clusters []*cluster
	hosts    map[string]*cluster // exact host
	wild     map[string]*cluster // "*.example.com" stored as "example.com"
	any      *cluster            // "*"
	metrics  *metrics
	draining atomic.Bool
	sem      chan struct{}

	redirectPort int
	served       atomic.Bool
	// via is this process's Via pseudonym: a request already carrying it
	// has looped back (a backend pointing at the proxy itself).
	via        string
	viaHeaders [2]string // "1.1 <via>" and "2.0 <via>"
}

// New checks cfg, loads the certificate and prepares the clusters. It does
// not listen yet.
func New(cfg Config, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg.Clusters = append([]ClusterConfig(nil), cfg.Clusters...)
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		log:     logger,
		hosts:   map[string]*cluster{},
		wild:    map[string]*cluster{},
		metrics: newMetrics(),
	}
	var tok [4]byte
	_, _ = rand.Read(tok[:])
	s.via = viaPrefix + hex.EncodeToString(tok[:])
	s.viaHeaders = [2]string{"1.1 " + s.via, "2.0 " + s.via}
	if cfg.MaxConns > 0 {
		s.sem = make(chan struct{}, cfg.MaxConns)
	}
	if cfg.ListenHTTPS != "" {
		cs, err := newCertStore(cfg.Certificate, cfg.WatchFile, logger)
		if err != nil {
			return nil, fmt.Errorf("loading certificate: %w", err)
		}
		s.certs = cs
		s.tlsCfg = tlsConfig(cs, cfg.SessionTicketKeys)
		if cfg.SessionTicketKeyFile != "" {
			if s.tickets, err = newTicketKeys(cfg.SessionTicketKeyFile, s.tlsCfg, logger); err != nil {
				return nil, err
			}
		}
		leaf := cs.cur.Load().Leaf
		logger.Info("certificate loaded", "subject", leaf.Subject.String(), "issuer", leaf.Issuer.String(),
			"not_after", leaf.NotAfter.UTC().Format(time.RFC3339), "chain", len(cs.cur.Load().Certificate)-1)
	}
	s.redirectPort = cfg.RedirectPort
	errLog := log.New(errorLogWriter{logger}, "", 0)
	pool := newBufferPool()
	for _, cc := range cfg.Clusters {
		cl := newCluster(cc, logger)
		cl.metrics = s.metrics
		cl.via = s.viaHeaders[0]
		cl.proxy = &httputil.ReverseProxy{
			Rewrite:        s.rewrite,
			Transport:      cl,
			ModifyResponse: cl.modifyResponse,
			ErrorHandler:   s.proxyError,
			ErrorLog:       errLog,
			BufferPool:     pool,
		}
		s.clusters = append(s.clusters, cl)
		for _, b := range cl.backends {
			logger.Info("backend", "cluster", cc.Name, "url", b.url.String(), "sticky_id", b.id)
		}
		for _, h := range cc.Hosts {
			h = normalizeHost(h)
			switch {
			case h == "*":
				s.any = cl
			case strings.HasPrefix(h, "*."):
				s.wild[h[2:]] = cl
			default:
				s.hosts[h] = cl
			}
		}
	}
	return s, nil
}

// Run is New followed by Serve.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	s, err := New(cfg, logger)
	if err != nil {
		return err
	}
	return s.Serve(ctx)
}

// Reload loads the certificate (and the session ticket key file) again; on
// error the old ones stay in use.
func (s *Server) Reload() error {
	return s.reload("reload requested")
}

func (s *Server) reload(why string) error {
	if s.certs == nil {
		return errors.New("no https listener: nothing to reload")
	}
	err := s.certs.reload(why)
	if s.tickets != nil {
		err = errors.Join(err, s.tickets.reload(why))
	}
	return err
}

// Serve listens, serves until ctx is done, then drains: /healthz answers
// 503 at once, requests are still served for DrainDelay, then the
// listeners close and in-flight requests get up to DrainTimeout.
func (s *Server) Serve(ctx context.Context) error {
	if !s.served.CompareAndSwap(false, true) {
		return errors.New("server already served")
	}
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()

	// front is an http.Server or an h1Server.
	type front interface {
		Serve(net.Listener) error
		SetKeepAlivesEnabled(bool)
		Shutdown(context.Context) error
		Close() error
	}
	type srv struct {
		name string
		hs   front
		ln   net.Listener
	}
	var servers []srv
	closeAll := func() {
		for _, x := range servers {
			x.ln.Close()
		}
	}
	errLog := log.New(errorLogWriter{s.log}, "", 0)
	base := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
			ReadTimeout:       s.cfg.ReadTimeout,
			WriteTimeout:      s.cfg.WriteTimeout,
			IdleTimeout:       s.cfg.IdleTimeout,
			MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
			ErrorLog:          errLog,
		}
	}
	listen := func(name, addr string) (net.Listener, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("listening for %s on %q: %w", name, addr, err)
		}
		return ln, nil
	}

	if s.cfg.ListenHTTPS != "" {
		raw, err := listen("https", s.cfg.ListenHTTPS)
		if err != nil {
			return err
		}
		if s.cfg.RedirectPort == 0 {
			s.redirectPort = raw.Addr().(*net.TCPAddr).Port
		}
		var ln net.Listener = newLimitListener(raw, s.sem, s.metrics)
		if s.cfg.ProxyProtocol {
			ln = &proxyProtoListener{Listener: ln, timeout: s.cfg.ReadHeaderTimeout}
		}
		fb := base(&listenerHandler{s: s, tls: true, proxy: true})
		fb.TLSConfig = s.tlsCfg
		servers = append(servers, srv{"https", newH1Server(s, true, fb, raw.Addr()), ln})
	}
	if s.cfg.ListenHTTP != "" {
		raw, err := listen("http", s.cfg.ListenHTTP)
		if err != nil {
			return err
		}
		var hs front = base(&listenerHandler{s: s, tls: false, proxy: !s.cfg.HTTPRedirect})
		if !s.cfg.HTTPRedirect {
			hs = newH1Server(s, false, hs.(*http.Server), raw.Addr())
		}
		servers = append(servers, srv{"http", hs, newLimitListener(raw, s.sem, s.metrics)})
	}
	if s.cfg.Admin != "" {
		ln, err := listen("admin", s.cfg.Admin)
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /metrics", s.serveMetrics)
		mux.HandleFunc("GET "+s.cfg.HealthPath, s.serveHealth)
		if s.cfg.Pprof {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		}
		hs := base(mux)
		servers = append(servers, srv{"admin", hs, ln})
	}

	var wg sync.WaitGroup
	for _, cl := range s.clusters {
		for _, b := range cl.backends {
			wg.Add(1)
			go func() { defer wg.Done(); b.healthLoop(bg) }()
		}
	}
	if s.certs != nil && s.certs.watch != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.certs.watch.run(bg, s.cfg.WatchInterval, s.log, s.certs.reload) }()
	}
	if s.tickets != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.tickets.watch.run(bg, s.cfg.WatchInterval, s.log, s.tickets.reload) }()
	}
	if s.cfg.Reload != nil && s.certs != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-bg.Done():
					return
				case _, ok := <-s.cfg.Reload:
					if !ok {
						return
					}
					_ = s.reload("signal")
				}
			}
		}()
	}

	serveErr := make(chan error, len(servers))
	for _, x := range servers {
		s.log.Info("listening", "listener", x.name, "addr", x.ln.Addr().String())
		if s.cfg.OnListen != nil {
			s.cfg.OnListen(x.name, x.ln.Addr().String())
		}
		go func() {
			err := x.hs.Serve(x.ln)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			} else if err != nil {
				err = fmt.Errorf("serving %s: %w", x.name, err)
			}
			serveErr <- err
		}()
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		s.log.Error("listener failed, stopping", "err", err)
	}

	// Drain.
	s.draining.Store(true)
	for _, x := range servers {
		x.hs.SetKeepAlivesEnabled(false)
	}
	if s.cfg.DrainDelay > 0 && err == nil {
		s.log.Info("draining: health check says 503, still serving", "delay", s.cfg.DrainDelay)
		time.Sleep(s.cfg.DrainDelay)
	}
	s.log.Info("closing listeners, waiting for in-flight requests", "timeout", s.cfg.DrainTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
	defer cancel()
	var swg sync.WaitGroup
	var timedOut atomic.Bool
	for _, x := range servers {
		swg.Add(1)
		go func() {
			defer swg.Done()
			if e := x.hs.Shutdown(sctx); e != nil {
				timedOut.Store(true)
				x.hs.Close()
			}
		}()
	}
	swg.Wait()
	stopBG()
	wg.Wait()
	for _, cl := range s.clusters {
		for _, b := range cl.backends {
			b.rt.CloseIdleConnections()
			b.pool.closeIdle(true)
		}
	}
	if err != nil {
		return err
	}
	if timedOut.Load() {
		s.log.Warn("stopped", "err", errDrainTimeout)
		return errDrainTimeout
	}
	s.log.Info("stopped")
	return nil
}
