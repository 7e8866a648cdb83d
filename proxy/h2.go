package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The own HTTP/2 path serves the connections that negotiate h2 on the TLS
// listener (Config.HTTP2Server), as the HTTP/1 loop serves HTTP/1: frames
// are read and written with x/net's Framer and HPACK, one goroutine reads
// and keeps the connection's state (streams, windows, settings), another
// writes: every stream's frames go into one queue that the writer sends
// whole, so that the responses of many streams leave in few TLS records and
// write calls. A request that is proxied runs on a goroutine of its own
// while it waits on its backend (the forwarder blocks), through the same
// admission, header policy, body buffering, retry and failure attribution
// as the HTTP/1 loop (s.admit, appendH1Head, bufferBody, forward); what the
// proxy answers itself (health, refusals, malformed requests) is answered
// by the reading goroutine.

const (
	// h2MaxStreams is SETTINGS_MAX_CONCURRENT_STREAMS, net/http's value.
	h2MaxStreams = 250
	// h2StreamWindow and h2ConnWindow are what a client may send ahead:
	// a stream's receive window and the connection's.
	h2StreamWindow = 256 << 10
	h2ConnWindow   = 1 << 20
	// h2MaxQueued bounds the bytes waiting for the writer: a stream's
	// DATA waits beyond it.
	h2MaxQueued = 1 << 20
	// h2MaxControl: a client that makes the proxy queue more frames of its
	// own (PING and SETTINGS acknowledgements, RST_STREAM) than this while
	// the writer sends none of them is cut with ENHANCE_YOUR_CALM (net/http's
	// maxQueuedControlFrames; CVE-2019-9512, -9514, -9515).
	h2MaxControl = 10000
	// h2MaxQueuedStreams: streams beyond h2MaxStreams whose handler has not
	// begun (a client resetting streams as fast as it opens them leaves
	// handlers running) wait in a queue this long; beyond it the
	// connection is closed with ENHANCE_YOUR_CALM, as net/http does since
	// the rapid-reset attack (CVE-2023-44487).
	h2MaxQueuedStreams = 4 * h2MaxStreams
	// h2ReadBuf: frames larger than this are read past the buffer into
	// the framer's own. The HTTP/1 loop's size: the two share a pool.
	h2ReadBuf = h1BufSize
	// As nginx does against rapid reset: more than h2NewStreamsAtOnce
	// new streams in what one read brought are refused (REFUSED_STREAM),
	// and a connection with more than h2MaxRefused refused streams is
	// closed with GOAWAY.
	h2NewStreamsAtOnce = 2 * h2MaxStreams
	h2MaxRefused       = max(h2MaxStreams, 100)
)

// errStreamGone: the stream was reset or its connection has ended.
var errStreamGone = errors.New("http2 stream reset or connection closed")

// h2Conn is one HTTP/2 client connection.
type h2Conn struct {
	srv    *h1Server
	s      *Server
	nc     net.Conn // as accepted
	tc     net.Conn // the TLS connection
	rd     h2Reader
	fr     *http2.Framer // replaced by the reader under mu (see read)
	in     fwdIn
	fwdc   fwdCache
	remote string

	// The reading goroutine's own.
	maxID       uint32 // the highest stream a client opened
	sawSettings bool
	newStreams  int // streams opened since the reader emptied what was sent
	refused     int // streams refused

	mu      sync.Mutex
	cond    sync.Cond // windows opened, the queue drained, the connection ended
	streams map[uint32]*h2Stream
	queue   []*h2Stream // waiting for a handler
	running int         // handlers running
	out     []byte      // frames for the writer
	wake    chan struct{}
	writing bool // a writer goroutine runs
	henc    *hpack.Encoder
	hbuf    bytes.Buffer
	// Windows: what the proxy may still send, and what the client may.
	sendConn  int64
	recvConn  int64
	initWin   int64  // the client's SETTINGS_INITIAL_WINDOW_SIZE
	maxFrame  uint32 // the client's SETTINGS_MAX_FRAME_SIZE
	goAway    bool   // GOAWAY sent: no new streams
	lastID    uint32 // the last stream the first GOAWAY named
	controls  int    // frames queued by control since the writer took out
	closing   bool   // the writer closes the connection once out is sent
	closed    bool   // the connection is done
	lingering bool   // the reader closes the connection after a linger (readerDone)
	wdl       time.Time
	idleAt    time.Time // when the idle timeout ends the connection (zero: never)
}

// h2Stream is one request.
type h2Stream struct {
	c  *h2Conn
	id uint32

	// Under c.mu.
	sendWin    int64
	recvWin    int64
	remoteDone bool // END_STREAM received
	localDone  bool // END_STREAM or RST_STREAM sent
	gone       bool // reset, or the connection ended: what it sends is dropped
	credit     int64

	// Set by the reader before the handler starts.
	h       reqHead
	fields  []hfield
	length  int64 // content-length; -1: unknown
	got     int64 // body bytes received (reader only)
	v       verdict
	cl      *cluster
	path    string // the URL path, for admission
	start   time.Time
	hasBody bool
	expect  bool // Expect: 100-continue
	// trailer: the trailers the request declares (its Trailer field), as
	// http.Request.Trailer holds them: nil values until they come.
	trailer http.Header

	body  h2Body
	spool spool
	fwdc  fwdCache
	watch connWatch
	st    reqState
	sink  h2Sink
	fr    fwdReq
	head  [1024]byte
}

// serveH2 serves an HTTP/2 connection whose TLS handshake is done.
func (h *h1Server) serveH2(nc, tc net.Conn) {
	s := h.s
	c := &h2Conn{srv: h, s: s, nc: nc, tc: tc, streams: map[uint32]*h2Stream{},
		wake: make(chan struct{}, 1), sendConn: 65535, recvConn: h2ConnWindow, initWin: 65535, maxFrame: 16384}
	c.cond.L = &c.mu
	c.remote = nc.RemoteAddr().String()
	if ap, err := netip.ParseAddrPort(c.remote); err == nil {
		c.in.client = ap.Addr().Unmap()
		c.in.clientIP = c.in.client.String()
	}
	if ta, ok := nc.LocalAddr().(*net.TCPAddr); ok {
		c.in.port = portString(ta.Port)
	}
	c.in.h2 = true
	if !h.trackH2(c) {
		tc.Close()
		return
	}
	c.rd.c, c.rd.src = c, tc
	c.fr = c.newFramer(hpack.NewDecoder(4096, nil))
	c.henc = hpack.NewEncoder(&c.hbuf)
	c.serve()
}

// newFramer makes the connection's framer, with dec its HPACK decoder.
func (c *h2Conn) newFramer(dec *hpack.Decoder) *http2.Framer {
	fr := http2.NewFramer(h2Writer{c}, &c.rd)
	fr.SetReuseFrames()
	fr.SetMaxReadFrameSize(16384)
	fr.MaxHeaderListSize = uint32(c.s.cfg.MaxHeaderBytes)
	fr.ReadMetaHeaders = dec
	return fr
}

// h2Writer is where the framer writes: the queue, under c.mu.
type h2Writer struct{ c *h2Conn }

func (w h2Writer) Write(p []byte) (int, error) {
	c := w.c
	if c.out == nil {
		c.out = h2OutBufs.Get().(*[h2OutBuf]byte)[:0]
	}
	c.out = append(c.out, p...)
	return len(p), nil
}

// The writer's queues are pooled: a connection holds one only while it has
// frames to send.
const h2OutBuf = 16 << 10

var h2OutBufs = sync.Pool{New: func() any { return new([h2OutBuf]byte) }}

// h2Reader is what the framer reads from: the TLS connection through a
// buffer from the HTTP/1 loop's pool, which an idle connection gives back
// (see read). It notes whether its last read came short (what had arrived
// is read: a TLS record of up to 16 KiB ended), which is where a batch of
// frames ends for the new-streams rule (nginx counts per read event).
type h2Reader struct {
	c     *h2Conn
	src   io.Reader
	buf   *[h2ReadBuf]byte // nil while idle
	r, w  int              // buf[r:w] is read but not yet consumed
	short bool
	// frameStart: nothing of the next frame is read yet; a read that
	// has waited there until the stackRelease deadline returns
	// errH2Release (see idleWake).
	frameStart bool
	one        [1]byte
}

// errH2Release: the reader has waited stackRelease for a frame with no
// stream open.
var errH2Release = errors.New("http2 connection idle")

func (b *h2Reader) Read(p []byte) (int, error) {
	for b.r == b.w {
		var n int
		var err error
		var start time.Time
		if b.frameStart {
			start = time.Now()
		}
		if len(p) >= h2ReadBuf { // as bufio: past the buffer
			n, err = b.src.Read(p)
			b.short = n < len(p)
			if n > 0 {
				b.frameStart = false
				return n, err
			}
		} else {
			if b.buf == nil {
				b.buf = h1ReadBufs.Get().(*[h2ReadBuf]byte)
			}
			n, err = b.src.Read(b.buf[:])
			b.short = n < len(b.buf)
			b.r, b.w = 0, n
			if n > 0 {
				break // an error with data comes again on the next read
			}
		}
		if !isTimeout(err) {
			return 0, err
		}
		// Waited: not a deadline that passed while this goroutine was
		// busy with the frames before (the next may be there already).
		waited := b.frameStart && time.Since(start) >= stackRelease/2
		switch b.c.idleWake(b.frameStart, waited) {
		case wakeRelease:
			return 0, errH2Release
		case wakeTimeout:
			return 0, err
		}
	}
	b.frameStart = false
	n := copy(p, b.buf[b.r:b.w])
	b.r += n
	return n, nil
}

func (b *h2Reader) buffered() int { return b.w - b.r }

// release gives the buffer back to its pool when nothing is in it, or at
// once when the connection is done (all).
func (b *h2Reader) release(all bool) {
	if b.buf != nil && (all || b.r == b.w) {
		h1ReadBufs.Put(b.buf)
		b.buf, b.r, b.w = nil, 0, 0
	}
}

// kick tells the writer there is something to send, starting it when it
// is not running (under c.mu).
func (c *h2Conn) kick() {
	if !c.writing {
		c.writing = true
		go c.writeLoop()
		return
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// h2WriterLinger: a writer with nothing to send for this long ends, so
// that an idle connection holds one goroutine (the reader), as an idle
// HTTP/1 connection does.
const h2WriterLinger = 100 * time.Millisecond

// writeLoop sends what the streams queued, everything queued at once.
func (c *h2Conn) writeLoop() {
	wto := c.s.cfg.WriteTimeout
	var linger *time.Timer
	for {
		// The handler that woke the writer made it the next goroutine to
		// run: yielding once lets the other handlers that are ready queue
		// their frames too, so that one write carries them all.
		runtime.Gosched()
		c.mu.Lock()
		buf := c.out
		c.out = nil
		c.controls = 0
		if len(buf) == 0 {
			if c.closing {
				c.mu.Unlock()
				c.finish()
				return
			}
			c.mu.Unlock()
			if linger == nil {
				linger = time.NewTimer(h2WriterLinger)
			} else {
				linger.Reset(h2WriterLinger)
			}
			select {
			case <-c.wake:
				continue
			case <-linger.C:
			}
			c.mu.Lock()
			if len(c.out) == 0 && !c.closing {
				c.writing = false
				c.mu.Unlock()
				return
			}
			c.mu.Unlock()
			continue
		}
		c.mu.Unlock()
		if dl, ok := renew(c.wdl, wto); ok && wto > 0 {
			c.wdl = dl
			_ = c.nc.SetWriteDeadline(dl)
		}
		_, err := c.tc.Write(buf)
		if cap(buf) == h2OutBuf {
			h2OutBufs.Put((*[h2OutBuf]byte)(buf[:h2OutBuf]))
		}
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
		if err != nil {
			c.finish()
			return
		}
	}
}

// finish closes the connection: every stream still running sees it gone.
func (c *h2Conn) finish() {
	c.mu.Lock()
	c.closed, c.closing = true, true
	for _, st := range c.streams {
		c.forget(st)
	}
	c.queue = nil
	c.cond.Broadcast()
	linger := c.lingering
	c.mu.Unlock()
	if !linger {
		c.tc.Close() // else the reader closes it (readerDone)
	}
	c.srv.untrackH2(c)
}

// forget marks st gone and drops it from the streams (under c.mu).
func (c *h2Conn) forget(st *h2Stream) {
	st.gone, st.localDone, st.remoteDone = true, true, true
	st.watch.fire()
	st.body.fail(errStreamGone)
	c.dropBody(st)
	delete(c.streams, st.id)
	c.idleCheck()
}

// dropBody gives the connection's receive window back for what st's body
// holds unread, which no handler will read now (under c.mu): the client
// counted those bytes against the connection as well as the stream, and
// would otherwise have less to send with on every stream that ends so.
func (c *h2Conn) dropBody(st *h2Stream) {
	b := &st.body
	b.mu.Lock()
	n := int64(len(b.buf)-b.r) + st.credit
	b.buf, b.r = nil, 0
	b.mu.Unlock()
	st.credit = 0
	if n > 0 && !c.closing {
		c.recvConn += n
		_ = c.fr.WriteWindowUpdate(0, uint32(n))
		c.kick()
	}
}

// idleCheck, when no stream is left, arms the idle timeout, or ends a
// connection that is going away (under c.mu).
func (c *h2Conn) idleCheck() {
	if len(c.streams) > 0 || c.closing {
		return
	}
	if c.goAway || !c.srv.keepAlive.Load() {
		c.closeLocked(http2.ErrCodeNo)
		return
	}
	// The reader moves to a fresh goroutine once it has waited
	// stackRelease for the next frame (see read), then waits for idleAt.
	now := time.Now()
	if d := c.s.cfg.IdleTimeout; d > 0 {
		c.idleAt = now.Add(d)
	}
	c.releaseAfter(now)
}

// closeLocked sends GOAWAY (once) and has the writer close the connection
// after it (under c.mu).
func (c *h2Conn) closeLocked(code http2.ErrCode) {
	if c.closing {
		return
	}
	if !c.goAway || code != http2.ErrCodeNo {
		c.writeGoAway(code)
	}
	c.closing = true
	c.kick()
}

// writeGoAway queues a GOAWAY (under c.mu). Its last stream is the
// highest the client had opened when the first GOAWAY went: streams opened
// after it are not served, and a later GOAWAY must not name a higher one
// (RFC 9113 6.8), or the client would not retry them. (maxID is the
// reader's, written under c.mu too.)
func (c *h2Conn) writeGoAway(code http2.ErrCode) {
	if !c.goAway {
		c.goAway, c.lastID = true, c.maxID
	}
	_ = c.fr.WriteGoAway(c.lastID, code, nil)
	c.kick()
}

// shutdown starts a graceful close: GOAWAY, and the connection ends once
// its streams have.
func (c *h2Conn) shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.goAway {
		c.writeGoAway(http2.ErrCodeNo)
	}
	c.idleCheck()
}

// serve reads the client's preface and then its frames until the
// connection ends.
func (c *h2Conn) serve() {
	var pre [len(http2.ClientPreface)]byte
	if _, err := io.ReadFull(&c.rd, pre[:]); err != nil || string(pre[:]) != http2.ClientPreface {
		c.mu.Lock()
		c.closeLocked(http2.ErrCodeProtocol)
		c.mu.Unlock()
		c.readerDone(err == nil)
		return
	}
	c.mu.Lock()
	_ = c.fr.WriteSettings(
		http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: h2MaxStreams},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: h2StreamWindow},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: uint32(c.s.cfg.MaxHeaderBytes)},
	)
	_ = c.fr.WriteWindowUpdate(0, h2ConnWindow-65535)
	c.kick()
	c.mu.Unlock()
	c.read(false)
}

// readerDone: the reader has stopped, and the writer closes the connection
// once it has sent what is queued; after a connection error (linger) the
// reader closes it, lingering as net/http's HTTP/2 server does: closed at
// once with the client's input unread, the kernel would answer that input
// with a reset, which can reach the client before it has read the GOAWAY
// that says why, and with it the last stream it may retry above.
func (c *h2Conn) readerDone(linger bool) {
	c.rd.release(true)
	c.mu.Lock()
	c.closing = true
	c.lingering = linger
	c.kick()
	if !linger {
		c.mu.Unlock()
		return
	}
	for !c.closed {
		c.cond.Wait() // the writer has sent the GOAWAY (or failed)
	}
	c.mu.Unlock()
	// close_notify and a FIN, then what still comes is read and dropped
	// until the client closes, for at most h2Linger and h2LingerMax bytes.
	if cw, ok := c.tc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.tc.SetReadDeadline(time.Now().Add(h2Linger))
	_, _ = io.CopyN(io.Discard, c.tc, h2LingerMax)
	c.tc.Close()
}

// h2Linger and h2LingerMax bound how long and how much a connection closed
// on an error reads before it closes (net/http's goAwayTimeout is 1 s).
const (
	h2Linger    = time.Second
	h2LingerMax = 1 << 20
)

// read reads the client's frames until the connection ends, or until it
// has waited stackRelease for the next one with no stream open, when it
// goes on on a fresh goroutine (idle: waiting first, with no read buffer):
// this one's stack has grown with the TLS handshake and the requests, and
// an idle connection needs little, as in the HTTP/1 loop.
func (c *h2Conn) read(idle bool) {
	for {
		var err error
		if idle {
			idle = false
			err = c.await()
		}
		if c.rd.buffered() == 0 {
			if c.rd.short {
				c.newStreams = 0 // all that came is read: a new batch begins
			}
			c.rd.frameStart = true
		}
		if err == nil {
			var f http2.Frame
			if f, err = c.fr.ReadFrame(); err == nil {
				err = c.process(f)
			} else if err == errH2Release {
				c.rd.release(false)
				c.mu.Lock()
				// What has grown with the frames and streams so far (the
				// framer's buffers, to the largest frames read and
				// written) starts small again; no stream is open.
				c.fr = c.newFramer(c.fr.ReadMetaHeaders)
				c.hbuf = bytes.Buffer{}
				c.streams = map[uint32]*h2Stream{}
				c.mu.Unlock()
				go c.read(true)
				return
			}
		}
		if err == nil {
			continue
		}
		var se http2.StreamError
		var ce http2.ConnectionError
		switch {
		case errors.As(err, &se):
			c.mu.Lock()
			if se.StreamID%2 == 1 && se.StreamID > c.maxID {
				c.maxID = se.StreamID
			}
			c.mu.Unlock()
			if err = c.resetStream(se.StreamID, se.Code); err == nil {
				continue
			}
		case errors.Is(err, http2.ErrFrameTooLarge):
			err = http2.ConnectionError(http2.ErrCodeFrameSize)
		}
		c.mu.Lock()
		linger := false
		switch {
		case errors.As(err, &ce):
			c.closeLocked(http2.ErrCode(ce))
			linger = true
		case isTimeout(err) && len(c.streams) > 0 && !c.closing:
			c.mu.Unlock()
			continue // a stream began as the idle timeout expired
		case isTimeout(err):
			c.closeLocked(http2.ErrCodeNo)
		}
		c.mu.Unlock()
		c.readerDone(linger)
		return
	}
}

// await waits for the first byte of the client's next frame with no read
// buffer held.
func (c *h2Conn) await() error {
	for {
		n, err := c.rd.src.Read(c.rd.one[:])
		if n > 0 {
			b := &c.rd
			b.buf = h1ReadBufs.Get().(*[h2ReadBuf]byte)
			b.buf[0] = b.one[0]
			b.r, b.w = 0, 1
			return nil
		}
		if !isTimeout(err) || c.idleWake(false, false) == wakeTimeout {
			return err
		}
	}
}

// What idleWake makes of a read deadline that passed.
const (
	wakeTimeout = iota // the idle timeout (or another deadline): as before
	wakeRelease        // the reader has waited stackRelease: it moves
	wakeRetry          // read on: the deadline is moved
)

// idleWake sorts out a read deadline that passed (the reader's). With no
// stream open and the idle timeout still ahead, it was the stackRelease
// one that idleCheck set. A reader that waited that long for the next
// frame moves; one that was busy and found it passed waits stackRelease
// from now; within a frame, or on a fresh goroutine already, the idle
// timeout's deadline comes back.
func (c *h2Conn) idleWake(frameStart, waited bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.sawSettings || len(c.streams) > 0 || c.closing || !c.idleAt.IsZero() && !time.Now().Before(c.idleAt) {
		return wakeTimeout
	}
	if frameStart && !waited {
		c.releaseAfter(time.Now())
		return wakeRetry
	}
	_ = c.nc.SetReadDeadline(c.idleAt)
	if waited {
		return wakeRelease
	}
	return wakeRetry
}

// releaseAfter sets the read deadline stackRelease after now, or at the
// idle timeout if that comes first (under c.mu).
func (c *h2Conn) releaseAfter(now time.Time) {
	dl := now.Add(stackRelease)
	if !c.idleAt.IsZero() && c.idleAt.Before(dl) {
		dl = c.idleAt
	}
	_ = c.nc.SetReadDeadline(dl)
}

// process handles one frame (the reading goroutine).
func (c *h2Conn) process(f http2.Frame) error {
	if !c.sawSettings {
		sf, ok := f.(*http2.SettingsFrame)
		if !ok || sf.IsAck() {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		c.sawSettings = true
		_ = c.nc.SetReadDeadline(time.Time{})
		c.mu.Lock()
		c.idleCheck()
		c.mu.Unlock()
	}
	switch f := f.(type) {
	case *http2.SettingsFrame:
		return c.settings(f)
	case *http2.MetaHeadersFrame:
		return c.headers(f)
	case *http2.DataFrame:
		return c.data(f)
	case *http2.WindowUpdateFrame:
		return c.windowUpdate(f)
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		return c.control(func() error { return c.fr.WritePing(true, f.Data) })
	case *http2.RSTStreamFrame:
		return c.rstStream(f)
	case *http2.PriorityFrame:
		if f.StreamDep == f.StreamID {
			return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeProtocol}
		}
	case *http2.GoAwayFrame:
		c.shutdown()
	case *http2.PushPromiseFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	return nil
}

// control queues a frame the proxy owes the client (SETTINGS and PING
// acknowledgements, RST_STREAM): a client that has more than h2MaxControl
// of them queued without reading is cut. Counted are frames, not the bytes
// waiting, which a slow reader's DATA makes many.
func (c *h2Conn) control(write func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.controlLocked(write)
}

func (c *h2Conn) controlLocked(write func() error) error {
	if c.controls++; c.controls > h2MaxControl {
		return http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)
	}
	_ = write()
	c.kick()
	return nil
}

func (c *h2Conn) settings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	if f.NumSettings() > 100 {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	c.mu.Lock()
	// Applied in order: a value given twice ends as the last one (RFC
	// 9113 6.5.3).
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingInitialWindowSize:
			delta := int64(s.Val) - c.initWin
			c.initWin = int64(s.Val)
			for _, st := range c.streams {
				st.sendWin += delta
				if st.sendWin > 1<<31-1 {
					return http2.ConnectionError(http2.ErrCodeFlowControl)
				}
			}
			c.cond.Broadcast()
		case http2.SettingMaxFrameSize:
			c.maxFrame = s.Val
		case http2.SettingHeaderTableSize:
			c.henc.SetMaxDynamicTableSizeLimit(s.Val)
		}
		return nil
	})
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.control(c.fr.WriteSettingsAck)
}

func (c *h2Conn) windowUpdate(f *http2.WindowUpdateFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.StreamID == 0 {
		c.sendConn += int64(f.Increment)
		if c.sendConn > 1<<31-1 {
			return http2.ConnectionError(http2.ErrCodeFlowControl)
		}
		c.cond.Broadcast()
		return nil
	}
	st := c.streams[f.StreamID]
	if st == nil {
		if f.StreamID > c.maxID {
			return http2.ConnectionError(http2.ErrCodeProtocol) // idle
		}
		return nil // closed: allowed
	}
	st.sendWin += int64(f.Increment)
	if st.sendWin > 1<<31-1 {
		return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeFlowControl}
	}
	c.cond.Broadcast()
	return nil
}

func (c *h2Conn) rstStream(f *http2.RSTStreamFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.StreamID > c.maxID {
		return http2.ConnectionError(http2.ErrCodeProtocol) // idle
	}
	if st := c.streams[f.StreamID]; st != nil {
		c.forget(st)
	}
	return nil
}

// resetStream answers a stream error with RST_STREAM, as a control frame.
func (c *h2Conn) resetStream(id uint32, code http2.ErrCode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.streams[id]; st != nil {
		c.forget(st)
	}
	return c.controlLocked(func() error { return c.fr.WriteRSTStream(id, code) })
}

func (c *h2Conn) data(f *http2.DataFrame) error {
	id := f.StreamID
	n := int64(f.Length)
	c.mu.Lock()
	defer c.mu.Unlock()
	if n > c.recvConn {
		return http2.ConnectionError(http2.ErrCodeFlowControl)
	}
	st := c.streams[id]
	if id == 0 || st == nil && id > c.maxID {
		return http2.ConnectionError(http2.ErrCodeProtocol) // idle
	}
	if st == nil || st.remoteDone {
		// Closed, or half-closed (remote): the connection's credit comes
		// back, the stream is an error.
		if n > 0 {
			_ = c.fr.WriteWindowUpdate(0, uint32(n))
		}
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeStreamClosed}
	}
	if n > st.recvWin {
		_ = c.fr.WriteWindowUpdate(0, uint32(n))
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeFlowControl}
	}
	p := f.Data()
	if st.length >= 0 && st.got+int64(len(p)) > st.length {
		// RFC 9113 8.1.1: more than content-length is malformed; the
		// frame counted against the connection's window all the same.
		_ = c.fr.WriteWindowUpdate(0, uint32(n))
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
	}
	c.recvConn -= n
	st.recvWin -= n
	st.got += int64(len(p))
	if pad := n - int64(len(p)); pad > 0 {
		c.creditLocked(st, pad)
	}
	if len(p) > 0 {
		st.body.push(p)
	}
	if f.StreamEnded() {
		return c.endBody(st)
	}
	return nil
}

// endBody ends a request body: the client has sent END_STREAM (under c.mu).
func (c *h2Conn) endBody(st *h2Stream) error {
	if st.length >= 0 && st.got != st.length {
		return http2.StreamError{StreamID: st.id, Code: http2.ErrCodeProtocol}
	}
	st.remoteDone = true
	st.body.end()
	if st.localDone {
		delete(c.streams, st.id)
		c.idleCheck()
	}
	return nil
}

// creditLocked gives back receive window for n bytes of st's body that
// were consumed (under c.mu).
func (c *h2Conn) creditLocked(st *h2Stream, n int64) {
	c.recvConn += n
	_ = c.fr.WriteWindowUpdate(0, uint32(n))
	if !st.remoteDone && !st.gone {
		st.recvWin += n
		_ = c.fr.WriteWindowUpdate(st.id, uint32(n))
	}
	c.kick()
}

// credit is creditLocked for a handler, batched: the window opens again
// once a quarter of it is consumed, or the body is drained.
func (c *h2Conn) credit(st *h2Stream, n int, drained bool) {
	c.mu.Lock()
	st.credit += int64(n)
	if st.credit >= h2StreamWindow/4 || (drained || st.gone) && st.credit > 0 {
		c.creditLocked(st, st.credit)
		st.credit = 0
	}
	c.mu.Unlock()
}

// connHeaders are the fields RFC 9113 8.2.2 forbids in HTTP/2.
func connHeader(name string) bool {
	switch name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		return true
	}
	return false
}

// headers handles a HEADERS frame (with its CONTINUATIONs): a new request,
// or a request's trailers.
func (c *h2Conn) headers(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if id%2 != 1 {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	c.mu.Lock()
	st := c.streams[id]
	if st != nil {
		defer c.mu.Unlock()
		if st.remoteDone {
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeStreamClosed}
		}
		// Trailers end the body; those the request declared go on with it.
		if !f.StreamEnded() || len(f.PseudoFields()) > 0 {
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
		}
		if st.trailer != nil {
			st.body.trailers(f.RegularFields())
		}
		return c.endBody(st)
	}
	if id <= c.maxID {
		c.mu.Unlock()
		if f.StreamEnded() && len(f.PseudoFields()) == 0 {
			// Trailers for a stream that has closed (the proxy answered
			// and reset it before the body ended): a frame on a closed
			// stream (RFC 9113 5.1), not a new stream numbered wrong.
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeStreamClosed}
		}
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	c.maxID = id
	goAway := c.goAway
	open := len(c.streams)
	c.mu.Unlock()
	if goAway {
		return nil // after GOAWAY: not processed (RFC 9113 6.8)
	}
	if f.HasPriority() && f.Priority.StreamDep == id {
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
	}
	c.newStreams++
	if open >= h2MaxStreams || c.newStreams > h2NewStreamsAtOnce {
		if c.refused++; c.refused > h2MaxRefused {
			return http2.ConnectionError(http2.ErrCodeNo)
		}
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeRefusedStream}
	}
	st = h2Streams.Get().(*h2Stream)
	st.c, st.id, st.start = c, id, time.Now()
	if f.Truncated {
		st.v = refuseHeaderSize
	} else if err := st.request(f, c.s); err != nil {
		return err
	}
	c.mu.Lock()
	st.sendWin, st.recvWin = c.initWin, h2StreamWindow
	st.remoteDone = f.StreamEnded()
	c.streams[id] = st
	if len(c.streams) == 1 {
		_ = c.nc.SetReadDeadline(time.Time{})
	}
	c.mu.Unlock()
	if st.v != admitForward {
		// Answered here when the answer goes out at once, else by a
		// goroutine of its own: waiting for the windows would stop this
		// goroutine, which reads the WINDOW_UPDATE that opens them.
		if !st.answer(false) {
			go st.answer(true)
		}
		return nil
	}
	if st.expect && !st.remoteDone {
		// Owed to the client as a PING's answer is: counted with them.
		c.mu.Lock()
		err := c.controlLocked(func() error {
			c.writeHeaders(st, 100, nil, false)
			return nil
		})
		c.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return c.startHandler(st)
}

// refuseHeaderSize: the request's header list is over the limit (431).
const refuseHeaderSize verdict = 255

// request reads a request's pseudo-headers and fields, checks them as RFC
// 9113 8 says (a malformed request is a stream error), and asks admission.
func (st *h2Stream) request(f *http2.MetaHeadersFrame, s *Server) error {
	bad := http2.StreamError{StreamID: st.id, Code: http2.ErrCodeProtocol}
	method, scheme, authority, path := f.PseudoValue("method"), f.PseudoValue("scheme"), f.PseudoValue("authority"), f.PseudoValue("path")
	if f.PseudoValue("protocol") != "" {
		return bad
	}
	h := &st.h
	h.method, h.minor, h.length = method, 1, -1
	st.length = -1
	hosts := 0
	fields := make([]hfield, 0, len(f.Fields))
	for _, hf := range f.RegularFields() {
		switch {
		case connHeader(hf.Name):
			return bad
		case hf.Name == "te":
			if hf.Value != "trailers" {
				return bad
			}
		case hf.Name == "host":
			hosts++
			if authority == "" {
				authority = hf.Value
			} else if hf.Value != authority {
				return bad
			}
			continue
		case hf.Name == "content-length":
			n, err := strconv.ParseInt(hf.Value, 10, 64)
			if err != nil || n < 0 || st.length >= 0 && st.length != n {
				return bad
			}
			st.length = n
		case hf.Name == "expect":
			// Answered here (100 Continue) and not sent on: the body is
			// read before a backend is asked.
			st.expect = st.expect || hasToken(hf.Value, "100-continue")
			continue
		case hf.Name == "trailer":
			// As net/http's server: only fields that may be trailers.
			for tok := range strings.SplitSeq(hf.Value, ",") {
				if k := textproto.CanonicalMIMEHeaderKey(textproto.TrimString(tok)); k != "" && httpguts.ValidTrailerHeader(k) {
					if st.trailer == nil {
						st.trailer = http.Header{}
					}
					st.trailer[k] = nil
				}
			}
		case hf.Name == "cookie":
			h.cookie = true
		case hf.Name == "via" || hf.Name == "forwarded" || strings.HasPrefix(hf.Name, "x-forwarded-"):
			h.fwd = true
		}
		fields = append(fields, hfield{name: textproto.CanonicalMIMEHeaderKey(hf.Name), value: hf.Value})
	}
	if hosts > 1 {
		return bad
	}
	if method == http.MethodConnect {
		if path != "" || scheme != "" || authority == "" {
			return bad
		}
		h.fields, h.host, h.target = fields, authority, authority
		st.v, _ = s.admit(admitIn{method: method, host: authority})
		if st.v == admitForward {
			st.v = refuseMethod // CONNECT is not tunnelled over HTTP/2
		}
		return nil
	}
	if method == "" || path == "" || scheme != "https" && scheme != "http" {
		return bad
	}
	target := path
	if path[0] != '/' && path != "*" {
		// Absolute form: the host it names wins, as for HTTP/1.
		u, err := url.ParseRequestURI(path)
		if err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
			return bad
		}
		authority = u.Host
		target = u.RequestURI()
	}
	if authority == "" || strings.IndexByte(authority, '@') >= 0 || !httpguts.ValidHostHeader(authority) {
		return bad
	}
	if f.StreamEnded() && st.length > 0 {
		return bad
	}
	st.hasBody = !f.StreamEnded()
	if st.hasBody {
		st.body.ready = make(chan struct{}, 1) // before any DATA: the reader signals on it
	}
	h.fields, h.host, h.target = fields, authority, target
	if st.hasBody {
		h.length = st.length
	} else {
		h.length, st.length = -1, 0
	}
	if st.length >= 0 {
		// A body of known length goes with its Content-Length, which
		// leaves HTTP/1.1 no place for trailers (they follow a chunked
		// body only): they are dropped, as net/http's Transport drops a
		// request's trailers when its ContentLength is set.
		st.trailer = nil
	}
	p, _, _ := strings.Cut(target, "?")
	if strings.IndexByte(p, '%') >= 0 {
		if u, err := url.PathUnescape(p); err == nil {
			p = u
		}
	}
	st.path = p
	var via []string
	if h.fwd {
		via = fieldValues(fields, "Via")
	}
	st.v, st.cl = s.admit(admitIn{path: p, method: method, host: authority, via: via})
	return nil
}

// answer sends what the proxy answers itself: the health path, a refused
// request, a header list over the limit. Without wait (the reading
// goroutine) it sends nothing unless the windows and the queue take the
// whole answer now, and reports whether it was sent.
func (st *h2Stream) answer(wait bool) bool {
	s := st.c.s
	var code int
	var text string
	var extra []hfield
	switch st.v {
	case admitHealth:
		code, text = s.healthStatus()
		extra = []hfield{{"cache-control", "no-store"}}
	case refuseHeaderSize:
		code, text = http.StatusRequestHeaderFieldsTooLarge, "request header fields too large\n"
	default:
		var allow string
		code, text, allow = refusal(st.v, st.h.method)
		text += "\n"
		if allow != "" {
			extra = []hfield{{"allow", allow}}
		}
	}
	k := &h2Sink{st: st, head: st.h.method == http.MethodHead}
	if wait {
		k.simple(code, text, extra)
	} else if !k.simpleNow(code, text, extra) {
		return false
	}
	if st.v == refuseLoop {
		s.log.Warn("request looped back to this proxy: does a backend point at the proxy itself?", "host", st.h.host, "uri", st.h.target)
	}
	s.metrics.observe(code, 0)
	st.done(nil)
	st.release()
	return true
}

// startHandler runs a proxied request's handler, or queues it while
// h2MaxStreams handlers run.
func (c *h2Conn) startHandler(st *h2Stream) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running < h2MaxStreams {
		c.running++
		dispatch(st)
		return nil
	}
	if len(c.queue) >= h2MaxQueuedStreams {
		return http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)
	}
	c.queue = append(c.queue, st)
	return nil
}

// handlerDone starts the next queued handler whose stream is still there.
func (c *h2Conn) handlerDone() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.queue) > 0 {
		st := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		if !st.gone {
			dispatch(st)
			return
		}
	}
	c.running--
}

// h2Work hands streams to idle handler goroutines. A goroutine that has
// served a request keeps its grown stack for the next one instead of
// growing a new goroutine's stack again (runtime.newstack was 8 % of the
// proxy's CPU under h2load with a goroutine per request); one idle for
// h2WorkerIdle ends.
var h2Work = make(chan *h2Stream)

const h2WorkerIdle = 2 * time.Second

func dispatch(st *h2Stream) {
	select {
	case h2Work <- st:
	default:
		go h2Worker(st)
	}
}

func h2Worker(st *h2Stream) {
	idle := time.NewTimer(h2WorkerIdle)
	defer idle.Stop()
	for {
		st.run()
		st.release()
		idle.Reset(h2WorkerIdle)
		select {
		case st = <-h2Work:
		case <-idle.C:
			return
		}
	}
}

// run proxies one request (a handler goroutine).
func (st *h2Stream) run() {
	defer st.c.handlerDone()
	c := st.c
	s := c.s
	h := &st.h
	rs := &st.st
	cl := st.cl
	var cookies []string
	if h.cookie && cl.sticky {
		cookies = fieldValues(h.fields, "Cookie")
	}
	s.newState(rs, cl, true, c.in.client, "", cookies)
	rs.watch = &st.watch
	// No headBuf: the response's fields go into the connection's HPACK
	// table, which keeps them past this request; they must not be strings
	// over a buffer of the request's.
	k := &st.sink
	*k = h2Sink{st: st, head: h.method == http.MethodHead}
	fr := &st.fr
	*fr = fwdReq{method: h.method, uri: h.target, host: h.host, length: max(st.length, 0)}
	if st.hasBody {
		st.body.st = st
		st.body.timeout = s.cfg.BodyTimeout
		fr.length = st.length // -1: sent chunked unless buffered
		fr.body = &countingBody{rc: &st.body}
		fr.trailer = st.trailer
	}
	// The connection's Forwarded cache is shared by its handlers: each
	// works on a copy.
	in := c.in
	in.host = h.host
	c.mu.Lock()
	st.fwdc = c.fwdc
	c.mu.Unlock()
	in.cache = &st.fwdc
	fr.head = s.appendH1Head(st.head[:0], h, rs, &in)
	c.mu.Lock()
	c.fwdc = st.fwdc
	c.mu.Unlock()
	var err error
	if fr.body != nil && !s.cfg.UnbufferedRequests && !cl.cfg.UnbufferedRequests {
		sp := &st.spool
		if berr := s.bufferBody(sp, &st.body, st.length); berr != nil {
			s.bodyFailed(k, rs, h.method, h.target, berr)
		} else {
			defer sp.Close()
			fr.body.rc = sp
			if sp.rest == nil && fr.trailer == nil {
				// Whole: sent with its length, unless it has trailers,
				// which need it chunked.
				fr.length = sp.size()
				if fr.length == 0 {
					fr.body = nil
				}
			}
		}
	}
	if st.watch.gone() {
		rs.code = 499 // reset before its turn: no backend is asked
	}
	if rs.code == 0 && k.code == 0 {
		err = s.forward(k, fr, rs)
	}
	code := s.account(rs, k.code, k.bytes, st.start, err != nil, accessLine{client: c.remote, method: h.method,
		host: h.host, uri: h.target, proto: "HTTP/2.0"})
	if code == 499 && err == nil {
		err = errStreamGone
	}
	st.done(err)
}

// done ends the stream from the proxy's side: END_STREAM when the
// response is whole, else RST_STREAM; a request body still coming is
// refused with RST_STREAM NO_ERROR (RFC 9113 8.1).
func (st *h2Stream) done(err error) {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.gone {
		return
	}
	switch {
	case err != nil:
		_ = c.fr.WriteRSTStream(st.id, http2.ErrCodeInternal)
		c.forget(st)
	case !st.localDone:
		_ = c.fr.WriteData(st.id, true, nil)
		st.localDone = true
		fallthrough
	default:
		if !st.remoteDone {
			_ = c.fr.WriteRSTStream(st.id, http2.ErrCodeNo)
			c.forget(st)
		} else {
			c.dropBody(st)
			delete(c.streams, st.id)
			c.idleCheck()
		}
	}
	c.kick()
}

// h2Streams recycles the streams' state (a few KiB each).
var h2Streams = sync.Pool{New: func() any { return new(h2Stream) }}

// release gives back a stream that is done: answered or reset, out of its
// connection's streams and queue, its handler returned. Nothing refers to
// it any more (the HPACK tables hold no strings over its buffers: see run).
func (st *h2Stream) release() {
	*st = h2Stream{}
	h2Streams.Put(st)
}

// h2Body is a request body: the reader pushes what DATA frames carry, the
// handler reads it, and the windows open as it does.
type h2Body struct {
	st      *h2Stream
	timeout time.Duration
	mu      sync.Mutex
	buf     []byte
	r       int
	eof     bool
	err     error
	ready   chan struct{}
	// trailer: the trailers received, under mu, until Read meets the end
	// and moves those declared into st.trailer (the handler's, as
	// fwdReq.trailer).
	trailer []hpack.HeaderField
}

// trailers keeps the trailing fields the client sent (the reader).
func (b *h2Body) trailers(fields []hpack.HeaderField) {
	b.mu.Lock()
	b.trailer = fields
	b.mu.Unlock()
}

// moveTrailers puts the trailers received in the declared set: those
// not declared are dropped, as net/http's server drops them (the handler,
// under b.mu).
func (b *h2Body) moveTrailers() {
	if b.st == nil || b.st.trailer == nil {
		return
	}
	for _, f := range b.trailer {
		k := textproto.CanonicalMIMEHeaderKey(f.Name)
		if vv, ok := b.st.trailer[k]; ok {
			b.st.trailer[k] = append(vv, f.Value)
		}
	}
	b.trailer = nil
}

func (b *h2Body) signal() {
	select {
	case b.ready <- struct{}{}:
	default:
	}
}

func (b *h2Body) push(p []byte) {
	b.mu.Lock()
	if b.err == nil {
		b.buf = append(b.buf, p...)
	}
	b.mu.Unlock()
	b.signal()
}

func (b *h2Body) end() {
	b.mu.Lock()
	b.eof = true
	b.mu.Unlock()
	b.signal()
}

func (b *h2Body) fail(err error) {
	b.mu.Lock()
	if b.err == nil && !b.eof {
		b.err = err
	}
	b.mu.Unlock()
	b.signal()
}

func (b *h2Body) Read(p []byte) (int, error) {
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		b.mu.Lock()
		if b.r < len(b.buf) {
			n := copy(p, b.buf[b.r:])
			b.r += n
			drained := b.r == len(b.buf)
			if drained {
				b.buf, b.r = b.buf[:0], 0
			}
			b.mu.Unlock()
			b.st.c.credit(b.st, n, drained)
			return n, nil
		}
		err := b.err
		if err == nil && b.eof {
			err = io.EOF
			b.moveTrailers()
		}
		b.mu.Unlock()
		if err != nil {
			return 0, err
		}
		if t == nil && b.timeout > 0 {
			t = time.NewTimer(b.timeout)
		}
		var expired <-chan time.Time
		if t != nil {
			expired = t.C
		}
		select {
		case <-b.ready:
		case <-expired:
			return 0, os.ErrDeadlineExceeded
		}
	}
}

// h2Sink writes a forwarded response on a stream.
type h2Sink struct {
	st    *h2Stream
	head  bool  // a HEAD request
	left  int64 // body bytes the response still announces; -1: unknown
	code  int
	bytes int64
}

// writeHeaders encodes and queues a HEADERS frame (and CONTINUATIONs)
// with :status (none when code is 0: trailers) and fields (under c.mu).
// What is encoded is always sent: the client's HPACK table must see every
// field the proxy's table took in.
func (c *h2Conn) writeHeaders(st *h2Stream, code int, fields []hfield, end bool) {
	if st.gone {
		return
	}
	c.hbuf.Reset()
	if code != 0 {
		_ = c.henc.WriteField(hpack.HeaderField{Name: ":status", Value: statusString(code)})
	}
	for _, f := range fields {
		_ = c.henc.WriteField(hpack.HeaderField{Name: lowerName(f.name), Value: f.value})
	}
	block := c.hbuf.Bytes()
	lim := int(c.maxFrame)
	first := block
	if len(first) > lim {
		first = first[:lim]
	}
	block = block[len(first):]
	_ = c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: st.id, BlockFragment: first, EndStream: end, EndHeaders: len(block) == 0})
	for len(block) > 0 {
		frag := block[:min(len(block), lim)]
		block = block[len(frag):]
		_ = c.fr.WriteContinuation(st.id, len(block) == 0, frag)
	}
	if end {
		st.localDone = true
	}
	c.kick()
}

// writeData queues p as DATA frames as the windows allow, waiting for them
// to open (within WriteTimeout).
func (c *h2Conn) writeData(st *h2Stream, p []byte, end bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var deadline time.Time
	var wakeAt *time.Timer
	defer func() {
		if wakeAt != nil {
			wakeAt.Stop()
		}
	}()
	for {
		if st.gone || c.closed {
			return errStreamGone
		}
		n := int64(len(p))
		n = min(n, int64(c.maxFrame), st.sendWin, c.sendConn)
		if n <= 0 && len(p) > 0 || len(c.out) > h2MaxQueued {
			if deadline.IsZero() {
				wto := c.s.cfg.WriteTimeout
				if wto <= 0 {
					wto = time.Hour
				}
				deadline = time.Now().Add(wto)
				wakeAt = time.AfterFunc(wto, func() {
					c.mu.Lock()
					c.cond.Broadcast()
					c.mu.Unlock()
				})
			} else if time.Now().After(deadline) {
				return os.ErrDeadlineExceeded
			}
			c.kick()
			c.cond.Wait()
			continue
		}
		n = max(n, 0)
		last := end && n == int64(len(p))
		c.queueData(st, p[:n], last)
		p = p[n:]
		if len(p) == 0 {
			c.kick()
			return nil
		}
	}
}

// queueData queues p as one DATA frame, which the windows allow (under
// c.mu).
func (c *h2Conn) queueData(st *h2Stream, p []byte, end bool) {
	_ = c.fr.WriteData(st.id, end, p)
	st.sendWin -= int64(len(p))
	c.sendConn -= int64(len(p))
	if end {
		st.localDone = true
	}
}

func (k *h2Sink) inform(rh *respHead) error {
	c := k.st.c
	var buf [16]hfield
	fields := buf[:0]
	for _, f := range rh.fields {
		if !hopField(f.name) {
			fields = append(fields, f)
		}
	}
	return c.sendHeaders(k.st, rh.code, fields, false)
}

// sendHeaders is writeHeaders for a handler: errStreamGone when the stream
// has gone.
func (c *h2Conn) sendHeaders(st *h2Stream, code int, fields []hfield, end bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeHeaders(st, code, fields, end)
	if st.gone {
		return errStreamGone
	}
	return nil
}

func (k *h2Sink) header(rh *respHead, setCookie, via string) error {
	k.code = rh.code
	var buf [32]hfield
	fields := buf[:0]
	for _, f := range rh.fields {
		switch {
		case len(f.name) == 14 && equalFold(f.name, "Content-Length"):
			continue // added below
		case len(f.name) == 7 && equalFold(f.name, "Trailer"):
			if !rh.chunked {
				continue
			}
		case hopField(f.name) || rh.conn && listedIn(rh.fields, f.name):
			continue
		}
		fields = append(fields, f)
	}
	if setCookie != "" {
		fields = append(fields, hfield{"set-cookie", setCookie})
	}
	fields = append(fields, hfield{"via", via})
	if !rh.date {
		fields = append(fields, hfield{"date", httpDate()})
	}
	k.left = -1
	if rh.hasCL && !rh.chunked {
		k.left = rh.length
		fields = append(fields, hfield{"content-length", strconv.FormatInt(rh.length, 10)})
	}
	end := k.head || rh.code == 204 || rh.code == 304 || k.left == 0
	return k.st.c.sendHeaders(k.st, rh.code, fields, end)
}

func (k *h2Sink) write(p []byte) error {
	if k.head || len(p) == 0 {
		return nil
	}
	end := false
	if k.left >= 0 {
		if int64(len(p)) > k.left {
			p = p[:k.left]
		}
		k.left -= int64(len(p))
		end = k.left == 0
	}
	k.bytes += int64(len(p))
	return k.st.c.writeData(k.st, p, end)
}

func (k *h2Sink) flush() error { return nil } // the writer sends what is queued

func (k *h2Sink) trailers(fields []hfield) error {
	c := k.st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if k.st.gone || k.st.localDone {
		return nil
	}
	c.writeHeaders(k.st, 0, fields, true)
	return nil
}

func (k *h2Sink) fail(code int) {
	k.simple(code, http.StatusText(code)+"\n", nil)
}

// simple sends a whole plain-text response.
func (k *h2Sink) simple(code int, text string, extra []hfield) {
	fields := k.simpleHead(code, text, extra)
	c := k.st.c
	_ = c.sendHeaders(k.st, code, fields, k.head)
	if !k.head {
		k.bytes += int64(len(text))
		_ = c.writeData(k.st, []byte(text), true)
	}
}

// simpleNow is simple for the reading goroutine, which must not wait: it
// sends the whole response if the windows and the queue take it now, in
// one hold of c.mu (a handler could take the window between a check and
// the write), and reports whether it did.
func (k *h2Sink) simpleNow(code int, text string, extra []hfield) bool {
	fields := k.simpleHead(code, text, extra)
	st, c := k.st, k.st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	n := int64(len(text))
	if k.head {
		n = 0
	}
	if n > min(st.sendWin, c.sendConn, int64(c.maxFrame)) || len(c.out) > h2MaxQueued {
		return false
	}
	c.writeHeaders(st, code, fields, k.head)
	if !k.head && !st.gone {
		k.bytes += n
		c.queueData(st, []byte(text), true)
	}
	return true
}

// simpleHead returns a plain-text response's fields.
func (k *h2Sink) simpleHead(code int, text string, extra []hfield) []hfield {
	k.code = code
	return append(extra, hfield{"content-type", "text/plain; charset=utf-8"},
		hfield{"content-length", strconv.Itoa(len(text))}, hfield{"date", httpDate()})
}

// statusString is a status code's decimal form, without allocating for
// the common ones.
func statusString(code int) string {
	switch code {
	case 200:
		return "200"
	case 204:
		return "204"
	case 206:
		return "206"
	case 301:
		return "301"
	case 302:
		return "302"
	case 304:
		return "304"
	case 400:
		return "400"
	case 404:
		return "404"
	case 500:
		return "500"
	case 502:
		return "502"
	case 503:
		return "503"
	}
	return strconv.Itoa(code)
}

// lowerName is a field name in lower case (HTTP/2 sends no other),
// without allocating when it already is.
func lowerName(name string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			if l, ok := commonLower[name]; ok {
				return l
			}
			return strings.ToLower(name)
		}
	}
	return name
}

var commonLower = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{"Accept-Ranges", "Age", "Cache-Control", "Content-Encoding", "Content-Language",
		"Content-Length", "Content-Location", "Content-Range", "Content-Type", "Date", "Etag", "ETag", "Expires",
		"Last-Modified", "Link", "Location", "Retry-After", "Server", "Set-Cookie", "Strict-Transport-Security",
		"Vary", "Via", "Www-Authenticate", "WWW-Authenticate", "X-Content-Type-Options", "X-Frame-Options",
		"Access-Control-Allow-Origin", "Allow", "Pragma", "Referrer-Policy", "Content-Security-Policy"} {
		m[n] = strings.ToLower(n)
	}
	return m
}()
