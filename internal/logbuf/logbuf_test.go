package logbuf

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for the flushing goroutine and the test.
type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuffer) get() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String(), l.writes
}

func TestLogBuffer(t *testing.T) {
	t.Run("batches and flushes on Close", func(t *testing.T) {
		var out lockedBuffer
		lb := New(&out, time.Hour)
		for i := 0; i < 100; i++ {
			lb.Write([]byte("line\n"))
		}
		if s, _ := out.get(); s != "" {
			t.Fatalf("written before a flush: %q", s)
		}
		lb.Close()
		s, n := out.get()
		if s != strings.Repeat("line\n", 100) || n != 1 {
			t.Errorf("after Close: %d writes, %d bytes; want 1 write of all 100 lines", n, len(s))
		}
		lb.Write([]byte("late\n")) // after Close: straight through
		if s, _ := out.get(); !strings.HasSuffix(s, "line\nlate\n") {
			t.Errorf("write after Close lost: %q", s[len(s)-10:])
		}
	})
	t.Run("flushes every interval", func(t *testing.T) {
		var out lockedBuffer
		lb := New(&out, 10*time.Millisecond)
		defer lb.Close()
		lb.Write([]byte("tick\n"))
		deadline := time.Now().Add(5 * time.Second)
		for {
			if s, _ := out.get(); s == "tick\n" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("line not flushed by the interval")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	t.Run("flushes when full, lines whole", func(t *testing.T) {
		var out lockedBuffer
		lb := New(&out, time.Hour)
		line := []byte(strings.Repeat("x", 1000) + "\n")
		for i := 0; i < 100; i++ {
			lb.Write(line)
		}
		s, n := out.get()
		if n == 0 || len(s)%len(line) != 0 || len(s) > maxBuffered {
			t.Errorf("before Close: %d writes, %d bytes; want whole lines, at most %d bytes", n, len(s), maxBuffered)
		}
		lb.Close()
		if s, _ := out.get(); len(s) != 100*len(line) {
			t.Errorf("after Close: %d bytes, want %d", len(s), 100*len(line))
		}
	})
}
