// Command backend is the HTTP server every proxy in bench/proxy.sh forwards to: plain
// HTTP/1.1 with keep-alive, one fixed 1 KiB body for every path, no logging, so that the
// backend costs as little CPU per request as possible and the same for every proxy.
//
//	backend -listen 127.0.0.1:PORT [-size 1024]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "listen `ADDR`")
	size := flag.Int("size", 1024, "response body size in bytes")
	flag.Parse()
	body := bytes.Repeat([]byte("x"), *size)
	length := []string{strconv.Itoa(len(body))}
	ctype := []string{"text/plain"}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr["Content-Length"] = length
		hdr["Content-Type"] = ctype
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "backend: %v\n", err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute, ErrorLog: nil}
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintf(os.Stderr, "backend: %v\n", err)
		os.Exit(1)
	}
}
