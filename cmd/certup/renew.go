package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/keybridge/keybridge/awsiam"
	"github.com/keybridge/keybridge/internal/cmdutil"
	"github.com/keybridge/keybridge/keystore"
	"github.com/keybridge/keybridge/renew"
)

func renewCommand() *cli.Command {
	return &cli.Command{
		Name:      "renew",
		Usage:     "make a keystore alias hold a fresh certificate and key, from ACM or an ACME CA (DNS-01 in Route 53)",
		ArgsUsage: "KEYSTORE",
		Description: "Sources: --acm-certificate-arn (an exportable ACM certificate) or --acme-directory (an ACME CA;\n" +
			"the DNS-01 record goes to Route 53 with the same credentials as every other call).\n" +
			"The alias is written in place (JKS, JCEKS, PKCS#12): other entries, owner and mode kept,\n" +
			"atomic; nothing is written on any error or when the alias already holds the certificate.\n" +
			"With the target flags of rotate (--elb, --listener, --replaces, ...), the keystore's certificate then\n" +
			"goes onto those listeners exactly as certup rotate takes it there (lineage tags, so certup rollback\n" +
			"undoes it); this runs also when nothing was renewed, so a run after a failed push finishes it.\n\n" +
			"Exit codes: 0 done (renewed or not), 11 partial failure (renewed, but the push to the listeners\n" +
			"failed in part or whole: run the same command again), 1 error (the keystore untouched), 2 usage.\n" +
			"With --detailed-exitcode: 10 renewed or a listener switched (with --dry-run: would be), 0 nothing to do.",
		Flags: concat([]cli.Flag{
			&cli.StringFlag{Name: "alias", Usage: "the private-key entry to renew", Required: true},
			&cli.StringFlag{Name: "acm-certificate-arn", Usage: "source: export this ACM certificate `ARN` (requested with export enabled)", Category: "Source:"},
			&cli.StringFlag{Name: "acme-directory", Usage: "source: the ACME CA's directory `URL`", Category: "Source:"},
			&cli.StringFlag{Name: "acme-email", Usage: "ACME account contact `EMAIL`", Category: "ACME:"},
			&cli.StringFlag{Name: "acme-eab-kid", Usage: "external account binding key `ID` (CAs that require one)", Category: "ACME:"},
			&cli.StringFlag{Name: "acme-eab-hmac-file", Usage: "`FILE` holding the external account binding HMAC key", Category: "ACME:"},
			&cli.StringFlag{Name: "acme-ca-bundle", Usage: "PEM `FILE` of CAs to trust for the ACME server's HTTPS, besides the system's", Category: "ACME:"},
			&cli.StringFlag{Name: "acme-account-key", Usage: "account key `FILE` (made, 0600, when missing; default under the user's config directory)", Category: "ACME:"},
			&cli.StringSliceFlag{Name: "domain", Usage: "DNS `NAME` to request; repeatable (default: the names of the current certificate)", Category: "ACME:"},
			&cli.StringFlag{Name: "route53-zone-id", Usage: "hosted zone `ID` for the challenge records (default: the zone with the longest matching name)", Category: "ACME:"},
			&cli.StringSliceFlag{Name: "dns-resolver", Usage: "`HOST:PORT` that must answer the challenge record before the CA validates; repeatable (default: the system's)", Category: "ACME:"},
			&cli.DurationFlag{Name: "dns-timeout", Value: 2 * time.Minute, Usage: "how long to wait for Route 53 and the resolvers", Category: "ACME:"},
			&cli.BoolFlag{Name: "reuse-key", Usage: "keep the current private key (default: a new key per renewal)", Category: "ACME:"},
			&cli.StringFlag{Name: "key-type", Usage: "new key `TYPE`: rsa2048, rsa3072, rsa4096, ec256, ec384 (default: the current key's)", Category: "ACME:"},
			&cli.IntFlag{Name: "renew-within", Usage: "renew when fewer than `DAYS` remain, where the CA offers no renewal window (default: a third of the lifetime)"},
			&cli.DurationFlag{Name: "every", Value: renew.DefaultEvery, Usage: "how often this runs (the timer's period): where the CA's renewal window puts the renewal time before the next run, renew now"},
			&cli.BoolFlag{Name: "force", Usage: "renew whatever the dates say; push also where certup rollback holds the listeners or a certificate valid for longer serves them"},
			&cli.StringFlag{Name: "truststore", Usage: "also add the certificate and its issuers to this JKS, JCEKS or PKCS#12 truststore `FILE` (e.g. client-truststore.jks)"},
			&cli.StringFlag{Name: "truststore-pass-file", Usage: "`FILE` holding the truststore's password (default: the store password)"},
			&cli.StringFlag{Name: "truststore-pass-env", Usage: "environment `VAR` holding the truststore's password"},
			&cli.StringFlag{Name: "then", Usage: "run `CMD` (with sh -c) after the keystore changed, e.g. restart the server"},
			&cli.BoolFlag{Name: "dry-run", Usage: "decide and print, write nothing (ACME: no account registered or key made, no order placed; the listeners' plan is made for the keystore's current certificate)"},
			detailedExitFlag(),
		}, cmdutil.PasswordFlags(), targetFlags(), multiRegionFlags()),
		Action: renewAction,
	}
}

func renewAction(c *cli.Context) error {
	switch {
	case c.NArg() == 0:
		return cmdutil.UsageError("missing KEYSTORE argument")
	case c.NArg() > 1:
		return cmdutil.UsageError("unexpected argument %q after KEYSTORE", c.Args().Get(1))
	}
	cfg, err := renewConfig(c)
	if err != nil {
		return err
	}
	defer clear(cfg.Passwords.Store)
	defer clear(cfg.Passwords.Key)
	ro, err := rotateOptions(c)
	if err != nil {
		return err
	}
	push := len(ro.Listeners) > 0 || len(ro.Replaces) > 0
	// An unattended push never replaces a certificate that outlasts the
	// renewed one (a renewal elsewhere, one put there by hand). --force renews
	// whatever the dates say and pushes also where a rollback holds the
	// listeners or a longer-lived certificate serves.
	ro.NoDowngrade, ro.Force = true, cfg.Force
	// Everything about the keystore is checked before any CA or AWS call.
	if err := renew.Check(cfg); err != nil {
		return renewHint(err)
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := commandLogger(errWriter(c), c.Bool("debug"))
	region := ""
	if rs := c.StringSlice("region"); len(rs) > 0 {
		region = rs[0]
	}
	if r := awsiam.RegionOf(cfg.ACMCertificateARN); r != "" {
		region = r // an ACM certificate lives in the region its ARN names
	}
	if region == "" && cfg.ACME != nil && os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_PROFILE") == "" {
		// ACME needs only Route 53, which is global (its calls are signed for
		// us-east-1): no region to choose.
		region = "us-east-1"
	}
	awsCfg, err := loadAWSConfig(ctx, c, region, log)
	if err != nil {
		return err
	}
	var rs *regions
	if push {
		// The listeners' regions are loaded before the CA is asked, so that a
		// missing region or profile stops the run before anything changes.
		if rs, err = newRegions(c, cfg.DryRun); err != nil {
			return err
		}
		defer rs.stop()
		rs.heldHint = "the listeners stay until a renewal brings a newer certificate; run the same command with --force to renew now and push it"
	}
	res, err := renew.Run(ctx, cfg, renew.NewClients(awsCfg), log)
	if err != nil {
		return renewHint(err)
	}
	out, quiet := outWriter(c), c.Bool("quiet")
	switch {
	case c.Bool("json") && push: // one document, with the rotation's
	case c.Bool("json"):
		if err := cmdutil.PrintJSON(out, res); err != nil {
			return err
		}
	case !quiet || res.Action == renew.Renewed:
		printRenew(out, res)
	}
	renewed := res.Action == renew.Renewed || res.Action == renew.WouldRenew
	if cmd := c.String("then"); cmd != "" && res.Action == renew.Renewed {
		if err := runThen(c, cmd, res, push); err != nil {
			return err
		}
	}
	if !push {
		return doneError(c, renewed)
	}
	// The keystore as it is now (renewed or not) goes onto the listeners, as
	// certup rotate takes it there.
	kp, err := keystore.LoadKeyPair(cfg.Keystore, cfg.Alias, cfg.Passwords.Store, cfg.Passwords.KeyPass())
	if err != nil {
		return pushFailed(err, res.Action == renew.Renewed)
	}
	if !c.Bool("json") && !quiet {
		fmt.Fprintln(out)
	}
	plan, err := rs.planRotation(kp, ro)
	if err != nil {
		return pushFailed(err, res.Action == renew.Renewed)
	}
	err = rs.apply(plan, "rotated", func(p *awsiam.Rotation) any {
		return struct {
			Renew    renew.Result     `json:"renew"`
			Rotation *awsiam.Rotation `json:"rotation"`
		}{res, p}
	})
	if err != nil {
		return pushFailed(err, res.Action == renew.Renewed)
	}
	return outcomeError(renewOutcome(renewed, plan.Outcome), rs.detailed, plan.Errors, plan.Listeners)
}

// renewOutcome is the outcome of a renewal (renewed: the keystore changed, or
// in a dry run would) followed by the push to the listeners (pushed): a push
// that failed after a renewal leaves the work half done, which the next run
// finishes.
func renewOutcome(renewed bool, pushed awsiam.Outcome) awsiam.Outcome {
	switch {
	case pushed == awsiam.OutcomePartial:
		return awsiam.OutcomePartial
	case pushed == awsiam.OutcomeUnchanged || pushed == awsiam.OutcomeChanged:
		if renewed {
			return awsiam.OutcomeChanged
		}
		return pushed
	case renewed:
		return awsiam.OutcomePartial
	}
	return pushed
}

// pushFailed is the error of a push that could not be planned or applied;
// after a renewal that is a partial failure.
func pushFailed(err error, renewed bool) error {
	if !renewed {
		return err
	}
	return cmdutil.WithExitCode(cmdutil.Hint(fmt.Errorf("the keystore was renewed, but not pushed to the listeners: %w", err),
		"run the same command again: the keystore is current, and the push continues"), exitPartial)
}

// renewConfig turns the flags into a renew.Config; the passwords are read here.
func renewConfig(c *cli.Context) (renew.Config, error) {
	cfg := renew.Config{
		Keystore:          c.Args().First(),
		Alias:             c.String("alias"),
		ACMCertificateARN: c.String("acm-certificate-arn"),
		Force:             c.Bool("force"),
		Every:             c.Duration("every"),
		DryRun:            c.Bool("dry-run"),
		RenewWithin:       time.Duration(c.Int("renew-within")) * 24 * time.Hour,
	}
	if cfg.Every <= 0 {
		return cfg, cmdutil.UsageError("--every %s: give the period of the timer that runs renew, e.g. 24h", cfg.Every)
	}
	if c.Int("renew-within") < 0 {
		return cfg, cmdutil.UsageError("--renew-within %d: give a number of days, 1 or more", c.Int("renew-within"))
	}
	dir := c.String("acme-directory")
	if (dir == "") == (cfg.ACMCertificateARN == "") {
		return cfg, cmdutil.UsageError("give one source: --acm-certificate-arn ARN or --acme-directory URL")
	}
	if dir == "" {
		for _, f := range []string{"acme-email", "acme-eab-kid", "acme-eab-hmac-file", "acme-ca-bundle", "acme-account-key", "domain", "route53-zone-id", "dns-resolver", "reuse-key", "key-type"} {
			if c.IsSet(f) {
				return cfg, cmdutil.UsageError("--%s is for --acme-directory; ACM decides names and keys of its certificates", f)
			}
		}
	} else {
		a := &renew.ACME{
			Directory:          dir,
			Email:              c.String("acme-email"),
			EABKeyID:           c.String("acme-eab-kid"),
			CABundle:           c.String("acme-ca-bundle"),
			AccountKey:         c.String("acme-account-key"),
			Domains:            c.StringSlice("domain"),
			Route53ZoneID:      c.String("route53-zone-id"),
			Resolvers:          c.StringSlice("dns-resolver"),
			PropagationTimeout: c.Duration("dns-timeout"),
			ReuseKey:           c.Bool("reuse-key"),
		}
		if (a.EABKeyID == "") != (c.String("acme-eab-hmac-file") == "") {
			return cfg, cmdutil.UsageError("--acme-eab-kid and --acme-eab-hmac-file go together")
		}
		if f := c.String("acme-eab-hmac-file"); f != "" {
			hmac, err := keystore.ReadPasswordFile(f)
			if err != nil {
				return cfg, fmt.Errorf("reading --acme-eab-hmac-file: %w", err)
			}
			a.EABHMAC = hmac
		}
		if s := c.String("key-type"); s != "" {
			if a.ReuseKey {
				return cfg, cmdutil.UsageError("--key-type makes a new key; --reuse-key keeps the current one: give one")
			}
			k, err := renew.ParseKeyType(s)
			if err != nil {
				return cfg, cmdutil.UsageError("--key-type: %v", err)
			}
			a.KeyType = k
		}
		for _, r := range a.Resolvers {
			if _, _, err := splitHostPort(r); err != nil {
				return cfg, cmdutil.UsageError("--dns-resolver %q: want HOST:PORT, e.g. 1.1.1.1:53", r)
			}
		}
		cfg.ACME = a
	}
	storePass, err := cmdutil.StorePassword(c)
	if err != nil {
		return cfg, err
	}
	keyPass, err := cmdutil.KeyPassword(c)
	if err != nil {
		clear(storePass)
		return cfg, err
	}
	cfg.Passwords = keystore.Passwords{Store: storePass, Key: keyPass}
	cfg.Truststore = c.String("truststore")
	file, env := c.String("truststore-pass-file"), c.String("truststore-pass-env")
	switch {
	case cfg.Truststore == "" && (file != "" || env != ""):
		return cfg, cmdutil.UsageError("--truststore-pass-file and --truststore-pass-env need --truststore FILE")
	case file != "" && env != "":
		return cfg, cmdutil.UsageError("give --truststore-pass-file or --truststore-pass-env, not both")
	case file != "":
		if cfg.TruststorePass, err = keystore.ReadPasswordFile(file); err != nil {
			return cfg, fmt.Errorf("reading --truststore-pass-file: %w", err)
		}
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return cfg, cmdutil.UsageError("--truststore-pass-env %s: the variable is not set", env)
		}
		cfg.TruststorePass = []byte(v)
	default:
		cfg.TruststorePass = storePass
	}
	return cfg, nil
}

func printRenew(w io.Writer, r renew.Result) {
	defer func() {
		if len(r.TruststoreAdded) > 0 {
			fmt.Fprintf(w, "truststore: added %s\n", strings.Join(r.TruststoreAdded, ", "))
		}
	}()
	switch r.Action {
	case renew.Renewed:
		fmt.Fprintf(w, "renewed %s alias %s from %s: serial %s, valid until %s, names %s (%s)\n", r.Keystore, r.Alias, r.Source,
			r.New.Serial, r.New.NotAfter.Format("2006-01-02"), strings.Join(r.New.DNSNames, ", "), r.Reason)
	case renew.WouldRenew:
		fmt.Fprintf(w, "dry run: would renew %s alias %s from %s: %s; nothing written\n", r.Keystore, r.Alias, r.Source, r.Reason)
	case renew.NotDue:
		fmt.Fprintf(w, "not due: %s alias %s: %s; nothing written\n", r.Keystore, r.Alias, r.Reason)
	default:
		fmt.Fprintf(w, "unchanged: %s alias %s: %s; nothing written\n", r.Keystore, r.Alias, r.Reason)
	}
}

// runThen runs --then's command after a renewal, with the keystore and alias
// in its environment; its output goes to certup's.
func runThen(c *cli.Context, command string, r renew.Result, push bool) error {
	cmd := exec.CommandContext(c.Context, "/bin/sh", "-c", command)
	cmd.Stdout, cmd.Stderr = outWriter(c), errWriter(c)
	cmd.Env = append(os.Environ(), "CERTUP_KEYSTORE="+r.Keystore, "CERTUP_ALIAS="+r.Alias, "CERTUP_SERIAL="+r.New.Serial)
	if err := cmd.Run(); err != nil {
		// %v, not %w: an *exec.ExitError is an exit coder, which cmdutil.Run
		// would take for a usage error (exit 2).
		hint := "fix the command and run it by hand; running certup renew again will not repeat it, the keystore is current"
		if push {
			hint += " (running it again pushes the certificate to the listeners)"
		}
		return cmdutil.Hint(fmt.Errorf("the keystore was renewed, but the --then command failed: %v", err), hint)
	}
	return nil
}

// renewHint attaches the advice that fixes a renewal error.
func renewHint(err error) error {
	var hint string
	var rl *renew.RateLimitError
	switch {
	case errors.As(err, &rl) && !rl.RetryAt.IsZero():
		hint = "the CA's rate limit: run again after " + rl.RetryAt.UTC().Format("2006-01-02 15:04 UTC") +
			" (a daily timer does); do not retry in a loop, every attempt counts against the limit"
	case errors.Is(err, renew.ErrTruststore) && errors.Is(err, keystore.ErrWrongPassword):
		hint = "check the truststore's password: --truststore-pass-file or --truststore-pass-env (default: the store password)"
	case errors.Is(err, renew.ErrTruststore) && errors.Is(err, keystore.ErrUnsupportedFormat):
		hint = "give a JKS, JCEKS or PKCS#12 truststore"
	case errors.Is(err, renew.ErrCAUnreachable):
		hint = "check --acme-directory and the network path to it; for a private CA's HTTPS add --acme-ca-bundle FILE"
	case errors.Is(err, renew.ErrRateLimited):
		hint = "the CA's rate limit: the next scheduled run retries; do not retry in a loop, every attempt counts against the limit"
	case errors.Is(err, renew.ErrUnauthorized):
		hint = "the CA refuses this account or these names: check --domain (and the names' CAA records), or the account binding --acme-eab-kid/--acme-eab-hmac-file"
	case errors.Is(err, renew.ErrDNSNotVisible):
		hint = "the challenge record was removed; raise --dns-timeout, or ask resolvers that see Route 53 with --dns-resolver HOST:PORT"
	case errors.Is(err, renew.ErrZoneNotFound):
		hint = "create a public hosted zone for the name in Route 53, or give its ID with --route53-zone-id"
	case errors.Is(err, renew.ErrOrderInvalid):
		hint = "the CA could not validate the names: run again with --debug to see its answer; the challenge records were removed"
	case errors.Is(err, renew.ErrNotExportable):
		hint = "only certificates requested with export enabled (--options Export=ENABLED) or from a private CA can be exported; imported ones cannot"
	case errors.Is(err, renew.ErrNotIssued):
		hint = "finish the certificate's validation in ACM and run again once it is ISSUED"
	case errors.Is(err, renew.ErrNotPrivateKey):
		hint = "choose the alias of the server's key with --alias (see: jks2pem list KEYSTORE)"
	case errors.Is(err, renew.ErrNoDomains):
		hint = "give the names with --domain NAME"
	case errors.Is(err, renew.ErrAccountKey):
		hint = "give a readable PEM private key with --acme-account-key FILE, or a path where certup may create one"
	default:
		return withHint(cmdutil.KeystoreHint(err, "jks2pem"))
	}
	return cmdutil.Hint(err, hint)
}
