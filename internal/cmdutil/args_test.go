package cmdutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestInterspersed(t *testing.T) {
	app := &cli.App{
		Name: "prog",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out-dir", Aliases: []string{"o"}},
			&cli.BoolFlag{Name: "force"},
		},
		Commands: []*cli.Command{
			{Name: "list", Flags: []cli.Flag{&cli.BoolFlag{Name: "json"}, &cli.StringFlag{Name: "alias"}}},
			{Name: "key", Subcommands: []*cli.Command{
				{Name: "show", Flags: []cli.Flag{&cli.StringFlag{Name: "format"}}},
			}},
			{Name: "plain"},
		},
	}
	tests := []struct{ in, want string }{
		{"prog ks.jks --out-dir c", "prog --out-dir c -- ks.jks"},
		{"prog --force ks.jks -o c", "prog --force -o c -- ks.jks"},
		{"prog ks.jks --out-dir=c --force", "prog --out-dir=c --force -- ks.jks"},
		{"prog --out-dir c ks.jks", "prog --out-dir c -- ks.jks"},
		{"prog list ks.jks --json --alias a", "prog list --json --alias a -- ks.jks"},
		{"prog list --alias list ks.jks", "prog list --alias list -- ks.jks"},
		{"prog key show k1 --format pem", "prog key show --format pem -- k1"},
		{"prog ks.jks -- --odd.jks", "prog -- ks.jks --odd.jks"},
		{"prog a.jks list", "prog -- a.jks list"},
		{"prog plain x --y", "prog plain x --y"},
		{"prog", "prog"},
		{"prog --force", "prog --force"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := strings.Join(Interspersed(app, strings.Fields(tt.in)), " "); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestRunTakesFlagsAfterPositional(t *testing.T) {
	var got []string
	var outDir string
	app := &cli.App{Name: "prog", Writer: &strings.Builder{}, ErrWriter: &strings.Builder{},
		Flags: []cli.Flag{&cli.StringFlag{Name: "out-dir"}},
		Action: func(c *cli.Context) error {
			got, outDir = c.Args().Slice(), c.String("out-dir")
			return nil
		}}
	if code := Run(app, []string{"prog", "ks.jks", "--out-dir", "c"}); code != 0 || strings.Join(got, ",") != "ks.jks" || outDir != "c" {
		t.Errorf("exit %d, args %v, out-dir %q", code, got, outDir)
	}
}

func TestPrepareDir(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "a", "b")
	undo, err := PrepareDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(base, "a"), dir} {
		if st, err := os.Stat(d); err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v %v, want a 0700 directory", d, st, err)
		}
	}
	undo()
	if _, err := os.Stat(filepath.Join(base, "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("undo left %s: %v", filepath.Join(base, "a"), err)
	}
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := PrepareDir(file); !errors.Is(err, ErrNotDir) {
		t.Errorf("a file: %v", err)
	}
	undo, err = PrepareDir(base)
	if err != nil {
		t.Fatal(err)
	}
	undo()
	if _, err := os.Stat(base); err != nil {
		t.Error("undo removed a directory that existed")
	}
}
