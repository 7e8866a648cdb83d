package testkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// RunTimeout bounds one RunProgram: a program still running then is killed and
// the test fails.
const RunTimeout = 2 * time.Minute

// Run is one finished run of a program.
type Run struct {
	Stdout, Stderr string
	Code           int
}

func (r Run) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// RunProgram runs the program bin with args as a user would, with exactly the
// environment env (nil: PATH and a HOME of the test's own), no input, and
// returns what it printed and its exit code. It fails the test when the program
// cannot be started or runs longer than RunTimeout. The end-to-end tests of
// every program run theirs through it.
func RunProgram(t testing.TB, bin string, env []string, args ...string) Run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), RunTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = 5 * time.Second
	if env == nil {
		env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	}
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := Run{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %q: still running after %s, killed\n%s", bin, args, RunTimeout, r)
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running %s: %v", bin, err)
	}
	return r
}
