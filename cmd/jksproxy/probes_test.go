package main

import (
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keybridge/keybridge/internal/probes"
)

// probeTarget is a built jksproxy in front of two recording backends, with
// a body timeout of probes.BodyTimeout and passive ejection at the first
// charged failure (--health-fall 1) that no health check undoes
// (--health-interval 1h): a probe that makes jksproxy charge a backend
// leaves it out, and the after-check sees it.
type probeTarget struct {
	t        *testing.T
	backends []*probes.Recorder
	p        *proxyProc
}

func newProbeTarget(t *testing.T) *probeTarget {
	t.Helper()
	pt := &probeTarget{t: t}
	for _, name := range []string{"b1", "b2"} {
		r, err := probes.StartRecorder(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		pt.backends = append(pt.backends, r)
	}
	pt.start()
	return pt
}

func (pt *probeTarget) start() {
	args := append(keystoreArgs("wso2carbon.jks"), "--listen-http", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--health-check-path", "/health", "--health-interval", "1h", "--health-fall", "1",
		"--body-timeout", probes.BodyTimeout.String(), "--access-log=false")
	for _, b := range pt.backends {
		args = append(args, "--backend", b.URL())
	}
	pt.p = startProxy(pt.t, []string{"https", "http", "admin"}, args...)
}

func (pt *probeTarget) target() probes.Target {
	return probes.Target{HTTP: pt.p.addr("http"), HTTPS: pt.p.addr("https"), Backends: pt.backends}
}

// backendsDown lists what /metrics says about backends that are not up.
func (pt *probeTarget) backendsDown() []string {
	var down []string
	for _, l := range strings.Split(metrics(pt.t, pt.p.addr("admin")), "\n") {
		if strings.HasPrefix(l, "jksproxy_backend_up{") && strings.HasSuffix(l, " 0") {
			down = append(down, l)
		}
	}
	return down
}

var upLine = regexp.MustCompile(`(?m)^jksproxy_backend_up\{.*\} 1$`)

// TestProbes runs every probe of internal/probes against the built jksproxy
// and checks the outcome each one expects. Six proxies take the probes in
// turn, so that the probes that wait for a timeout overlap; a proxy that a
// probe left with a backend out is replaced before its next probe.
func TestProbes(t *testing.T) {
	all := probes.All()
	results := make([]probes.Result, len(all))
	down := make([][]string, len(all))
	const workers = 6
	start := time.Now()
	var wg sync.WaitGroup
	next := make(chan int, len(all)) // filled first: a worker that stops early blocks no one
	for i := range all {
		next <- i
	}
	close(next)
	for w := 0; w < workers; w++ {
		pt := newProbeTarget(t)
		if n := len(upLine.FindAllString(metrics(t, pt.p.addr("admin")), -1)); n != 2 {
			t.Fatalf("/metrics shows %d backends up at start, want 2", n)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = probes.Run(pt.target(), all[i])
				down[i] = pt.backendsDown()
				if !results[i].BackendsUp || len(down[i]) > 0 {
					pt.p.cmd.Process.Kill()
					<-pt.p.done
					pt.start()
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d probes in %v", len(all), time.Since(start).Round(time.Millisecond))
	for i, p := range all {
		t.Run(p.Name, func(t *testing.T) {
			r := results[i]
			problems := p.Expect.Check(r)
			if len(down[i]) > 0 {
				problems = append(problems, "/metrics: "+strings.Join(down[i], "; "))
			}
			if len(problems) > 0 {
				t.Errorf("%s (%s)\n  client got: %s\n  backends:   %s\n  %s", p.Name, p.Why, r.Answer(), r.Backend(), strings.Join(problems, "\n  "))
			}
		})
	}
}
