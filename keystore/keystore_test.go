package keystore_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keybridge/keybridge/internal/testkit"
	"github.com/keybridge/keybridge/keystore"
)

func TestFixturesMatchKeytoolAndOpenSSL(t *testing.T) {
	for _, fx := range loadFixtures(t) {
		t.Run(fx.File+"/"+fx.Alias, func(t *testing.T) {
			data, err := os.ReadFile(testdata(t, fx.File))
			if err != nil {
				t.Fatal(err)
			}
			if got := keystore.DetectFormat(data).String(); got != fx.Format && fx.ExpectError != "ber" {
				t.Errorf("format %s, want %s", got, fx.Format)
			}
			storePass := password(t, fx.StorepassFile)
			ks, err := keystore.Parse(data, storePass)
			switch fx.ExpectError {
			case "ber":
				if !errors.Is(err, keystore.ErrUnsupportedFormat) || !strings.Contains(err.Error(), "BER") {
					t.Fatalf("BER file: err = %v, want a BER error", err)
				}
				return
			case "key_mismatch":
				if !errors.Is(err, keystore.ErrKeyMismatch) {
					t.Fatalf("err = %v, want ErrKeyMismatch", err)
				}
				return
			case "":
			default:
				t.Fatalf("unknown expect_error %q", fx.ExpectError)
			}
			if err != nil {
				t.Fatal(err)
			}
			if fx.Entries > 0 && len(ks.Entries) != fx.Entries {
				t.Errorf("%d entries, keytool lists %d (%v)", len(ks.Entries), fx.Entries, ks.Aliases())
			}
			if len(fx.Aliases) > 0 {
				got := map[string]bool{}
				for _, a := range ks.Aliases() {
					got[strings.ToLower(a)] = true
				}
				for _, a := range fx.Aliases {
					if !got[strings.ToLower(a)] {
						t.Errorf("alias %q missing; have %v", a, ks.Aliases())
					}
				}
			}
			if !fx.PrivateKey {
				if len(ks.Certificates()) == 0 || norm(hexSHA256(ks.Certificates()[0].Raw)) != norm(fx.LeafSHA256) {
					t.Errorf("certificate does not match %s", fx.LeafSHA256)
				}
				return
			}
			var keyPass []byte
			if fx.KeypassFile != "" && fx.KeypassFile != fx.StorepassFile {
				keyPass = password(t, fx.KeypassFile)
			} else {
				keyPass = storePass
			}
			kp, err := ks.KeyPair(fx.Alias, keyPass)
			if err != nil {
				t.Fatal(err)
			}
			if got := hexSHA256(kp.Leaf.Raw); got != norm(fx.LeafSHA256) {
				t.Errorf("leaf sha256 %s, want %s", got, fx.LeafSHA256)
			}
			spki, err := x509.MarshalPKIXPublicKey(kp.Key.Public())
			if err != nil {
				t.Fatal(err)
			}
			if got := hexSHA256(spki); got != norm(fx.PubkeySHA256) {
				t.Errorf("public key sha256 %s, want %s (from the key keytool+openssl exported)", got, fx.PubkeySHA256)
			}
			want := []string{}
			for _, h := range fx.ChainSHA256 {
				want = append(want, norm(h))
			}
			if got := chainHashes(kp.Chain); !reflect.DeepEqual(got, want) {
				t.Errorf("chain %v, want %v", got, want)
			}
			if alg, bits := keystore.KeyDescription(kp.Key.Public()); alg != fx.KeyType || bits != fx.KeyBits {
				t.Errorf("key %s %d, want %s %d", alg, bits, fx.KeyType, fx.KeyBits)
			}
		})
	}
}

func TestRealWSO2Keystores(t *testing.T) {
	dir := sharedWSO2(t)
	pass := []byte("wso2carbon")
	cases := []struct {
		file           string
		format         keystore.Format
		entries, keys  int
		subjectCN      string
		notAfterPrefix string
	}{
		{"wso2carbon-4.4.jks", keystore.FormatJKS, 36, 1, "localhost", "2027-07-17"},
		{"client-truststore-4.4.jks", keystore.FormatJKS, 97, 0, "", ""},
		{"wso2carbon-4.10.p12", keystore.FormatPKCS12, 143, 1, "localhost", "2025-01-07"},
		{"client-truststore-4.10.p12", keystore.FormatPKCS12, 143, 0, "", ""},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			ks, err := keystore.ReadFile(filepath.Join(dir, c.file), pass)
			if err != nil {
				t.Fatal(err)
			}
			if ks.Format != c.format || len(ks.Entries) != c.entries || len(ks.KeyEntries()) != c.keys {
				t.Fatalf("%s with %d entries, %d keys; want %s, %d, %d", ks.Format, len(ks.Entries), len(ks.KeyEntries()), c.format, c.entries, c.keys)
			}
			if c.keys == 0 {
				if n := len(ks.Certificates()); n != c.entries {
					t.Errorf("truststore gives %d certificates, want %d", n, c.entries)
				}
				if _, err := ks.KeyPair("", pass); !errors.Is(err, keystore.ErrNoPrivateKey) {
					t.Errorf("KeyPair on a truststore: %v, want ErrNoPrivateKey", err)
				}
				return
			}
			kp, err := ks.KeyPair("WSO2Carbon", pass) // keytool aliases are case-insensitive
			if err != nil {
				t.Fatal(err)
			}
			if kp.Alias != "wso2carbon" || kp.Leaf.Subject.CommonName != c.subjectCN ||
				kp.Leaf.NotAfter.UTC().Format(time.DateOnly) != c.notAfterPrefix {
				t.Errorf("got %q %s until %s", kp.Alias, kp.Leaf.Subject, kp.Leaf.NotAfter)
			}
			if _, ok := kp.Key.(*rsa.PrivateKey); !ok || kp.Key.(*rsa.PrivateKey).N.BitLen() != 2048 {
				t.Errorf("key %T, want RSA-2048", kp.Key)
			}
			if !keystore.KeyMatchesCert(kp.Key, kp.Leaf) {
				t.Error("key does not match leaf")
			}
			if _, err := keystore.ReadFile(filepath.Join(dir, c.file), []byte("not-the-password")); c.format == keystore.FormatJKS && !errors.Is(err, keystore.ErrWrongPassword) {
				t.Errorf("wrong password: %v", err)
			}
			// The 4.10 file has no MAC: a wrong password shows at the key.
			if _, err := keystore.LoadKeyPair(filepath.Join(dir, c.file), "", []byte("not-the-password"), nil); !errors.Is(err, keystore.ErrWrongPassword) {
				t.Errorf("LoadKeyPair with a wrong password: %v, want ErrWrongPassword", err)
			}
		})
	}
}

func TestWrongPasswords(t *testing.T) {
	for _, f := range []string{"rsa2048.jks", "jceks.jceks", "keytool.p12", "openssl.p12", "openssl-legacy.p12", "nonascii.jks", "nonascii-cyrillic.jks"} {
		t.Run(f, func(t *testing.T) {
			_, err := keystore.ReadFile(testdata(t, f), []byte("wrong-password"))
			if !errors.Is(err, keystore.ErrWrongPassword) {
				t.Fatalf("err = %v, want ErrWrongPassword", err)
			}
			if !strings.Contains(err.Error(), f) || !strings.Contains(err.Error(), "wrong store password") {
				t.Errorf("message %q should name the file and say wrong store password", err)
			}
		})
	}
	t.Run("encrypted-pkcs8.pem", func(t *testing.T) {
		_, err := keystore.ReadFile(testdata(t, "encrypted-pkcs8.pem"), []byte("wrong-password"))
		if !errors.Is(err, keystore.ErrWrongPassword) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("nomac.p12 key", func(t *testing.T) {
		_, err := keystore.LoadKeyPair(testdata(t, "nomac.p12"), "", []byte("wrong-password"), nil)
		if !errors.Is(err, keystore.ErrWrongPassword) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("keypass.jks key password", func(t *testing.T) {
		store := password(t, "keypass.storepass")
		ks, err := keystore.ReadFile(testdata(t, "keypass.jks"), store)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ks.KeyPair("", store)
		if !errors.Is(err, keystore.ErrWrongKeyPassword) || !strings.Contains(err.Error(), `wrong key password for alias "mykey"`) {
			t.Fatalf("err = %v, want wrong key password for alias", err)
		}
		if _, err := ks.KeyPair("", password(t, "keypass.keypass")); err != nil {
			t.Fatal(err)
		}
		// Without a key password the store password is tried on the key; the store
		// password was checked by the file's digest, so the key password is what is
		// wrong, not the store password.
		_, err = keystore.LoadKeyPair(testdata(t, "keypass.jks"), "", store, nil)
		if !errors.Is(err, keystore.ErrWrongKeyPassword) || errors.Is(err, keystore.ErrWrongPassword) {
			t.Fatalf("LoadKeyPair without key password: %v, want wrong key password", err)
		}
	})
	t.Run("trusted certificate alias", func(t *testing.T) {
		ks, err := keystore.ReadFile(testdata(t, "wso2carbon.jks"), password(t, "wso2carbon.storepass"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = ks.KeyEntry("otherca")
		if !errors.Is(err, keystore.ErrNotKeyEntry) || !errors.Is(err, keystore.ErrNoPrivateKey) || strings.Contains(err.Error(), "--") {
			t.Errorf("err = %v, want ErrNotKeyEntry (and ErrNoPrivateKey), no flag named", err)
		}
		_, err = (&keystore.Keystore{Entries: ks.Entries[:0]}).KeyEntry("")
		if errors.Is(err, keystore.ErrNotKeyEntry) || !errors.Is(err, keystore.ErrNoPrivateKey) {
			t.Errorf("empty keystore: %v", err)
		}
	})
}

func TestAliases(t *testing.T) {
	ks, err := keystore.ReadFile(testdata(t, "multi.jks"), password(t, "multi.storepass"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ks.KeyEntry("")
	if !errors.Is(err, keystore.ErrAmbiguousAlias) || !strings.Contains(err.Error(), "alpha") || !strings.Contains(err.Error(), "beta") || strings.Contains(err.Error(), "--alias") {
		t.Errorf("no alias with two keys: %v", err)
	}
	_, err = ks.KeyEntry("gamma")
	if !errors.Is(err, keystore.ErrAliasNotFound) || !strings.Contains(err.Error(), `alias "gamma" not found; aliases: `) {
		t.Errorf("unknown alias: %v", err)
	}
	if e, err := ks.KeyEntry("ALPHA"); err != nil || e.Alias != "alpha" {
		t.Errorf("case-insensitive lookup: %v %v", e, err)
	}
}

func TestBadInputs(t *testing.T) {
	jksData, err := os.ReadFile(testdata(t, "rsa2048.jks"))
	if err != nil {
		t.Fatal(err)
	}
	p12Data, err := os.ReadFile(testdata(t, "keytool.p12"))
	if err != nil {
		t.Fatal(err)
	}
	random := make([]byte, 4096)
	rand.Read(random)
	random[0] = 0x42 // not a magic number
	cases := map[string][]byte{
		"empty":         {},
		"random":        random,
		"truncated jks": jksData[:len(jksData)/2],
		"truncated p12": p12Data[:len(p12Data)/2],
		"jks header":    jksData[:12],
		"text":          []byte("hello, this is not a keystore\n"),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := keystore.Parse(data, []byte("changeit"))
			if err == nil {
				t.Fatal("parsed")
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error %q", err)
			}
		})
	}
	t.Run("unknown format names first bytes", func(t *testing.T) {
		_, err := keystore.Parse([]byte{0x00, 0x11, 0x22, 0x33, 0x44}, nil)
		want := "not a keystore: first bytes 00 11 22 33 (reads JKS, JCEKS, PKCS#12, PEM, DER)"
		if !errors.Is(err, keystore.ErrUnsupportedFormat) || err.Error() != want {
			t.Errorf("got %q, want %q", err, want)
		}
	})
	t.Run("every flipped byte in a JKS", func(t *testing.T) {
		pass := password(t, "rsa2048.storepass")
		for i := range jksData {
			bad := bytes.Clone(jksData)
			bad[i] ^= 0x01
			if _, err := keystore.Parse(bad, pass); err == nil {
				t.Fatalf("byte %d flipped: parsed without error", i)
			}
		}
	})
	t.Run("every truncation of a JKS and a PKCS#12", func(t *testing.T) {
		for _, d := range [][]byte{jksData, p12Data} {
			for n := 0; n < len(d); n += 7 {
				if _, err := keystore.Parse(d[:n], []byte("x")); err == nil {
					t.Fatalf("prefix of %d bytes parsed", n)
				}
			}
		}
	})
	t.Run("too large", func(t *testing.T) {
		_, err := keystore.Parse(make([]byte, keystore.MaxSize+1), nil)
		if !errors.Is(err, keystore.ErrTooLarge) {
			t.Errorf("err = %v", err)
		}
	})
}

// newTestPair makes a CA-signed leaf with a 2-certificate chain in memory.
func newTestPair(t *testing.T) *keystore.KeyPair {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	ca := testkit.SignCert(t, caTmpl, nil, caKey, caKey)
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "leaf.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), DNSNames: []string{"leaf.test"}}
	leaf := testkit.SignCert(t, leafTmpl, ca, key, caKey)
	kp, err := keystore.AssembleKeyPair("MyAlias", key, []*x509.Certificate{ca, leaf})
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

func TestWriteRoundTrip(t *testing.T) {
	kp := newTestPair(t)
	if len(kp.Chain) != 1 || kp.Chain[0].Subject.CommonName != "Test Root" {
		t.Fatalf("assembled chain %v", kp.Chain)
	}
	pass := []byte("s3cret-pass")
	for _, tc := range []struct {
		name   string
		encode func() ([]byte, error)
		format keystore.Format
	}{
		{"jks", func() ([]byte, error) { return keystore.EncodeJKS(kp, pass, pass, time.Now()) }, keystore.FormatJKS},
		{"jceks", func() ([]byte, error) { return keystore.EncodeJCEKS(kp, pass, pass, time.Now()) }, keystore.FormatJCEKS},
		{"pkcs12", func() ([]byte, error) { return keystore.EncodePKCS12(kp, pass) }, keystore.FormatPKCS12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := tc.encode()
			if err != nil {
				t.Fatal(err)
			}
			ks, err := keystore.Parse(data, pass)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ks.KeyPair("myalias", pass)
			if err != nil {
				t.Fatal(err)
			}
			if ks.Format != tc.format || !got.Leaf.Equal(kp.Leaf) || len(got.Chain) != 1 || !got.Chain[0].Equal(kp.Chain[0]) {
				t.Errorf("round trip changed the entry: %s %v", ks.Format, got)
			}
			if _, err := keystore.Parse(data, []byte("wrong-pass")); !errors.Is(err, keystore.ErrWrongPassword) {
				t.Errorf("wrong password: %v", err)
			}
		})
	}
	t.Run("merge keeps other entries", func(t *testing.T) {
		existing, err := os.ReadFile(testdata(t, "wso2carbon.jks"))
		if err != nil {
			t.Fatal(err)
		}
		wpass := password(t, "wso2carbon.storepass")
		kp2 := *kp
		kp2.Alias = "wso2carbon"
		merged, changed, err := keystore.MergeData(existing, keystore.Passwords{Store: wpass}, &kp2, time.Now())
		if err != nil || !changed {
			t.Fatal(changed, err)
		}
		before, _ := keystore.Parse(existing, wpass)
		after, err := keystore.Parse(merged, wpass)
		if err != nil {
			t.Fatal(err)
		}
		if len(after.Entries) != len(before.Entries) {
			t.Errorf("%d entries after merge, %d before", len(after.Entries), len(before.Entries))
		}
		got, err := after.KeyPair("wso2carbon", wpass)
		if err != nil || !got.Leaf.Equal(kp.Leaf) {
			t.Errorf("merged entry: %v", err)
		}
	})
}

func TestKeyPEMFormats(t *testing.T) {
	kp := newTestPair(t)
	pkcs1, _ := kp.KeyPEM(keystore.KeyFormatDefault)
	pkcs8, _ := kp.KeyPEM(keystore.KeyFormatPKCS8)
	if !bytes.HasPrefix(pkcs1, []byte("-----BEGIN RSA PRIVATE KEY-----\n")) {
		t.Errorf("default RSA key: %.40q", pkcs1)
	}
	if !bytes.HasPrefix(pkcs8, []byte("-----BEGIN PRIVATE KEY-----\n")) {
		t.Errorf("pkcs8 key: %.40q", pkcs8)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sec1, _ := keystore.EncodeKeyPEM(ec, keystore.KeyFormatDefault)
	if !bytes.HasPrefix(sec1, []byte("-----BEGIN EC PRIVATE KEY-----\n")) {
		t.Errorf("default EC key: %.40q", sec1)
	}
	if bytes.Contains(kp.FullChainPEM(), []byte("\r")) {
		t.Error("CR in PEM output")
	}
}

func TestWarnings(t *testing.T) {
	kp := newTestPair(t)
	if w := kp.Warnings(time.Now()); len(w) != 0 {
		t.Errorf("fresh pair warns: %v", w)
	}
	if w := kp.Warnings(time.Now().Add(48 * time.Hour)); len(w) == 0 || !strings.Contains(w[0], "expired") {
		t.Errorf("expired pair: %v", w)
	}
	bad := *kp
	bad.Chain = append(bad.Chain, kp.Leaf) // root followed by something it did not issue... reversed order
	bad.Chain = []*x509.Certificate{kp.Leaf}
	if w := bad.Warnings(time.Now()); len(w) == 0 || !strings.Contains(strings.Join(w, ";"), "chain out of order") {
		t.Errorf("out-of-order chain: %v", w)
	}
}

func TestReadPasswordFile(t *testing.T) {
	dir := t.TempDir()
	for content, want := range map[string]string{"pässwörd\n": "pässwörd", "secret\r\n": "secret", "nolf": "nolf", "first\nsecond\n": "first", "\n": ""} {
		p := filepath.Join(dir, "p")
		os.WriteFile(p, []byte(content), 0o600)
		got, err := keystore.ReadPasswordFile(p)
		if err != nil || string(got) != want {
			t.Errorf("%q: got %q, %v; want %q", content, got, err, want)
		}
	}
}
