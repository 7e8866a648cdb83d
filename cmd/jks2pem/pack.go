package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/keybridge/keybridge/internal/cmdutil"
	"github.com/keybridge/keybridge/keystore"
)

func packAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return cmdutil.UsageError("unexpected argument %q: pack takes flags only", c.Args().First())
	}
	typ := c.String("type")
	if typ != "jks" && typ != "pkcs12" {
		return cmdutil.UsageError("--type %q: want jks or pkcs12", typ)
	}
	if c.Bool("merge") && typ != "jks" {
		return cmdutil.UsageError("--merge works with --type jks only")
	}
	storePass, err := cmdutil.StorePassword(c) // the new keystore's password
	if err != nil {
		return err
	}
	keyPass, err := cmdutil.KeyPassword(c)
	if err != nil {
		return err
	}
	if len(storePass) < 6 {
		return cmdutil.Hint(errors.New("store password shorter than 6 characters"), "keytool refuses to open such keystores; choose a longer password")
	}
	if keyPass == nil {
		keyPass = storePass
	}
	keyStore, err := keystore.ReadFile(c.String("key"), keyPass)
	if err != nil {
		return cmdutil.KeystoreHint(fmt.Errorf("--key: %w", err), "jks2pem")
	}
	entry, err := keyStore.KeyEntry("")
	if err != nil {
		return cmdutil.KeystoreHint(fmt.Errorf("--key %s: %w", c.String("key"), err), "jks2pem")
	}
	key, err := entry.PrivateKey(keyPass)
	if err != nil {
		return cmdutil.KeystoreHint(fmt.Errorf("--key %s: %w", c.String("key"), err), "jks2pem")
	}
	certs := keyStore.AllCertificates()
	for _, flag := range []string{"cert", "chain"} {
		if c.String(flag) == "" {
			continue
		}
		ks, err := keystore.ReadFile(c.String(flag), nil)
		if err != nil {
			return cmdutil.KeystoreHint(fmt.Errorf("--%s: %w", flag, err), "jks2pem")
		}
		certs = append(certs, ks.AllCertificates()...)
	}
	kp, err := keystore.AssembleKeyPair(c.String("alias"), key, certs)
	if err != nil {
		return cmdutil.KeystoreHint(fmt.Errorf("--key %s and --cert %s: %w", c.String("key"), c.String("cert"), err), "jks2pem")
	}
	for _, w := range kp.Warnings(time.Now()) {
		warn(c, "%s", w)
	}
	out := c.String("out")
	var data []byte
	switch {
	case c.Bool("merge"):
		existing, err := os.ReadFile(out)
		if errors.Is(err, fs.ErrNotExist) {
			data, err = keystore.EncodeJKS(kp, storePass, keyPass, time.Now())
		} else if err == nil {
			data, err = keystore.MergeJKS(existing, kp, storePass, keyPass, time.Now())
		}
		if err != nil {
			return cmdutil.KeystoreHint(fmt.Errorf("%s: %w", out, err), "jks2pem")
		}
	case typ == "jks":
		data, err = keystore.EncodeJKS(kp, storePass, keyPass, time.Now())
	default:
		data, err = keystore.EncodePKCS12(kp, storePass)
	}
	if err != nil {
		return cmdutil.KeystoreHint(fmt.Errorf("%s: %w", out, err), "jks2pem")
	}
	if err := cmdutil.WriteFiles([]cmdutil.File{{Path: out, Data: data, Mode: 0o600}}, c.Bool("force") || c.Bool("merge")); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "wrote %s (%s, alias %q, chain of %d)\n", out, typ, kp.Alias, len(kp.Chain)+1)
	return nil
}
