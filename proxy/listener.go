package proxy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keybridge/keybridge/proxy/internal/rawio"
)

// limitListener holds Accept while max connections are open.
type limitListener struct {
	net.Listener
	sem   chan struct{}
	m     *metrics
	done  chan struct{}
	close sync.Once
}

func newLimitListener(l net.Listener, sem chan struct{}, m *metrics) *limitListener {
	return &limitListener{Listener: l, sem: sem, m: m, done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	if l.sem != nil {
		select {
		case l.sem <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		if l.sem != nil {
			<-l.sem
		}
		return nil, err
	}
	l.m.conns.Add(1)
	return &limitConn{Conn: rawio.Wrap(c), l: l}, nil
}

func (l *limitListener) Close() error {
	l.close.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	l       *limitListener
	release sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.release.Do(func() {
		c.l.m.conns.Add(-1)
		if c.l.sem != nil {
			<-c.l.sem
		}
	})
	return err
}

// proxyProtoListener requires a PROXY protocol header on every connection.
// The header is read lazily by the connection's own goroutine (on its first
// Read or RemoteAddr), within timeout, so a slow client never holds Accept.
type proxyProtoListener struct {
	net.Listener
	timeout time.Duration
}

func (l *proxyProtoListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &proxyProtoConn{Conn: c, timeout: l.timeout}, nil
}

type proxyProtoConn struct {
	net.Conn
	timeout  time.Duration
	once     sync.Once
	err      error
	src, dst net.Addr
	rest     []byte
}

func (c *proxyProtoConn) init() {
	c.once.Do(func() {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
		br := bufio.NewReaderSize(c.Conn, 256)
		src, dst, err := parseProxyHeader(br)
		_ = c.Conn.SetReadDeadline(time.Time{})
		if err != nil {
			c.err = fmt.Errorf("proxy protocol header from %s: %w", c.Conn.RemoteAddr(), err)
			return
		}
		c.src, c.dst = src, dst
		if n := br.Buffered(); n > 0 {
			b, _ := br.Peek(n)
			c.rest = append([]byte(nil), b...)
		}
	})
}

func (c *proxyProtoConn) Read(p []byte) (int, error) {
	c.init()
	if c.err != nil {
		return 0, c.err
	}
	if len(c.rest) > 0 {
		n := copy(p, c.rest)
		c.rest = c.rest[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *proxyProtoConn) RemoteAddr() net.Addr {
	c.init()
	if c.src != nil {
		return c.src
	}
	return c.Conn.RemoteAddr()
}

func (c *proxyProtoConn) LocalAddr() net.Addr {
	c.init()
	if c.dst != nil {
		return c.dst
	}
	return c.Conn.LocalAddr()
}

var (
	proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")
	// ErrProxyHeader is wrapped by every PROXY protocol parse error.
	ErrProxyHeader = errors.New("invalid PROXY protocol header")
)

// maxV1Header is the longest v1 line the specification allows, CRLF included.
const maxV1Header = 107

// parseProxyHeader reads a PROXY protocol v1 or v2 header. It returns nil
// addresses for LOCAL (v2), UNSPEC and UNKNOWN headers: the connection's own
// addresses are then used.
func parseProxyHeader(br *bufio.Reader) (src, dst net.Addr, err error) {
	sig, err := br.Peek(12)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: reading: %v", ErrProxyHeader, err)
	}
	switch {
	case bytes.Equal(sig, proxyV2Sig):
		return parseProxyV2(br)
	case bytes.HasPrefix(sig, []byte("PROXY ")):
		return parseProxyV1(br)
	}
	return nil, nil, fmt.Errorf("%w: no PROXY protocol signature", ErrProxyHeader)
}

func parseProxyV1(br *bufio.Reader) (net.Addr, net.Addr, error) {
	var line []byte
	for len(line) <= maxV1Header {
		b, err := br.ReadByte()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: v1: %v", ErrProxyHeader, err)
		}
		line = append(line, b)
		if b == '\n' {
			break
		}
	}
	if len(line) > maxV1Header || !bytes.HasSuffix(line, []byte("\r\n")) {
		return nil, nil, fmt.Errorf("%w: v1: line longer than %d bytes or not ended by CRLF", ErrProxyHeader, maxV1Header)
	}
	f := strings.Split(string(line[:len(line)-2]), " ")
	if len(f) >= 2 && f[1] == "UNKNOWN" {
		return nil, nil, nil
	}
	if len(f) != 6 || (f[1] != "TCP4" && f[1] != "TCP6") {
		return nil, nil, fmt.Errorf("%w: v1: want PROXY TCP4|TCP6 src dst sport dport", ErrProxyHeader)
	}
	srcIP, err1 := netip.ParseAddr(f[2])
	dstIP, err2 := netip.ParseAddr(f[3])
	sport, err3 := parsePort(f[4])
	dport, err4 := parsePort(f[5])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, nil, fmt.Errorf("%w: v1: %v", ErrProxyHeader, err)
	}
	want4 := f[1] == "TCP4"
	if srcIP.Is4() != want4 || dstIP.Is4() != want4 || srcIP.Zone() != "" || dstIP.Zone() != "" {
		return nil, nil, fmt.Errorf("%w: v1: address family does not match %s", ErrProxyHeader, f[1])
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(srcIP, sport)),
		net.TCPAddrFromAddrPort(netip.AddrPortFrom(dstIP, dport)), nil
}

func parsePort(s string) (uint16, error) {
	if s == "" || len(s) > 5 || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("bad port %q", s)
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return uint16(n), nil
}

func parseProxyV2(br *bufio.Reader) (net.Addr, net.Addr, error) {
	var hdr [16]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, nil, fmt.Errorf("%w: v2: %v", ErrProxyHeader, err)
	}
	verCmd, fam := hdr[12], hdr[13]
	n := int(binary.BigEndian.Uint16(hdr[14:16]))
	if verCmd>>4 != 2 {
		return nil, nil, fmt.Errorf("%w: v2: version %d", ErrProxyHeader, verCmd>>4)
	}
	cmd := verCmd & 0x0f
	if cmd > 1 {
		return nil, nil, fmt.Errorf("%w: v2: command %d", ErrProxyHeader, cmd)
	}
	body := make([]byte, n) // n ≤ 65535 by construction
	if _, err := io.ReadFull(br, body); err != nil {
		return nil, nil, fmt.Errorf("%w: v2: %v", ErrProxyHeader, err)
	}
	if cmd == 0 { // LOCAL: health checks of the balancer itself
		return nil, nil, nil
	}
	switch fam {
	case 0x00: // UNSPEC
		return nil, nil, nil
	case 0x11: // TCP over IPv4
		if n < 12 {
			return nil, nil, fmt.Errorf("%w: v2: TCP4 address block of %d bytes", ErrProxyHeader, n)
		}
		s := netip.AddrFrom4([4]byte(body[0:4]))
		d := netip.AddrFrom4([4]byte(body[4:8]))
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(s, binary.BigEndian.Uint16(body[8:10]))),
			net.TCPAddrFromAddrPort(netip.AddrPortFrom(d, binary.BigEndian.Uint16(body[10:12]))), nil
	case 0x21: // TCP over IPv6
		if n < 36 {
			return nil, nil, fmt.Errorf("%w: v2: TCP6 address block of %d bytes", ErrProxyHeader, n)
		}
		s := netip.AddrFrom16([16]byte(body[0:16]))
		d := netip.AddrFrom16([16]byte(body[16:32]))
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(s, binary.BigEndian.Uint16(body[32:34]))),
			net.TCPAddrFromAddrPort(netip.AddrPortFrom(d, binary.BigEndian.Uint16(body[34:36]))), nil
	}
	return nil, nil, fmt.Errorf("%w: v2: unsupported address family 0x%02x", ErrProxyHeader, fam)
}
