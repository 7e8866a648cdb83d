// Command backend is the HTTP server every proxy in bench/proxy.sh forwards to: plain
// HTTP/1.1 with keep-alive, one fixed 1 KiB body for every path, no logging, so that the
// backend costs as little CPU per request as possible and the same for every proxy.
//
// It shares its CPU with the load generator, so whatever it spends is taken from the
// client: a net/http server here cost about 18 µs per request, which left the client core
// saturated while the proxies under test idled at 70-80 %, and the req/s figures then
// measured the client more than the proxies. It answers with a minimal HTTP/1.1 loop
// instead: a request head is read up to its empty line, a Content-Length body is skipped,
// and the fixed response is written in one call; anything it does not understand
// (chunked uploads, heads over 64 KiB) closes the connection.
//
//	backend -listen 127.0.0.1:PORT [-size 1024]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "listen `ADDR`")
	size := flag.Int("size", 1024, "response body size in bytes")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "backend: %v\n", err)
		os.Exit(1)
	}
	body := bytes.Repeat([]byte("x"), *size)
	setResponse(body)
	go func() {
		for {
			time.Sleep(time.Second)
			setResponse(body)
		}
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "backend: %v\n", err)
			os.Exit(1)
		}
		go serve(c)
	}
}

// response holds the whole answer, Date included; it is renewed every second.
var response atomic.Pointer[[]byte]

func setResponse(body []byte) {
	r := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: " +
		time.Now().UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT") +
		"\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	r = append(r, body...)
	response.Store(&r)
}

var (
	crlf2     = []byte("\r\n\r\n")
	clName    = []byte("\ncontent-length:")
	closeTok  = []byte("\nconnection: close")
	chunkedTE = []byte("\ntransfer-encoding:")
)

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 64<<10)
	lower := make([]byte, 0, 1024)
	r, w := 0, 0
	for {
		i := bytes.Index(buf[r:w], crlf2)
		if i < 0 {
			if r > 0 {
				w = copy(buf, buf[r:w])
				r = 0
			}
			if w == len(buf) {
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Minute))
			n, err := c.Read(buf[w:])
			if n == 0 && err != nil {
				return
			}
			w += n
			continue
		}
		head := buf[r : r+i+2]
		r += i + 4
		lower = append(lower[:0], head...)
		for k, b := range lower {
			if 'A' <= b && b <= 'Z' {
				lower[k] = b + 'a' - 'A'
			}
		}
		if bytes.Contains(lower, chunkedTE) {
			return
		}
		skip := 0
		if j := bytes.Index(lower, clName); j >= 0 {
			v := lower[j+len(clName):]
			v = v[:bytes.IndexByte(v, '\r')]
			n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil || n < 0 {
				return
			}
			skip = n
		}
		closing := bytes.Contains(lower, closeTok)
		for skip > 0 {
			if r == w {
				r, w = 0, 0
				n, err := c.Read(buf)
				if n == 0 && err != nil {
					return
				}
				w = n
			}
			k := min(skip, w-r)
			r += k
			skip -= k
		}
		if _, err := c.Write(*response.Load()); err != nil || closing {
			return
		}
	}
}
