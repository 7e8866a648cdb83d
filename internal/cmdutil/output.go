package cmdutil

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
)

// Exit codes shared by every keybridge program.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// PrintJSON writes v as indented JSON with a final newline.
func PrintJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

// Hint attaches advice to err, printed on its own "prog: hint:" line.
func Hint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &hintError{err: err, hint: hint}
}

// HintOf returns the innermost hint attached to err, if any.
func HintOf(err error) string {
	var h *hintError
	if errors.As(err, &h) {
		return h.hint
	}
	return ""
}

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// UsageError is an error in how the program was called; it exits with ExitUsage.
func UsageError(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// exitCoder lets a command choose its exit code (certup check, rotate).
type exitCoder interface{ ExitCode() int }

type codeError struct {
	err  error
	code int
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }
func (e *codeError) ExitCode() int { return e.code }

// WithExitCode makes err end the program with code.
func WithExitCode(err error, code int) error { return &codeError{err: err, code: code} }

// Silent is an exit code without a message: the command already said what it had to.
func Silent(code int) error { return &codeError{err: errSilent, code: code} }

var errSilent = errors.New("")

// generateDocs, set only in the generator build (gendocs.go), answers
// "PROG gendocs …" with the program's documents.
var generateDocs func(app *cli.App, args []string) (done bool, code int)

// Run runs app with args, flags allowed on either side of positional arguments (see
// Interspersed), and returns the exit code. Errors are printed as one line,
// "prog: error: …", followed by "prog: hint: …" where there is advice.
func Run(app *cli.App, args []string) int {
	if generateDocs != nil {
		if done, code := generateDocs(app, args); done {
			return code
		}
	}
	name := app.Name
	if name == "" && len(args) > 0 {
		name = filepath.Base(args[0])
	}
	stderr := app.ErrWriter
	if stderr == nil {
		stderr = os.Stderr
	}
	app.ExitErrHandler = func(*cli.Context, error) {} // Run decides how to exit
	usage := func(c *cli.Context, err error, _ bool) error { return &usageError{err.Error()} }
	app.OnUsageError = usage
	for _, cmd := range app.Commands {
		setUsageHandler(cmd, usage)
	}
	err := app.Run(Interspersed(app, args))
	if err == nil {
		return ExitOK
	}
	code := ExitError
	var u *usageError
	var own *codeError
	var ec exitCoder
	switch {
	case errors.As(err, &u):
		code = ExitUsage
	case errors.As(err, &own):
		code = own.ExitCode()
	case errors.As(err, &ec):
		// urfave/cli's own exits ("No help topic for …", code 3) are usage errors.
		code = ExitUsage
	case isFlagError(err):
		code = ExitUsage
	}
	if msg := oneLine(err.Error()); msg != "" {
		fmt.Fprintf(stderr, "%s: error: %s\n", name, msg)
	}
	if h := HintOf(err); h != "" {
		fmt.Fprintf(stderr, "%s: hint: %s\n", name, h)
	} else if code == ExitUsage {
		fmt.Fprintf(stderr, "%s: hint: run '%s --help' for usage\n", name, name)
	}
	return code
}

func setUsageHandler(cmd *cli.Command, h cli.OnUsageErrorFunc) {
	cmd.OnUsageError = h
	for _, sub := range cmd.Subcommands {
		setUsageHandler(sub, h)
	}
}

func isFlagError(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "flag provided but not defined") || strings.HasPrefix(s, "Required flag") ||
		strings.HasPrefix(s, "invalid value")
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

// NewLogger returns the logger every program uses: text or JSON on w, debug level
// when asked.
func NewLogger(w io.Writer, debug, asJSON bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if debug {
		opts.Level = slog.LevelDebug
	}
	if asJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
