// Command awstest runs the local AWS endpoint of package awsiam/awstest by hand
// (IAM, ACM, classic ELB and ELBv2 in memory), so certup can be tried without an
// AWS account:
//
//	awstest --listen 127.0.0.1:4566 --seed demo &
//	AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
//	  certup list --endpoint-url http://127.0.0.1:4566
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/keybridge/keybridge/awsiam/awstest"
	"github.com/keybridge/keybridge/internal/cmdutil"
)

func main() {
	os.Exit(cmdutil.Run(newApp(), os.Args))
}

func newApp() *cli.App {
	return &cli.App{
		Name:      "awstest",
		Usage:     "run a local, in-memory AWS endpoint (IAM, ACM, ELB, ELBv2, Route 53 with its DNS) for trying certup",
		UsageText: "awstest [--listen 127.0.0.1:4566] [--seed demo] [--region us-east-1] [--propagation-delay 2s]",
		Description: "Prints the endpoint URL on the first line of stdout, then \"dns ADDR\" (where the hosted zones\n" +
			"are answered over DNS), \"hosted-zone NAME ID\" per --hosted-zone, then (with --seed demo) one line per\n" +
			"resource created: \"elb NAME\", \"alb ARN\", \"listener ARN\", \"target-group ARN\",\n" +
			"\"placeholder-certificate ARN\". Serves until SIGINT or SIGTERM. Any access key works;\n" +
			"signatures are not checked. State is lost on exit.",
		HideHelpCommand: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:4566", Usage: "address to listen on (port 0 picks a free one)"},
			&cli.StringFlag{Name: "seed", Usage: "create resources at start: \"demo\" makes a classic ELB wso2-elb (HTTP 80, HTTPS 443) and an ALB wso2-alb with an HTTPS 443 listener and target group"},
			&cli.StringFlag{Name: "region", Value: "us-east-1", Usage: "region for --seed"},
			&cli.DurationFlag{Name: "propagation-delay", Usage: "how long the ELB APIs answer CertificateNotFound after an upload"},
			&cli.DurationFlag{Name: "latency", Usage: "added to every call"},
			&cli.StringFlag{Name: "dns-listen", Value: "127.0.0.1:0", Usage: "UDP and TCP address where the Route 53 hosted zones are answered over DNS (port 0 picks a free one)"},
			&cli.StringSliceFlag{Name: "hosted-zone", Usage: "create a public Route 53 hosted zone for `NAME` at start; repeatable"},
			&cli.BoolFlag{Name: "debug", Usage: "log every call to stderr"},
		},
		Action: run,
	}
}

func run(c *cli.Context) error {
	if c.NArg() > 0 {
		return cmdutil.UsageError("unexpected argument %q", c.Args().First())
	}
	seed := c.String("seed")
	if seed != "" && seed != "demo" {
		return cmdutil.UsageError("--seed %q: the only seed is \"demo\"", seed)
	}
	// Before the address is printed: whoever reads it may stop the server
	// at once, and SIGTERM must then end it cleanly, not kill it.
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := awstest.New(awstest.Options{
		Addr:             c.String("listen"),
		PropagationDelay: c.Duration("propagation-delay"),
		Latency:          c.Duration("latency"),
		Logger:           cmdutil.NewLogger(os.Stderr, c.Bool("debug"), false),
		DNSAddr:          c.String("dns-listen"),
	})
	if err != nil {
		return cmdutil.Hint(err, "another program uses the port: pick another with --listen 127.0.0.1:PORT (0 for any)")
	}
	defer srv.Close()
	out := c.App.Writer
	fmt.Fprintln(out, srv.URL())
	fmt.Fprintln(out, "dns", srv.DNSAddr())
	for _, name := range c.StringSlice("hosted-zone") {
		id, err := srv.AddHostedZone(name)
		if err != nil {
			return cmdutil.Hint(err, "give a domain name such as example.test to --hosted-zone")
		}
		fmt.Fprintln(out, "hosted-zone", name, id)
	}
	if seed == "demo" {
		d, err := srv.SeedDemo(c.String("region"))
		if err != nil {
			return fmt.Errorf("seeding the demo: %w", err)
		}
		fmt.Fprintln(out, "elb", d.ClassicELB)
		fmt.Fprintln(out, "alb", d.ALBARN)
		fmt.Fprintln(out, "listener", d.ListenerARN)
		fmt.Fprintln(out, "target-group", d.TargetGroupARN)
		fmt.Fprintln(out, "placeholder-certificate", d.PlaceholderARN)
	}
	if f, ok := out.(*os.File); ok {
		_ = f.Sync()
	}
	<-ctx.Done()
	return nil
}
