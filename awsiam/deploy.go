package awsiam

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/keybridge/keybridge/keystore"
)

// DeployOptions are the options of Deploy.
type DeployOptions struct {
	Upload    UploadOptions
	Listeners []Listener
	Attach    AttachOptions
	// StickinessCookie, when set, also sets application-cookie stickiness on each
	// listener (see SetStickiness).
	StickinessCookie string
}

// DeployResult says what Deploy did.
type DeployResult struct {
	Upload     *UploadResult       `json:"upload"`
	Attached   []*AttachResult     `json:"attached"`
	Stickiness []*StickinessResult `json:"stickiness,omitempty"`
}

// Deploy uploads kp (or finds the existing upload) and attaches it to every
// listener, with stickiness when asked. It stops at the first failure; running
// it again continues where it stopped, since every step is skipped when already
// done.
func (s *Service) Deploy(ctx context.Context, kp *keystore.KeyPair, o DeployOptions) (*DeployResult, error) {
	if len(o.Listeners) == 0 {
		return nil, errors.New("no listener to deploy to")
	}
	res := &DeployResult{Attached: []*AttachResult{}}
	if err := s.deployRefusals(ctx, kp, o); err != nil {
		return res, err
	}
	existing, record, err := s.deployRecord(ctx, kp, o)
	if err != nil {
		return res, err
	}
	uo := o.Upload
	if existing == "" && len(record) > 0 {
		// The record says the lineage, with its generation.
		uo.Lineage, uo.Tags = "", append(slices.Clone(uo.Tags), record...)
	}
	up, err := s.Upload(ctx, kp, uo)
	if err != nil {
		return res, err
	}
	// An existing certificate gets its record after the upload step (a
	// re-import is refused there first, and takes no tags) and before any
	// listener moves; one uploaded meanwhile, where it lacks it.
	if existing != "" {
		err = s.tagCertificate(ctx, existing, record)
	} else if !up.Uploaded && !up.DryRun {
		err = s.ensureTags(ctx, up.ARN, record)
	}
	if err != nil {
		return res, fmt.Errorf("recording what the deploy replaces: %w", err)
	}
	res.Upload = up
	for _, l := range o.Listeners {
		a, err := s.attach(ctx, up.ARN, kp.Leaf, l, o.Attach)
		if err != nil {
			return res, err
		}
		res.Attached = append(res.Attached, a)
		if o.StickinessCookie != "" {
			st, err := s.SetStickiness(ctx, l, o.StickinessCookie)
			if err != nil {
				return res, fmt.Errorf("%s: %w", l, err)
			}
			res.Stickiness = append(res.Stickiness, st)
		}
	}
	return res, nil
}

// deployRefusals refuses, before the upload, what a listener would refuse; it
// only reads. An SNI listener that already has the certificate (found as the
// upload would find it) adds nothing to its load balancer's count.
func (s *Service) deployRefusals(ctx context.Context, kp *keystore.KeyPair, o DeployOptions) error {
	if err := Validate(kp, o.Upload.Target, s.now(), o.Upload.ValidateOptions); err != nil {
		return err
	}
	var named []target
	for _, l := range o.Listeners {
		named = append(named, target{l: l})
	}
	if err := s.checkNames(kp.Leaf, named); err != nil {
		return err
	}
	if !slices.ContainsFunc(o.Listeners, func(l Listener) bool { return l.SNI }) {
		return nil // only SNI adds count against a quota
	}
	var existing string
	if o.Upload.Target == TargetIAM {
		if up, err := s.lookupIAM(ctx, kp, o.Upload); err == nil {
			existing = up.ARN
		}
	} else if up, err := s.lookupACM(ctx, kp, o.Upload); err == nil && !up.Reimport {
		existing = up.ARN
	}
	var targets []target
	for _, l := range o.Listeners {
		t := target{l: l, add: l.SNI}
		if t.add && existing != "" {
			current, err := s.listenerCertificates(ctx, l)
			if err != nil {
				return err
			}
			t.add = !contains(current, existing)
		}
		targets = append(targets, t)
	}
	return s.checkQuotas(ctx, targets)
}

// deployRecord is what a deploy records before any listener moves, as a
// rotation does (movesLineage, recordTags): the listeners whose default
// certificate it replaces, each with what it serves now, so that rollback
// can put them back. existing is the certificate when it is uploaded
// already (record: the tags it lacks), "" when the upload is to come (record:
// its tags). A deploy that replaces nothing records nothing (Upload's
// Lineage still makes a new upload a member); an SNI add replaces nothing.
func (s *Service) deployRecord(ctx context.Context, kp *keystore.KeyPair, o DeployOptions) (existing string, record []Tag, err error) {
	var up *RegionUpload
	if o.Upload.Target == TargetIAM {
		up, err = s.lookupIAM(ctx, kp, o.Upload)
	} else {
		up, err = s.lookupACM(ctx, kp, o.Upload)
	}
	if err != nil {
		return "", nil, err
	}
	var defaults []Listener
	for _, l := range o.Listeners {
		if !l.SNI {
			defaults = append(defaults, l)
		}
	}
	seen, err := s.readListeners(ctx, defaults, false)
	if err != nil {
		return "", nil, err
	}
	var moves []move
	for _, l := range defaults {
		if cur := seen[l].Cert; cur != "" && cur != up.ARN {
			moves = append(moves, move{s.region, l, cur})
		}
	}
	if len(moves) == 0 {
		return up.ARN, nil, nil
	}
	svcs := []*Service{s}
	var tc tagCache
	lineage, err := movesLineage(ctx, svcs, &tc, o.Upload.Lineage, moves, DeriveLineage(targetIDs(o.Listeners, nil)))
	if err != nil {
		return "", nil, err
	}
	record, err = recordTags(ctx, svcs, &tc, lineage, up.ARN, moves, false)
	if err != nil {
		return "", nil, err
	}
	if up.ARN == "" {
		if err := uploadFits(o.Upload.Tags, record); err != nil {
			return "", nil, err
		}
	}
	return up.ARN, record, nil
}
