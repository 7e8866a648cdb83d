package awstest

import (
	"crypto/x509"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keybridge/keybridge/internal/awsrules"
)

type tag struct{ Key, Value string }

type serverCert struct {
	name      string
	path      string
	id        string
	arn       string
	body      string
	chain     string
	leaf      *x509.Certificate
	uploaded  time.Time
	visibleAt time.Time
	tags      []tag
}

var iamNameRE = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)

func init() {
	handlers["iam"] = map[string]handlerFunc{
		"UploadServerCertificate":   (*Server).iamUpload,
		"GetServerCertificate":      (*Server).iamGet,
		"ListServerCertificates":    (*Server).iamList,
		"DeleteServerCertificate":   (*Server).iamDelete,
		"ListServerCertificateTags": (*Server).iamListTags,
		"TagServerCertificate":      (*Server).iamTag,
		"UntagServerCertificate":    (*Server).iamUntag,
	}
}

func noSuchCert(name string) *apiError {
	return errorf(http.StatusNotFound, "NoSuchEntity", "The Server Certificate with name %s cannot be found.", name)
}

func (s *Server) iamCert(f map[string][]string) (*serverCert, *apiError) {
	if e := required(f, "ServerCertificateName"); e != nil {
		return nil, e
	}
	name := formGet(f, "ServerCertificateName")
	c := s.iamCerts[strings.ToLower(name)]
	if c == nil {
		return nil, noSuchCert(name)
	}
	return c, nil
}

func (c *serverCert) metadata(name string) node {
	return el(name,
		tx("Path", c.path),
		tx("ServerCertificateName", c.name),
		tx("ServerCertificateId", c.id),
		tx("Arn", c.arn),
		ts("UploadDate", c.uploaded),
		ts("Expiration", c.leaf.NotAfter),
	)
}

func tagNodes(tags []tag) node {
	items := make([]node, 0, len(tags))
	for _, t := range tags {
		items = append(items, mem(tx("Key", t.Key), tx("Value", t.Value)))
	}
	return list("Tags", items)
}

// tagTextRE is what IAM and ACM take in tag keys and values: letters,
// separators (spaces), digits and _.:/=+-@. IAM API reference, Tag data type
// (https://docs.aws.amazon.com/IAM/latest/APIReference/API_Tag.html): Key
// 1-128 characters, Value 0-256, both of pattern [\p{L}\p{Z}\p{N}_.:/=+\-@]+;
// ACM API reference, Tag (https://docs.aws.amazon.com/acm/latest/APIReference/API_Tag.html):
// the same pattern and lengths.
var tagTextRE = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

func parseTags(f map[string][]string, prefix string) ([]tag, *apiError) {
	var tags []tag
	seen := map[string]bool{}
	for _, m := range formStructs(f, prefix, "Key", "Value") {
		k := m["Key"]
		if k == "" || len(k) > 128 || len(m["Value"]) > 256 {
			return nil, badRequest("InvalidInput", "tag keys must be 1-128 characters and values at most 256")
		}
		if !tagTextRE.MatchString(k) || !tagTextRE.MatchString(m["Value"]) {
			return nil, badRequest("InvalidInput", "1 validation error detected: Value '%s' at 'tags' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+", k)
		}
		if seen[strings.ToLower(k)] {
			return nil, badRequest("InvalidInput", "Duplicate tag keys found. Please note that Tag keys are case insensitive.")
		}
		seen[strings.ToLower(k)] = true
		tags = append(tags, tag{k, m["Value"]})
	}
	if len(tags) > 50 {
		return nil, errorf(http.StatusConflict, "LimitExceeded", "Cannot exceed quota for TagsPerServerCertificate: 50")
	}
	return tags, nil
}

func (s *Server) iamUpload(r *request) (any, *apiError) {
	f := r.form
	if e := required(f, "ServerCertificateName", "CertificateBody", "PrivateKey"); e != nil {
		return nil, e
	}
	name := formGet(f, "ServerCertificateName")
	if !iamNameRE.MatchString(name) {
		return nil, badRequest("ValidationError", "1 validation error detected: Value '%s' at 'serverCertificateName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+ and length 1-128", name)
	}
	path := formGet(f, "Path")
	if path == "" {
		path = "/"
	}
	// The API reference's pattern for Path: (\u002F)|(\u002F[\u0021-\u007F]+\u002F),
	// at most 512 characters (UploadServerCertificate: ValidationError, HTTP 400).
	if !awsrules.ValidIAMPath(path) {
		return nil, badRequest("ValidationError", "1 validation error detected: Value '%s' at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007F]+\\u002F)", path)
	}
	body, key, chain := formGet(f, "CertificateBody"), formGet(f, "PrivateKey"), formGet(f, "CertificateChain")
	if len(body) > 16384 || len(key) > 16384 || len(chain) > 2097152 {
		return nil, badRequest("ValidationError", "certificate body, private key or chain too long")
	}
	tags, e := parseTags(f, "Tags")
	if e != nil {
		return nil, e
	}
	if s.iamCerts[strings.ToLower(name)] != nil {
		return nil, errorf(http.StatusConflict, "EntityAlreadyExists", "The Server Certificate with name %s already exists.", name)
	}
	if len(s.iamCerts) >= s.opts.MaxServerCertificates {
		return nil, errorf(http.StatusConflict, "LimitExceeded", "Cannot exceed quota for ServerCertificatesPerAccount: %d", s.opts.MaxServerCertificates)
	}
	leaf, _, problem, kind := checkMaterial(body, key, chain, iamKeyAlgorithms)
	switch kind {
	case "malformed":
		return nil, badRequest("MalformedCertificate", "%s", problem)
	case "mismatch":
		return nil, badRequest("KeyPairMismatch", "%s", problem)
	}
	now := time.Now()
	c := &serverCert{
		name:      name,
		path:      path,
		id:        "ASCA" + randomUpper(17),
		arn:       "arn:aws:iam::" + s.opts.AccountID + ":server-certificate" + path + name,
		body:      strings.TrimSpace(body),
		chain:     strings.TrimSpace(chain),
		leaf:      leaf,
		uploaded:  now,
		visibleAt: now.Add(s.propDelay),
		tags:      tags,
	}
	s.iamCerts[strings.ToLower(name)] = c
	return result{c.metadata("ServerCertificateMetadata"), tagNodes(c.tags)}, nil
}

func (s *Server) iamGet(r *request) (any, *apiError) {
	c, e := s.iamCert(r.form)
	if e != nil {
		return nil, e
	}
	kids := []node{c.metadata("ServerCertificateMetadata"), tx("CertificateBody", c.body)}
	if c.chain != "" {
		kids = append(kids, tx("CertificateChain", c.chain))
	}
	kids = append(kids, tagNodes(c.tags))
	return result{el("ServerCertificate", kids...)}, nil
}

func (s *Server) iamList(r *request) (any, *apiError) {
	prefix := formGet(r.form, "PathPrefix")
	if prefix == "" {
		prefix = "/"
	}
	var all []*serverCert
	for _, c := range s.iamCerts {
		if strings.HasPrefix(c.path, prefix) {
			all = append(all, c)
		}
	}
	sort.Slice(all, func(i, j int) bool { return strings.ToLower(all[i].name) < strings.ToLower(all[j].name) })
	start, max, e := paging(r.form, "Marker", "MaxItems", 100, 1000)
	if e != nil {
		return nil, e
	}
	if start > len(all) {
		start = len(all)
	}
	end := min(start+max, len(all))
	items := make([]node, 0, end-start)
	for _, c := range all[start:end] {
		items = append(items, c.metadata("member"))
	}
	res := result{list("ServerCertificateMetadataList", items), boolean("IsTruncated", end < len(all))}
	if end < len(all) {
		res = append(res, tx("Marker", strconv.Itoa(end)))
	}
	return res, nil
}

// paging reads an opaque marker (an index here) and a page size.
func paging(f map[string][]string, markerKey, sizeKey string, def, limit int) (start, size int, e *apiError) {
	size = def
	if v := formGet(f, sizeKey); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > limit {
			return 0, 0, badRequest("ValidationError", "%s must be between 1 and %d", sizeKey, limit)
		}
		size = n
	}
	if v := formGet(f, markerKey); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, 0, badRequest("InvalidInput", "invalid %s", markerKey)
		}
		start = n
	}
	return start, size, nil
}

func (s *Server) iamDelete(r *request) (any, *apiError) {
	c, e := s.iamCert(r.form)
	if e != nil {
		return nil, e
	}
	if users := s.usersOf(c.arn); len(users) > 0 {
		return nil, errorf(http.StatusConflict, "DeleteConflict", "Certificate: %s is currently in use by %s. Please remove it first before deleting it from IAM.", c.id, strings.Join(users, ", "))
	}
	delete(s.iamCerts, strings.ToLower(c.name))
	return nil, nil
}

func (s *Server) iamListTags(r *request) (any, *apiError) {
	c, e := s.iamCert(r.form)
	if e != nil {
		return nil, e
	}
	// IAM API reference, ListServerCertificateTags
	// (https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListServerCertificateTags.html):
	// "The returned list of tags is sorted by tag key"; MaxItems 1-1000,
	// default 100; "IAM might return fewer results, even when more results are
	// available. In that case, the IsTruncated response element returns true,
	// and Marker contains a value to include in the subsequent call"
	// (Options.IAMTagPageSize makes it do so).
	start, size, e := paging(r.form, "Marker", "MaxItems", 100, 1000)
	if e != nil {
		return nil, e
	}
	if s.opts.IAMTagPageSize > 0 {
		size = min(size, s.opts.IAMTagPageSize)
	}
	tags := slices.SortedFunc(slices.Values(c.tags), func(a, b tag) int { return strings.Compare(a.Key, b.Key) })
	start = min(start, len(tags))
	end := min(start+size, len(tags))
	res := result{tagNodes(tags[start:end]), boolean("IsTruncated", end < len(tags))}
	if end < len(tags) {
		res = append(res, tx("Marker", strconv.Itoa(end)))
	}
	return res, nil
}

func (s *Server) iamTag(r *request) (any, *apiError) {
	c, e := s.iamCert(r.form)
	if e != nil {
		return nil, e
	}
	tags, e := parseTags(r.form, "Tags")
	if e != nil {
		return nil, e
	}
	merged := append([]tag(nil), c.tags...)
	for _, t := range tags {
		replaced := false
		for i := range merged {
			if strings.EqualFold(merged[i].Key, t.Key) {
				merged[i].Value, replaced = t.Value, true
			}
		}
		if !replaced {
			merged = append(merged, t)
		}
	}
	if len(merged) > 50 {
		return nil, errorf(http.StatusConflict, "LimitExceeded", "Cannot exceed quota for TagsPerServerCertificate: 50")
	}
	c.tags = merged
	return nil, nil
}

func (s *Server) iamUntag(r *request) (any, *apiError) {
	c, e := s.iamCert(r.form)
	if e != nil {
		return nil, e
	}
	keys, _ := formList(r.form, "TagKeys")
	var kept []tag
	for _, t := range c.tags {
		drop := false
		for _, k := range keys {
			if strings.EqualFold(k, t.Key) {
				drop = true
			}
		}
		if !drop {
			kept = append(kept, t)
		}
	}
	c.tags = kept
	return nil, nil
}

// iamCertByARN finds an IAM server certificate by ARN.
func (s *Server) iamCertByARN(arn string) *serverCert {
	for _, c := range s.iamCerts {
		if c.arn == arn {
			return c
		}
	}
	return nil
}
