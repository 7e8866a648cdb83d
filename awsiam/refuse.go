package awsiam

// What AWS would refuse, decided before anything is changed: each rule is a
// pure function (with a table test), and the Service methods below only read
// what the rules need and call them.

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/keybridge/keybridge/internal/awsrules"
)

// MaxIAMPathLen is the longest IAM path.
const MaxIAMPathLen = awsrules.MaxIAMPathLen

// MaxSNICertificates is the default quota of certificates an ALB or NLB takes
// besides its listeners' default certificates, counted over all its listeners
// ("Certificates per Application Load Balancer (excluding default
// certificates): 25" in the ALB guide's quota page; the NLB's is the same).
const MaxSNICertificates = 25

// CheckIAMPath reports whether IAM takes path ("" means "/").
func CheckIAMPath(path string) error {
	if path == "" {
		return nil
	}
	if !awsrules.ValidIAMPath(path) {
		return fmt.Errorf("IAM path %q: IAM takes a path that begins and ends with / and holds only ASCII characters from ! to DEL (no spaces), at most %d in all: %w",
			path, MaxIAMPathLen, ErrInvalidPath)
	}
	return nil
}

// CheckListenerCertificate decides whether the certificate leaf may go on the
// listener l. ALB and NLB listeners refuse a certificate whose domain name
// (its common name, or else its first DNS name) is not fully qualified: the
// error wraps ErrNotFQDN. The Classic Load Balancers guide asks for a fully
// qualified name too, but its API documents no such refusal: for a classic
// listener the answer is a warning (or "").
func CheckListenerCertificate(leaf *x509.Certificate, l Listener) (warning string, err error) {
	name := awsrules.Of(leaf)
	if awsrules.IsFQDN(name) {
		return "", nil
	}
	if l.ELB != "" {
		return fmt.Sprintf("certificate %q has no fully qualified domain name: %s serves it, but browsers will not match it to the site's name", name, l), nil
	}
	return "", fmt.Errorf("certificate %q cannot go on %s: ALB and NLB listeners take only a certificate whose domain name is fully qualified, such as app.example.com (AWS answers UnsupportedCertificate): %w",
		name, l, ErrNotFQDN)
}

// CheckReimport decides whether ACM re-imports next into the ARN that holds
// old: by the rules of awsrules.Reimport (key type and size kept, Key Usage and
// Extended Key Usage values not dropped), and the ACM User Guide's "You cannot
// apply resource tags when reimporting a certificate". ACM would answer
// ValidationException (tags: InvalidParameterException).
func CheckReimport(old, next *x509.Certificate, tags []Tag) error {
	what := fmt.Sprintf("re-importing %q over %q", subjectName(next), subjectName(old))
	if len(tags) > 0 {
		return fmt.Errorf("%s: ACM applies no tags when it re-imports (tag the certificate on its own): %w", what, ErrReimport)
	}
	switch conflict, detail := awsrules.Reimport(old, next); conflict {
	case awsrules.KeyChanged:
		return fmt.Errorf("%s: the key is %s, the certificate it replaces has %s, and ACM keeps the key type and size of a certificate: %w",
			what, detail[1], detail[0], ErrReimport)
	case awsrules.NoDomain:
		return fmt.Errorf("%s: it names no domain: %w", what, ErrReimport)
	case awsrules.UsageAdded:
		return fmt.Errorf("%s: it adds a key usage extension the certificate it replaces lacks: %w", what, ErrReimport)
	case awsrules.KeyUsageDropped:
		return fmt.Errorf("%s: it drops the key usage %s, which ACM keeps: %w", what, strings.Join(detail, ", "), ErrReimport)
	case awsrules.ExtKeyUsageDropped:
		return fmt.Errorf("%s: it drops the extended key usage %s, which ACM keeps: %w", what, strings.Join(detail, ", "), ErrReimport)
	}
	return nil
}

// CheckSNIQuota decides whether adding certificates to the listeners of the
// load balancer lb, which holds current certificates besides its listeners'
// default ones, stays within MaxSNICertificates. Adds count before removals:
// a rotation adds the new certificate before it removes the old one.
func CheckSNIQuota(lb string, current, adding int) error {
	if adding <= 0 || current+adding <= MaxSNICertificates {
		return nil
	}
	return fmt.Errorf("load balancer %s has %d certificates besides its default ones and %d would be added before any is removed, more than the %d AWS allows (AWS answers TooManyCertificates): %w",
		lb, current, adding, MaxSNICertificates, ErrTooManyCertificates)
}

// target is a listener a certificate is to go on; add: the certificate is to
// be added to the listener's certificate list (SNI), not already there.
type target struct {
	l   Listener
	add bool
}

// checkTargets applies CheckListenerCertificate to each target (logging the
// warnings) and CheckSNIQuota to each load balancer certificates are added to.
// It only reads.
func (s *Service) checkTargets(ctx context.Context, leaf *x509.Certificate, targets []target) error {
	if err := s.checkNames(leaf, targets); err != nil {
		return err
	}
	return s.checkQuotas(ctx, targets)
}

// checkNames applies CheckListenerCertificate to each target, logging the
// warnings; it makes no AWS call.
func (s *Service) checkNames(leaf *x509.Certificate, targets []target) error {
	for _, t := range targets {
		warning, err := CheckListenerCertificate(leaf, t.l)
		if err != nil {
			return err
		}
		if warning != "" {
			s.warnOnce(warning)
		}
	}
	return nil
}

// warnOnce logs msg as a warning the first time the Service sees it.
func (s *Service) warnOnce(msg string) {
	s.mu.Lock()
	seen := s.warned[msg]
	if s.warned == nil {
		s.warned = map[string]bool{}
	}
	s.warned[msg] = true
	s.mu.Unlock()
	if !seen {
		s.log.Warn(msg)
	}
}

// checkQuotas applies CheckSNIQuota to each load balancer certificates are
// added to.
func (s *Service) checkQuotas(ctx context.Context, targets []target) error {
	adds := map[string]int{}
	var lbs []string
	for _, t := range targets {
		if t.add && t.l.ARN != "" {
			lb := loadBalancerOf(t.l.ARN)
			if adds[lb] == 0 {
				lbs = append(lbs, lb)
			}
			adds[lb]++
		}
	}
	for _, lb := range lbs {
		n, err := s.sniCount(ctx, lb)
		if err != nil {
			return err
		}
		if err := CheckSNIQuota(lb, n, adds[lb]); err != nil {
			return err
		}
	}
	return nil
}

// loadBalancerOf is the ARN of the load balancer of an ALB/NLB listener ARN
// (…:listener/app/NAME/ID/LISTENER → …:loadbalancer/app/NAME/ID).
func loadBalancerOf(listenerARN string) string {
	i := strings.Index(listenerARN, ":listener/")
	if i < 0 {
		return listenerARN
	}
	rest := listenerARN[i+len(":listener/"):]
	if j := strings.LastIndex(rest, "/"); j >= 0 {
		rest = rest[:j]
	}
	return listenerARN[:i] + ":loadbalancer/" + rest
}

// sniCount counts the certificates of the load balancer lb's HTTPS and TLS
// listeners besides their default ones.
func (s *Service) sniCount(ctx context.Context, lb string) (int, error) {
	p := elbv2.NewDescribeListenersPaginator(s.c.ELBv2, &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(lb)})
	lns := pageItems(ctx, p.HasMorePages, p.NextPage,
		func(o *elbv2.DescribeListenersOutput) []elbv2types.Listener { return o.Listeners },
		"describing the listeners of "+lb)
	n := 0
	for ln, err := range lns {
		if err != nil {
			return 0, err
		}
		if ln.Protocol != elbv2types.ProtocolEnumHttps && ln.Protocol != elbv2types.ProtocolEnumTls {
			continue
		}
		arn := aws.ToString(ln.ListenerArn)
		for c, err := range s.v2ListenerCerts(ctx, arn, "listener "+arn) {
			if err != nil {
				return 0, err
			}
			if !aws.ToBool(c.IsDefault) {
				n++
			}
		}
	}
	return n, nil
}

// certificateLeaf reads the leaf certificate of an IAM or ACM certificate ARN.
func (s *Service) certificateLeaf(ctx context.Context, arn string) (*x509.Certificate, error) {
	if isACMARN(arn) {
		if err := s.inRegion(arn); err != nil {
			return nil, err
		}
		got, err := s.c.ACM.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: aws.String(arn)})
		if isCode(err, "ResourceNotFoundException", "InvalidArnException") {
			return nil, fmt.Errorf("ACM certificate %s: %w", arn, ErrCertificateNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("getting ACM certificate %s: %w", arn, err)
		}
		leaf, err := firstCertificate(aws.ToString(got.Certificate))
		if err != nil {
			return nil, fmt.Errorf("ACM certificate %s: %w", arn, err)
		}
		return leaf, nil
	}
	name, ok := iamNameFromARN(arn)
	if !ok {
		return nil, fmt.Errorf("%q is neither an IAM server certificate nor an ACM certificate ARN: %w", arn, ErrCertificateNotFound)
	}
	sc, err := s.getServerCertificate(ctx, name)
	if err != nil {
		return nil, err
	}
	if sc == nil || sc.ARN != arn || sc.leaf == nil {
		return nil, fmt.Errorf("IAM server certificate %s: %w", arn, ErrCertificateNotFound)
	}
	return sc.leaf, nil
}

// refuse applies the refusals to a rotation plan before anything is changed:
// the IAM path, the new certificate on every listener it is to go on (and the
// quota of each load balancer it is added to), and a re-import over the
// certificate ACM holds.
func (r *Rotation) refuse(ctx context.Context) error {
	if r.Store == TargetIAM.String() {
		if err := CheckIAMPath(r.o.Upload.Path); err != nil {
			return err
		}
	}
	regions, byRegion := r.switchTargets()
	for _, region := range regions {
		if err := r.service(region).checkTargets(ctx, r.kp.Leaf, byRegion[region]); err != nil {
			return err
		}
	}
	for _, up := range r.Uploads {
		if !up.Needed || !up.Reimport {
			continue
		}
		old, err := r.service(up.Region).certificateLeaf(ctx, up.ARN)
		if err != nil {
			return err
		}
		if err := CheckReimport(old, r.kp.Leaf, r.o.Upload.Tags); err != nil {
			return err
		}
	}
	return nil
}

// switchTargets are the listeners the plan switches, by region (in the order
// the plan first names each region); add marks an SNI listener whose list the
// target is to be added to.
func (r *Rotation) switchTargets() ([]string, map[string][]target) {
	byRegion := map[string][]target{}
	var regions []string
	for _, p := range r.Listeners {
		if p.Action != ActionSwitch || p.State == StateFailed {
			continue
		}
		if _, ok := byRegion[p.Region]; !ok {
			regions = append(regions, p.Region)
		}
		byRegion[p.Region] = append(byRegion[p.Region], target{l: p.Listener, add: p.Listener.SNI && !p.sniHasNew})
	}
	return regions, byRegion
}
