package clidocs

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// Bash returns a bash completion script for app: subcommand names, each
// command's flags, file names for a flag's value and for arguments. Flags are
// completed before and after the positional argument alike, as the programs
// take them.
func Bash(app *cli.App) string {
	cmds := Commands(app)
	fn := "_" + ident(app.Name)
	var b strings.Builder
	fmt.Fprintf(&b, "# bash completion for %s, generated from its flag definitions (make docs).\n", app.Name)
	fmt.Fprintf(&b, "%s() {\n", fn)
	b.WriteString("\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} cmd= i\n")
	var names []string
	for _, c := range cmds[1:] {
		names = append(names, c.Name)
	}
	if len(names) > 0 {
		b.WriteString("\tfor ((i = 1; i < COMP_CWORD; i++)); do\n")
		fmt.Fprintf(&b, "\t\tcase ${COMP_WORDS[i]} in %s) cmd=${COMP_WORDS[i]}; break ;; esac\n", strings.Join(names, " | "))
		b.WriteString("\tdone\n")
	}
	b.WriteString("\tlocal flags valued\n\tcase $cmd in\n")
	for _, c := range cmds {
		var all, valued []string
		for _, f := range c.Flags {
			all = append(all, f.Spelling()...)
			if f.Arg != "" {
				valued = append(valued, f.Spelling()...)
			}
		}
		all = append(all, "--help")
		label := c.Name
		if label == "" {
			label = `""`
		}
		fmt.Fprintf(&b, "\t%s) flags=%q valued=%q ;;\n", label, strings.Join(all, " "), " "+strings.Join(valued, " ")+" ")
	}
	b.WriteString("\tesac\n")
	b.WriteString("\tif [[ $valued == *\" $prev \"* ]]; then\n\t\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n\t\treturn\n\tfi\n")
	b.WriteString("\tif [[ $cur == -* ]]; then\n\t\tCOMPREPLY=($(compgen -W \"$flags\" -- \"$cur\"))\n\t\treturn\n\tfi\n")
	if len(names) > 0 {
		fmt.Fprintf(&b, "\tif [[ -z $cmd ]]; then\n\t\tCOMPREPLY=($(compgen -W %q -- \"$cur\") $(compgen -f -- \"$cur\"))\n\t\treturn\n\tfi\n", strings.Join(names, " "))
	}
	b.WriteString("\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n}\n")
	fmt.Fprintf(&b, "complete -o filenames -F %s %s\n", fn, app.Name)
	return b.String()
}

// Zsh returns a zsh completion script (#compdef) for app: subcommands with
// their usage, each command's flags with their usage, files for values and
// arguments.
func Zsh(app *cli.App) string {
	cmds := Commands(app)
	fn := "_" + ident(app.Name)
	var b strings.Builder
	fmt.Fprintf(&b, "#compdef %s\n# zsh completion for %s, generated from its flag definitions (make docs).\n", app.Name, app.Name)
	fmt.Fprintf(&b, "%s() {\n", fn)
	b.WriteString("\tlocal -a commands\n\tcommands=(\n")
	for _, c := range cmds[1:] {
		fmt.Fprintf(&b, "\t\t%s\n", zshQuote(c.Name+":"+zshText(c.Usage)))
	}
	b.WriteString("\t)\n")
	b.WriteString("\tlocal cmd=${words[2]}\n\tif (( CURRENT > 2 )) && (( ${commands[(I)${cmd}:*]} )); then\n")
	b.WriteString("\t\tshift words\n\t\t(( CURRENT-- ))\n\telse\n\t\tcmd=\n\tfi\n")
	b.WriteString("\tcase $cmd in\n")
	for _, c := range cmds {
		label := c.Name
		if label == "" {
			label = `""`
		}
		fmt.Fprintf(&b, "\t%s)\n\t\t_arguments -s \\\n", label)
		for _, f := range c.Flags {
			for _, s := range f.Spelling() {
				spec := s
				if f.Repeat {
					spec = "*" + spec
				}
				spec += "[" + zshText(f.Usage) + "]"
				if f.Arg != "" {
					spec += ":" + zshText(f.Arg) + ":_files"
				}
				fmt.Fprintf(&b, "\t\t\t%s \\\n", zshQuote(spec))
			}
		}
		if c.Name == "" && len(cmds) > 1 {
			b.WriteString("\t\t\t'1: :{_describe command commands; _files}' \\\n")
		}
		b.WriteString("\t\t\t'*:file:_files'\n\t\t;;\n")
	}
	b.WriteString("\tesac\n}\n")
	fmt.Fprintf(&b, "%s \"$@\"\n", fn)
	return b.String()
}

// zshText makes usage text safe inside an _arguments description: no brackets,
// colons or newlines, first sentence only.
func zshText(s string) string {
	if i := strings.Index(s, "; "); i > 0 {
		s = s[:i]
	}
	r := strings.NewReplacer("[", "(", "]", ")", ":", " -", "\n", " ", "\\", "/")
	return r.Replace(s)
}

func zshQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func ident(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, name)
}
