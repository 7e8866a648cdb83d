//go:build gendocs

package cmdutil

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/keybridge/keybridge/internal/clidocs"
)

// Built with -tags gendocs (make docs), a program answers
// `PROG gendocs man|bash|zsh|flags` with its man page, its completion scripts or
// its commands and flags as JSON, made from the cli.App it runs with. The
// programs as installed are built without the tag and carry none of this.
func init() { generateDocs = writeDocs }

// programs are keybridge's programs, for SEE ALSO.
var programs = []string{"certup", "jks2pem", "jksproxy"}

func writeDocs(app *cli.App, args []string) (bool, int) {
	if len(args) != 3 || args[1] != "gendocs" {
		return false, 0
	}
	var out string
	switch args[2] {
	case "man":
		var others []string
		for _, p := range programs {
			if p != app.Name {
				others = append(others, p)
			}
		}
		out = clidocs.Man(app, others...)
	case "bash":
		out = clidocs.Bash(app)
	case "zsh":
		out = clidocs.Zsh(app)
	case "flags":
		b, err := json.MarshalIndent(clidocs.Commands(app), "", "  ")
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: error: %v\n", app.Name, err)
			return true, ExitError
		}
		out = string(b) + "\n"
	default:
		fmt.Fprintf(os.Stderr, "%s: error: gendocs %q: want man, bash, zsh or flags\n", app.Name, args[2])
		return true, ExitUsage
	}
	if _, err := os.Stdout.WriteString(out); err != nil {
		fmt.Fprintf(os.Stderr, "%s: error: %v\n", app.Name, err)
		return true, ExitError
	}
	return true, ExitOK
}
