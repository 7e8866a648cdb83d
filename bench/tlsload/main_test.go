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
	"os"
	"os/exec"
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
