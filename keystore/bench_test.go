package keystore_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/keybridge/keybridge/keystore"
)

// One full conversion, in memory: parse, decrypt the key, encode key, certificate and
// chain as PEM.
func benchConvert(b *testing.B, path string, pass []byte) {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Skipf("skipping: %v", err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		ks, err := keystore.Parse(data, pass)
		if err != nil {
			b.Fatal(err)
		}
		kp, err := ks.KeyPair("", pass)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := kp.KeyPEM(keystore.KeyFormatDefault); err != nil {
			b.Fatal(err)
		}
		_ = kp.FullChainPEM()
	}
}

func BenchmarkConvertJKS(b *testing.B) {
	benchConvert(b, testdata(b, "wso2carbon.jks"), password(b, "wso2carbon.storepass"))
}

func BenchmarkConvertPKCS12Keytool(b *testing.B) {
	benchConvert(b, testdata(b, "keytool.p12"), password(b, "keytool.storepass"))
}

func BenchmarkConvertWSO2JKS36(b *testing.B) {
	benchConvert(b, filepath.Join(sharedWSO2(b), "wso2carbon-4.4.jks"), []byte("wso2carbon"))
}

func BenchmarkConvertWSO2PKCS12143(b *testing.B) {
	benchConvert(b, filepath.Join(sharedWSO2(b), "wso2carbon-4.10.p12"), []byte("wso2carbon"))
}
