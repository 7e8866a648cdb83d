package awsiam_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/keybridge/keybridge/awsiam"
	"github.com/keybridge/keybridge/awsiam/awstest"
	"github.com/keybridge/keybridge/keystore"
)

// Deploy a key pair to a classic ELB listener of the local endpoint, twice: the
// second run finds everything done and changes nothing.
func ExampleService_Deploy() {
	srv, err := awstest.New(awstest.Options{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	demo, err := srv.SeedDemo("us-east-1")
	if err != nil {
		panic(err)
	}
	svc := awsiam.New(awsiam.NewClients(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "dummy", ""),
		BaseEndpoint: aws.String(srv.URL()),
	}), awsiam.Options{})

	kp := selfSignedPair("www.example.com")
	opts := awsiam.DeployOptions{
		Listeners:        []awsiam.Listener{{ELB: demo.ClassicELB, Port: 443}},
		StickinessCookie: "JSESSIONID",
	}
	for range 2 {
		res, err := svc.Deploy(context.Background(), kp, opts)
		if err != nil {
			panic(err)
		}
		fmt.Println("uploaded:", res.Upload.Uploaded, "listener changed:", res.Attached[0].Changed,
			"stickiness changed:", res.Stickiness[0].Changed)
	}
	// Output:
	// uploaded: true listener changed: true stickiness changed: true
	// uploaded: false listener changed: false stickiness changed: false
}

func ExampleDefaultName() {
	kp := selfSignedPair("*.example.com")
	kp.Leaf.NotAfter = time.Date(2030, 1, 31, 0, 0, 0, 0, time.UTC)
	fmt.Println(awsiam.DefaultName(kp.Leaf, "")[:30])
	// Output: wildcard.example.com-20300131-
}

func selfSignedPair(cn string) *keystore.KeyPair {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return &keystore.KeyPair{Alias: "server", Key: key, Leaf: leaf}
}
