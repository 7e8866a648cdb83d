package rawio

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// fastPair returns a connected pair: the accepted end through Wrap (as
// the proxy's listeners and backend dials have it) and the dialled end.
func fastPair(t *testing.T, ln net.Listener) (fast, peer net.Conn) {
	t.Helper()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	fast = Wrap(c)
	if f, ok := fast.(*fastConn); !ok || f.ready == nil {
		t.Fatal("accepted connection is not on the readiness queue")
	}
	t.Cleanup(func() { fast.Close(); peer.Close() })
	return fast, peer
}

func localListener(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// The point of the queue: readers that were all waiting are woken in the
// order their data arrived (Go's poller alone wakes them in reverse).
// Checked with one processor, where the order of waking is the order of
// running; the race detector shuffles that order on purpose, so there
// (and in `make test`'s -race run) only the wake-ups themselves are
// checked, and `make test` runs this test once more without it.
func TestReadyQueueWakesInArrivalOrder(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ln := localListener(t)
	const n = 24
	fast := make([]net.Conn, n)
	peers := make([]net.Conn, n)
	for i := range n {
		fast[i], peers[i] = fastPair(t, ln)
	}
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i, c := range fast {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b [1]byte
			if _, err := c.Read(b[:]); err != nil {
				t.Errorf("reader %d: %v", i, err)
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
		}()
	}
	// Let every reader find nothing and wait.
	time.Sleep(100 * time.Millisecond)
	for _, p := range peers {
		if _, err := p.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	if len(order) != n {
		t.Fatalf("%d of %d readers woke", len(order), n)
	}
	if !raceEnabled && !slices.Equal(order, want) {
		t.Errorf("readers ran in the order %v, want the order their data arrived", order)
	}
}

func TestFastConnDeadlineAndClose(t *testing.T) {
	ln := localListener(t)
	c, peer := fastPair(t, ln)
	var b [8]byte

	// A deadline that passes wakes a waiting read with a timeout.
	if err := c.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := c.Read(b[:])
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Fatalf("read timed out after %v, before its deadline", d)
	}
	// An expired deadline also refuses data that is there, as the net package does...
	peer.Write([]byte("abc"))
	time.Sleep(20 * time.Millisecond)
	if _, err := c.Read(b[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read with an expired deadline: %v", err)
	}
	// ...until it is moved: a later deadline, then none.
	if err := c.SetReadDeadline(time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(b[:]); err != nil || string(b[:n]) != "abc" {
		t.Fatalf("read after moving the deadline: %q, %v", b[:n], err)
	}
	c.SetReadDeadline(time.Time{})

	// A deadline moved into the past from another goroutine wakes the read
	// (net/http and the HTTP/1 loop interrupt reads this way).
	go func() {
		time.Sleep(30 * time.Millisecond)
		c.SetReadDeadline(time.Unix(1, 0)) // long past: the waiting read ends
	}()
	if _, err := c.Read(b[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read interrupted by a past deadline: %v", err)
	}
	// A deadline that was moved later does not fire at the earlier time.
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	c.SetReadDeadline(time.Now().Add(time.Hour))
	go func() {
		time.Sleep(80 * time.Millisecond)
		peer.Write([]byte("late"))
	}()
	if n, err := c.Read(b[:]); err != nil || string(b[:n]) != "late" {
		t.Fatalf("read after a deadline was moved later: %q, %v", b[:n], err)
	}

	// Close wakes a waiting read; later reads say closed.
	go func() {
		time.Sleep(30 * time.Millisecond)
		c.Close()
	}()
	if _, err := c.Read(b[:]); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read interrupted by Close: %v", err)
	}
	if _, err := c.Read(b[:]); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %v", err)
	}
	if err := c.SetReadDeadline(time.Time{}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("SetReadDeadline after Close: %v", err)
	}
}

func TestFastConnEOFAndReuse(t *testing.T) {
	ln := localListener(t)
	// Slots are reused after Close; an event for a closed connection must
	// not wake the one that took its slot.
	for range 3 {
		c, peer := fastPair(t, ln)
		go func() {
			peer.Write([]byte("x"))
			peer.Close()
		}()
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "x" {
			t.Fatalf("ReadAll: %q, %v", got, err)
		}
		c.Close()
	}
	c, peer := fastPair(t, ln)
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	var b [1]byte
	if _, err := c.Read(b[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("quiet connection in a reused slot: %v, want a timeout", err)
	}
	_ = peer
}

// A read that leaves part of its buffer unfilled has emptied the socket,
// so the next read waits for the queue without asking the kernel; that
// wait must still end for data sent later, and for an end of stream or a
// reset that was already there, behind the data, when the short read ran
// (the queue may have reported both in the one event the read dropped).
func TestFastConnShortReadThenWait(t *testing.T) {
	ln := localListener(t)
	read := func(c net.Conn) (string, error) {
		var b [64]byte
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(b[:])
		return string(b[:n]), err
	}

	c, peer := fastPair(t, ln)
	peer.Write([]byte("a"))
	if got, err := read(c); got != "a" || err != nil {
		t.Fatalf("first read: %q, %v", got, err)
	}
	if !c.(*fastConn).drained {
		t.Fatal("a short read did not mark the socket empty")
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		peer.Write([]byte("b"))
	}()
	if got, err := read(c); got != "b" || err != nil {
		t.Fatalf("read after a short one: %q, %v", got, err)
	}

	for _, end := range []string{"close", "reset"} {
		c, peer := fastPair(t, ln)
		peer.Write([]byte("x"))
		if end == "reset" {
			peer.(*net.TCPConn).SetLinger(0)
		}
		peer.Close()
		time.Sleep(50 * time.Millisecond) // data and end both queued before the read
		if got, err := read(c); got != "x" || err != nil {
			t.Fatalf("%s: first read: %q, %v", end, got, err)
		}
		_, err := read(c)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			t.Fatalf("%s: the read after a short one waited for an end that had already come", end)
		case end == "close" && err != io.EOF, end == "reset" && (err == nil || err == io.EOF):
			t.Fatalf("%s: second read: %v", end, err)
		}
	}
}
