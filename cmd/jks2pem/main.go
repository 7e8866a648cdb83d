// Command jks2pem turns a Java keystore (JKS, JCEKS, PKCS#12) or a PEM bundle into the
// unencrypted key, certificate and chain that AWS IAM, ACM and TLS servers take; lists
// keystores; and packs PEM back into a keystore.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/keybridge/keybridge/internal/cmdutil"
)

func main() {
	os.Exit(cmdutil.Run(newApp(), os.Args))
}

func newApp() *cli.App {
	return &cli.App{
		Name:      "jks2pem",
		Usage:     "convert a Java keystore into PEM key, certificate and chain",
		UsageText: "jks2pem [--alias A] [--out-dir D] [--key-format pkcs1|pkcs8] [--force] [--stdout] KEYSTORE\njks2pem list [--json] KEYSTORE\njks2pem pack --key K --cert C [--chain CH] --alias A --out FILE [--type jks|pkcs12]",
		Description: "Reads JKS, JCEKS, PKCS#12 and PEM/DER (format detected from the bytes) and writes\n" +
			"ALIAS.key (0600; RSA as PKCS#1 \"BEGIN RSA PRIVATE KEY\", EC as SEC1), ALIAS.crt,\n" +
			"ALIAS.chain.pem (issuers, root last; only when there are any) and ALIAS.fullchain.pem.\n" +
			"The store password comes from --storepass-file, --storepass-env, $KEYSTORE_PASSWORD\n" +
			"or a prompt. Exit codes: 0 ok, 1 error, 2 usage.",
		HideHelpCommand: true,
		Flags:           convertFlags(),
		Action:          convertAction,
		Commands: []*cli.Command{
			{
				Name:      "list",
				Usage:     "list every entry of a keystore",
				ArgsUsage: "KEYSTORE",
				Flags:     append([]cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print every field as JSON"}}, cmdutil.PasswordFlags()...),
				Action:    listAction,
			},
			{
				Name:      "pack",
				Usage:     "pack a PEM key, certificate and chain into a JKS or PKCS#12 keystore",
				ArgsUsage: " ",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "key", Usage: "private key `FILE` (PEM; an encrypted PKCS#8 key is opened with the key password)", Required: true},
					&cli.StringFlag{Name: "cert", Usage: "certificate `FILE` (PEM or DER; may hold the chain too)", Required: true},
					&cli.StringFlag{Name: "chain", Usage: "issuer certificates `FILE`, any order"},
					&cli.StringFlag{Name: "alias", Usage: "alias of the key entry", Required: true},
					&cli.StringFlag{Name: "out", Usage: "keystore `FILE` to write", Required: true},
					&cli.StringFlag{Name: "type", Value: "jks", Usage: "keystore type: jks or pkcs12"},
					&cli.BoolFlag{Name: "merge", Usage: "replace or add the alias in the existing JKS keystore --out, keeping its other entries"},
					&cli.BoolFlag{Name: "force", Usage: "replace --out if it exists"},
				}, cmdutil.PasswordFlags()...),
				Action: packAction,
			},
		},
	}
}

func convertFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "alias", Usage: "the private-key entry to convert (default: the only one)"},
		&cli.StringFlag{Name: "out-dir", Value: ".", Usage: "write the files into `DIR`"},
		&cli.StringFlag{Name: "key-format", Value: "pkcs1", Usage: "pkcs1 (RSA PKCS#1 / EC SEC1, what AWS documents) or pkcs8"},
		&cli.BoolFlag{Name: "force", Usage: "replace existing files"},
		&cli.BoolFlag{Name: "stdout", Usage: "print key, certificate and chain as one PEM stream instead of writing files"},
		&cli.BoolFlag{Name: "no-root", Usage: "leave the self-signed root out of the chain files"},
		&cli.BoolFlag{Name: "check", Usage: "fail (exit 1, no files) on warnings: expired or not-yet-valid certificate, chain out of order"},
	}, cmdutil.PasswordFlags()...)
}

// oneKeystore returns the single KEYSTORE argument or a usage error.
func oneKeystore(c *cli.Context) (string, error) {
	switch {
	case c.NArg() == 0:
		return "", cmdutil.UsageError("missing KEYSTORE argument")
	case c.NArg() > 1:
		return "", cmdutil.Hint(cmdutil.UsageError("unexpected argument %q after KEYSTORE", c.Args().Get(1)), "flags go before KEYSTORE")
	}
	return c.Args().First(), nil
}

func passwords(c *cli.Context, path string) (store, key []byte, err error) {
	if store, err = cmdutil.StorePasswordFor(c, path); err != nil {
		return nil, nil, err
	}
	key, err = cmdutil.KeyPassword(c)
	return store, key, err
}

func warn(c *cli.Context, format string, a ...any) {
	fmt.Fprintf(c.App.ErrWriter, "jks2pem: warning: "+format+"\n", a...)
}
