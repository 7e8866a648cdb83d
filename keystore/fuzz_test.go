package keystore

import (
	"os"
	"path/filepath"
	"testing"
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
