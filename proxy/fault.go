package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
)

// fault says whose doing a failed attempt to proxy a request was. Only
// faultBackend counts against a backend's health: a client cannot take a
// backend (or, through /healthz, the proxy) out of service.
type fault uint8

const (
	// faultBackend: the backend refused or timed out the connection, reset
	// or closed it before a complete response head, sent a malformed head,
	// or broke off its response.
	faultBackend fault = iota
	// faultClientGone: the client went away (closed or reset its
	// connection, reset its HTTP/2 stream); a dial its going cancelled
	// counts here too.
	faultClientGone
	// faultClientBody: the request body was malformed or ended early.
	faultClientBody
	// faultClientStall: the client stopped sending its request body.
	faultClientStall
	// faultClientSlow: the client sent its request body below the minimum
	// data rate.
	faultClientSlow

	numFaults
)

// String is the fault's label in /metrics.
func (f fault) String() string {
	switch f {
	case faultBackend:
		return "backend"
	case faultClientGone:
		return "client_gone"
	case faultClientBody:
		return "bad_body"
	case faultClientStall:
		return "stalled_body"
	case faultClientSlow:
		return "slow_body"
	}
	return "unknown"
}

// client reports whether the client, not the backend, caused the failure.
func (f fault) client() bool { return f != faultBackend }

// status is the answer to a request that failed with this fault (499: the
// client has gone, nothing is sent). timeout says the backend's failure was
// a timeout.
func (f fault) status(timeout bool) int {
	switch f {
	case faultClientGone:
		return 499
	case faultClientBody:
		return http.StatusBadRequest
	case faultClientStall, faultClientSlow:
		return http.StatusRequestTimeout
	}
	if timeout {
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// clientBodyError is a failure to read the client's request body (or to
// pass an informational response on to the client).
type clientBodyError struct{ err error }

func (e *clientBodyError) Error() string { return "reading request body: " + e.err.Error() }
func (e *clientBodyError) Unwrap() error { return e.err }

// errBodyTooSlow: a request body that arrives below the minimum data rate.
var errBodyTooSlow = errors.New("request body arrives below the minimum data rate")

// blame decides whose fault a failed attempt was. err is what the attempt
// failed with; clientGone says the client's connection or stream is known
// to have ended (its context cancelled, the HTTP/1 loop's watch fired).
// Every request path asks this one function before it charges a backend.
func blame(err error, clientGone bool) fault {
	var ce *clientBodyError
	switch {
	case errors.As(err, &ce):
		// Before clientGone: net/http cancels a request's context when a
		// read of its body fails, a stalled one too, which still gets its
		// 408.
		switch {
		case errors.Is(ce.err, errBodyTooSlow):
			return faultClientSlow
		case isTimeout(ce.err):
			return faultClientStall
		case clientGone || errors.Is(ce.err, io.ErrUnexpectedEOF) || errors.Is(ce.err, io.EOF):
			// The client closed its connection before its body was whole.
			return faultClientGone
		}
		return faultClientBody
	case clientGone:
		return faultClientGone
	case errors.Is(err, context.Canceled):
		// A dial or a wait cut short because the client's request was
		// cancelled, even when the cancellation has not reached the
		// caller's flag yet (context.AfterFunc runs on its own goroutine).
		return faultClientGone
	}
	return faultBackend
}

// retryPlan decides, after a failed attempt, whether the request goes to
// another backend. dial: the attempt failed to connect (nothing was sent);
// sent: part of the request body was consumed by the attempt; replayable: the
// request has no body and an idempotent method; retriedOther: a retry
// after a failure past the connect has already happened. A client's fault
// never moves on: the request has failed.
func retryPlan(f fault, err error, dial, sent, replayable, retriedOther bool) (retry, afterConnect bool) {
	switch {
	case f.client():
		return false, false
	case dial && !sent:
		return true, false
	case !retriedOther && !isTimeout(err) && replayable:
		return true, true
	}
	return false, false
}

// attempts follows one request's tries over its cluster's backends. Both
// request paths that choose backends (the forwarder, and ReverseProxy's
// transport, cluster.RoundTrip) count each attempt with begin and ask
// failed what follows one that failed.
type attempts struct {
	cl           *cluster
	st           *reqState
	tried        [4]*backend
	n            int        // tried[:n] were tried
	more         []*backend // all that were tried, once they are more than 4
	retriedOther bool
}

// begin counts an attempt on b.
func (a *attempts) begin(b *backend) {
	a.st.attempts++
	b.active.Add(1)
	b.requests.Add(1)
}

// failed ends the attempt on b that failed with err: blame decides whose
// fault it was (and attribute charges or counts it), retryPlan whether
// another backend gets the request. sent says the attempt consumed part of
// the request body; replayable, that the request has no body and an
// idempotent method. It returns the next backend (nil: the request has
// failed) and the fault.
func (a *attempts) failed(b *backend, err error, sent, replayable bool) (*backend, fault) {
	b.active.Add(-1)
	f := attribute(a.cl.metrics, a.st, b, err)
	var de *dialError
	dial := errors.As(err, &de)
	tried := a.tried[:a.n]
	if a.n < len(a.tried) {
		a.tried[a.n] = b
		a.n++
		tried = a.tried[:a.n]
	} else {
		if a.more == nil {
			a.more = append(a.more, a.tried[:]...)
		}
		a.more = append(a.more, b)
		tried = a.more
	}
	retry, other := retryPlan(f, err, dial, sent, replayable, a.retriedOther)
	if !retry {
		return nil, f
	}
	next := a.cl.pick(tried)
	if next != nil {
		a.retriedOther = a.retriedOther || other
		a.cl.log.Debug("retrying on another backend", "from", b.url.String(), "to", next.url.String(), "err", err)
	}
	return next, f
}
