package awsiam

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// Apply carries out the plan: upload (or re-import) the new certificate where a
// listener needs it, switch the listeners with at most Parallel changes in
// flight (the first of each region alone, to wait out IAM propagation once),
// read them back, probe, then prune. Every step is safe to repeat: a listener
// only ever points at its old certificate or at the new one, which exists
// before any listener is switched, and prune deletes only what no listener
// uses. A failure is recorded in the listener's entry and in Errors; Outcome
// sums it up.
func (r *Rotation) Apply(ctx context.Context) error {
	if r.DryRun {
		return errors.New("a dry-run plan cannot be applied")
	}
	if r.applied {
		return errors.New("plan already applied")
	}
	r.applied = true
	defer func() { r.Outcome = r.outcome() }()
	if r.Kind == KindRotate {
		r.upload(ctx)
	} else {
		r.writeMarks(ctx)
	}
	r.switchAll(ctx)
	r.readBack(ctx)
	if len(r.o.Probes) > 0 && r.kp != nil {
		r.probe(ctx)
	}
	if r.Kind == KindRotate && !r.o.NoPrune {
		// Only after a complete rotation: a partial one is finished, and pruned,
		// by the next run.
		if r.outcome() == OutcomePartial || r.outcome() == OutcomeFailed {
			r.addError("prune skipped: the rotation did not complete")
		} else {
			r.prune(ctx)
		}
	}
	return nil
}

func (r *Rotation) upload(ctx context.Context) {
	for _, up := range r.Uploads {
		if !up.Needed {
			if err := r.serviceOf(up).tagCertificate(ctx, up.ARN, up.LineageTags); err != nil {
				r.uploadFailed(up, err, "not switched: the lineage record could not be written")
			}
			continue
		}
		o := r.o.Upload
		o.Lineage = "" // the record below says it, with the generation
		if !up.Reimport {
			o.Tags = append(slices.Clone(o.Tags), up.LineageTags...)
		}
		svc := r.svcs[0]
		if up.Region != "" {
			svc = r.service(up.Region)
			if o.CertificateARN != "" && !up.Reimport && up.ARN != o.CertificateARN {
				o.CertificateARN = ""
			}
			if up.Reimport {
				o.CertificateARN = up.ARN
			}
		}
		res, err := svc.Upload(ctx, r.kp, o)
		if err == nil && !res.Uploaded && !res.DryRun && !up.Reimport {
			// It was there after all (uploaded meanwhile): the record goes on it.
			err = svc.ensureTags(ctx, res.ARN, up.LineageTags)
		}
		if err == nil && up.Reimport && res.Uploaded {
			err = svc.tagCertificate(ctx, res.ARN, up.LineageTags)
		}
		if err != nil {
			r.uploadFailed(up, err, "not switched: the new certificate could not be uploaded")
			continue
		}
		up.ARN, up.Done = res.ARN, true
		r.changed = r.changed || res.Uploaded
		for _, p := range r.Listeners {
			if up.Region != "" && p.Region != up.Region {
				continue
			}
			p.Target = res.ARN
			if p.Action == ActionReimport && p.State == StatePlanned {
				p.State = StateConfirmed
				r.progress(p.Region, p.Listener, StateConfirmed, "re-imported in place")
			}
			if p.Action == ActionSwitch && p.Current == res.ARN && p.State == StatePlanned {
				p.State = StateConfirmed // re-imported in place after all
			}
		}
	}
}

// uploadFailed marks every listener waiting for up as failed.
func (r *Rotation) uploadFailed(up *RegionUpload, err error, why string) {
	up.Error = err.Error()
	r.addError("uploading the new certificate: %v", err)
	for _, p := range r.Listeners {
		if (up.Region == "" || p.Region == up.Region) && (p.Action == ActionSwitch || p.Action == ActionReimport) && p.State == StatePlanned {
			p.State, p.Error = StateFailed, why
			r.progress(p.Region, p.Listener, StateFailed, p.Error)
		}
	}
}

// serviceOf is the Service of up's store.
func (r *Rotation) serviceOf(up *RegionUpload) *Service {
	if up.Region == "" {
		return r.svcs[0]
	}
	return r.service(up.Region)
}

// ensureTags writes tags onto arn where its tags differ (a record planned for
// a new upload, when the certificate turned out to be there already).
func (s *Service) ensureTags(ctx context.Context, arn string, tags []Tag) error {
	if len(tags) == 0 {
		return nil
	}
	have, err := s.certificateTags(ctx, arn)
	if err != nil {
		return err
	}
	changes, err := TagChanges(have, tags)
	if err != nil {
		return err
	}
	return s.tagCertificate(ctx, arn, changes)
}

// switchAll switches every planned listener, Parallel at a time; in each region
// and for each target the first switch goes alone, so that only one listener
// waits out the propagation of a new certificate.
func (r *Rotation) switchAll(ctx context.Context) {
	sem := make(chan struct{}, r.o.Parallel)
	groups := map[string][]*ListenerPlan{}
	var order []string
	for _, p := range r.Listeners {
		if p.Action != ActionSwitch || p.State != StatePlanned {
			continue
		}
		k := p.Region + "\x00" + p.Target
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], p)
	}
	var wg sync.WaitGroup
	for _, k := range order {
		ps := groups[k]
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			err := r.switchOne(ctx, ps[0])
			<-sem
			if err != nil && (errors.Is(err, ErrPropagation) || ctx.Err() != nil) {
				for _, p := range ps[1:] {
					p.State, p.Error = StateFailed, "not attempted: "+err.Error()
					r.progress(p.Region, p.Listener, StateFailed, p.Error)
				}
				return
			}
			var inner sync.WaitGroup
			for _, p := range ps[1:] {
				inner.Add(1)
				go func() {
					defer inner.Done()
					select {
					case sem <- struct{}{}:
					case <-ctx.Done():
						p.State, p.Error = StateFailed, "not attempted: "+ctx.Err().Error()
						r.progress(p.Region, p.Listener, StateFailed, p.Error)
						return
					}
					defer func() { <-sem }()
					_ = r.switchOne(ctx, p)
				}()
			}
			inner.Wait()
		}()
	}
	wg.Wait()
}

// switchOne points one listener at its target, retrying CertificateNotFound
// with backoff until Wait has passed.
func (r *Rotation) switchOne(ctx context.Context, p *ListenerPlan) error {
	svc := r.service(p.Region)
	if err := ctx.Err(); err != nil {
		p.State, p.Error = StateFailed, "not attempted: "+err.Error()
		r.progress(p.Region, p.Listener, StateFailed, p.Error)
		return err
	}
	r.progress(p.Region, p.Listener, StateSwitching, "to "+p.Target)
	_, do := svc.attachCall(p.Listener, p.Target)
	deadline := time.Now().Add(r.o.Wait)
	var wait time.Duration
	var err error
	for !p.sniHasNew {
		p.Attempts++
		err = do(ctx)
		if err != nil && !isCode(err, "CertificateNotFound") {
			err = fmt.Errorf("switching %s to %s: %w", p.Listener, p.Target, err)
			break
		}
		if err == nil {
			break
		}
		left := time.Until(deadline)
		if left <= 0 {
			err = propagationError(p.Listener, p.Target, r.o.Wait, p.Attempts)
			break
		}
		wait = svc.poll.next(wait)
		if detail, ok := waitingEvent(p.Attempts); ok {
			r.progress(p.Region, p.Listener, StateWaiting, detail)
		}
		if serr := sleep(ctx, min(wait, left)); serr != nil {
			err = fmt.Errorf("waiting for %s to see %s: %w", p.Listener, p.Target, serr)
			break
		}
	}
	if err == nil && p.Listener.SNI && p.Current != "" && p.Current != p.Target {
		// The new certificate is on the list: now the old one goes.
		_, err = svc.c.ELBv2.RemoveListenerCertificates(ctx, &elbv2.RemoveListenerCertificatesInput{
			ListenerArn: aws.String(p.Listener.ARN), Certificates: []elbv2types.Certificate{{CertificateArn: aws.String(p.Current)}}})
		if err != nil {
			err = fmt.Errorf("removing the old certificate %s from %s (the new one is added): %w", p.Current, p.Listener, err)
			r.mu.Lock()
			r.changed = r.changed || !p.sniHasNew
			r.mu.Unlock()
		}
	}
	if err != nil {
		p.State, p.Error = StateFailed, err.Error()
		svc.log.Debug("listener not switched", "region", p.Region, "listener", p.Listener.String(), "error", err)
		r.progress(p.Region, p.Listener, StateFailed, p.Error)
		return err
	}
	p.State = StateSwitched
	r.mu.Lock()
	r.changed = true
	r.mu.Unlock()
	svc.log.Info("listener switched", "region", p.Region, "listener", p.Listener.String(), "certificate", p.Target, "attempts", p.Attempts)
	r.progress(p.Region, p.Listener, StateSwitched, "")
	return nil
}

// readBack reads the switched listeners of each region with bulk describes until
// each shows its target or Wait has passed.
func (r *Rotation) readBack(ctx context.Context) {
	byRegion := map[string][]*ListenerPlan{}
	for _, p := range r.Listeners {
		if p.State == StateSwitched {
			byRegion[p.Region] = append(byRegion[p.Region], p)
		}
	}
	var wg sync.WaitGroup
	for region, ps := range byRegion {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc := r.service(region)
			deadline := time.Now().Add(r.o.Wait)
			var wait time.Duration
			for {
				var ls []Listener
				for _, p := range ps {
					ls = append(ls, p.Listener)
				}
				seen, err := svc.readListeners(ctx, ls, false)
				var sniARNs []string
				for _, p := range ps {
					if p.Listener.SNI {
						sniARNs = append(sniARNs, p.Listener.ARN)
					}
				}
				if err == nil && len(sniARNs) > 0 {
					var snis map[string][]string
					if snis, err = svc.sniCertificates(ctx, sniARNs); err == nil {
						for _, p := range ps {
							if p.Listener.SNI {
								sl := seen[p.Listener]
								sl.Cert = p.Current
								if contains(snis[p.Listener.ARN], p.Target) && !contains(snis[p.Listener.ARN], p.Current) {
									sl.Cert = p.Target
								}
								seen[p.Listener] = sl
							}
						}
					}
				}
				var left []*ListenerPlan
				for _, p := range ps {
					sl, ok := seen[p.Listener]
					if err == nil && ok && sl.Cert == p.Target {
						p.State = StateConfirmed
						r.progress(p.Region, p.Listener, StateConfirmed, "")
						continue
					}
					left = append(left, p)
				}
				ps = left
				if len(ps) == 0 {
					return
				}
				wait = svc.poll.next(wait)
				remaining := time.Until(deadline)
				if remaining <= 0 || ctx.Err() != nil || sleep(ctx, min(wait, remaining)) != nil {
					for _, p := range ps {
						sl := seen[p.Listener]
						msg := fmt.Sprintf("%s shows %q after the change, not %s: %v", p.Listener, sl.Cert, p.Target, ErrNotConfirmed)
						if err != nil {
							msg = fmt.Sprintf("reading back %s: %v", p.Listener, err)
						}
						p.State, p.Error = StateFailed, msg
						r.progress(p.Region, p.Listener, StateFailed, msg)
					}
					return
				}
			}
		}()
	}
	wg.Wait()
}

// prune deletes what the rotation made obsolete: certificates of the
// rotation's lineage alone that no listener serves and no rollback within Keep
// generations needs.
func (r *Rotation) prune(ctx context.Context) {
	if !r.planOK {
		r.addError("prune skipped: not every region could be read")
		return
	}
	var protect []string
	for _, up := range r.Uploads {
		if up.ARN != "" {
			protect = append(protect, up.ARN)
		}
	}
	keep := r.o.Keep
	if keep == 0 {
		keep = -1 // none: Prune reads 0 as its default
	}
	res, err := Prune(ctx, r.svcs, PruneOptions{Target: r.o.Upload.Target, Lineage: r.Lineage, Keep: keep, Protect: protect})
	if res != nil {
		r.Prune = res
		if res.Deleted > 0 {
			r.changed = true
		}
		for _, c := range res.Certificates {
			if c.Action == PruneFailed {
				r.addError("deleting %s: %s", c.ARN, c.Error)
			}
		}
	}
	if err != nil {
		r.addError("prune: %v", err)
	}
}
func (r *Rotation) progress(region string, l Listener, state State, detail string) {
	if r.o.Progress == nil {
		return
	}
	r.progressM.Lock()
	defer r.progressM.Unlock()
	r.o.Progress(Event{Region: region, Listener: l, State: state, Detail: detail})
}

func (r *Rotation) addError(format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Errors = append(r.Errors, fmt.Sprintf(format, a...))
}
