package proxy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/keybridge/keybridge/internal/demoapp"
)

// testCA issues certificates for tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return &testCA{cert: c, key: key, pool: pool}
}

var serial struct {
	sync.Mutex
	n int64
}

// leaf issues a server certificate for localhost/127.0.0.1 with its chain.
func (ca *testCA) leaf(t testing.TB, cn string) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial.Lock()
	serial.n++
	sn := serial.n + 100
	serial.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(sn),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     []string{"localhost"},
		IPAddresses:  nil,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(12 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return &tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key, Leaf: leaf}
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("PROXY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// running is a Server started by startServer.
type running struct {
	s     *Server
	addrs map[string]string
	stop  func() error
}

// startServer runs cfg on loopback ports and stops it at cleanup.
func startServer(t *testing.T, cfg Config) *running { return startServerB(t, cfg) }

func startServerB(t testing.TB, cfg Config) *running {
	t.Helper()
	var mu sync.Mutex
	addrs := map[string]string{}
	ready := make(chan struct{}, 3)
	want := 0
	for _, a := range []*string{&cfg.ListenHTTPS, &cfg.ListenHTTP, &cfg.Admin} {
		if *a != "" {
			want++
		}
	}
	cfg.OnListen = func(name, addr string) {
		mu.Lock()
		addrs[name] = addr
		mu.Unlock()
		ready <- struct{}{}
	}
	s, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	for i := 0; i < want; i++ {
		select {
		case <-ready:
		case err := <-done:
			cancel()
			t.Fatalf("Serve: %v", err)
		case <-time.After(5 * time.Second):
			cancel()
			t.Fatal("server did not listen")
		}
	}
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case serveErr = <-done:
			case <-time.After(10 * time.Second):
				serveErr = errors.New("server did not stop")
			}
		})
		return serveErr
	}
	t.Cleanup(func() { _ = stop() })
	return &running{s: s, addrs: addrs, stop: stop}
}

// fastHealth is a health configuration for tests.
var fastHealth = HealthConfig{Path: "/health", Interval: 50 * time.Millisecond, Timeout: 500 * time.Millisecond, Rise: 1, Fall: 1}

func demoBackend(t *testing.T, name string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(demoapp.New(name))
	t.Cleanup(srv.Close)
	return srv
}

func clientFor(ca *testCA) *http.Client {
	return &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool, ServerName: "localhost"}, ForceAttemptHTTP2: true},
		Timeout:   10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
