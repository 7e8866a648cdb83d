package awsiam

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// RollbackOptions control a rollback.
type RollbackOptions struct {
	Listeners []Listener
	// Parallel, Wait and Progress as in RotateOptions.
	Parallel int
	Wait     time.Duration
	Progress func(Event)
}

// PlanRollback plans to put each listener back on the certificate uploaded just
// before the one it serves: for IAM the previous upload of the same name group
// (names as DefaultName makes them), for ACM the previous import for the same
// domain; expired certificates are not candidates. It makes no changing call;
// Apply switches and reads the listeners back (it neither uploads nor prunes).
func PlanRollback(ctx context.Context, svcs []*Service, o RollbackOptions) (*Rotation, error) {
	if len(svcs) == 0 {
		return nil, errors.New("no region to roll back in")
	}
	if len(o.Listeners) == 0 {
		return nil, errors.New("nothing to roll back: give listeners")
	}
	ro := RotateOptions{Listeners: o.Listeners, Parallel: o.Parallel, Wait: o.Wait, Progress: o.Progress}
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
	var iamCerts []CertificateInfo
	iamListed := false
	acmCerts := map[*Service][]CertificateInfo{}
	now := svcs[0].now()
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
			p := &ListenerPlan{Region: s.region, Listener: l, Current: sl.Cert, Action: ActionSwitch, State: StatePlanned}
			r.Listeners = append(r.Listeners, p)
			var pool []CertificateInfo
			if isACMARN(sl.Cert) {
				if _, ok := acmCerts[s]; !ok {
					certs, err := s.acmImported(ctx)
					if err != nil {
						return nil, err
					}
					acmCerts[s] = certs
				}
				pool = acmCerts[s]
			} else {
				if !iamListed {
					iamListed = true
					if iamCerts, err = svcs[0].iamCertificates(ctx, ""); err != nil {
						return nil, err
					}
				}
				pool = iamCerts
			}
			prev, why := previousCertificate(pool, sl.Cert, now)
			if prev == nil {
				p.Action, p.State, p.Error = ActionSkip, StateFailed, why
				continue
			}
			p.Target = prev.ARN
			p.Reason = "back to " + displayName(*prev) + ", valid until " + prev.NotAfter.UTC().Format(time.DateOnly)
		}
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
		return nil, fmt.Sprintf("%s was not named by certup; no previous certificate to go back to", displayName(*cur))
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
		return nil, fmt.Sprintf("no valid certificate uploaded before %s is kept (prune keeps only the newest ones)", displayName(*cur))
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
