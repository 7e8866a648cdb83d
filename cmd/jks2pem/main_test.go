package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keybridge/keybridge/internal/testkit"
)

// These tests run the built jks2pem as a user would: arguments, environment, stdout,
// stderr, exit code and the files it leaves behind.

var binary string

func TestMain(m *testing.M) { testkit.BuildMain(m, "jks2pem", &binary) }

type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, env []string, args ...string) result {
	t.Helper()
	r := testkit.RunProgram(t, binary, append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...), args...)
	return result{r.Stdout, r.Stderr, r.Code}
}

func td(name string) string { return testkit.Testdata(name) }

type fixture = testkit.Fixture

func fixtures(t *testing.T) []fixture { return testkit.Fixtures(t) }

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func readPEM(t *testing.T, path string) []*pem.Block {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []*pem.Block
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return blocks
		}
		blocks = append(blocks, b)
	}
}

func lsDir(t *testing.T, dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// pipelinePubkey hashes the public key of a written key file with openssl, an
// independent reader, when openssl is installed.
func opensslPubkey(t *testing.T, keyFile string) string {
	if _, err := exec.LookPath("openssl"); err != nil {
		return ""
	}
	out, err := exec.Command("openssl", "pkey", "-in", keyFile, "-pubout", "-outform", "DER").Output()
	if err != nil {
		t.Fatalf("openssl pkey could not read %s: %v", keyFile, err)
	}
	return sum(out)
}

func TestConvertEveryFixture(t *testing.T) {
	for _, fx := range fixtures(t) {
		if !fx.PrivateKey || fx.ExpectError != "" {
			continue
		}
		t.Run(fx.File+"/"+fx.Alias, func(t *testing.T) {
			out := t.TempDir()
			args := []string{"--out-dir", out}
			if fx.Alias != "" {
				args = append(args, "--alias", fx.Alias)
			}
			if fx.StorepassFile != "" {
				args = append(args, "--storepass-file", td(fx.StorepassFile))
			}
			if fx.KeypassFile != "" && fx.KeypassFile != fx.StorepassFile {
				args = append(args, "--keypass-file", td(fx.KeypassFile))
			}
			r := run(t, nil, append(args, td(fx.File))...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			base := fx.Alias
			if base == "" { // PEM bundles are named after the leaf's common name
				base = strings.TrimSuffix(strings.TrimSuffix(filepath.Base(firstMatch(t, out, "*.key")), ".key"), "")
			}
			key := filepath.Join(out, base+".key")
			st, err := os.Stat(key)
			if err != nil {
				t.Fatalf("no key file: %v (have %v)", err, lsDir(t, out))
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("key mode %o, want 0600", st.Mode().Perm())
			}
			kb := readPEM(t, key)
			if len(kb) != 1 || (kb[0].Type != "RSA PRIVATE KEY" && kb[0].Type != "EC PRIVATE KEY") {
				t.Errorf("key file blocks %v, want one PKCS#1 or SEC1 key", kb)
			}
			if got := opensslPubkey(t, key); got != "" && got != fx.PubkeySHA256 {
				t.Errorf("openssl reads public key %s from the written key, pipeline says %s", got, fx.PubkeySHA256)
			}
			crt := readPEM(t, filepath.Join(out, base+".crt"))
			if len(crt) != 1 || sum(crt[0].Bytes) != fx.LeafSHA256 {
				t.Errorf("certificate file does not hold the leaf %s", fx.LeafSHA256)
			}
			chainFile := filepath.Join(out, base+".chain.pem")
			if len(fx.ChainSHA256) == 0 {
				if _, err := os.Stat(chainFile); err == nil {
					t.Error("chain file written for a self-signed certificate")
				}
			} else {
				blocks := readPEM(t, chainFile)
				var got []string
				for _, b := range blocks {
					got = append(got, sum(b.Bytes))
				}
				if strings.Join(got, ",") != strings.Join(fx.ChainSHA256, ",") {
					t.Errorf("chain %v, want %v", got, fx.ChainSHA256)
				}
			}
			full := readPEM(t, filepath.Join(out, base+".fullchain.pem"))
			if len(full) != 1+len(fx.ChainSHA256) || sum(full[0].Bytes) != fx.LeafSHA256 {
				t.Errorf("fullchain has %d blocks, want leaf + %d", len(full), len(fx.ChainSHA256))
			}
		})
	}
}

func firstMatch(t *testing.T, dir, pattern string) string {
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	if len(m) != 1 {
		t.Fatalf("%s in %s: %v", pattern, dir, m)
	}
	return m[0]
}

func TestStdoutStream(t *testing.T) {
	r := run(t, []string{"KEYSTORE_PASSWORD=" + strings.TrimSpace(readFile(t, td("chain.storepass")))}, "--stdout", td("chain.jks"))
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var types []string
	rest := []byte(r.stdout)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		types = append(types, b.Type)
	}
	if strings.Join(types, ",") != "RSA PRIVATE KEY,CERTIFICATE,CERTIFICATE,CERTIFICATE" {
		t.Errorf("stream blocks %v", types)
	}
}

func readFile(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestKeyFormatPKCS8(t *testing.T) {
	out := t.TempDir()
	r := run(t, nil, "--key-format", "pkcs8", "--out-dir", out, "--storepass-file", td("rsa2048.storepass"), td("rsa2048.jks"))
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	if b := readPEM(t, filepath.Join(out, "mykey.key")); b[0].Type != "PRIVATE KEY" {
		t.Errorf("block %s, want PRIVATE KEY", b[0].Type)
	}
}

func TestBadInputsOneLineExit1NoFiles(t *testing.T) {
	tmp := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	jksData := []byte(readFile(t, td("rsa2048.jks")))
	flipped := bytes.Clone(jksData)
	flipped[len(flipped)/2] ^= 0x10
	random := bytes.Repeat([]byte{0x00, 0x11, 0x22, 0x33, 0x99}, 400)
	wrong := write("wrong.pass", []byte("not-the-password\n"))
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"empty", []string{"--storepass-file", wrong, write("empty.jks", nil)}, "empty file"},
		{"truncated", []string{"--storepass-file", td("rsa2048.storepass"), write("trunc.jks", jksData[:len(jksData)-100])}, "damaged JKS keystore"},
		{"random bytes", []string{"--storepass-file", wrong, write("random.bin", random)}, "not a keystore: first bytes 00 11 22 33 (reads JKS, JCEKS, PKCS#12, PEM, DER)"},
		{"flipped byte", []string{"--storepass-file", td("rsa2048.storepass"), write("flipped.jks", flipped)}, "flipped.jks"},
		{"wrong store password", []string{"--storepass-file", wrong, td("rsa2048.jks")}, "rsa2048.jks: wrong store password"},
		{"wrong key password", []string{"--storepass-file", td("keypass.storepass"), "--keypass-file", wrong, td("keypass.jks")}, `wrong key password for alias "mykey"`},
		{"key password missing", []string{"--storepass-file", td("keypass.storepass"), td("keypass.jks")}, `keypass.jks: wrong key password for alias "mykey"`},
		{"unknown alias", []string{"--alias", "nosuch", "--storepass-file", td("multi.storepass"), td("multi.jks")}, `alias "nosuch" not found; aliases: `},
		{"several keys", []string{"--storepass-file", td("multi.storepass"), td("multi.jks")}, "2 private keys, no alias chosen: "},
		{"trusted certificate alias", []string{"--alias", "otherca", "--storepass-file", td("wso2carbon.storepass"), td("wso2carbon.jks")}, `alias "otherca" is a trustedCertEntry, not a private key; key aliases: wso2carbon`},
		{"not a keystore, no password", []string{write("random2.bin", random)}, "not a keystore: first bytes 00 11 22 33"},
		{"empty, no password", []string{write("empty2.jks", nil)}, "empty file"},
		{"missing file, no password", []string{filepath.Join(tmp, "nosuch2.jks")}, "no such file"},
		{"BER PKCS#12", []string{"--storepass-file", td("ber.storepass"), td("ber.p12")}, "PKCS#12 in BER"},
		{"key does not match", []string{"--storepass-file", wrong, td("mismatch.pem")}, "matches none of the"},
		{"expired with --check", []string{"--check", "--storepass-file", td("expired.storepass"), td("expired.jks")}, "--check is set; nothing written"},
		{"not yet valid with --check", []string{"--check", "--storepass-file", td("notyetvalid.storepass"), td("notyetvalid.jks")}, "--check is set"},
		{"truststore", []string{"--storepass-file", td("wso2carbon.storepass"), td("leaf.der")}, "none with a private key"},
		{"missing file", []string{"--storepass-file", wrong, filepath.Join(tmp, "nosuch.jks")}, "no such file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			r := run(t, nil, append([]string{"--out-dir", out}, c.args...)...)
			if r.code != 1 {
				t.Errorf("exit %d, want 1 (stderr %q)", r.code, r.stderr)
			}
			var errLines []string
			for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
				if strings.HasPrefix(l, "jks2pem: error: ") {
					errLines = append(errLines, l)
				} else if !strings.HasPrefix(l, "jks2pem: hint: ") && !strings.HasPrefix(l, "jks2pem: warning: ") {
					t.Errorf("unexpected stderr line %q", l)
				}
			}
			if len(errLines) != 1 || !strings.Contains(errLines[0], c.want) {
				t.Errorf("stderr %q, want one error line containing %q", r.stderr, c.want)
			}
			if h, ok := badInputHints[c.name]; ok && !strings.Contains(r.stderr, "jks2pem: hint: "+h) {
				t.Errorf("stderr %q, want the hint %q", r.stderr, h)
			}
			if strings.Contains(r.stderr, "a truststore?") && c.name == "trusted certificate alias" {
				t.Errorf("a keystore with a key called a truststore: %q", r.stderr)
			}
			if files := lsDir(t, out); len(files) != 0 {
				t.Errorf("files left behind: %v", files)
			}
			if strings.Contains(r.stderr, "not-the-password") {
				t.Error("password in the error output")
			}
		})
	}
}

// badInputHints are the advice lines some bad inputs must get.
var badInputHints = map[string]string{
	"key password missing":        "the store password is right but the key has a password of its own: give it with --keypass-file FILE or --keypass-env VAR",
	"wrong key password":          "check the key password given by --keypass-file or --keypass-env",
	"several keys":                "choose the key with --alias NAME",
	"trusted certificate alias":   "choose the alias of a private-key entry with --alias",
	"truststore":                  "this keystore holds no private key (a truststore?)",
	"not a keystore, no password": "give a JKS, JCEKS, PKCS#12",
}

func TestExistingFilesNeedForce(t *testing.T) {
	out := t.TempDir()
	args := []string{"--out-dir", out, "--storepass-file", td("rsa2048.storepass"), td("rsa2048.jks")}
	if r := run(t, nil, args...); r.code != 0 {
		t.Fatal(r.stderr)
	}
	crt := filepath.Join(out, "mykey.crt")
	os.WriteFile(crt, []byte("sentinel"), 0o644)
	r := run(t, nil, args...)
	if r.code != 1 || !strings.Contains(r.stderr, "file exists") || !strings.Contains(r.stderr, "--force") {
		t.Errorf("second run: exit %d %q", r.code, r.stderr)
	}
	if readFile(t, crt) != "sentinel" {
		t.Error("existing file touched without --force")
	}
	if r := run(t, nil, append([]string{"--force"}, args...)...); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if readFile(t, crt) == "sentinel" {
		t.Error("--force did not replace the file")
	}
	for _, f := range lsDir(t, out) {
		if strings.Contains(f, ".tmp") {
			t.Errorf("temporary file left: %s", f)
		}
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"--no-such-flag", "x.jks"},
		{},
		{"--key-format", "der", "x.jks"},
		{"x.jks", "y.jks", "--alias", "a"},
		{"list", "x.jks", "--verbose", "--json"},
		{"x.jks", "--key-out", "k", "--out-dir", "d"},
		{"x.jks", "--key-out", "k", "--cert-out", "./k"},
		{"pack", "--key", "k"},
	} {
		r := run(t, []string{"KEYSTORE_PASSWORD=x"}, args...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, "jks2pem: error: ") {
			t.Errorf("%v: exit %d, stderr %q", args, r.code, r.stderr)
		}
	}
}

func TestHelpMarksPasswordFlagUnsafe(t *testing.T) {
	r := run(t, nil, "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "--storepass value") || !strings.Contains(r.stdout, "UNSAFE") {
		t.Errorf("help: %s", r.stdout)
	}
}

func TestListWSO2(t *testing.T) {
	dir := testkit.SharedWSO2(t)
	env := []string{"KEYSTORE_PASSWORD=wso2carbon"}
	for file, want := range map[string]int{"wso2carbon-4.4.jks": 36, "wso2carbon-4.10.p12": 143, "client-truststore-4.4.jks": 97, "client-truststore-4.10.p12": 143} {
		t.Run(file, func(t *testing.T) {
			r := run(t, env, "list", "--json", filepath.Join(dir, file))
			if r.code != 0 {
				t.Fatal(r.stderr)
			}
			var l struct {
				Format  string `json:"format"`
				Entries []struct {
					Alias, Kind, SHA256, KeyType string
					KeyBits                      int `json:"key_bits"`
				} `json:"entries"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
				t.Fatal(err)
			}
			if len(l.Entries) != want {
				t.Errorf("%d entries, want %d", len(l.Entries), want)
			}
			text := run(t, env, "list", filepath.Join(dir, file))
			if lines := strings.Count(text.stdout, "\n"); text.code != 0 || lines != want+1 {
				t.Errorf("compact listing: exit %d, %d lines, want a header and one line per entry", text.code, lines)
			}
			verbose := run(t, env, "list", "--verbose", filepath.Join(dir, file))
			if verbose.code != 0 || strings.Count(verbose.stdout, "sha256") != want {
				t.Errorf("verbose listing: exit %d, %d fingerprints", verbose.code, strings.Count(verbose.stdout, "sha256"))
			}
		})
	}
	t.Run("convert", func(t *testing.T) {
		for _, file := range []string{"wso2carbon-4.4.jks", "wso2carbon-4.10.p12"} {
			out := t.TempDir()
			r := run(t, env, "--out-dir", out, filepath.Join(dir, file))
			if r.code != 0 {
				t.Fatalf("%s: %s", file, r.stderr)
			}
			crt := readPEM(t, filepath.Join(out, "wso2carbon.crt"))
			c, err := x509.ParseCertificate(crt[0].Bytes)
			if err != nil || c.Subject.CommonName != "localhost" {
				t.Errorf("%s: certificate %v %v", file, c, err)
			}
			if b := readPEM(t, filepath.Join(out, "wso2carbon.key")); b[0].Type != "RSA PRIVATE KEY" {
				t.Errorf("%s: key block %s", file, b[0].Type)
			}
		}
	})
}

// TestPackIntoKeytool writes JKS and PKCS#12 with pack and has keytool read them: list
// the alias and export the key with -importkeystore.
func TestPackIntoKeytool(t *testing.T) {
	keytool, err := exec.LookPath("keytool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("keytool missing in CI: .ci/run installs default-jre-headless")
		}
		t.Skip("skipping: keytool is not installed (apt-get install default-jre-headless)")
	}
	src := t.TempDir()
	if r := run(t, nil, "--out-dir", src, "--storepass-file", td("chain.storepass"), td("chain.jks")); r.code != 0 {
		t.Fatal(r.stderr)
	}
	pass := filepath.Join(src, "pass")
	os.WriteFile(pass, []byte("packed-pass\n"), 0o600)
	for _, typ := range []string{"jks", "pkcs12"} {
		t.Run(typ, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "renewed."+typ)
			r := run(t, nil, "pack", "--key", filepath.Join(src, "server.key"), "--cert", filepath.Join(src, "server.crt"),
				"--chain", filepath.Join(src, "server.chain.pem"), "--alias", "wso2carbon", "--out", out, "--type", typ, "--storepass-file", pass)
			if r.code != 0 {
				t.Fatal(r.stderr)
			}
			if st, _ := os.Stat(out); st.Mode().Perm() != 0o600 {
				t.Errorf("keystore mode %o", st.Mode().Perm())
			}
			list, err := exec.Command(keytool, "-list", "-v", "-keystore", out, "-storepass:file", pass).CombinedOutput()
			if err != nil {
				t.Fatalf("keytool -list: %v\n%s", err, list)
			}
			if !strings.Contains(string(list), "Alias name: wso2carbon") || !strings.Contains(string(list), "Certificate chain length: 3") {
				t.Errorf("keytool -list:\n%s", list)
			}
			dest := filepath.Join(dir, "exported.p12")
			imp, err := exec.Command(keytool, "-importkeystore", "-srckeystore", out, "-srcstorepass:file", pass,
				"-destkeystore", dest, "-deststoretype", "PKCS12", "-deststorepass:file", pass, "-noprompt").CombinedOutput()
			if err != nil {
				t.Fatalf("keytool -importkeystore: %v\n%s", err, imp)
			}
			back := t.TempDir()
			if r := run(t, nil, "--out-dir", back, "--storepass-file", pass, dest); r.code != 0 {
				t.Fatal(r.stderr)
			}
			if readFile(t, filepath.Join(back, "wso2carbon.key")) != readFile(t, filepath.Join(src, "server.key")) {
				t.Error("the key keytool exported differs from the packed one")
			}
			if readFile(t, filepath.Join(back, "wso2carbon.fullchain.pem")) != readFile(t, filepath.Join(src, "server.fullchain.pem")) {
				t.Error("the chain keytool exported differs")
			}
		})
	}
}
