package awsiam

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
)

// certificateTags reads the tags of an IAM server certificate or an ACM
// certificate (of this Service's region) by ARN; a certificate that is gone
// has none.
func (s *Service) certificateTags(ctx context.Context, arn string) ([]Tag, error) {
	var out []Tag
	if isACMARN(arn) {
		res, err := s.c.ACM.ListTagsForCertificate(ctx, &acm.ListTagsForCertificateInput{CertificateArn: aws.String(arn)})
		if isCode(err, "ResourceNotFoundException") {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("listing tags of %s: %w", arn, err)
		}
		for _, t := range res.Tags {
			out = append(out, Tag{Key: aws.ToString(t.Key), Value: aws.ToString(t.Value)})
		}
		return out, nil
	}
	name, ok := iamNameFromARN(arn)
	if !ok {
		return nil, nil // not a certificate certup could have tagged
	}
	p := iam.NewListServerCertificateTagsPaginator(s.c.IAM, &iam.ListServerCertificateTagsInput{ServerCertificateName: aws.String(name)})
	for t, err := range pageItems(ctx, p.HasMorePages, p.NextPage,
		func(o *iam.ListServerCertificateTagsOutput) []iamtypes.Tag { return o.Tags },
		"listing tags of IAM server certificate "+name) {
		if isCode(err, "NoSuchEntity") {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, Tag{Key: aws.ToString(t.Key), Value: aws.ToString(t.Value)})
	}
	return out, nil
}

// tagCall is the changing call tagCertificate makes.
func tagCall(arn string, tags []Tag) Call {
	if isACMARN(arn) {
		return Call{Service: "acm", Operation: "AddTagsToCertificate", Params: map[string]string{"CertificateArn": arn, "Tags": tagString(tags)}}
	}
	name, _ := iamNameFromARN(arn)
	return Call{Service: "iam", Operation: "TagServerCertificate", Params: map[string]string{"ServerCertificateName": name, "Tags": tagString(tags)}}
}

// tagCertificate adds (or overwrites) tags on an IAM server certificate
// (TagServerCertificate) or an ACM certificate (AddTagsToCertificate); a dry
// run records the call.
func (s *Service) tagCertificate(ctx context.Context, arn string, tags []Tag) error {
	if len(tags) == 0 {
		return nil
	}
	if isACMARN(arn) {
		in := &acm.AddTagsToCertificateInput{CertificateArn: aws.String(arn)}
		for _, t := range tags {
			in.Tags = append(in.Tags, acmtypes.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)})
		}
		_, err := s.mutate(tagCall(arn, tags),
			func() error { _, err := s.c.ACM.AddTagsToCertificate(ctx, in); return err })
		if err != nil {
			return fmt.Errorf("tagging %s: %w", arn, err)
		}
		return nil
	}
	name, ok := iamNameFromARN(arn)
	if !ok {
		return fmt.Errorf("tagging %q: not an IAM server certificate ARN: %w", arn, ErrCertificateNotFound)
	}
	in := &iam.TagServerCertificateInput{ServerCertificateName: aws.String(name)}
	for _, t := range tags {
		in.Tags = append(in.Tags, iamtypes.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)})
	}
	_, err := s.mutate(tagCall(arn, tags),
		func() error { _, err := s.c.IAM.TagServerCertificate(ctx, in); return err })
	if err != nil {
		return fmt.Errorf("tagging IAM server certificate %q: %w", name, err)
	}
	return nil
}
