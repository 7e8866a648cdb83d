package awsiam_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/keybridge/keybridge/awsiam"
	"github.com/keybridge/keybridge/awsiam/awstest"
)

// Rotate the classic ELB and the ALB listener of the local endpoint to a new
// key pair, twice: the second plan finds nothing to do.
func ExamplePlanRotation() {
	srv, err := awstest.New(awstest.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	demo, err := srv.SeedDemo("us-east-1")
	if err != nil {
		panic(err)
	}
	svc := awsiam.New(awsiam.NewClients(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "dummy", ""),
		BaseEndpoint: aws.String(srv.URL()),
	}), awsiam.Options{Region: "us-east-1"})
	regions := []*awsiam.Service{svc} // one Service per region

	kp := selfSignedPair("www.example.com")
	opts := awsiam.RotateOptions{Listeners: []awsiam.Listener{{ELB: demo.ClassicELB, Port: 443}, {ARN: demo.ListenerARN}}}
	for range 2 {
		plan, err := awsiam.PlanRotation(context.Background(), regions, kp, opts)
		if err != nil {
			panic(err)
		}
		for _, l := range plan.Listeners {
			fmt.Println("plan:", l.Action, "-", l.Reason)
		}
		if err := plan.Apply(context.Background()); err != nil {
			panic(err)
		}
		fmt.Println("outcome:", plan.Outcome)
	}
	// Output:
	// plan: switch - serves another certificate
	// plan: switch - serves another certificate
	// outcome: changed
	// plan: skip - already serves the new certificate
	// plan: skip - already serves the new certificate
	// outcome: unchanged
}
