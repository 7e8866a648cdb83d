package keystore_test

import (
	"fmt"
	"os"

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
