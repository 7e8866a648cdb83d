package proxy

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/keybridge/keybridge/internal/osslrsa"
)

func TestOpenSSLSigner(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	boom := errors.New("boom")
	tests := []struct {
		name     string
		src      CertSource
		wantErr  error
		wantWrap bool
	}{
		{"rsa", func() (*tls.Certificate, error) {
			return &tls.Certificate{Certificate: [][]byte{{1}}, PrivateKey: key}, nil
		}, nil, osslrsa.Enabled},
		{"source error", func() (*tls.Certificate, error) { return nil, boom }, boom, false},
		{"bad key stays with go", func() (*tls.Certificate, error) {
			bad := *key
			bad.E = 3
			bad.Precomputed = rsa.PrecomputedValues{}
			return &tls.Certificate{PrivateKey: &bad}, nil
		}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := OpenSSLSigner(tt.src, log)()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			_, isRSA := c.PrivateKey.(*rsa.PrivateKey)
			if isRSA == tt.wantWrap {
				t.Fatalf("key is %T; want it wrapped: %v", c.PrivateKey, tt.wantWrap)
			}
		})
	}
}
