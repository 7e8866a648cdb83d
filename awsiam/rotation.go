package awsiam

import (
	"sync"
	"time"

	"github.com/keybridge/keybridge/keystore"
)

// Action is what a plan does with a listener.
type Action string

const (
	// ActionSwitch points the listener at the new certificate.
	ActionSwitch Action = "switch"
	// ActionReimport: the listener serves an ACM certificate that is re-imported
	// in place; the listener itself is not touched.
	ActionReimport Action = "reimport"
	// ActionSkip leaves the listener alone (Reason says why).
	ActionSkip Action = "skip"
)

// State is where a listener stands, as the plan and the apply leave it and as
// progress events report it.
type State string

const (
	StatePlanned   State = "planned"   // the plan only (dry run)
	StateUnchanged State = "unchanged" // skipped: nothing to do
	StateSwitching State = "switching" // progress: the change is being made
	StateWaiting   State = "waiting"   // progress: the load balancer does not see the certificate yet
	StateSwitched  State = "switched"  // changed, not yet read back
	StateConfirmed State = "confirmed" // read back: serves the new certificate
	StateFailed    State = "failed"    // see Error; the listener serves what it served before, or the new certificate
)

// Outcome sums up a rotation, rollback or prune.
type Outcome string

const (
	OutcomeUnchanged Outcome = "unchanged" // nothing to do (dry run: nothing would change)
	OutcomeChanged   Outcome = "changed"   // everything done (dry run: changes planned)
	OutcomePartial   Outcome = "partial"   // something changed, something failed: run it again
	OutcomeFailed    Outcome = "failed"    // nothing changed and something failed
)

// Kind tells a rotation from a rollback.
type Kind string

const (
	KindRotate   Kind = "rotate"
	KindRollback Kind = "rollback"
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
	Action   Action `json:"action"`
	Reason   string `json:"reason"`
	State    State  `json:"state"`
	Attempts int    `json:"attempts,omitempty"`
	Error    string `json:"error,omitempty"`
	// Held: skipped because a rollback in the lineage moved listeners off the
	// new certificate (RotateOptions.Force moves it all the same).
	Held bool `json:"held,omitempty"`
	// Kept: skipped because its certificate expires after the new one
	// (RotateOptions.NoDowngrade; Force replaces it all the same).
	Kept bool `json:"kept,omitempty"`

	// sniHasNew: an SNI listener that already has the new certificate beside the
	// old one; only the old one is to be removed.
	sniHasNew bool
	// facts are what the plan read of the listener, for decideListener (nil:
	// decided when it could not be read).
	facts *listenerFacts
}

// Event is progress on one listener, for a progress display.
type Event struct {
	Region   string
	Listener Listener
	State    State
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
	// Lineage names the lineage the new certificate joins; default: the lineage
	// of what the listeners serve, else one derived from the targets
	// (ResolveLineage).
	Lineage string
	// Force moves listeners to the new certificate also where a rollback in the
	// lineage moved them off it (which otherwise holds them), and clears that
	// mark; with NoDowngrade it also replaces a certificate that outlasts the
	// new one.
	Force bool
	// NoDowngrade leaves a listener alone whose certificate expires after the
	// new one (put there by other means: a renewal elsewhere, by hand), as an
	// unattended renewal should; rotate, which is told what to serve, does not.
	NoDowngrade bool
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
	// LineageTags are the lineage record's tags the certificate is to get (with
	// the upload, or added to the existing certificate) before any listener
	// moves to it.
	LineageTags []Tag `json:"lineage_tags,omitempty"`
}

// Rotation is a plan (PlanRotation, PlanRollback) and, once applied, its result.
type Rotation struct {
	Kind        Kind            `json:"kind"`
	Lineage     string          `json:"lineage,omitempty"`
	Fingerprint string          `json:"fingerprint,omitempty"`
	Subject     string          `json:"subject,omitempty"`
	NotAfter    *time.Time      `json:"not_after,omitempty"`
	Store       string          `json:"store,omitempty"` // iam or acm
	Uploads     []*RegionUpload `json:"uploads,omitempty"`
	Listeners   []*ListenerPlan `json:"listeners"`
	Probes      []*ProbeResult  `json:"probes,omitempty"`
	Prune       *PruneResult    `json:"prune,omitempty"`
	Marks       []*RestoreMark  `json:"restore_marks,omitempty"`
	Calls       []Call          `json:"planned_calls,omitempty"`
	Errors      []string        `json:"errors,omitempty"`
	Outcome     Outcome         `json:"outcome"`
	DryRun      bool            `json:"dry_run,omitempty"`

	svcs      []*Service
	kp        *keystore.KeyPair
	o         RotateOptions
	planOK    bool
	changed   bool
	applied   bool
	progressM sync.Mutex
	mu        sync.Mutex
	tags      tagCache
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

func (r *Rotation) service(region string) *Service {
	for _, s := range r.svcs {
		if s.region == region {
			return s
		}
	}
	return r.svcs[0]
}

func (r *Rotation) outcome() Outcome {
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
