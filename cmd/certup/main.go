// Command certup takes the certificate of a Java keystore to AWS: it uploads it to
// IAM or imports it into ACM, attaches it to classic ELB and ALB/NLB listeners
// (waiting out IAM propagation), sets JSESSIONID stickiness (on classic listeners
// of every HTTP and HTTPS port and on the target groups of ALB listeners and
// their rules), refuses before any change what AWS would refuse, lists certificates
// with the listeners that use them and checks expiry from cron.
package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/keybridge/keybridge/awsiam"
	"github.com/keybridge/keybridge/internal/cmdutil"
)

func main() {
	os.Exit(cmdutil.Run(newApp(), os.Args))
}

func newApp() *cli.App {
	return &cli.App{
		Name:  "certup",
		Usage: "upload a keystore's certificate to AWS IAM or ACM and put it on ELB listeners",
		UsageText: "certup upload KEYSTORE [--name N | --name-prefix P] [--path /p/] [--tag k=v]… [--acm [--certificate-arn ARN]]\n" +
			"certup attach --cert ARN|NAME (--elb NAME[:PORT] | --listener ARN [--sni])\n" +
			"certup deploy KEYSTORE (--elb NAME[:PORT] | --listener ARN)… [--stickiness-cookie JSESSIONID]\n" +
			"certup stickiness (--elb NAME[:PORT] | --listener ARN)… --cookie NAME|- [--dry-run] [--json]\n" +
			"certup list [--path-prefix P] [--acm] [--json]\n" +
			"certup check (--cert ARN|NAME | --elb NAME[:PORT] | --listener ARN) [--days 30]\n" +
			"certup rotate KEYSTORE (--elb NAME[:PORT] | --listener ARN | --replaces OLD)… [--region R]… [--keep N]\n" +
			"       [--renew-within DAYS] [--parallel K] [--probe HOST:PORT] [--dry-run] [--json]\n" +
			"certup rollback (--elb NAME[:PORT] | --listener ARN | --replaces OLD)… [--region R]… [--dry-run]\n" +
			"certup prune [--keep N] [--path-prefix P] [--name-prefix P] [--acm] [--region R]… [--dry-run]\n" +
			"certup renew KEYSTORE --alias A (--acm-certificate-arn ARN | --acme-directory URL [--domain D]…)\n" +
			"       [--renew-within DAYS] [--dns-resolver HOST:PORT]… [--then CMD] [--dry-run] [--json]",
		Description: "Credentials come from the AWS SDK's default chain (environment, ~/.aws files and\n" +
			"--profile, SSO, instance and container roles). --endpoint-url or AWS_ENDPOINT_URL\n" +
			"points certup at another endpoint, such as the local one of `awstest`.\n" +
			"The store password comes from --storepass-file, --storepass-env, $KEYSTORE_PASSWORD\n" +
			"or a prompt; the private key never touches the disk.\n\n" +
			"Exit codes: 0 done (whether or not anything changed), 1 error (or check failed), 2 usage,\n" +
			"11 partial failure (deploy, stickiness, rotate, rollback, prune: run the same command again).\n" +
			"With --detailed-exitcode, a command that changes things exits 10 when it changed something\n" +
			"(with --dry-run: would change something) and 0 when there was nothing to do.",
		HideHelpCommand: true,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cmdutil.UsageError("unknown command %q (want upload, attach, deploy, stickiness, list, check, rotate, rollback, prune or renew)", c.Args().First())
			}
			if err := cli.ShowAppHelp(c); err != nil {
				return err
			}
			return cmdutil.Silent(cmdutil.ExitUsage)
		},
		Commands: append([]*cli.Command{
			{
				Name:      "upload",
				Usage:     "validate the keystore's key pair and upload it to IAM (or import it into ACM); prints the ARN",
				ArgsUsage: "KEYSTORE",
				Flags:     concat(uploadFlags(), keystoreFlags(), awsFlags(), changeFlags()),
				Action:    uploadAction,
			},
			{
				Name:      "attach",
				Usage:     "make a classic ELB or ALB/NLB listener serve an uploaded certificate",
				ArgsUsage: " ",
				Flags: concat([]cli.Flag{
					&cli.StringFlag{Name: "cert", Usage: "the certificate: IAM name or ARN, or ACM ARN", Required: true},
					&cli.StringFlag{Name: "elb", Usage: "classic ELB `NAME[:PORT]` (port 443 by default)"},
					&cli.StringFlag{Name: "listener", Usage: "ALB/NLB listener `ARN`"},
					&cli.BoolFlag{Name: "sni", Usage: "add the certificate to the listener's SNI list instead of replacing its default certificate"},
					waitFlag(),
				}, awsFlags(), changeFlags()),
				Action: attachAction,
			},
			{
				Name:      "deploy",
				Usage:     "upload (or find the upload) and attach to every listener given, with optional stickiness",
				ArgsUsage: "KEYSTORE",
				Flags: concat(uploadFlags(), []cli.Flag{
					&cli.StringSliceFlag{Name: "elb", Usage: "classic ELB `NAME[:PORT]` (port 443 by default); repeatable"},
					&cli.StringSliceFlag{Name: "listener", Usage: "ALB/NLB listener `ARN`; repeatable"},
					&cli.BoolFlag{Name: "sni", Usage: "add the certificate to the --listener SNI lists instead of replacing their default certificate"},
					&cli.StringFlag{Name: "stickiness-cookie", Usage: "also set application-cookie stickiness on the application's session cookie `NAME` (e.g. JSESSIONID)"},
					waitFlag(),
				}, keystoreFlags(), awsFlags(), changeFlags()),
				Action: deployAction,
			},
			stickinessCommand(),
			{
				Name:  "list",
				Usage: "list certificates with their expiry and the listeners that use each",
				Flags: concat([]cli.Flag{
					&cli.StringFlag{Name: "path-prefix", Usage: "only IAM certificates whose path starts with `P`"},
					&cli.BoolFlag{Name: "acm", Usage: "list the region's ACM certificates instead of IAM's"},
				}, awsFlags()),
				Action: listAction,
			},
			{
				Name:  "check",
				Usage: "exit 0 when the certificate is valid for at least --days more days, else 1 with the reason (for cron)",
				Flags: concat([]cli.Flag{
					&cli.StringFlag{Name: "cert", Usage: "the certificate: IAM name or ARN, or ACM ARN"},
					&cli.StringFlag{Name: "elb", Usage: "the certificate a classic ELB `NAME[:PORT]` serves"},
					&cli.StringFlag{Name: "listener", Usage: "the default certificate an ALB/NLB listener `ARN` serves"},
					&cli.IntFlag{Name: "days", Value: 30, Usage: "required remaining validity in days"},
				}, awsFlags()),
				Action: checkAction,
			},
		}, append(rotateCommands(), renewCommand())...),
	}
}

func uploadFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "name", Usage: "IAM server certificate `NAME` (default: <CN>-<expiry yyyymmdd>-<sha256 prefix>)"},
		&cli.StringFlag{Name: "name-prefix", Usage: "use `P` instead of the CN in the default name"},
		&cli.StringFlag{Name: "path", Usage: "IAM `PATH`, e.g. /cloudfront/ (default /)"},
		&cli.StringSliceFlag{Name: "tag", Usage: "tag `KEY=VALUE` for the certificate; repeatable"},
		&cli.BoolFlag{Name: "acm", Usage: "import into ACM instead of uploading to IAM"},
		&cli.StringFlag{Name: "certificate-arn", Usage: "with --acm: re-import into this ACM certificate `ARN` (the ARN stays)"},
		&cli.BoolFlag{Name: "allow-expired", Usage: "upload a certificate outside its validity window"},
		lineageFlag("the lineage `NAME` the certificate joins (tag certup:lineage:NAME); rotate's default: the lineage of what the listeners serve, else one derived from the targets"),
	}
}

func lineageFlag(usage string) cli.Flag {
	return &cli.StringFlag{Name: "lineage", Usage: usage}
}

func keystoreFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "alias", Usage: "the private-key entry to use (default: the only one)"},
	}, cmdutil.PasswordFlags()...)
}

func awsFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "region", Usage: "AWS `REGION` (default: AWS_REGION or the profile's)", Category: "AWS:"},
		&cli.StringFlag{Name: "profile", Usage: "shared config `PROFILE` (default: AWS_PROFILE)", Category: "AWS:"},
		&cli.StringFlag{Name: "endpoint-url", Usage: "send every AWS call to `URL` (also AWS_ENDPOINT_URL), e.g. a local awstest", Category: "AWS:"},
		&cli.IntFlag{Name: "max-attempts", Value: 5, Usage: "attempts per AWS call, retries of throttling and server errors included", Category: "AWS:"},
		&cli.DurationFlag{Name: "max-backoff", Value: 20e9, Usage: "longest wait between retries of one AWS call", Category: "AWS:"},
		&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"},
		&cli.BoolFlag{Name: "debug", Usage: "log every AWS call (never parameters, keys or passwords) to stderr"},
	}
}

func changeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "dry-run", Usage: "read what is needed, print the calls that would change something, make none"},
		detailedExitFlag(),
	}
}

func waitFlag() cli.Flag {
	return &cli.DurationFlag{Name: "wait", Value: awsiam.DefaultWait,
		Usage: "how long to retry while the load balancer does not yet see a new IAM certificate"}
}

func concat(lists ...[]cli.Flag) []cli.Flag {
	var out []cli.Flag
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}
