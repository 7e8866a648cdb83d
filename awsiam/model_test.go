package awsiam_test

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keybridge/keybridge/awsiam"
	"github.com/keybridge/keybridge/awsiam/awstest"
	"github.com/keybridge/keybridge/keystore"
)

// The model test runs random sequences of upload, rotate, deploy, rollback and prune
// over two or three deployments whose certificates share CNs (WSO2's
// localhost, then the real domain), in IAM and ACM, with RSA and EC keys and a
// fault injected at a random call, through the real SDK clients against
// awstest (some deployments also serve their certificate as an SNI
// certificate of another listener, which rotate and rollback reach with
// Replaces, as a user would), and checks after every step:
//
//	I1 a rollback right after a rotate puts every listener back on exactly what
//	   it served before (and one further back where that certificate is kept);
//	I2 nothing a deployment serves, or needs for one rollback, is deleted, nor
//	   an untagged certificate, nor an unrelated upload with the same CN;
//	I3 a step on one deployment changes no other deployment's listeners and
//	   deletes none of its certificates;
//	I4 every listener serves a certificate that exists;
//	I5 a failed step run again converges, and a rotate run after success makes
//	   no changing call;
//	I6 a rotation right after a rollback (and a prune of its lineage), to the
//	   certificate the rollback moved the listeners off, changes nothing (the
//	   rollback holds).
//
// KEYBRIDGE_MODEL_SEED replays one seed; KEYBRIDGE_MODEL_TIME (a duration,
// default 3s) bounds the run and KEYBRIDGE_MODEL_STEPS (default 14) the steps
// of one sequence.

const modelRegion = "eu-west-1"

type opKind int

const (
	opUpload opKind = iota
	opRotate
	opRollback
	opFurther // rollback --further
	opPrune
	opShare  // rotate to the certificate the next deployment serves
	opDeploy // deploy (upload and attach), which records what it replaces as rotate does
)

func (k opKind) String() string {
	return [...]string{"upload", "rotate", "rollback", "rollback --further", "prune", "rotate to the next deployment's certificate", "deploy"}[k]
}

// step is one operation of a sequence, with everything random about it
// decided up front, so that a shorter sequence replays the same steps.
type step struct {
	kind  opKind
	dep   int
	fault int    // fail this call of the step (-1: none)
	cn    string // upload, rotate: the new certificate's CN
	ec    bool   // its key is EC
	days  int    // its validity
	other bool   // rotate: to the other store (IAM and ACM swapped) this once
}

func (s step) String() string {
	out := fmt.Sprintf("%s d%d", s.kind, s.dep)
	if s.kind == opUpload || s.kind == opRotate || s.kind == opDeploy {
		key := "RSA"
		if s.ec {
			key = "EC"
		}
		out += fmt.Sprintf(" %s %s %dd", s.cn, key, s.days)
	}
	if (s.kind == opRotate || s.kind == opDeploy) && s.other {
		out += " other-store"
	}
	if s.fault >= 0 {
		out += " fault@" + strconv.Itoa(s.fault)
	}
	return out
}

// deployment is one application: its listeners, where its certificates go,
// and what the model expects of it.
type deployment struct {
	listeners []awsiam.Listener
	acm       bool
	alb       bool   // has ALB listeners, which take only certificates of a FQDN
	sni       int    // index in listeners of an SNI entry (rotated and rolled back with Replaces), -1: none
	lineage   string // explicit; "" derived
	named     string // the lineage rotate reported
	history   [][]string
	back      bool     // the last step that moved the listeners was a rollback
	unrelated []string // same-CN uploads no rotation chose
	owned     map[string]bool
	rolledOff map[string]bool // certificates a rollback moved it off (w.rolledOff)
	initial   string
}

type world struct {
	kps  map[string]*keystore.KeyPair // what each certificate holds
	srv  *awstest.Server
	svc  *awsiam.Service
	ca   *ca
	rsa  []crypto.Signer
	deps []*deployment
	t    testing.TB
}

func newWorld(t testing.TB, seed uint64, rsaKeys []crypto.Signer, c *ca) (*world, error) {
	srv, err := awstest.New(awstest.Options{MaxServerCertificates: 1000})
	if err != nil {
		return nil, err
	}
	w := &world{srv: srv, ca: c, rsa: rsaKeys, t: t, kps: map[string]*keystore.KeyPair{}}
	cfg := testConfig(srv, modelRegion, 2, time.Millisecond)
	w.svc = awsiam.New(awsiam.NewClients(cfg), awsiam.Options{Region: modelRegion,
		Poll: awsiam.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, Factor: 2}})
	rng := rand.New(rand.NewPCG(seed, 1))
	n := 2 + rng.IntN(2)
	for i := range n {
		d := &deployment{acm: rng.IntN(2) == 0, owned: map[string]bool{}, sni: -1}
		if rng.IntN(2) == 0 {
			d.lineage = "dep" + strconv.Itoa(i)
		}
		// The first certificate, uploaded by an earlier certup (no tags):
		// WSO2's localhost behind a classic ELB, a FQDN where ALB listeners
		// are too (they refuse localhost).
		d.alb = rng.IntN(3) != 0
		kp := w.pair(d.cn("localhost"), rng.IntN(2) == 0, 300+i)
		key, _ := kp.KeyPEM(keystore.KeyFormatDefault)
		if d.acm {
			d.initial, err = srv.ImportACMCertificate(modelRegion, string(kp.CertPEM()), string(key), string(kp.ChainPEM()))
		} else {
			d.initial, err = srv.UploadServerCertificate("initial-d"+strconv.Itoa(i), "/", string(kp.CertPEM()), string(key), string(kp.ChainPEM()))
		}
		if err != nil {
			return nil, err
		}
		w.kps[d.initial] = kp
		name := "d" + strconv.Itoa(i)
		if err := srv.AddClassicELB(modelRegion, name, awstest.ClassicListener{Protocol: "HTTPS", Port: 443, InstancePort: 9443, CertificateARN: d.initial}); err != nil {
			return nil, err
		}
		d.listeners = append(d.listeners, awsiam.Listener{ELB: name, Port: 443})
		alb := srv.AddALB(modelRegion, "alb-"+name)
		for port := range (1 + rng.IntN(2)) * btoi(d.alb) {
			ln, err := srv.AddListener(modelRegion, alb, awstest.Listener{Protocol: "HTTPS", Port: 443 + port, CertificateARN: d.initial})
			if err != nil {
				return nil, err
			}
			d.listeners = append(d.listeners, awsiam.Listener{ARN: ln})
		}
		if d.alb && rng.IntN(2) == 0 {
			// The certificate is also an SNI certificate of a listener whose
			// default is another's (untagged) certificate.
			fill := w.pair("filler.example.com", false, 500+i)
			fkey, _ := fill.KeyPEM(keystore.KeyFormatDefault)
			filler, err := srv.UploadServerCertificate("filler-d"+strconv.Itoa(i), "/", string(fill.CertPEM()), string(fkey), "")
			if err != nil {
				return nil, err
			}
			ln, err := srv.AddListener(modelRegion, srv.AddALB(modelRegion, "sni-"+name), awstest.Listener{Protocol: "HTTPS", Port: 443, CertificateARN: filler, SNI: []string{d.initial}})
			if err != nil {
				return nil, err
			}
			d.sni = len(d.listeners)
			d.listeners = append(d.listeners, awsiam.Listener{ARN: ln, SNI: true})
		}
		d.history = [][]string{w.serving(d)}
		w.deps = append(w.deps, d)
	}
	return w, nil
}

// cn is the CN a certificate of d gets: localhost only without ALB listeners.
func (d *deployment) cn(cn string) string {
	if d.alb && cn == "localhost" {
		return "www.example.com"
	}
	return cn
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (w *world) pair(cn string, ec bool, days int) *keystore.KeyPair {
	var key crypto.Signer
	if ec {
		key = ecKey(w.t.(*testing.T), elliptic.P256())
	} else {
		key = w.rsa[days%len(w.rsa)]
	}
	now := time.Now()
	return w.ca.pair(w.t.(*testing.T), cn, key, now.Add(-time.Hour), now.Add(time.Duration(days)*24*time.Hour))
}

// serving is what d's listeners serve now, in order.
func (w *world) serving(d *deployment) []string {
	var out []string
	for _, l := range d.listeners {
		if l.ELB != "" {
			st, _ := w.srv.ClassicListenerOf(modelRegion, l.ELB, int(l.Port))
			out = append(out, st.CertificateARN)
		} else if l.SNI {
			// Midway both may be on the list.
			_, sni, _ := w.srv.ListenerCertificates(modelRegion, l.ARN)
			out = append(out, strings.Join(sni, " "))
		} else {
			def, _, _ := w.srv.ListenerCertificates(modelRegion, l.ARN)
			out = append(out, def)
		}
	}
	return out
}

// existing is every certificate there is, IAM and ACM.
func (w *world) existing() map[string]bool {
	out := map[string]bool{}
	for _, c := range w.srv.ServerCertificates() {
		out[c.ARN] = true
	}
	for _, c := range w.srv.ACMCertificates(modelRegion) {
		out[c.ARN] = true
	}
	return out
}

// inject makes call k of the step fail (a refusal the SDK does not retry).
func (w *world) inject(k int) func() {
	if k < 0 {
		return func() {}
	}
	w.srv.ResetCalls()
	return w.srv.Inject(awstest.Fault{Op: "*", Skip: k, Times: 1, Code: "AccessDenied", Status: 403, Message: "injected"})
}

func uploadOptions(d *deployment, other bool) awsiam.UploadOptions {
	var o awsiam.UploadOptions
	if d.acm != other {
		o.Target = awsiam.TargetACM
	}
	return o
}

// targets are d's listeners a rotation or rollback names, and, where d has an
// SNI entry, the certificate it replaces (which reaches the SNI entry): gen
// back from the model's newest row of history.
func (d *deployment) targets(gen int) ([]awsiam.Listener, []string) {
	if d.sni < 0 {
		return d.listeners, nil
	}
	ls := slices.Delete(slices.Clone(d.listeners), d.sni, d.sni+1)
	row := d.history[max(0, len(d.history)-1-gen)]
	return ls, []string{row[d.sni]}
}

func (w *world) rotateOnce(ctx context.Context, d *deployment, kp *keystore.KeyPair, other bool) (*awsiam.Rotation, error) {
	ls, replaces := d.targets(0)
	plan, err := awsiam.PlanRotation(ctx, []*awsiam.Service{w.svc}, kp, awsiam.RotateOptions{Upload: uploadOptions(d, other),
		Listeners: ls, Replaces: replaces, Lineage: d.lineage, Wait: time.Second, Parallel: 2})
	if err != nil {
		return nil, err
	}
	return plan, plan.Apply(ctx)
}

// deployOnce deploys kp to d's listeners; its result is put as a rotation's
// (changed, or unchanged when it made no changing call).
func (w *world) deployOnce(ctx context.Context, d *deployment, kp *keystore.KeyPair, other bool) (*awsiam.Rotation, error) {
	before := w.srv.MutatingCalls()
	uo := uploadOptions(d, other)
	uo.Lineage = d.lineage // as the deployment's rotations name it
	_, err := w.svc.Deploy(ctx, kp, awsiam.DeployOptions{Upload: uo, Listeners: d.listeners,
		Attach: awsiam.AttachOptions{Wait: time.Second}})
	r := &awsiam.Rotation{Kind: awsiam.KindRotate, Outcome: awsiam.OutcomeChanged}
	if err != nil {
		r.Outcome = awsiam.OutcomeFailed
	} else if w.srv.MutatingCalls() == before {
		r.Outcome = awsiam.OutcomeUnchanged
	}
	return r, err
}

// holds reports whether one of d's listeners serves kp's certificate (under
// any name or ARN).
func (w *world) holds(d *deployment, kp *keystore.KeyPair) bool { return w.among(w.serving(d), kp) }

// among reports whether one of certs holds kp's certificate.
func (w *world) among(certs []string, kp *keystore.KeyPair) bool {
	for _, c := range certs {
		if h := w.kps[c]; h != nil && h.Leaf.Equal(kp.Leaf) {
			return true
		}
	}
	return false
}

// rolledOff reports whether a rollback moved d off kp's certificate (in
// either store): a rotation to it holds.
func (w *world) rolledOff(d *deployment, kp *keystore.KeyPair) bool {
	return w.among(slices.Collect(maps.Keys(d.rolledOff)), kp)
}

// same reports whether d's listeners serve what they served in was.
func (w *world) same(d *deployment, was []string) bool { return slices.Equal(w.serving(d), was) }

func (w *world) rollbackOnce(ctx context.Context, d *deployment, further bool) (*awsiam.Rotation, error) {
	// The same targets as the rotation it undoes: what it replaced.
	ls, replaces := d.targets(1)
	plan, err := awsiam.PlanRollback(ctx, []*awsiam.Service{w.svc}, awsiam.RollbackOptions{Listeners: ls, Replaces: replaces, Lineage: d.lineage,
		Further: further, Wait: time.Second})
	if err != nil {
		return nil, err
	}
	return plan, plan.Apply(ctx)
}

func done(r *awsiam.Rotation, err error) bool {
	return err == nil && (r.Outcome == awsiam.OutcomeChanged || r.Outcome == awsiam.OutcomeUnchanged)
}

// apply runs one step and checks the invariants; a step that makes no sense
// in the state reached (prune before a lineage exists) is skipped.
func (w *world) apply(ctx context.Context, s step) error {
	d := w.deps[s.dep]
	before := map[*deployment][]string{}
	for _, e := range w.deps {
		before[e] = w.serving(e)
	}
	had := w.existing()
	switch s.kind {
	case opUpload:
		kp := w.pair(s.cn, s.ec, s.days)
		defer w.inject(s.fault)()
		up, err := w.svc.Upload(ctx, kp, uploadOptions(d, false))
		if err == nil {
			d.unrelated = append(d.unrelated, up.ARN)
			w.kps[up.ARN] = kp
		}
	case opRotate, opShare, opDeploy:
		target := w.pair(d.cn(s.cn), s.ec, s.days)
		once := func() (*awsiam.Rotation, error) { return w.rotateOnce(ctx, d, target, s.other) }
		if s.kind == opDeploy {
			if d.sni >= 0 {
				return nil // a deploy adds to an SNI list, replaces nothing there
			}
			once = func() (*awsiam.Rotation, error) { return w.deployOnce(ctx, d, target, s.other) }
		}
		if s.kind == opShare {
			// The certificate the next deployment serves: both rotations
			// record it, neither may delete it while the other needs it.
			e := w.deps[(s.dep+1)%len(w.deps)]
			x := w.serving(e)[0]
			if target = w.kps[x]; target == nil || w.holds(d, target) || w.rolledOff(d, target) || len(w.deps) < 2 || d.sni >= 0 || e.sni >= 0 ||
				d.cn(target.Leaf.Subject.CommonName) != target.Leaf.Subject.CommonName {
				return nil
			}
			s.other = strings.Contains(x, ":acm:") != d.acm
		}
		remove := w.inject(s.fault)
		r, err := once()
		remove()
		if !done(r, err) || s.fault >= 0 {
			// I4 holds midway: checked below. I5: run again, converge.
			if err := w.check(before, had, d, true); err != nil {
				return fmt.Errorf("after the failed run: %w", err)
			}
			r, err = once()
			if !done(r, err) {
				return fmt.Errorf("I5: %s run again did not converge: %v %s", s.kind, err, describe(r))
			}
		}
		w.srv.ResetCalls()
		r, err = once()
		if err != nil || r.Outcome != awsiam.OutcomeUnchanged || w.srv.MutatingCalls() != 0 {
			return fmt.Errorf("I5: %s after success: %v, %d changing calls %v\n%s", s.kind, err, w.srv.MutatingCalls(), w.srv.CallLog(), describe(r))
		}
		if r.Lineage != "" {
			d.named = r.Lineage
		}
		now := w.serving(d)
		for i, c := range now {
			if c == d.history[len(d.history)-1][i] {
				return fmt.Errorf("rotate: %s still serves %s", d.listeners[i], c)
			}
			d.owned[c] = true
			w.kps[c] = target
		}
		d.history = append(d.history, now)
		d.back = false
	case opRollback, opFurther:
		further := s.kind == opFurther
		remove := w.inject(s.fault)
		r, err := w.rollbackOnce(ctx, d, further)
		remove()
		if !done(r, err) {
			if err := w.check(before, had, d, true); err != nil {
				return fmt.Errorf("after the failed run: %w", err)
			}
			// I5: a failed rollback run again (as it was asked) finishes it.
			r, err = w.rollbackOnce(ctx, d, further && w.same(d, before[d]))
		}
		if d.back && !further {
			// I5: after a complete rollback, nothing to do.
			w.srv.ResetCalls()
			r, err = w.rollbackOnce(ctx, d, false)
			if err != nil || r.Outcome != awsiam.OutcomeUnchanged || w.srv.MutatingCalls() != 0 {
				return fmt.Errorf("I5: rollback after a complete rollback: %v, %d changing calls\n%s", err, w.srv.MutatingCalls(), describe(r))
			}
			break
		}
		if len(d.history) < 2 {
			if done(r, err) && r.Outcome == awsiam.OutcomeChanged {
				return fmt.Errorf("rollback past the first certificate moved the listeners: %s", describe(r))
			}
			break
		}
		want := d.history[len(d.history)-2]
		kept := true
		for _, c := range want {
			kept = kept && had[c]
		}
		now := w.serving(d)
		switch {
		case kept && (!done(r, err) || !slices.Equal(now, want)):
			return fmt.Errorf("I1: rollback: listeners serve %v, served %v before the rotate (%v)\n%s", now, want, err, describe(r))
		case kept:
			d.history = d.history[:len(d.history)-1]
			d.back = true
			if d.rolledOff == nil {
				d.rolledOff = map[string]bool{}
			}
			for _, c := range before[d] {
				d.rolledOff[c] = true
			}
			for _, c := range now {
				delete(d.rolledOff, c) // a rollback onto a certificate clears its mark
			}
			// I6: a rollback holds: a rotation right after it to the
			// certificate it moved the listeners off changes nothing (its
			// prune may delete what an earlier run left).
			// A standalone prune of the lineage in between keeps what
			// holds it (deleted, the rotation would upload it again).
			x := before[d][0]
			if kp := w.kps[x]; kp != nil && r.Outcome == awsiam.OutcomeChanged {
				if d.named != "" {
					o := awsiam.PruneOptions{Lineage: d.named}
					if d.acm {
						o.Target = awsiam.TargetACM
					}
					if _, err := awsiam.Prune(ctx, []*awsiam.Service{w.svc}, o); err != nil {
						return fmt.Errorf("prune after the rollback: %v", err)
					}
				}
				w.srv.ResetCalls()
				r, err := w.rotateOnce(ctx, d, kp, strings.Contains(x, ":acm:") != d.acm)
				moved := w.srv.MutatingCalls() - w.srv.Calls("iam:DeleteServerCertificate") - w.srv.Calls("acm:DeleteCertificate")
				if err != nil || moved != 0 || !w.same(d, now) {
					return fmt.Errorf("I6: rotate to %s right after the rollback off it: %v, %d changing calls %v\n%s", x, err, moved, w.srv.CallLog(), describe(r))
				}
			}
		case !slices.Equal(now, d.history[len(d.history)-1]):
			return fmt.Errorf("rollback to deleted certificates moved the listeners to %v\n%s", now, describe(r))
		}
	case opPrune:
		if d.named == "" {
			return nil
		}
		o := awsiam.PruneOptions{Lineage: d.named}
		if d.acm {
			o.Target = awsiam.TargetACM
		}
		remove := w.inject(s.fault)
		_, _ = awsiam.Prune(ctx, []*awsiam.Service{w.svc}, o)
		remove()
	}
	return w.check(before, had, d, false)
}

// check tests I2, I3 and I4 after a step on d (midway: a rotate or rollback
// that failed, whose listeners may serve either side).
func (w *world) check(before map[*deployment][]string, had map[string]bool, d *deployment, midway bool) error {
	have := w.existing()
	for i, e := range w.deps {
		now := w.serving(e)
		for j, cs := range now {
			if cs == "" {
				return fmt.Errorf("I4: d%d %s serves no certificate", i, e.listeners[j])
			}
			for _, c := range strings.Fields(cs) {
				if !have[c] {
					return fmt.Errorf("I4: d%d %s serves %s, which does not exist", i, e.listeners[j], c)
				}
			}
		}
		if e != d && !slices.Equal(now, before[e]) {
			return fmt.Errorf("I3: a step on another deployment moved d%d from %v to %v", i, before[e], now)
		}
		if e == d && !midway && !slices.Equal(now, e.history[len(e.history)-1]) {
			return fmt.Errorf("d%d serves %v, the model says %v", i, now, e.history[len(e.history)-1])
		}
		if !have[e.initial] {
			return fmt.Errorf("I2: d%d's first certificate (no tags) was deleted", i)
		}
		for _, u := range e.unrelated {
			if !have[u] {
				return fmt.Errorf("I2: d%d's unrelated same-CN upload %s was deleted", i, u)
			}
		}
		if e != d {
			for c := range e.owned {
				if had[c] && !have[c] {
					return fmt.Errorf("I3: a step on another deployment deleted d%d's %s", i, c)
				}
			}
		}
		if !midway && len(e.history) >= 2 {
			for _, c := range e.history[len(e.history)-2] {
				if had[c] && !have[c] {
					return fmt.Errorf("I2: d%d's rollback certificate %s was deleted", i, c)
				}
			}
		}
	}
	return nil
}

// randomSteps draws a sequence.
func randomSteps(rng *rand.Rand, n int) []step {
	cns := []string{"localhost", "localhost", "app.example.com", "www.example.com"}
	var out []step
	for range n {
		s := step{dep: rng.IntN(3), fault: -1, cn: cns[rng.IntN(len(cns))], ec: rng.IntN(2) == 0, days: 30 + rng.IntN(400)}
		switch x := rng.IntN(20); {
		case x < 5:
			s.kind = opUpload
		case x < 10:
			s.kind = opRotate
		case x < 12:
			s.kind = opDeploy
		case x < 15:
			s.kind = opRollback
		case x < 16:
			s.kind = opFurther
		case x < 17:
			s.kind = opShare
		default:
			s.kind = opPrune
		}
		if rng.IntN(3) == 0 {
			s.fault = rng.IntN(50) // a step makes 10 to 60 calls
		}
		s.other = rng.IntN(6) == 0
		out = append(out, s)
	}
	return out
}

type modelRun struct {
	t    *testing.T
	rsa  []crypto.Signer
	ca   *ca
	runs int // sequences run
	done int // steps run
}

// run replays steps on a fresh world; it returns the index of the failing step
// and why.
func (m *modelRun) run(seed uint64, steps []step) (int, error) {
	m.runs++
	w, err := newWorld(m.t, seed, m.rsa, m.ca)
	if err != nil {
		return -1, err
	}
	defer w.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range steps {
		steps[i].dep %= len(w.deps)
		s := steps[i]
		m.done++
		if err := w.apply(ctx, s); err != nil {
			return i, err
		}
	}
	return -1, nil
}

// shrink removes steps while the sequence still fails, within budget.
func (m *modelRun) shrink(seed uint64, steps []step, deadline time.Time) []step {
	for changed := true; changed && time.Now().Before(deadline); {
		changed = false
		for i := len(steps) - 1; i >= 0 && time.Now().Before(deadline); i-- {
			shorter := slices.Delete(slices.Clone(steps), i, i+1)
			if at, err := m.run(seed, shorter); err != nil {
				steps, changed = shorter[:at+1], true
				i = min(i, len(steps))
			}
		}
		// Then without the faults that are not needed.
		for i := range steps {
			if steps[i].fault < 0 || !time.Now().Before(deadline) {
				continue
			}
			simpler := slices.Clone(steps)
			simpler[i].fault = -1
			if at, err := m.run(seed, simpler); err != nil {
				steps, changed = simpler[:at+1], true
				break
			}
		}
	}
	return steps
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}

func TestModelRotation(t *testing.T) {
	budget := envDuration("KEYBRIDGE_MODEL_TIME", 3*time.Second)
	maxSteps := 14
	if n, err := strconv.Atoi(os.Getenv("KEYBRIDGE_MODEL_STEPS")); err == nil && n > 0 {
		maxSteps = n
	}
	seed := uint64(time.Now().UnixNano())
	fixed := false
	if s, err := strconv.ParseUint(os.Getenv("KEYBRIDGE_MODEL_SEED"), 10, 64); err == nil {
		seed, fixed = s, true
	}
	t.Logf("seed %d (replay: KEYBRIDGE_MODEL_SEED=%d)", seed, seed)
	m := &modelRun{t: t, rsa: []crypto.Signer{rsaKey(t, 2048), rsaKey(t, 2048)}, ca: newCA(t)}
	deadline := time.Now().Add(budget)
	for i := uint64(0); ; i++ {
		s := seed + i
		steps := randomSteps(rand.New(rand.NewPCG(s, 2)), maxSteps)
		at, err := m.run(s, steps)
		if err != nil {
			short := m.shrink(s, steps[:at+1], time.Now().Add(budget+20*time.Second))
			var b strings.Builder
			for j, st := range short {
				fmt.Fprintf(&b, "\n  %d. %s", j+1, st)
			}
			_, why := m.run(s, short)
			if why == nil {
				why = err
			}
			t.Fatalf("sequence seed %d fails at step %d: %v\nshortest failing sequence found (%d steps, replay with KEYBRIDGE_MODEL_SEED=%d):%s",
				s, at+1, why, len(short), s, b.String())
		}
		if fixed || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("%d sequences, %d steps, all invariants held", m.runs, m.done)
	if m.done == 0 {
		t.Fatal("no step ran")
	}
}
