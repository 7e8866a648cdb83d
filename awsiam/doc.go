// Package awsiam takes a key pair from a keystore to AWS: it validates it for the
// target (IAM server certificates or ACM), uploads it under a name derived from the
// certificate so that a repeated run is a no-op, attaches it to classic ELB and
// ALB/NLB listeners while waiting out the CertificateNotFound window that follows
// an IAM upload, sets JSESSIONID-style application-cookie stickiness, lists
// certificates with the listeners that use them, and checks expiry.
//
// The AWS clients are small interfaces holding only the SDK methods used
// (IAMAPI, ACMAPI, ELBAPI, ELBv2API); the aws-sdk-go-v2 clients satisfy them, and
// tests point the real clients at the local endpoint of package awstest. A
// Service in dry-run mode reads what it needs, records the changing calls it would
// make (Planned) and makes none. The package never prints; it logs through the
// *slog.Logger it is given and never logs key material.
package awsiam
