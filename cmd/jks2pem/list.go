package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/keybridge/keybridge/internal/cmdutil"
	"github.com/keybridge/keybridge/keystore"
)

type listing struct {
	File    string               `json:"file"`
	Format  string               `json:"format"`
	Entries []keystore.EntryInfo `json:"entries"`
}

func listAction(c *cli.Context) error {
	path, err := oneKeystore(c)
	if err != nil {
		return err
	}
	storePass, err := cmdutil.StorePasswordFor(c, path)
	if err != nil {
		return err
	}
	ks, err := keystore.ReadFile(path, storePass)
	if err != nil {
		return cmdutil.KeystoreHint(err, "jks2pem")
	}
	l := listing{File: path, Format: ks.Format.String(), Entries: keystore.Describe(ks)}
	if c.Bool("json") {
		return cmdutil.PrintJSON(c.App.Writer, l)
	}
	printListing(c.App.Writer, l, time.Now())
	return nil
}

func printListing(w io.Writer, l listing, now time.Time) {
	counts := map[string]int{}
	for _, e := range l.Entries {
		counts[e.Kind]++
	}
	var parts []string
	for _, k := range []string{"PrivateKeyEntry", "trustedCertEntry", "SecretKeyEntry"} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
		}
	}
	fmt.Fprintf(w, "%s: %s, %d entries (%s)\n", l.File, l.Format, len(l.Entries), strings.Join(parts, ", "))
	for _, e := range l.Entries {
		fmt.Fprintf(w, "\n%s  %s", e.Alias, e.Kind)
		if !e.Created.IsZero() {
			fmt.Fprintf(w, "  created %s", e.Created.Format(time.DateOnly))
		}
		fmt.Fprintln(w)
		if e.Subject == "" {
			continue
		}
		left := int(e.NotAfter.Sub(now).Hours() / 24)
		state := fmt.Sprintf("%d days left", left)
		switch {
		case now.After(e.NotAfter):
			state = "EXPIRED"
		case now.Before(e.NotBefore):
			state = "NOT YET VALID"
		}
		fmt.Fprintf(w, "  subject  %s\n  issuer   %s\n  serial   %s\n", e.Subject, e.Issuer, e.Serial)
		fmt.Fprintf(w, "  valid    %s to %s (%s)\n", e.NotBefore.Format(time.DateOnly), e.NotAfter.Format(time.DateOnly), state)
		fmt.Fprintf(w, "  sha256   %s\n", e.SHA256)
		fmt.Fprintf(w, "  key      %s %d, chain of %d\n", e.KeyType, e.KeyBits, e.ChainLength)
		if len(e.DNSNames) > 0 {
			fmt.Fprintf(w, "  dns      %s\n", strings.Join(e.DNSNames, ", "))
		}
	}
}
