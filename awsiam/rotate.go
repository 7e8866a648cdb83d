package awsiam

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keybridge/keybridge/keystore"
)

// What the plan does with a listener.
const (
	// ActionSwitch points the listener at the new certificate.
	ActionSwitch = "switch"
	// ActionReimport: the listener serves an ACM certificate that is re-imported
	// in place; the listener itself is not touched.
	ActionReimport = "reimport"
	// ActionSkip leaves the listener alone (Reason says why).
	ActionSkip = "skip"
)

// Listener states, as the plan and the apply leave them.
const (
	StatePlanned   = "planned"   // the plan only (dry run)
	StateUnchanged = "unchanged" // skipped: nothing to do
	StateSwitched  = "switched"  // changed, not yet read back
	StateConfirmed = "confirmed" // read back: serves the new certificate
	StateFailed    = "failed"    // see Error; the listener serves what it served before, or the new certificate
)

// Outcomes of a rotation, rollback or prune.
const (
	OutcomeUnchanged = "unchanged" // nothing to do (dry run: nothing would change)
	OutcomeChanged   = "changed"   // everything done (dry run: changes planned)
	OutcomePartial   = "partial"   // something changed, something failed: run it again
	OutcomeFailed    = "failed"    // nothing changed and something failed
)

// Defaults of RotateOptions.
const (
	DefaultParallel  = 8
	DefaultKeep      = 1
	DefaultProbeWait = 2 * time.Minute
)

// ListenerPlan is one listener of a rotation or rollback: what it served, what
// the plan does with it, and what happened.
type ListenerPlan struct {
	Region   string   `json:"region,omitempty"`
	Listener Listener `json:"listener"`
	// Current is the certificate the listener served when the plan was made.
	Current string `json:"current,omitempty"`
	// Target is the certificate it is to serve ("" until the new certificate is
	// uploaded).
	Target   string `json:"target,omitempty"`
	Action   string `json:"action"`
	Reason   string `json:"reason"`
	State    string `json:"state"`
	Attempts int    `json:"attempts,omitempty"`
	Error    string `json:"error,omitempty"`

	// sniHasNew: an SNI listener that already has the new certificate beside the
	// old one; only the old one is to be removed.
	sniHasNew bool
}

// Event is progress on one listener, for a progress display.
type Event struct {
	Region   string
	Listener Listener
	State    string // switching, waiting, switched, confirmed, failed, …
	Detail   string
}

// RotateOptions control a rotation.
type RotateOptions struct {
	// Upload says where the new certificate goes (IAM or ACM, name prefix, path,
	// tags, ACM certificate to re-import into).
	Upload UploadOptions
	// Listeners to rotate (classic ELB names are looked for in every region).
	Listeners []Listener
	// Replaces: also rotate every listener of the regions whose default
	// certificate is one of these (IAM names or IAM/ACM ARNs).
	Replaces []string
	// RenewWithin: leave a listener alone while its current certificate is valid
	// for longer than this (0: always rotate).
	RenewWithin time.Duration
	// Keep is how many previous certificates prune keeps for rollback; 0 means
	// DefaultKeep, negative keeps none.
	Keep int
	// NoPrune skips pruning.
	NoPrune bool
	// Parallel bounds the listener changes in flight (all regions together);
	// default DefaultParallel.
	Parallel int
	// Wait is how long a listener change is retried while the load balancer does
	// not yet see the new certificate, and how long the read-back may take;
	// default DefaultWait.
	Wait time.Duration
	// Probes are HOST:PORT addresses whose TLS handshake must present the new
	// certificate.
	Probes []string
	// ProbeWait is how long a probe retries; default DefaultProbeWait.
	ProbeWait time.Duration
	// Progress, when set, receives events (one at a time).
	Progress func(Event)
}

// RegionUpload is the new certificate in one store: IAM (Region "") or the ACM
// of a region.
type RegionUpload struct {
	Region string `json:"region,omitempty"`
	ARN    string `json:"arn,omitempty"`
	// Needed: the certificate is to be uploaded (or re-imported).
	Needed   bool   `json:"needed"`
	Reimport bool   `json:"reimport,omitempty"`
	Done     bool   `json:"done,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Rotation is a plan (PlanRotation, PlanRollback) and, once applied, its result.
type Rotation struct {
	Kind        string          `json:"kind"` // rotate or rollback
	Fingerprint string          `json:"fingerprint,omitempty"`
	Subject     string          `json:"subject,omitempty"`
	NotAfter    *time.Time      `json:"not_after,omitempty"`
	Store       string          `json:"store,omitempty"` // iam or acm
	Uploads     []*RegionUpload `json:"uploads,omitempty"`
	Listeners   []*ListenerPlan `json:"listeners"`
	Probes      []*ProbeResult  `json:"probes,omitempty"`
	Prune       *PruneResult    `json:"prune,omitempty"`
	Calls       []Call          `json:"planned_calls,omitempty"`
	Errors      []string        `json:"errors,omitempty"`
	Outcome     string          `json:"outcome"`
	DryRun      bool            `json:"dry_run,omitempty"`

	svcs      []*Service
	kp        *keystore.KeyPair
	o         RotateOptions
	planOK    bool
	changed   bool
	applied   bool
	progressM sync.Mutex
	mu        sync.Mutex
}

func (o *RotateOptions) defaults() {
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.Wait <= 0 {
		o.Wait = DefaultWait
	}
	if o.Keep == 0 {
		o.Keep = DefaultKeep
	}
	if o.Keep < 0 {
		o.Keep = 0
	}
	if o.ProbeWait <= 0 {
		o.ProbeWait = DefaultProbeWait
	}
}

// regionOf returns the region of an ARN ("" for IAM, which is global).
func regionOf(arn string) string {
	_, r, _, _ := arnParts(arn)
	return r
}

func (r *Rotation) progress(region string, l Listener, state, detail string) {
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
	r := &Rotation{Kind: "rotate", Fingerprint: hex.EncodeToString(sum[:]), Subject: subjectName(kp.Leaf), NotAfter: &na,
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
				p := &ListenerPlan{Region: s.region, Listener: l, Current: sl.Cert, Target: up.ARN, State: StatePlanned}
				switch {
				case !sl.Secure:
					p.Action, p.State = ActionSkip, StateFailed
					p.Error = fmt.Sprintf("%s uses %s; certificates need HTTPS, SSL or TLS", l, sl.Protocol)
				case up.ARN != "" && sl.Cert == up.ARN && up.Reimport:
					p.Action, p.Reason = ActionReimport, "serves "+up.ARN+", which is re-imported in place"
				case up.ARN != "" && sl.Cert == up.ARN:
					p.Action, p.Reason, p.State = ActionSkip, "already serves the new certificate", StateUnchanged
				default:
					p.Action, p.Reason = ActionSwitch, "serves another certificate"
					if sl.Cert == "" {
						p.Reason = "serves no certificate"
					}
				}
				rp.plans = append(rp.plans, p)
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
	if o.RenewWithin > 0 {
		if err := r.applyRenewWithin(ctx); err != nil {
			return nil, err
		}
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
	if err := r.refuse(ctx); err != nil {
		return nil, err
	}
	r.Calls = r.plannedCalls()
	r.Outcome = r.outcome()
	return r, nil
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
		l := Listener{ARN: arn, SNI: true}
		p := &ListenerPlan{Region: s.region, Listener: l, Current: old, Target: up.ARN, State: StatePlanned, Action: ActionSwitch}
		switch {
		case old == "" && !hasNew:
			continue
		case old == "" && up.Reimport:
			p.Current, p.Action, p.Reason = up.ARN, ActionReimport, "serves "+up.ARN+" as an SNI certificate; it is re-imported in place"
		case old == "":
			p.Current, p.Action, p.Reason, p.State = up.ARN, ActionSkip, "already serves the new certificate (SNI)", StateUnchanged
		case hasNew:
			p.sniHasNew = true
			p.Reason = "serves the new and the old certificate (SNI): remove the old"
		default:
			p.Reason = "serves the old certificate as an SNI certificate: add the new, then remove the old"
		}
		rp.found[l] = true
		rp.plans = append(rp.plans, p)
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
		got, err := s.c.ACM.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: aws.String(o.CertificateARN)})
		if isCode(err, "ResourceNotFoundException", "InvalidArnException") {
			return nil, fmt.Errorf("ACM certificate %s: %w", o.CertificateARN, ErrCertificateNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("getting ACM certificate %s: %w", o.CertificateARN, err)
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

// applyRenewWithin skips the listeners whose certificate is valid for longer
// than RenewWithin.
func (r *Rotation) applyRenewWithin(ctx context.Context) error {
	expiry := map[string]time.Time{}
	var iamListed bool
	now := r.svcs[0].now()
	for _, p := range r.Listeners {
		if (p.Action != ActionSwitch && p.Action != ActionReimport) || p.Current == "" {
			continue
		}
		if _, ok := expiry[p.Current]; !ok {
			if isACMARN(p.Current) {
				svc := r.service(p.Region)
				if info, err := svc.Certificate(ctx, p.Current); err == nil {
					expiry[p.Current] = info.NotAfter
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
		na, ok := expiry[p.Current]
		if ok && na.Sub(now) > r.o.RenewWithin {
			p.Action, p.State = ActionSkip, StateUnchanged
			p.Reason = fmt.Sprintf("current certificate valid until %s, more than %s", na.UTC().Format(time.DateOnly), days(r.o.RenewWithin))
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

func (r *Rotation) service(region string) *Service {
	for _, s := range r.svcs {
		if s.region == region {
			return s
		}
	}
	return r.svcs[0]
}

// plannedCalls are the changing calls Apply would make.
func (r *Rotation) plannedCalls() []Call {
	var calls []Call
	for _, up := range r.Uploads {
		if !up.Needed {
			continue
		}
		switch {
		case r.Store == "iam":
			calls = append(calls, Call{Service: "iam", Operation: "UploadServerCertificate", Params: map[string]string{
				"ServerCertificateName": uploadName(r.kp, r.o.Upload), "PrivateKey": "(from the keystore, not shown)"}})
		case up.Reimport:
			calls = append(calls, Call{Service: "acm", Operation: "ImportCertificate", Params: map[string]string{
				"CertificateArn": up.ARN, "PrivateKey": "(from the keystore, not shown)"}})
		default:
			calls = append(calls, Call{Service: "acm", Operation: "ImportCertificate", Params: map[string]string{
				"Region": up.Region, "PrivateKey": "(from the keystore, not shown)"}})
		}
	}
	for _, p := range r.Listeners {
		if p.Action != ActionSwitch || p.State == StateFailed {
			continue
		}
		target := p.Target
		if target == "" {
			target = "(the new certificate)"
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

func (r *Rotation) outcome() string {
	failed := len(r.Errors) > 0
	pending := false
	for _, p := range r.Listeners {
		switch {
		case p.State == StateFailed:
			failed = true
		case p.Action == ActionSwitch || p.Action == ActionReimport:
			pending = pending || p.State == StatePlanned
		}
	}
	for _, pr := range r.Probes {
		failed = failed || !pr.Matched
	}
	if !r.applied {
		if pending {
			return OutcomeChanged
		}
		if failed {
			return OutcomeFailed
		}
		return OutcomeUnchanged
	}
	switch {
	case failed && r.changed:
		return OutcomePartial
	case failed:
		return OutcomeFailed
	case r.changed:
		return OutcomeChanged
	}
	return OutcomeUnchanged
}

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
	if r.Kind == "rotate" {
		r.upload(ctx)
	}
	r.switchAll(ctx)
	r.readBack(ctx)
	if len(r.o.Probes) > 0 && r.kp != nil {
		r.probe(ctx)
	}
	if r.Kind == "rotate" && !r.o.NoPrune {
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
			continue
		}
		o := r.o.Upload
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
		if err != nil {
			up.Error = err.Error()
			r.addError("uploading the new certificate: %v", err)
			for _, p := range r.Listeners {
				if (up.Region == "" || p.Region == up.Region) && (p.Action == ActionSwitch || p.Action == ActionReimport) && p.State == StatePlanned {
					p.State, p.Error = StateFailed, "not switched: the new certificate could not be uploaded"
					r.progress(p.Region, p.Listener, StateFailed, p.Error)
				}
			}
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
	r.progress(p.Region, p.Listener, "switching", "to "+p.Target)
	_, do := svc.attachCall(p.Listener, p.Target)
	deadline := time.Now().Add(r.o.Wait)
	var wait time.Duration
	var err error
	for !p.sniHasNew {
		p.Attempts++
		err = do(ctx)
		if err == nil || !isCode(err, "CertificateNotFound") {
			break
		}
		left := time.Until(deadline)
		if left <= 0 {
			err = fmt.Errorf("%s still answers CertificateNotFound for %s after %s (%d attempts): %w",
				p.Listener, p.Target, r.o.Wait, p.Attempts, ErrPropagation)
			break
		}
		wait = svc.poll.next(wait)
		if p.Attempts == 1 || p.Attempts%10 == 0 {
			r.progress(p.Region, p.Listener, "waiting", fmt.Sprintf("the load balancer does not see the new certificate yet (attempt %d)", p.Attempts))
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
		if !errors.Is(err, ErrPropagation) && !strings.HasPrefix(err.Error(), "waiting") && !strings.HasPrefix(err.Error(), "removing") {
			err = fmt.Errorf("switching %s to %s: %w", p.Listener, p.Target, err)
		}
		p.State, p.Error = StateFailed, err.Error()
		svc.log.Warn("listener not switched", "region", p.Region, "listener", p.Listener.String(), "error", err)
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

// prune deletes what the rotation made obsolete: certificates of the same name
// group as the new one, unused, beyond the newest Keep.
func (r *Rotation) prune(ctx context.Context) {
	if !r.planOK {
		r.addError("prune skipped: not every region could be read")
		return
	}
	if r.o.Upload.Name != "" {
		return // an explicit name: no name group to prune
	}
	// The group of the new certificate's name, as DefaultName made it (the
	// prefix may have been shortened to fit).
	prefix := r.o.Upload.NamePrefix
	if m := derivedNameRE.FindStringSubmatch(DefaultName(r.kp.Leaf, r.o.Upload.NamePrefix)); m != nil {
		prefix = m[1]
	}
	var protect []string
	for _, up := range r.Uploads {
		if up.ARN != "" {
			protect = append(protect, up.ARN)
		}
	}
	res, err := Prune(ctx, r.svcs, PruneOptions{Target: r.o.Upload.Target, NamePrefix: prefix, Keep: r.o.Keep, Protect: protect})
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

// iamCertificates lists the IAM server certificates under pathPrefix.
func (s *Service) iamCertificates(ctx context.Context, pathPrefix string) ([]CertificateInfo, error) {
	in := &iam.ListServerCertificatesInput{MaxItems: aws.Int32(1000)}
	if pathPrefix != "" {
		in.PathPrefix = aws.String(pathPrefix)
	}
	var out []CertificateInfo
	for md, err := range s.iamServerCertificates(ctx, in) {
		if err != nil {
			return nil, err
		}
		info := iamInfo(md)
		if md.UploadDate != nil {
			info.Uploaded = *md.UploadDate
		}
		info.DaysLeft = daysLeft(s.now(), info.NotAfter)
		out = append(out, info)
	}
	return out, nil
}
