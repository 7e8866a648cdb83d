package clidocs

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// Man returns app's manual page in section 1, in roff (man(7)), with see the
// other programs of the suite under SEE ALSO.
func Man(app *cli.App, seeAlso ...string) string {
	var b strings.Builder
	cmds := Commands(app)
	root := cmds[0]
	fmt.Fprintf(&b, ".TH %s 1 \"\" \"keybridge\" \"User Commands\"\n", strings.ToUpper(app.Name))
	b.WriteString(".SH NAME\n")
	fmt.Fprintf(&b, "%s \\- %s\n", app.Name, roff(root.Usage))
	b.WriteString(".SH SYNOPSIS\n.nf\n")
	synopsis := app.UsageText
	if synopsis == "" {
		synopsis = app.Name + " [options]"
	}
	for _, l := range strings.Split(synopsis, "\n") {
		b.WriteString(roffLine(l) + "\n")
	}
	b.WriteString(".fi\n")
	if root.Description != "" {
		b.WriteString(".SH DESCRIPTION\n")
		paragraphs(&b, root.Description)
	}
	if len(root.Flags) > 0 {
		b.WriteString(".SH OPTIONS\n")
		flagList(&b, root.Flags)
	}
	if len(cmds) > 1 {
		b.WriteString(".SH COMMANDS\n")
		for _, c := range cmds[1:] {
			head := app.Name + " " + c.Name
			if c.ArgsUsage != "" {
				head += " " + c.ArgsUsage
			}
			fmt.Fprintf(&b, ".SS \"%s\"\n", roff(head))
			paragraphs(&b, c.Usage)
			if c.Description != "" {
				paragraphs(&b, c.Description)
			}
			flagList(&b, c.Flags)
		}
	}
	if len(seeAlso) > 0 {
		b.WriteString(".SH SEE ALSO\n")
		var refs []string
		for _, s := range seeAlso {
			refs = append(refs, "\\fB"+roff(s)+"\\fR(1)")
		}
		b.WriteString(strings.Join(refs, ", ") + "\n")
	}
	return b.String()
}

// flagList writes flags as a tagged list: the spelling and placeholder, then the
// usage with the default and whether it repeats.
func flagList(b *strings.Builder, fs []Flag) {
	for _, f := range fs {
		var tag []string
		for _, s := range f.Spelling() {
			tag = append(tag, `\fB`+roff(s)+`\fR`)
		}
		head := strings.Join(tag, ", ")
		if f.Arg != "" {
			head += ` \fI` + roff(f.Arg) + `\fR`
		}
		fmt.Fprintf(b, ".TP\n%s\n", head)
		text := f.Usage
		var notes []string
		if f.Default != "" {
			notes = append(notes, "default: "+f.Default)
		}
		if f.Repeat {
			notes = append(notes, "may be given more than once")
		}
		if len(notes) > 0 {
			text += " (" + strings.Join(notes, "; ") + ")"
		}
		b.WriteString(roffLine(text) + "\n")
	}
}

// paragraphs writes text, whose lines are already wrapped, as one filled
// paragraph; blank lines start new ones.
func paragraphs(b *strings.Builder, text string) {
	b.WriteString(".PP\n")
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		if strings.TrimSpace(l) == "" {
			b.WriteString(".PP\n")
			continue
		}
		b.WriteString(roffLine(l) + "\n")
	}
}

// roff escapes text for use inside a roff line.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	return strings.ReplaceAll(s, "-", `\-`)
}

// roffLine escapes a whole line: also a leading dot or quote, which roff would
// take for a request.
func roffLine(s string) string {
	s = roff(strings.TrimRight(s, " "))
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
