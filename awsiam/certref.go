package awsiam

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// arnParts splits "arn:partition:service:region:account:resource".
func arnParts(s string) (service, region, resource string, ok bool) {
	p := strings.SplitN(s, ":", 6)
	if len(p) != 6 || p[0] != "arn" {
		return "", "", "", false
	}
	return p[2], p[3], p[5], true
}

// iamNameFromARN returns the name of an IAM server certificate ARN
// (arn:aws:iam::123:server-certificate/path/name).
func iamNameFromARN(arn string) (string, bool) {
	svc, _, res, ok := arnParts(arn)
	if !ok || svc != "iam" || !strings.HasPrefix(res, "server-certificate/") {
		return "", false
	}
	return res[strings.LastIndex(res, "/")+1:], true
}

func isACMARN(s string) bool {
	svc, _, _, ok := arnParts(s)
	return ok && svc == "acm"
}

// RegionOf is the region an ARN names ("" for IAM, which is global, and for
// anything that is not an ARN).
func RegionOf(arn string) string {
	_, r, _, _ := arnParts(arn)
	return r
}

// inRegion refuses an ARN of another region than the Service's, whose
// clients could not reach it.
func (s *Service) inRegion(arn string) error {
	if r := RegionOf(arn); r != "" && s.region != "" && r != s.region {
		return fmt.Errorf("%s is in region %s, not %s: %w", arn, r, s.region, ErrWrongRegion)
	}
	return nil
}

// CertificateInfo describes an uploaded certificate.
type CertificateInfo struct {
	Source   string    `json:"source"` // iam or acm
	Name     string    `json:"name,omitempty"`
	Path     string    `json:"path,omitempty"`
	ARN      string    `json:"arn"`
	Domain   string    `json:"domain,omitempty"`
	NotAfter time.Time `json:"not_after"`
	DaysLeft int       `json:"days_left"`
	// Uploaded is when the certificate was uploaded or imported, where known.
	Uploaded time.Time     `json:"uploaded,omitzero"`
	UsedBy   []ListenerUse `json:"used_by"`
}

// Certificate finds a certificate by IAM name or by IAM/ACM ARN.
func (s *Service) Certificate(ctx context.Context, ref string) (*CertificateInfo, error) {
	if isACMARN(ref) {
		if err := s.inRegion(ref); err != nil {
			return nil, err
		}
		out, err := s.c.ACM.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String(ref)})
		if isCode(err, "ResourceNotFoundException", "InvalidArnException") {
			return nil, fmt.Errorf("ACM certificate %s: %w", ref, ErrCertificateNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("describing ACM certificate %s: %w", ref, err)
		}
		d := out.Certificate
		info := &CertificateInfo{Source: "acm", ARN: ref, Domain: aws.ToString(d.DomainName)}
		if d.NotAfter != nil {
			info.NotAfter = *d.NotAfter
		}
		info.DaysLeft = daysLeft(s.now(), info.NotAfter)
		return info, nil
	}
	name := ref
	if strings.HasPrefix(ref, "arn:") {
		n, ok := iamNameFromARN(ref)
		if !ok {
			return nil, fmt.Errorf("%q is neither an IAM server certificate nor an ACM certificate ARN: %w", ref, ErrCertificateNotFound)
		}
		name = n
	}
	sc, err := s.getServerCertificate(ctx, name)
	if err != nil {
		return nil, err
	}
	if sc == nil || (strings.HasPrefix(ref, "arn:") && sc.ARN != ref) {
		return nil, fmt.Errorf("IAM server certificate %s: %w", ref, ErrCertificateNotFound)
	}
	return &sc.CertificateInfo, nil
}

type serverCertificate struct {
	CertificateInfo
	leaf *x509.Certificate
}

// getServerCertificate returns nil, nil when IAM has no certificate named name.
func (s *Service) getServerCertificate(ctx context.Context, name string) (*serverCertificate, error) {
	out, err := s.c.IAM.GetServerCertificate(ctx, &iam.GetServerCertificateInput{ServerCertificateName: aws.String(name)})
	if isCode(err, "NoSuchEntity") {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("getting IAM server certificate %q: %w", name, err)
	}
	sc := out.ServerCertificate
	md := sc.ServerCertificateMetadata
	info := &serverCertificate{CertificateInfo: iamInfo(md)}
	if leaf, err := firstCertificate(aws.ToString(sc.CertificateBody)); err == nil {
		info.leaf = leaf
		info.Domain = subjectName(leaf)
		if info.NotAfter.IsZero() {
			info.NotAfter = leaf.NotAfter
		}
	}
	info.DaysLeft = daysLeft(s.now(), info.NotAfter)
	return info, nil
}

// iamInfo is what IAM's metadata tells of a server certificate: name, path,
// ARN and expiry.
func iamInfo(md *iamtypes.ServerCertificateMetadata) CertificateInfo {
	info := CertificateInfo{Source: "iam", Name: aws.ToString(md.ServerCertificateName), Path: aws.ToString(md.Path), ARN: aws.ToString(md.Arn)}
	if md.Expiration != nil {
		info.NotAfter = *md.Expiration
	}
	return info
}

// acmSummaryInfo is what an ACM certificate summary tells: ARN, domain, expiry
// and when it was imported (or else requested).
func acmSummaryInfo(c *acmtypes.CertificateSummary) CertificateInfo {
	info := CertificateInfo{Source: "acm", ARN: aws.ToString(c.CertificateArn), Domain: aws.ToString(c.DomainName)}
	if c.NotAfter != nil {
		info.NotAfter = *c.NotAfter
	}
	switch {
	case c.ImportedAt != nil:
		info.Uploaded = *c.ImportedAt
	case c.CreatedAt != nil:
		info.Uploaded = *c.CreatedAt
	}
	return info
}

// acmSummaries yields the region's ACM certificates of every key type, one
// ListCertificates page at a time; a listing error is yielded once, last.
func (s *Service) acmSummaries(ctx context.Context) iter.Seq2[*acmtypes.CertificateSummary, error] {
	p := acm.NewListCertificatesPaginator(s.c.ACM, &acm.ListCertificatesInput{Includes: &acmtypes.Filters{KeyTypes: allKeyTypes}})
	return pageItems(ctx, p.HasMorePages, p.NextPage,
		func(o *acm.ListCertificatesOutput) []acmtypes.CertificateSummary { return o.CertificateSummaryList },
		"listing ACM certificates")
}

// iamServerCertificates yields the metadata of the IAM server certificates in
// selects, one ListServerCertificates page at a time; a listing error is
// yielded once, last.
func (s *Service) iamServerCertificates(ctx context.Context, in *iam.ListServerCertificatesInput) iter.Seq2[*iamtypes.ServerCertificateMetadata, error] {
	p := iam.NewListServerCertificatesPaginator(s.c.IAM, in)
	return pageItems(ctx, p.HasMorePages, p.NextPage,
		func(o *iam.ListServerCertificatesOutput) []iamtypes.ServerCertificateMetadata {
			return o.ServerCertificateMetadataList
		},
		"listing IAM server certificates")
}

// pageItems yields every item of every page an SDK paginator (more and
// next: its HasMorePages and NextPage) returns, in order, items taking each
// page's list; a listing error is yielded once, last, after what.
func pageItems[Out, Opt, T any](ctx context.Context, more func() bool, next func(context.Context, ...func(*Opt)) (Out, error),
	items func(Out) []T, what string) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		for more() {
			page, err := next(ctx)
			if err != nil {
				yield(nil, fmt.Errorf("%s: %w", what, err))
				return
			}
			list := items(page)
			for i := range list {
				if !yield(&list[i], nil) {
					return
				}
			}
		}
	}
}

// v2ListenerCerts yields the certificates of an ALB/NLB listener, the
// default one and those for SNI, one DescribeListenerCertificates page at a
// time; what names the listener in a listing error.
func (s *Service) v2ListenerCerts(ctx context.Context, arn, what string) iter.Seq2[*elbv2types.Certificate, error] {
	p := elbv2.NewDescribeListenerCertificatesPaginator(s.c.ELBv2, &elbv2.DescribeListenerCertificatesInput{ListenerArn: aws.String(arn)})
	return pageItems(ctx, p.HasMorePages, p.NextPage,
		func(o *elbv2.DescribeListenerCertificatesOutput) []elbv2types.Certificate { return o.Certificates },
		"describing certificates of "+what)
}

// firstCertificate parses the first PEM certificate of text.
func firstCertificate(text string) (*x509.Certificate, error) {
	rest := []byte(text)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("no PEM certificate")
		}
		if b.Type == "CERTIFICATE" {
			return x509.ParseCertificate(b.Bytes)
		}
	}
}

func sameCertificate(text string, leaf *x509.Certificate) bool {
	c, err := firstCertificate(text)
	return err == nil && bytes.Equal(c.Raw, leaf.Raw)
}

// daysLeft is the number of whole days from now until notAfter (negative when
// expired).
func daysLeft(now, notAfter time.Time) int {
	d := notAfter.Sub(now)
	days := int(d / (24 * time.Hour))
	if d < 0 && d%(24*time.Hour) != 0 {
		days--
	}
	return days
}

// iamCertificates lists the IAM server certificates under pathPrefix.
func (s *Service) iamCertificates(ctx context.Context, pathPrefix string) ([]CertificateInfo, error) {
	in := &iam.ListServerCertificatesInput{MaxItems: aws.Int32(1000)}
	if pathPrefix != "" {
		in.PathPrefix = aws.String(pathPrefix)
	}
	var out []CertificateInfo
	for md, err := range s.iamServerCertificates(ctx, in) {
		if err != nil {
			return nil, err
		}
		info := iamInfo(md)
		if md.UploadDate != nil {
			info.Uploaded = *md.UploadDate
		}
		info.DaysLeft = daysLeft(s.now(), info.NotAfter)
		out = append(out, info)
	}
	return out, nil
}
