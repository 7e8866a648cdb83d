package proxy

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"
)

// CertSource returns the certificate to serve: the leaf and its chain in
// Certificate, the private key in PrivateKey, and ideally Leaf set. It is
// called once at start, on every Reload and whenever the watched file's
// content changes.
type CertSource func() (*tls.Certificate, error)

// Balance names a load-balancing algorithm.
type Balance string

// The load-balancing algorithms.
const (
	RoundRobin Balance = "round_robin"
	LeastConn  Balance = "least_conn"
)

// HTTP2Server names what serves the HTTP/2 connections of the HTTPS
// listener.
type HTTP2Server string

// The HTTP/2 servers.
const (
	// HTTP2Own is the proxy's own HTTP/2 path (h2.go), the default.
	HTTP2Own HTTP2Server = "own"
	// HTTP2NetHTTP hands HTTP/2 connections to net/http's server.
	HTTP2NetHTTP HTTP2Server = "net/http"
)

// StickyRouteCookie is the default name of the cookie in which the proxy
// records the backend a session is bound to (ClusterConfig.RouteCookie).
// Its value is the backend's ID.
const StickyRouteCookie = "KBSRV"

// Defaults taken by zero fields of Config and HealthConfig.
const (
	DefaultWatchInterval     = time.Second
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultBodyTimeout       = 60 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultMaxConns          = 10000
	DefaultDrainTimeout      = 30 * time.Second
	DefaultHealthInterval    = 5 * time.Second
	DefaultHealthTimeout     = 2 * time.Second
	// DefaultResponseHeaderTimeout bounds the wait for a backend's answer.
	DefaultResponseHeaderTimeout = 60 * time.Second
)

// Config is everything Run needs. Zero durations and sizes take the defaults
// documented on each field.
type Config struct {
	// ListenHTTPS is the HTTPS listener address; empty disables it.
	ListenHTTPS string
	// ListenHTTP is the plain HTTP listener address; empty disables it.
	ListenHTTP string
	// Admin is the address of the /metrics and /healthz listener; empty disables it.
	Admin string

	// Certificate loads the certificate to serve. Required with ListenHTTPS.
	Certificate CertSource
	// WatchFile is polled every WatchInterval (default 1s); a change of its
	// content reloads the certificate. Empty disables watching.
	WatchFile     string
	WatchInterval time.Duration
	// Reload triggers a reload of the certificate (and of the session ticket
	// key file) for every value received (SIGHUP).
	Reload <-chan os.Signal
	// SessionTicketKeys, if set, are the TLS session ticket keys, the first
	// one encrypting. Two proxies with the same keys resume each other's
	// sessions. Empty: Go's automatically rotated keys.
	SessionTicketKeys [][32]byte
	// SessionTicketKeyFile, if set, holds the session ticket keys instead
	// (see ReadSessionTicketKeys): read at start, again on every Reload and
	// whenever its content changes (polled every WatchInterval), so that the
	// keys can be rotated in place; a file that does not read keeps the
	// previous keys.
	SessionTicketKeyFile string

	// HTTPRedirect makes the HTTP listener redirect to HTTPS instead of proxying.
	HTTPRedirect bool
	// RedirectPort is the HTTPS port put in redirects; 0 takes the port of
	// ListenHTTPS (omitted when 443).
	RedirectPort int
	// HealthPath is the health-check path served on every listener (default /healthz).
	HealthPath string

	// Clusters are the backend clusters. A request goes to the cluster one of
	// whose Hosts equals its Host (port removed, case ignored), then to one
	// whose Hosts has a matching "*.domain" wildcard, then to the one with "*".
	Clusters []ClusterConfig

	// TrustedProxies are the peers whose X-Forwarded-* and Forwarded headers
	// are kept (and appended to). From anyone else they are replaced.
	TrustedProxies []netip.Prefix
	// AllowMethods lists the methods refused by default (CONNECT: 501,
	// TRACE: 405) that are forwarded nonetheless.
	AllowMethods []string
	// Upgrades are the protocols a client may switch to through the proxy
	// (Upgrade, 101 Switching Protocols), compared without case (default:
	// websocket). A request asking for any other (h2c among them) goes on
	// without its Upgrade field.
	Upgrades []string
	// HTTP2Server serves HTTP/2 (default HTTP2Own). The own path serves
	// plain-HTTP backends only: when a cluster has HTTPS backends, HTTP/2
	// goes to net/http whatever this says.
	HTTP2Server HTTP2Server
	// ProxyProtocol requires a PROXY protocol (v1 or v2) header on every
	// connection to the HTTPS listener.
	ProxyProtocol bool

	// ReadHeaderTimeout bounds reading a request's headers (default 10s);
	// the PROXY protocol header and the TLS handshake share it.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request (default 0: none).
	ReadTimeout time.Duration
	// BodyTimeout is the longest a client may pause while sending a request
	// body; the deadline moves forward as data arrives, so slow but steady
	// uploads pass and stalled ones are cut (default 60s, as nginx's
	// client_body_timeout).
	BodyTimeout time.Duration
	// UnbufferedRequests turns request-body buffering off: bodies stream to
	// the backend as they arrive, so a slow client holds a backend
	// connection. By default a body is read whole before a backend is
	// used.
	UnbufferedRequests bool
	// RequestBufferMemory is how much of a buffered request body is kept
	// in memory (default 1 MiB); the rest goes to a temporary file.
	RequestBufferMemory int64
	// RequestBufferLimit is the largest request body that is buffered
	// (default 64 MiB); a larger one streams, held to MinBodyRate.
	RequestBufferLimit int64
	// MinBodyRate is the lowest average rate, in bytes a second, at which a
	// request body that streams to a backend must arrive, from 5 s after it
	// began (default 4 KiB/s; negative: no minimum).
	MinBodyRate int64
	// TempDir holds the temporary files of buffered request bodies
	// (default: the system's temporary directory).
	TempDir string
	// WriteTimeout is the longest the proxy waits for a client to accept
	// response data: the deadline moves forward as data is written, so long
	// downloads are not cut (default 60s).
	WriteTimeout time.Duration
	// IdleTimeout closes idle keep-alive client connections (default 120s).
	IdleTimeout time.Duration
	// MaxHeaderBytes limits request headers; beyond it the answer is 431
	// (default 64 KiB).
	MaxHeaderBytes int
	// MaxConns limits concurrent client connections over all listeners
	// (default 10000; negative: no limit).
	MaxConns int

	// DrainDelay is how long, after the context is cancelled, /healthz says
	// 503 while requests are still served, so a load balancer in front
	// notices before the listeners close (default 0).
	DrainDelay time.Duration
	// DrainTimeout bounds waiting for in-flight requests after the
	// listeners closed (default 30s).
	DrainTimeout time.Duration

	// AccessLog logs one line per request at level Info.
	AccessLog bool
	// AccessLogger receives the access lines when set (for instance a
	// logger over a batching writer); nil: the Server's logger.
	AccessLogger *slog.Logger
	// Pprof serves net/http/pprof under /debug/pprof/ on the admin listener.
	Pprof bool

	// OnListen, if set, is called with each listener's name ("https",
	// "http", "admin") and bound address once it listens.
	OnListen func(name, addr string)
}

// ClusterConfig is one cluster of interchangeable backends.
type ClusterConfig struct {
	Name     string
	Hosts    []string
	Backends []BackendConfig
	// Balance is RoundRobin (default) or LeastConn.
	Balance Balance
	// StickyCookie is the application's session cookie (default JSESSIONID);
	// "-" disables stickiness.
	StickyCookie string
	// RouteCookie is the cookie that names a session's backend (default
	// StickyRouteCookie). Proxies in tiers keep the same name: the tier
	// nearest the application servers sets it, the others pass it on.
	RouteCookie string
	// UnbufferedRequests turns request-body buffering off for this cluster
	// (see Config.UnbufferedRequests, which turns it off for all).
	UnbufferedRequests bool
	Health             HealthConfig

	// RootCAs verifies HTTPS backends; nil means the system roots.
	RootCAs *x509.CertPool
	// InsecureSkipVerify trusts HTTPS backends without verification.
	InsecureSkipVerify bool
	// PreserveHost sends the client's Host header to the backend (default
	// true through DefaultPreserveHost); false sends the backend URL's host.
	PreserveHost *bool

	// MaxIdleConnsPerBackend is the keep-alive pool size per backend (default 256).
	MaxIdleConnsPerBackend int
	// DialTimeout bounds connecting to a backend (default 5s).
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds waiting for a backend's response
	// headers (default 60s, as nginx's proxy_read_timeout; negative: none).
	ResponseHeaderTimeout time.Duration
}

// BackendConfig is one backend server.
type BackendConfig struct {
	// URL is http://host:port or https://host:port, without a path.
	URL string
	// ID is the backend's sticky ID; empty derives it from the URL. Give IDs
	// when backend addresses change but sessions must keep their backend.
	ID string
}

// HealthConfig configures active health checks.
type HealthConfig struct {
	Path     string        // default "/"
	Interval time.Duration // default 5s
	Timeout  time.Duration // default 2s
	Rise     int           // consecutive successes to come back (default 2)
	Fall     int           // consecutive failures to be ejected (default 3)
	// ExpectMin and ExpectMax bound a healthy status code (default 200–399).
	ExpectMin, ExpectMax int
}

func (c *Config) setDefaults() {
	if c.WatchInterval <= 0 {
		c.WatchInterval = DefaultWatchInterval
	}
	if c.HealthPath == "" {
		c.HealthPath = "/healthz"
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.BodyTimeout <= 0 {
		c.BodyTimeout = DefaultBodyTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if len(c.Upgrades) == 0 {
		c.Upgrades = []string{"websocket"}
	}
	if c.RequestBufferMemory <= 0 {
		c.RequestBufferMemory = DefaultRequestBufferMemory
	}
	if c.RequestBufferLimit <= 0 {
		c.RequestBufferLimit = DefaultRequestBufferLimit
	}
	c.RequestBufferLimit = max(c.RequestBufferLimit, c.RequestBufferMemory)
	if c.MinBodyRate == 0 {
		c.MinBodyRate = DefaultMinBodyRate
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.HTTP2Server == "" {
		c.HTTP2Server = HTTP2Own
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	for i := range c.Clusters {
		c.Clusters[i].setDefaults(i)
	}
}

func (cc *ClusterConfig) setDefaults(i int) {
	if cc.Name == "" {
		cc.Name = fmt.Sprintf("cluster%d", i+1)
	}
	if cc.Balance == "" {
		cc.Balance = RoundRobin
	}
	if cc.StickyCookie == "" {
		cc.StickyCookie = "JSESSIONID"
	}
	if cc.RouteCookie == "" {
		cc.RouteCookie = StickyRouteCookie
	}
	if cc.PreserveHost == nil {
		t := true
		cc.PreserveHost = &t
	}
	if cc.MaxIdleConnsPerBackend <= 0 {
		cc.MaxIdleConnsPerBackend = 256
	}
	if cc.DialTimeout <= 0 {
		cc.DialTimeout = 5 * time.Second
	}
	if cc.ResponseHeaderTimeout == 0 {
		cc.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	h := &cc.Health
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Interval <= 0 {
		h.Interval = DefaultHealthInterval
	}
	if h.Timeout <= 0 {
		h.Timeout = DefaultHealthTimeout
	}
	if h.Rise <= 0 {
		h.Rise = 2
	}
	if h.Fall <= 0 {
		h.Fall = 3
	}
	if h.ExpectMin == 0 && h.ExpectMax == 0 {
		h.ExpectMin, h.ExpectMax = 200, 399
	}
}

// validate checks a Config after setDefaults.
func (c *Config) validate() error {
	if c.ListenHTTPS == "" && c.ListenHTTP == "" {
		return errors.New("no listener: set an HTTPS or HTTP listen address")
	}
	if c.ListenHTTPS != "" && c.Certificate == nil {
		return errors.New("https listener without a certificate source")
	}
	if len(c.SessionTicketKeys) > 0 && c.SessionTicketKeyFile != "" {
		return errors.New("session ticket keys given both as keys and as a file: give one")
	}
	if len(c.Clusters) == 0 {
		return errors.New("no backends: give at least one backend or a config file with clusters")
	}
	if !strings.HasPrefix(c.HealthPath, "/") {
		return fmt.Errorf("health path %q does not start with /", c.HealthPath)
	}
	if c.HTTPRedirect && c.ListenHTTPS == "" && c.RedirectPort == 0 {
		return errors.New("http redirect without an https listener or redirect port")
	}
	if c.HTTP2Server != HTTP2Own && c.HTTP2Server != HTTP2NetHTTP {
		return fmt.Errorf("unknown http2 server %q (want %s or %s)", c.HTTP2Server, HTTP2Own, HTTP2NetHTTP)
	}
	hosts := map[string]string{}
	ids := map[string]string{}
	for _, cc := range c.Clusters {
		if len(cc.Backends) == 0 {
			return fmt.Errorf("cluster %q: no backends", cc.Name)
		}
		if len(cc.Hosts) == 0 {
			return fmt.Errorf("cluster %q: no hosts (use \"*\" for any host)", cc.Name)
		}
		for _, h := range cc.Hosts {
			h = normalizeHost(h)
			if other, dup := hosts[h]; dup {
				return fmt.Errorf("cluster %q: host %q already belongs to cluster %q", cc.Name, h, other)
			}
			hosts[h] = cc.Name
		}
		if cc.Balance != RoundRobin && cc.Balance != LeastConn {
			return fmt.Errorf("cluster %q: unknown balance %q (want %s or %s)", cc.Name, cc.Balance, RoundRobin, LeastConn)
		}
		if cc.StickyCookie != "-" && !validCookieName(cc.StickyCookie) {
			return fmt.Errorf("cluster %q: invalid sticky cookie name %q", cc.Name, cc.StickyCookie)
		}
		if !validCookieName(cc.RouteCookie) || cc.RouteCookie == cc.StickyCookie {
			return fmt.Errorf("cluster %q: invalid route cookie name %q (a cookie name other than the session cookie's)", cc.Name, cc.RouteCookie)
		}
		if !strings.HasPrefix(cc.Health.Path, "/") {
			return fmt.Errorf("cluster %q: health path %q does not start with /", cc.Name, cc.Health.Path)
		}
		if cc.Health.ExpectMin > cc.Health.ExpectMax {
			return fmt.Errorf("cluster %q: expected status range %d-%d is empty", cc.Name, cc.Health.ExpectMin, cc.Health.ExpectMax)
		}
		for _, b := range cc.Backends {
			u, err := parseBackendURL(b.URL)
			if err != nil {
				return fmt.Errorf("cluster %q: %w", cc.Name, err)
			}
			id := b.ID
			if id == "" {
				id = backendID(u)
			} else if !validID(id) {
				return fmt.Errorf("cluster %q: backend %q: id %q may hold only letters, digits, '.', '_' and '-'", cc.Name, b.URL, id)
			}
			if other, dup := ids[id]; dup {
				return fmt.Errorf("cluster %q: backend %q: id %q already used by %s", cc.Name, b.URL, id, other)
			}
			ids[id] = b.URL
		}
	}
	return nil
}

// parseBackendURL accepts http(s)://host[:port][/].
func parseBackendURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("backend %q: scheme must be http or https", s)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("backend %q: no host", s)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("backend %q: give only scheme, host and port (no path, query or user)", s)
	}
	if u.Port() == "" {
		if u.Scheme == "https" {
			u.Host += ":443"
		} else {
			u.Host += ":80"
		}
	}
	u.Path = ""
	u.Host = strings.ToLower(u.Host)
	return u, nil
}

// backendID is a stable, cookie-safe ID derived from the normalised URL, so
// every proxy configured with the same backend computes the same ID.
func backendID(u *url.URL) string {
	sum := sha256.Sum256([]byte(u.Scheme + "://" + u.Host))
	return hex.EncodeToString(sum[:6])
}

func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func validCookieName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

// normalizeHost lowercases a host and removes a port and a trailing dot.
func normalizeHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			return h[1:i]
		}
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.Count(h, ":") == 1 {
		h = h[:i]
	}
	return strings.TrimSuffix(h, ".")
}
