package keystore_test

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/keybridge/keybridge/internal/testkit"
)

type fixture = testkit.Fixture

func testdata(t testing.TB, name string) string { return testkit.Testdata(name) }

func loadFixtures(t testing.TB) []fixture { return testkit.Fixtures(t) }

func password(t testing.TB, name string) []byte { return testkit.Password(t, name) }

func sharedWSO2(t testing.TB) string { return testkit.SharedWSO2(t) }

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func chainHashes(certs []*x509.Certificate) []string {
	out := []string{}
	for _, c := range certs {
		out = append(out, hexSHA256(c.Raw))
	}
	return out
}

func norm(s string) string { return strings.ToLower(strings.ReplaceAll(s, ":", "")) }
