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
	up, err := s.Upload(ctx, kp, o.Upload)
	if err != nil {
		return res, err
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
