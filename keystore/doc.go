// Package keystore reads and writes the key stores that Java application servers use
// (JKS, JCEKS, PKCS#12) and PEM/DER bundles, through one model: a keystore is its
// entries in file order, and an entry holds an alias, a kind, a creation time where the
// format has one and a certificate chain ordered leaf first. Private keys are decrypted
// on request with their own password.
//
// The format is detected from the bytes, never from the file name. For PKCS#12 and PEM
// the chain is built from the certificate that matches the key, following
// issuer→subject with signature checks, never "all the other certificates".
//
// The package neither prints nor exits; every error is one line that says what failed
// and, through the sentinel errors in errors.go, lets a caller say how to fix it.
package keystore
