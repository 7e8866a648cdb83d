package main

import (
	"testing"

	"github.com/keybridge/keybridge/awsiam"
)

func TestOutcomeCode(t *testing.T) {
	for _, tc := range []struct {
		outcome  awsiam.Outcome
		detailed bool
		want     int
	}{
		{awsiam.OutcomeUnchanged, false, 0},
		{awsiam.OutcomeUnchanged, true, 0},
		{awsiam.OutcomeChanged, false, 0},
		{awsiam.OutcomeChanged, true, 10},
		{awsiam.OutcomePartial, false, 11},
		{awsiam.OutcomePartial, true, 11},
		{awsiam.OutcomeFailed, false, 1},
		{awsiam.OutcomeFailed, true, 1},
	} {
		if got := outcomeCode(tc.outcome, tc.detailed); got != tc.want {
			t.Errorf("outcomeCode(%s, detailed %v) = %d, want %d", tc.outcome, tc.detailed, got, tc.want)
		}
	}
}

func TestRenewOutcome(t *testing.T) {
	for _, tc := range []struct {
		renewed bool
		pushed  awsiam.Outcome
		want    awsiam.Outcome
	}{
		{false, awsiam.OutcomeUnchanged, awsiam.OutcomeUnchanged},
		{false, awsiam.OutcomeChanged, awsiam.OutcomeChanged},
		{false, awsiam.OutcomePartial, awsiam.OutcomePartial},
		{false, awsiam.OutcomeFailed, awsiam.OutcomeFailed},
		{true, awsiam.OutcomeUnchanged, awsiam.OutcomeChanged},
		{true, awsiam.OutcomeChanged, awsiam.OutcomeChanged},
		{true, awsiam.OutcomePartial, awsiam.OutcomePartial},
		// The keystore changed and no listener did: half done, the next run finishes.
		{true, awsiam.OutcomeFailed, awsiam.OutcomePartial},
	} {
		if got := renewOutcome(tc.renewed, tc.pushed); got != tc.want {
			t.Errorf("renewOutcome(renewed %v, pushed %s) = %s, want %s", tc.renewed, tc.pushed, got, tc.want)
		}
	}
}
