package awsiam

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// tagCache reads each certificate's tags once per plan.
type tagCache struct {
	mu   sync.Mutex
	tags map[string][]Tag
}

// get returns the tags of arn, read through svc.
func (c *tagCache) get(ctx context.Context, svc *Service, arn string) ([]Tag, error) {
	c.mu.Lock()
	t, ok := c.tags[arn]
	c.mu.Unlock()
	if ok {
		return t, nil
	}
	t, err := svc.certificateTags(ctx, arn)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.tags == nil {
		c.tags = map[string][]Tag{}
	}
	c.tags[arn] = t
	c.mu.Unlock()
	return t, nil
}

// serviceFor is the Service that reads arn: its region's for ACM, any for IAM.
func serviceFor(svcs []*Service, arn string) *Service {
	if reg := regionOf(arn); reg != "" {
		for _, s := range svcs {
			if s.region == reg {
				return s
			}
		}
	}
	return svcs[0]
}

// targetIDs are the rotation's targets as DeriveLineage takes them.
func targetIDs(ls []Listener, replaces []string) []string {
	var ids []string
	for _, l := range ls {
		ids = append(ids, l.String())
	}
	for _, r := range replaces {
		ids = append(ids, "replaces "+r)
	}
	return ids
}

// move is a listener a certificate is to go on, and what it serves now.
type move struct {
	Region   string
	Listener Listener
	Current  string
}

// movesLineage is the lineage of moving listeners: explicit when given, else
// the one whose records on what they serve list them, else derived
// (ResolveLineage).
func movesLineage(ctx context.Context, svcs []*Service, tc *tagCache, explicit string, moves []move, derived string) (string, error) {
	var found []string
	for _, m := range moves {
		tags, err := tc.get(ctx, serviceFor(svcs, m.Current), m.Current)
		if err != nil {
			return "", err
		}
		// Only a record that lists this listener says it is in that lineage: a
		// certificate other deployments also serve carries theirs too.
		found = append(found, listingLineages(tags, ListenerRef(m.Region, m.Listener))...)
	}
	return ResolveLineage(explicit, found, derived)
}

// recordTags are the tags of lineage's record that the certificate arn ("": a
// new upload) is to get before the listeners of moves go on it: each listener
// with what it serves now, one generation after the newest of those; a new
// upload also gets certup:origin. fresh: a new upload joins the lineage even
// when no listener moves. None when there is nothing to record.
func recordTags(ctx context.Context, svcs []*Service, tc *tagCache, lineage, arn string, moves []move, fresh bool) ([]Tag, error) {
	switched := map[string]string{}
	generation := 0
	for _, m := range moves {
		switched[ListenerRef(m.Region, m.Listener)] = CertRef(m.Current)
		tags, err := tc.get(ctx, serviceFor(svcs, m.Current), m.Current)
		if err != nil {
			return nil, err
		}
		if rec := Records(tags)[lineage]; rec != nil {
			generation = max(generation, rec.Generation)
		}
	}
	var existing []Tag
	var old *Record
	if arn != "" {
		tags, err := tc.get(ctx, serviceFor(svcs, arn), arn)
		if err != nil {
			return nil, err
		}
		existing, old = tags, Records(tags)[lineage]
	}
	if len(switched) == 0 && (old != nil || !fresh) {
		return nil, nil // nothing moves: nothing to record
	}
	want := MergeRecord(lineage, old, switched, generation+1).Tags()
	if arn == "" {
		// A new upload takes its record with it (no empty values needed).
		return append(slices.DeleteFunc(want, func(t Tag) bool { return t.Value == "" }), originTag(lineage)), nil
	}
	// Listeners move to it: a rollback's mark (that it moved them off it) no
	// longer holds.
	return TagChanges(existing, append(want, clearRolledBack(existing, lineage)...))
}

// uploadFits checks that a new upload's lineage record fits beside the
// user's tags within AWS's tag limit.
func uploadFits(user, record []Tag) error {
	if _, err := TagChanges(user, record); err != nil {
		return fmt.Errorf("uploading the new certificate with its lineage record: %w", err)
	}
	return nil
}

// resolveLineage decides the rotation's lineage from what the listeners serve
// (movesLineage), before the listeners are decided for good: what they serve
// is what decideListener reports before it knows the lineage.
func (r *Rotation) resolveLineage(ctx context.Context) error {
	var moves []move
	for _, p := range r.Listeners {
		if p.facts == nil {
			continue // failed when it could not be read
		}
		if d := decideListener(*p.facts); d.Current != "" && d.State != StateFailed {
			moves = append(moves, move{p.Region, p.Listener, d.Current})
		}
	}
	lineage, err := movesLineage(ctx, r.svcs, &r.tags, r.o.Lineage, moves, DeriveLineage(targetIDs(r.o.Listeners, r.o.Replaces)))
	if err != nil {
		return err
	}
	r.Lineage = lineage
	return nil
}

// planLineage decides, per store, the lineage record the new certificate is
// to carry before any listener moves to it: the upload takes it as tags, an
// existing certificate gets the tags that differ (and loses the lineage's
// rolled-back mark, when listeners move to it).
func (r *Rotation) planLineage(ctx context.Context) error {
	lineage := r.Lineage
	var err error
	for _, up := range r.Uploads {
		var switched []move
		for _, p := range r.Listeners {
			if (up.Region != "" && p.Region != up.Region) || p.Action != ActionSwitch || p.State != StatePlanned ||
				p.Current == "" || (up.ARN != "" && p.Current == up.ARN) {
				continue
			}
			switched = append(switched, move{p.Region, p.Listener, p.Current})
		}
		// preflight checks that a new upload's record fits beside the user's tags.
		if up.LineageTags, err = recordTags(ctx, r.svcs, &r.tags, lineage, up.ARN, switched, up.Needed && !up.Reimport); err != nil {
			return err
		}
		if up.Reimport && up.Needed {
			// Another certificate under the same ARN: a rollback's mark on the
			// one it replaces does not hold it.
			tags, err := r.tags.get(ctx, serviceFor(r.svcs, up.ARN), up.ARN)
			if err != nil {
				return err
			}
			up.LineageTags = append(up.LineageTags, clearRolledBack(tags, lineage)...)
		}
	}
	return nil
}
