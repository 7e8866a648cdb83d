package proxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Request-body buffering (on unless Config.UnbufferedRequests): a request
// body is read whole before a backend connection is taken, as nginx's
// proxy_request_buffering does, so a slow client costs the proxy memory
// and a goroutine, never an application server's worker thread. The first
// RequestBufferMemory bytes stay in memory, grown as data arrives (a client
// that announces 1 MiB and sends 1 byte costs a few KiB); the rest, up to
// RequestBufferLimit, goes to a private temporary file (0600, removed as
// soon as it is created). A body larger than RequestBufferLimit streams
// through, and must keep up MinBodyRate.

// Defaults of the request-body buffering.
const (
	DefaultRequestBufferMemory = 1 << 20
	DefaultRequestBufferLimit  = 64 << 20
	DefaultMinBodyRate         = 4 << 10
	// minRateGrace: a streamed body is held to MinBodyRate from this long
	// after it began (Kestrel's MinRequestBodyDataRate has 5 s too).
	minRateGrace = 5 * time.Second
	// firstBodyChunk is the memory a buffered body starts with.
	firstBodyChunk = 16 << 10
)

// spool is a buffered request body: mem, then the file's first fileLen
// bytes, then (a body over the limit) the rest still to be read from the
// client. It lives in the request's pooled state.
type spool struct {
	mem     []byte
	chunk   *[firstBodyChunk]byte // the pooled array under mem (nil: none)
	file    *os.File
	fileLen int64
	rest    io.Reader // nil: the body is whole
	off     int64     // read so far of mem and the file
}

var bodyChunks = sync.Pool{New: func() any { return new([firstBodyChunk]byte) }}

// size is the length of the buffered part.
func (sp *spool) size() int64 { return int64(len(sp.mem)) + sp.fileLen }

func (sp *spool) Read(p []byte) (int, error) {
	if m := int64(len(sp.mem)); sp.off < m {
		n := copy(p, sp.mem[sp.off:])
		sp.off += int64(n)
		return n, nil
	} else if sp.file != nil && sp.off < m+sp.fileLen {
		p = p[:min(int64(len(p)), m+sp.fileLen-sp.off)]
		n, err := sp.file.ReadAt(p, sp.off-m)
		sp.off += int64(n)
		if err == io.EOF && n > 0 {
			err = nil
		}
		return n, err
	}
	if sp.rest != nil {
		return sp.rest.Read(p)
	}
	return 0, io.EOF
}

// Close gives back what the body held (its file is already unlinked).
func (sp *spool) Close() error {
	var err error
	if sp.file != nil {
		err = sp.file.Close()
	}
	if sp.chunk != nil {
		bodyChunks.Put(sp.chunk)
	}
	*sp = spool{}
	return err
}

// bufferBody reads a request body of length bytes (-1: unknown) from src
// into sp. An error is the client's (wrapped in clientBodyError) or the
// temporary file's; on error nothing is left behind.
func (s *Server) bufferBody(sp *spool, src io.Reader, length int64) error {
	cfg := &s.cfg
	if length == 0 {
		return nil
	}
	if length > cfg.RequestBufferLimit {
		// Too large to hold: it streams, held to the minimum rate.
		sp.rest = newRateReader(src, cfg.MinBodyRate)
		return nil
	}
	memMax := cfg.RequestBufferMemory
	first := min(firstBodyChunk, memMax)
	if length >= 0 {
		first = min(first, length)
	}
	sp.chunk = bodyChunks.Get().(*[firstBodyChunk]byte)
	sp.mem = sp.chunk[:0:first]
	// Memory first, grown as the body arrives.
	for int64(len(sp.mem)) < memMax {
		if len(sp.mem) == cap(sp.mem) {
			grown := make([]byte, len(sp.mem), min(2*int64(cap(sp.mem)), memMax))
			copy(grown, sp.mem)
			sp.mem = grown
		}
		want := int64(cap(sp.mem))
		if length >= 0 {
			want = min(want, length)
		}
		n, err := src.Read(sp.mem[len(sp.mem):want])
		sp.mem = sp.mem[:len(sp.mem)+n]
		if length >= 0 && int64(len(sp.mem)) == length {
			return nil
		}
		if err == io.EOF {
			if length >= 0 {
				sp.Close()
				return &clientBodyError{io.ErrUnexpectedEOF}
			}
			return nil
		}
		if err != nil {
			sp.Close()
			return &clientBodyError{err}
		}
	}
	// Then a file, up to the limit. Without one (a read-only or full
	// temporary directory), the rest streams: the request is served as
	// with buffering off rather than refused.
	f, err := os.CreateTemp(cfg.TempDir, "jksproxy-body-*")
	if err != nil {
		s.log.Warn("request body streams: no temporary file for it", "err", err)
		sp.rest = newRateReader(src, cfg.MinBodyRate)
		return nil
	}
	sp.file = f
	if err := os.Remove(f.Name()); err != nil {
		sp.Close()
		return fmt.Errorf("buffering request body: %w", err)
	}
	fileMax := cfg.RequestBufferLimit - memMax
	if length >= 0 {
		fileMax = length - memMax
	}
	bp := copyBuffers.Get().(*[copyBufSize]byte)
	defer copyBuffers.Put(bp)
	n, err := copyN(f, src, fileMax, bp[:])
	sp.fileLen = n
	var fe *fileError
	switch {
	case errors.As(err, &fe):
		sp.Close()
		return fmt.Errorf("buffering request body: %w", fe.err)
	case err == io.EOF && length < 0:
		return nil
	case err == io.EOF:
		sp.Close()
		return &clientBodyError{io.ErrUnexpectedEOF}
	case err != nil:
		sp.Close()
		return &clientBodyError{err}
	case length < 0:
		// The limit is reached: what is left streams.
		sp.rest = newRateReader(src, cfg.MinBodyRate)
	}
	return nil
}

type fileError struct{ err error }

func (e *fileError) Error() string { return e.err.Error() }

// copyN copies up to n bytes from src to f; io.EOF when src ended first,
// a *fileError when f failed.
func copyN(f *os.File, src io.Reader, n int64, buf []byte) (int64, error) {
	var done int64
	for done < n {
		p := buf[:min(int64(len(buf)), n-done)]
		k, err := src.Read(p)
		if k > 0 {
			if _, werr := f.Write(p[:k]); werr != nil {
				return done, &fileError{werr}
			}
			done += int64(k)
		}
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// rateReader fails a body that, minRateGrace after it began, has arrived at
// less than min bytes a second on average (0: no minimum).
type rateReader struct {
	r     io.Reader
	min   int64
	start time.Time
	n     int64
}

func newRateReader(r io.Reader, min int64) io.Reader {
	if min <= 0 {
		return r
	}
	return &rateReader{r: r, min: min, start: time.Now()}
}

func (rr *rateReader) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	rr.n += int64(n)
	if err == nil {
		if el := time.Since(rr.start); el > minRateGrace && float64(rr.n) < float64(rr.min)*el.Seconds() {
			return n, errBodyTooSlow
		}
	}
	return n, err
}

// bodyFailed answers a request whose body could not be buffered: the
// client's fault (see blame), counted as such, or the proxy's own (its
// temporary file failed): 500.
func (s *Server) bodyFailed(k sink, st *reqState, method, uri string, err error) {
	var ce *clientBodyError
	if !errors.As(err, &ce) {
		s.log.Error("proxy error", "cluster", st.cl.cfg.Name, "method", strings.Clone(method),
			"uri", strings.Clone(uri), "status", http.StatusInternalServerError, "err", err)
		st.closeAfter = true
		k.fail(http.StatusInternalServerError)
		return
	}
	f := blame(err, st.clientGone())
	s.metrics.clientFault(f)
	s.failed(k, st, method, uri, f, err)
}
