package awsiam

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keybridge/keybridge/internal/words"
	"github.com/keybridge/keybridge/keystore"
)

// Tag is a key=value tag put on an uploaded certificate.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ParseTag reads "key=value".
func ParseTag(s string) (Tag, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return Tag{}, fmt.Errorf("tag %q: want KEY=VALUE", s)
	}
	return Tag{Key: k, Value: v}, nil
}

// UploadOptions say where and under what name a key pair goes.
type UploadOptions struct {
	Target Target
	// Name is the IAM server certificate name; default DefaultName(leaf, NamePrefix).
	Name       string
	NamePrefix string
	// Path is the IAM path, "/" by default (e.g. "/cloudfront/").
	Path string
	Tags []Tag
	// CertificateARN re-imports into an existing ACM certificate (the ARN stays).
	CertificateARN string
	// Lineage, when set, makes a new upload a member of that lineage
	// (generation 1 unless a rotation records more).
	Lineage string
	ValidateOptions
}

// UploadResult says what Upload did.
type UploadResult struct {
	Target string `json:"target"`
	ARN    string `json:"arn"`
	Name   string `json:"name,omitempty"` // IAM
	// Uploaded is false when the same certificate was already there.
	Uploaded bool `json:"uploaded"`
	// Reimported: an ACM certificate was replaced in place.
	Reimported bool   `json:"reimported,omitempty"`
	NotAfter   string `json:"not_after"`
	DryRun     bool   `json:"dry_run,omitempty"`
}

// plannedARN stands, in a dry run, for the ARN the upload (IAM) or import (ACM)
// of kp with o would get: "<new: arn of upload NAME>". It cannot be mistaken for
// a real ARN, nor pasted into a command that takes one.
func plannedARN(kp *keystore.KeyPair, o UploadOptions) string {
	if o.Target == TargetACM {
		name := DefaultName(kp.Leaf, o.NamePrefix)
		for _, t := range o.Tags {
			if t.Key == "Name" {
				name = t.Value
			}
		}
		return "<new: arn of ACM import " + name + ">"
	}
	name := o.Name
	if name == "" {
		name = DefaultName(kp.Leaf, o.NamePrefix)
	}
	return "<new: arn of upload " + name + ">"
}

// chainParam is how a planned call shows the chain: "1 certificate".
func chainParam(kp *keystore.KeyPair) string {
	return words.Count(len(kp.Chain), "certificate", "certificates")
}

// Upload validates kp for the target (no AWS call when that fails), then uploads
// it to IAM or imports it into ACM, unless the same certificate is already there.
func (s *Service) Upload(ctx context.Context, kp *keystore.KeyPair, o UploadOptions) (*UploadResult, error) {
	if err := Validate(kp, o.Target, s.now(), o.ValidateOptions); err != nil {
		return nil, err
	}
	if o.Lineage != "" {
		if err := ValidLineage(o.Lineage); err != nil {
			return nil, err
		}
		if key := tagLineage + o.Lineage; !hasTag(o.Tags, key) && o.CertificateARN == "" {
			o.Tags = append(slices.Clone(o.Tags), Tag{Key: key, Value: "1"}, originTag(o.Lineage))
		}
	}
	if o.Target == TargetACM {
		return s.importACM(ctx, kp, o)
	}
	return s.uploadIAM(ctx, kp, o)
}

func (s *Service) uploadIAM(ctx context.Context, kp *keystore.KeyPair, o UploadOptions) (*UploadResult, error) {
	if o.CertificateARN != "" {
		return nil, fmt.Errorf("a certificate ARN to re-import into is for ACM only: %w", ErrNotForTarget)
	}
	if o.NamePrefix != "" {
		if err := ValidName(o.NamePrefix); err != nil {
			return nil, fmt.Errorf("name prefix %w", err)
		}
	}
	name := o.Name
	if name == "" {
		name = DefaultName(kp.Leaf, o.NamePrefix)
	}
	if err := ValidName(name); err != nil {
		return nil, fmt.Errorf("certificate name %w", err)
	}
	if err := CheckIAMPath(o.Path); err != nil {
		return nil, err
	}
	path := o.Path
	if path == "" {
		path = "/"
	}
	res := &UploadResult{Target: "iam", Name: name, NotAfter: kp.Leaf.NotAfter.UTC().Format("2006-01-02T15:04:05Z")}
	existing, err := s.getServerCertificate(ctx, name)
	if err != nil {
		return nil, err
	}
	if existing != nil {
		return s.reuseIAM(existing, kp, name, path, res)
	}

	body := string(kp.CertPEM())
	keyPEM, err := kp.KeyPEM(keystore.KeyFormatDefault)
	if err != nil {
		return nil, fmt.Errorf("encoding private key: %w", err)
	}
	defer clear(keyPEM)
	in := &iam.UploadServerCertificateInput{
		ServerCertificateName: aws.String(name),
		Path:                  aws.String(path),
		CertificateBody:       aws.String(body),
		PrivateKey:            aws.String(string(keyPEM)),
	}
	if chain := kp.ChainPEM(); len(chain) > 0 {
		in.CertificateChain = aws.String(string(chain))
	}
	for _, t := range o.Tags {
		in.Tags = append(in.Tags, iamtypes.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)})
	}
	call := Call{Service: "iam", Operation: "UploadServerCertificate", Params: map[string]string{
		"ServerCertificateName": name, "Path": path, "CertificateChain": chainParam(kp),
		"PrivateKey": "(from the keystore, not shown)"}}
	if len(o.Tags) > 0 {
		call.Params["Tags"] = tagString(o.Tags)
	}
	var out *iam.UploadServerCertificateOutput
	ran, err := s.mutate(call, func() error {
		var err error
		out, err = s.c.IAM.UploadServerCertificate(ctx, in)
		return err
	})
	switch {
	case isCode(err, "EntityAlreadyExists"):
		// Someone uploaded it between our look-up and the upload.
		existing, gerr := s.getServerCertificate(ctx, name)
		if gerr != nil || existing == nil {
			return nil, fmt.Errorf("uploading %q: %w", name, err)
		}
		return s.reuseIAM(existing, kp, name, path, res)
	case isCode(err, "KeyPairMismatch"):
		return nil, fmt.Errorf("IAM refused %q: %w (%v)", name, ErrKeyMismatch, err)
	case err != nil:
		return nil, fmt.Errorf("uploading server certificate %q to IAM: %w", name, err)
	}
	if !ran {
		res.ARN = plannedARN(kp, UploadOptions{Name: name})
		res.DryRun = true
		return res, nil
	}
	res.ARN = aws.ToString(out.ServerCertificateMetadata.Arn)
	res.Uploaded = true
	s.log.Info("uploaded server certificate", "name", name, "arn", res.ARN)
	return res, nil
}

func (s *Service) reuseIAM(existing *serverCertificate, kp *keystore.KeyPair, name, path string, res *UploadResult) (*UploadResult, error) {
	if existing.leaf == nil || !sameCertificate(string(kp.CertPEM()), existing.leaf) {
		return nil, fmt.Errorf("IAM server certificate %q (%s) holds a different certificate: %w", name, existing.ARN, ErrNameTaken)
	}
	if existing.Path != path {
		s.log.Warn("certificate already uploaded under another path", "name", name, "path", existing.Path, "wanted", path)
	}
	res.ARN = existing.ARN
	s.log.Info("certificate already uploaded", "name", name, "arn", res.ARN)
	return res, nil
}

func tagString(tags []Tag) string {
	parts := make([]string, 0, len(tags))
	for _, t := range tags {
		parts = append(parts, t.Key+"="+t.Value)
	}
	return strings.Join(parts, ",")
}

// allKeyTypes makes ListCertificates return every imported key type (without
// the filter ACM lists RSA_1024 and RSA_2048 only).
var allKeyTypes = []acmtypes.KeyAlgorithm{
	acmtypes.KeyAlgorithmRsa1024, acmtypes.KeyAlgorithmRsa2048, acmtypes.KeyAlgorithmRsa3072, acmtypes.KeyAlgorithmRsa4096,
	acmtypes.KeyAlgorithmEcPrime256v1, acmtypes.KeyAlgorithmEcSecp384r1, acmtypes.KeyAlgorithmEcSecp521r1,
}

func (s *Service) importACM(ctx context.Context, kp *keystore.KeyPair, o UploadOptions) (*UploadResult, error) {
	if o.Name != "" || o.Path != "" {
		return nil, fmt.Errorf("a certificate name and path are for IAM; ACM certificates are known by ARN (a Name tag can name them): %w", ErrNotForTarget)
	}
	res := &UploadResult{Target: "acm", NotAfter: kp.Leaf.NotAfter.UTC().Format("2006-01-02T15:04:05Z")}
	if o.CertificateARN != "" {
		if !isACMARN(o.CertificateARN) {
			return nil, fmt.Errorf("%q is not an ACM certificate ARN", o.CertificateARN)
		}
		got, err := s.c.ACM.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: aws.String(o.CertificateARN)})
		if isCode(err, "ResourceNotFoundException", "InvalidArnException") {
			return nil, fmt.Errorf("ACM certificate %s: %w", o.CertificateARN, ErrCertificateNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("getting ACM certificate %s: %w", o.CertificateARN, err)
		}
		res.ARN = o.CertificateARN
		if sameCertificate(aws.ToString(got.Certificate), kp.Leaf) {
			s.log.Info("ACM certificate already holds this certificate", "arn", res.ARN)
			return res, nil
		}
		old, err := firstCertificate(aws.ToString(got.Certificate))
		if err != nil {
			return nil, fmt.Errorf("ACM certificate %s: %w", o.CertificateARN, err)
		}
		if err := CheckReimport(old, kp.Leaf, o.Tags); err != nil {
			return nil, err
		}
		res.Reimported = true
	} else {
		arn, err := s.findACM(ctx, kp)
		if err != nil {
			return nil, err
		}
		if arn != "" {
			res.ARN = arn
			s.log.Info("certificate already imported into ACM", "arn", arn)
			return res, nil
		}
	}
	keyPEM, err := kp.KeyPEM(keystore.KeyFormatDefault)
	if err != nil {
		return nil, fmt.Errorf("encoding private key: %w", err)
	}
	defer clear(keyPEM)
	in := &acm.ImportCertificateInput{Certificate: kp.CertPEM(), PrivateKey: keyPEM}
	if chain := kp.ChainPEM(); len(chain) > 0 {
		in.CertificateChain = chain
	}
	if o.CertificateARN != "" {
		in.CertificateArn = aws.String(o.CertificateARN)
	} else {
		tags := o.Tags
		if !hasTag(tags, "Name") {
			tags = append(tags, Tag{Key: "Name", Value: DefaultName(kp.Leaf, o.NamePrefix)})
		}
		for _, t := range tags {
			in.Tags = append(in.Tags, acmtypes.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)})
		}
	}
	params := map[string]string{"CertificateChain": chainParam(kp), "PrivateKey": "(from the keystore, not shown)"}
	if o.CertificateARN != "" {
		params["CertificateArn"] = o.CertificateARN
	}
	if len(in.Tags) > 0 {
		var tags []Tag
		for _, t := range in.Tags {
			tags = append(tags, Tag{Key: aws.ToString(t.Key), Value: aws.ToString(t.Value)})
		}
		params["Tags"] = tagString(tags)
	}
	var out *acm.ImportCertificateOutput
	ran, err := s.mutate(Call{Service: "acm", Operation: "ImportCertificate", Params: params}, func() error {
		var err error
		out, err = s.c.ACM.ImportCertificate(ctx, in)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("importing certificate into ACM: %w", err)
	}
	if !ran {
		if res.ARN == "" {
			res.ARN = plannedARN(kp, o)
		}
		res.DryRun = true
		return res, nil
	}
	res.ARN = aws.ToString(out.CertificateArn)
	res.Uploaded = true
	s.log.Info("imported certificate into ACM", "arn", res.ARN, "reimported", res.Reimported)
	return res, nil
}

func hasTag(tags []Tag, key string) bool {
	for _, t := range tags {
		if t.Key == key {
			return true
		}
	}
	return false
}

// findACM returns the ARN of an imported ACM certificate holding kp's leaf, or "".
func (s *Service) findACM(ctx context.Context, kp *keystore.KeyPair) (string, error) {
	domain := subjectName(kp.Leaf)
	for c, err := range s.acmSummaries(ctx) {
		if err != nil {
			return "", err
		}
		if aws.ToString(c.DomainName) != domain || (c.NotAfter != nil && !c.NotAfter.Equal(kp.Leaf.NotAfter)) {
			continue
		}
		got, err := s.c.ACM.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: c.CertificateArn})
		if err != nil {
			return "", fmt.Errorf("getting ACM certificate %s: %w", aws.ToString(c.CertificateArn), err)
		}
		if sameCertificate(aws.ToString(got.Certificate), kp.Leaf) {
			return aws.ToString(c.CertificateArn), nil
		}
	}
	return "", nil
}
