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
		Name:  "jks2pem",
		Usage: "convert a Java keystore into PEM key, certificate and chain",
		UsageText: "jks2pem KEYSTORE [--alias A] [--out-dir D] [--key-format pkcs1|pkcs8] [--force] [--stdout]\n" +
			"jks2pem KEYSTORE [--key-out F] [--cert-out F] [--chain-out F] [--fullchain-out F] [--force]\n" +
			"jks2pem list KEYSTORE [--alias A] [--verbose | --json]\n" +
			"jks2pem pack --key K --cert C [--chain CH] --alias A --out FILE [--type jks|jceks|pkcs12] [--merge | --force]",
		Description: "Reads JKS, JCEKS, PKCS#12 and PEM/DER (format detected from the bytes) and writes\n" +
			"ALIAS.key (0600; RSA as PKCS#1 \"BEGIN RSA PRIVATE KEY\", EC as SEC1), ALIAS.crt,\n" +
			"ALIAS.chain.pem (issuers, root last; only when there are any) and ALIAS.fullchain.pem\n" +
			"into --out-dir (created 0700 when missing), or exactly the files named by --key-out,\n" +
			"--cert-out, --chain-out and --fullchain-out. Every file is written atomically; an\n" +
			"existing one is replaced only with --force. Flags go before or after KEYSTORE.\n" +
			"The store password comes from --storepass-file, --storepass-env, $KEYSTORE_PASSWORD\n" +
			"or a prompt. Exit codes: 0 ok, 1 error, 2 usage.",
		HideHelpCommand: true,
		Flags:           convertFlags(),
		Action:          convertAction,
		Commands: []*cli.Command{
			{
				Name:      "list",
				Usage:     "list the entries of a keystore, one line each",
				ArgsUsage: "KEYSTORE",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "alias", Usage: "only the entry `ALIAS`"},
					&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "every detail of each entry: subject, issuer, serial, validity, SHA-256, key, DNS names"},
					&cli.BoolFlag{Name: "json", Usage: "print every field as JSON"},
				}, cmdutil.PasswordFlags()...),
				Action: listAction,
			},
			{
				Name:      "pack",
				Usage:     "pack a PEM key, certificate and chain into a JKS, JCEKS or PKCS#12 keystore, or into an existing one (--merge)",
				ArgsUsage: " ",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "key", Usage: "private key `FILE` (PEM; an encrypted PKCS#8 key is opened with the key password)", Required: true},
					&cli.StringFlag{Name: "cert", Usage: "certificate `FILE` (PEM or DER; may hold the chain too)", Required: true},
					&cli.StringFlag{Name: "chain", Usage: "issuer certificates `FILE`, any order"},
					&cli.StringFlag{Name: "alias", Usage: "alias of the key entry", Required: true},
					&cli.StringFlag{Name: "out", Usage: "keystore `FILE` to write", Required: true},
					&cli.StringFlag{Name: "type", Value: "jks", Usage: "type of a new keystore: jks, jceks or pkcs12 (--merge keeps an existing keystore's type)"},
					&cli.BoolFlag{Name: "merge", Usage: "replace or add the alias in the existing keystore --out (JKS, JCEKS or PKCS#12), keeping its other entries, owner, group and mode; nothing is written when the alias already holds this key and chain; a missing --out is created"},
					&cli.BoolFlag{Name: "force", Usage: "replace --out if it exists (all its entries are lost: see --merge)"},
				}, cmdutil.PasswordFlags()...),
				Action: packAction,
			},
		},
	}
}

func convertFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "alias", Usage: "the private-key entry to convert (default: the only one)"},
		&cli.StringFlag{Name: "out-dir", Value: ".", Usage: "write ALIAS.key, ALIAS.crt, ALIAS.chain.pem and ALIAS.fullchain.pem into `DIR`, created (0700) when missing"},
		&cli.StringFlag{Name: "key-out", Usage: "write the private key (0600) to `FILE`, e.g. server.key", Category: "Output files (instead of --out-dir):"},
		&cli.StringFlag{Name: "cert-out", Usage: "write the certificate to `FILE`, e.g. public.cert", Category: "Output files (instead of --out-dir):"},
		&cli.StringFlag{Name: "chain-out", Usage: "write the issuers (leaf excluded, root last) to `FILE`", Category: "Output files (instead of --out-dir):"},
		&cli.StringFlag{Name: "fullchain-out", Usage: "write the certificate followed by its issuers to `FILE`", Category: "Output files (instead of --out-dir):"},
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
		return "", cmdutil.Hint(cmdutil.UsageError("unexpected argument %q after KEYSTORE", c.Args().Get(1)), "give one KEYSTORE per run")
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
