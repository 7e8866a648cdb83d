package osslrsa_test

import (
	"crypto/tls"
	"log"

	"github.com/keybridge/keybridge/internal/osslrsa"
)

// Serve a certificate whose RSA key signs through OpenSSL when the program is
// built with -tags openssl; in other builds Wrap returns it unchanged.
func ExampleWrap() {
	cert, err := tls.LoadX509KeyPair("server.crt", "server.key")
	if err != nil {
		log.Fatal(err)
	}
	if w, err := osslrsa.Wrap(cert); err != nil {
		log.Printf("signing with Go: %v", err)
	} else {
		cert = w
	}
	_ = &tls.Config{Certificates: []tls.Certificate{cert}}
}
