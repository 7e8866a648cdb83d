// Package rawio is jksproxy's socket layer on Linux: Wrap gives a TCP
// connection reads and writes by raw system calls, with reads that wait on
// the package's own epoll queue and are woken in the order their data
// arrived; PeekAlive tells whether an idle connection is still open with
// one non-blocking peek. Elsewhere both leave things as net does them.
//
// It knows nothing of HTTP or of the proxy: it imports only the standard
// library.
package rawio
