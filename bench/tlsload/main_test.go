package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestReadTreeCountsChildren(t *testing.T) {
	self, err := readTree(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if self.rssBytes <= 0 || self.procs < 1 {
		t.Fatalf("readTree(self) = %+v", self)
	}
	cmd := exec.Command("sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep command:", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	withChild, err := readTree(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if withChild.procs != self.procs+1 {
		t.Errorf("procs with a child = %d, want %d", withChild.procs, self.procs+1)
	}
	if _, err := readTree(0); err == nil {
		t.Error("readTree(0) succeeded")
	}
}

// tlsServer serves 1 KiB over TLS 1.3 with resumption on, like the proxies under test.
func tlsServer(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(make([]byte, 1024))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func TestConnectFullAndResumed(t *testing.T) {
	addr := tlsServer(t)
	tests := []struct {
		name   string
		resume bool
	}{{"full", false}, {"resumed", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := clientConfig(tt.resume)
			var last tls.ConnectionState
			for i := 0; i < 3; i++ {
				c, err := connect(t.Context(), addr, cfg, true)
				if err != nil {
					t.Fatal(err)
				}
				last = c.ConnectionState()
				c.Close()
			}
			if last.DidResume != tt.resume {
				t.Errorf("third connection DidResume = %v, want %v", last.DidResume, tt.resume)
			}
			if d := describe(last); !strings.Contains(d, "version=TLS 1.3") || !strings.Contains(d, "key=ECDSA-P-256") {
				t.Errorf("describe = %q", d)
			}
		})
	}
}

func TestConnectFailsOnClosedPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := connect(t.Context(), addr, clientConfig(false), true); err == nil {
		t.Error("connect to a closed port succeeded")
	}
}

// h2Server serves 1 KiB over TLS with h2 and http/1.1 offered in ALPN; a connection
// idle for idleTimeout (0: no limit) is closed with GOAWAY.
func h2Server(t *testing.T, idleTimeout time.Duration) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			http.Error(w, "not HTTP/2", http.StatusBadRequest)
			return
		}
		_, _ = w.Write(make([]byte, 1024))
	}))
	srv.EnableHTTP2 = true
	srv.Config.IdleTimeout = idleTimeout
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "https://")
}

func TestConnectH2ReadsAllTheServerSent(t *testing.T) {
	addr := h2Server(t, 0)
	c, err := connectH2(t.Context(), addr, h2Config())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q", p)
	}
	// Nothing the server sent is left unread: a read waits (the SETTINGS ACK, the
	// response's last frame and the server's own SETTINGS were all taken).
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	var b [1]byte
	if n, err := c.Read(b[:]); !isTimeout(err) {
		t.Errorf("read after the response = %d, %v; want a timeout", n, err)
	}
}

func TestConnectH2FailsWithoutH2(t *testing.T) {
	addr := tlsServer(t) // no ALPN
	_, err := connectH2(t.Context(), addr, h2Config())
	if err == nil || !strings.Contains(err.Error(), "did not pick h2") {
		t.Errorf("connectH2 to a server without h2: %v", err)
	}
}

func TestIdleH2(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	t.Run("held", func(t *testing.T) {
		addr := h2Server(t, 0)
		if err := idle([]string{"-addr", addr, "-n", "20", "-c", "4", "-pid", pid, "-settle", "10ms", "-h2"}); err != nil {
			t.Error(err)
		}
	})
	t.Run("closed by the server", func(t *testing.T) {
		// Every connection is closed 100 ms after its request; the check comes 1 s
		// after the last one opened.
		addr := h2Server(t, 100*time.Millisecond)
		err := idle([]string{"-addr", addr, "-n", "20", "-c", "4", "-pid", pid, "-settle", "1s", "-h2"})
		if err == nil || !strings.Contains(err.Error(), "closed 20 of 20") {
			t.Errorf("idle against a server that closes idle connections: %v", err)
		}
	})
	t.Run("no h2", func(t *testing.T) {
		addr := tlsServer(t)
		if err := idle([]string{"-addr", addr, "-n", "5", "-c", "1", "-pid", pid, "-settle", "10ms", "-h2"}); err == nil {
			t.Error("idle -h2 against a server without h2 succeeded")
		}
	})
}
