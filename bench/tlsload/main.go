// Command tlsload is the TLS client side of bench/proxy.sh for what wrk cannot measure:
// handshakes per second with resumption made impossible by the client (no session cache,
// tickets refused) or with resumption on, and the server's memory per idle TLS connection
// (HTTP/1.1 or HTTP/2).
// It also reads a server's CPU time and RSS from /proc (the process and all its
// descendants, so nginx's master and workers count together) and picks free ports.
//
//	tlsload ports N
//	tlsload wait -addr HOST:PORT [-timeout 10s]
//	tlsload proc -pid PID
//	tlsload handshake -addr HOST:PORT [-c 16] [-d 5s] [-resume] [-pid PID]
//	tlsload idle -addr HOST:PORT [-n 5000] [-c 64] [-pid PID] [-settle 1s] [-timeout 60s] [-h2]
//	tlsload get -url URL -out FILE   (a profile from jksproxy's admin listener)
//
// Every command prints one line of key=value pairs on stdout. Every loop is bounded by a
// duration and a count. The client speaks TLS 1.3 only and offers only X25519, because
// wrk (OpenSSL 3.0) offers no post-quantum key exchange either and a Go server would
// otherwise pick the costlier X25519MLKEM768 that nginx and HAProxy cannot.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "ports":
		err = ports(os.Args[2:])
	case "wait":
		err = wait(os.Args[2:])
	case "proc":
		err = procCmd(os.Args[2:])
	case "handshake":
		err = handshake(os.Args[2:])
	case "idle":
		err = idle(os.Args[2:])
	case "get":
		err = get(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "tlsload: error: %v\n", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: tlsload ports N | wait -addr A | proc -pid P | handshake -addr A [-c N] [-d D] [-resume] [-pid P] | idle -addr A [-n N] [-pid P] [-h2]")
	os.Exit(2)
}

// ports prints n distinct free TCP ports on 127.0.0.1, holding all of them open until
// every one is chosen so that none repeats.
func ports(args []string) error {
	if len(args) != 1 {
		usage()
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 || n > 100 {
		return fmt.Errorf("ports: N must be 1..100")
	}
	var out []string
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("ports: %w", err)
		}
		defer ln.Close()
		out = append(out, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	fmt.Println(strings.Join(out, " "))
	return nil
}

// wait returns once addr accepts TCP connections, or fails after the timeout.
func wait(args []string) error {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	addr := fs.String("addr", "", "HOST:PORT")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this")
	_ = fs.Parse(args)
	deadline := time.Now().Add(*timeout)
	for {
		c, err := net.DialTimeout("tcp", *addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("wait: %s not listening after %v: %w", *addr, *timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func procCmd(args []string) error {
	fs := flag.NewFlagSet("proc", flag.ExitOnError)
	pid := fs.Int("pid", 0, "root PID")
	_ = fs.Parse(args)
	p, err := readTree(*pid)
	if err != nil {
		return err
	}
	fmt.Printf("cpu_us=%d rss_bytes=%d procs=%d\n", p.cpuMicros, p.rssBytes, p.procs)
	return nil
}

// treeStat is the CPU time and resident memory of a process and its descendants.
type treeStat struct {
	cpuMicros int64 // utime+stime of each process, plus cutime+cstime of reaped children
	rssBytes  int64
	procs     int
}

// clockTick is USER_HZ, the unit of /proc/PID/stat times; Linux fixes it at 100 on every
// architecture Go runs on.
const clockTick = 100

// readTree sums /proc figures over pid and every process whose ancestor it is.
func readTree(pid int) (treeStat, error) {
	var t treeStat
	if pid <= 0 {
		return t, errors.New("proc: -pid is required")
	}
	type stat struct {
		ppid            int
		ticks, rssPages int64
	}
	all := map[int]stat{}
	children := map[int][]int{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return t, err
	}
	for _, e := range ents {
		id, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// The command name is in parentheses and may hold spaces: split after the last ')'.
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 22 {
			continue
		}
		// f[0] is field 3 (state): ppid 4, utime 14, stime 15, cutime 16, cstime 17, rss 24.
		num := func(k int) int64 { v, _ := strconv.ParseInt(f[k-3], 10, 64); return v }
		st := stat{ppid: int(num(4)), ticks: num(14) + num(15) + num(16) + num(17), rssPages: num(24)}
		all[id] = st
		children[st.ppid] = append(children[st.ppid], id)
	}
	if _, ok := all[pid]; !ok {
		return t, fmt.Errorf("proc: no process %d", pid)
	}
	page := int64(os.Getpagesize())
	queue := []int{pid}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		st := all[id]
		t.cpuMicros += st.ticks * 1e6 / clockTick
		t.rssBytes += st.rssPages * page
		t.procs++
		queue = append(queue, children[id]...)
	}
	return t, nil
}

func clientConfig(resume bool) *tls.Config {
	cfg := &tls.Config{
		InsecureSkipVerify: true, // the same for every server; verification is client cost
		ServerName:         "localhost",
		MinVersion:         tls.VersionTLS13,
		MaxVersion:         tls.VersionTLS13,
		CurvePreferences:   []tls.CurveID{tls.X25519},
		NextProtos:         []string{"http/1.1"},
	}
	if resume {
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	} else {
		cfg.SessionTicketsDisabled = true // no PSK offered: every handshake is a full one
	}
	return cfg
}

var request = []byte("GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: tlsload\r\n\r\n")

// connect dials, completes the TLS handshake, sends one request and reads the whole
// response (which is also when a TLS 1.3 client receives its session ticket).
func connect(ctx context.Context, addr string, cfg *tls.Config, closeAfter bool) (*tls.Conn, error) {
	c, err := dialTLS(ctx, addr, cfg)
	if err != nil {
		return nil, err
	}
	req := request
	if closeAfter {
		req = []byte("GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: tlsload\r\nConnection: close\r\n\r\n")
	}
	if _, err := c.Write(req); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 4096), nil)
	if err != nil {
		c.Close()
		return nil, err
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %s", resp.Status)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// dialTLS dials and completes the TLS handshake; the connection's deadline is 10 s on.
func dialTLS(ctx context.Context, addr string, cfg *tls.Config) (*tls.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := tls.Client(raw, cfg)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// h2Config is clientConfig(false) offering only h2 in ALPN.
func h2Config() *tls.Config {
	cfg := clientConfig(false)
	cfg.NextProtos = []string{"h2"}
	return cfg
}

// connectH2 is connect over HTTP/2: ALPN h2 (an error if the server picks anything
// else), then one GET / on stream 1 (see h2Get). The framer and buffers are dropped:
// only the TLS connection is kept, as an idle client keeps little more.
func connectH2(ctx context.Context, addr string, cfg *tls.Config) (*tls.Conn, error) {
	c, err := dialTLS(ctx, addr, cfg)
	if err != nil {
		return nil, err
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		c.Close()
		if p == "" {
			p = "none"
		}
		return nil, fmt.Errorf("the server did not pick h2 in ALPN (it picked %s)", p)
	}
	if err := h2Get(c); err != nil {
		c.Close()
		return nil, fmt.Errorf("h2: %w", err)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// h2Get sends the client preface, SETTINGS and a GET / on stream 1 in one write, and
// reads until that response has ended and the server has acknowledged the SETTINGS,
// answering the server's SETTINGS (and PINGs) as a client does. All the server sends
// before it goes idle is then read: a read on the connection afterwards waits until the
// server sends something new (a GOAWAY) or closes it, which is what idle's check sees.
func h2Get(rw io.ReadWriter) error {
	var out bytes.Buffer
	out.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&out, rw) // unbuffered reads: nothing past the last frame is taken
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	_ = fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 0})
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "https"},
		{Name: ":authority", Value: "localhost"}, {Name: ":path", Value: "/"}, {Name: "user-agent", Value: "tlsload"}} {
		_ = enc.WriteField(f)
	}
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true})
	flush := func() error {
		_, err := rw.Write(out.Bytes())
		out.Reset()
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	status := ""
	ended, acked := false, false
	// Bounded: a server that keeps sending frames without ending the stream fails here
	// (the connection's deadline bounds the time).
	for frames := 0; !ended || !acked; frames++ {
		if frames == 1000 {
			return errors.New("no end of the response after 1000 frames")
		}
		f, err := fr.ReadFrame()
		if err != nil {
			return err
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if f.IsAck() {
				acked = true
				continue
			}
			_ = fr.WriteSettingsAck()
			if err := flush(); err != nil {
				return err
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				_ = fr.WritePing(true, f.Data)
				if err := flush(); err != nil {
					return err
				}
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID != 1 {
				return fmt.Errorf("HEADERS on stream %d", f.StreamID)
			}
			if s := f.PseudoValue("status"); s != "" && !strings.HasPrefix(s, "1") {
				status = s
			}
			ended = ended || f.StreamEnded()
		case *http2.DataFrame:
			if f.StreamID != 1 {
				return fmt.Errorf("DATA on stream %d", f.StreamID)
			}
			ended = ended || f.StreamEnded()
		case *http2.RSTStreamFrame:
			return fmt.Errorf("stream %d reset: %v", f.StreamID, f.ErrCode)
		case *http2.GoAwayFrame:
			return fmt.Errorf("GOAWAY: %v", f.ErrCode)
		}
	}
	if status != "200" {
		return fmt.Errorf("status %q", status)
	}
	return nil
}

func describe(cs tls.ConnectionState) string {
	key := "unknown"
	if len(cs.PeerCertificates) > 0 {
		switch k := cs.PeerCertificates[0].PublicKey.(type) {
		case *rsa.PublicKey:
			key = fmt.Sprintf("RSA-%d", k.N.BitLen())
		case *ecdsa.PublicKey:
			key = "ECDSA-" + k.Curve.Params().Name
		}
	}
	return fmt.Sprintf("version=%s cipher=%s key=%s", tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite), key)
}

// handshake runs c loops of new connections (handshake, one request with
// "Connection: close", close) for a fixed duration, at most max connections in all.
func handshake(args []string) error {
	fs := flag.NewFlagSet("handshake", flag.ExitOnError)
	addr := fs.String("addr", "", "server HOST:PORT")
	conc := fs.Int("c", 16, "parallel connection loops")
	dur := fs.Duration("d", 5*time.Second, "how long to run")
	maxConns := fs.Int64("max", 1_000_000, "stop after this many connections")
	resume := fs.Bool("resume", false, "resume sessions with tickets (each loop keeps its own cache)")
	pid := fs.Int("pid", 0, "server PID whose CPU time (with its descendants) is measured over the run")
	_ = fs.Parse(args)
	if *addr == "" || *conc < 1 || *dur <= 0 {
		usage()
	}
	// Prime: one connection to learn what is negotiated, and to fail early.
	first, err := connect(context.Background(), *addr, clientConfig(false), true)
	if err != nil {
		return fmt.Errorf("handshake with %s: %w", *addr, err)
	}
	desc := describe(first.ConnectionState())
	first.Close()

	var before treeStat
	if *pid > 0 {
		if before, err = readTree(*pid); err != nil {
			return err
		}
	}
	start := time.Now()
	end := start.Add(*dur)
	ctx, cancel := context.WithDeadline(context.Background(), end)
	defer cancel()
	var conns, resumed, failed, started atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for i := 0; i < *conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := clientConfig(*resume)
			// The clock, not ctx.Err(): the dialer fails at the deadline before the
			// context's own timer has fired, and a busy CPU delays that timer.
			for time.Now().Before(end) && started.Add(1) <= *maxConns {
				c, err := connect(ctx, *addr, cfg, true)
				if err != nil {
					if time.Now().Before(end) {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
					}
					continue
				}
				if time.Now().Before(end) { // count only what completed inside the window
					conns.Add(1)
					if c.ConnectionState().DidResume {
						resumed.Add(1)
					}
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	if secs > dur.Seconds() {
		secs = dur.Seconds()
	}
	var cpu int64
	if *pid > 0 {
		after, err := readTree(*pid)
		if err != nil {
			return err
		}
		cpu = after.cpuMicros - before.cpuMicros
	}
	n, r := conns.Load(), resumed.Load()
	counted := n
	if *resume {
		counted = r
	}
	if e, ok := firstErr.Load().(string); ok {
		fmt.Fprintf(os.Stderr, "tlsload: %d failed connections, first: %s\n", failed.Load(), e)
	}
	perConn := 0.0
	if n > 0 {
		perConn = float64(cpu) / float64(n)
	}
	fmt.Printf("conns=%d resumed=%d errors=%d secs=%.2f rate=%.1f cpu_us=%d cpu_us_per_conn=%.1f %s\n",
		n, r, failed.Load(), secs, float64(counted)/secs, cpu, perConn, desc)
	if n == 0 {
		return errors.New("handshake: no connection completed")
	}
	return nil
}

// idle opens n TLS connections (full handshake, one keep-alive request each; with -h2
// HTTP/2 connections, one request each on stream 1), holds them all, and reports how
// much the server's RSS grew over its baseline from before.
func idle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	addr := fs.String("addr", "", "server HOST:PORT")
	n := fs.Int("n", 5000, "connections to hold")
	conc := fs.Int("c", 64, "connections opened in parallel")
	pid := fs.Int("pid", 0, "server PID whose RSS (with its descendants) is measured")
	settle := fs.Duration("settle", time.Second, "wait this long with every connection open before reading RSS")
	timeout := fs.Duration("timeout", 60*time.Second, "give up opening after this")
	h2 := fs.Bool("h2", false, "HTTP/2 connections (ALPN h2 required)")
	_ = fs.Parse(args)
	if *addr == "" || *n < 1 || *pid <= 0 {
		usage()
	}
	base, err := readTree(*pid)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	conns := make([]*tls.Conn, *n)
	var next atomic.Int64
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < *conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := clientConfig(false)
			dial := func() (*tls.Conn, error) { return connect(ctx, *addr, cfg, false) }
			if *h2 {
				cfg = h2Config()
				dial = func() (*tls.Conn, error) { return connectH2(ctx, *addr, cfg) }
			}
			for ctx.Err() == nil {
				k := next.Add(1) - 1
				if k >= int64(*n) {
					return
				}
				c, err := dial()
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					if failed.Load() > int64(*n)/100+10 {
						cancel()
					}
					continue
				}
				conns[k] = c
			}
		}()
	}
	wg.Wait()
	openSecs := time.Since(start).Seconds()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	open := 0
	for _, c := range conns {
		if c != nil {
			open++
		}
	}
	if e, ok := firstErr.Load().(string); ok {
		fmt.Fprintf(os.Stderr, "tlsload: %d failed connections, first: %s\n", failed.Load(), e)
	}
	if open < *n {
		return fmt.Errorf("idle: only %d of %d connections open", open, *n)
	}
	time.Sleep(*settle)
	held, err := readTree(*pid)
	if err != nil {
		return err
	}
	// Every connection must still be open: a server that dropped them would look cheap.
	var alive atomic.Int64
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			var b [1]byte
			if _, err := c.Read(b[:]); err != nil && isTimeout(err) {
				alive.Add(1)
			}
		}()
	}
	wg.Wait()
	per := float64(held.rssBytes-base.rssBytes) / float64(open)
	alpn := conns[0].ConnectionState().NegotiatedProtocol
	if alpn == "" {
		alpn = "none"
	}
	fmt.Printf("conns=%d alive=%d open_secs=%.2f rss_base=%d rss_held=%d bytes_per_conn=%.0f alpn=%s\n",
		open, alive.Load(), openSecs, base.rssBytes, held.rssBytes, per, alpn)
	if int(alive.Load()) < open {
		return fmt.Errorf("idle: the server closed %d of %d connections", open-int(alive.Load()), open)
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// get saves the body of one plain-HTTP GET (a pprof profile) to a file.
func get(args []string) error {
	fs := flag.NewFlagSet("get", flag.ExitOnError)
	url := fs.String("url", "", "URL")
	out := fs.String("out", "", "FILE")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this")
	_ = fs.Parse(args)
	if *url == "" || *out == "" {
		usage()
	}
	client := &http.Client{Timeout: *timeout}
	resp, err := client.Get(*url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get %s: %s", *url, resp.Status)
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, io.LimitReader(resp.Body, 256<<20)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
