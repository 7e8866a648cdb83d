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
