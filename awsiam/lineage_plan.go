package awsiam

import (
	"context"
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

// planLineage decides the rotation's lineage and, per store, the lineage
// record the new certificate is to carry before any listener moves to it: the
// upload takes it as tags, an existing certificate gets the tags that differ.
func (r *Rotation) planLineage(ctx context.Context) error {
	var found []string
	for _, p := range r.Listeners {
		if p.Current == "" || p.State == StateFailed {
			continue
		}
		tags, err := r.tags.get(ctx, serviceFor(r.svcs, p.Current), p.Current)
		if err != nil {
			return err
		}
		// Only a record that lists this listener says it is in that lineage: a
		// certificate other deployments also serve carries theirs too.
		found = append(found, listingLineages(tags, ListenerRef(p.Region, p.Listener))...)
	}
	lineage, err := ResolveLineage(r.o.Lineage, found, DeriveLineage(targetIDs(r.o.Listeners, r.o.Replaces)))
	if err != nil {
		return err
	}
	r.Lineage = lineage
	for _, up := range r.Uploads {
		if err := r.planRecord(ctx, up); err != nil {
			return err
		}
	}
	return nil
}

// planRecord computes the record of up's certificate: each listener the plan
// switches to it, with what it serves now.
func (r *Rotation) planRecord(ctx context.Context, up *RegionUpload) error {
	switched := map[string]string{}
	generation := 0
	for _, p := range r.Listeners {
		if (up.Region != "" && p.Region != up.Region) || p.Action != ActionSwitch || p.State != StatePlanned ||
			p.Current == "" || (up.ARN != "" && p.Current == up.ARN) {
			continue
		}
		switched[ListenerRef(p.Region, p.Listener)] = CertRef(p.Current)
		tags, err := r.tags.get(ctx, serviceFor(r.svcs, p.Current), p.Current)
		if err != nil {
			return err
		}
		if rec := Records(tags)[r.Lineage]; rec != nil {
			generation = max(generation, rec.Generation)
		}
	}
	var existing []Tag
	var old *Record
	if up.ARN != "" {
		tags, err := r.tags.get(ctx, serviceFor(r.svcs, up.ARN), up.ARN)
		if err != nil {
			return err
		}
		existing, old = tags, Records(tags)[r.Lineage]
	}
	if len(switched) == 0 && (old != nil || !up.Needed || up.Reimport) {
		return nil // nothing moves: nothing to record
	}
	want := MergeRecord(r.Lineage, old, switched, generation+1).Tags()
	if up.ARN == "" {
		// A new upload takes its record with it (no empty values needed);
		// preflight checks that it fits beside the user's tags.
		up.LineageTags = append(slices.DeleteFunc(want, func(t Tag) bool { return t.Value == "" }), originTag(r.Lineage))
		return nil
	}
	changes, err := TagChanges(existing, want)
	if err != nil {
		return err
	}
	up.LineageTags = changes
	return nil
}
