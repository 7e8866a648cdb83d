package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/keybridge/keybridge/awsiam"
	"github.com/keybridge/keybridge/internal/cmdutil"
)

// TestHintsByErrorKind: certup picks the flag advice by the error's sentinel
// (errors.Is), whatever the library's wording.
func TestHintsByErrorKind(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{awsiam.ErrACMOnlyKey, "--acm"},
		{awsiam.ErrUnsupportedKey, "re-key"},
		{awsiam.ErrNotFQDN, "--elb"},
		{awsiam.ErrReimport, "--certificate-arn"},
		{awsiam.ErrTooManyCertificates, "remove-listener-certificates"},
		{awsiam.ErrInvalidPath, "--path"},
		{awsiam.ErrNotForTarget, "--tag Name="},
		{awsiam.ErrWrongRegion, "--region"},
		{awsiam.ErrStickiness, "--cookie"},
		{awsiam.ErrListenerNotFound, "--elb"},
	} {
		err := withHint(fmt.Errorf("some words the library chose: %w", tt.err))
		if h := cmdutil.HintOf(err); !strings.Contains(h, tt.want) {
			t.Errorf("%v: hint %q, want one naming %q", tt.err, h, tt.want)
		}
	}
}
