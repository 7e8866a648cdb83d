package cmdutil

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestWriteFilesAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	files := []File{
		{Path: filepath.Join(dir, "a.key"), Data: []byte("key"), Mode: 0o600},
		{Path: filepath.Join(dir, "missing-dir", "b.crt"), Data: []byte("crt"), Mode: 0o644},
	}
	if err := WriteFiles(files, false); err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind after a failure: %v", entries)
	}
}

func TestWriteFilesModesAndForce(t *testing.T) {
	dir := t.TempDir()
	key, crt := filepath.Join(dir, "a.key"), filepath.Join(dir, "a.crt")
	files := []File{{Path: key, Data: []byte("k1"), Mode: 0o600}, {Path: crt, Data: []byte("c1"), Mode: 0o644}}
	if err := WriteFiles(files, false); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{key: 0o600, crt: 0o644} {
		if st, _ := os.Stat(p); st.Mode().Perm() != want {
			t.Errorf("%s mode %o, want %o", p, st.Mode().Perm(), want)
		}
	}
	files[0].Data, files[1].Data = []byte("k2"), []byte("c2")
	err := WriteFiles(files, false)
	if !errors.Is(err, ErrExists) || !strings.Contains(HintOf(err), "--force") {
		t.Fatalf("existing files without force: %v", err)
	}
	if b, _ := os.ReadFile(key); string(b) != "k1" {
		t.Error("existing file touched")
	}
	if err := WriteFiles(files, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(crt); string(b) != "c2" {
		t.Error("force did not replace")
	}
}

func TestRunExitCodesAndMessages(t *testing.T) {
	cases := []struct {
		action   cli.ActionFunc
		args     []string
		code     int
		contains []string
	}{
		{func(*cli.Context) error { return nil }, nil, 0, nil},
		{func(*cli.Context) error { return Hint(errors.New("x.jks: wrong store password"), "check it") }, nil, 1,
			[]string{"prog: error: x.jks: wrong store password\n", "prog: hint: check it\n"}},
		{func(*cli.Context) error { return UsageError("missing KEYSTORE argument") }, nil, 2, []string{"prog: error: missing KEYSTORE argument"}},
		{func(*cli.Context) error { return nil }, []string{"--nope"}, 2, []string{"flag provided but not defined"}},
		{func(*cli.Context) error { return WithExitCode(errors.New("expires in 3 days"), 1) }, nil, 1, []string{"expires in 3 days"}},
		{func(*cli.Context) error { return Silent(3) }, nil, 3, nil},
		{func(*cli.Context) error { return errors.New("two\nlines") }, nil, 1, []string{"prog: error: two lines\n"}},
	}
	for i, c := range cases {
		var stderr bytes.Buffer
		app := &cli.App{Name: "prog", Action: c.action, ErrWriter: &stderr, Writer: &bytes.Buffer{}}
		code := Run(app, append([]string{"prog"}, c.args...))
		if code != c.code {
			t.Errorf("case %d: exit %d, want %d (stderr %q)", i, code, c.code, stderr.String())
		}
		for _, s := range c.contains {
			if !strings.Contains(stderr.String(), s) {
				t.Errorf("case %d: stderr %q lacks %q", i, stderr.String(), s)
			}
		}
		if c.code == 3 && stderr.Len() != 0 {
			t.Errorf("silent exit printed %q", stderr.String())
		}
	}
}
