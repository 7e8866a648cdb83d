package cmdutil

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// Interspersed lets flags stand before or after the positional arguments of every
// program and subcommand ("jks2pem wso2carbon.jks --out-dir c", "certup upload
// KEYSTORE --name N"): urfave/cli's flag parser stops at the first positional
// argument, so the arguments of each level (the program, then the subcommand named by
// the first positional argument, and so on) are reordered as flags first, then "--",
// then the positional arguments in their order. Arguments after a "--" stay
// positional. Run applies it.
func Interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	return append([]string{args[0]}, reorder(app.Flags, app.Commands, args[1:])...)
}

func reorder(flags []cli.Flag, commands []*cli.Command, args []string) []string {
	takesValue := map[string]bool{}
	for _, f := range flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	var lead, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			positional = append(positional, args[i+1:]...)
			i = len(args)
		case len(a) > 1 && a[0] == '-':
			lead = append(lead, a)
			name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if !hasValue && takesValue[name] && i+1 < len(args) {
				lead = append(lead, args[i+1])
				i++
			}
		case len(positional) == 0:
			if cmd := findCommand(commands, a); cmd != nil {
				// Flags of this level, then the subcommand with its own arguments.
				sub := reorder(cmd.Flags, cmd.Subcommands, args[i+1:])
				return append(append(lead, a), sub...)
			}
			positional = append(positional, a)
		default:
			positional = append(positional, a)
		}
	}
	if len(flags) == 0 {
		// A level without flags of its own (certup's top) keeps its arguments as
		// given, so an unknown command is reported as one, not as an unknown flag.
		return args
	}
	if len(positional) > 0 {
		lead = append(append(lead, "--"), positional...)
	}
	return lead
}

func findCommand(commands []*cli.Command, name string) *cli.Command {
	for _, c := range commands {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
