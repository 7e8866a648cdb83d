package testkit

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keybridge/keybridge/internal/clidocs"
)

// Build builds the main package in the working directory with the build tags
// given into a directory the test removes, and returns the program's path.
func Build(t testing.TB, name, tags string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	if err := build(bin, tags); err != nil {
		t.Fatal(err)
	}
	return bin
}

// build builds the main package in the working directory into bin.
func build(bin, tags string) error {
	if out, err := exec.Command("go", "build", "-tags", tags, "-o", bin, ".").CombinedOutput(); err != nil {
		return fmt.Errorf("go build -tags %q: %v\n%s", tags, err, out)
	}
	return nil
}

// CheckDocumented fails the test for every visible flag of the program at bin
// that has no usage text, or that its --help (the program's and every
// subcommand's), its man page or its bash and zsh completion leave out. The
// commands and flags, the man page and the completion scripts come from the
// program's generator build (-tags gendocs, as make docs runs it): the same
// flag definitions.
func CheckDocumented(t *testing.T, bin string) {
	t.Helper()
	name := filepath.Base(bin)
	gen := Build(t, name, "gendocs")
	docs := func(what string) string {
		out, err := exec.Command(gen, "gendocs", what).Output()
		if err != nil {
			t.Fatalf("%s gendocs %s: %v", name, what, err)
		}
		return string(out)
	}
	var cmds []clidocs.Command
	if err := json.Unmarshal([]byte(docs("flags")), &cmds); err != nil || len(cmds) == 0 {
		t.Fatalf("%s gendocs flags: %v", name, err)
	}
	man, bash, zsh := docs("man"), docs("bash"), docs("zsh")
	flags := 0
	for _, c := range cmds {
		args := []string{"--help"}
		section := manSection(man, ".SH OPTIONS")
		if c.Name != "" {
			args = []string{c.Name, "--help"}
			section = manSection(man, `.SS "`+name+" "+c.Name)
			if c.Usage == "" {
				t.Errorf("%s %s: command without usage text", name, c.Name)
			}
		}
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
		}
		help := string(out)
		if section == "" && len(c.Flags) > 0 {
			t.Errorf("%s man page: no section for %q", name, c.Name)
		}
		for _, f := range c.Flags {
			flags++
			where := strings.Join(strings.Fields(name+" "+c.Name+" "+f.Spelling()[0]), " ")
			if strings.TrimSpace(f.Usage) == "" {
				t.Errorf("%s: no usage text", where)
			}
			for _, s := range f.Spelling() {
				if !mentions(help, s) {
					t.Errorf("%s: %s --help does not show %s", where, strings.Join(args[:len(args)-1], " "), s)
				}
				if !strings.Contains(section, `\fB`+strings.ReplaceAll(s, "-", `\-`)+`\fR`) {
					t.Errorf("%s: the man page does not document %s", where, s)
				}
				if !mentions(bash, s) || !mentions(zsh, s) {
					t.Errorf("%s: the completion scripts do not offer %s", where, s)
				}
			}
		}
	}
	if flags == 0 {
		t.Errorf("%s: no flag at all", name)
	}
}

// manSection is the part of a roff page from the line starting with head to the
// next section or subsection.
func manSection(man, head string) string {
	i := strings.Index(man, "\n"+head)
	if i < 0 {
		return ""
	}
	rest := man[i+1:]
	end := len(rest)
	for _, next := range []string{"\n.SH ", "\n.SS "} {
		if j := strings.Index(rest[1:], next); j >= 0 && j+1 < end {
			end = j + 1
		}
	}
	return rest[:end]
}

// mentions reports whether text names the flag spelling s as a whole word.
func mentions(text, s string) bool {
	return regexp.MustCompile(`(^|[\s,'"(\[*])` + regexp.QuoteMeta(s) + `($|[\s,=\[\]'"])`).MatchString(text)
}
