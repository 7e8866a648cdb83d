package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/urfave/cli/v2"

	"github.com/keybridge/keybridge/awsiam"
	"github.com/keybridge/keybridge/internal/cmdutil"
	"github.com/keybridge/keybridge/internal/words"
	"github.com/keybridge/keybridge/keystore"
)

// session is what every command needs: a context that ends on SIGINT/SIGTERM and
// an awsiam.Service for the chosen region.
type session struct {
	ctx  context.Context
	stop context.CancelFunc
	svc  *awsiam.Service
	out  io.Writer
	err  io.Writer
	json bool
}

// progress prints a listener's progress on stderr as rotate does.
func (s *session) progress(e awsiam.Event) { printProgress(s.err, e) }

// newSession makes the session of a command; arns are the ARNs the command
// was given: an ACM certificate or ALB/NLB listener lives in the region its ARN
// names, so that region is used (not --region).
func newSession(c *cli.Context, dryRun bool, arns ...string) (*session, error) {
	region, err := regionOfARNs(c.String("region"), arns...)
	if err != nil {
		return nil, err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	log := commandLogger(errWriter(c), c.Bool("debug"))
	cfg, err := loadAWSConfig(ctx, c, region, log)
	if err != nil {
		stop()
		return nil, err
	}
	return &session{
		ctx:  ctx,
		stop: stop,
		svc:  awsiam.New(awsiam.NewClients(cfg), awsiam.Options{Logger: log, DryRun: dryRun, Region: cfg.Region}),
		out:  outWriter(c),
		err:  errWriter(c),
		json: c.Bool("json"),
	}, nil
}

// regionOfARNs is the region of the regional ARNs among arns (ACM
// certificates, ALB/NLB listeners), or flag when they name none; ARNs of two
// regions are a usage error, as one command runs in one region.
func regionOfARNs(flag string, arns ...string) (string, error) {
	region := ""
	for _, a := range arns {
		r := awsiam.RegionOf(a)
		switch {
		case r == "":
		case region == "":
			region = r
		case r != region:
			return "", cmdutil.UsageError("%s is in region %s, %s in %s: give resources of one region", a, r, arns[0], region)
		}
	}
	if region == "" {
		return flag, nil
	}
	return region, nil
}

// outWriter is where a command prints its result: the app's Writer, or stdout.
func outWriter(c *cli.Context) io.Writer {
	if c.App.Writer == nil {
		return os.Stdout
	}
	return c.App.Writer
}

// errWriter is where a command logs: the app's ErrWriter, or stderr.
func errWriter(c *cli.Context) io.Writer {
	if c.App.ErrWriter == nil {
		return os.Stderr
	}
	return c.App.ErrWriter
}

// commandLogger shows warnings as "certup: warning: …" lines by default (the
// progress of a switch has its own lines), every AWS call with --debug.
func commandLogger(w io.Writer, debug bool) *slog.Logger {
	if !debug {
		return cmdutil.WarningLogger(w, "certup")
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// loadAWSConfig loads the AWS configuration for region ("" = the default) from
// the AWS flags.
func loadAWSConfig(ctx context.Context, c *cli.Context, region string, log *slog.Logger) (aws.Config, error) {
	cfg, err := awsiam.LoadAWSConfig(ctx, awsiam.Config{
		Region:      region,
		Profile:     c.String("profile"),
		EndpointURL: c.String("endpoint-url"),
		MaxAttempts: c.Int("max-attempts"),
		MaxBackoff:  c.Duration("max-backoff"),
		Logger:      log,
	})
	switch {
	case errors.Is(err, awsiam.ErrNoRegion):
		return cfg, cmdutil.Hint(err, "pass --region REGION (or set AWS_REGION), and --profile NAME if you use named profiles")
	case err != nil:
		return cfg, cmdutil.Hint(err, "check --profile NAME (or AWS_PROFILE) against ~/.aws/config")
	}
	return cfg, nil
}

// loadKeyPair reads the KEYSTORE argument with the password flags.
func loadKeyPair(c *cli.Context) (*keystore.KeyPair, error) {
	switch {
	case c.NArg() == 0:
		return nil, cmdutil.UsageError("missing KEYSTORE argument")
	case c.NArg() > 1:
		return nil, cmdutil.UsageError("unexpected argument %q after KEYSTORE", c.Args().Get(1))
	}
	// A file that is not a keystore is said to be one before anyone is asked for a
	// password.
	storePass, err := cmdutil.StorePasswordFor(c, c.Args().First())
	if err != nil {
		return nil, err
	}
	defer clear(storePass)
	keyPass, err := cmdutil.KeyPassword(c)
	if err != nil {
		return nil, err
	}
	defer clear(keyPass)
	kp, err := keystore.LoadKeyPair(c.Args().First(), c.String("alias"), storePass, keyPass)
	if err != nil {
		return nil, cmdutil.KeyPasswordHint(err, "certup", keyPass != nil)
	}
	return kp, nil
}

func uploadOptions(c *cli.Context) (awsiam.UploadOptions, error) {
	o := awsiam.UploadOptions{
		Name:            c.String("name"),
		NamePrefix:      c.String("name-prefix"),
		Path:            c.String("path"),
		CertificateARN:  c.String("certificate-arn"),
		ValidateOptions: awsiam.ValidateOptions{AllowExpired: c.Bool("allow-expired")},
		Lineage:         c.String("lineage"),
	}
	if o.Lineage != "" {
		if err := awsiam.ValidLineage(o.Lineage); err != nil {
			return o, cmdutil.UsageError("--%v", err)
		}
	}
	if c.Bool("acm") {
		o.Target = awsiam.TargetACM
		if o.Name != "" || o.Path != "" {
			return o, cmdutil.UsageError("--name and --path are for IAM; with --acm use --tag Name=…")
		}
	} else if o.CertificateARN != "" {
		return o, cmdutil.UsageError("--certificate-arn needs --acm")
	}
	if o.Name != "" && o.NamePrefix != "" {
		return o, cmdutil.UsageError("give --name or --name-prefix, not both")
	}
	for _, s := range c.StringSlice("tag") {
		t, err := awsiam.ParseTag(s)
		if err != nil {
			return o, cmdutil.UsageError("--%v", err)
		}
		o.Tags = append(o.Tags, t)
	}
	return o, nil
}

func uploadAction(c *cli.Context) error {
	o, err := uploadOptions(c)
	if err != nil {
		return err
	}
	kp, err := loadKeyPair(c)
	if err != nil {
		return err
	}
	s, err := newSession(c, c.Bool("dry-run"))
	if err != nil {
		return err
	}
	defer s.stop()
	res, err := s.svc.Upload(s.ctx, kp, o)
	if err != nil {
		return withHint(err)
	}
	if s.json {
		if err := cmdutil.PrintJSON(s.out, struct {
			*awsiam.UploadResult
			Planned []awsiam.Call `json:"planned,omitempty"`
		}{res, s.svc.Planned()}); err != nil {
			return err
		}
	} else {
		printPlanned(s)
		if !res.DryRun {
			fmt.Fprintln(s.out, res.ARN)
		}
	}
	return doneError(c, uploadChanged(res))
}

// uploadChanged: the upload was made (or in a dry run would be).
func uploadChanged(r *awsiam.UploadResult) bool { return r.DryRun || r.Uploaded || r.Reimported }

// noArgs is the usage error of a command that takes no arguments.
func noArgs(c *cli.Context) error {
	if c.NArg() > 0 {
		return cmdutil.UsageError("unexpected argument %q", c.Args().First())
	}
	return nil
}

func oneListener(c *cli.Context, required bool) (*awsiam.Listener, error) {
	elbArg, lnArg := c.String("elb"), c.String("listener")
	switch {
	case elbArg != "" && lnArg != "":
		return nil, cmdutil.UsageError("give --elb or --listener, not both")
	case elbArg != "":
		if c.Bool("sni") {
			return nil, cmdutil.UsageError("--sni is for ALB/NLB listeners; a classic ELB listener has one certificate")
		}
		l, err := awsiam.ParseELB(elbArg)
		if err != nil {
			return nil, cmdutil.UsageError("--elb: %v", err)
		}
		return &l, nil
	case lnArg != "":
		l, err := awsiam.ParseListenerARN(lnArg, c.Bool("sni"))
		if err != nil {
			return nil, cmdutil.UsageError("--listener: %v", err)
		}
		return &l, nil
	case required:
		return nil, cmdutil.UsageError("give --elb NAME[:PORT] or --listener ARN")
	}
	return nil, nil
}

func attachAction(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	l, err := oneListener(c, true)
	if err != nil {
		return err
	}
	s, err := newSession(c, c.Bool("dry-run"), c.String("cert"), l.ARN)
	if err != nil {
		return err
	}
	defer s.stop()
	res, err := s.svc.AttachCertificate(s.ctx, c.String("cert"), *l, awsiam.AttachOptions{Wait: c.Duration("wait"), Progress: s.progress})
	if err != nil {
		return withHint(err)
	}
	if s.json {
		if err := cmdutil.PrintJSON(s.out, struct {
			*awsiam.AttachResult
			Planned []awsiam.Call `json:"planned,omitempty"`
		}{res, s.svc.Planned()}); err != nil {
			return err
		}
	} else {
		printPlanned(s)
		printAttach(s.out, res)
	}
	return doneError(c, res.DryRun || res.Changed)
}

func printAttach(w io.Writer, r *awsiam.AttachResult) {
	switch {
	case r.DryRun:
	case r.Changed:
		fmt.Fprintf(w, "%s now serves %s\n", r.Listener, r.CertificateARN)
	default:
		fmt.Fprintf(w, "%s already serves %s\n", r.Listener, r.CertificateARN)
	}
}

func deployAction(c *cli.Context) error {
	o, err := uploadOptions(c)
	if err != nil {
		return err
	}
	listeners, err := parseListeners(c, c.Bool("sni"))
	if err != nil {
		return err
	}
	if len(listeners) == 0 {
		return cmdutil.UsageError("give at least one --elb NAME[:PORT] or --listener ARN (use upload to upload only)")
	}
	kp, err := loadKeyPair(c)
	if err != nil {
		return err
	}
	s, err := newSession(c, c.Bool("dry-run"))
	if err != nil {
		return err
	}
	defer s.stop()
	res, err := s.svc.Deploy(s.ctx, kp, awsiam.DeployOptions{
		Upload:           o,
		Listeners:        listeners,
		Attach:           awsiam.AttachOptions{Wait: c.Duration("wait"), Progress: s.progress},
		StickinessCookie: c.String("stickiness-cookie"),
	})
	changed := deployChanged(res)
	if err != nil {
		if !changed {
			return withHint(err)
		}
		// What was done stays done; the same command finds the upload and goes on.
		if !s.json {
			printDeploy(s.out, res)
		}
		return cmdutil.WithExitCode(partialHint(withHint(err)), exitPartial)
	}
	if s.json {
		if err := cmdutil.PrintJSON(s.out, struct {
			*awsiam.DeployResult
			Planned []awsiam.Call `json:"planned,omitempty"`
		}{res, s.svc.Planned()}); err != nil {
			return err
		}
	} else {
		printPlanned(s)
		printDeploy(s.out, res)
	}
	return doneError(c, changed)
}

// deployChanged: deploy changed something (or in a dry run would have).
func deployChanged(r *awsiam.DeployResult) bool {
	if r == nil {
		return false
	}
	changed := r.Upload != nil && uploadChanged(r.Upload)
	for _, a := range r.Attached {
		changed = changed || a.Changed || a.DryRun
	}
	return changed || stickinessChanged(r.Stickiness)
}

// partialHint keeps err's own advice and adds that running again finishes the job
// (the propagation advice says so already).
func partialHint(err error) error {
	const again = "what is done stays done: run the same command again to finish"
	switch h := cmdutil.HintOf(err); {
	case errors.Is(err, awsiam.ErrPropagation):
		return err
	case h != "":
		return cmdutil.Hint(err, h+"; "+again)
	}
	return cmdutil.Hint(err, again)
}

func printDeploy(w io.Writer, res *awsiam.DeployResult) {
	if up := res.Upload; up != nil && !up.DryRun {
		verb := "uploaded"
		switch {
		case up.Reimported:
			verb = "re-imported"
		case !up.Uploaded:
			verb = "already uploaded"
		}
		fmt.Fprintf(w, "%s %s\n", verb, up.ARN)
	}
	for _, a := range res.Attached {
		printAttach(w, a)
	}
	printStickiness(w, res.Stickiness)
}

func listAction(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	s, err := newSession(c, false)
	if err != nil {
		return err
	}
	defer s.stop()
	certs, err := s.svc.List(s.ctx, awsiam.ListOptions{ACM: c.Bool("acm"), PathPrefix: c.String("path-prefix")})
	if err != nil {
		return withHint(err)
	}
	if s.json {
		if certs == nil {
			certs = []awsiam.CertificateInfo{}
		}
		return cmdutil.PrintJSON(s.out, certs)
	}
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CERTIFICATE\tEXPIRES\tLEFT\tUSED BY")
	now := time.Now()
	for _, cert := range certs {
		name := cert.Name
		if name == "" {
			name = cert.ARN
			if cert.Domain != "" {
				name += " (" + cert.Domain + ")"
			}
		}
		var used []string
		for _, u := range cert.UsedBy {
			used = append(used, u.String())
		}
		if len(used) == 0 {
			used = []string{"-"}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, cert.NotAfter.UTC().Format(time.DateOnly), words.Left(now, cert.NotAfter), strings.Join(used, ", "))
	}
	return tw.Flush()
}

func checkAction(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	ref := c.String("cert")
	l, err := oneListener(c, ref == "")
	if err != nil {
		return err
	}
	if ref != "" && l != nil {
		return cmdutil.UsageError("give one of --cert, --elb or --listener")
	}
	if c.Int("days") < 0 {
		return cmdutil.UsageError("--days must not be negative")
	}
	var arns []string
	if l != nil {
		arns = append(arns, l.ARN)
	}
	s, err := newSession(c, false, append(arns, ref)...)
	if err != nil {
		return err
	}
	defer s.stop()
	res, err := s.svc.Check(s.ctx, ref, l, c.Int("days"))
	if err != nil {
		return withHint(err)
	}
	if s.json {
		if err := cmdutil.PrintJSON(s.out, res); err != nil {
			return err
		}
		if !res.OK {
			return cmdutil.Silent(cmdutil.ExitError)
		}
		return nil
	}
	if !res.OK {
		return cmdutil.WithExitCode(errors.New(res.Reason), cmdutil.ExitError)
	}
	fmt.Fprintln(s.out, res.Reason)
	return nil
}

func printPlanned(s *session) {
	printCalls(s.out, s.svc.Planned())
}

// printCalls prints the AWS calls a dry run would make.
func printCalls(w io.Writer, calls []awsiam.Call) {
	for _, call := range calls {
		fmt.Fprintf(w, "dry run: would call %s\n", call)
	}
}

// withHint attaches the advice that fixes an awsiam error.
func withHint(err error) error {
	var hint string
	switch {
	case errors.Is(err, awsiam.ErrPropagation):
		hint = "IAM propagation can take minutes: raise --wait and run the same command again; it continues where it stopped"
	case errors.Is(err, awsiam.ErrNameTaken):
		hint = "choose another --name or --name-prefix, or leave --name out to use the name derived from the certificate"
	case errors.Is(err, awsiam.ErrKeyMismatch):
		hint = cmdutil.KeyMismatchHint
	case errors.Is(err, awsiam.ErrExpired):
		hint = "renew the certificate first; --allow-expired uploads it anyway"
	case errors.Is(err, awsiam.ErrACMOnlyKey):
		hint = "ACM takes P-521 keys: add --acm"
	case errors.Is(err, awsiam.ErrUnsupportedKey):
		hint = "re-key with RSA 2048 (keytool -keyalg RSA -keysize 2048) or EC P-256"
	case errors.Is(err, awsiam.ErrChainOrder):
		hint = "import the CA reply with its full chain (keytool -importcert -trustcacerts) so the chain runs leaf, intermediates, root"
	case errors.Is(err, awsiam.ErrCertificateNotFound):
		hint = "see the certificates with: certup list (add --acm for ACM)"
	case errors.Is(err, awsiam.ErrListenerNotFound):
		hint = "check --elb NAME[:PORT] / --listener ARN and --region"
	case errors.Is(err, awsiam.ErrLineageAmbiguous):
		hint = "name the lineage to continue with --lineage NAME"
	case errors.Is(err, awsiam.ErrNoPredecessor):
		hint = "rotate's prune keeps --keep generations for rollback; rotate to the certificate you want instead"
	case errors.Is(err, awsiam.ErrTooManyTags):
		hint = "remove tags from the certificate (aws iam untag-server-certificate / aws acm remove-tags-from-certificate) or give fewer --tag"
	case errors.Is(err, awsiam.ErrInvalidName):
		hint = "use letters, digits and +=,.@_- only, at most 128 characters"
	case errors.Is(err, awsiam.ErrNotFQDN):
		hint = "nothing was changed; issue the certificate for the site's name (keytool -genkeypair -dname CN=app.example.com -ext SAN=dns:app.example.com, then have it signed), or serve this one from a classic ELB (--elb)"
	case errors.Is(err, awsiam.ErrReimport):
		hint = "nothing was changed; leave out --certificate-arn to import it as a new ACM certificate (then rotate listeners onto it), or re-key with the same key type and size and keep the key usages"
	case errors.Is(err, awsiam.ErrTooManyCertificates):
		hint = "nothing was changed; remove a certificate the load balancer no longer needs (aws elbv2 remove-listener-certificates), or ask AWS to raise the quota"
	case errors.Is(err, awsiam.ErrInvalidPath):
		hint = "give --path as /NAME/ with ASCII characters from ! to ~ and no spaces, e.g. --path /certup/ (or /cloudfront/ for CloudFront)"
	case errors.Is(err, awsiam.ErrNotForTarget):
		hint = "--name and --path are for IAM, --certificate-arn is for --acm; with --acm name the certificate with --tag Name=…"
	case errors.Is(err, awsiam.ErrWrongRegion):
		hint = "an ACM certificate and the listeners it serves are in the region of its ARN: pass that --region"
	case errors.Is(err, awsiam.ErrStickiness):
		hint = "application-cookie stickiness needs an HTTP or HTTPS listener (classic) or HTTP/HTTPS target groups (ALB); give --cookie NAME with no spaces, ';', ',', '=' or quotes"
	case strings.Contains(err.Error(), "credentials"):
		hint = "configure AWS credentials: --profile NAME, AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or an instance role"
	}
	if hint == "" {
		return err
	}
	return cmdutil.Hint(err, hint)
}
