package keystore

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The fuzz targets call each format reader directly, past Parse's recover, so a panic
// anywhere in a reader fails the target. `make fuzz` runs each for FUZZTIME; `make test`
// runs their seeds (every fixture of that format, plus damaged variants).

func fuzzSeeds(f *testing.F, patterns ...string) {
	for _, p := range patterns {
		files, _ := filepath.Glob(filepath.Join("..", "testdata", p))
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
			f.Add(data[:len(data)/2])
			if len(data) > 40 {
				flipped := append([]byte(nil), data...)
				flipped[len(flipped)/3] ^= 0xff
				f.Add(flipped)
			}
		}
	}
}

// fuzzPassword is the fixtures' most common password shape; wrong for most seeds,
// which exercises the failure paths too.
var fuzzPassword = []byte("changeit")

func FuzzJKS(f *testing.F) {
	fuzzSeeds(f, "*.jks")
	f.Fuzz(func(t *testing.T, data []byte) {
		if DetectFormat(data) != FormatJKS {
			return
		}
		if ks, err := parseJKS(data, fuzzPassword); err == nil {
			for _, e := range ks.KeyEntries() {
				e.PrivateKey(fuzzPassword)
			}
		}
	})
}

func FuzzJCEKS(f *testing.F) {
	fuzzSeeds(f, "*.jceks")
	f.Fuzz(func(t *testing.T, data []byte) {
		if DetectFormat(data) != FormatJCEKS {
			return
		}
		if ks, err := parseJCEKS(data, fuzzPassword); err == nil {
			for _, e := range ks.KeyEntries() {
				e.PrivateKey(fuzzPassword)
			}
		}
		// The secret-key skipper sees what follows an entry header.
		skipJavaObject(data)
	})
}

func FuzzPKCS12(f *testing.F) {
	fuzzSeeds(f, "*.p12", "*.der")
	f.Fuzz(func(t *testing.T, data []byte) {
		ks, err := parsePKCS12(data, fuzzPassword)
		if err == nil {
			for _, e := range ks.KeyEntries() {
				e.PrivateKey(fuzzPassword)
			}
		}
		parseDERCert(data)
	})
}

func FuzzPEM(f *testing.F) {
	fuzzSeeds(f, "*.pem")
	f.Fuzz(func(t *testing.T, data []byte) {
		parsePEM(data, fuzzPassword)
	})
}

// FuzzMerge writes a new key entry into damaged or hostile keystores: the writers must
// neither panic nor return a keystore that does not read back. The seeds are the
// fixtures of every format that takes entries, with their right store passwords.
func FuzzMerge(f *testing.F) {
	addKeystoreSeeds(f)
	kp := fuzzKeyPair(f)
	f.Fuzz(func(t *testing.T, data []byte, pass string) {
		p := Passwords{Store: []byte(pass)}
		var out []byte
		var changed bool
		var err error
		switch DetectFormat(data) {
		case FormatJKS, FormatJCEKS:
			out, changed, err = mergeSun(data, DetectFormat(data), p, kp, time.Now())
		case FormatPKCS12:
			out, changed, err = mergePKCS12(data, p, kp)
		default:
			return
		}
		if err == nil && changed {
			if err := checkMerged(out, p, kp); err != nil {
				t.Fatalf("merged keystore does not read back: %v", err)
			}
		}
	})
}

// addKeystoreSeeds seeds f with every JKS, JCEKS and PKCS#12 fixture and its
// store password, whole and cut in half.
func addKeystoreSeeds(f *testing.F) {
	for _, p := range []string{"*.jks", "*.jceks", "*.p12"} {
		files, _ := filepath.Glob(filepath.Join("..", "testdata", p))
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			pass, _ := ReadPasswordFile(strings.TrimSuffix(file, filepath.Ext(file)) + ".storepass")
			f.Add(data, string(pass))
			f.Add(data[:len(data)/2], string(pass))
		}
	}
}

// fuzzKeyPair is a self-signed P-256 key pair (fast to protect and check).
func fuzzKeyPair(f *testing.F) *KeyPair {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fuzz"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		f.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		f.Fatal(err)
	}
	return &KeyPair{Alias: "fuzz", Key: key, Leaf: leaf}
}

// FuzzAddTrusted: adding a trusted certificate to any input never panics, and
// a keystore it writes reads back with the certificate as a trusted entry and
// every earlier entry.
func FuzzAddTrusted(f *testing.F) {
	addKeystoreSeeds(f)
	leaf := fuzzKeyPair(f).Leaf
	f.Fuzz(func(t *testing.T, data []byte, pass string) {
		before, err := Parse(data, []byte(pass))
		out, added, aerr := AddTrustedData(data, []byte(pass), []*x509.Certificate{leaf}, "fuzz", time.Now())
		if aerr != nil || out == nil {
			return
		}
		if err != nil {
			t.Fatalf("added to a keystore that does not read: %v", err)
		}
		after, err := Parse(out, []byte(pass))
		if err != nil {
			t.Fatalf("keystore with %v added does not read back: %v", added, err)
		}
		if len(after.Entries) != len(before.Entries)+1 || findAlias(after, added[0]) == nil || !findAlias(after, added[0]).Leaf().Equal(leaf) {
			t.Fatalf("entries %d -> %d, added %v", len(before.Entries), len(after.Entries), added)
		}
	})
}
