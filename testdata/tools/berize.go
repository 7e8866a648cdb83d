// Command berize rewrites a DER-encoded PKCS#12 file (PFX) into BER: the outer
// PFX SEQUENCE, the authSafe ContentInfo and its [0] wrapper get indefinite
// lengths, and the authSafe data becomes a constructed OCTET STRING made of
// small chunks, as Windows and NSS write it. The bytes covered by the MAC (the
// content octets of the authSafe data) are unchanged, so the MAC stays valid
// and OpenSSL still reads the result.
//
// Used only by testdata/gen.sh: go run testdata/tools/berize.go in.p12 out.p12
package main

import (
	"encoding/asn1"
	"fmt"
	"os"
)

const chunkSize = 512

func next(b []byte, what string) (asn1.RawValue, []byte) {
	var rv asn1.RawValue
	rest, err := asn1.Unmarshal(b, &rv)
	if err != nil {
		fail(fmt.Errorf("parsing %s: %w", what, err))
	}
	return rv, rest
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "berize: %v\n", err)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 3 {
		fail(fmt.Errorf("usage: berize IN.p12 OUT.p12"))
	}
	in, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err)
	}
	pfx, rest := next(in, "PFX")
	if len(rest) != 0 || pfx.Tag != asn1.TagSequence {
		fail(fmt.Errorf("not a single DER PFX SEQUENCE"))
	}
	version, r := next(pfx.Bytes, "version")
	authSafe, macData := next(r, "authSafe")
	contentType, r := next(authSafe.Bytes, "contentType")
	explicit, _ := next(r, "[0] content")
	data, _ := next(explicit.Bytes, "data OCTET STRING")
	if explicit.Class != asn1.ClassContextSpecific || explicit.Tag != 0 || data.Tag != asn1.TagOctetString {
		fail(fmt.Errorf("authSafe is not a pkcs7-data ContentInfo"))
	}

	eoc := []byte{0, 0}
	var out []byte
	out = append(out, 0x30, 0x80) // PFX SEQUENCE, indefinite
	out = append(out, version.FullBytes...)
	out = append(out, 0x30, 0x80) // authSafe ContentInfo, indefinite
	out = append(out, contentType.FullBytes...)
	out = append(out, 0xa0, 0x80) // [0] EXPLICIT, indefinite
	out = append(out, 0x24, 0x80) // constructed OCTET STRING, indefinite
	for b := data.Bytes; len(b) > 0; {
		n := min(chunkSize, len(b))
		chunk, err := asn1.Marshal(b[:n])
		if err != nil {
			fail(err)
		}
		out = append(out, chunk...)
		b = b[n:]
	}
	out = append(out, eoc...) // end of OCTET STRING
	out = append(out, eoc...) // end of [0]
	out = append(out, eoc...) // end of ContentInfo
	out = append(out, macData...)
	out = append(out, eoc...) // end of PFX
	if err := os.WriteFile(os.Args[2], out, 0o644); err != nil {
		fail(err)
	}
}
