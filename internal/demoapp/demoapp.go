// Package demoapp is a tiny session-keeping application server for
// jksproxy's demos (jksproxy demo-backend) and tests: not part of the
// proxy's public surface.
package demoapp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Backend is a tiny application server for demonstrations and tests:
// like a servlet container it keeps sessions in memory under a JSESSIONID
// cookie and issues a new session for a cookie it does not know (as after
// a failover to a server without the session).
type Backend struct {
	Name string

	mu       sync.Mutex
	sessions map[string]int // session → hits
}

// maxSessions bounds the demo backend's memory.
const maxSessions = 10000

// New returns a demo backend that answers with its name.
func New(name string) *Backend {
	return &Backend{Name: name, sessions: map[string]int{}}
}

// ServeHTTP answers /health with 200 and everything else with one line
// naming the backend, the session and its hit count.
func (d *Backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/health" {
		_, _ = w.Write([]byte("ok\n"))
		return
	}
	d.mu.Lock()
	id := ""
	if c, err := r.Cookie("JSESSIONID"); err == nil {
		if _, ok := d.sessions[c.Value]; ok {
			id = c.Value
		}
	}
	if id == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
		if len(d.sessions) >= maxSessions {
			clear(d.sessions)
		}
		http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: id, Path: "/", HttpOnly: true})
	}
	d.sessions[id]++
	hits := d.sessions[id]
	d.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Backend", d.Name)
	fmt.Fprintf(w, "backend=%s session=%s hits=%d client=%s\n", d.Name, id, hits, r.Header.Get("X-Forwarded-For"))
}

// Serve serves a Backend on addr until ctx is done.
func Serve(ctx context.Context, addr, name string, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("demo backend: %w", err)
	}
	srv := &http.Server{Handler: New(name), ReadHeaderTimeout: 10 * time.Second}
	logger.Info("demo backend listening", "name", name, "addr", ln.Addr().String())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("demo backend: %w", err)
	}
	return nil
}
