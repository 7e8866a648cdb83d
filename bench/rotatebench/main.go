// Command rotatebench measures certup rotate at scale: it starts the local AWS
// endpoint (awstest) in-process with a fixed latency on every call, seeds N
// HTTPS listeners in two regions (half classic ELBs, half ALB listeners, five
// per ALB) serving a placeholder certificate, runs the built certup binary with
// its default --parallel, and prints one markdown table row per run: wall time,
// API calls, calls per listener and mutating calls, from awstest's counters.
//
//	go run ./bench/rotatebench -certup bin/certup [-listeners 200] [-latency 50ms]
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/keybridge/keybridge/awsiam"
	"github.com/keybridge/keybridge/awsiam/awstest"
	"github.com/keybridge/keybridge/keystore"
)

var regions = []string{"eu-west-1", "us-east-1"}

func main() {
	certup := flag.String("certup", "bin/certup", "the certup binary")
	n := flag.Int("listeners", 200, "listeners to rotate (a multiple of 20)")
	latency := flag.Duration("latency", 50*time.Millisecond, "latency added to every AWS call")
	testdata := flag.String("testdata", "testdata", "the project's testdata directory")
	flag.Parse()
	if err := run(*certup, *n, *latency, *testdata); err != nil {
		fmt.Fprintln(os.Stderr, "rotatebench:", err)
		os.Exit(1)
	}
}

type bench struct {
	srv       *awstest.Server
	certup    string
	testdata  string
	env       []string
	listeners []string // --elb/--listener arguments
	n         int
}

func run(certup string, n int, latency time.Duration, testdata string) error {
	if n < 20 || n%20 != 0 {
		return errors.New("-listeners must be a positive multiple of 20")
	}
	srv, err := awstest.New(awstest.Options{MaxServerCertificates: 100})
	if err != nil {
		return err
	}
	defer srv.Close()
	dir, err := os.MkdirTemp("", "rotatebench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		return err
	}
	b := &bench{srv: srv, certup: certup, testdata: testdata, n: n, env: []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir,
		"AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench", "AWS_REGION=" + regions[0],
		"AWS_CONFIG_FILE=" + empty, "AWS_SHARED_CREDENTIALS_FILE=" + empty, "AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL=" + srv.URL(),
	}}
	if err := b.seed(); err != nil {
		return err
	}
	srv.SetLatency("*", latency)

	fmt.Printf("### certup rotate across %d listeners\n\n", n)
	fmt.Printf("awstest in-process with %s latency on every call; %d listeners in %d regions (half classic ELB, half ALB listeners, 5 per ALB), "+
		"the built certup with its default --parallel (%d); calls counted by awstest.\n\n", latency, n, len(regions), awsiam.DefaultParallel)
	fmt.Println("| run | wall time | API calls | calls per listener | mutating calls | exit |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	regionArgs := []string{"--region", regions[0], "--region", regions[1]}
	steps := []struct {
		label string
		args  []string
	}{
		{"rotate to a new certificate (listeners named)", append(append([]string{"rotate", b.ks("rsa2048"), "--storepass-file", b.pass("rsa2048"), "--name-prefix", "site"}, regionArgs...), b.listeners...)},
		{"the same command again (nothing to do)", append(append([]string{"rotate", b.ks("rsa2048"), "--storepass-file", b.pass("rsa2048"), "--name-prefix", "site"}, regionArgs...), b.listeners...)},
		{"rotate again by --replaces (scan the regions)", append([]string{"rotate", b.ks("rsa4096"), "--storepass-file", b.pass("rsa4096"), "--name-prefix", "site",
			"--replaces", "site-" + b.name("rsa2048")}, regionArgs...)},
		{"rollback (listeners named)", append(append([]string{"rollback"}, regionArgs...), b.listeners...)},
		{"prune --keep 0", append([]string{"prune", "--keep", "0"}, regionArgs...)},
	}
	for _, st := range steps {
		if err := b.step(st.label, st.args); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) ks(name string) string   { return filepath.Join(b.testdata, name+".jks") }
func (b *bench) pass(name string) string { return filepath.Join(b.testdata, name+".storepass") }

// name is the date-and-hash part of the name certup derives for a keystore.
func (b *bench) name(ks string) string {
	kp, err := b.load(ks)
	if err != nil {
		return ""
	}
	full := awsiam.DefaultName(kp.Leaf, "x")
	return strings.TrimPrefix(full, "x-")
}

func (b *bench) load(name string) (*keystore.KeyPair, error) {
	pass, err := os.ReadFile(b.pass(name))
	if err != nil {
		return nil, err
	}
	return keystore.LoadKeyPair(b.ks(name), "", bytes.TrimRight(pass, "\r\n"), nil)
}

func (b *bench) seed() error {
	kp, err := b.load("ec256")
	if err != nil {
		return err
	}
	key, err := kp.KeyPEM(keystore.KeyFormatDefault)
	if err != nil {
		return err
	}
	ph, err := b.srv.UploadServerCertificate("placeholder", "/", string(kp.CertPEM()), string(key), "")
	if err != nil {
		return err
	}
	per := b.n / len(regions)
	for _, reg := range regions {
		for i := 0; i < per/2; i++ {
			name := fmt.Sprintf("web-%03d", i)
			if reg == regions[0] {
				// Classic names are looked for in every region: one name per ELB.
				b.listeners = append(b.listeners, "--elb", name)
			}
			if err := b.srv.AddClassicELB(reg, name, awstest.ClassicListener{Protocol: "HTTPS", Port: 443, InstancePort: 9443, CertificateARN: ph}); err != nil {
				return err
			}
		}
		for a := 0; a < per/2/5; a++ {
			alb := b.srv.AddALB(reg, fmt.Sprintf("alb-%02d", a))
			for p := 0; p < 5; p++ {
				ln, err := b.srv.AddListener(reg, alb, awstest.Listener{Protocol: "HTTPS", Port: 8440 + p, CertificateARN: ph})
				if err != nil {
					return err
				}
				b.listeners = append(b.listeners, "--listener", ln)
			}
		}
	}
	return nil
}

func (b *bench) step(label string, args []string) error {
	b.srv.ResetCalls()
	cmd := exec.Command(b.certup, args...)
	cmd.Env = b.env
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = nil, &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		return err
	}
	if code != 0 && code != 10 {
		return fmt.Errorf("%s: exit %d\n%s", label, code, stderr.String())
	}
	calls := b.srv.Calls("*")
	fmt.Printf("| %s | %.2f s | %d | %.2f | %d | %d |\n", label, wall.Seconds(), calls, float64(calls)/float64(b.n), b.srv.MutatingCalls(), code)
	return nil
}
