package awsiam_test

import (
	"context"
	"crypto/elliptic"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/keybridge/keybridge/awsiam"
	"github.com/keybridge/keybridge/awsiam/awstest"
)

// flagRE matches what reads as a program's flag ("--region", "--acm").
var flagRE = regexp.MustCompile(`(^|[\s(])--[a-z]`)

// TestErrorsNameNoFlag: the library's errors speak of the library, never of a
// program's flags (certup adds those as hints), and are told apart by their
// sentinels.
func TestErrorsNameNoFlag(t *testing.T) {
	e := newEnv(t, awstest.Options{}, awsiam.Options{})
	c := newCA(t)
	ctx := ctx(t)
	kp := c.valid(t, "www.example.com")
	p521 := c.pair(t, "p521.example.com", ecKey(t, elliptic.P521()), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	_, errELB := awsiam.ParseELB(":443")
	_, errPort := awsiam.ParseELB("web:http")
	_, errARN := awsiam.ParseListenerARN("not-an-arn", false)
	_, errName := e.svc.Upload(ctx, kp, awsiam.UploadOptions{Target: awsiam.TargetACM, Name: "x"})
	_, errCertARN := e.svc.Upload(ctx, kp, awsiam.UploadOptions{CertificateARN: "arn:aws:acm:eu-west-1:1:certificate/x"})
	_, errPath := e.svc.Upload(ctx, kp, awsiam.UploadOptions{Path: "/a b/"})
	errKey := awsiam.Validate(p521, awsiam.TargetIAM, time.Now(), awsiam.ValidateOptions{})

	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", empty)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", empty)
	_, errRegion := awsiam.LoadAWSConfig(context.Background(), awsiam.Config{})

	for _, tt := range []struct {
		name string
		err  error
		is   error
	}{
		{"classic listener without a name", errELB, awsiam.ErrInvalidListener},
		{"classic listener with a bad port", errPort, awsiam.ErrInvalidListener},
		{"listener ARN", errARN, awsiam.ErrInvalidListener},
		{"ACM with an IAM name", errName, awsiam.ErrNotForTarget},
		{"IAM with an ACM ARN", errCertARN, awsiam.ErrNotForTarget},
		{"IAM path", errPath, awsiam.ErrInvalidPath},
		{"P-521 to IAM", errKey, awsiam.ErrACMOnlyKey},
		{"no region", errRegion, awsiam.ErrNoRegion},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.is) {
				t.Fatalf("err = %v, want %v", tt.err, tt.is)
			}
			if flagRE.MatchString(tt.err.Error()) {
				t.Errorf("the error names a flag: %v", tt.err)
			}
		})
	}
	if !errors.Is(errKey, awsiam.ErrUnsupportedKey) {
		t.Errorf("ErrACMOnlyKey is not an ErrUnsupportedKey")
	}
}
