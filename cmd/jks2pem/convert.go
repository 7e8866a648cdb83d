package main

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/keybridge/keybridge/internal/cmdutil"
	"github.com/keybridge/keybridge/internal/words"
	"github.com/keybridge/keybridge/keystore"
)

func convertAction(c *cli.Context) error {
	path, err := oneKeystore(c)
	if err != nil {
		return err
	}
	format, err := keystore.ParseKeyFormat(c.String("key-format"))
	if err != nil {
		return cmdutil.UsageError("--key-format: %v", err)
	}
	outDir := c.String("out-dir")
	if !c.Bool("stdout") {
		if st, err := os.Stat(outDir); err != nil || !st.IsDir() {
			return cmdutil.Hint(fmt.Errorf("--out-dir %s: not a directory", outDir), "create it first: mkdir -p "+outDir)
		}
	}
	storePass, keyPass, err := passwords(c, path)
	if err != nil {
		return err
	}
	kp, err := keystore.LoadKeyPair(path, c.String("alias"), storePass, keyPass)
	if err != nil {
		return cmdutil.KeystoreHint(err, "jks2pem")
	}
	warnings := kp.Warnings(time.Now())
	for _, w := range warnings {
		warn(c, "%s: %s", path, w)
	}
	if c.Bool("check") && len(warnings) > 0 {
		return cmdutil.Hint(fmt.Errorf("%s: %d warning(s) and --check is set; nothing written", path, len(warnings)), "fix the keystore, or drop --check to convert anyway")
	}
	if c.Bool("no-root") {
		kp.Chain = dropRoot(kp.Chain)
	}
	keyPEM, err := kp.KeyPEM(format)
	if err != nil {
		return err
	}
	if c.Bool("stdout") {
		var out bytes.Buffer
		out.Write(keyPEM)
		out.Write(kp.CertPEM())
		out.Write(kp.ChainPEM())
		_, err := c.App.Writer.Write(out.Bytes())
		return err
	}
	base := filepath.Join(outDir, fileName(kp.Alias))
	files := []cmdutil.File{
		{Path: base + ".key", Data: keyPEM, Mode: 0o600},
		{Path: base + ".crt", Data: kp.CertPEM(), Mode: 0o644},
	}
	if len(kp.Chain) > 0 {
		files = append(files, cmdutil.File{Path: base + ".chain.pem", Data: kp.ChainPEM(), Mode: 0o644})
	}
	files = append(files, cmdutil.File{Path: base + ".fullchain.pem", Data: kp.FullChainPEM(), Mode: 0o644})
	if err := cmdutil.WriteFiles(files, c.Bool("force")); err != nil {
		return err
	}
	alg, bits := keystore.KeyDescription(kp.Key.Public())
	fmt.Fprintf(c.App.Writer, "%s: %s %d, %s, valid until %s (%s), chain of %d\n",
		kp.Alias, alg, bits, kp.Leaf.Subject.String(), kp.Leaf.NotAfter.UTC().Format(time.DateOnly),
		words.Left(time.Now(), kp.Leaf.NotAfter), len(kp.Chain)+1)
	for _, f := range files {
		fmt.Fprintf(c.App.Writer, "wrote %s (%04o)\n", f.Path, f.Mode)
	}
	return nil
}

// fileName makes an alias safe as a file name: no path separators, no leading dot.
func fileName(alias string) string {
	s := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.', r > 0x7f:
			return r
		}
		return '_'
	}, alias)
	s = strings.TrimLeft(s, ".")
	if s == "" {
		s = "key"
	}
	return s
}

func dropRoot(chain []*x509.Certificate) []*x509.Certificate {
	if n := len(chain); n > 0 && keystore.Issued(chain[n-1], chain[n-1]) {
		return chain[:n-1]
	}
	return chain
}
