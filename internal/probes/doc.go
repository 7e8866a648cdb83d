// Package probes is a suite of hostile and edge-case HTTP/1 and HTTP/2
// requests for a reverse proxy, with the outcome jksproxy is expected to give.
//
// Each Probe is defined once: its name, the bytes (HTTP/1) or frames (HTTP/2)
// it sends, and what jksproxy should do with it (Expect). Run sends a probe to
// a Target (a proxy in front of two Recorder backends) and classifies what
// happened into a Result: the statuses the client got, whether the connection
// was closed, what the backends received, and whether both backends still
// take requests afterwards. Expect.Check compares the two.
//
// The same probes are asserted against the built jksproxy in
// cmd/jksproxy's tests and run against nginx and HAProxy by bench/probes,
// which writes the side-by-side table bench/probes-results.md.
package probes
