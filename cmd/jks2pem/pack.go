package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/keybridge/keybridge/internal/cmdutil"
	"github.com/keybridge/keybridge/internal/safefile"
	"github.com/keybridge/keybridge/keystore"
)

// packTypes are the keystore types pack writes, by their --type name.
var packTypes = map[string]keystore.Format{"jks": keystore.FormatJKS, "jceks": keystore.FormatJCEKS, "pkcs12": keystore.FormatPKCS12}

func packAction(c *cli.Context) error {
	if c.NArg() > 0 {
		return cmdutil.UsageError("unexpected argument %q: pack takes flags only", c.Args().First())
	}
	format, ok := packTypes[c.String("type")]
	if !ok {
		return cmdutil.UsageError("--type %q: want jks, jceks or pkcs12", c.String("type"))
	}
	out := c.String("out")
	storePass, err := cmdutil.StorePassword(c) // the keystore's password
	if err != nil {
		return err
	}
	keyPass, err := cmdutil.KeyPassword(c)
	if err != nil {
		return err
	}
	pass := keystore.Passwords{Store: storePass, Key: keyPass}
	kp, err := packedPair(c, pass.KeyPass())
	if err != nil {
		return err
	}
	for _, w := range kp.Warnings(time.Now()) {
		warn(c, "%s", w)
	}
	if c.Bool("merge") {
		done, err := mergeInto(c, out, pass, kp)
		if done || err != nil {
			return err
		}
	}
	if len(storePass) < 6 {
		return cmdutil.Hint(errors.New("store password shorter than 6 characters"), "keytool refuses to open such keystores; choose a longer password")
	}
	var data []byte
	switch format {
	case keystore.FormatJKS:
		data, err = keystore.EncodeJKS(kp, storePass, pass.KeyPass(), time.Now())
	case keystore.FormatJCEKS:
		data, err = keystore.EncodeJCEKS(kp, storePass, pass.KeyPass(), time.Now())
	default:
		data, err = keystore.EncodePKCS12(kp, storePass)
	}
	if err != nil {
		return cmdutil.KeystoreHint(fmt.Errorf("%s: %w", out, err), "jks2pem")
	}
	if err := cmdutil.WriteFiles([]cmdutil.File{{Path: out, Data: data, Mode: 0o600}}, c.Bool("force")); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "wrote %s (%s, alias %q, chain of %d)\n", out, format, kp.Alias, len(kp.Chain)+1)
	return nil
}

// packedPair reads --key, --cert and --chain into one key pair named --alias.
func packedPair(c *cli.Context, keyPass []byte) (*keystore.KeyPair, error) {
	keyFile := c.String("key")
	keyStore, err := keystore.ReadFile(keyFile, keyPass)
	if err != nil {
		return nil, cmdutil.KeystoreHint(fmt.Errorf("--key: %w", err), "jks2pem")
	}
	entry, err := keyStore.KeyEntry("")
	if err != nil {
		return nil, cmdutil.KeystoreHint(fmt.Errorf("--key %s: %w", keyFile, err), "jks2pem")
	}
	key, err := entry.PrivateKey(keyPass)
	if err != nil {
		return nil, cmdutil.KeystoreHint(fmt.Errorf("--key %s: %w", keyFile, err), "jks2pem")
	}
	certs := keyStore.AllCertificates()
	for _, flag := range []string{"cert", "chain"} {
		if c.String(flag) == "" {
			continue
		}
		ks, err := keystore.ReadFile(c.String(flag), nil)
		if err != nil {
			return nil, cmdutil.KeystoreHint(fmt.Errorf("--%s: %w", flag, err), "jks2pem")
		}
		certs = append(certs, ks.AllCertificates()...)
	}
	kp, err := keystore.AssembleKeyPair(c.String("alias"), key, certs)
	if err != nil {
		return nil, cmdutil.KeystoreHint(fmt.Errorf("--key %s and --cert %s: %w", keyFile, c.String("cert"), err), "jks2pem")
	}
	return kp, nil
}

// mergeInto puts kp into the existing keystore out in place; done is false when out
// does not exist yet (the caller then writes a new one of --type).
func mergeInto(c *cli.Context, out string, pass keystore.Passwords, kp *keystore.KeyPair) (done bool, err error) {
	head, err := os.ReadFile(out)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return true, err
	}
	if f := keystore.DetectFormat(head); c.IsSet("type") && f != packTypes[c.String("type")] {
		return true, cmdutil.Hint(fmt.Errorf("%s is a %s keystore, not %s", out, f, packTypes[c.String("type")]),
			"--merge keeps the keystore's own type: leave out --type")
	}
	changed, err := keystore.Merge(out, pass, kp.Alias, kp.Key, append([]*x509.Certificate{kp.Leaf}, kp.Chain...))
	switch {
	case errors.Is(err, safefile.ErrOwner):
		return true, cmdutil.Hint(err, "run as the keystore's owner or as root, so that the keystore keeps its owner")
	case err != nil:
		return true, cmdutil.KeyPasswordHint(err, "jks2pem", pass.Key != nil)
	case !changed:
		fmt.Fprintf(c.App.Writer, "%s: alias %q already holds this key and chain; nothing written\n", out, kp.Alias)
	default:
		fmt.Fprintf(c.App.Writer, "updated %s (%s, alias %q, chain of %d; other entries kept)\n", out, keystore.DetectFormat(head), kp.Alias, len(kp.Chain)+1)
	}
	return true, nil
}
