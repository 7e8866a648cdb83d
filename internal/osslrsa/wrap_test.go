package osslrsa

import (
	"crypto"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"testing"
	"time"

	"github.com/keybridge/keybridge/internal/testkit"
)

// handshake runs a TLS handshake between a tls.Server serving cert and a
// client trusting it, and returns the client's error.
func handshake(t *testing.T, cert tls.Certificate, client *tls.Config) error {
	t.Helper()
	srvConn, cliConn := net.Pipe()
	defer cliConn.Close()
	done := make(chan error, 1)
	go func() {
		defer srvConn.Close()
		s := tls.Server(srvConn, &tls.Config{Certificates: []tls.Certificate{cert}})
		_ = s.SetDeadline(time.Now().Add(10 * time.Second))
		err := s.Handshake()
		if err == nil {
			_, err = s.Write([]byte("ok"))
		}
		done <- err
	}()
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	cfg := client.Clone()
	cfg.RootCAs, cfg.ServerName = pool, "localhost"
	c := tls.Client(cliConn, cfg)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	err := c.Handshake()
	if err == nil {
		var b []byte
		b, err = io.ReadAll(io.LimitReader(c, 2))
		if err == nil && string(b) != "ok" {
			t.Errorf("read %q from server, want ok", b)
		}
	}
	c.Close()
	if serr := <-done; err == nil && serr != nil {
		err = serr
	}
	return err
}

// Wrap works in every build: with the tag an RSA key moves to OpenSSL, without
// it nothing changes; other keys never change; handshakes succeed either way.
func TestWrap(t *testing.T) {
	rsaCert := selfSigned(t, rsaKey(t, 2048))
	ecCert := selfSigned(t, testkit.ECKey(t, elliptic.P256()))
	tests := []struct {
		name       string
		cert       tls.Certificate
		wantSigner bool // PrivateKey becomes a *Signer-backed key
	}{
		{"rsa", rsaCert, Enabled},
		{"ecdsa", ecCert, false},
		{"no key", tls.Certificate{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Wrap(tt.cert)
			if err != nil {
				t.Fatal(err)
			}
			changed := got.PrivateKey != tt.cert.PrivateKey
			if changed != tt.wantSigner {
				t.Fatalf("key replaced = %v, want %v (Enabled = %v)", changed, tt.wantSigner, Enabled)
			}
			if len(got.Certificate) != len(tt.cert.Certificate) || got.Leaf != tt.cert.Leaf {
				t.Fatal("certificate chain or leaf changed")
			}
			if tt.cert.PrivateKey == nil {
				return
			}
			if !got.PrivateKey.(crypto.Signer).Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(tt.cert.Leaf.PublicKey) {
				t.Fatal("public key differs from the certificate's")
			}
			for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
				if err := handshake(t, got, &tls.Config{MinVersion: v, MaxVersion: v}); err != nil {
					t.Fatalf("TLS %x handshake: %v", v, err)
				}
			}
		})
	}
}

func TestWrapKeepsGoKeyWithoutTag(t *testing.T) {
	if Enabled {
		t.Skip("built with -tags openssl")
	}
	key := rsaKey(t, 2048)
	got, err := Wrap(selfSigned(t, key))
	if err != nil {
		t.Fatal(err)
	}
	if got.PrivateKey.(*rsa.PrivateKey) != key {
		t.Fatal("Wrap replaced the key in a build without the openssl tag")
	}
	if Version() != "" {
		t.Fatalf("Version() = %q without the openssl tag", Version())
	}
	if _, err := newSigner(key); err == nil {
		t.Fatal("newSigner succeeded without the openssl tag")
	}
}
