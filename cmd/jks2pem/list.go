package main

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/keybridge/keybridge/internal/cmdutil"
	"github.com/keybridge/keybridge/internal/words"
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
	if c.Bool("verbose") && c.Bool("json") {
		return cmdutil.UsageError("--verbose and --json exclude each other (--json prints every field)")
	}
	storePass, err := cmdutil.StorePasswordFor(c, path)
	if err != nil {
		return err
	}
	ks, err := keystore.ReadFile(path, storePass)
	if err != nil {
		return cmdutil.KeystoreHint(err, "jks2pem")
	}
	if alias := c.String("alias"); alias != "" {
		e, err := ks.Entry(alias)
		if err != nil {
			return cmdutil.KeystoreHint(fmt.Errorf("%s: %w", path, err), "jks2pem")
		}
		ks = &keystore.Keystore{Format: ks.Format, Entries: []*keystore.Entry{e}}
	}
	l := listing{File: path, Format: ks.Format.String(), Entries: keystore.Describe(ks)}
	switch {
	case c.Bool("json"):
		return cmdutil.PrintJSON(c.App.Writer, l)
	case c.Bool("verbose"):
		printDetails(c.App.Writer, l, time.Now())
	default:
		printCompact(c.App.Writer, l, time.Now())
	}
	return nil
}

// kindNames are the entry kinds as the listing counts them.
var kindNames = []struct{ kind, one, many string }{
	{keystore.PrivateKeyEntry.String(), "private key", "private keys"},
	{keystore.TrustedCertEntry.String(), "trusted certificate", "trusted certificates"},
	{keystore.SecretKeyEntry.String(), "secret key", "secret keys"},
}

// printHeader prints "FILE: FORMAT, N entries (1 private key, 35 trusted certificates)".
func printHeader(w io.Writer, l listing) {
	counts := map[string]int{}
	for _, e := range l.Entries {
		counts[e.Kind]++
	}
	var parts []string
	for _, k := range kindNames {
		if counts[k.kind] > 0 {
			parts = append(parts, words.Count(counts[k.kind], k.one, k.many))
		}
	}
	fmt.Fprintf(w, "%s: %s, %s (%s)\n", l.File, l.Format, words.Count(len(l.Entries), "entry", "entries"), strings.Join(parts, ", "))
}

// printCompact prints one line per entry: alias, kind, key, end of validity and the
// subject's common name (the whole subject when it has none). Columns are aligned; an
// alias longer than aliasWidth overflows its column rather than widening it for all.
func printCompact(w io.Writer, l listing, now time.Time) {
	const aliasWidth = 32
	printHeader(w, l)
	rows := make([][]string, 0, len(l.Entries))
	widths := make([]int, 4)
	for _, e := range l.Entries {
		row := []string{e.Alias, e.Kind, "", "", ""}
		// An entry with a certificate has a fingerprint; its subject may be empty
		// (ACME CAs issue certificates that name only DNS names).
		if e.SHA256 != "" {
			name := e.Subject
			if e.CommonName != "" {
				name = "CN=" + e.CommonName
			} else if name == "" {
				name = strings.Join(e.DNSNames, ", ")
			}
			row[2] = fmt.Sprintf("%s %d", e.KeyType, e.KeyBits)
			row[3] = fmt.Sprintf("until %s (%s)", e.NotAfter.Format(time.DateOnly), validityState(e, now))
			row[4] = name
		}
		for i := range widths {
			widths[i] = max(widths[i], utf8.RuneCountInString(row[i]))
		}
		rows = append(rows, row)
	}
	widths[0] = min(widths[0], aliasWidth)
	for _, row := range rows {
		var b strings.Builder
		for i, cell := range row[:4] {
			b.WriteString(cell)
			if pad := widths[i] - utf8.RuneCountInString(cell); pad > 0 {
				b.WriteString(strings.Repeat(" ", pad))
			}
			b.WriteString("  ")
		}
		b.WriteString(row[4])
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

func validityState(e keystore.EntryInfo, now time.Time) string {
	if now.Before(e.NotBefore) {
		return "not yet valid"
	}
	return words.Left(now, e.NotAfter)
}

// printDetails prints every field of every entry, as keytool -list -v does.
func printDetails(w io.Writer, l listing, now time.Time) {
	printHeader(w, l)
	for _, e := range l.Entries {
		fmt.Fprintf(w, "\n%s  %s", e.Alias, e.Kind)
		if !e.Created.IsZero() {
			fmt.Fprintf(w, "  created %s", e.Created.Format(time.DateOnly))
		}
		fmt.Fprintln(w)
		if e.SHA256 == "" {
			continue
		}
		fmt.Fprintf(w, "  subject  %s\n  issuer   %s\n  serial   %s\n", e.Subject, e.Issuer, e.Serial)
		fmt.Fprintf(w, "  valid    %s to %s (%s)\n", e.NotBefore.Format(time.DateOnly), e.NotAfter.Format(time.DateOnly), validityState(e, now))
		fmt.Fprintf(w, "  sha256   %s\n", e.SHA256)
		fmt.Fprintf(w, "  key      %s %d, chain of %d\n", e.KeyType, e.KeyBits, e.ChainLength)
		if len(e.DNSNames) > 0 {
			fmt.Fprintf(w, "  dns      %s\n", strings.Join(e.DNSNames, ", "))
		}
	}
}
