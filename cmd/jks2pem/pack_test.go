package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/keybridge/keybridge/internal/testkit"
)

// renewedPEM converts chain.jks (a leaf under an intermediate and a root) into PEM
// files, the material a renewal brings: server.key, server.crt, server.chain.pem.
func renewedPEM(t *testing.T) (key, cert, chain string) {
	t.Helper()
	src := t.TempDir()
	if r := run(t, nil, td("chain.jks"), "--out-dir", src, "--storepass-file", td("chain.storepass")); r.code != 0 {
		t.Fatal(r.stderr)
	}
	return filepath.Join(src, "server.key"), filepath.Join(src, "server.crt"), filepath.Join(src, "server.chain.pem")
}

type listedEntry struct {
	Alias       string `json:"alias"`
	Kind        string `json:"kind"`
	SHA256      string `json:"sha256"`
	ChainLength int    `json:"chain_length"`
}

func listJSON(t *testing.T, env []string, path string) []listedEntry {
	t.Helper()
	r := run(t, env, "list", "--json", path)
	if r.code != 0 {
		t.Fatalf("list %s: %s", path, r.stderr)
	}
	var l struct{ Entries []listedEntry }
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
		t.Fatal(err)
	}
	return l.Entries
}

// giveAway makes path owned by another user and group with mode 0640, as a keystore
// of the wso2 user is; it needs root.
func giveAway(t *testing.T, path string) {
	t.Helper()
	if err := os.Chown(path, 4321, 8765); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
}

func ownerMode(t *testing.T, path string) string {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	return strconv.Itoa(int(sys.Uid)) + ":" + strconv.Itoa(int(sys.Gid)) + " " + strconv.FormatUint(uint64(st.Mode().Perm()), 8)
}

// TestPackMerge renews the key entry of a JKS, a JCEKS and two PKCS#12 keystores in
// place (WSO2 4.10's wso2carbon.p12 among them: 143 entries, no MAC) as root would for
// a keystore of the wso2 user: every other entry is kept, the keystore keeps its owner,
// group and mode, keytool reads the result, and a second run writes nothing.
func TestPackMerge(t *testing.T) {
	key, cert, chain := renewedPEM(t)
	type target struct {
		name, src, alias, pass, typ string
	}
	targets := []target{
		{"jks", td("wso2carbon.jks"), "wso2carbon", strings.TrimSpace(readFile(t, td("wso2carbon.storepass"))), "JKS"},
		{"jceks", td("jceks-secret.jceks"), "mykey", strings.TrimSpace(readFile(t, td("jceks-secret.storepass"))), "JCEKS"},
		{"pkcs12 with MAC", td("multi.p12"), "alpha", strings.TrimSpace(readFile(t, td("multi-p12.storepass"))), "PKCS12"},
	}
	if dir := filepath.Join(filepath.Dir(testkit.Root()), "shared", "wso2"); dirOK(dir) {
		targets = append(targets, target{"wso2carbon-4.10.p12", filepath.Join(dir, "wso2carbon-4.10.p12"), "wso2carbon", "wso2carbon", "PKCS12"})
	} else if os.Getenv("CI") != "" {
		t.Fatal("the WSO2 keystores are missing in CI")
	}
	keytool, _ := exec.LookPath("keytool")
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			env := []string{"KEYSTORE_PASSWORD=" + tg.pass}
			out := filepath.Join(t.TempDir(), filepath.Base(tg.src))
			if err := os.WriteFile(out, []byte(readFile(t, tg.src)), 0o600); err != nil {
				t.Fatal(err)
			}
			if os.Getuid() == 0 {
				giveAway(t, out)
			}
			wantOwner := ownerMode(t, out)
			before := listJSON(t, env, out)

			r := run(t, env, "pack", "--merge", "--key", key, "--cert", cert, "--chain", chain, "--alias", tg.alias, "--out", out)
			if r.code != 0 || !strings.Contains(r.stdout, "updated "+out) {
				t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			if got := ownerMode(t, out); got != wantOwner {
				t.Errorf("owner and mode %s after the merge, was %s", got, wantOwner)
			}
			after := listJSON(t, env, out)
			if len(after) != len(before) {
				t.Errorf("%d entries after, %d before", len(after), len(before))
			}
			was := map[string]listedEntry{}
			for _, e := range before {
				was[strings.ToLower(e.Alias)] = e
			}
			for _, e := range after {
				old := was[strings.ToLower(e.Alias)]
				switch {
				case strings.EqualFold(e.Alias, tg.alias):
					if e.Kind != "PrivateKeyEntry" || e.ChainLength != 3 || e.SHA256 == old.SHA256 {
						t.Errorf("renewed entry: %+v", e)
					}
				case e != old:
					t.Errorf("entry %q changed: %+v, was %+v", e.Alias, e, old)
				}
			}
			// The renewed key comes back out as it went in.
			back := t.TempDir()
			if r := run(t, env, out, "--alias", tg.alias, "--out-dir", back); r.code != 0 {
				t.Fatal(r.stderr)
			}
			if readFile(t, filepath.Join(back, fileBase(tg.alias)+".key")) != readFile(t, key) {
				t.Error("the key read back differs from the one packed")
			}
			if keytool != "" {
				cmd := exec.Command(keytool, "-list", "-keystore", out, "-storetype", tg.typ, "-storepass:env", "KS_PASS")
				cmd.Env = append(os.Environ(), "KS_PASS="+tg.pass)
				kt, err := cmd.CombinedOutput()
				if err != nil || !strings.Contains(string(kt), "Your keystore contains "+strconv.Itoa(len(before))+" entr") {
					t.Errorf("keytool -list: %v\n%.500s", err, kt)
				}
			}
			data := readFile(t, out)
			again := run(t, env, "pack", "--merge", "--key", key, "--cert", cert, "--chain", chain, "--alias", tg.alias, "--out", out)
			if again.code != 0 || !strings.Contains(again.stdout, "already holds this key and chain; nothing written") {
				t.Errorf("second run: exit %d\n%s%s", again.code, again.stdout, again.stderr)
			}
			if readFile(t, out) != data {
				t.Error("the second run rewrote the keystore")
			}
			if files, _ := os.ReadDir(filepath.Dir(out)); len(files) != 1 {
				t.Errorf("files beside the keystore: %v", files)
			}
		})
	}
}

func dirOK(p string) bool { st, err := os.Stat(p); return err == nil && st.IsDir() }

func fileBase(alias string) string { return fileName(alias) }

func TestPackMergeRefusals(t *testing.T) {
	key, cert, chain := renewedPEM(t)
	wso2 := "KEYSTORE_PASSWORD=" + strings.TrimSpace(readFile(t, td("wso2carbon.storepass")))
	cases := []struct {
		name string
		env  []string
		args []string
		code int
		want string
		hint string
	}{
		{"wrong store password", []string{"KEYSTORE_PASSWORD=not-the-password"}, []string{"--alias", "wso2carbon"}, 1,
			"wrong store password", "check the store password"},
		{"trusted certificate alias", []string{wso2}, []string{"--alias", "otherca"}, 1,
			`alias "otherca" holds a trustedCertEntry, not a private key; it was not replaced`, "choose another --alias"},
		{"type differs", []string{wso2}, []string{"--alias", "wso2carbon", "--type", "pkcs12"}, 1,
			"is a JKS keystore, not PKCS12", "--merge keeps the keystore's own type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "wso2carbon.jks")
			os.WriteFile(out, []byte(readFile(t, td("wso2carbon.jks"))), 0o644)
			args := append([]string{"pack", "--merge", "--key", key, "--cert", cert, "--chain", chain, "--out", out}, c.args...)
			r := run(t, c.env, args...)
			if r.code != c.code || !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, "jks2pem: hint: "+c.hint) {
				t.Errorf("exit %d, stderr %q; want %d, %q and the hint %q", r.code, r.stderr, c.code, c.want, c.hint)
			}
			if readFile(t, out) != readFile(t, td("wso2carbon.jks")) {
				t.Error("the keystore changed")
			}
			if files, _ := os.ReadDir(filepath.Dir(out)); len(files) != 1 {
				t.Errorf("files beside the keystore: %v", files)
			}
		})
	}
	t.Run("missing keystore is created", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "new.p12")
		r := run(t, []string{"KEYSTORE_PASSWORD=new-password"}, "pack", "--merge", "--type", "pkcs12", "--key", key, "--cert", cert, "--chain", chain, "--alias", "server", "--out", out)
		if r.code != 0 {
			t.Fatal(r.stderr)
		}
		if got := ownerMode(t, out); !strings.HasSuffix(got, " 600") {
			t.Errorf("new keystore: %s, want mode 0600", got)
		}
		if l := listJSON(t, []string{"KEYSTORE_PASSWORD=new-password"}, out); len(l) != 1 || l[0].ChainLength != 3 {
			t.Errorf("new keystore lists %+v", l)
		}
	})
}

// TestPackMergeKeyPassword: a key entry with a password of its own is renewed only with
// that password, which the new key keeps (the server expects it).
func TestPackMergeKeyPassword(t *testing.T) {
	key, cert, chain := renewedPEM(t)
	out := filepath.Join(t.TempDir(), "keypass.jks")
	os.WriteFile(out, []byte(readFile(t, td("keypass.jks"))), 0o600)
	args := []string{"pack", "--merge", "--key", key, "--cert", cert, "--chain", chain, "--alias", "mykey", "--out", out, "--storepass-file", td("keypass.storepass")}
	r := run(t, nil, args...)
	if r.code != 1 || !strings.Contains(r.stderr, `wrong key password for alias "mykey"`) || !strings.Contains(r.stderr, "jks2pem: hint: the store password is right but the key has a password of its own: give it with --keypass-file") {
		t.Errorf("without the key password: exit %d %q", r.code, r.stderr)
	}
	if readFile(t, out) != readFile(t, td("keypass.jks")) {
		t.Fatal("the keystore changed")
	}
	if r := run(t, nil, append(args, "--keypass-file", td("keypass.keypass"))...); r.code != 0 {
		t.Fatalf("with the key password: exit %d %s", r.code, r.stderr)
	}
	back := t.TempDir()
	if r := run(t, nil, out, "--out-dir", back, "--storepass-file", td("keypass.storepass"), "--keypass-file", td("keypass.keypass")); r.code != 0 {
		t.Fatalf("the renewed key does not open with the old key password: %s", r.stderr)
	}
	if readFile(t, filepath.Join(back, "mykey.key")) != readFile(t, key) {
		t.Error("the key read back differs")
	}
}
