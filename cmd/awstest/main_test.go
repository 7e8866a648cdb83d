package main_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"

	"github.com/keybridge/keybridge/internal/testkit"
)

func TestRunByHand(t *testing.T) {
	bin := buildAwstest(t)
	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--seed", "demo", "--region", "eu-west-1", "--hosted-zone", "example.test")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	lines := map[string]string{}
	sc := bufio.NewScanner(stdout)
	var url string
	for sc.Scan() {
		line := sc.Text()
		if url == "" {
			url = line
			continue
		}
		k, v, _ := strings.Cut(line, " ")
		lines[k] = v
		if k == "placeholder-certificate" {
			break
		}
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") || lines["elb"] != "wso2-elb" || !strings.Contains(lines["listener"], ":listener/app/wso2-alb/") ||
		!strings.HasPrefix(lines["dns"], "127.0.0.1:") || !strings.HasPrefix(lines["hosted-zone"], "example.test Z") {
		t.Fatalf("output: url %q, %v", url, lines)
	}
	client := elbv2.NewFromConfig(aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "dummy", "")})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := client.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{lines["listener"]}})
	if err != nil || len(out.Listeners) != 1 || aws.ToInt32(out.Listeners[0].Port) != 443 {
		t.Fatalf("DescribeListeners = %+v, %v", out, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitClean(t, cmd)
}

// TestStopAtOnce: a script that stops the server as soon as it has read the
// address (while the demo is still being seeded) gets a clean exit.
func TestStopAtOnce(t *testing.T) {
	bin := buildAwstest(t)
	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--seed", "demo")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if !bufio.NewScanner(stdout).Scan() {
		t.Fatal("no address printed")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitClean(t, cmd)
}

func TestUsage(t *testing.T) {
	r := testkit.RunProgram(t, buildAwstest(t), nil, "--seed", "prod")
	if r.Code != 2 {
		t.Errorf("--seed prod: %s\nwant exit 2", r)
	}
}

func buildAwstest(t *testing.T) string { return testkit.Build(t, "awstest", "") }

// waitClean waits for cmd, which was sent SIGTERM, to exit with status 0.
func waitClean(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("awstest did not stop on SIGTERM")
	}
}
