package awsiam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// Config selects the AWS account, region and endpoint. Credentials always come
// from the SDK's default chain (environment, shared config and credentials files,
// SSO, web identity, container and instance roles).
type Config struct {
	Region      string // default: AWS_REGION / the profile's region
	Profile     string // default: AWS_PROFILE / "default"
	EndpointURL string // e.g. a local awstest endpoint; AWS_ENDPOINT_URL also works
	// MaxAttempts per API call, retries of throttling and server errors included;
	// default 5.
	MaxAttempts int
	// MaxBackoff caps the wait between SDK retries; default 20s.
	MaxBackoff time.Duration
	// Logger receives one debug line per API call (service, operation, duration,
	// error code; never parameters).
	Logger *slog.Logger
}

// LoadAWSConfig loads the SDK configuration for c.
func LoadAWSConfig(ctx context.Context, c Config) (aws.Config, error) {
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	attempts := c.MaxAttempts
	if attempts <= 0 {
		attempts = 5
	}
	backoff := c.MaxBackoff
	if backoff <= 0 {
		backoff = retry.DefaultMaxBackoff
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			// IAM answers ConcurrentModification (HTTP 409) when another request
			// changes the same object at that moment (another host tagging the
			// same certificate) and asks for the request again (IAM API
			// reference, TagServerCertificate and UploadServerCertificate,
			// Errors); the SDK does not retry it by itself.
			return retry.AddWithErrorCodes(retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.MaxBackoff = backoff
			}), "ConcurrentModification")
		}),
		config.WithAPIOptions([]func(*middleware.Stack) error{callLogger(log)}),
	}
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	if c.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(c.Profile))
	}
	if c.EndpointURL != "" {
		opts = append(opts, config.WithBaseEndpoint(c.EndpointURL))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: neither the configuration nor the environment (AWS_REGION) nor the profile names a region: %w", ErrNoRegion)
	}
	return cfg, nil
}

// NewClients makes the SDK clients for cfg.
func NewClients(cfg aws.Config) Clients {
	return Clients{
		IAM:   iam.NewFromConfig(cfg),
		ACM:   acm.NewFromConfig(cfg),
		ELB:   elb.NewFromConfig(cfg),
		ELBv2: elbv2.NewFromConfig(cfg),
	}
}

// callLogger logs each API call once (after the SDK's retries) at debug level.
func callLogger(log *slog.Logger) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("keybridgeCallLog",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				start := time.Now()
				out, md, err := next.HandleInitialize(ctx, in)
				attrs := []any{"service", awsmiddleware.GetServiceID(ctx), "operation", awsmiddleware.GetOperationName(ctx),
					"region", awsmiddleware.GetRegion(ctx), "duration", time.Since(start).Round(time.Millisecond)}
				if err != nil {
					attrs = append(attrs, "error", errorCode(err))
				}
				log.Debug("aws call", attrs...)
				return out, md, err
			}), middleware.After)
	}
}

// errorCode is the AWS error code of err, or a short description.
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err.Error()
	}
	return "transport error"
}

func isCode(err error, codes ...string) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, c := range codes {
		if ae.ErrorCode() == c {
			return true
		}
	}
	return false
}
