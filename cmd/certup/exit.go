package main

import (
	"github.com/urfave/cli/v2"

	"github.com/keybridge/keybridge/awsiam"
	"github.com/keybridge/keybridge/internal/cmdutil"
)

// Exit codes of certup besides cmdutil's 0 (done), 1 (error) and 2 (usage).
const (
	// exitChanged: with --detailed-exitcode, the command changed something (with
	// --dry-run: would change something), as terraform plan -detailed-exitcode.
	exitChanged = 10
	// exitPartial: something changed and something failed; running the same
	// command again finishes the job.
	exitPartial = 11
)

// detailedExitFlag is on every command that can change something.
func detailedExitFlag() cli.Flag {
	return &cli.BoolFlag{Name: "detailed-exitcode", Usage: "exit 10 when something changed (with --dry-run: would change), 0 when there was nothing to do"}
}

// outcomeCode is the exit code of a command whose run ended with outcome
// (awsiam.OutcomeUnchanged, OutcomeChanged, OutcomePartial, or a failure);
// detailed is --detailed-exitcode.
func outcomeCode(outcome awsiam.Outcome, detailed bool) int {
	switch outcome {
	case awsiam.OutcomeUnchanged:
		return cmdutil.ExitOK
	case awsiam.OutcomeChanged:
		if detailed {
			return exitChanged
		}
		return cmdutil.ExitOK
	case awsiam.OutcomePartial:
		return exitPartial
	}
	return cmdutil.ExitError
}

// changedOutcome is the outcome of a command that succeeded: changed or not.
func changedOutcome(changed bool) awsiam.Outcome {
	if changed {
		return awsiam.OutcomeChanged
	}
	return awsiam.OutcomeUnchanged
}

// doneError ends a command that succeeded, changed saying whether it changed
// something (or in a dry run would have): nil, or exit 10 with --detailed-exitcode.
func doneError(c *cli.Context, changed bool) error {
	if outcomeCode(changedOutcome(changed), c.Bool("detailed-exitcode")) == exitChanged {
		return cmdutil.Silent(exitChanged)
	}
	return nil
}
