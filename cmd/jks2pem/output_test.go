package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

func storepass(name string) []string { return []string{"--storepass-file", td(name)} }

// TestOutDirCreated: a missing --out-dir is created 0700 with its parents; a file in
// its place is "not a directory" and nothing is written.
func TestOutDirCreated(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "certs", "wso2")
	r := run(t, nil, append([]string{td("rsa2048.jks"), "--out-dir", dir}, storepass("rsa2048.storepass")...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, d := range []string{filepath.Join(base, "certs"), dir} {
		if st, err := os.Stat(d); err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, want a 0700 directory", d, err)
		}
	}
	if got := strings.Join(lsDir(t, dir), " "); got != "mykey.crt mykey.fullchain.pem mykey.key" {
		t.Errorf("files %s", got)
	}

	file := filepath.Join(base, "plain")
	os.WriteFile(file, []byte("x"), 0o644)
	r = run(t, nil, append([]string{td("rsa2048.jks"), "--out-dir", file}, storepass("rsa2048.storepass")...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "jks2pem: error: --out-dir "+file+": not a directory") {
		t.Errorf("a file as --out-dir: exit %d %q", r.code, r.stderr)
	}

	// A conversion that fails leaves no directory behind.
	gone := filepath.Join(base, "never")
	r = run(t, nil, td("rsa2048.jks"), "--out-dir", gone, "--storepass-env", "NOPE")
	if _, err := os.Stat(gone); r.code == 0 || err == nil {
		t.Errorf("failed run: exit %d, directory %v", r.code, err)
	}
}

// TestFlagsEitherSide: the same conversion and listing with flags before and after
// KEYSTORE give the same result.
func TestFlagsEitherSide(t *testing.T) {
	for _, args := range [][]string{
		{"--out-dir", "OUT", "--storepass-file", td("chain.storepass"), "--no-root", td("chain.jks")},
		{td("chain.jks"), "--out-dir", "OUT", "--storepass-file", td("chain.storepass"), "--no-root"},
		{"--out-dir", "OUT", td("chain.jks"), "--storepass-file=" + td("chain.storepass"), "--no-root"},
	} {
		out := t.TempDir()
		for i, a := range args {
			if a == "OUT" {
				args[i] = out
			}
		}
		r := run(t, nil, args...)
		if r.code != 0 {
			t.Errorf("%v: exit %d %s", args, r.code, r.stderr)
			continue
		}
		if blocks := readPEM(t, filepath.Join(out, "server.chain.pem")); len(blocks) != 1 {
			t.Errorf("%v: --no-root not applied: %d issuers", args, len(blocks))
		}
	}
	a := run(t, nil, "list", "--alias", "beta", "--storepass-file", td("multi.storepass"), td("multi.jks"))
	b := run(t, nil, "list", td("multi.jks"), "--alias", "beta", "--storepass-file", td("multi.storepass"))
	if a.code != 0 || a.stdout != b.stdout || !strings.Contains(a.stdout, "1 entry") {
		t.Errorf("list with flags before and after:\n%s%s\n%s%s", a.stdout, a.stderr, b.stdout, b.stderr)
	}
}

// TestNamedOutputs writes the seed's file names: only the files asked for, the key
// 0600, an existing file replaced only with --force.
func TestNamedOutputs(t *testing.T) {
	dir := t.TempDir()
	key, cert := filepath.Join(dir, "server.key"), filepath.Join(dir, "public.cert")
	args := append([]string{td("chain.jks"), "--key-out", key, "--cert-out", cert}, storepass("chain.storepass")...)
	r := run(t, nil, args...)
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	if got := strings.Join(lsDir(t, dir), " "); got != "public.cert server.key" {
		t.Errorf("files %s, want public.cert server.key", got)
	}
	for p, mode := range map[string]os.FileMode{key: 0o600, cert: 0o644} {
		if st, _ := os.Stat(p); st.Mode().Perm() != mode {
			t.Errorf("%s mode %o, want %o", p, st.Mode().Perm(), mode)
		}
	}
	if b := readPEM(t, key); len(b) != 1 || b[0].Type != "RSA PRIVATE KEY" {
		t.Errorf("key file %v", b)
	}
	if b := readPEM(t, cert); len(b) != 1 || b[0].Type != "CERTIFICATE" {
		t.Errorf("certificate file %v", b)
	}
	os.WriteFile(cert, []byte("old"), 0o644)
	if r := run(t, nil, args...); r.code != 1 || !strings.Contains(r.stderr, "file exists") || readFile(t, cert) != "old" {
		t.Errorf("existing file without --force: exit %d %q", r.code, r.stderr)
	}
	if r := run(t, nil, append(args, "--force")...); r.code != 0 || readFile(t, cert) == "old" {
		t.Errorf("--force: exit %d %q", r.code, r.stderr)
	}

	full := filepath.Join(dir, "full.pem")
	chain := filepath.Join(dir, "chain.pem")
	r = run(t, nil, append([]string{td("chain.jks"), "--chain-out", chain, "--fullchain-out", full}, storepass("chain.storepass")...)...)
	if r.code != 0 || len(readPEM(t, chain)) != 2 || len(readPEM(t, full)) != 3 {
		t.Errorf("chain files: exit %d %q", r.code, r.stderr)
	}

	// A self-signed certificate has no issuers: no chain file, and a warning says so.
	lone := filepath.Join(t.TempDir(), "chain.pem")
	r = run(t, nil, append([]string{td("rsa2048.jks"), "--chain-out", lone}, storepass("rsa2048.storepass")...)...)
	if _, err := os.Stat(lone); r.code != 0 || err == nil || !strings.Contains(r.stderr, "jks2pem: warning: ") {
		t.Errorf("self-signed --chain-out: exit %d %q, file %v", r.code, r.stderr, err)
	}
}

// TestListOutput: one line per entry by default, every detail with --verbose, one
// entry with --alias, counts in the singular where they are one.
func TestListOutput(t *testing.T) {
	r := run(t, nil, append([]string{"list", td("wso2carbon.jks")}, storepass("wso2carbon.storepass")...)...)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if r.code != 0 || len(lines) != 4 || !strings.HasSuffix(lines[0], "JKS, 3 entries (1 private key, 2 trusted certificates)") {
		t.Fatalf("exit %d\n%s", r.code, r.stdout)
	}
	var aliases []string
	row := regexp.MustCompile(`^(\S+) +(PrivateKeyEntry|trustedCertEntry) +(RSA|EC) \d+ +until \d{4}-\d\d-\d\d \((\d+ days? left|expired \d+ days? ago)\) +CN=`)
	for _, l := range lines[1:] {
		m := row.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("line %q", l)
			continue
		}
		aliases = append(aliases, m[1])
	}
	sort.Strings(aliases)
	if strings.Join(aliases, ",") != "otherca,partnerca,wso2carbon" {
		t.Errorf("aliases %v", aliases)
	}

	one := run(t, nil, append([]string{"list", td("wso2carbon.jks"), "--alias", "WSO2Carbon", "--verbose"}, storepass("wso2carbon.storepass")...)...)
	if one.code != 0 || !strings.Contains(one.stdout, "JKS, 1 entry (1 private key)") || strings.Count(one.stdout, "sha256") != 1 || !strings.Contains(one.stdout, "\nwso2carbon  PrivateKeyEntry") {
		t.Errorf("--alias --verbose: exit %d\n%s%s", one.code, one.stdout, one.stderr)
	}
	missing := run(t, nil, append([]string{"list", td("wso2carbon.jks"), "--alias", "nosuch"}, storepass("wso2carbon.storepass")...)...)
	if missing.code != 1 || !strings.Contains(missing.stderr, `alias "nosuch" not found`) || !strings.Contains(missing.stderr, "jks2pem: hint: see every alias with: jks2pem list KEYSTORE") {
		t.Errorf("unknown alias: exit %d %q", missing.code, missing.stderr)
	}

	expired := run(t, nil, append([]string{td("expired.jks"), "--out-dir", t.TempDir()}, storepass("expired.storepass")...)...)
	if expired.code != 0 || !regexp.MustCompile(`\(expired \d+ days? ago\)`).MatchString(expired.stdout) || strings.Contains(expired.stdout, "(-") {
		t.Errorf("expired certificate summary: %s", expired.stdout)
	}
}

// TestPackJKSAliasKeytoolFinds: keytool looks JKS aliases up in lower case, so a JKS
// packed with a mixed-case alias must store it in lower case.
func TestPackJKSAliasKeytoolFinds(t *testing.T) {
	keytool, err := exec.LookPath("keytool")
	if err != nil {
		t.Skip("skipping: keytool is not installed")
	}
	key, cert, chain := renewedPEM(t)
	out := filepath.Join(t.TempDir(), "new.jks")
	pass := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pass, []byte("packed-pass\n"), 0o600)
	if r := run(t, nil, "pack", "--key", key, "--cert", cert, "--chain", chain, "--alias", "MyServer", "--out", out, "--storepass-file", pass); r.code != 0 {
		t.Fatal(r.stderr)
	}
	kt, err := exec.Command(keytool, "-list", "-keystore", out, "-storepass:file", pass, "-alias", "MyServer").CombinedOutput()
	if err != nil || !strings.Contains(string(kt), "PrivateKeyEntry") {
		t.Errorf("keytool -list -alias MyServer: %v\n%s", err, kt)
	}
}
