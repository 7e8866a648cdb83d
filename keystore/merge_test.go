package keystore_test

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/keybridge/keybridge/internal/safefile"
	"github.com/keybridge/keybridge/internal/testkit"
	"github.com/keybridge/keybridge/keystore"
)

// entrySummary is what must survive a merge of another alias: kind and chain.
func entrySummary(ks *keystore.Keystore) map[string]string {
	out := map[string]string{}
	for _, e := range ks.Entries {
		out[strings.ToLower(e.Alias)] = e.Kind.String() + " " + strings.Join(chainHashes(e.Chain), ",")
	}
	return out
}

func copyFile(t *testing.T, src string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

type mergeCase struct {
	name, path string
	pass       keystore.Passwords
	alias      string // the key entry replaced
}

func mergeCases(t *testing.T) []mergeCase {
	fx := func(file, alias, storeFile, keyFile string) mergeCase {
		p := keystore.Passwords{Store: password(t, storeFile)}
		if keyFile != "" {
			p.Key = password(t, keyFile)
		}
		return mergeCase{file, testdata(t, file), p, alias}
	}
	cases := []mergeCase{
		fx("wso2carbon.jks", "wso2carbon", "wso2carbon.storepass", ""),
		fx("keypass.jks", "mykey", "keypass.storepass", "keypass.keypass"),
		fx("multi.jks", "beta", "multi.storepass", ""),
		fx("nonascii-cyrillic.jks", "mykey", "nonascii-cyrillic.storepass", ""),
		fx("jceks.jceks", "mykey", "jceks.storepass", ""),
		fx("jceks-secret.jceks", "mykey", "jceks-secret.storepass", ""),
		fx("keytool.p12", "server", "keytool.storepass", ""),
		fx("openssl.p12", "server", "openssl.storepass", ""),
		fx("openssl-legacy.p12", "server", "openssl-legacy.storepass", ""),
		fx("nomac.p12", "server", "nomac.storepass", ""),
		fx("multi.p12", "alpha", "multi-p12.storepass", ""),
	}
	if dir := filepath.Join(filepath.Dir(testkit.Root()), "shared", "wso2"); dirExists(dir) {
		wso2 := keystore.Passwords{Store: []byte("wso2carbon")}
		cases = append(cases,
			mergeCase{"wso2carbon-4.10.p12", filepath.Join(dir, "wso2carbon-4.10.p12"), wso2, "wso2carbon"},
			mergeCase{"wso2carbon-4.4.jks", filepath.Join(dir, "wso2carbon-4.4.jks"), wso2, "wso2carbon"})
	}
	return cases
}

func dirExists(p string) bool { st, err := os.Stat(p); return err == nil && st.IsDir() }

// TestMergeKeepsOtherEntries replaces the key entry of every keystore format and adds
// a new one beside it: every other entry stays as it was, the new one opens with the
// key password and holds the new key and chain, and a second merge of the same key and
// chain changes nothing.
func TestMergeKeepsOtherEntries(t *testing.T) {
	kp := newTestPair(t)
	chain := append([]*x509.Certificate{kp.Leaf}, kp.Chain...)
	for _, tc := range mergeCases(t) {
		for _, mode := range []string{"replace", "add"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				path := copyFile(t, tc.path)
				before, err := keystore.ReadFile(path, tc.pass.Store)
				if err != nil {
					t.Fatal(err)
				}
				alias := tc.alias
				if mode == "add" {
					alias = "Renewed"
				}
				changed, err := keystore.Merge(path, tc.pass, alias, kp.Key, chain)
				if err != nil || !changed {
					t.Fatalf("merge: changed %v, %v", changed, err)
				}
				after, err := keystore.ReadFile(path, tc.pass.Store)
				if err != nil {
					t.Fatal(err)
				}
				if after.Format != before.Format {
					t.Errorf("format %s became %s", before.Format, after.Format)
				}
				want, got := entrySummary(before), entrySummary(after)
				wantN := len(before.Entries)
				if mode == "add" {
					wantN++
				}
				if len(after.Entries) != wantN {
					t.Errorf("%d entries after, want %d", len(after.Entries), wantN)
				}
				for a, s := range want {
					if a != strings.ToLower(alias) && got[a] != s {
						t.Errorf("entry %q changed:\n was %s\n now %s", a, s, got[a])
					}
				}
				// Keys of the other entries still open with their passwords.
				for _, e := range before.KeyEntries() {
					if strings.EqualFold(e.Alias, alias) {
						continue
					}
					ne, err := after.Entry(e.Alias)
					if err != nil {
						t.Fatal(err)
					}
					k1, err1 := e.PrivateKey(tc.pass.KeyPass())
					k2, err2 := ne.PrivateKey(tc.pass.KeyPass())
					if (err1 == nil) != (err2 == nil) || err1 == nil && !k1.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k2.Public()) {
						t.Errorf("key of %q: before %v, after %v", e.Alias, err1, err2)
					}
				}
				got2, err := after.KeyPair(alias, tc.pass.KeyPass())
				if err != nil {
					t.Fatal(err)
				}
				if !got2.Leaf.Equal(kp.Leaf) || len(got2.Chain) < 1 || !got2.Chain[0].Equal(kp.Chain[0]) {
					t.Errorf("new entry holds %v", got2.Leaf.Subject)
				}
				data, _ := os.ReadFile(path)
				changed, err = keystore.Merge(path, tc.pass, strings.ToUpper(alias), kp.Key, chain)
				if err != nil || changed {
					t.Errorf("same key and chain again: changed %v, %v", changed, err)
				}
				if again, _ := os.ReadFile(path); !bytes.Equal(again, data) {
					t.Error("the file was rewritten although nothing changed")
				}
			})
		}
	}
}

// TestMergeKeytoolReads merges a new entry into a keystore of each format, WSO2
// 4.10's wso2carbon.p12 (143 entries, no MAC, certificates unencrypted) among them,
// and has keytool list the result and the new entry.
func TestMergeKeytoolReads(t *testing.T) {
	keytool, err := exec.LookPath("keytool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("keytool missing in CI")
		}
		t.Skip("skipping: keytool is not installed (apt-get install default-jre-headless)")
	}
	kp := newTestPair(t)
	chain := append([]*x509.Certificate{kp.Leaf}, kp.Chain...)
	for _, tc := range mergeCases(t) {
		alias, added := "Renewed", 1
		switch tc.name {
		case "wso2carbon.jks", "jceks-secret.jceks":
		case "keytool.p12", "wso2carbon-4.10.p12":
			// Replacing rewrites keytool.p12's encrypted certificate safe.
			alias, added = tc.alias, 0
		default:
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			path := copyFile(t, tc.path)
			before, err := keystore.ReadFile(path, tc.pass.Store)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := keystore.Merge(path, tc.pass, alias, kp.Key, chain); err != nil {
				t.Fatal(err)
			}
			typ := map[keystore.Format]string{keystore.FormatJKS: "JKS", keystore.FormatJCEKS: "JCEKS", keystore.FormatPKCS12: "PKCS12"}[before.Format]
			cmd := exec.Command(keytool, "-list", "-v", "-keystore", path, "-storetype", typ, "-storepass:env", "KS_PASS")
			cmd.Env = append(os.Environ(), "KS_PASS="+string(tc.pass.Store))
			outb, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("keytool -list -v: %v\n%.2000s", err, outb)
			}
			out := string(outb)
			want := "Your keystore contains " + strconv.Itoa(len(before.Entries)+added) + " entries"
			if !strings.Contains(out, want) {
				t.Errorf("keytool -list -v lacks %q:\n%.600s", want, out)
			}
			// The new entry's block: from its alias line to the next entry's.
			block, _, _ := strings.Cut(after(out, "Alias name: "+strings.ToLower(alias)+"\n"), "Alias name: ")
			if !strings.Contains(block, "PrivateKeyEntry") || !strings.Contains(block, "CN=leaf.test") || !strings.Contains(block, "Certificate chain length: 2") {
				t.Errorf("keytool's entry %s:\n%.1500s", alias, block)
			}
		})
	}
}

// after returns what follows the first sep in s, or "".
func after(s, sep string) string {
	_, rest, _ := strings.Cut(s, sep)
	return rest
}

func TestMergeRefusals(t *testing.T) {
	kp := newTestPair(t)
	chain := append([]*x509.Certificate{kp.Leaf}, kp.Chain...)
	wso2 := keystore.Passwords{Store: password(t, "wso2carbon.storepass")}
	cases := []struct {
		name, file string
		pass       keystore.Passwords
		alias      string
		key        any
		want       error
	}{
		{"wrong store password JKS", "wso2carbon.jks", keystore.Passwords{Store: []byte("wrong-pass")}, "wso2carbon", kp.Key, keystore.ErrWrongPassword},
		{"wrong store password JCEKS", "jceks.jceks", keystore.Passwords{Store: []byte("wrong-pass")}, "mykey", kp.Key, keystore.ErrWrongPassword},
		{"wrong store password PKCS#12 with MAC", "keytool.p12", keystore.Passwords{Store: []byte("wrong-pass")}, "server", kp.Key, keystore.ErrWrongPassword},
		{"wrong store password PKCS#12 without MAC", "nomac.p12", keystore.Passwords{Store: []byte("wrong-pass")}, "server", kp.Key, keystore.ErrWrongPassword},
		{"wrong store password PKCS#12 without MAC, new alias", "nomac.p12", keystore.Passwords{Store: []byte("wrong-pass")}, "other", kp.Key, keystore.ErrWrongPassword},
		{"key password of its own not given", "keypass.jks", keystore.Passwords{Store: password(t, "keypass.storepass")}, "mykey", kp.Key, keystore.ErrWrongKeyPassword},
		{"wrong key password PKCS#12 without MAC", "nomac.p12", keystore.Passwords{Store: password(t, "nomac.storepass"), Key: []byte("wrong-pass")}, "server", kp.Key, keystore.ErrWrongKeyPassword},
		{"trusted certificate alias", "wso2carbon.jks", wso2, "otherca", kp.Key, keystore.ErrAliasInUse},
		{"JCEKS secret key alias", "jceks-secret.jceks", keystore.Passwords{Store: password(t, "jceks-secret.storepass")}, "aeskey", kp.Key, keystore.ErrAliasInUse},
		{"key of another certificate", "wso2carbon.jks", wso2, "wso2carbon", testkit.RSAKey(t, 2048), keystore.ErrKeyMismatch},
		{"PEM is not a keystore to merge into", "bundle.pem", keystore.Passwords{}, "x", kp.Key, keystore.ErrUnsupportedFormat},
		{"non-ASCII JCEKS key password", "jceks.jceks", keystore.Passwords{Store: password(t, "jceks.storepass"), Key: []byte("pässwort")}, "mykey", kp.Key, keystore.ErrPasswordEncoding},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := copyFile(t, testdata(t, c.file))
			data, _ := os.ReadFile(path)
			changed, err := keystore.Merge(path, c.pass, c.alias, c.key, chain)
			if !errors.Is(err, c.want) || changed {
				t.Errorf("changed %v, err %v; want %v", changed, err, c.want)
			}
			if err != nil && !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
				t.Error("the file changed")
			}
			if files, _ := os.ReadDir(filepath.Dir(path)); len(files) != 1 {
				t.Errorf("files left beside the keystore: %v", files)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := keystore.Merge(filepath.Join(t.TempDir(), "none.jks"), wso2, "a", kp.Key, chain)
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%v", err)
		}
	})
}

// TestMergeKeepsOwnerModeAndLink runs as root: a keystore owned by another user and
// group with mode 0640, reached through a symbolic link, is still that after a merge.
func TestMergeKeepsOwnerModeAndLink(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("skipping: giving a file to another owner needs root")
	}
	kp := newTestPair(t)
	dir := t.TempDir()
	real := copyFile(t, testdata(t, "wso2carbon.jks"))
	target := filepath.Join(dir, "wso2carbon.jks")
	if err := os.Rename(real, target); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(target, 4321, 8765); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(target, 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "current.jks")
	if err := os.Symlink("wso2carbon.jks", link); err != nil {
		t.Fatal(err)
	}
	changed, err := keystore.Merge(link, keystore.Passwords{Store: password(t, "wso2carbon.storepass")}, "wso2carbon", kp.Key, append([]*x509.Certificate{kp.Leaf}, kp.Chain...))
	if err != nil || !changed {
		t.Fatalf("changed %v, %v", changed, err)
	}
	if l, err := os.Readlink(link); err != nil || l != "wso2carbon.jks" {
		t.Errorf("the link became %q, %v", l, err)
	}
	st, err := os.Stat(target)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	if sys.Uid != 4321 || sys.Gid != 8765 || st.Mode().Perm() != 0o640 {
		t.Errorf("owner %d:%d mode %o, want 4321:8765 0640", sys.Uid, sys.Gid, st.Mode().Perm())
	}
	if files, _ := os.ReadDir(dir); len(files) != 2 {
		t.Errorf("files in the directory: %v", files)
	}
}

func TestSafefileNewFileMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "new.p12")
	if err := safefile.Write(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %o", st.Mode().Perm())
	}
}
