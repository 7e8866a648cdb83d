package proxy

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// expiryWarning: a certificate expiring sooner is logged as a warning.
const expiryWarning = 30 * 24 * time.Hour

// maxWatchedFile caps how much of the watched file is hashed.
const maxWatchedFile = 16 << 20

// certStore holds the served certificate behind an atomic pointer.
type certStore struct {
	source CertSource
	log    *slog.Logger
	cur    atomic.Pointer[tls.Certificate]

	mu       sync.Mutex // serialises reloads
	reloads  atomic.Uint64
	failures atomic.Uint64
	watch    *fileWatch // nil: no file watched
}

// newCertStore loads the first certificate. The watched file, if any, is
// hashed before, so a change during the load is seen by the first poll.
func newCertStore(src CertSource, watchFile string, log *slog.Logger) (*certStore, error) {
	cs := &certStore{source: src, log: log}
	if watchFile != "" {
		cs.watch = newFileWatch(watchFile)
	}
	c, err := cs.load()
	if err != nil {
		return nil, err
	}
	cs.cur.Store(c)
	return cs, nil
}

// load calls the source and checks what it returned.
func (cs *certStore) load() (*tls.Certificate, error) {
	c, err := cs.source()
	if err != nil {
		return nil, err
	}
	if c == nil || len(c.Certificate) == 0 || c.PrivateKey == nil {
		return nil, errors.New("certificate source returned no certificate or no key")
	}
	if c.Leaf == nil {
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			return nil, fmt.Errorf("parsing leaf certificate: %w", err)
		}
		c.Leaf = leaf
	}
	if left := time.Until(c.Leaf.NotAfter); left < expiryWarning {
		cs.log.Warn("certificate expires soon or has expired", "subject", c.Leaf.Subject.String(),
			"not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return c, nil
}

// reload loads the certificate again; on failure the old one stays.
func (cs *certStore) reload(why string) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c, err := cs.load()
	if err != nil {
		cs.failures.Add(1)
		cs.log.Error("certificate reload failed, still serving the previous certificate",
			"trigger", why, "err", err, "serving_subject", cs.cur.Load().Leaf.Subject.String())
		return err
	}
	cs.cur.Store(c)
	cs.reloads.Add(1)
	cs.log.Info("certificate reloaded", "trigger", why, "subject", c.Leaf.Subject.String(),
		"not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339), "serial", c.Leaf.SerialNumber.Text(16))
	return nil
}

func (cs *certStore) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return cs.cur.Load(), nil
}

// fileWatch notices when a file's content changes (the keystore, the
// session ticket keys): polled every interval, a new content is handed to
// load; a content that failed to load is not tried again until it changes.
type fileWatch struct {
	path         string
	last, failed [32]byte // owned by run's goroutine
}

// newFileWatch hashes path at once, so that a change while its first
// content loads is seen by the first poll.
func newFileWatch(path string) *fileWatch {
	w := &fileWatch{path: path}
	w.last, _ = hashFile(path)
	return w
}

func (w *fileWatch) run(ctx context.Context, interval time.Duration, log *slog.Logger, load func(why string) error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h, err := hashFile(w.path)
		if err != nil {
			// A rotation that replaces the file may remove it for a moment;
			// the next poll sees the new one.
			log.Debug("watching file", "path", w.path, "err", err)
			continue
		}
		if h == w.last || h == w.failed {
			continue
		}
		if err := load("file changed"); err != nil {
			w.failed = h
			continue
		}
		w.last, w.failed = h, [32]byte{}
	}
}

func hashFile(path string) ([32]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return [32]byte{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, maxWatchedFile)); err != nil {
		return [32]byte{}, err
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum, nil
}

// tlsConfig is the server TLS configuration: TLS 1.2 and 1.3 only, AEAD
// suites with forward secrecy, h2 and http/1.1 by ALPN, session tickets on.
func tlsConfig(cs *certStore, ticketKeys [][32]byte) *tls.Config {
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: cs.getCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
	if len(ticketKeys) > 0 {
		cfg.SetSessionTicketKeys(ticketKeys)
	}
	return cfg
}
