// Package logbuf batches log lines (jksproxy's access log) into few writes.
package logbuf

import (
	"io"
	"sync"
	"time"
)

// Buffer collects log lines in memory and writes them in batches: every
// interval, when 64 KiB are waiting, and on Close. An access log written
// line by line costs one write system call per request; batched, a few per
// interval. Lines are written whole and in order; at most interval's worth
// is lost if the process is killed.
type Buffer struct {
	w        io.Writer
	mu       sync.Mutex // guards buf, closed and writes to w
	buf      []byte
	closed   bool
	stop     chan struct{}
	done     chan struct{}
	interval time.Duration
}

const maxBuffered = 64 << 10

// New starts a Buffer over w that flushes every interval.
func New(w io.Writer, interval time.Duration) *Buffer {
	b := &Buffer{w: w, stop: make(chan struct{}), done: make(chan struct{}), interval: interval}
	go b.loop()
	return b
}

func (b *Buffer) loop() {
	defer close(b.done)
	t := time.NewTicker(b.interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.mu.Lock()
			b.flushLocked()
			b.mu.Unlock()
		}
	}
}

// Write queues p (one log record); after Close it writes through.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return b.w.Write(p)
	}
	if len(b.buf)+len(p) > maxBuffered {
		b.flushLocked()
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *Buffer) flushLocked() {
	if len(b.buf) == 0 {
		return
	}
	_, _ = b.w.Write(b.buf) // nowhere to report a failing log
	b.buf = b.buf[:0]
}

// Close writes what is queued and stops the flushing goroutine.
func (b *Buffer) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.flushLocked()
	b.mu.Unlock()
	close(b.stop)
	<-b.done
	return nil
}
