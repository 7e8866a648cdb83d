package keystore

import (
	"bytes"
	"encoding/asn1"
	"testing"
)

// TestJCEDeriveAllocations guards the claim in jceDerive: the rounds allocate nothing,
// so the 200,000 of a JCEKS key cost MD5 only (allocations grew the race-detector run
// of the merge tests by minutes).
func TestJCEDeriveAllocations(t *testing.T) {
	salt := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	few := testing.AllocsPerRun(3, func() { jceDerive(salt, 10, []byte("changeit")) })
	many := testing.AllocsPerRun(3, func() { jceDerive(salt, 10_000, []byte("changeit")) })
	if many > few {
		t.Errorf("%v allocations for 10,000 rounds, %v for 10: rounds allocate", many, few)
	}
}

// TestJCEKeyProtectorRoundTrip: what jceKeyProtectorEncrypt protects,
// jceKeyProtectorDecrypt opens, and a wrong password does not.
func TestJCEKeyProtectorRoundTrip(t *testing.T) {
	plain := bytes.Repeat([]byte("pkcs8 "), 50)
	der, err := jceKeyProtectorEncrypt(plain, []byte("changeit"))
	if err != nil {
		t.Fatal(err)
	}
	w := sunEntry{alias: "k", protected: der}
	var info encryptedPrivateKeyInfo
	if _, err := asn1.Unmarshal(der, &info); err != nil {
		t.Fatal(err)
	}
	got, err := jceKeyProtectorDecrypt(info.Algorithm.Parameters.FullBytes, info.Data, []byte("changeit"))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := decryptSunKey(w, []byte("wrong-pass")); err == nil {
		t.Error("a wrong password opened the key")
	}
}
