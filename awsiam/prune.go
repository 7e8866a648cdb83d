package awsiam

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// PruneAction is what prune did (or, in a dry run, would do) with a
// certificate.
type PruneAction string

const (
	PruneInUse    PruneAction = "in use"  // a listener serves it, or it is the certificate just rotated in
	PruneKept     PruneAction = "kept"    // kept for rollback
	PruneHeld     PruneAction = "held"    // a rollback moved the lineage off it: kept so that the hold stays (see below)
	PruneDelete   PruneAction = "delete"  // to be deleted (dry run: would be)
	PruneDeleted  PruneAction = "deleted" // deleted
	PruneConflict PruneAction = "left"    // AWS answered DeleteConflict / ResourceInUse: used somewhere, left alone
	PruneFailed   PruneAction = "failed"  // the delete failed (see Error); run prune again
)

// derivedNameRE matches the names DefaultName makes: prefix, expiry, hash.
var derivedNameRE = regexp.MustCompile(`^(.+)-(\d{8})-([0-9a-f]{12})$`)

// PruneOptions select what Prune deletes.
type PruneOptions struct {
	// Target: IAM server certificates, or the ACM certificates of each region.
	Target Target
	// Lineage: only certificates certup uploaded for this lineage (certup:origin)
	// that are members of no other; they go when no listener serves them and no rollback within
	// Keep generations needs them (what rotate's prune does).
	Lineage string
	// NamePrefix: only certificates named "<NamePrefix>-<yyyymmdd>-<hash>" (for
	// ACM: with that Name tag). Default: any name certup derives.
	NamePrefix string
	// PathPrefix: IAM only certificates under this path. A path other than "/"
	// marks everything under it as certup's, whatever the names.
	PathPrefix string
	// Keep: with Lineage, how many generations of rollback stay possible from
	// every certificate a listener serves; otherwise also how many unused
	// certificates of each name group are kept (the newest uploads). 0 means
	// DefaultKeep, negative none.
	Keep int
	// Protect lists certificates never deleted (the one just rotated in); they
	// count as served.
	Protect []string
}

// cloudFrontPath is where IAM keeps the certificates CloudFront serves; no
// listener shows those, so prune never touches them.
const cloudFrontPath = "/cloudfront/"

// PruneEntry is one certificate prune looked at.
type PruneEntry struct {
	Region   string      `json:"region,omitempty"`
	ARN      string      `json:"arn"`
	Name     string      `json:"name,omitempty"`
	Group    string      `json:"group"`
	Uploaded time.Time   `json:"uploaded,omitzero"`
	NotAfter time.Time   `json:"not_after,omitzero"`
	Action   PruneAction `json:"action"`
	Error    string      `json:"error,omitempty"`
}

// PruneResult says what Prune did.
type PruneResult struct {
	Certificates []*PruneEntry `json:"certificates"`
	Deleted      int           `json:"deleted"`
	Conflicts    int           `json:"conflicts"`
	Failed       int           `json:"failed"`
	Calls        []Call        `json:"calls,omitempty"`
	Outcome      Outcome       `json:"outcome"`
	DryRun       bool          `json:"dry_run,omitempty"`
}

// Prune deletes certificates certup uploaded that no listener of the regions
// of svcs uses and no rollback within Keep generations needs (the lineage
// records of what the listeners serve say which): with Lineage, the members
// of that lineage alone; otherwise those named as DefaultName names them (or
// under PathPrefix), beyond the newest Keep unused ones of their name group.
// Certificates under /cloudfront/ are never candidates. It never detaches
// anything: a certificate AWS reports in use (DeleteConflict) is left and
// reported. With dry-run services it deletes nothing and records the calls.
func Prune(ctx context.Context, svcs []*Service, o PruneOptions) (*PruneResult, error) {
	if len(svcs) == 0 {
		return nil, errors.New("no region to prune in")
	}
	if o.Lineage != "" {
		if err := ValidLineage(o.Lineage); err != nil {
			return nil, err
		}
	}
	if o.Keep == 0 {
		o.Keep = DefaultKeep
	}
	if o.Keep < 0 {
		o.Keep = 0
	}
	pr := &pruner{o: o, svcs: svcs, uses: map[*Service]map[string]bool{},
		res: &PruneResult{Certificates: []*PruneEntry{}, DryRun: svcs[0].dryRun}}
	var errs []error
	if o.Target == TargetIAM {
		certs, err := svcs[0].iamCertificates(ctx, o.PathPrefix)
		if err != nil {
			return nil, err
		}
		if err := pr.prune(ctx, svcs[0], svcs, certs, ""); err != nil {
			errs = append(errs, err)
		}
	} else {
		for _, s := range svcs {
			certs, err := s.acmImported(ctx)
			if err == nil {
				err = s.acmNames(ctx, certs, &pr.tags)
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if err := pr.prune(ctx, s, []*Service{s}, certs, s.region); err != nil {
				errs = append(errs, err)
			}
		}
	}
	res := pr.res
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

// pruner is one Prune: what it read and what it did.
type pruner struct {
	o    PruneOptions
	svcs []*Service
	res  *PruneResult
	tags tagCache

	usesMu sync.Mutex
	uses   map[*Service]map[string]bool // listener uses, read once per region
}

// prune decides and deletes among certs, the certificates of one store
// (IAM, or the ACM of region), whose listeners are those of scope.
func (pr *pruner) prune(ctx context.Context, s *Service, scope []*Service, certs []CertificateInfo, region string) error {
	certs = slices.DeleteFunc(certs, func(c CertificateInfo) bool { return strings.HasPrefix(c.Path, cloudFrontPath) })
	var entries []*PruneEntry
	marked := map[string]bool{} // rolled back from, in the lineage
	if pr.o.Lineage != "" {
		for _, c := range certs {
			tags, err := pr.tags.get(ctx, s, c.ARN)
			if err != nil {
				return err
			}
			if ls := Lineages(tags); len(ls) == 1 && ls[0] == pr.o.Lineage && Origin(tags) == pr.o.Lineage {
				entries = append(entries, &PruneEntry{Region: region, ARN: c.ARN, Name: c.Name, Group: pr.o.Lineage, Uploaded: c.Uploaded, NotAfter: c.NotAfter})
				marked[c.ARN] = rolledBackFrom(tags, pr.o.Lineage)
			}
		}
	} else {
		entries = ownedEntries(certs, pr.o, region)
	}
	if !mayDelete(entries, pr.o.Protect, pr.o.Keep, pr.o.Lineage != "") {
		for _, e := range entries {
			e.Action = PruneKept
			if slices.Contains(pr.o.Protect, e.ARN) {
				e.Action = PruneInUse
			}
			pr.res.Certificates = append(pr.res.Certificates, e)
		}
		return nil
	}
	used, err := pr.usesOf(ctx, scope)
	if err != nil {
		return fmt.Errorf("reading which listeners use which certificate: %w", err)
	}
	for _, a := range pr.o.Protect {
		used[a] = true
	}
	kept, err := pr.rollbackChain(ctx, used, certs)
	if err != nil {
		return err
	}
	decidePrune(entries, used, kept, pr.o.Keep, pr.o.Lineage != "")
	if pr.o.Lineage == "" {
		// By name group, only what would go is looked at for a mark (of
		// any lineage), and the group stands for the lineage.
		for _, e := range entries {
			if e.Action != PruneDelete {
				continue
			}
			tags, err := pr.tags.get(ctx, s, e.ARN)
			if err != nil {
				return err
			}
			marked[e.ARN] = rolledBackFrom(tags, "")
		}
	}
	hold(entries, marked, used)
	for _, e := range entries {
		pr.res.Certificates = append(pr.res.Certificates, e)
		if e.Action == PruneDelete {
			s.deleteCertificate(ctx, e, pr.res)
		}
	}
	return nil
}

// mayDelete reports whether anything among entries could go, so that the
// listeners need reading: by lineage, any entry not protected; by name group,
// a group with more unprotected entries than keep.
func mayDelete(entries []*PruneEntry, protect []string, keep int, byLineage bool) bool {
	n := map[string]int{}
	for _, e := range entries {
		if slices.Contains(protect, e.ARN) {
			continue
		}
		n[e.Group]++
		if byLineage || n[e.Group] > keep {
			return true
		}
	}
	return false
}

// hold turns PruneDelete into PruneHeld for every entry a rollback moved
// its lineage off (marked) that no newer upload of the lineage has replaced
// on a listener. Deleting one would undo the rollback's hold: the keystore
// still holds that certificate, and the next rotation would upload it
// again, without the mark, and move the listeners back onto what the
// operator rolled away from. Once a newer certificate of the lineage
// serves, the marked one can go.
func hold(entries []*PruneEntry, marked, used map[string]bool) {
	for _, e := range entries {
		if e.Action == PruneDelete && marked[e.ARN] && !slices.ContainsFunc(entries, func(n *PruneEntry) bool {
			return used[n.ARN] && n.Group == e.Group && n.Uploaded.After(e.Uploaded)
		}) {
			e.Action = PruneHeld
		}
	}
}

// decidePrune sets each entry's Action: PruneInUse when used, PruneKept when a
// rollback within the kept generations needs it (kept) or, by name group
// (byLineage false), it is one of the newest keep unused ones; otherwise
// PruneDelete (which hold may turn into PruneHeld). Entries are ordered by
// group, then newest upload first.
func decidePrune(entries []*PruneEntry, used, kept map[string]bool, keep int, byLineage bool) {
	sort.SliceStable(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		switch {
		case a.Group != b.Group:
			return a.Group < b.Group
		case !a.Uploaded.Equal(b.Uploaded):
			return a.Uploaded.After(b.Uploaded)
		case !a.NotAfter.Equal(b.NotAfter):
			return a.NotAfter.After(b.NotAfter)
		}
		return a.Name > b.Name
	})
	newest := map[string]int{}
	for _, e := range entries {
		switch {
		case used[e.ARN]:
			e.Action = PruneInUse
		case kept[e.ARN]:
			e.Action = PruneKept
		case !byLineage && newest[e.Group] < keep:
			newest[e.Group]++
			e.Action = PruneKept
		default:
			e.Action = PruneDelete
		}
	}
}

// rollbackChain is every certificate among certs that a rollback of up to
// Keep steps from a used certificate would return a listener to, as the
// lineage records (of every lineage) say.
func (pr *pruner) rollbackChain(ctx context.Context, used map[string]bool, certs []CertificateInfo) (map[string]bool, error) {
	byRef := map[string]string{}
	for _, c := range certs {
		byRef[CertRef(c.ARN)] = c.ARN
	}
	kept := map[string]bool{}
	frontier := slices.Sorted(maps.Keys(used))
	for range pr.o.Keep {
		var next []string
		for _, arn := range frontier {
			tags, err := pr.tags.get(ctx, serviceFor(pr.svcs, arn), arn)
			if err != nil {
				return nil, err
			}
			for _, rec := range Records(tags) {
				for _, ref := range rec.Predecessors() {
					if prev, ok := byRef[ref]; ok && !kept[prev] {
						kept[prev] = true
						next = append(next, prev)
					}
				}
			}
		}
		frontier = next
	}
	return kept, nil
}

// usesOf is every certificate a listener of the regions of list serves.
func (pr *pruner) usesOf(ctx context.Context, list []*Service) (map[string]bool, error) {
	all := map[string]bool{}
	var wg sync.WaitGroup
	errs := make([]error, len(list))
	for i, s := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pr.usesMu.Lock()
			m, ok := pr.uses[s]
			pr.usesMu.Unlock()
			if !ok {
				var err error
				if m, err = s.certificatesInUse(ctx); err != nil {
					errs[i] = fmt.Errorf("region %s: %w", s.region, err)
					return
				}
				pr.usesMu.Lock()
				pr.uses[s] = m
				pr.usesMu.Unlock()
			}
			pr.usesMu.Lock()
			for k := range m {
				all[k] = true
			}
			pr.usesMu.Unlock()
		}()
	}
	wg.Wait()
	return all, errors.Join(errs...)
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

// acmNames sets the Name of each of certs (the region's ACM certificates)
// to its Name tag, reading the tags into cache (one ListTagsForCertificate per
// certificate).
func (s *Service) acmNames(ctx context.Context, certs []CertificateInfo, cache *tagCache) error {
	for i := range certs {
		tags, err := cache.get(ctx, s, certs[i].ARN)
		if err != nil {
			return fmt.Errorf("region %s: %w", s.region, err)
		}
		for _, t := range tags {
			if t.Key == "Name" {
				certs[i].Name = t.Value
			}
		}
	}
	return nil
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
	err = eachParallel(len(v2), func(i int) error {
		for c, err := range s.v2ListenerCerts(ctx, v2[i].ARN, v2[i].String()) {
			if err != nil {
				return err
			}
			mu.Lock()
			used[aws.ToString(c.CertificateArn)] = true
			mu.Unlock()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return used, nil
}
