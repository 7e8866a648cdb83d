package awsiam

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// seenListener is a listener as a bulk describe reported it.
type seenListener struct {
	Listener Listener
	Cert     string // the default certificate
	Secure   bool   // HTTPS/SSL/TLS: takes a certificate
	Protocol string
}

// v2DescribeBatch is how many listener ARNs one DescribeListeners call takes.
const v2DescribeBatch = 20

// eachClassicListener describes every classic load balancer of the region,
// pageSize per call (nil: the API's default), and calls fn for each of its
// listeners.
func (s *Service) eachClassicListener(ctx context.Context, pageSize *int32, fn func(lb *elbtypes.LoadBalancerDescription, ld *elbtypes.ListenerDescription)) error {
	p := elb.NewDescribeLoadBalancersPaginator(s.c.ELB, &elb.DescribeLoadBalancersInput{PageSize: pageSize})
	lbs := pageItems(ctx, p.HasMorePages, p.NextPage,
		func(o *elb.DescribeLoadBalancersOutput) []elbtypes.LoadBalancerDescription {
			return o.LoadBalancerDescriptions
		},
		"describing classic load balancers")
	for lb, err := range lbs {
		if err != nil {
			return err
		}
		for j := range lb.ListenerDescriptions {
			fn(lb, &lb.ListenerDescriptions[j])
		}
	}
	return nil
}

// eachV2Listener describes every ALB/NLB of the region and their listeners
// (one call per load balancer), pageSize per call (nil: the API's default), and
// calls fn for each listener; fn's error ends it and is returned as it is.
func (s *Service) eachV2Listener(ctx context.Context, pageSize *int32, fn func(lb *elbv2types.LoadBalancer, ln *elbv2types.Listener) error) error {
	p := elbv2.NewDescribeLoadBalancersPaginator(s.c.ELBv2, &elbv2.DescribeLoadBalancersInput{PageSize: pageSize})
	lbs := pageItems(ctx, p.HasMorePages, p.NextPage,
		func(o *elbv2.DescribeLoadBalancersOutput) []elbv2types.LoadBalancer { return o.LoadBalancers },
		"describing load balancers")
	for lb, err := range lbs {
		if err != nil {
			return err
		}
		lp := elbv2.NewDescribeListenersPaginator(s.c.ELBv2, &elbv2.DescribeListenersInput{LoadBalancerArn: lb.LoadBalancerArn, PageSize: pageSize})
		lns := pageItems(ctx, lp.HasMorePages, lp.NextPage,
			func(o *elbv2.DescribeListenersOutput) []elbv2types.Listener { return o.Listeners },
			"describing listeners of "+aws.ToString(lb.LoadBalancerName))
		for ln, err := range lns {
			if err != nil {
				return err
			}
			if err := fn(lb, ln); err != nil {
				return err
			}
		}
	}
	return nil
}

// scanClassic describes every classic load balancer of the region, 400 per
// call, and returns each listener with its certificate.
func (s *Service) scanClassic(ctx context.Context) (map[Listener]seenListener, error) {
	out := map[Listener]seenListener{}
	err := s.eachClassicListener(ctx, aws.Int32(400), func(lb *elbtypes.LoadBalancerDescription, ld *elbtypes.ListenerDescription) {
		if ld.Listener == nil {
			return
		}
		l := Listener{ELB: aws.ToString(lb.LoadBalancerName), Port: ld.Listener.LoadBalancerPort}
		proto := strings.ToUpper(aws.ToString(ld.Listener.Protocol))
		out[l] = seenListener{Listener: l, Cert: aws.ToString(ld.Listener.SSLCertificateId),
			Secure: proto == "HTTPS" || proto == "SSL", Protocol: proto}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func seenV2(ln elbv2types.Listener) seenListener {
	l := Listener{ARN: aws.ToString(ln.ListenerArn)}
	sl := seenListener{Listener: l, Protocol: string(ln.Protocol),
		Secure: ln.Protocol == elbv2types.ProtocolEnumHttps || ln.Protocol == elbv2types.ProtocolEnumTls}
	if len(ln.Certificates) > 0 {
		sl.Cert = aws.ToString(ln.Certificates[0].CertificateArn)
	}
	return sl
}

// describeV2 describes ALB/NLB listeners by ARN, 20 per call. Listeners that do
// not exist are missing from the map.
func (s *Service) describeV2(ctx context.Context, arns []string) (map[Listener]seenListener, error) {
	out := map[Listener]seenListener{}
	for start := 0; start < len(arns); start += v2DescribeBatch {
		batch := arns[start:min(start+v2DescribeBatch, len(arns))]
		res, err := s.c.ELBv2.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: batch})
		if isCode(err, "ListenerNotFound") && len(batch) > 1 {
			// One of them is gone: ask one by one to find which.
			for _, a := range batch {
				one, err := s.describeV2(ctx, []string{a})
				if err != nil {
					return nil, err
				}
				for k, v := range one {
					out[k] = v
				}
			}
			continue
		}
		if isCode(err, "ListenerNotFound") {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("describing listeners: %w", err)
		}
		for _, ln := range res.Listeners {
			sl := seenV2(ln)
			out[sl.Listener] = sl
		}
	}
	return out, nil
}

// scanV2 describes every ALB/NLB of the region and their listeners (one call per
// load balancer).
func (s *Service) scanV2(ctx context.Context) (map[Listener]seenListener, error) {
	out := map[Listener]seenListener{}
	err := s.eachV2Listener(ctx, aws.Int32(400), func(_ *elbv2types.LoadBalancer, ln *elbv2types.Listener) error {
		sl := seenV2(*ln)
		out[sl.Listener] = sl
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readListeners reads the default certificate of the listeners ls with as few
// calls as it can: one DescribeLoadBalancers for up to 400 classic load
// balancers, one DescribeListeners for up to 20 ALB/NLB listeners. With all, it
// reads every listener of the region instead.
func (s *Service) readListeners(ctx context.Context, ls []Listener, all bool) (map[Listener]seenListener, error) {
	out := map[Listener]seenListener{}
	var classic bool
	var arns []string
	dup := map[string]bool{}
	for _, l := range ls {
		switch {
		case l.ELB != "":
			classic = true
		case !dup[l.ARN]:
			dup[l.ARN] = true
			arns = append(arns, l.ARN)
		}
	}
	if classic || all {
		m, err := s.scanClassic(ctx)
		if err != nil {
			return nil, err
		}
		for k, v := range m {
			out[k] = v
		}
	}
	var m map[Listener]seenListener
	var err error
	switch {
	case all:
		m, err = s.scanV2(ctx)
	case len(arns) > 0:
		m, err = s.describeV2(ctx, arns)
	}
	if err != nil {
		return nil, err
	}
	for k, v := range m {
		out[k] = v
	}
	return out, nil
}

// sniCertificates returns the additional (SNI) certificates of each ALB/NLB
// listener, one DescribeListenerCertificates per listener, DefaultParallel at a
// time.
func (s *Service) sniCertificates(ctx context.Context, arns []string) (map[string][]string, error) {
	out := make(map[string][]string, len(arns))
	var mu sync.Mutex
	err := eachParallel(len(arns), func(i int) error {
		var sni []string
		for c, err := range s.v2ListenerCerts(ctx, arns[i], "listener "+arns[i]) {
			if err != nil {
				return err
			}
			if !aws.ToBool(c.IsDefault) {
				sni = append(sni, aws.ToString(c.CertificateArn))
			}
		}
		mu.Lock()
		out[arns[i]] = sni
		mu.Unlock()
		return nil
	})
	return out, err
}

// eachParallel calls f for 0 to n-1, DefaultParallel at a time, and returns
// every error f returned, joined.
func eachParallel(n int, f func(i int) error) error {
	errs := make([]error, n)
	sem := make(chan struct{}, DefaultParallel)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = f(i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
