package awsiam

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
)

// Service runs certup's operations against one region's clients. It is safe for
// concurrent use.
type Service struct {
	c      Clients
	region string
	log    *slog.Logger
	dryRun bool
	now    func() time.Time
	poll   Backoff

	mu      sync.Mutex
	planned []Call
	warned  map[string]bool
}

// Options configure a Service.
type Options struct {
	// Logger receives progress at info level and details at debug level; nil
	// discards.
	Logger *slog.Logger
	// DryRun: read what is needed, record the changing calls, make none.
	DryRun bool
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Poll is the backoff used while a load balancer answers CertificateNotFound;
	// default 200ms growing ×1.5 up to 10s.
	Poll Backoff
	// Region names the region of the clients, for Rotate, Rollback and Prune
	// across several regions (the results name it).
	Region string
}

// Backoff is a growing wait between attempts.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
	Factor  float64
}

func (b Backoff) next(d time.Duration) time.Duration {
	if d <= 0 {
		return b.Initial
	}
	n := time.Duration(float64(d) * b.Factor)
	return min(n, b.Max)
}

// New returns a Service using the clients c.
func New(c Clients, o Options) *Service {
	s := &Service{c: c, region: o.Region, log: o.Logger, dryRun: o.DryRun, now: o.Now, poll: o.Poll}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.poll.Initial <= 0 {
		s.poll.Initial = 200 * time.Millisecond
	}
	if s.poll.Max <= 0 {
		s.poll.Max = 10 * time.Second
	}
	if s.poll.Factor < 1 {
		s.poll.Factor = 1.5
	}
	return s
}

// Region is the region given in Options.
func (s *Service) Region() string { return s.region }

// DryRun reports whether the Service only records changing calls.
func (s *Service) DryRun() bool { return s.dryRun }

// Call is a changing API call, as recorded in dry-run mode. Params never hold key
// material.
type Call struct {
	Service   string            `json:"service"`
	Operation string            `json:"operation"`
	Params    map[string]string `json:"params,omitempty"`
}

func (c Call) String() string {
	keys := make([]string, 0, len(c.Params))
	for k := range c.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(c.Service + " " + c.Operation)
	for _, k := range keys {
		b.WriteString(" " + k + "=" + c.Params[k])
	}
	return b.String()
}

// Planned returns the changing calls recorded in dry-run mode, in order.
func (s *Service) Planned() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.planned...)
}

// mutate runs fn, or in dry-run mode records call and does not. It reports
// whether fn ran.
func (s *Service) mutate(call Call, fn func() error) (bool, error) {
	if s.dryRun {
		s.mu.Lock()
		s.planned = append(s.planned, call)
		s.mu.Unlock()
		s.log.Info("dry run: would call", "call", call.String())
		return false, nil
	}
	return true, fn()
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
