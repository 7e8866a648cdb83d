package awsiam

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// What prune did with a certificate.
const (
	PruneInUse    = "in use"  // a listener serves it, or it is the certificate just rotated in
	PruneKept     = "kept"    // one of the newest Keep unused ones, kept for rollback
	PruneDelete   = "delete"  // dry run: would be deleted
	PruneDeleted  = "deleted" // deleted
	PruneConflict = "left"    // AWS answered DeleteConflict / ResourceInUse: used somewhere, left alone
	PruneFailed   = "failed"  // the delete failed (see Error); run prune again
)

// derivedNameRE matches the names DefaultName makes: prefix, expiry, hash.
var derivedNameRE = regexp.MustCompile(`^(.+)-(\d{8})-([0-9a-f]{12})$`)

// PruneOptions select what Prune deletes.
type PruneOptions struct {
	// Target: IAM server certificates, or the ACM certificates of each region.
	Target Target
	// NamePrefix: only certificates named "<NamePrefix>-<yyyymmdd>-<hash>" (for
	// ACM: with that Name tag). Default: any name certup derives.
	NamePrefix string
	// PathPrefix: IAM only certificates under this path. A path other than "/"
	// marks everything under it as certup's, whatever the names.
	PathPrefix string
	// Keep is how many unused certificates of each name group are kept (the
	// newest uploads, for rollback); 0 means DefaultKeep, negative none.
	Keep int
	// Protect lists certificates never deleted (the one just rotated in).
	Protect []string
}

// PruneEntry is one certificate prune looked at.
type PruneEntry struct {
	Region   string    `json:"region,omitempty"`
	ARN      string    `json:"arn"`
	Name     string    `json:"name,omitempty"`
	Group    string    `json:"group"`
	Uploaded time.Time `json:"uploaded,omitzero"`
	NotAfter time.Time `json:"not_after,omitzero"`
	Action   string    `json:"action"`
	Error    string    `json:"error,omitempty"`
}

// PruneResult says what Prune did.
type PruneResult struct {
	Certificates []*PruneEntry `json:"certificates"`
	Deleted      int           `json:"deleted"`
	Conflicts    int           `json:"conflicts"`
	Failed       int           `json:"failed"`
	Calls        []Call        `json:"calls,omitempty"`
	Outcome      string        `json:"outcome"`
	DryRun       bool          `json:"dry_run,omitempty"`
}

// Prune deletes the certificates certup uploaded (named as DefaultName names
// them, or under PathPrefix) that no listener of the regions of svcs uses and
// that are older than the newest Keep unused ones of their name group. It never
// detaches anything: a certificate AWS reports in use (DeleteConflict) is left
// and reported. With dry-run services it deletes nothing and records the calls.
func Prune(ctx context.Context, svcs []*Service, o PruneOptions) (*PruneResult, error) {
	if len(svcs) == 0 {
		return nil, errors.New("no region to prune in")
	}
	if o.Keep == 0 {
		o.Keep = DefaultKeep
	}
	if o.Keep < 0 {
		o.Keep = 0
	}
	res := &PruneResult{Certificates: []*PruneEntry{}, DryRun: svcs[0].dryRun}
	protect := map[string]bool{}
	for _, a := range o.Protect {
		protect[a] = true
	}
	// Listener uses, read once per region and only when something may go.
	var usesMu sync.Mutex
	uses := map[*Service]map[string]bool{}
	usesOf := func(list []*Service) (map[string]bool, error) {
		all := map[string]bool{}
		var wg sync.WaitGroup
		errs := make([]error, len(list))
		for i, s := range list {
			wg.Add(1)
			go func() {
				defer wg.Done()
				usesMu.Lock()
				m, ok := uses[s]
				usesMu.Unlock()
				if !ok {
					var err error
					if m, err = s.certificatesInUse(ctx); err != nil {
						errs[i] = fmt.Errorf("region %s: %w", s.region, err)
						return
					}
					usesMu.Lock()
					uses[s] = m
					usesMu.Unlock()
				}
				usesMu.Lock()
				for k := range m {
					all[k] = true
				}
				usesMu.Unlock()
			}()
		}
		wg.Wait()
		return all, errors.Join(errs...)
	}

	var errs []error
	if o.Target == TargetIAM {
		certs, err := svcs[0].iamCertificates(ctx, o.PathPrefix)
		if err != nil {
			return nil, err
		}
		entries := ownedEntries(certs, o, "")
		if err := pruneGroups(ctx, svcs[0], entries, o.Keep, protect, func() (map[string]bool, error) { return usesOf(svcs) }, res); err != nil {
			errs = append(errs, err)
		}
	} else {
		for _, s := range svcs {
			certs, err := s.acmOwned(ctx, o)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			entries := ownedEntries(certs, o, s.region)
			if err := pruneGroups(ctx, s, entries, o.Keep, protect, func() (map[string]bool, error) { return usesOf([]*Service{s}) }, res); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, s := range svcs {
		res.Calls = append(res.Calls, s.Planned()...)
	}
	switch {
	case res.Failed > 0 || len(errs) > 0:
		res.Outcome = OutcomePartial
		if res.Deleted == 0 {
			res.Outcome = OutcomeFailed
		}
	case res.Deleted > 0 || (res.DryRun && len(res.Calls) > 0):
		res.Outcome = OutcomeChanged
	default:
		res.Outcome = OutcomeUnchanged
	}
	return res, errors.Join(errs...)
}

// ownedEntries keeps the certificates certup named, with their name group.
func ownedEntries(certs []CertificateInfo, o PruneOptions, region string) []*PruneEntry {
	var out []*PruneEntry
	for _, c := range certs {
		name := c.Name
		group := ""
		if m := derivedNameRE.FindStringSubmatch(name); m != nil && (o.NamePrefix == "" || m[1] == o.NamePrefix) {
			group = m[1]
		} else if c.Source == "iam" && o.PathPrefix != "" && o.PathPrefix != "/" && o.NamePrefix == "" {
			group = c.Path
		}
		if group == "" {
			continue
		}
		out = append(out, &PruneEntry{Region: region, ARN: c.ARN, Name: name, Group: group, Uploaded: c.Uploaded, NotAfter: c.NotAfter})
	}
	return out
}

// pruneGroups decides and deletes, group by group.
func pruneGroups(ctx context.Context, s *Service, entries []*PruneEntry, keep int, protect map[string]bool,
	usesFn func() (map[string]bool, error), res *PruneResult) error {
	groups := map[string][]*PruneEntry{}
	var names []string
	for _, e := range entries {
		if groups[e.Group] == nil {
			names = append(names, e.Group)
		}
		groups[e.Group] = append(groups[e.Group], e)
	}
	sort.Strings(names)
	// Only when some group has more unprotected certificates than it keeps do
	// the listeners need reading.
	need := false
	for _, g := range groups {
		n := 0
		for _, e := range g {
			if !protect[e.ARN] {
				n++
			}
		}
		need = need || n > keep
	}
	used := map[string]bool{}
	if need {
		u, err := usesFn()
		if err != nil {
			return fmt.Errorf("reading which listeners use which certificate: %w", err)
		}
		used = u
	}
	for _, name := range names {
		g := groups[name]
		sort.SliceStable(g, func(i, j int) bool {
			if !g[i].Uploaded.Equal(g[j].Uploaded) {
				return g[i].Uploaded.After(g[j].Uploaded)
			}
			if !g[i].NotAfter.Equal(g[j].NotAfter) {
				return g[i].NotAfter.After(g[j].NotAfter)
			}
			return g[i].Name > g[j].Name
		})
		kept := 0
		for _, e := range g {
			res.Certificates = append(res.Certificates, e)
			switch {
			case protect[e.ARN] || used[e.ARN]:
				e.Action = PruneInUse
			case kept < keep:
				kept++
				e.Action = PruneKept
			default:
				s.deleteCertificate(ctx, e, res)
			}
		}
	}
	return nil
}

func (s *Service) deleteCertificate(ctx context.Context, e *PruneEntry, res *PruneResult) {
	var call Call
	var do func() error
	if isACMARN(e.ARN) {
		call = Call{Service: "acm", Operation: "DeleteCertificate", Params: map[string]string{"CertificateArn": e.ARN}}
		do = func() error {
			_, err := s.c.ACM.DeleteCertificate(ctx, &acm.DeleteCertificateInput{CertificateArn: aws.String(e.ARN)})
			return err
		}
	} else {
		call = Call{Service: "iam", Operation: "DeleteServerCertificate", Params: map[string]string{"ServerCertificateName": e.Name}}
		do = func() error {
			_, err := s.c.IAM.DeleteServerCertificate(ctx, &iam.DeleteServerCertificateInput{ServerCertificateName: aws.String(e.Name)})
			return err
		}
	}
	ran, err := s.mutate(call, do)
	switch {
	case !ran && err == nil:
		e.Action = PruneDelete
	case err == nil || isCode(err, "NoSuchEntity", "ResourceNotFoundException"):
		e.Action = PruneDeleted
		res.Deleted++
		s.log.Info("deleted certificate", "arn", e.ARN)
	case isCode(err, "DeleteConflict", "ResourceInUseException"):
		e.Action = PruneConflict
		e.Error = "AWS reports it in use (" + errorCode(err) + "); left alone"
		res.Conflicts++
		s.log.Warn("certificate still in use somewhere, left alone", "arn", e.ARN)
	default:
		e.Action = PruneFailed
		e.Error = err.Error()
		res.Failed++
		s.log.Warn("deleting certificate failed", "arn", e.ARN, "error", errorCode(err))
	}
}

// acmOwned lists the region's imported ACM certificates with a Name tag certup
// gave them (one ListTagsForCertificate per imported certificate).
func (s *Service) acmOwned(ctx context.Context, o PruneOptions) ([]CertificateInfo, error) {
	var out []CertificateInfo
	for c, err := range s.acmSummaries(ctx) {
		if err != nil {
			return nil, fmt.Errorf("region %s: %w", s.region, err)
		}
		if c.Type != "" && c.Type != acmtypes.CertificateTypeImported {
			continue
		}
		arn := aws.ToString(c.CertificateArn)
		tags, err := s.c.ACM.ListTagsForCertificate(ctx, &acm.ListTagsForCertificateInput{CertificateArn: c.CertificateArn})
		if err != nil {
			return nil, fmt.Errorf("region %s: listing tags of %s: %w", s.region, arn, err)
		}
		name := ""
		for _, t := range tags.Tags {
			if aws.ToString(t.Key) == "Name" {
				name = aws.ToString(t.Value)
			}
		}
		if !derivedNameRE.MatchString(name) {
			continue
		}
		info := acmSummaryInfo(c)
		info.Name = name
		out = append(out, info)
	}
	return out, nil
}

// certificatesInUse returns every certificate a listener of the region serves:
// classic listeners, ALB/NLB default certificates and their SNI lists (one
// DescribeListenerCertificates per HTTPS/TLS listener, DefaultParallel at a time).
func (s *Service) certificatesInUse(ctx context.Context) (map[string]bool, error) {
	all, err := s.readListeners(ctx, nil, true)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	used := map[string]bool{}
	var v2 []Listener
	for l, sl := range all {
		if sl.Cert != "" {
			used[sl.Cert] = true
		}
		if l.ARN != "" && sl.Secure {
			v2 = append(v2, l)
		}
	}
	sem := make(chan struct{}, DefaultParallel)
	errs := make([]error, len(v2))
	var wg sync.WaitGroup
	for i, l := range v2 {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			for c, err := range s.v2ListenerCerts(ctx, l.ARN, l.String()) {
				if err != nil {
					errs[i] = err
					return
				}
				mu.Lock()
				used[aws.ToString(c.CertificateArn)] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return used, nil
}
