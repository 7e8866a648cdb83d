package awsiam

import (
	"context"
	"crypto/x509"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/keybridge/keybridge/internal/words"
)

// DefaultELBPort is the classic ELB listener port when --elb names none.
const DefaultELBPort = 443

// Listener names a listener: a classic ELB and port, or an ALB/NLB listener ARN
// (SNI adds the certificate to the listener's certificate list instead of
// replacing the default certificate).
type Listener struct {
	ELB  string `json:"elb,omitempty"`
	Port int32  `json:"port,omitempty"`
	ARN  string `json:"listener_arn,omitempty"`
	SNI  bool   `json:"sni,omitempty"`
}

// ParseELB reads a classic listener, "NAME" or "NAME:PORT" (port 443 when
// none is given).
func ParseELB(s string) (Listener, error) { return ParseELBPort(s, DefaultELBPort) }

// ParseELBPort reads "NAME" or "NAME:PORT"; NAME alone gets port def (AllPorts
// for every HTTP and HTTPS listener, where the operation allows it).
func ParseELBPort(s string, def int32) (Listener, error) {
	name, port, hasPort := strings.Cut(s, ":")
	if name == "" {
		return Listener{}, fmt.Errorf("classic ELB listener %q: want NAME or NAME:PORT: %w", s, ErrInvalidListener)
	}
	l := Listener{ELB: name, Port: def}
	if hasPort {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return Listener{}, fmt.Errorf("classic ELB listener %q: the port must be 1-65535: %w", s, ErrInvalidListener)
		}
		l.Port = int32(n)
	}
	return l, nil
}

// ParseListenerARN checks an ALB/NLB listener ARN.
func ParseListenerARN(s string, sni bool) (Listener, error) {
	svc, _, res, ok := arnParts(s)
	if !ok || svc != "elasticloadbalancing" || !strings.HasPrefix(res, "listener/") {
		return Listener{}, fmt.Errorf("%q is not an ALB/NLB listener ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener/…): %w", s, ErrInvalidListener)
	}
	return Listener{ARN: s, SNI: sni}, nil
}

func (l Listener) String() string {
	if l.ELB != "" && l.Port == AllPorts {
		return fmt.Sprintf("classic ELB %s (every HTTP and HTTPS port)", l.ELB)
	}
	if l.ELB != "" {
		return fmt.Sprintf("classic ELB %s port %d", l.ELB, l.Port)
	}
	if l.SNI {
		return "listener " + l.ARN + " (SNI)"
	}
	return "listener " + l.ARN
}

// AttachOptions control Attach.
type AttachOptions struct {
	// Wait is how long to retry while the load balancer answers
	// CertificateNotFound (IAM propagation); default 5m.
	Wait time.Duration
	// Progress, when set, receives the listener's events as a rotation's
	// (switching, waiting, switched, confirmed; a failure is the error returned).
	Progress func(Event)
}

// waitingEvent says whether attempt (a change the load balancer refused with
// CertificateNotFound) is worth a progress event — the first, then every tenth —
// and its detail. Attach and a rotation's switch both report this way.
func waitingEvent(attempt int) (string, bool) {
	if attempt != 1 && attempt%10 != 0 {
		return "", false
	}
	return fmt.Sprintf("the load balancer does not see the new certificate yet (attempt %d)", attempt), true
}

// propagationError: l still did not see certARN after wait and attempts.
func propagationError(l Listener, certARN string, wait time.Duration, attempts int) error {
	return fmt.Errorf("%s still answers CertificateNotFound for %s after %s (%s): %w",
		l, certARN, wait, words.Count(attempts, "attempt", "attempts"), ErrPropagation)
}

func (o AttachOptions) progress(region string, l Listener, state State, detail string) {
	if o.Progress != nil {
		o.Progress(Event{Region: region, Listener: l, State: state, Detail: detail})
	}
}

// DefaultWait is the default AttachOptions.Wait.
const DefaultWait = 5 * time.Minute

// AttachResult says what Attach did.
type AttachResult struct {
	Listener       Listener `json:"listener"`
	CertificateARN string   `json:"certificate_arn"`
	Previous       string   `json:"previous,omitempty"`
	Changed        bool     `json:"changed"`
	Attempts       int      `json:"attempts,omitempty"`
	Confirmed      bool     `json:"confirmed"`
	DryRun         bool     `json:"dry_run,omitempty"`
}

// Attach makes the listener serve the certificate certARN: classic ELB
// SetLoadBalancerListenerSSLCertificate, ALB/NLB ModifyListener (default
// certificate) or AddListenerCertificates (SNI). It retries CertificateNotFound
// with backoff until o.Wait has passed, then reads the listener back and
// confirms it names the certificate. A listener that already serves it is left
// alone.
//
// It refuses, before any change, what the load balancer would refuse: a
// certificate without a fully qualified domain name on an ALB or NLB listener
// (ErrNotFQDN), an SNI certificate beyond the load balancer's quota
// (ErrTooManyCertificates).
func (s *Service) Attach(ctx context.Context, certARN string, l Listener, o AttachOptions) (*AttachResult, error) {
	return s.attach(ctx, certARN, nil, l, o)
}

// attach is Attach for a certificate whose leaf may be known already (nil: it
// is read from IAM or ACM when needed).
func (s *Service) attach(ctx context.Context, certARN string, leaf *x509.Certificate, l Listener, o AttachOptions) (*AttachResult, error) {
	if o.Wait <= 0 {
		o.Wait = DefaultWait
	}
	res := &AttachResult{Listener: l, CertificateARN: certARN}
	current, err := s.listenerCertificates(ctx, l)
	if err != nil {
		return nil, err
	}
	if len(current) > 0 && !l.SNI {
		res.Previous = current[0]
	}
	if contains(current, certARN) && (l.SNI || current[0] == certARN) {
		res.Confirmed = true
		s.log.Info("listener already serves the certificate", "listener", l.String(), "certificate", certARN)
		return res, nil
	}
	if leaf == nil {
		if leaf, err = s.certificateLeaf(ctx, certARN); err != nil {
			return nil, err
		}
	}
	if err := s.checkTargets(ctx, leaf, []target{{l: l, add: l.SNI}}); err != nil {
		return nil, err
	}
	call, do := s.attachCall(l, certARN)
	if !s.dryRun {
		o.progress(s.region, l, StateSwitching, "to "+certARN)
	}
	deadline := time.Now().Add(o.Wait)
	var wait time.Duration
	for {
		res.Attempts++
		ran, err := s.mutate(call, func() error { return do(ctx) })
		if err == nil {
			if !ran {
				res.DryRun = true
				return res, nil
			}
			break
		}
		if !isCode(err, "CertificateNotFound") {
			return nil, fmt.Errorf("attaching %s to %s: %w", certARN, l, err)
		}
		wait = s.poll.next(wait)
		left := time.Until(deadline)
		if left <= 0 {
			return nil, propagationError(l, certARN, o.Wait, res.Attempts)
		}
		s.log.Debug("certificate not yet visible to the load balancer, retrying", "listener", l.String(),
			"attempt", res.Attempts, "retry_in", min(wait, left).Round(time.Millisecond))
		if detail, ok := waitingEvent(res.Attempts); ok {
			o.progress(s.region, l, StateWaiting, detail)
		}
		if err := sleep(ctx, min(wait, left)); err != nil {
			return nil, fmt.Errorf("waiting for %s to see %s: %w", l, certARN, err)
		}
	}
	res.Changed = true
	o.progress(s.region, l, StateSwitched, "")
	// Read back; the describe APIs are eventually consistent, so give them until
	// the same deadline.
	for wait = 0; ; {
		after, err := s.listenerCertificates(ctx, l)
		if err != nil {
			return nil, fmt.Errorf("reading back %s: %w", l, err)
		}
		if contains(after, certARN) && (l.SNI || after[0] == certARN) {
			break
		}
		wait = s.poll.next(wait)
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("%s shows %v after the change, not %s: %w", l, after, certARN, ErrNotConfirmed)
		}
		if err := sleep(ctx, min(wait, left)); err != nil {
			return nil, fmt.Errorf("reading back %s: %w", l, err)
		}
	}
	res.Confirmed = true
	s.log.Info("attached certificate", "listener", l.String(), "certificate", certARN, "attempts", res.Attempts)
	o.progress(s.region, l, StateConfirmed, "")
	return res, nil
}

func (s *Service) attachCall(l Listener, certARN string) (Call, func(context.Context) error) {
	switch {
	case l.ELB != "":
		return Call{Service: "elb", Operation: "SetLoadBalancerListenerSSLCertificate", Params: map[string]string{
				"LoadBalancerName": l.ELB, "LoadBalancerPort": strconv.Itoa(int(l.Port)), "SSLCertificateId": certARN}},
			func(ctx context.Context) error {
				_, err := s.c.ELB.SetLoadBalancerListenerSSLCertificate(ctx, &elb.SetLoadBalancerListenerSSLCertificateInput{
					LoadBalancerName: aws.String(l.ELB), LoadBalancerPort: l.Port, SSLCertificateId: aws.String(certARN)})
				return err
			}
	case l.SNI:
		return Call{Service: "elbv2", Operation: "AddListenerCertificates", Params: map[string]string{
				"ListenerArn": l.ARN, "CertificateArn": certARN}},
			func(ctx context.Context) error {
				_, err := s.c.ELBv2.AddListenerCertificates(ctx, &elbv2.AddListenerCertificatesInput{
					ListenerArn: aws.String(l.ARN), Certificates: []elbv2types.Certificate{{CertificateArn: aws.String(certARN)}}})
				return err
			}
	default:
		return Call{Service: "elbv2", Operation: "ModifyListener", Params: map[string]string{
				"ListenerArn": l.ARN, "CertificateArn": certARN}},
			func(ctx context.Context) error {
				_, err := s.c.ELBv2.ModifyListener(ctx, &elbv2.ModifyListenerInput{
					ListenerArn: aws.String(l.ARN), Certificates: []elbv2types.Certificate{{CertificateArn: aws.String(certARN)}}})
				return err
			}
	}
}

// listenerCertificates returns the certificates a listener serves, the default
// first (classic listeners have one).
func (s *Service) listenerCertificates(ctx context.Context, l Listener) ([]string, error) {
	if l.ELB != "" {
		_, cl, err := s.classicListener(ctx, l)
		if err != nil {
			return nil, err
		}
		if cert := aws.ToString(cl.Listener.SSLCertificateId); cert != "" {
			return []string{cert}, nil
		}
		return nil, nil
	}
	ln, err := s.v2Listener(ctx, l.ARN)
	if err != nil {
		return nil, err
	}
	if ln.Protocol != elbv2types.ProtocolEnumHttps && ln.Protocol != elbv2types.ProtocolEnumTls {
		return nil, fmt.Errorf("%s uses %s; certificates need an HTTPS or TLS listener", l, ln.Protocol)
	}
	var def string
	var certs []string
	for c, err := range s.v2ListenerCerts(ctx, l.ARN, l.String()) {
		if err != nil {
			return nil, err
		}
		if aws.ToBool(c.IsDefault) {
			def = aws.ToString(c.CertificateArn)
		} else {
			certs = append(certs, aws.ToString(c.CertificateArn))
		}
	}
	if def == "" && len(ln.Certificates) > 0 {
		def = aws.ToString(ln.Certificates[0].CertificateArn)
	}
	return append([]string{def}, certs...), nil
}

// classicListener finds the load balancer and listener l names.
func (s *Service) classicListener(ctx context.Context, l Listener) (*elbtypes.LoadBalancerDescription, *elbtypes.ListenerDescription, error) {
	lb, err := s.classicLoadBalancer(ctx, l.ELB)
	if err != nil {
		return nil, nil, err
	}
	var ports []string
	for i := range lb.ListenerDescriptions {
		ld := &lb.ListenerDescriptions[i]
		if ld.Listener == nil {
			continue
		}
		if ld.Listener.LoadBalancerPort == l.Port {
			p := strings.ToUpper(aws.ToString(ld.Listener.Protocol))
			if p != "HTTPS" && p != "SSL" {
				return nil, nil, fmt.Errorf("classic ELB %q port %d uses %s; certificates need an HTTPS or SSL listener", l.ELB, l.Port, p)
			}
			return lb, ld, nil
		}
		ports = append(ports, strconv.Itoa(int(ld.Listener.LoadBalancerPort)))
	}
	return nil, nil, fmt.Errorf("classic ELB %q has no listener on port %d (it has %s): %w", l.ELB, l.Port, strings.Join(ports, ", "), ErrListenerNotFound)
}

func (s *Service) v2Listener(ctx context.Context, arn string) (*elbv2types.Listener, error) {
	out, err := s.c.ELBv2.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{arn}})
	if isCode(err, "ListenerNotFound") {
		return nil, fmt.Errorf("listener %s: %w", arn, ErrListenerNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("describing listener %s: %w", arn, err)
	}
	if len(out.Listeners) == 0 {
		return nil, fmt.Errorf("listener %s: %w", arn, ErrListenerNotFound)
	}
	return &out.Listeners[0], nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// AttachCertificate is Attach for a certificate given by IAM name or by IAM/ACM
// ARN; it first makes sure the certificate exists, so that a mistyped name fails
// at once instead of waiting out the propagation deadline.
func (s *Service) AttachCertificate(ctx context.Context, ref string, l Listener, o AttachOptions) (*AttachResult, error) {
	info, err := s.Certificate(ctx, ref)
	if err != nil {
		return nil, err
	}
	return s.Attach(ctx, info.ARN, l, o)
}
