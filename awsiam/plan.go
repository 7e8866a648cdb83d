package awsiam

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/keybridge/keybridge/keystore"
)

// regionOf returns the region of an ARN ("" for IAM, which is global).
func regionOf(arn string) string {
	_, r, _, _ := arnParts(arn)
	return r
}

// assign maps each listener to the services (regions) it is looked for in: an
// ALB/NLB listener to the region of its ARN, a classic one to every region.
func assign(svcs []*Service, ls []Listener) (map[*Service][]Listener, error) {
	out := map[*Service][]Listener{}
	for _, l := range ls {
		if l.ELB != "" {
			for _, s := range svcs {
				out[s] = append(out[s], l)
			}
			continue
		}
		reg := regionOf(l.ARN)
		var found *Service
		for _, s := range svcs {
			if s.region == "" || s.region == reg {
				found = s
				break
			}
		}
		if found == nil {
			return nil, fmt.Errorf("listener %s is in region %s, not among the regions given", l.ARN, reg)
		}
		out[found] = append(out[found], l)
	}
	return out, nil
}

// uploadName is the IAM name the new certificate gets.
func uploadName(kp *keystore.KeyPair, o UploadOptions) string {
	if o.Name != "" {
		return o.Name
	}
	return DefaultName(kp.Leaf, o.NamePrefix)
}

// PlanRotation computes, from what AWS reports now, what rotating to kp takes in
// every region of svcs (one Service per region): per listener skip (already
// serves the new certificate, or with RenewWithin its certificate is valid for
// longer) or switch; and whether the certificate must be uploaded first. It
// makes no changing call. Apply carries the plan out.
func PlanRotation(ctx context.Context, svcs []*Service, kp *keystore.KeyPair, o RotateOptions) (*Rotation, error) {
	if len(svcs) == 0 {
		return nil, errors.New("no region to rotate in")
	}
	if len(o.Listeners) == 0 && len(o.Replaces) == 0 {
		return nil, errors.New("nothing to rotate: give listeners or the certificate they replace")
	}
	o.defaults()
	s0 := svcs[0]
	if err := Validate(kp, o.Upload.Target, s0.now(), o.Upload.ValidateOptions); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(kp.Leaf.Raw)
	na := kp.Leaf.NotAfter.UTC()
	r := &Rotation{Kind: KindRotate, Fingerprint: hex.EncodeToString(sum[:]), Subject: subjectName(kp.Leaf), NotAfter: &na,
		Store: o.Upload.Target.String(), svcs: svcs, kp: kp, o: o, DryRun: s0.dryRun, Listeners: []*ListenerPlan{}}
	byRegion, err := assign(svcs, o.Listeners)
	if err != nil {
		return nil, err
	}
	if o.Upload.Target == TargetACM && o.Upload.CertificateARN != "" {
		reg := regionOf(o.Upload.CertificateARN)
		ok := false
		for _, s := range svcs {
			ok = ok || s.region == "" || s.region == reg
		}
		if !ok {
			return nil, fmt.Errorf("ACM certificate %s is in region %s, not among the regions given", o.Upload.CertificateARN, reg)
		}
	}

	// Where the new certificate is (or is to be).
	uploads := map[*Service]*RegionUpload{}
	if o.Upload.Target == TargetIAM {
		up, err := s0.lookupIAM(ctx, kp, o.Upload)
		if err != nil {
			return nil, err
		}
		r.Uploads = []*RegionUpload{up}
		for _, s := range svcs {
			uploads[s] = up
		}
	} else {
		var wg sync.WaitGroup
		errs := make([]error, len(svcs))
		ups := make([]*RegionUpload, len(svcs))
		for i, s := range svcs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ups[i], errs[i] = s.lookupACM(ctx, kp, o.Upload)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		r.Uploads = ups
		for i, s := range svcs {
			uploads[s] = ups[i]
		}
	}

	replaces := map[string]bool{}
	for _, ref := range o.Replaces {
		replaces[ref] = true
	}
	matchesOld := func(cert string) bool {
		if replaces[cert] {
			return true
		}
		name, ok := iamNameFromARN(cert)
		return ok && replaces[name]
	}

	// Read the listeners of every region at once.
	rps := make([]regionPlan, len(svcs))
	var wg sync.WaitGroup
	for i, s := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			targets := byRegion[s]
			seen, err := s.readListeners(ctx, targets, len(o.Replaces) > 0)
			if err != nil {
				rps[i].err = fmt.Errorf("region %s: %w", s.region, err)
				return
			}
			up := uploads[s]
			rp := regionPlan{found: map[Listener]bool{}}
			add := func(l Listener, sl seenListener) {
				if rp.found[l] {
					return
				}
				rp.found[l] = true
				rp.plans = append(rp.plans, &ListenerPlan{Region: s.region, Listener: l, Target: up.ARN, facts: &listenerFacts{
					Listener: l, Secure: sl.Secure, Protocol: sl.Protocol, Current: sl.Cert, New: up.ARN, Reimport: up.Reimport}})
			}
			for _, l := range targets {
				if sl, ok := seen[l]; ok {
					add(l, sl)
				}
			}
			if len(o.Replaces) > 0 {
				var keys []Listener
				for l, sl := range seen {
					if sl.Secure && (matchesOld(sl.Cert) || (up.ARN != "" && sl.Cert == up.ARN)) {
						keys = append(keys, l)
					}
				}
				sort.Slice(keys, func(a, b int) bool { return keys[a].String() < keys[b].String() })
				for _, l := range keys {
					add(l, seen[l])
				}
				if err := rp.planSNI(ctx, s, seen, up, matchesOld); err != nil {
					rps[i].err = fmt.Errorf("region %s: %w", s.region, err)
					return
				}
			}
			rps[i] = rp
		}()
	}
	wg.Wait()
	r.planOK = true
	for i, rp := range rps {
		if rp.err != nil {
			r.planOK = false
			r.Errors = append(r.Errors, rp.err.Error())
			for _, l := range byRegion[svcs[i]] {
				r.Listeners = append(r.Listeners, &ListenerPlan{Region: svcs[i].region, Listener: l, Action: ActionSkip,
					State: StateFailed, Error: "not read: " + rp.err.Error()})
			}
			continue
		}
		r.Listeners = append(r.Listeners, rp.plans...)
	}
	// A listener asked for by name and found in no region.
	for _, l := range o.Listeners {
		found := false
		for _, rp := range rps {
			found = found || rp.found[l] || rp.err != nil
		}
		if !found {
			r.Listeners = append(r.Listeners, &ListenerPlan{Listener: l, Action: ActionSkip, State: StateFailed,
				Error: fmt.Sprintf("%s: %v", l, ErrListenerNotFound)})
		}
	}
	if len(r.Errors) == len(svcs) {
		return nil, errors.New(strings.Join(r.Errors, "; "))
	}
	if err := r.resolveLineage(ctx); err != nil {
		return nil, err
	}
	if err := r.decide(ctx); err != nil {
		return nil, err
	}
	// Upload only what a listener needs.
	for _, up := range r.Uploads {
		need := false
		for _, p := range r.Listeners {
			if up.Region != "" && p.Region != up.Region {
				continue
			}
			if p.Action == ActionReimport || (p.Action == ActionSwitch && (up.ARN == "" || up.Reimport)) {
				need = true
			}
		}
		up.Needed = need
	}
	if err := r.planLineage(ctx); err != nil {
		return nil, err
	}
	if err := r.preflight(ctx); err != nil {
		return nil, err
	}
	r.Calls = r.plannedCalls()
	r.Outcome = r.outcome()
	return r, nil
}

// preflight is the one place where a complete plan is checked against what
// AWS would refuse midway, before Apply makes any changing call: a refusal
// here leaves everything as it is. Each check decides from the plan (and what
// it read) alone: AWS's refusals (refuse), then the lineage record's tag
// budget.
func (r *Rotation) preflight(ctx context.Context) error {
	if err := r.refuse(ctx); err != nil {
		return err
	}
	for _, up := range r.Uploads {
		if up.ARN != "" || !up.Needed {
			continue
		}
		if err := uploadFits(r.o.Upload.Tags, up.LineageTags); err != nil {
			return err
		}
	}
	return nil
}

type regionPlan struct {
	plans []*ListenerPlan
	found map[Listener]bool
	err   error
}

// planSNI adds the ALB/NLB listeners that serve an old certificate as an SNI
// (additional) certificate: the new one is added, then the old one removed.
func (rp *regionPlan) planSNI(ctx context.Context, s *Service, seen map[Listener]seenListener, up *RegionUpload, matchesOld func(string) bool) error {
	var arns []string
	for l, sl := range seen {
		if l.ARN != "" && sl.Secure {
			arns = append(arns, l.ARN)
		}
	}
	sort.Strings(arns)
	snis, err := s.sniCertificates(ctx, arns)
	if err != nil {
		return err
	}
	for _, arn := range arns {
		var old string
		hasNew := false
		for _, c := range snis[arn] {
			switch {
			case up.ARN != "" && c == up.ARN:
				hasNew = true
			case old == "" && matchesOld(c):
				old = c
			}
		}
		if old == "" && !hasNew {
			continue
		}
		l := Listener{ARN: arn, SNI: true}
		rp.found[l] = true
		rp.plans = append(rp.plans, &ListenerPlan{Region: s.region, Listener: l, Target: up.ARN, facts: &listenerFacts{
			Listener: l, Secure: true, Current: old, SNI: true, SNIHasNew: hasNew, New: up.ARN, Reimport: up.Reimport}})
	}
	return nil
}

// lookupIAM finds the new certificate in IAM (read only).
func (s *Service) lookupIAM(ctx context.Context, kp *keystore.KeyPair, o UploadOptions) (*RegionUpload, error) {
	name := uploadName(kp, o)
	if err := ValidName(name); err != nil {
		return nil, fmt.Errorf("certificate name %w", err)
	}
	existing, err := s.getServerCertificate(ctx, name)
	if err != nil {
		return nil, err
	}
	up := &RegionUpload{}
	if existing != nil {
		if existing.leaf == nil || !sameCertificate(string(kp.CertPEM()), existing.leaf) {
			return nil, fmt.Errorf("IAM server certificate %q (%s) holds a different certificate: %w", name, existing.ARN, ErrNameTaken)
		}
		up.ARN = existing.ARN
	}
	return up, nil
}

// lookupACM finds the new certificate in the region's ACM (read only).
func (s *Service) lookupACM(ctx context.Context, kp *keystore.KeyPair, o UploadOptions) (*RegionUpload, error) {
	up := &RegionUpload{Region: s.region}
	if o.CertificateARN != "" && (s.region == "" || regionOf(o.CertificateARN) == s.region) {
		got, err := s.getACMCertificate(ctx, o.CertificateARN)
		if err != nil {
			return nil, err
		}
		up.ARN = o.CertificateARN
		up.Reimport = !sameCertificate(aws.ToString(got.Certificate), kp.Leaf)
		return up, nil
	}
	arn, err := s.findACM(ctx, kp)
	if err != nil {
		return nil, fmt.Errorf("region %s: %w", s.region, err)
	}
	up.ARN = arn
	return up, nil
}

// decide settles what the plan does with each listener read (decideListener),
// with, for RenewWithin and NoDowngrade, the expiry of what each listener to be
// changed serves.
func (r *Rotation) decide(ctx context.Context) error {
	now := r.svcs[0].now()
	// When a rollback in the lineage moved listeners off the new certificate
	// (an upload that exists already; a re-import brings another one).
	rolledBack := map[string]time.Time{}
	for _, up := range r.Uploads {
		if up.ARN == "" || up.Reimport {
			continue
		}
		tags, err := r.tags.get(ctx, serviceFor(r.svcs, up.ARN), up.ARN)
		if err != nil {
			return err
		}
		rolledBack[up.ARN] = RolledBackAt(tags, r.Lineage)
	}
	expiry := map[string]time.Time{}
	if r.o.RenewWithin > 0 || r.o.NoDowngrade {
		var iamListed bool
		for _, p := range r.Listeners {
			if p.facts == nil {
				continue
			}
			d := decideListener(*p.facts)
			if (d.Action != ActionSwitch && d.Action != ActionReimport) || d.Current == "" {
				continue
			}
			if _, ok := expiry[d.Current]; ok {
				continue
			}
			if isACMARN(d.Current) {
				info, err := r.service(p.Region).Certificate(ctx, d.Current)
				if err == nil {
					expiry[d.Current] = info.NotAfter
				} else if !errors.Is(err, ErrCertificateNotFound) {
					return err
				}
			} else if !iamListed {
				iamListed = true
				certs, err := r.svcs[0].iamCertificates(ctx, "")
				if err != nil {
					return err
				}
				for _, c := range certs {
					expiry[c.ARN] = c.NotAfter
				}
			}
		}
	}
	for _, p := range r.Listeners {
		if p.facts == nil {
			continue // decided when it could not be read
		}
		f := *p.facts
		f.Now, f.RenewWithin, f.RolledBack, f.Force = now, r.o.RenewWithin, rolledBack[f.New], r.o.Force
		f.NoDowngrade, f.NewExpires = r.o.NoDowngrade, r.kp.Leaf.NotAfter
		f.Expires = expiry[decideListener(f).Current]
		d := decideListener(f)
		p.Action, p.State, p.Reason, p.Current, p.sniHasNew, p.Held, p.Kept = d.Action, d.State, d.Reason, d.Current, d.RemoveOldOnly, d.Held, d.Kept
		if d.Err != nil {
			p.Error = d.Err.Error()
		}
	}
	return nil
}

func days(d time.Duration) string {
	n := int(d / (24 * time.Hour))
	if time.Duration(n)*24*time.Hour == d {
		if n == 1 {
			return "1 day"
		}
		return strconv.Itoa(n) + " days"
	}
	return d.String()
}

// plannedCalls are the changing calls Apply would make.
func (r *Rotation) plannedCalls() []Call {
	var calls []Call
	for _, up := range r.Uploads {
		if up.ARN != "" && len(up.LineageTags) > 0 && !up.Reimport {
			calls = append(calls, tagCall(up.ARN, up.LineageTags))
		}
		if !up.Needed {
			continue
		}
		switch {
		case r.Store == "iam":
			calls = append(calls, Call{Service: "iam", Operation: "UploadServerCertificate", Params: map[string]string{
				"ServerCertificateName": uploadName(r.kp, r.o.Upload), "PrivateKey": "(from the keystore, not shown)",
				"Tags": tagString(append(slices.Clone(r.o.Upload.Tags), up.LineageTags...))}})
		case up.Reimport:
			calls = append(calls, Call{Service: "acm", Operation: "ImportCertificate", Params: map[string]string{
				"CertificateArn": up.ARN, "PrivateKey": "(from the keystore, not shown)"}})
			if len(up.LineageTags) > 0 {
				calls = append(calls, tagCall(up.ARN, up.LineageTags))
			}
		default:
			calls = append(calls, Call{Service: "acm", Operation: "ImportCertificate", Params: map[string]string{
				"Region": up.Region, "PrivateKey": "(from the keystore, not shown)",
				"Tags": tagString(append(slices.Clone(r.o.Upload.Tags), up.LineageTags...))}})
		}
	}
	for _, m := range r.Marks {
		calls = append(calls, tagCall(m.ARN, m.Tags))
	}
	for _, p := range r.Listeners {
		if p.Action != ActionSwitch || p.State == StateFailed {
			continue
		}
		target := p.Target
		if target == "" {
			target = plannedARN(r.kp, r.o.Upload)
		}
		c, _ := r.svcs[0].attachCall(p.Listener, target)
		if p.Region != "" {
			c.Params["Region"] = p.Region
		}
		if !p.sniHasNew {
			calls = append(calls, c)
		}
		if p.Listener.SNI && p.Current != "" {
			calls = append(calls, Call{Service: "elbv2", Operation: "RemoveListenerCertificates", Params: map[string]string{
				"ListenerArn": p.Listener.ARN, "CertificateArn": p.Current, "Region": p.Region}})
		}
	}
	return calls
}
