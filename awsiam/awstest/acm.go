package awstest

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keybridge/keybridge/internal/awsrules"
)

type acmCert struct {
	arn       string
	body      string
	chain     string
	leaf      *x509.Certificate
	keyAlg    string
	imported  time.Time
	visibleAt time.Time
	tags      []tag
	issued    *acmIssued // nil for an imported certificate
	token     string     // RequestCertificate's IdempotencyToken
}

func (rs *regionState) acmCert(arn string) *acmCert {
	return find(rs.acm, func(c *acmCert) bool { return c.arn == arn })
}

func init() {
	handlers["acm"] = map[string]handlerFunc{
		"ImportCertificate":      (*Server).acmImport,
		"DescribeCertificate":    (*Server).acmDescribe,
		"ListCertificates":       (*Server).acmList,
		"DeleteCertificate":      (*Server).acmDelete,
		"GetCertificate":         (*Server).acmGet,
		"RequestCertificate":     (*Server).acmRequest,
		"ExportCertificate":      (*Server).acmExport,
		"ListTagsForCertificate": (*Server).acmListTags,
		"AddTagsToCertificate":   (*Server).acmAddTags,
	}
}

func decodeJSON(r *request, v any) *apiError {
	if len(bytes.TrimSpace(r.body)) == 0 {
		return badRequest("SerializationException", "request body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	if err := dec.Decode(v); err != nil {
		return badRequest("SerializationException", "request body is not valid JSON for %s: %v", r.action, err)
	}
	return nil
}

// acmRequested is the certificate named by the request body's CertificateArn.
func (s *Server) acmRequested(r *request) (*acmCert, *apiError) {
	var in struct{ CertificateArn string }
	if e := decodeJSON(r, &in); e != nil {
		return nil, e
	}
	return s.acmLookup(r, in.CertificateArn)
}

func (s *Server) acmLookup(r *request, arn string) (*acmCert, *apiError) {
	if arn == "" {
		return nil, badRequest("ValidationException", "1 validation error detected: Value null at 'certificateArn' failed to satisfy constraint: Member must not be null")
	}
	if !strings.HasPrefix(arn, "arn:aws:acm:") || !strings.Contains(arn, ":certificate/") {
		return nil, badRequest("InvalidArnException", "String '%s' is not a valid ARN", arn)
	}
	c := s.region(r.region).acmCert(arn)
	if c == nil {
		return nil, badRequest("ResourceNotFoundException", "Could not find certificate %s.", arn)
	}
	return c, nil
}

type acmTag struct {
	Key   string
	Value string `json:",omitempty"`
}

func (s *Server) acmImport(r *request) (any, *apiError) {
	var in struct {
		CertificateArn   string
		Certificate      []byte
		PrivateKey       []byte
		CertificateChain []byte
		Tags             []acmTag
	}
	if e := decodeJSON(r, &in); e != nil {
		return nil, e
	}
	if len(in.Certificate) == 0 || len(in.PrivateKey) == 0 {
		return nil, badRequest("ValidationException", "Certificate and PrivateKey are required")
	}
	if len(in.Certificate) > 32768 || len(in.PrivateKey) > 5120 || len(in.CertificateChain) > 2097152 {
		return nil, badRequest("ValidationException", "1 validation error detected: certificate, private key (5 KB) or chain too long")
	}
	leaf, _, problem, kind := checkMaterial(string(in.Certificate), string(in.PrivateKey), string(in.CertificateChain), acmKeyAlgorithms)
	if kind != "" {
		return nil, badRequest("ValidationException", "%s", problem)
	}
	if len(in.Tags) > 50 {
		return nil, badRequest("TooManyTagsException", "too many tags")
	}
	if e := checkACMTags(in.Tags); e != nil {
		return nil, e
	}
	now := time.Now()
	if in.CertificateArn != "" {
		if len(in.Tags) > 0 {
			return nil, badRequest("InvalidParameterException", "Tags are not supported when re-importing a certificate")
		}
		c, e := s.acmLookup(r, in.CertificateArn)
		if e != nil {
			return nil, e
		}
		if c.issued != nil {
			return nil, badRequest("ValidationException", "Certificate ARN: %s was issued by ACM and cannot be re-imported", c.arn)
		}
		if problem := reimportProblem(c.leaf, leaf); problem != "" {
			return nil, badRequest("ValidationException", "%s", problem)
		}
		c.body, c.chain, c.leaf = strings.TrimSpace(string(in.Certificate)), strings.TrimSpace(string(in.CertificateChain)), leaf
		c.keyAlg = keyAlgorithm(leaf.PublicKey)
		c.imported = now
		return map[string]string{"CertificateArn": c.arn}, nil
	}
	rs := s.region(r.region)
	c := &acmCert{
		arn:       "arn:aws:acm:" + r.region + ":" + s.opts.AccountID + ":certificate/" + newRequestID(),
		body:      strings.TrimSpace(string(in.Certificate)),
		chain:     strings.TrimSpace(string(in.CertificateChain)),
		leaf:      leaf,
		keyAlg:    keyAlgorithm(leaf.PublicKey),
		imported:  now,
		visibleAt: now.Add(s.propDelay),
	}
	for _, t := range in.Tags {
		c.tags = append(c.tags, tag{t.Key, t.Value})
	}
	rs.acm = append(rs.acm, c)
	return map[string]string{"CertificateArn": c.arn}, nil
}

// reimportProblem says why ACM refuses to re-import next over old, or "", by
// the ACM User Guide's conditions ("Reimport a certificate"; see
// awsrules.Reimport). ACM answers ValidationException, HTTP 400.
func reimportProblem(old, next *x509.Certificate) string {
	switch conflict, detail := awsrules.Reimport(old, next); conflict {
	case awsrules.KeyChanged:
		return fmt.Sprintf("The certificate key algorithm %s does not match the key algorithm %s of the certificate being replaced", detail[1], detail[0])
	case awsrules.NoDomain:
		return "The certificate must contain at least one domain name"
	case awsrules.UsageAdded:
		return "The certificate cannot add a Key Usage or Extended Key Usage extension the certificate being replaced does not have"
	case awsrules.KeyUsageDropped:
		return "The certificate must keep the Key Usage values of the certificate being replaced: " + strings.Join(detail, ", ")
	case awsrules.ExtKeyUsageDropped:
		return "The certificate must keep the Extended Key Usage values of the certificate being replaced: " + strings.Join(detail, ", ")
	}
	return ""
}

func (s *Server) acmDescribe(r *request) (any, *apiError) {
	c, e := s.acmRequested(r)
	if e != nil {
		return nil, e
	}
	inUse := s.usersOf(c.arn)
	if inUse == nil {
		inUse = []string{}
	}
	if !s.ready(c) {
		return map[string]any{"Certificate": map[string]any{
			"CertificateArn":          c.arn,
			"DomainName":              c.issued.domains[0],
			"SubjectAlternativeNames": c.issued.domains,
			"CreatedAt":               epoch(c.issued.requested),
			"Status":                  c.status(),
			"KeyAlgorithm":            c.keyAlg,
			"InUseBy":                 inUse,
			"Type":                    c.certType(),
			"Options":                 exportOption(c),
		}}, nil
	}
	sans := c.leaf.DNSNames
	if sans == nil {
		sans = []string{}
	}
	return map[string]any{"Certificate": map[string]any{
		"CertificateArn":          c.arn,
		"DomainName":              awsrules.Of(c.leaf),
		"SubjectAlternativeNames": sans,
		"Serial":                  c.leaf.SerialNumber.Text(16),
		"Subject":                 c.leaf.Subject.String(),
		"Issuer":                  c.leaf.Issuer.String(),
		"ImportedAt":              epoch(c.imported),
		"Status":                  c.status(),
		"NotBefore":               epoch(c.leaf.NotBefore),
		"NotAfter":                epoch(c.leaf.NotAfter),
		"KeyAlgorithm":            c.keyAlg,
		"SignatureAlgorithm":      c.leaf.SignatureAlgorithm.String(),
		"InUseBy":                 inUse,
		"Type":                    c.certType(),
		"RenewalEligibility":      "INELIGIBLE",
		"Options":                 exportOption(c),
	}}, nil
}

func (s *Server) acmList(r *request) (any, *apiError) {
	var in struct {
		CertificateStatuses []string
		Includes            struct {
			KeyTypes []string `json:"keyTypes"`
		}
		NextToken string
		MaxItems  int
	}
	if e := decodeJSON(r, &in); e != nil {
		return nil, e
	}
	keyTypes := in.Includes.KeyTypes
	if len(keyTypes) == 0 {
		// What ACM does: without a filter only these key types are listed.
		keyTypes = []string{"RSA_1024", "RSA_2048"}
	}
	if len(in.CertificateStatuses) > 0 && !contains(in.CertificateStatuses, "ISSUED") {
		return map[string]any{"CertificateSummaryList": []any{}}, nil
	}
	var all []*acmCert
	for _, c := range s.region(r.region).acm {
		if s.ready(c) && contains(keyTypes, c.keyAlg) {
			all = append(all, c)
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].imported.Before(all[j].imported) })
	size := 100
	if in.MaxItems > 0 {
		size = in.MaxItems
	}
	start := 0
	if in.NextToken != "" {
		n, err := strconv.Atoi(in.NextToken)
		if err != nil || n < 0 {
			return nil, badRequest("InvalidArgsException", "invalid NextToken")
		}
		start = min(n, len(all))
	}
	end := min(start+size, len(all))
	items := []map[string]any{}
	for _, c := range all[start:end] {
		items = append(items, map[string]any{
			"CertificateArn": c.arn,
			"DomainName":     awsrules.Of(c.leaf),
			"Status":         c.status(),
			"Type":           c.certType(),
			"KeyAlgorithm":   c.keyAlg,
			"InUse":          len(s.usersOf(c.arn)) > 0,
			"NotBefore":      epoch(c.leaf.NotBefore),
			"NotAfter":       epoch(c.leaf.NotAfter),
			"ImportedAt":     epoch(c.imported),
		})
	}
	out := map[string]any{"CertificateSummaryList": items}
	if end < len(all) {
		out["NextToken"] = strconv.Itoa(end)
	}
	return out, nil
}

func (s *Server) acmDelete(r *request) (any, *apiError) {
	c, e := s.acmRequested(r)
	if e != nil {
		return nil, e
	}
	if users := s.usersOf(c.arn); len(users) > 0 {
		return nil, badRequest("ResourceInUseException", "Certificate %s in account %s is in use.", c.arn, s.opts.AccountID)
	}
	rs := s.region(r.region)
	for i, x := range rs.acm {
		if x == c {
			rs.acm = append(rs.acm[:i], rs.acm[i+1:]...)
			break
		}
	}
	return nil, nil
}

func (s *Server) acmGet(r *request) (any, *apiError) {
	c, e := s.acmRequested(r)
	if e != nil {
		return nil, e
	}
	if !s.ready(c) {
		return nil, badRequest("RequestInProgressException", "Certificate ARN: %s. The certificate request is in process and the certificate in your account has not yet been issued.", c.arn)
	}
	out := map[string]string{"Certificate": c.body + "\n"}
	if c.chain != "" {
		out["CertificateChain"] = c.chain + "\n"
	}
	return out, nil
}

func (s *Server) acmListTags(r *request) (any, *apiError) {
	c, e := s.acmRequested(r)
	if e != nil {
		return nil, e
	}
	tags := []acmTag{}
	for _, t := range c.tags {
		tags = append(tags, acmTag{t.Key, t.Value})
	}
	return map[string]any{"Tags": tags}, nil
}

func (s *Server) acmAddTags(r *request) (any, *apiError) {
	var in struct {
		CertificateArn string
		Tags           []acmTag
	}
	if e := decodeJSON(r, &in); e != nil {
		return nil, e
	}
	c, e := s.acmLookup(r, in.CertificateArn)
	if e != nil {
		return nil, e
	}
	if len(in.Tags) == 0 {
		return nil, badRequest("ValidationException", "Tags must not be empty")
	}
	if e := checkACMTags(in.Tags); e != nil {
		return nil, e
	}
	for _, t := range in.Tags {
		if t.Key == "" {
			return nil, badRequest("InvalidTagException", "tag keys must not be empty")
		}
		replaced := false
		for i := range c.tags {
			if c.tags[i].Key == t.Key {
				c.tags[i].Value, replaced = t.Value, true
			}
		}
		if !replaced {
			c.tags = append(c.tags, tag{t.Key, t.Value})
		}
	}
	if len(c.tags) > 50 {
		return nil, badRequest("TooManyTagsException", "a certificate can have at most 50 tags")
	}
	return nil, nil
}

func exportOption(c *acmCert) map[string]string {
	if c.issued != nil && c.issued.exportable {
		return map[string]string{"Export": "ENABLED"}
	}
	return map[string]string{"Export": "DISABLED"}
}

// checkACMTags refuses what ACM refuses in tags (ACM API reference, Tag and
// InvalidTagException: key 1-128, value 0-256 characters of tagTextRE; keys
// beginning with "aws:" are reserved).
func checkACMTags(tags []acmTag) *apiError {
	for _, t := range tags {
		if t.Key == "" || len(t.Key) > 128 || len(t.Value) > 256 || !tagTextRE.MatchString(t.Key) || !tagTextRE.MatchString(t.Value) {
			return badRequest("ValidationException", "1 validation error detected: Value '%s' at 'tags' failed to satisfy constraint", t.Key)
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return badRequest("InvalidTagException", "Tag keys starting with 'aws:' are reserved for system use")
		}
	}
	return nil
}
