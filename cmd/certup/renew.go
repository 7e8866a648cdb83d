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
			"\nExit codes: 0 done (renewed or nothing to do), 1 error, 2 usage. With --detailed-exitcode:\n" +
			"10 renewed (with --dry-run: would renew), 0 nothing to do.",
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
			&cli.BoolFlag{Name: "force", Usage: "renew whatever the dates say"},
			&cli.StringFlag{Name: "truststore", Usage: "also add the certificate and its issuers to this JKS, JCEKS or PKCS#12 truststore `FILE` (e.g. client-truststore.jks)"},
			&cli.StringFlag{Name: "truststore-pass-file", Usage: "`FILE` holding the truststore's password (default: the store password)"},
			&cli.StringFlag{Name: "truststore-pass-env", Usage: "environment `VAR` holding the truststore's password"},
			&cli.StringFlag{Name: "then", Usage: "run `CMD` (with sh -c) after the keystore changed, e.g. restart the server"},
			&cli.BoolFlag{Name: "dry-run", Usage: "decide and print, write nothing (ACME: no order is placed)"},
			detailedExitFlag(),
		}, cmdutil.PasswordFlags(), awsFlags()),
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
	// Everything about the keystore is checked before any CA or AWS call.
	if err := renew.Check(cfg); err != nil {
		return renewHint(err)
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := commandLogger(errWriter(c), c.Bool("debug"))
	region := c.String("region")
	if region == "" && cfg.ACME != nil && os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_PROFILE") == "" {
		// ACME needs only Route 53, which is global (its calls are signed for
		// us-east-1): no region to choose.
		region = "us-east-1"
	}
	awsCfg, err := loadAWSConfig(ctx, c, region, log)
	if err != nil {
		return err
	}
	res, err := renew.Run(ctx, cfg, renew.NewClients(awsCfg), log)
	if err != nil {
		return renewHint(err)
	}
	out := outWriter(c)
	if c.Bool("json") {
		if err := cmdutil.PrintJSON(out, res); err != nil {
			return err
		}
	} else {
		printRenew(out, res)
	}
	if res.Action == renew.Renewed {
		if cmd := c.String("then"); cmd != "" {
			if err := runThen(c, cmd, res); err != nil {
				return err
			}
		}
	}
	return doneError(c, res.Action == renew.Renewed || res.Action == renew.WouldRenew)
}

// renewConfig turns the flags into a renew.Config; the passwords are read here.
func renewConfig(c *cli.Context) (renew.Config, error) {
	cfg := renew.Config{
		Keystore:          c.Args().First(),
		Alias:             c.String("alias"),
		ACMCertificateARN: c.String("acm-certificate-arn"),
		Force:             c.Bool("force"),
		DryRun:            c.Bool("dry-run"),
		RenewWithin:       time.Duration(c.Int("renew-within")) * 24 * time.Hour,
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
func runThen(c *cli.Context, command string, r renew.Result) error {
	cmd := exec.CommandContext(c.Context, "/bin/sh", "-c", command)
	cmd.Stdout, cmd.Stderr = outWriter(c), errWriter(c)
	cmd.Env = append(os.Environ(), "CERTUP_KEYSTORE="+r.Keystore, "CERTUP_ALIAS="+r.Alias, "CERTUP_SERIAL="+r.New.Serial)
	if err := cmd.Run(); err != nil {
		// %v, not %w: an *exec.ExitError is an exit coder, which cmdutil.Run
		// would take for a usage error (exit 2).
		return cmdutil.Hint(fmt.Errorf("the keystore was renewed, but the --then command failed: %v", err),
			"fix the command and run it by hand; running certup renew again will not repeat it, the keystore is current")
	}
	return nil
}

// renewHint attaches the advice that fixes a renewal error.
func renewHint(err error) error {
	var hint string
	switch {
	case errors.Is(err, renew.ErrTruststore) && errors.Is(err, keystore.ErrWrongPassword):
		hint = "check the truststore's password: --truststore-pass-file or --truststore-pass-env (default: the store password)"
	case errors.Is(err, renew.ErrTruststore) && errors.Is(err, keystore.ErrUnsupportedFormat):
		hint = "give a JKS, JCEKS or PKCS#12 truststore"
	case errors.Is(err, renew.ErrCAUnreachable):
		hint = "check --acme-directory and the network path to it; for a private CA's HTTPS add --acme-ca-bundle FILE"
	case errors.Is(err, renew.ErrRateLimited):
		hint = "the CA's rate limit: the next scheduled run retries; do not loop on it"
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
