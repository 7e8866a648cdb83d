package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/keybridge/keybridge/awsiam"
	"github.com/keybridge/keybridge/internal/cmdutil"
)

// removeCookie, as --cookie, removes application-cookie stickiness.
const removeCookie = "-"

func stickinessCommand() *cli.Command {
	return &cli.Command{
		Name:      "stickiness",
		Usage:     "keep each client on one instance for as long as the application's session cookie says (classic ELB listeners, ALB target groups)",
		ArgsUsage: " ",
		Description: "A classic ELB named without a port gets an AppCookieStickinessPolicy on every HTTP and HTTPS\n" +
			"listener (the WSO2 seed sets JSESSIONID stickiness on 80 and 443), with a port on that listener;\n" +
			"its other policies are kept. An ALB listener's target groups, those of its default action and of\n" +
			"its rules, get app_cookie stickiness. --cookie - removes application-cookie stickiness. What is\n" +
			"already so is left alone: a second run changes nothing.",
		Flags: concat([]cli.Flag{
			&cli.StringSliceFlag{Name: "elb", Usage: "classic ELB `NAME[:PORT]`; NAME alone: every HTTP and HTTPS listener; repeatable"},
			&cli.StringSliceFlag{Name: "listener", Usage: "ALB listener `ARN`: the target groups it forwards to, rules included; repeatable"},
			&cli.StringFlag{Name: "cookie", Required: true, Usage: "the application's session cookie `NAME` (e.g. JSESSIONID); - removes the stickiness"},
		}, awsFlags(), changeFlags()),
		Action: stickinessAction,
	}
}

func stickinessAction(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	var ls []awsiam.Listener
	var arns []string
	for _, e := range c.StringSlice("elb") {
		l, err := awsiam.ParseELBPort(e, awsiam.AllPorts)
		if err != nil {
			return cmdutil.UsageError("--elb: %v", err)
		}
		ls = append(ls, l)
	}
	for _, a := range c.StringSlice("listener") {
		l, err := awsiam.ParseListenerARN(a, false)
		if err != nil {
			return cmdutil.UsageError("--listener: %v", err)
		}
		ls = append(ls, l)
		arns = append(arns, a)
	}
	if len(ls) == 0 {
		return cmdutil.UsageError("give --elb NAME[:PORT] or --listener ARN")
	}
	cookie := c.String("cookie")
	switch {
	case cookie == removeCookie:
		cookie = ""
	case cookie == "":
		return cmdutil.UsageError("--cookie wants the cookie's name, or - to remove the stickiness")
	}
	s, err := newSession(c, c.Bool("dry-run"), arns...)
	if err != nil {
		return err
	}
	defer s.stop()
	res, err := s.svc.Stickiness(s.ctx, ls, cookie)
	changed := stickinessChanged(res)
	if err != nil {
		if !changed {
			return withHint(err)
		}
		if !s.json {
			printStickiness(s.out, res)
		}
		return cmdutil.WithExitCode(partialHint(withHint(err)), exitPartial)
	}
	if s.json {
		if err := cmdutil.PrintJSON(s.out, struct {
			Stickiness []*awsiam.StickinessResult `json:"stickiness"`
			Planned    []awsiam.Call              `json:"planned,omitempty"`
		}{res, s.svc.Planned()}); err != nil {
			return err
		}
	} else {
		printPlanned(s)
		printStickiness(s.out, res)
	}
	return doneError(c, changed)
}

// stickinessChanged: some stickiness was set or removed (or in a dry run would be).
func stickinessChanged(res []*awsiam.StickinessResult) bool {
	for _, st := range res {
		if st != nil && (st.Changed || st.DryRun) {
			return true
		}
	}
	return false
}

// printStickiness prints one line per listener (dry runs print their calls
// instead).
func printStickiness(w io.Writer, res []*awsiam.StickinessResult) {
	for _, st := range res {
		if st.DryRun {
			continue
		}
		what := "stickiness on cookie " + st.Cookie
		state := "already set"
		switch {
		case st.Cookie == "" && st.Changed:
			what, state = "application-cookie stickiness", "removed"
		case st.Cookie == "":
			what, state = "application-cookie stickiness", "already off"
		case st.Changed:
			state = "set"
		}
		line := fmt.Sprintf("%s: %s %s", st.Listener, what, state)
		if len(st.TargetGroups) > 0 {
			line += " (target groups " + strings.Join(st.TargetGroups, ", ") + ")"
		}
		fmt.Fprintln(w, line)
	}
}
