package awsiam

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// replacedSet is what a rollback's Replaces name: the certificates (CertRef)
// a rotation with the same Replaces moved listeners off, by ARN or IAM name.
type replacedSet struct {
	refs  map[string]bool
	names map[string]bool
}

// newReplacedSet resolves Replaces: ARNs as they are, IAM names through the
// IAM listing (a record names its predecessor by CertRef of the ARN).
func newReplacedSet(ctx context.Context, replaces []string, pools *rollbackPools) (*replacedSet, error) {
	rs := &replacedSet{refs: map[string]bool{}, names: map[string]bool{}}
	for _, old := range replaces {
		if strings.HasPrefix(old, "arn:") {
			rs.refs[CertRef(old)] = true
			continue
		}
		rs.names[old] = true
		certs, err := pools.iam(ctx)
		if err != nil {
			return nil, err
		}
		for _, c := range certs {
			if c.Name == old {
				rs.refs[CertRef(c.ARN)] = true
			}
		}
	}
	return rs, nil
}

// is reports whether cert is one of the replaced certificates.
func (rs *replacedSet) is(cert string) bool {
	if rs.refs[CertRef(cert)] {
		return true
	}
	name, ok := iamNameFromARN(cert)
	return ok && rs.names[name]
}

// movedOff reports whether a lineage record in tags says listener (ListenerRef)
// served one of the replaced certificates before.
func (rs *replacedSet) movedOff(tags []Tag, listener string) bool {
	for _, rec := range Records(tags) {
		if p := rec.Predecessor(listener); p != "" && rs.refs[p] {
			return true
		}
	}
	return false
}

// addReplaced adds to a rollback's plan the listeners of s's region that a
// rotation with the same Replaces moved: those whose default certificate, or
// an SNI certificate, is one of the replaced certificates or has a record
// that says the listener served one before. An SNI listener's entry is the
// certificate to take off its list (the one moved to, while it is there) and
// sni keeps each list, for settleSNI. Listeners already planned are left.
func (r *Rotation) addReplaced(ctx context.Context, s *Service, seen map[Listener]seenListener, rs *replacedSet, sni map[string][]string) error {
	planned := map[Listener]bool{}
	for _, p := range r.Listeners {
		if p.Region == s.region {
			planned[p.Listener] = true
		}
	}
	moved := func(l Listener, cert string) (bool, error) {
		tags, err := r.tags.get(ctx, serviceFor(r.svcs, cert), cert)
		if err != nil {
			return false, err
		}
		return rs.movedOff(tags, ListenerRef(s.region, l)), nil
	}
	var keys []Listener
	var arns []string
	for l, sl := range seen {
		if !sl.Secure {
			continue
		}
		keys = append(keys, l)
		if l.ARN != "" {
			arns = append(arns, l.ARN)
		}
	}
	sort.Slice(keys, func(a, b int) bool { return keys[a].String() < keys[b].String() })
	sort.Strings(arns)
	for _, l := range keys {
		cert := seen[l].Cert
		if planned[l] || cert == "" {
			continue
		}
		ok, err := moved(l, cert)
		if err != nil {
			return err
		}
		if ok || rs.is(cert) {
			r.Listeners = append(r.Listeners, &ListenerPlan{Region: s.region, Listener: l, Current: cert, Action: ActionSwitch, State: StatePlanned})
		}
	}
	lists, err := s.sniCertificates(ctx, arns)
	if err != nil {
		return err
	}
	for _, arn := range arns {
		l := Listener{ARN: arn, SNI: true}
		if planned[l] {
			continue
		}
		var current string
		for _, c := range lists[arn] {
			ok, err := moved(l, c)
			if err != nil {
				return err
			}
			if ok {
				current = c // what a rotation added: it goes
				break
			}
			if current == "" && rs.is(c) {
				current = c // back already, or one further back
			}
		}
		if current != "" {
			sni[arn] = lists[arn]
			r.Listeners = append(r.Listeners, &ListenerPlan{Region: s.region, Listener: l, Current: current, Action: ActionSwitch, State: StatePlanned})
		}
	}
	return nil
}

// settleSNI marks each SNI listener whose target is on its list already (a
// rollback whose remove failed): only the current one is to be removed.
func (r *Rotation) settleSNI(sni map[string][]string) {
	for _, p := range r.Listeners {
		if p.Listener.SNI && p.Action == ActionSwitch && p.State == StatePlanned {
			p.sniHasNew = contains(sni[p.Listener.ARN], p.Target)
		}
	}
}

// rollbackQuotas applies CheckSNIQuota to the load balancers a rollback adds
// certificates back to: the replaced one goes on before the other comes off,
// so for a moment the list holds both.
func (r *Rotation) rollbackQuotas(ctx context.Context) error {
	regions, byRegion := r.switchTargets()
	for _, region := range regions {
		if err := r.service(region).checkQuotas(ctx, byRegion[region]); err != nil {
			return fmt.Errorf("rolling back: %w", err)
		}
	}
	return nil
}
