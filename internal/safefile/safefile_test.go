package safefile

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestWriteNewAndExisting(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ks.p12")
	if err := Write(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("new file mode %o, want 0600", st.Mode().Perm())
	}
	os.Chmod(p, 0o640)
	if err := Write(p, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o640 {
		t.Errorf("replaced file mode %o, want the old 0640", st.Mode().Perm())
	}
	if b, _ := os.ReadFile(p); string(b) != "two" {
		t.Errorf("content %q", b)
	}
	// A dangling link creates the file it names.
	link := filepath.Join(dir, "link.jks")
	os.Symlink("target.jks", link)
	if err := Write(link, []byte("three"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "target.jks")); err != nil || string(b) != "three" {
		t.Errorf("link target: %q %v", b, err)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&fs.ModeSymlink == 0 {
		t.Error("the link was replaced by a file")
	}
	if err := Write(dir, []byte("x"), 0o600); err == nil {
		t.Error("a directory was replaced")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Errorf("directory holds %v", entries)
	}
}

// TestWriteRefusesToGiveAway runs this test binary as another user on a file it may
// write but does not own: Write must refuse (ErrOwner) and leave the file as it was,
// instead of replacing it with a file of the wrong owner.
func TestWriteRefusesToGiveAway(t *testing.T) {
	if path := os.Getenv("SAFEFILE_CHILD"); path != "" {
		err := Write(path, []byte("changed"), 0o600)
		if !errors.Is(err, ErrOwner) {
			t.Fatalf("Write as uid %d: %v, want ErrOwner", os.Getuid(), err)
		}
		return
	}
	if os.Getuid() != 0 {
		t.Skip("skipping: needs root to run as another user")
	}
	dir, err := os.MkdirTemp("", "safefile-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o777)
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "safefile.test")
	os.WriteFile(bin, self, 0o755)
	target := filepath.Join(dir, "wso2carbon.jks")
	os.WriteFile(target, []byte("original"), 0o666)
	os.Chown(target, 4321, 8765)
	cmd := exec.Command(bin, "-test.run=^TestWriteRefusesToGiveAway$", "-test.v")
	cmd.Env = []string{"SAFEFILE_CHILD=" + target}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1234, Gid: 1234}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestWriteRefusesToGiveAway") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(target); string(b) != "original" {
		t.Errorf("the file became %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("directory holds %v", entries)
	}
}
