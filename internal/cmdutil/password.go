package cmdutil

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/keybridge/keybridge/keystore"
)

// EnvStorePassword is read when no password flag is given.
const EnvStorePassword = "KEYSTORE_PASSWORD"

// PasswordFlags returns the password flags every keybridge program takes.
func PasswordFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "storepass-file", Usage: "read the store password from `FILE` (first line)", Category: "Passwords:"},
		&cli.StringFlag{Name: "storepass-env", Usage: "read the store password from environment variable `VAR` (default " + EnvStorePassword + ")", Category: "Passwords:"},
		&cli.StringFlag{Name: "storepass", Usage: "UNSAFE: the store password on the command line, visible to every user in the process list; use --storepass-file or " + EnvStorePassword, Category: "Passwords:"},
		&cli.StringFlag{Name: "keypass-file", Usage: "read the key password from `FILE` (default: the store password)", Category: "Passwords:"},
		&cli.StringFlag{Name: "keypass-env", Usage: "read the key password from environment variable `VAR`", Category: "Passwords:"},
		&cli.StringFlag{Name: "keypass", Usage: "UNSAFE: the key password on the command line; use --keypass-file", Category: "Passwords:"},
	}
}

// StorePassword finds the store password: --storepass-file, --storepass-env,
// --storepass, $KEYSTORE_PASSWORD, else a prompt without echo when stdin is a terminal.
func StorePassword(c *cli.Context) ([]byte, error) {
	p, ok, err := fromFlags(c, "storepass")
	if err != nil || ok {
		return p, err
	}
	if v, set := os.LookupEnv(EnvStorePassword); set {
		return []byte(v), nil
	}
	if term.IsTerminal(int(os.Stdin.Fd())) {
		return prompt("Keystore password: ")
	}
	return nil, Hint(errors.New("no store password given and stdin is not a terminal"),
		"pass it with --storepass-file FILE, --storepass-env VAR or the "+EnvStorePassword+" environment variable")
}

// StorePasswordFor is StorePassword for the keystore at path, except that a file that
// needs no password (a PEM bundle without an encrypted key, a DER certificate), is not
// a keystore or cannot be read gets none unless one is given: nobody is asked for a
// password that protects nothing, and reading the file says what is wrong with it.
func StorePasswordFor(c *cli.Context, path string) ([]byte, error) {
	if p, ok, err := fromFlags(c, "storepass"); err != nil || ok {
		return p, err
	}
	if _, set := os.LookupEnv(EnvStorePassword); !set {
		if head, err := readHead(path); err != nil || !keystore.NeedsPassword(head) {
			return nil, nil
		}
	}
	return StorePassword(c)
}

func readHead(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	n, err := io.ReadFull(f, buf)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = nil
	}
	return buf[:n], err
}

// KeyPassword finds the key password from the --keypass-* flags; without them it is
// nil, which the keystore package reads as "the store password".
func KeyPassword(c *cli.Context) ([]byte, error) {
	p, ok, err := fromFlags(c, "keypass")
	if err != nil || !ok {
		return nil, err
	}
	return p, nil
}

func fromFlags(c *cli.Context, name string) ([]byte, bool, error) {
	if f := c.String(name + "-file"); f != "" {
		p, err := keystore.ReadPasswordFile(f)
		return p, err == nil, err
	}
	if v := c.String(name + "-env"); v != "" {
		p, set := os.LookupEnv(v)
		if !set {
			return nil, false, Hint(fmt.Errorf("--%s-env: environment variable %s is not set", name, v), "export "+v+" before running, or use --"+name+"-file")
		}
		return []byte(p), true, nil
	}
	if c.IsSet(name) {
		return []byte(c.String(name)), true, nil
	}
	return nil, false, nil
}

func prompt(label string) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("opening terminal for the password prompt: %w", err)
	}
	defer tty.Close()
	fmt.Fprint(tty, label)
	p, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return nil, fmt.Errorf("reading password: %w", err)
	}
	return []byte(strings.TrimRight(string(p), "\r\n")), nil
}
