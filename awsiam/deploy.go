package awsiam

import (
	"context"
	"errors"
	"fmt"

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
	up, err := s.Upload(ctx, kp, o.Upload)
	if err != nil {
		return res, err
	}
	res.Upload = up
	for _, l := range o.Listeners {
		a, err := s.Attach(ctx, up.ARN, l, o.Attach)
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
