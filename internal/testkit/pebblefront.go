package testkit

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// PebbleFront is an HTTPS front on 127.0.0.1 that passes every request to a
// Pebble, except that while limited it answers the new-order request itself
// with the rate-limit answer Pebble never gives (RFC 8555 section 6.6: 429, a
// urn:ietf:params:acme:error:rateLimited problem document and Retry-After, as
// Let's Encrypt answers a client over its new-orders limit).
type PebbleFront struct {
	// Directory is the ACME directory URL through the front.
	Directory string
	// CABundle is a PEM file with the CA of the front's HTTPS certificate.
	CABundle string

	mu         sync.Mutex
	retryAfter time.Duration // > 0: limited
	limited    int
	posts      int
}

// Front starts a PebbleFront for p, closed when the test ends. Pebble builds
// the URLs it hands out from the request's Host, which the front keeps, so
// clients talk to the front throughout and their JWS URLs verify at Pebble.
func (p *Pebble) Front(t testing.TB) *PebbleFront {
	t.Helper()
	data, err := os.ReadFile(p.CABundle)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatal("Pebble's CA bundle holds no certificate")
	}
	target, err := url.Parse(p.Directory)
	if err != nil {
		t.Fatal(err)
	}
	target.Path = ""
	f := &PebbleFront{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
		},
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			f.mu.Lock()
			f.posts++
			f.mu.Unlock()
			if r.URL.Path == "/order-plz" && f.limit(w) {
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	bundle := filepath.Join(t.TempDir(), "front-ca.pem")
	if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	f.Directory, f.CABundle = srv.URL+"/dir", bundle
	return f
}

// Limit makes the front refuse new orders with 429 and Retry-After d (whole
// seconds); 0 lets them through again.
func (f *PebbleFront) Limit(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retryAfter = d
}

// Limited reports how many new-order requests the front refused.
func (f *PebbleFront) Limited() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.limited
}

// Posts reports how many POST requests (every ACME request signed by an
// account key: new account, order, finalize, ...) reached the front.
func (f *PebbleFront) Posts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.posts
}

func (f *PebbleFront) limit(w http.ResponseWriter) bool {
	f.mu.Lock()
	d := f.retryAfter
	if d > 0 {
		f.limited++
	}
	f.mu.Unlock()
	if d <= 0 {
		return false
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Retry-After", fmt.Sprint(int(d.Seconds())))
	w.WriteHeader(http.StatusTooManyRequests)
	fmt.Fprint(w, `{"type":"urn:ietf:params:acme:error:rateLimited","status":429,`+
		`"detail":"too many new orders recently: see https://letsencrypt.org/docs/rate-limits/"}`)
	return true
}
