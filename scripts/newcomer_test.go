// Package scripts_test runs the scripted walks in scripts/.
package scripts_test

import (
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keybridge/keybridge/internal/testkit"
)

// TestNewcomerWalk runs scripts/newcomer.sh: a fresh clone, the README's make
// install, the seed's job on the real WSO2 keystore, make demo.
func TestNewcomerWalk(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the newcomer walk (a clone, builds and make demo) in -short mode")
	}
	testkit.SharedWSO2(t)
	for _, tool := range []string{"git", "make", "openssl", "man", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: the walk needs %s", tool)
		}
	}
	if err := exec.Command("git", "-C", testkit.Root(), "rev-parse", "--git-dir").Run(); err != nil {
		t.Skip("skipping: the repository is not a git checkout")
	}
	// About a minute on an idle 2-core machine; 2.5 under make test beside the
	// other packages. The bound leaves room for a loaded machine.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "newcomer.sh")
	// On timeout, stop the script and everything it started (make, go, the demo's
	// servers): its own process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasSuffix(string(out), "newcomer walk done\n") {
		t.Fatalf("newcomer.sh: %v\n%s", err, out)
	}
	for _, want := range []string{"36 entries", "wrote certs/wso2carbon.key (0600)", "demo done"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the walk's output lacks %q:\n%s", want, out)
		}
	}
}
