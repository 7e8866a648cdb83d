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

// outFlags are the flags that name one output file each, in the order written.
var outFlags = []string{"key-out", "cert-out", "chain-out", "fullchain-out"}

func convertAction(c *cli.Context) error {
	path, err := oneKeystore(c)
	if err != nil {
		return err
	}
	format, err := keystore.ParseKeyFormat(c.String("key-format"))
	if err != nil {
		return cmdutil.UsageError("--key-format: %v", err)
	}
	named, err := namedOutputs(c)
	if err != nil {
		return err
	}
	outDir := c.String("out-dir")
	if !c.Bool("stdout") && named == nil {
		if st, err := os.Stat(outDir); err == nil && !st.IsDir() {
			return cmdutil.Hint(fmt.Errorf("--out-dir %s: %w", outDir, cmdutil.ErrNotDir), "give a directory (a missing one is created)")
		}
	}
	storePass, keyPass, err := passwords(c, path)
	if err != nil {
		return err
	}
	kp, err := keystore.LoadKeyPair(path, c.String("alias"), storePass, keyPass)
	if err != nil {
		return cmdutil.KeyPasswordHint(err, "jks2pem", keyPass != nil)
	}
	warnings := kp.Warnings(time.Now())
	for _, w := range warnings {
		warn(c, "%s: %s", path, w)
	}
	if c.Bool("check") && len(warnings) > 0 {
		return cmdutil.Hint(fmt.Errorf("%s: %s and --check is set; nothing written", path, words.Count(len(warnings), "warning", "warnings")), "fix the keystore, or drop --check to convert anyway")
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
	var files []cmdutil.File
	add := func(path string, data []byte, mode os.FileMode) {
		if path != "" {
			files = append(files, cmdutil.File{Path: path, Data: data, Mode: mode})
		}
	}
	if named != nil {
		add(named["key-out"], keyPEM, 0o600)
		add(named["cert-out"], kp.CertPEM(), 0o644)
		if len(kp.Chain) > 0 {
			add(named["chain-out"], kp.ChainPEM(), 0o644)
		} else if named["chain-out"] != "" {
			warn(c, "%s: the certificate has no issuers in the keystore; --chain-out %s not written", path, named["chain-out"])
		}
		add(named["fullchain-out"], kp.FullChainPEM(), 0o644)
	} else {
		base := filepath.Join(outDir, fileName(kp.Alias))
		add(base+".key", keyPEM, 0o600)
		add(base+".crt", kp.CertPEM(), 0o644)
		if len(kp.Chain) > 0 {
			add(base+".chain.pem", kp.ChainPEM(), 0o644)
		}
		add(base+".fullchain.pem", kp.FullChainPEM(), 0o644)
	}
	if err := writeOutputs(files, outDir, named == nil, c.Bool("force")); err != nil {
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

// namedOutputs returns the files named by --key-out and the others (nil when none is
// given); they exclude --out-dir and --stdout, and name different files.
func namedOutputs(c *cli.Context) (map[string]string, error) {
	var named map[string]string
	seen := map[string]string{}
	for _, f := range outFlags {
		p := c.String(f)
		if p == "" {
			continue
		}
		if other, dup := seen[filepath.Clean(p)]; dup {
			return nil, cmdutil.UsageError("--%s and --%s name the same file %s", other, f, p)
		}
		seen[filepath.Clean(p)] = f
		if named == nil {
			named = map[string]string{}
		}
		named[f] = p
	}
	switch {
	case named == nil:
		return nil, nil
	case c.IsSet("out-dir"):
		return nil, cmdutil.Hint(cmdutil.UsageError("--out-dir and --key-out, --cert-out, --chain-out, --fullchain-out exclude each other"), "give each file's whole path")
	case c.Bool("stdout"):
		return nil, cmdutil.UsageError("--stdout and --key-out, --cert-out, --chain-out, --fullchain-out exclude each other")
	}
	return named, nil
}

// writeOutputs writes files all or none, creating outDir first when asked (and
// removing what it created when the writing fails).
func writeOutputs(files []cmdutil.File, outDir string, makeDir, force bool) error {
	undo := func() {}
	if makeDir {
		var err error
		if undo, err = cmdutil.PrepareDir(outDir); err != nil {
			return cmdutil.Hint(fmt.Errorf("--out-dir %s: %w", outDir, err), "give a directory (a missing one is created)")
		}
	}
	err := cmdutil.WriteFiles(files, force)
	if err != nil {
		undo()
	}
	return err
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
