package clidocs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func testApp() *cli.App {
	return &cli.App{
		Name:        "prog",
		Usage:       "do things",
		UsageText:   "prog [--out-dir D] FILE\n.prog list FILE",
		Description: "Reads FILE.\n\nExit codes: 0 ok, 1 error.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out-dir", Value: ".", Usage: "write into `DIR`"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "say nothing [really]"},
			&cli.StringFlag{Name: "secret", Hidden: true, Usage: "hidden"},
		},
		Commands: []*cli.Command{
			{Name: "list", Usage: "list: the entries", ArgsUsage: "FILE", Flags: []cli.Flag{
				&cli.StringSliceFlag{Name: "alias", Usage: "only entry `A`; repeatable"},
				&cli.BoolFlag{Name: "json", Usage: "as JSON"},
			}},
			{Name: "internal", Hidden: true, Usage: "not for people"},
		},
	}
}

func TestPlaceholder(t *testing.T) {
	for _, tc := range []struct{ in, text, arg string }{
		{"write into `DIR`", "write into DIR", "DIR"},
		{"no placeholder", "no placeholder", ""},
		{"one `backquote", "one `backquote", ""},
		{"`FILE` first, `SECOND` ignored", "FILE first, `SECOND` ignored", "FILE"},
	} {
		text, arg := placeholder(tc.in)
		if text != tc.text || arg != tc.arg {
			t.Errorf("placeholder(%q) = %q, %q; want %q, %q", tc.in, text, arg, tc.text, tc.arg)
		}
	}
}

func TestCommands(t *testing.T) {
	cmds := Commands(testApp())
	if len(cmds) != 2 || cmds[0].Name != "" || cmds[1].Name != "list" {
		t.Fatalf("commands: %+v", cmds)
	}
	root := cmds[0].Flags
	if len(root) != 2 || root[0].Name != "out-dir" || root[0].Arg != "DIR" || root[0].Default != "." ||
		root[1].Name != "quiet" || root[1].Arg != "" || strings.Join(root[1].Spelling(), ",") != "--quiet,-q" {
		t.Errorf("root flags (the hidden one left out): %+v", root)
	}
	if f := cmds[1].Flags[0]; f.Name != "alias" || !f.Repeat || f.Arg != "A" {
		t.Errorf("list --alias: %+v", f)
	}
}

func TestMan(t *testing.T) {
	man := Man(testApp(), "other")
	for _, want := range []string{
		".TH PROG 1 ", "prog \\- do things\n", "\\&.prog list FILE\n", // a leading dot is not a request
		".SH OPTIONS\n.TP\n\\fB\\-\\-out\\-dir\\fR \\fIDIR\\fR\nwrite into DIR (default: .)\n",
		"\\fB\\-\\-quiet\\fR, \\fB\\-q\\fR\n", `.SS "prog list FILE"`, "may be given more than once",
		".PP\nExit codes: 0 ok, 1 error.\n", ".SH SEE ALSO\n\\fBother\\fR(1)\n",
	} {
		if !strings.Contains(man, want) {
			t.Errorf("man page lacks %q:\n%s", want, man)
		}
	}
	if strings.Contains(man, "secret") || strings.Contains(man, "internal") {
		t.Errorf("hidden flag or command documented:\n%s", man)
	}
	if _, err := exec.LookPath("groff"); err == nil {
		cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-z")
		cmd.Stdin = strings.NewReader(man)
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("groff warns: %v\n%s", err, out)
		}
	}
}

// TestBashCompletes runs the generated script in bash as the shell would.
func TestBashCompletes(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "prog.bash")
	if err := os.WriteFile(script, []byte(Bash(testApp())), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "store.jks"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		words string
		want  string
	}{
		{"prog li", "list"},
		{"prog -", "--out-dir --quiet -q --help"},
		{"prog --", "--out-dir --quiet --help"},
		{"prog list --", "--alias --json --help"},
		{"prog list store.jks --j", "--json"}, // flags after the argument too
		{"prog --out-dir st", "store.jks"},
		{"prog list st", "store.jks"},
	} {
		cmd := exec.Command("bash", "-c", `source "$1"; read -ra COMP_WORDS <<<"$2"; [[ $2 == *" " ]] && COMP_WORDS+=(""); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _prog; echo "${COMPREPLY[*]}"`, "bash", script, tc.words)
		cmd.Dir = dir
		out, err := cmd.Output()
		if got := strings.TrimSpace(string(out)); err != nil || got != tc.want {
			t.Errorf("%q: completes to %q (%v), want %q", tc.words, got, err, tc.want)
		}
	}
}

// TestZshScript checks the zsh script parses, where zsh is installed.
func TestZshScript(t *testing.T) {
	zsh := Zsh(testApp())
	for _, want := range []string{"#compdef prog\n", "'list:list - the entries'", "'*--alias[only entry A]:A:_files'", "'--quiet[say nothing (really)]'", "'-q[say nothing (really)]'"} {
		if !strings.Contains(zsh, want) {
			t.Errorf("zsh script lacks %q:\n%s", want, zsh)
		}
	}
	if _, err := exec.LookPath("zsh"); err != nil {
		t.Skip("no zsh to parse the script")
	}
	cmd := exec.Command("zsh", "-n")
	cmd.Stdin = strings.NewReader(zsh)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("zsh -n: %v\n%s", err, out)
	}
}

// TestNotInThePrograms: the programs as make build builds them do not link this
// package; only the generator build (-tags gendocs) does.
func TestNotInThePrograms(t *testing.T) {
	const self = "github.com/keybridge/keybridge/internal/clidocs"
	progs := []string{"github.com/keybridge/keybridge/cmd/certup", "github.com/keybridge/keybridge/cmd/jks2pem", "github.com/keybridge/keybridge/cmd/jksproxy"}
	for _, tags := range []string{"urfave_cli_no_docs", "gendocs"} {
		out, err := exec.Command("go", append([]string{"list", "-deps", "-tags", tags}, progs...)...).Output()
		if err != nil {
			t.Fatalf("go list: %v", err)
		}
		linked := strings.Contains("\n"+string(out), "\n"+self+"\n")
		if linked != (tags == "gendocs") {
			t.Errorf("-tags %s: clidocs linked: %v", tags, linked)
		}
	}
}
