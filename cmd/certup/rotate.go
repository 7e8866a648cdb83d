package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/keybridge/keybridge/awsiam"
	"github.com/keybridge/keybridge/internal/cmdutil"
	"github.com/keybridge/keybridge/internal/words"
	"github.com/keybridge/keybridge/keystore"
)

func exitCodesHelp(changed string) string {
	return "Exit codes: 0 done (whether or not anything changed), 11 partial failure (the table says which\n" +
		"listener; run the same command again, it continues where it stopped), 1 error (nothing changed),\n" +
		"2 usage. With --detailed-exitcode: 10 " + changed + " (with --dry-run: changes planned), 0 nothing to do."
}

// multiRegionFlags are awsFlags with a repeatable --region.
func multiRegionFlags() []cli.Flag {
	var out []cli.Flag
	for _, f := range awsFlags() {
		if f.Names()[0] == "region" {
			f = &cli.StringSliceFlag{Name: "region", Usage: "AWS `REGION`; repeatable, the regions run concurrently (default: AWS_REGION or the profile's)", Category: "AWS:"}
		}
		out = append(out, f)
	}
	return out
}

func listenerFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "elb", Usage: "classic ELB `NAME[:PORT]` (port 443 by default), looked for in every --region; repeatable"},
		&cli.StringSliceFlag{Name: "listener", Usage: "ALB/NLB listener `ARN`; repeatable"},
	}
}

func runFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no plan and no progress; print only when something changed or failed (for cron, which mails any output)"},
		&cli.IntFlag{Name: "parallel", Value: awsiam.DefaultParallel, Usage: "listener changes in flight at once, all regions together"},
		waitFlag(),
	}
}

func rotateCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:      "rotate",
			Usage:     "plan and carry out the move of every listener to the keystore's certificate, then prune old uploads",
			ArgsUsage: "KEYSTORE",
			Description: "Reads what AWS reports now and plans, per listener: skip (already serves the new certificate,\n" +
				"or with --renew-within its certificate is valid for longer), switch, or re-import in place (ACM\n" +
				"with --certificate-arn). Prints the plan; --dry-run stops there. Then uploads once (or finds the\n" +
				"upload, tagged with the lineage record of what each listener served), switches the listeners\n" +
				"--parallel at a time, waits out IAM propagation, reads them back, probes, and prunes certificates\n" +
				"uploaded for its lineage that no listener serves and no rollback within --keep generations needs.\n" +
				"Running it again after success changes nothing. A rollback holds: listeners the lineage's rollback\n" +
				"moved off the keystore's certificate stay where they are (nothing to do) until the keystore holds\n" +
				"another certificate, or --force.\n\n" + exitCodesHelp("rotated"),
			Flags: concat(targetFlags(), []cli.Flag{
				&cli.IntFlag{Name: "renew-within", Usage: "leave a listener alone while its certificate is valid for more than `DAYS` days (0: always rotate)"},
				&cli.BoolFlag{Name: "force", Usage: "rotate also to a certificate certup rollback moved the listeners off (which otherwise holds them where they are)"},
			}, keystoreFlags(), multiRegionFlags(), changeFlags()),
			Action: rotateAction,
		},
		{
			Name:      "rollback",
			Usage:     "put each listener back on exactly the certificate it served before the last rotate (kept by --keep)",
			ArgsUsage: " ",
			Description: "Undoes the newest rotation: the lineage record in the tags of the certificate a listener serves\n" +
				"names what that listener served before; the certificate it goes back to is marked restored first, so\n" +
				"running it again finishes a partial rollback and then has nothing to do (--further goes back more).\n" +
				"The certificate it leaves is marked rolled back from: rotate (and renew's push) to it holds the listeners\n" +
				"where the rollback put them, until another certificate comes or --force.\n" +
				"Where no target serves a certificate with a record (uploaded by an older certup), it falls back to the\n" +
				"upload before it of the same certup-derived name (IAM name, ACM Name tag); expired ones are not candidates.\n" +
				"Give the targets rotate was given: --replaces OLD also reaches the listeners it moved off OLD, SNI lists\n" +
				"included (OLD goes back on the list before the other certificate comes off).\n\n" +
				exitCodesHelp("rolled back"),
			Flags: concat(listenerFlags(), []cli.Flag{
				lineageFlag("follow lineage `NAME` where a certificate belongs to several"),
				&cli.BoolFlag{Name: "further", Usage: "after a completed rollback, go back one more generation (as far as --keep kept)"},
				&cli.StringSliceFlag{Name: "replaces", Usage: "also roll back every listener of the regions (default or SNI certificate) that rotate --replaces moved off this `OLD` certificate (IAM NAME or ARN, ACM ARN); repeatable"},
			}, runFlags(), multiRegionFlags(), changeFlags()),
			Action: rollbackAction,
		},
		{
			Name:      "prune",
			Usage:     "delete certificates certup uploaded that no listener uses and no rollback within --keep generations needs",
			ArgsUsage: " ",
			Description: "With --lineage: the certificates of that lineage alone, as rotate's prune does. Otherwise those named\n" +
				"as certup names them (<prefix>-<yyyymmdd>-<hash>; for ACM the Name tag), or anything under\n" +
				"--path-prefix when it is not /, beyond the newest --keep unused ones of each name group. Never what\n" +
				"a lineage record of a served certificate names within --keep generations, never under /cloudfront/,\n" +
				"never one a rollback moved its lineage off while no newer one of the lineage serves (held: the next\n" +
				"rotate of that keystore would upload it again and undo the rollback).\n" +
				"Nothing is ever detached: a certificate AWS reports in use (DeleteConflict) is left and listed.\n\n" +
				exitCodesHelp("deleted"),
			Flags: concat([]cli.Flag{
				&cli.IntFlag{Name: "keep", Value: awsiam.DefaultKeep, Usage: "generations kept for rollback (and, by name group, the newest unused uploads)"},
				lineageFlag("only the certificates of lineage `NAME` (and of no other)"),
				&cli.StringFlag{Name: "name-prefix", Usage: "only the name group `P` (names P-<yyyymmdd>-<hash>)"},
				&cli.StringFlag{Name: "path-prefix", Usage: "only IAM certificates under `P`; other than /, everything there counts as certup's"},
				&cli.BoolFlag{Name: "acm", Usage: "prune the regions' ACM certificates instead of IAM's"},
			}, multiRegionFlags(), changeFlags()),
			Action: pruneAction,
		},
	}
}

// regions is what rotate, rollback and prune need: one Service per region and a
// context that ends on SIGINT/SIGTERM.
type regions struct {
	ctx   context.Context
	stop  context.CancelFunc
	svcs  []*awsiam.Service
	out   io.Writer
	err   io.Writer
	json  bool
	quiet bool
	// detailed: --detailed-exitcode, exit 10 when something changed.
	detailed bool
	// heldHint is the advice when a rollback holds listeners (printHeld).
	heldHint string
}

func newRegions(c *cli.Context, dryRun bool) (*regions, error) {
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	errw := errWriter(c)
	log := commandLogger(errw, c.Bool("debug"))
	names := c.StringSlice("region")
	if len(names) == 0 {
		names = []string{""}
	}
	r := &regions{ctx: ctx, stop: stop, out: outWriter(c), err: errw, json: c.Bool("json"), quiet: c.Bool("quiet"),
		detailed: c.Bool("detailed-exitcode")}
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			continue
		}
		seen[name] = true
		cfg, err := loadAWSConfig(ctx, c, name, log)
		if err != nil {
			stop()
			return nil, err
		}
		r.svcs = append(r.svcs, awsiam.New(awsiam.NewClients(cfg), awsiam.Options{Logger: log, DryRun: dryRun, Region: cfg.Region}))
	}
	return r, nil
}

// progress prints one line per listener event on stderr (none with --quiet).
func (r *regions) progress(e awsiam.Event) {
	if !r.quiet {
		printProgress(r.err, e)
	}
}

// printProgress is how every certup command shows a listener being switched or
// waited for: "certup: REGION LISTENER: STATE[: DETAIL]".
func printProgress(w io.Writer, e awsiam.Event) {
	line := listenerName(e.Listener) + ": " + string(e.State)
	if e.Region != "" {
		line = e.Region + " " + line
	}
	if e.Detail != "" {
		line += ": " + e.Detail
	}
	fmt.Fprintln(w, "certup: "+line)
}

// parseListeners parses the --elb and --listener flags; sni marks the ALB/NLB
// listeners' certificate as an additional (SNI) one.
func parseListeners(c *cli.Context, sni bool) ([]awsiam.Listener, error) {
	return parseListenersPort(c, sni, awsiam.DefaultELBPort)
}

// parseListenersPort is parseListeners with elbPort the port of an --elb NAME
// given without one.
func parseListenersPort(c *cli.Context, sni bool, elbPort int32) ([]awsiam.Listener, error) {
	var ls []awsiam.Listener
	for _, e := range c.StringSlice("elb") {
		l, err := awsiam.ParseELBPort(e, elbPort)
		if err != nil {
			return nil, cmdutil.UsageError("--elb: %v", err)
		}
		ls = append(ls, l)
	}
	for _, a := range c.StringSlice("listener") {
		l, err := awsiam.ParseListenerARN(a, sni)
		if err != nil {
			return nil, cmdutil.UsageError("--listener: %v", err)
		}
		ls = append(ls, l)
	}
	return ls, nil
}

func rotateAction(c *cli.Context) error {
	o, err := rotateOptions(c)
	if err != nil {
		return err
	}
	if len(o.Listeners) == 0 && len(o.Replaces) == 0 {
		return cmdutil.UsageError("give --elb NAME[:PORT], --listener ARN or --replaces OLD_CERTIFICATE")
	}
	if c.Int("renew-within") < 0 {
		return cmdutil.UsageError("--renew-within must not be negative")
	}
	o.RenewWithin = time.Duration(c.Int("renew-within")) * 24 * time.Hour
	o.Force = c.Bool("force")
	kp, err := loadKeyPair(c)
	if err != nil {
		return err
	}
	rs, err := newRegions(c, c.Bool("dry-run"))
	if err != nil {
		return err
	}
	defer rs.stop()
	rs.heldHint = "the listeners stay until the keystore holds a newer certificate; to put them on this one anyway, run the same command with --force"
	plan, err := rs.planRotation(kp, o)
	if err != nil {
		return err
	}
	return rs.run(plan, "rotated")
}

// targetFlags are the flags that say where a certificate goes and how the
// listeners are switched: rotate's, and renew's for pushing what it renewed.
func targetFlags() []cli.Flag {
	return concat(uploadFlags(), listenerFlags(), []cli.Flag{
		&cli.StringSliceFlag{Name: "replaces", Usage: "also rotate every listener of the regions that serves this old certificate (IAM `NAME` or ARN, ACM ARN); repeatable"},
		&cli.IntFlag{Name: "keep", Value: awsiam.DefaultKeep, Usage: "generations of the lineage kept for rollback; older unused uploads of the lineage are deleted"},
		&cli.BoolFlag{Name: "no-prune", Usage: "delete nothing"},
		&cli.StringSliceFlag{Name: "probe", Usage: "after the switch, TLS-connect to `HOST:PORT` until it presents the new certificate; repeatable"},
		&cli.DurationFlag{Name: "probe-wait", Value: awsiam.DefaultProbeWait, Usage: "how long --probe retries"},
	}, runFlags())
}

// rotateOptions turns targetFlags into the options of a rotation (no
// Progress yet: planRotation adds it). No listener and no --replaces is not an
// error here: renew rotates only when targets are given.
func rotateOptions(c *cli.Context) (awsiam.RotateOptions, error) {
	uo, err := uploadOptions(c)
	if err != nil {
		return awsiam.RotateOptions{}, err
	}
	listeners, err := parseListeners(c, false)
	if err != nil {
		return awsiam.RotateOptions{}, err
	}
	if c.Int("parallel") < 1 || c.Int("keep") < 0 {
		return awsiam.RotateOptions{}, cmdutil.UsageError("--keep must not be negative, --parallel at least 1")
	}
	for _, p := range c.StringSlice("probe") {
		if _, port, err := splitHostPort(p); err != nil || port == "" {
			return awsiam.RotateOptions{}, cmdutil.UsageError("--probe %q: want HOST:PORT", p)
		}
	}
	keep := c.Int("keep")
	if keep == 0 {
		keep = -1 // none
	}
	return awsiam.RotateOptions{
		Upload:    uo,
		Listeners: listeners,
		Replaces:  c.StringSlice("replaces"),
		Keep:      keep,
		NoPrune:   c.Bool("no-prune"),
		Parallel:  c.Int("parallel"),
		Wait:      c.Duration("wait"),
		Probes:    c.StringSlice("probe"),
		ProbeWait: c.Duration("probe-wait"),
		Lineage:   uo.Lineage,
	}, nil
}

// planRotation plans the move of o's targets to kp, progress shown as rotate
// shows it.
func (rs *regions) planRotation(kp *keystore.KeyPair, o awsiam.RotateOptions) (*awsiam.Rotation, error) {
	o.Progress = rs.progress
	plan, err := awsiam.PlanRotation(rs.ctx, rs.svcs, kp, o)
	if err != nil {
		return nil, withHint(err)
	}
	return plan, nil
}

func rollbackAction(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	listeners, err := parseListeners(c, false)
	if err != nil {
		return err
	}
	if len(listeners) == 0 && len(c.StringSlice("replaces")) == 0 {
		return cmdutil.UsageError("give --elb NAME[:PORT], --listener ARN or --replaces OLD_CERTIFICATE (as rotate was given)")
	}
	if c.Int("parallel") < 1 {
		return cmdutil.UsageError("--parallel must be at least 1")
	}
	rs, err := newRegions(c, c.Bool("dry-run"))
	if err != nil {
		return err
	}
	defer rs.stop()
	plan, err := awsiam.PlanRollback(rs.ctx, rs.svcs, awsiam.RollbackOptions{Listeners: listeners, Replaces: c.StringSlice("replaces"), Lineage: c.String("lineage"), Further: c.Bool("further"),
		Parallel: c.Int("parallel"), Wait: c.Duration("wait"), Progress: rs.progress})
	if err != nil {
		return withHint(err)
	}
	return rs.run(plan, "rolled back")
}

// run prints the plan, applies it unless this is a dry run, prints the result
// and turns the outcome into the exit code.
func (rs *regions) run(plan *awsiam.Rotation, verb string) error {
	if err := rs.apply(plan, verb, nil); err != nil {
		return err
	}
	return outcomeError(plan.Outcome, rs.detailed, plan.Errors, plan.Listeners)
}

// apply prints the plan, applies it unless this is a dry run and prints the
// result; with --json it prints wrap(plan) (the plan when wrap is nil). The
// outcome is left to the caller.
func (rs *regions) apply(plan *awsiam.Rotation, verb string, wrap func(*awsiam.Rotation) any) error {
	if !rs.json && !rs.quiet {
		printPlan(rs.out, plan)
	}
	if !plan.DryRun {
		// Also with nothing to switch: probe, and prune what an earlier run left.
		if err := plan.Apply(rs.ctx); err != nil {
			return err
		}
		pruned := plan.Prune != nil && plan.Prune.Deleted+plan.Prune.Failed+plan.Prune.Conflicts > 0
		if !rs.json && (plan.Outcome != awsiam.OutcomeUnchanged || pruned || len(plan.Probes) > 0) {
			fmt.Fprintln(rs.out)
			printResult(rs.out, plan)
		}
	}
	if rs.json {
		var v any = plan
		if wrap != nil {
			v = wrap(plan)
		}
		return cmdutil.PrintJSON(rs.out, v)
	}
	if !rs.quiet || plan.Outcome != awsiam.OutcomeUnchanged {
		printOutcome(rs.out, plan, verb)
	}
	if !rs.quiet {
		printHeld(rs.err, plan, rs.heldHint)
	}
	return nil
}

// printHeld says, in one line and a hint each, why listeners a rollback holds
// or a longer-lived certificate keeps (renew's push) were not moved (nothing
// when none was).
func printHeld(w io.Writer, plan *awsiam.Rotation, hint string) {
	for _, kind := range []struct {
		is   func(*awsiam.ListenerPlan) bool
		hint string
	}{
		{func(p *awsiam.ListenerPlan) bool { return p.Held }, hint},
		{func(p *awsiam.ListenerPlan) bool { return p.Kept }, "an unattended renewal never puts an older certificate in place of a newer one; to replace it all the same, run the same command with --force"},
	} {
		n, why := 0, ""
		for _, p := range plan.Listeners {
			if kind.is(p) {
				n, why = n+1, p.Reason
			}
		}
		if n == 0 {
			continue
		}
		fmt.Fprintf(w, "certup: %s %s (lineage %s)\n", words.Count(n, "listener", "listeners"), why, plan.Lineage)
		fmt.Fprintln(w, "certup: hint: "+kind.hint)
	}
}

// outcomeError turns the outcome of rotate, rollback or prune into the error that
// ends the program with its exit code (see outcomeCode).
func outcomeError(outcome awsiam.Outcome, detailed bool, errs []string, ls []*awsiam.ListenerPlan) error {
	var first string
	failed := 0
	for _, p := range ls {
		if p.State == awsiam.StateFailed {
			failed++
			if first == "" {
				first = p.Error
			}
		}
	}
	if len(errs) > 0 && first == "" {
		first = errs[0]
	}
	switch code := outcomeCode(outcome, detailed); code {
	case cmdutil.ExitOK:
		return nil
	case exitChanged:
		return cmdutil.Silent(exitChanged)
	case exitPartial:
		msg := fmt.Sprintf("partial: %s failed, %s; first: %s", words.Count(failed, "listener", "listeners"),
			words.Count(len(errs), "other error", "other errors"), first)
		return cmdutil.WithExitCode(cmdutil.Hint(errors.New(msg),
			"every listener serves its old or its new certificate; run the same command again to finish"), exitPartial)
	}
	if first == "" {
		first = "failed"
	}
	return withHint(errors.New(first))
}

func printPlan(w io.Writer, r *awsiam.Rotation) {
	title := "plan"
	if r.DryRun {
		title = "plan (dry run)"
	}
	if r.Kind == "rotate" {
		fmt.Fprintf(w, "%s: %s, subject %s, valid until %s, sha256 %s, lineage %s\n", title, r.Kind, r.Subject,
			r.NotAfter.Format(time.DateOnly), r.Fingerprint[:16], r.Lineage)
		for _, up := range r.Uploads {
			where := "IAM"
			if up.Region != "" {
				where = "ACM " + up.Region
			}
			switch {
			case up.Reimport && up.Needed:
				fmt.Fprintf(w, "%s: re-import into %s (the ARN stays; listeners need no switch)\n", where, up.ARN)
			case up.Needed:
				fmt.Fprintf(w, "%s: upload the new certificate\n", where)
			case up.ARN != "":
				fmt.Fprintf(w, "%s: already uploaded as %s\n", where, certName(up.ARN))
			default:
				fmt.Fprintf(w, "%s: not uploaded (no listener needs it)\n", where)
			}
		}
	} else {
		fmt.Fprintf(w, "%s: %s\n", title, r.Kind)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REGION\tLISTENER\tSERVES\tACTION\tREASON")
	for _, p := range r.Listeners {
		reason := p.Reason
		if p.Error != "" {
			reason = "error: " + p.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", dash(p.Region), listenerName(p.Listener), certName(p.Current), p.Action, reason)
	}
	_ = tw.Flush()
	if r.DryRun {
		printCalls(w, r.Calls)
	}
}

func printResult(w io.Writer, r *awsiam.Rotation) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REGION\tLISTENER\tBEFORE\tNOW SERVES\tSTATE\tNOTE")
	for _, p := range r.Listeners {
		now := p.Current
		if p.State == awsiam.StateConfirmed || p.State == awsiam.StateSwitched {
			now = p.Target
		}
		note := p.Error
		if note == "" && p.Attempts > 1 {
			note = attempts(p.Attempts) + " (propagation)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", dash(p.Region), listenerName(p.Listener), certName(p.Current), certName(now), p.State, note)
	}
	_ = tw.Flush()
	for _, pr := range r.Probes {
		if pr.Matched {
			fmt.Fprintf(w, "probe %s: serves the new certificate (%s)\n", pr.Addr, attempts(pr.Attempts))
		} else {
			fmt.Fprintf(w, "probe %s: FAILED after %s: %s\n", pr.Addr, attempts(pr.Attempts), pr.Error)
		}
	}
	if r.Prune != nil && r.Prune.Deleted+r.Prune.Conflicts+r.Prune.Failed > 0 {
		printPrune(w, r.Prune, true)
	}
}

func printOutcome(w io.Writer, r *awsiam.Rotation, verb string) {
	n := 0
	for _, p := range r.Listeners {
		if p.Action != awsiam.ActionSkip {
			n++
		}
	}
	switch r.Outcome {
	case awsiam.OutcomeUnchanged:
		fmt.Fprintln(w, "nothing to do")
	case awsiam.OutcomeChanged:
		if r.DryRun {
			fmt.Fprintf(w, "dry run: %s would change; nothing was changed\n", words.Count(n, "listener", "listeners"))
		} else {
			fmt.Fprintf(w, "%s: %s\n", verb, words.Count(n, "listener", "listeners"))
		}
	case awsiam.OutcomePartial:
		fmt.Fprintln(w, "partial failure: run the same command again to finish")
	default:
		fmt.Fprintln(w, "failed: nothing was changed")
	}
}

func pruneAction(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	keep := c.Int("keep")
	switch {
	case keep < 0:
		return cmdutil.UsageError("--keep must not be negative")
	case keep == 0:
		keep = -1
	}
	o := awsiam.PruneOptions{Keep: keep, NamePrefix: c.String("name-prefix"), PathPrefix: c.String("path-prefix"), Lineage: c.String("lineage")}
	if o.Lineage != "" {
		if err := awsiam.ValidLineage(o.Lineage); err != nil {
			return cmdutil.UsageError("--%v", err)
		}
		if o.NamePrefix != "" || o.PathPrefix != "" {
			return cmdutil.UsageError("give --lineage, or --name-prefix/--path-prefix, not both")
		}
	}
	if c.Bool("acm") {
		o.Target = awsiam.TargetACM
		if o.PathPrefix != "" {
			return cmdutil.UsageError("--path-prefix is for IAM")
		}
	}
	if p := o.PathPrefix; p != "" && (!strings.HasPrefix(p, "/") || !strings.HasSuffix(p, "/")) {
		return cmdutil.UsageError("--path-prefix %q must begin and end with /", p)
	}
	rs, err := newRegions(c, c.Bool("dry-run"))
	if err != nil {
		return err
	}
	defer rs.stop()
	res, err := awsiam.Prune(rs.ctx, rs.svcs, o)
	if res == nil {
		return withHint(err)
	}
	if rs.json {
		if perr := cmdutil.PrintJSON(rs.out, res); perr != nil {
			return perr
		}
	} else {
		printPrune(rs.out, res, false)
		printCalls(rs.out, res.Calls)
	}
	var errs []string
	if err != nil {
		errs = append(errs, err.Error())
	}
	for _, e := range res.Certificates {
		if e.Action == awsiam.PruneFailed {
			errs = append(errs, e.ARN+": "+e.Error)
		}
	}
	return outcomeError(res.Outcome, rs.detailed, errs, nil)
}

func printPrune(w io.Writer, res *awsiam.PruneResult, short bool) {
	if len(res.Certificates) == 0 {
		if !short {
			fmt.Fprintln(w, "no certificate certup uploaded")
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CERTIFICATE\tREGION\tUPLOADED\tEXPIRES\tPRUNE\tNOTE")
	for _, e := range res.Certificates {
		up := "-"
		if !e.Uploaded.IsZero() {
			up = e.Uploaded.UTC().Format(time.DateOnly)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", certName(e.ARN), dash(e.Region), up, e.NotAfter.UTC().Format(time.DateOnly), e.Action, e.Error)
	}
	_ = tw.Flush()
}

// listenerName is "web:443" for a classic listener, the resource part of an
// ALB/NLB listener ARN ("app/alb/…/…") otherwise.
func listenerName(l awsiam.Listener) string {
	if l.ELB != "" {
		return fmt.Sprintf("%s:%d", l.ELB, l.Port)
	}
	name := l.ARN
	if i := strings.Index(l.ARN, ":listener/"); i >= 0 {
		name = l.ARN[i+len(":listener/"):]
	}
	if l.SNI {
		name += " (SNI)"
	}
	return name
}

// certName is an IAM certificate's name, or "acm:<id>".
func certName(arn string) string {
	switch {
	case arn == "":
		return "-"
	case strings.Contains(arn, ":server-certificate/"):
		return arn[strings.LastIndex(arn, "/")+1:]
	case strings.Contains(arn, ":certificate/"):
		return "acm:" + arn[strings.LastIndex(arn, "/")+1:]
	}
	return arn
}

func attempts(n int) string { return words.Count(n, "attempt", "attempts") }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func splitHostPort(s string) (string, string, error) {
	i := strings.LastIndex(s, ":")
	if i <= 0 {
		return "", "", errors.New("no port")
	}
	return s[:i], s[i+1:], nil
}
