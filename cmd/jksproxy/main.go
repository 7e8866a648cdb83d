// Command jksproxy is a TLS-terminating reverse proxy that serves the
// certificate of a Java keystore, with JSESSIONID stickiness, health checks,
// failover and hot reload of the keystore.
package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/keybridge/keybridge/internal/cmdutil"
	"github.com/keybridge/keybridge/internal/demoapp"
	"github.com/keybridge/keybridge/internal/logbuf"
	"github.com/keybridge/keybridge/keystore"
	"github.com/keybridge/keybridge/proxy"
)

func main() {
	os.Exit(cmdutil.Run(newApp(), os.Args))
}

func newApp() *cli.App {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "keystore", Usage: "serve the key pair from keystore `FILE` (JKS, JCEKS, PKCS#12, PEM)", Category: "TLS:"},
		&cli.StringFlag{Name: "alias", Usage: "the private-key entry `ALIAS` (default: the only one)", Category: "TLS:"},
		&cli.StringFlag{Name: "session-ticket-key-file", Usage: "TLS session ticket keys, one 64-hex-digit key per line, the first encrypting; give both proxies the same `FILE` so each resumes the other's sessions; re-read when it changes and on SIGHUP", Category: "TLS:"},
		&cli.DurationFlag{Name: "reload-interval", Value: proxy.DefaultWatchInterval, Usage: "how often the keystore file is checked for changed content", Category: "TLS:"},
	}
	flags = append(flags, cmdutil.PasswordFlags()...)
	flags = append(flags,
		&cli.StringFlag{Name: "listen-https", Value: ":8443", Usage: "HTTPS listen `ADDR` (empty: none)", Category: "Listeners:"},
		&cli.StringFlag{Name: "listen-http", Value: ":8080", Usage: "plain HTTP listen `ADDR` (empty: none)", Category: "Listeners:"},
		&cli.StringFlag{Name: "admin", Usage: "`ADDR` for /metrics and the health check, e.g. 127.0.0.1:9090 (empty: none)", Category: "Listeners:"},
		&cli.BoolFlag{Name: "http-redirect", Usage: "redirect plain HTTP to HTTPS instead of proxying it", Category: "Listeners:"},
		&cli.IntFlag{Name: "redirect-port", Usage: "HTTPS `PORT` put in redirects (default: the --listen-https port)", Category: "Listeners:"},
		&cli.StringFlag{Name: "health-path", Value: "/healthz", Usage: "`PATH` of the proxy's own health check on every listener", Category: "Listeners:"},
		&cli.StringSliceFlag{Name: "trusted-proxy", Usage: "keep X-Forwarded-* and Forwarded from peers in `CIDR` (repeatable)", Category: "Listeners:"},
		&cli.StringSliceFlag{Name: "upgrade", Value: cli.NewStringSlice("websocket"), Usage: "`PROTOCOL` a client may switch to through the proxy (repeatable); a request asking for another one (h2c among them) goes on without its Upgrade", Category: "Listeners:"},
		&cli.StringSliceFlag{Name: "allow-method", Usage: "forward `METHOD` CONNECT or TRACE, refused by default (repeatable)", Category: "Listeners:"},
		&cli.StringFlag{Name: "http2-server", Value: string(proxy.HTTP2Own), Usage: "what serves HTTP/2 on the HTTPS listener: own (the proxy's own path) or net/http", Category: "Listeners:"},
		&cli.BoolFlag{Name: "proxy-protocol", Usage: "require a PROXY protocol v1/v2 header on the HTTPS listener (ELB TCP listener, NLB)", Category: "Listeners:"},

		&cli.StringSliceFlag{Name: "backend", Usage: "backend `URL` http(s)://host:port (repeatable); one cluster for every host", Category: "Backends:"},
		&cli.StringFlag{Name: "config", Usage: "YAML `FILE` with clusters chosen by Host", Category: "Backends:"},
		&cli.StringFlag{Name: "balance", Value: string(proxy.RoundRobin), Usage: "round_robin or least_conn", Category: "Backends:"},
		&cli.StringFlag{Name: "sticky-cookie", Value: "JSESSIONID", Usage: "the application's session cookie `NAME` (\"-\": no stickiness)", Category: "Backends:"},
		&cli.StringFlag{Name: "route-cookie", Value: proxy.StickyRouteCookie, Usage: "the cookie `NAME` that pins a session to its backend; proxies in tiers keep the same name (the inner tier sets it, outer ones pass it on)", Category: "Backends:"},
		&cli.StringFlag{Name: "backend-truststore", Usage: "verify HTTPS backends against the certificates in `FILE` (e.g. client-truststore.jks)", Category: "Backends:"},
		&cli.StringFlag{Name: "backend-truststore-pass-file", Usage: "read the truststore password from `FILE`", Category: "Backends:"},
		&cli.StringFlag{Name: "backend-truststore-pass-env", Usage: "read the truststore password from environment variable `VAR`", Category: "Backends:"},
		&cli.BoolFlag{Name: "backend-insecure", Usage: "do not verify HTTPS backends' certificates", Category: "Backends:"},
		&cli.StringFlag{Name: "health-check-path", Value: "/", Usage: "`PATH` requested from each backend by the health check", Category: "Backends:"},
		&cli.DurationFlag{Name: "health-interval", Value: proxy.DefaultHealthInterval, Usage: "time between health checks", Category: "Backends:"},
		&cli.DurationFlag{Name: "health-timeout", Value: proxy.DefaultHealthTimeout, Usage: "health check timeout", Category: "Backends:"},
		&cli.DurationFlag{Name: "backend-timeout", Value: proxy.DefaultResponseHeaderTimeout, Usage: "longest wait for a backend's response headers (-1s: no limit)", Category: "Backends:"},
		&cli.IntFlag{Name: "health-rise", Value: 2, Usage: "passed checks in a row before a backend is used again", Category: "Backends:"},
		&cli.IntFlag{Name: "health-fall", Value: 3, Usage: "failed checks in a row before a backend is ejected", Category: "Backends:"},

		&cli.DurationFlag{Name: "read-header-timeout", Value: proxy.DefaultReadHeaderTimeout, Usage: "limit for reading a request's headers (and the TLS handshake)", Category: "Limits:"},
		&cli.DurationFlag{Name: "read-timeout", Usage: "limit for reading a whole request (0: none)", Category: "Limits:"},
		&cli.DurationFlag{Name: "body-timeout", Value: proxy.DefaultBodyTimeout, Usage: "longest pause allowed while a client sends a request body", Category: "Limits:"},
		&cli.BoolFlag{Name: "request-buffering", Value: true, Usage: "read each request body whole before a backend is used, so slow uploads hold no application thread (--request-buffering=false: stream bodies through)", Category: "Limits:"},
		&cli.Int64Flag{Name: "request-buffer-memory", Value: proxy.DefaultRequestBufferMemory, Usage: "`BYTES` of a request body kept in memory; the rest goes to a temporary file", Category: "Limits:"},
		&cli.Int64Flag{Name: "request-buffer-limit", Value: proxy.DefaultRequestBufferLimit, Usage: "larger request bodies (`BYTES`) are not buffered but stream, at --min-body-rate at least", Category: "Limits:"},
		&cli.Int64Flag{Name: "min-body-rate", Value: proxy.DefaultMinBodyRate, Usage: "lowest average rate in `BYTES` a second of a request body that streams to a backend, from 5 s on (-1: none)", Category: "Limits:"},
		&cli.StringFlag{Name: "temp-dir", Usage: "`DIR` for the temporary files of buffered request bodies (default: the system's)", Category: "Limits:"},
		&cli.DurationFlag{Name: "write-timeout", Value: proxy.DefaultWriteTimeout, Usage: "limit for a client to accept response data", Category: "Limits:"},
		&cli.DurationFlag{Name: "idle-timeout", Value: proxy.DefaultIdleTimeout, Usage: "close idle client connections after this", Category: "Limits:"},
		&cli.IntFlag{Name: "max-conns", Value: proxy.DefaultMaxConns, Usage: "most client connections open at once (-1: no limit)", Category: "Limits:"},
		&cli.IntFlag{Name: "max-header-bytes", Value: proxy.DefaultMaxHeaderBytes, Usage: "larger request headers get 431", Category: "Limits:"},
		&cli.DurationFlag{Name: "drain-delay", Usage: "after SIGTERM, keep serving this long while /healthz says 503 (set above the load balancer's detection time)", Category: "Limits:"},
		&cli.DurationFlag{Name: "drain-timeout", Value: proxy.DefaultDrainTimeout, Usage: "then wait at most this long for in-flight requests", Category: "Limits:"},

		&cli.BoolFlag{Name: "log-json", Usage: "log JSON lines instead of text", Category: "Logging:"},
		&cli.BoolFlag{Name: "debug", Usage: "log at debug level", Category: "Logging:"},
		&cli.BoolFlag{Name: "pprof", Usage: "serve Go profiles under /debug/pprof/ on --admin (keep --admin on a private address)", Category: "Logging:"},
		&cli.BoolFlag{Name: "access-log", Value: true, Usage: "log every request (--access-log=false to turn off)", Category: "Logging:"},
	)
	return &cli.App{
		Name:      "jksproxy",
		Usage:     "TLS-terminating reverse proxy serving a Java keystore",
		UsageText: "jksproxy --keystore FILE [--alias A] [--storepass-file F] --listen-https ADDR --listen-http ADDR [--admin ADDR] --backend URL... [--config FILE]",
		Description: "Serves the key pair of a Java keystore (JKS, JCEKS, PKCS#12, PEM) on --listen-https and\n" +
			"proxies to the backends with JSESSIONID stickiness, health checks and failover. The store\n" +
			"password comes from --storepass-file, --storepass-env or $KEYSTORE_PASSWORD, never from\n" +
			"the config file. SIGHUP, or a change of the keystore's or the ticket key file's content,\n" +
			"reloads them (a failed reload keeps the old ones). SIGTERM drains: /healthz answers 503\n" +
			"for --drain-delay, then in-flight requests get --drain-timeout; a second SIGTERM stops at once.\n" +
			"Ports below 1024 need CAP_NET_BIND_SERVICE, not root (contrib/systemd/jksproxy.service).\n\n" +
			"Exit codes: 0 after a clean stop, 1 error (bad keystore, port in use, ...), 2 usage.",
		Flags:  flags,
		Action: run,
		Commands: []*cli.Command{{
			Name:   "demo-backend",
			Usage:  "serve a tiny session-keeping application server for demos",
			Hidden: true,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "listen", Value: "127.0.0.1:9001", Usage: "listen `ADDR`"},
				&cli.StringFlag{Name: "name", Value: "demo", Usage: "backend `NAME` shown in answers"},
			},
			Action: func(c *cli.Context) error {
				ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
				defer stop()
				return demoapp.Serve(ctx, c.String("listen"), c.String("name"), cmdutil.NewLogger(os.Stderr, false, false))
			},
		}},
	}
}

func run(c *cli.Context) error {
	if c.NArg() > 0 {
		return cmdutil.UsageError("unexpected argument %q (backends are given with --backend URL)", c.Args().First())
	}
	log := cmdutil.NewLogger(os.Stderr, c.Bool("debug"), c.Bool("log-json"))
	cfg := proxy.Config{
		ListenHTTPS:         c.String("listen-https"),
		ListenHTTP:          c.String("listen-http"),
		Admin:               c.String("admin"),
		HTTPRedirect:        c.Bool("http-redirect"),
		RedirectPort:        c.Int("redirect-port"),
		HealthPath:          c.String("health-path"),
		ProxyProtocol:       c.Bool("proxy-protocol"),
		HTTP2Server:         proxy.HTTP2Server(c.String("http2-server")),
		ReadHeaderTimeout:   c.Duration("read-header-timeout"),
		ReadTimeout:         c.Duration("read-timeout"),
		WriteTimeout:        c.Duration("write-timeout"),
		BodyTimeout:         c.Duration("body-timeout"),
		UnbufferedRequests:  !c.Bool("request-buffering"),
		RequestBufferMemory: c.Int64("request-buffer-memory"),
		RequestBufferLimit:  c.Int64("request-buffer-limit"),
		MinBodyRate:         c.Int64("min-body-rate"),
		TempDir:             c.String("temp-dir"),
		IdleTimeout:         c.Duration("idle-timeout"),
		MaxConns:            c.Int("max-conns"),
		MaxHeaderBytes:      c.Int("max-header-bytes"),
		DrainDelay:          c.Duration("drain-delay"),
		DrainTimeout:        c.Duration("drain-timeout"),
		AccessLog:           c.Bool("access-log"),
		Pprof:               c.Bool("pprof"),
		WatchInterval:       c.Duration("reload-interval"),
	}
	if cfg.ListenHTTPS == "" && cfg.ListenHTTP == "" {
		return cmdutil.UsageError("--listen-https and --listen-http are both empty: nothing to serve")
	}
	for _, s := range c.StringSlice("trusted-proxy") {
		p, err := parseCIDR(s)
		if err != nil {
			return cmdutil.UsageError("--trusted-proxy %q: %v", s, err)
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, p)
	}

	if cfg.ListenHTTPS != "" {
		ks := c.String("keystore")
		if ks == "" {
			return cmdutil.UsageError("--keystore is required with --listen-https")
		}
		storePass, err := cmdutil.StorePassword(c)
		if err != nil {
			return err
		}
		keyPass, err := cmdutil.KeyPassword(c)
		if err != nil {
			return err
		}
		cfg.Certificate = proxy.KeystoreSource(ks, c.String("alias"), storePass, keyPass)
		cfg.Certificate = proxy.OpenSSLSigner(cfg.Certificate, log) // a no-op unless built with -tags openssl
		cfg.WatchFile = ks
		if f := c.String("session-ticket-key-file"); f != "" {
			// Read here for the hint; the proxy reads it again, and again
			// whenever it changes.
			if _, err := proxy.ReadSessionTicketKeys(f); err != nil {
				return cmdutil.Hint(err, "write one key per line, made with: openssl rand -hex 32")
			}
			cfg.SessionTicketKeyFile = f
		}
	}

	if f := c.String("config"); f != "" {
		ccs, err := proxy.LoadConfigFile(f)
		if err != nil {
			return err
		}
		cfg.Clusters = ccs
	}
	if backends := c.StringSlice("backend"); len(backends) > 0 {
		cc, err := flagCluster(c, backends)
		if err != nil {
			return err
		}
		cfg.Clusters = append(cfg.Clusters, cc)
	} else if c.String("config") == "" {
		return cmdutil.UsageError("no backend: give --backend URL (repeatable) or --config FILE")
	}

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second SIGTERM or Ctrl-C ends the drain at once
	}()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cfg.Reload = hup

	if cfg.AccessLog {
		// One write per 200 ms instead of one per request: a line-by-line
		// access log costs about a quarter of the proxy's CPU per request.
		lb := logbuf.New(os.Stderr, 200*time.Millisecond)
		defer lb.Close()
		cfg.AccessLogger = cmdutil.NewLogger(lb, c.Bool("debug"), c.Bool("log-json"))
	}
	err := proxy.Run(ctx, cfg, log)
	return cmdutil.KeystoreHint(err, "jks2pem")
}

// flagCluster is the one-cluster shorthand of the flags: every host.
func flagCluster(c *cli.Context, backends []string) (proxy.ClusterConfig, error) {
	cc := proxy.ClusterConfig{
		Name:                  "default",
		Hosts:                 []string{"*"},
		Balance:               proxy.Balance(c.String("balance")),
		StickyCookie:          c.String("sticky-cookie"),
		RouteCookie:           c.String("route-cookie"),
		InsecureSkipVerify:    c.Bool("backend-insecure"),
		ResponseHeaderTimeout: c.Duration("backend-timeout"),
		Health: proxy.HealthConfig{
			Path:     c.String("health-check-path"),
			Interval: c.Duration("health-interval"),
			Timeout:  c.Duration("health-timeout"),
			Rise:     c.Int("health-rise"),
			Fall:     c.Int("health-fall"),
		},
	}
	for _, b := range backends {
		cc.Backends = append(cc.Backends, proxy.BackendConfig{URL: b})
	}
	if ts := c.String("backend-truststore"); ts != "" {
		if cc.InsecureSkipVerify {
			return cc, cmdutil.UsageError("--backend-truststore and --backend-insecure exclude each other")
		}
		var pass []byte
		switch {
		case c.String("backend-truststore-pass-file") != "":
			p, err := keystore.ReadPasswordFile(c.String("backend-truststore-pass-file"))
			if err != nil {
				return cc, err
			}
			pass = p
		case c.String("backend-truststore-pass-env") != "":
			v, ok := os.LookupEnv(c.String("backend-truststore-pass-env"))
			if !ok {
				return cc, cmdutil.Hint(fmt.Errorf("--backend-truststore-pass-env: environment variable %s is not set", c.String("backend-truststore-pass-env")),
					"export it before running, or use --backend-truststore-pass-file")
			}
			pass = []byte(v)
		}
		pool, err := proxy.TrustStorePool(ts, pass)
		if errors.Is(err, keystore.ErrWrongPassword) {
			return cc, cmdutil.Hint(err, "give the truststore's password with --backend-truststore-pass-file or --backend-truststore-pass-env (WSO2's client-truststore.jks ships with wso2carbon)")
		}
		if err != nil {
			return cc, cmdutil.KeystoreHint(err, "jks2pem")
		}
		cc.RootCAs = pool
	}
	return cc, nil
}

func parseCIDR(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("not a CIDR or an IP address")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
