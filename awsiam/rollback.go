package awsiam

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
)

// RollbackOptions control a rollback.
type RollbackOptions struct {
	Listeners []Listener
	// Lineage picks the record to follow when a certificate belongs to several
	// lineages; default: the one it has, else the lineage derived from
	// Listeners.
	Lineage string
	// Further goes one generation back from where a completed rollback left
	// the listeners (without it, a rollback run again after it completed has
	// nothing to do).
	Further bool
	// Replaces: also roll back every listener of the regions that a rotation
	// with these Replaces moved (a default or an SNI certificate that a record
	// says replaced one of them, or that is one of them).
	Replaces []string
	// Parallel, Wait and Progress as in RotateOptions.
	Parallel int
	Wait     time.Duration
	Progress func(Event)
}

// PlanRollback plans to undo the newest rotation of the listeners' lineage:
// each listener on that generation goes back to exactly the certificate it
// served before, as the lineage record in its certificate's tags says
// (planRollbackTargets, decideRollback); with Replaces also the listeners a
// rotation with the same Replaces moved, SNI certificates included (the
// replaced certificate goes back on the list before the other comes off,
// within the load balancer's SNI quota). Run again, it finishes a partial
// rollback and then has nothing to do; Further goes one generation further.
// Where no target serves a certificate with a record (uploaded by an earlier
// certup), it falls back to the upload just before the one served, of the
// same name group (IAM name or ACM Name tag as DefaultName makes them); expired
// certificates are not candidates then. It makes no changing call; Apply marks
// the targets, switches and reads the listeners back (it neither uploads nor
// prunes).
func PlanRollback(ctx context.Context, svcs []*Service, o RollbackOptions) (*Rotation, error) {
	if len(svcs) == 0 {
		return nil, errors.New("no region to roll back in")
	}
	if len(o.Listeners) == 0 && len(o.Replaces) == 0 {
		return nil, errors.New("nothing to roll back: give listeners or the certificate they replaced")
	}
	if o.Lineage != "" {
		if err := ValidLineage(o.Lineage); err != nil {
			return nil, err
		}
	}
	ro := RotateOptions{Listeners: o.Listeners, Parallel: o.Parallel, Wait: o.Wait, Progress: o.Progress, Lineage: o.Lineage}
	ro.defaults()
	r := &Rotation{Kind: KindRollback, svcs: svcs, o: ro, DryRun: svcs[0].dryRun, Listeners: []*ListenerPlan{}, planOK: true}
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
			reads[i].seen, reads[i].err = s.readListeners(ctx, byRegion[s], len(o.Replaces) > 0)
		}()
	}
	wg.Wait()
	pools := &rollbackPools{svcs: svcs, acm: map[*Service][]CertificateInfo{}}
	derived := DeriveLineage(targetIDs(o.Listeners, o.Replaces))
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
	sni := map[string][]string{}
	if len(o.Replaces) > 0 {
		rs, err := newReplacedSet(ctx, o.Replaces, pools)
		if err != nil {
			return nil, err
		}
		for i, s := range svcs {
			if reads[i].err == nil {
				if err := r.addReplaced(ctx, s, reads[i].seen, rs, sni); err != nil {
					return nil, fmt.Errorf("region %s: %w", s.region, err)
				}
			}
		}
	}
	if err := r.planRollbackTargets(ctx, pools, derived, o.Further); err != nil {
		return nil, err
	}
	r.settleSNI(sni)
	if err := r.rollbackQuotas(ctx); err != nil {
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
	tags      tagCache
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
// served, and the certificate they go back to is marked restored (from what)
// before any listener moves. Run again, it finishes what a failed run left:
// listeners on a certificate a mark names go back, those on a marked
// certificate are back already; once all are back it has nothing to do.
// further goes one generation back from there. Only when no target serves a
// certificate with a record or a mark does the upload-order fallback apply.
func (r *Rotation) planRollbackTargets(ctx context.Context, pools *rollbackPools, derived string, further bool) error {
	tags := make([][]Tag, len(r.Listeners))
	var found, marked []string
	for i, p := range r.Listeners {
		if p.Current == "" {
			p.Action, p.State, p.Error = ActionSkip, StateFailed, fmt.Sprintf("%s serves no certificate: %v", p.Listener, ErrNoPredecessor)
			continue
		}
		t, err := r.tags.get(ctx, serviceFor(r.svcs, p.Current), p.Current)
		if err != nil {
			return err
		}
		tags[i] = t
		found = append(found, listingLineages(t, ListenerRef(p.Region, p.Listener))...)
		marked = append(marked, restoredLineages(t)...)
	}
	if len(found) == 0 {
		found = marked // all back on certificates no record lists them on
	}
	lineage, err := ResolveLineage(r.o.Lineage, found, derived)
	if err != nil {
		return err
	}
	if len(found) > 0 || r.o.Lineage != "" {
		r.Lineage = lineage
	}
	// A listener's record: its certificate's in the lineage, if it lists the
	// listener (a certificate two deployments serve has both's records).
	recs := make([]*Record, len(r.Listeners))
	for i, p := range r.Listeners {
		if rec := Records(tags[i])[lineage]; rec != nil && rec.Predecessor(ListenerRef(p.Region, p.Listener)) != "" {
			recs[i] = rec
		}
	}
	// What a rollback in progress moves listeners from (served still), and the
	// newest generation served.
	served := map[string]bool{}
	newest := 0
	for i, p := range r.Listeners {
		if tags[i] == nil {
			continue
		}
		served[CertRef(p.Current)] = true
		if recs[i] != nil {
			newest = max(newest, recs[i].Generation)
		}
	}
	resume := map[string]bool{}
	for i := range r.Listeners {
		for _, from := range RestoredFrom(tags[i], lineage) {
			if served[from] && !further {
				resume[from] = true
			}
		}
	}
	from := map[string][]string{} // target ARN → CertRefs it is restored from
	off := map[string]bool{}      // what the listeners leave
	for i, p := range r.Listeners {
		if p.State == StateFailed {
			continue
		}
		svc := r.service(p.Region)
		rec := recs[i]
		step := decideRollback(rollbackFacts{Record: rec, Marked: len(RestoredFrom(tags[i], lineage)) > 0,
			Resuming: len(resume) > 0, FromHere: resume[CertRef(p.Current)], Newest: newest, Further: further, Recorded: r.Lineage != ""})
		var prev *CertificateInfo
		var err error
		switch step {
		case rollbackRecorded:
			prev, err = recordedPredecessor(ctx, svc, p, rec, pools)
		case rollbackUploadOrder:
			prev, err = previousUpload(ctx, svc, p.Current, pools)
		case rollbackNoRecord:
			err = fmt.Errorf("%s has no record in lineage %s: %w", p.Current, lineage, ErrNoPredecessor)
		case rollbackAlreadyBack:
			p.Action, p.State, p.Reason = ActionSkip, StateUnchanged, "already back (a rollback moved it here)"
			continue
		case rollbackNotNewest:
			p.Action, p.State, p.Reason = ActionSkip, StateUnchanged, "already back: not on the newest generation of lineage "+lineage
			continue
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
		if r.Lineage != "" {
			from[prev.ARN] = append(from[prev.ARN], CertRef(p.Current))
			off[p.Current] = true
		}
	}
	for _, arn := range slices.Sorted(maps.Keys(from)) {
		have, err := r.tags.get(ctx, serviceFor(r.svcs, arn), arn)
		if err != nil {
			return err
		}
		// Back on it: a mark that a rollback moved the lineage off it goes.
		want := append([]Tag{restoredTag(lineage, from[arn])}, clearRolledBack(have, lineage)...)
		if err := r.mark(arn, have, want); err != nil {
			return err
		}
	}
	// What the listeners leave is marked rolled back from, so that a rotation
	// to it holds them where they go (the first rollback's time stays).
	now := r.svcs[0].now()
	for _, arn := range slices.Sorted(maps.Keys(off)) {
		have, err := r.tags.get(ctx, serviceFor(r.svcs, arn), arn)
		if err != nil {
			return err
		}
		if RolledBackAt(have, lineage).IsZero() {
			if err := r.mark(arn, have, []Tag{rolledBackTag(lineage, now)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// mark plans the tags of want that arn (whose tags are have) lacks.
func (r *Rotation) mark(arn string, have, want []Tag) error {
	changes, err := TagChanges(have, want)
	if err != nil {
		return err
	}
	if len(changes) > 0 {
		r.Marks = append(r.Marks, &RestoreMark{ARN: arn, Tags: changes})
	}
	return nil
}

// rollbackStep is what a rollback does with one listener.
type rollbackStep int

const (
	rollbackRecorded    rollbackStep = iota // back to what the record names
	rollbackUploadOrder                     // no lineage anywhere: back to the previous upload of the name group
	rollbackNoRecord                        // fails: nothing recorded before its certificate
	rollbackAlreadyBack                     // skip: a rollback moved it here
	rollbackNotNewest                       // skip: it serves an older generation than others
)

// rollbackFacts is what a rollback plan knows of one listener.
type rollbackFacts struct {
	// Record is its certificate's record in the rollback's lineage (nil: none).
	Record *Record
	// Marked: a rollback moved listeners to its certificate (certup:restored).
	Marked bool
	// Resuming: a rollback is under way, some targets still serve a certificate
	// a mark names; FromHere: this one does.
	Resuming, FromHere bool
	// Newest is the newest generation the targets serve.
	Newest int
	// Further: go back once more after a completed rollback.
	Further bool
	// Recorded: some target serves a certificate with a record or mark.
	Recorded bool
}

// decideRollback decides what a rollback does with one listener: a rollback
// under way is finished first (listeners still on the certificate it moves
// from go back); a listener already moved back stays (unless further);
// otherwise the listeners on the newest generation go back. Without any record
// among the targets, the previous upload of the name group is the fallback.
func decideRollback(f rollbackFacts) rollbackStep {
	switch {
	case f.Record != nil && f.FromHere:
		return rollbackRecorded
	case f.Marked && !f.Further:
		return rollbackAlreadyBack
	case f.Record != nil && !f.Resuming && f.Record.Generation == f.Newest:
		return rollbackRecorded
	case f.Record == nil && f.Further && f.Recorded:
		return rollbackNoRecord
	case f.Recorded:
		return rollbackNotNewest
	}
	return rollbackUploadOrder
}

// RestoreMark is a tag a rollback writes on a certificate before listeners go
// back to it (certup:restored), or leave it (certup:rolledback).
type RestoreMark struct {
	ARN   string `json:"arn"`
	Tags  []Tag  `json:"tags"`
	Error string `json:"error,omitempty"`
}

// writeMarks tags each target before any listener moves to it, and what they
// leave before any listener leaves it; a listener whose target or current
// certificate cannot be marked is not moved.
func (r *Rotation) writeMarks(ctx context.Context) {
	for _, m := range r.Marks {
		err := serviceFor(r.svcs, m.ARN).tagCertificate(ctx, m.ARN, m.Tags)
		if err == nil {
			r.changed = true
			continue
		}
		m.Error = err.Error()
		r.addError("marking %s restored: %v", m.ARN, err)
		for _, p := range r.Listeners {
			if (p.Target == m.ARN || p.Current == m.ARN) && p.State == StatePlanned {
				p.State, p.Error = StateFailed, "not switched: the rollback could not be recorded on its certificates"
				r.progress(p.Region, p.Listener, StateFailed, p.Error)
			}
		}
	}
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
		if err == nil {
			pool = slices.Clone(pool)
			err = s.acmNames(ctx, pool, &pools.tags)
		}
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
// current in its name group (the prefix of the name DefaultName made: IAM's
// name, ACM's Name tag); a CN alone groups nothing, every WSO2 keystore says
// localhost.
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
