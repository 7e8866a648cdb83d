package awsiam

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// ListenerUse is one listener serving a certificate.
type ListenerUse struct {
	// Type is "classic", "application" or "network".
	Type         string `json:"type"`
	LoadBalancer string `json:"load_balancer"`
	Port         int32  `json:"port"`
	ListenerARN  string `json:"listener_arn,omitempty"`
	// CertificateARN is the certificate served.
	CertificateARN string `json:"-"`
	// SNI: an additional (not the default) certificate of the listener.
	SNI bool `json:"sni,omitempty"`
}

func (u ListenerUse) String() string {
	s := fmt.Sprintf("%s:%d", u.LoadBalancer, u.Port)
	if u.SNI {
		s += "(sni)"
	}
	return s
}

// Listener returns the Listener u names.
func (u ListenerUse) Listener() Listener {
	if u.Type == "classic" {
		return Listener{ELB: u.LoadBalancer, Port: u.Port}
	}
	return Listener{ARN: u.ListenerARN, SNI: u.SNI}
}

// Inventory lists every listener of the region that serves a certificate, one
// entry per listener and certificate: classic ELB HTTPS/SSL listeners and the
// default and SNI certificates of ALB/NLB HTTPS/TLS listeners.
func (s *Service) Inventory(ctx context.Context) ([]ListenerUse, error) {
	var uses []ListenerUse
	err := s.eachClassicListener(ctx, nil, func(lb *elbtypes.LoadBalancerDescription, ld *elbtypes.ListenerDescription) {
		if ld.Listener == nil || aws.ToString(ld.Listener.SSLCertificateId) == "" {
			return
		}
		uses = append(uses, ListenerUse{Type: "classic", LoadBalancer: aws.ToString(lb.LoadBalancerName),
			Port: ld.Listener.LoadBalancerPort, CertificateARN: aws.ToString(ld.Listener.SSLCertificateId)})
	})
	if err != nil {
		return nil, err
	}
	err = s.eachV2Listener(ctx, nil, func(lb *elbv2types.LoadBalancer, ln *elbv2types.Listener) error {
		if ln.Protocol != elbv2types.ProtocolEnumHttps && ln.Protocol != elbv2types.ProtocolEnumTls {
			return nil
		}
		certs, err := s.listenerCertificates(ctx, Listener{ARN: aws.ToString(ln.ListenerArn)})
		if err != nil {
			return err
		}
		for i, c := range certs {
			if c == "" {
				continue
			}
			uses = append(uses, ListenerUse{Type: string(lb.Type), LoadBalancer: aws.ToString(lb.LoadBalancerName),
				Port: aws.ToInt32(ln.Port), ListenerARN: aws.ToString(ln.ListenerArn), CertificateARN: c, SNI: i > 0})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return uses, nil
}

// ListOptions select the certificates List shows.
type ListOptions struct {
	// ACM lists the region's imported ACM certificates instead of IAM's.
	ACM bool
	// PathPrefix filters IAM certificates by path.
	PathPrefix string
}

// List returns the certificates with their expiry and the listeners of the
// region that use each, soonest expiry first.
func (s *Service) List(ctx context.Context, o ListOptions) ([]CertificateInfo, error) {
	var certs []CertificateInfo
	if o.ACM {
		for c, err := range s.acmSummaries(ctx) {
			if err != nil {
				return nil, err
			}
			info := CertificateInfo{Source: "acm", ARN: aws.ToString(c.CertificateArn), Domain: aws.ToString(c.DomainName)}
			if c.NotAfter != nil {
				info.NotAfter = *c.NotAfter
			} else if full, err := s.Certificate(ctx, info.ARN); err == nil {
				info.NotAfter = full.NotAfter
			}
			info.DaysLeft = daysLeft(s.now(), info.NotAfter)
			certs = append(certs, info)
		}
	} else {
		in := &iam.ListServerCertificatesInput{}
		if o.PathPrefix != "" {
			in.PathPrefix = aws.String(o.PathPrefix)
		}
		for md, err := range s.iamServerCertificates(ctx, in) {
			if err != nil {
				return nil, err
			}
			info := iamInfo(md)
			info.DaysLeft = daysLeft(s.now(), info.NotAfter)
			certs = append(certs, info)
		}
	}
	uses, err := s.Inventory(ctx)
	if err != nil {
		return nil, err
	}
	for i := range certs {
		certs[i].UsedBy = []ListenerUse{}
		for _, u := range uses {
			if u.CertificateARN == certs[i].ARN {
				certs[i].UsedBy = append(certs[i].UsedBy, u)
			}
		}
	}
	sort.SliceStable(certs, func(i, j int) bool {
		if !certs[i].NotAfter.Equal(certs[j].NotAfter) {
			return certs[i].NotAfter.Before(certs[j].NotAfter)
		}
		return strings.Compare(certs[i].ARN, certs[j].ARN) < 0
	})
	return certs, nil
}
