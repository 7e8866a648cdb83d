package awsiam

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/acm"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// IAMAPI is the part of the IAM client this package uses.
type IAMAPI interface {
	UploadServerCertificate(ctx context.Context, in *iam.UploadServerCertificateInput, optFns ...func(*iam.Options)) (*iam.UploadServerCertificateOutput, error)
	GetServerCertificate(ctx context.Context, in *iam.GetServerCertificateInput, optFns ...func(*iam.Options)) (*iam.GetServerCertificateOutput, error)
	ListServerCertificates(ctx context.Context, in *iam.ListServerCertificatesInput, optFns ...func(*iam.Options)) (*iam.ListServerCertificatesOutput, error)
	DeleteServerCertificate(ctx context.Context, in *iam.DeleteServerCertificateInput, optFns ...func(*iam.Options)) (*iam.DeleteServerCertificateOutput, error)
	ListServerCertificateTags(ctx context.Context, in *iam.ListServerCertificateTagsInput, optFns ...func(*iam.Options)) (*iam.ListServerCertificateTagsOutput, error)
	TagServerCertificate(ctx context.Context, in *iam.TagServerCertificateInput, optFns ...func(*iam.Options)) (*iam.TagServerCertificateOutput, error)
}

// ACMAPI is the part of the ACM client this package uses.
type ACMAPI interface {
	ImportCertificate(ctx context.Context, in *acm.ImportCertificateInput, optFns ...func(*acm.Options)) (*acm.ImportCertificateOutput, error)
	GetCertificate(ctx context.Context, in *acm.GetCertificateInput, optFns ...func(*acm.Options)) (*acm.GetCertificateOutput, error)
	DescribeCertificate(ctx context.Context, in *acm.DescribeCertificateInput, optFns ...func(*acm.Options)) (*acm.DescribeCertificateOutput, error)
	ListCertificates(ctx context.Context, in *acm.ListCertificatesInput, optFns ...func(*acm.Options)) (*acm.ListCertificatesOutput, error)
	ListTagsForCertificate(ctx context.Context, in *acm.ListTagsForCertificateInput, optFns ...func(*acm.Options)) (*acm.ListTagsForCertificateOutput, error)
	DeleteCertificate(ctx context.Context, in *acm.DeleteCertificateInput, optFns ...func(*acm.Options)) (*acm.DeleteCertificateOutput, error)
	AddTagsToCertificate(ctx context.Context, in *acm.AddTagsToCertificateInput, optFns ...func(*acm.Options)) (*acm.AddTagsToCertificateOutput, error)
}

// ELBAPI is the part of the classic Elastic Load Balancing client this package uses.
type ELBAPI interface {
	DescribeLoadBalancers(ctx context.Context, in *elb.DescribeLoadBalancersInput, optFns ...func(*elb.Options)) (*elb.DescribeLoadBalancersOutput, error)
	SetLoadBalancerListenerSSLCertificate(ctx context.Context, in *elb.SetLoadBalancerListenerSSLCertificateInput, optFns ...func(*elb.Options)) (*elb.SetLoadBalancerListenerSSLCertificateOutput, error)
	CreateAppCookieStickinessPolicy(ctx context.Context, in *elb.CreateAppCookieStickinessPolicyInput, optFns ...func(*elb.Options)) (*elb.CreateAppCookieStickinessPolicyOutput, error)
	SetLoadBalancerPoliciesOfListener(ctx context.Context, in *elb.SetLoadBalancerPoliciesOfListenerInput, optFns ...func(*elb.Options)) (*elb.SetLoadBalancerPoliciesOfListenerOutput, error)
}

// ELBv2API is the part of the Elastic Load Balancing v2 (ALB/NLB) client this
// package uses.
type ELBv2API interface {
	DescribeLoadBalancers(ctx context.Context, in *elbv2.DescribeLoadBalancersInput, optFns ...func(*elbv2.Options)) (*elbv2.DescribeLoadBalancersOutput, error)
	DescribeListeners(ctx context.Context, in *elbv2.DescribeListenersInput, optFns ...func(*elbv2.Options)) (*elbv2.DescribeListenersOutput, error)
	DescribeListenerCertificates(ctx context.Context, in *elbv2.DescribeListenerCertificatesInput, optFns ...func(*elbv2.Options)) (*elbv2.DescribeListenerCertificatesOutput, error)
	ModifyListener(ctx context.Context, in *elbv2.ModifyListenerInput, optFns ...func(*elbv2.Options)) (*elbv2.ModifyListenerOutput, error)
	AddListenerCertificates(ctx context.Context, in *elbv2.AddListenerCertificatesInput, optFns ...func(*elbv2.Options)) (*elbv2.AddListenerCertificatesOutput, error)
	RemoveListenerCertificates(ctx context.Context, in *elbv2.RemoveListenerCertificatesInput, optFns ...func(*elbv2.Options)) (*elbv2.RemoveListenerCertificatesOutput, error)
	DescribeTargetGroups(ctx context.Context, in *elbv2.DescribeTargetGroupsInput, optFns ...func(*elbv2.Options)) (*elbv2.DescribeTargetGroupsOutput, error)
	DescribeTargetGroupAttributes(ctx context.Context, in *elbv2.DescribeTargetGroupAttributesInput, optFns ...func(*elbv2.Options)) (*elbv2.DescribeTargetGroupAttributesOutput, error)
	ModifyTargetGroupAttributes(ctx context.Context, in *elbv2.ModifyTargetGroupAttributesInput, optFns ...func(*elbv2.Options)) (*elbv2.ModifyTargetGroupAttributesOutput, error)
	DescribeRules(ctx context.Context, in *elbv2.DescribeRulesInput, optFns ...func(*elbv2.Options)) (*elbv2.DescribeRulesOutput, error)
}

var (
	_ IAMAPI   = (*iam.Client)(nil)
	_ ACMAPI   = (*acm.Client)(nil)
	_ ELBAPI   = (*elb.Client)(nil)
	_ ELBv2API = (*elbv2.Client)(nil)
)

// Clients are the AWS clients of one region (IAM is global).
type Clients struct {
	IAM   IAMAPI
	ACM   ACMAPI
	ELB   ELBAPI
	ELBv2 ELBv2API
}
