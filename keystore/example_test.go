package keystore_test

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keybridge/keybridge/keystore"
)

// The one call a server or an uploader needs: the key, its certificate and chain.
func ExampleLoadKeyPair() {
	pass, _ := os.ReadFile("../testdata/chain.storepass")
	kp, err := keystore.LoadKeyPair("../testdata/chain.jks", "server", pass[:len(pass)-1], nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(kp.Leaf.Subject.CommonName, "issued by", kp.Chain[0].Subject.CommonName)
	fmt.Println("chain ends at", kp.Chain[len(kp.Chain)-1].Subject.CommonName)
	// Output:
	// localhost issued by Keybridge Test Intermediate CA
	// chain ends at Keybridge Test Root CA
}

func ExampleReadFile() {
	ks, err := keystore.ReadFile("../testdata/multi.jks", []byte("wrong password"))
	fmt.Println(ks == nil, err)
	// Output:
	// true ../testdata/multi.jks: wrong store password
}

func ExampleKeyPair_KeyPEM() {
	pass, _ := os.ReadFile("../testdata/rsa2048.storepass")
	kp, err := keystore.LoadKeyPair("../testdata/rsa2048.jks", "", pass[:len(pass)-1], nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	pem, _ := kp.KeyPEM(keystore.KeyFormatDefault)
	fmt.Printf("%s\n", pem[:31])
	// Output:
	// -----BEGIN RSA PRIVATE KEY-----
}

// Renewing a keystore in place: the renewed key and chain go under the alias the
// server uses; the other entries, the owner and the mode stay.
func ExampleMerge() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "wso2carbon.jks")
	data, _ := os.ReadFile("../testdata/wso2carbon.jks")
	os.WriteFile(path, data, 0o640)

	chainPass, _ := keystore.ReadPasswordFile("../testdata/chain.storepass")
	renewed, err := keystore.LoadKeyPair("../testdata/chain.jks", "server", chainPass, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	storePass, _ := keystore.ReadPasswordFile("../testdata/wso2carbon.storepass")
	pass := keystore.Passwords{Store: storePass} // the key password defaults to the store password
	chain := append([]*x509.Certificate{renewed.Leaf}, renewed.Chain...)
	for range 2 {
		changed, err := keystore.Merge(path, pass, "wso2carbon", renewed.Key, chain)
		fmt.Println("changed:", changed, err)
	}
	ks, _ := keystore.ReadFile(path, storePass)
	kp, _ := ks.KeyPair("wso2carbon", storePass)
	st, _ := os.Stat(path)
	fmt.Println(len(ks.Entries), "entries;", kp.Leaf.Subject.CommonName, "issued by", kp.Chain[0].Subject.CommonName, "; mode", st.Mode().Perm())
	// Output:
	// changed: true <nil>
	// changed: false <nil>
	// 3 entries; localhost issued by Keybridge Test Intermediate CA ; mode -rw-r-----
}
