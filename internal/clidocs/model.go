package clidocs

import (
	"sort"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
)

// Command is one command of a program as the documents show it: the program
// itself (Name "") or one of its visible subcommands.
type Command struct {
	Name        string `json:"name"`
	Usage       string `json:"usage"`
	ArgsUsage   string `json:"args_usage,omitempty"`
	Description string `json:"description,omitempty"`
	Flags       []Flag `json:"flags"`
}

// Flag is one visible flag.
type Flag struct {
	Name     string   `json:"name"`
	Aliases  []string `json:"aliases,omitempty"`
	Usage    string   `json:"usage"`
	Arg      string   `json:"arg,omitempty"` // the value's placeholder ("FILE"); "" for a switch
	Default  string   `json:"default,omitempty"`
	Repeat   bool     `json:"repeatable,omitempty"`
	Category string   `json:"category,omitempty"`
}

// Commands returns the program (first, Name "") and its visible subcommands,
// each with its visible flags sorted by name. The flags are the ones the
// program parses: nothing is written down twice.
func Commands(app *cli.App) []Command {
	out := []Command{{Usage: app.Usage, Description: app.Description, Flags: flags(app.Flags)}}
	for _, c := range app.Commands {
		if c.Hidden {
			continue
		}
		out = append(out, Command{Name: c.Name, Usage: c.Usage, ArgsUsage: strings.TrimSpace(c.ArgsUsage),
			Description: c.Description, Flags: flags(c.Flags)})
	}
	return out
}

func flags(fs []cli.Flag) []Flag {
	var out []Flag
	for _, f := range fs {
		if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
			continue
		}
		names := f.Names()
		fl := Flag{Name: names[0], Aliases: names[1:]}
		if d, ok := f.(cli.DocGenerationFlag); ok {
			fl.Usage, fl.Arg = placeholder(d.GetUsage())
			if d.TakesValue() {
				if fl.Arg == "" {
					fl.Arg = "VALUE"
				}
				fl.Default = d.GetDefaultText()
				if fl.Default == "" {
					fl.Default = d.GetValue()
				}
				if u, err := strconv.Unquote(fl.Default); err == nil {
					fl.Default = u // a string flag's default comes quoted
				}
			}
		}
		if s, ok := f.(cli.DocGenerationSliceFlag); ok && s.IsSliceFlag() {
			fl.Repeat = true
			fl.Default = ""
		}
		if c, ok := f.(cli.CategorizableFlag); ok {
			fl.Category = strings.TrimSuffix(c.GetCategory(), ":")
		}
		out = append(out, fl)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// placeholder splits urfave/cli's usage convention: the word in backquotes is
// the value's placeholder ("read the password from `FILE`" -> FILE).
func placeholder(usage string) (text, arg string) {
	i := strings.IndexByte(usage, '`')
	if i < 0 {
		return usage, ""
	}
	j := strings.IndexByte(usage[i+1:], '`')
	if j < 0 {
		return usage, ""
	}
	arg = usage[i+1 : i+1+j]
	return usage[:i] + arg + usage[i+2+j:], arg
}

// Spelling is how the flag is written on the command line: "--name" or "-q".
func (f Flag) Spelling() []string {
	var out []string
	for _, n := range append([]string{f.Name}, f.Aliases...) {
		if len(n) == 1 {
			out = append(out, "-"+n)
		} else {
			out = append(out, "--"+n)
		}
	}
	return out
}
