package awstest_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"

	"github.com/keybridge/keybridge/awsiam/awstest"
)

// Point a real SDK client at the local endpoint and count its calls.
func Example() {
	srv, err := awstest.New(awstest.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	demo, err := srv.SeedDemo("us-east-1")
	if err != nil {
		panic(err)
	}
	client := elb.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "dummy", ""),
		BaseEndpoint: aws.String(srv.URL()),
	})
	out, err := client.DescribeLoadBalancers(context.Background(), &elb.DescribeLoadBalancersInput{
		LoadBalancerNames: []string{demo.ClassicELB},
	})
	if err != nil {
		panic(err)
	}
	for _, l := range out.LoadBalancerDescriptions[0].ListenerDescriptions {
		fmt.Println(aws.ToString(l.Listener.Protocol), l.Listener.LoadBalancerPort)
	}
	fmt.Println("calls:", srv.Calls("elb:DescribeLoadBalancers"), "mutating:", srv.MutatingCalls())
	// Output:
	// HTTP 80
	// HTTPS 443
	// calls: 1 mutating: 0
}
