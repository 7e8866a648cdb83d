package awsiam

import (
	"context"
	"strings"

	"errors"
	"fmt"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"sync"
	"time"
)

// RollbackOptions control a rollback.
type RollbackOptions struct {
	Listeners []Listener
	// Lineage picks the record to follow when a certificate belongs to several
	// lineages; default: the one it has, else the lineage derived from
	// Listeners.
	Lineage string
	// Parallel, Wait and Progress as in RotateOptions.
	Parallel int
	Wait     time.Duration
	Progress func(Event)
}

// PlanRollback plans to put each listener back on the certificate it served
// before the rotation that moved it to the one it serves: the lineage record
// in that certificate's tags names it. A certificate without a record (uploaded
// by an earlier certup) falls back to the upload just before it: for IAM of
// the same name group (names as DefaultName makes them), for ACM for the same
// domain; expired certificates are not candidates then. It makes no changing
// call; Apply switches and reads the listeners back (it neither uploads nor
// prunes).
func PlanRollback(ctx context.Context, svcs []*Service, o RollbackOptions) (*Rotation, error) {
	if len(svcs) == 0 {
		return nil, errors.New("no region to roll back in")
	}
	if len(o.Listeners) == 0 {
		return nil, errors.New("nothing to roll back: give listeners")
	}
	if o.Lineage != "" {
		if err := ValidLineage(o.Lineage); err != nil {
			return nil, err
		}
	}
	ro := RotateOptions{Listeners: o.Listeners, Parallel: o.Parallel, Wait: o.Wait, Progress: o.Progress, Lineage: o.Lineage}
	ro.defaults()
	r := &Rotation{Kind: "rollback", svcs: svcs, o: ro, DryRun: svcs[0].dryRun, Listeners: []*ListenerPlan{}, planOK: true}
	byRegion, err := assign(svcs, o.Listeners)
	if err != nil {
		return nil, err
	}
	type regionRead struct {
		seen map[Listener]seenListener
		err  error
	}
	reads := make([]regionRead, len(svcs))
	var wg sync.WaitGroup
	for i, s := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reads[i].seen, reads[i].err = s.readListeners(ctx, byRegion[s], false)
		}()
	}
	wg.Wait()
	pools := &rollbackPools{svcs: svcs, acm: map[*Service][]CertificateInfo{}}
	derived := DeriveLineage(targetIDs(o.Listeners, nil))
	found := map[Listener]bool{}
	for i, s := range svcs {
		if reads[i].err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("region %s: %v", s.region, reads[i].err))
			found = nil
			continue
		}
		for _, l := range byRegion[s] {
			sl, ok := reads[i].seen[l]
			if !ok {
				continue
			}
			if found != nil {
				found[l] = true
			}
			r.Listeners = append(r.Listeners, &ListenerPlan{Region: s.region, Listener: l, Current: sl.Cert, Action: ActionSwitch, State: StatePlanned})
		}
	}
	if err := r.planRollbackTargets(ctx, pools, derived); err != nil {
		return nil, err
	}
	if found != nil {
		for _, l := range o.Listeners {
			if !found[l] {
				r.Listeners = append(r.Listeners, &ListenerPlan{Listener: l, Action: ActionSkip, State: StateFailed,
					Error: fmt.Sprintf("%s: %v", l, ErrListenerNotFound)})
			}
		}
	}
	if len(r.Errors) == len(svcs) {
		return nil, errors.New(r.Errors[0])
	}
	r.Calls = r.plannedCalls()
	r.Outcome = r.outcome()
	return r, nil
}

// rollbackPools lists the certificates a rollback may return to, each store
// once: IAM's and each region's ACM.
type rollbackPools struct {
	svcs      []*Service
	iamCerts  []CertificateInfo
	iamListed bool
	acm       map[*Service][]CertificateInfo
}

func (rp *rollbackPools) iam(ctx context.Context) ([]CertificateInfo, error) {
	if !rp.iamListed {
		certs, err := rp.svcs[0].iamCertificates(ctx, "")
		if err != nil {
			return nil, err
		}
		rp.iamCerts, rp.iamListed = certs, true
	}
	return rp.iamCerts, nil
}

func (rp *rollbackPools) acmOf(ctx context.Context, s *Service) ([]CertificateInfo, error) {
	if certs, ok := rp.acm[s]; ok {
		return certs, nil
	}
	certs, err := s.acmImported(ctx)
	if err != nil {
		return nil, err
	}
	rp.acm[s] = certs
	return certs, nil
}

// byRef finds the certificate ref names (CertRef), in the store of current
// first, then in the other.
func (rp *rollbackPools) byRef(ctx context.Context, s *Service, current, ref string) (*CertificateInfo, error) {
	lists := []func() ([]CertificateInfo, error){
		func() ([]CertificateInfo, error) { return rp.iam(ctx) },
		func() ([]CertificateInfo, error) { return rp.acmOf(ctx, s) },
	}
	if isACMARN(current) {
		lists[0], lists[1] = lists[1], lists[0]
	}
	for _, list := range lists {
		certs, err := list()
		if err != nil {
			return nil, err
		}
		for i := range certs {
			if CertRef(certs[i].ARN) == ref {
				return &certs[i], nil
			}
		}
	}
	return nil, nil
}

// planRollbackTargets picks each listener's target. A rollback undoes the
// newest rotation of a lineage: listeners that serve a certificate of the
// newest generation among the targets go back to what its record says they
// served; those that serve an older generation, or a certificate without a
// record while others have one, are already back (a partial rollback run again
// finishes, it does not go further). Only when no target serves a recorded
// certificate does the upload-order fallback apply.
func (r *Rotation) planRollbackTargets(ctx context.Context, pools *rollbackPools, derived string) error {
	recs := make([]*Record, len(r.Listeners))
	newest := map[string]int{}
	for i, p := range r.Listeners {
		rec, err := r.recordOf(ctx, p, derived)
		switch {
		case errors.Is(err, ErrLineageAmbiguous) || errors.Is(err, ErrNoPredecessor):
			p.Action, p.State, p.Error = ActionSkip, StateFailed, err.Error()
			continue
		case err != nil:
			return err
		}
		if recs[i] = rec; rec != nil {
			newest[rec.Lineage] = max(newest[rec.Lineage], rec.Generation)
		}
	}
	for i, p := range r.Listeners {
		if p.State == StateFailed {
			continue
		}
		svc := r.service(p.Region)
		rec := recs[i]
		var prev *CertificateInfo
		var err error
		switch {
		case rec == nil && len(newest) > 0:
			p.Action, p.State, p.Reason = ActionSkip, StateUnchanged, "serves a certificate without lineage record: already back"
			continue
		case rec == nil:
			prev, err = previousUpload(ctx, svc, p.Current, pools)
		case rec.Generation < newest[rec.Lineage]:
			p.Action, p.State = ActionSkip, StateUnchanged
			p.Reason = fmt.Sprintf("already back: generation %d of lineage %s, the newest is %d", rec.Generation, rec.Lineage, newest[rec.Lineage])
			continue
		default:
			prev, err = recordedPredecessor(ctx, svc, p, rec, pools)
		}
		if err != nil && !errors.Is(err, ErrNoPredecessor) {
			return err
		}
		if err != nil {
			p.Action, p.State, p.Error = ActionSkip, StateFailed, err.Error()
			continue
		}
		p.Target = prev.ARN
		p.Reason = "back to " + displayName(*prev) + ", valid until " + prev.NotAfter.UTC().Format(time.DateOnly)
	}
	return nil
}

// recordOf is the lineage record that tells where p's listener goes back to:
// of the lineage asked for, else of the one lineage its certificate has, else
// of derived; nil when the certificate has none.
func (r *Rotation) recordOf(ctx context.Context, p *ListenerPlan, derived string) (*Record, error) {
	if p.Current == "" {
		return nil, fmt.Errorf("%s serves no certificate: %w", p.Listener, ErrNoPredecessor)
	}
	tags, err := r.tags.get(ctx, serviceFor(r.svcs, p.Current), p.Current)
	if err != nil {
		return nil, err
	}
	recs := Records(tags)
	switch {
	case r.o.Lineage != "":
		return recs[r.o.Lineage], nil
	case len(recs) == 1:
		for _, rec := range recs {
			return rec, nil
		}
	case len(recs) > 1:
		if rec := recs[derived]; rec != nil {
			return rec, nil
		}
		return nil, fmt.Errorf("%s serves %s, which belongs to lineages %s: %w", p.Listener, p.Current, strings.Join(Lineages(tags), ", "), ErrLineageAmbiguous)
	}
	return nil, nil
}

// recordedPredecessor is the certificate rec says p's listener served before.
func recordedPredecessor(ctx context.Context, s *Service, p *ListenerPlan, rec *Record, pools *rollbackPools) (*CertificateInfo, error) {
	ref := rec.Predecessor(ListenerRef(p.Region, p.Listener))
	if ref == "" {
		return nil, fmt.Errorf("%s is the first of lineage %s: %w", p.Current, rec.Lineage, ErrNoPredecessor)
	}
	prev, err := pools.byRef(ctx, s, p.Current, ref)
	if err != nil {
		return nil, err
	}
	if prev == nil {
		return nil, fmt.Errorf("the certificate %s served before %s (ref %s, lineage %s) no longer exists: %w", p.Listener, p.Current, ref, rec.Lineage, ErrNoPredecessor)
	}
	return prev, nil
}

// previousUpload is, for a certificate without lineage record, the upload
// before it (previousCertificate).
func previousUpload(ctx context.Context, s *Service, current string, pools *rollbackPools) (*CertificateInfo, error) {
	var pool []CertificateInfo
	var err error
	if isACMARN(current) {
		pool, err = pools.acmOf(ctx, s)
	} else {
		pool, err = pools.iam(ctx)
	}
	if err != nil {
		return nil, err
	}
	prev, why := previousCertificate(pool, current, s.now())
	if prev == nil {
		return nil, fmt.Errorf("%s: %w", why, ErrNoPredecessor)
	}
	return prev, nil
}

func displayName(c CertificateInfo) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ARN
}

// previousCertificate picks, from pool, the certificate uploaded just before
// current in its group (IAM: derived-name prefix; ACM: domain).
func previousCertificate(pool []CertificateInfo, current string, now time.Time) (*CertificateInfo, string) {
	var cur *CertificateInfo
	for i := range pool {
		if pool[i].ARN == current {
			cur = &pool[i]
		}
	}
	if cur == nil {
		return nil, fmt.Sprintf("the listener serves %q, which is not among the uploaded certificates", current)
	}
	group := func(c *CertificateInfo) string {
		if c.Source == "acm" {
			return c.Domain
		}
		if m := derivedNameRE.FindStringSubmatch(c.Name); m != nil {
			return m[1]
		}
		return ""
	}
	g := group(cur)
	if g == "" {
		return nil, fmt.Sprintf("%s was not named by certup", displayName(*cur))
	}
	var best *CertificateInfo
	for i := range pool {
		c := &pool[i]
		if c.ARN == cur.ARN || group(c) != g || !olderUpload(c, cur) || !c.NotAfter.After(now) {
			continue
		}
		if best == nil || olderUpload(best, c) {
			best = c
		}
	}
	if best == nil {
		return nil, fmt.Sprintf("no valid certificate uploaded before %s is kept", displayName(*cur))
	}
	return best, ""
}

// acmImported lists the region's imported ACM certificates.
func (s *Service) acmImported(ctx context.Context) ([]CertificateInfo, error) {
	var out []CertificateInfo
	for c, err := range s.acmSummaries(ctx) {
		if err != nil {
			return nil, fmt.Errorf("region %s: %w", s.region, err)
		}
		if c.Type != "" && c.Type != acmtypes.CertificateTypeImported {
			continue
		}
		out = append(out, acmSummaryInfo(c))
	}
	return out, nil
}

// olderUpload orders certificates by upload time, then expiry, then name (the
// upload times AWS reports have one-second resolution).
func olderUpload(a, b *CertificateInfo) bool {
	if !a.Uploaded.Equal(b.Uploaded) {
		return a.Uploaded.Before(b.Uploaded)
	}
	if !a.NotAfter.Equal(b.NotAfter) {
		return a.NotAfter.Before(b.NotAfter)
	}
	return a.Name < b.Name
}
