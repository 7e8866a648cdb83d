// Package awstest is a local AWS endpoint for tests and demos: an HTTP server on
// 127.0.0.1 that speaks the wire protocols of the IAM, ACM, classic ELB, ELBv2 and
// Route 53 operations certup uses (Route 53's hosted zones are also answered over
// DNS, UDP and TCP, on a loopback port: DNSAddr), so the real aws-sdk-go-v2 clients can be pointed at it
// (BaseEndpoint, --endpoint-url or AWS_ENDPOINT_URL).
//
// It keeps state in memory, per region (IAM is global), and behaves as AWS does
// where scripts usually trip: names are unique, a private key that does not match
// its certificate and garbage bodies are rejected, a certificate a listener uses
// cannot be deleted (DeleteConflict / ResourceInUseException), and for a
// configurable time after an upload the load-balancer APIs answer
// CertificateNotFound. Faults (fail once, N times or always, with any error code),
// throttling and latency can be injected per operation, and every call is counted
// so tests can prove, for example, that a dry run made no mutating call.
//
// Operations are named "<service>:<Action>", with service one of iam, acm, elb
// (classic, API version 2012-06-01), elbv2 (API version 2015-12-01) and route53
// (REST-XML, API version 2013-04-01), for example
// "iam:UploadServerCertificate" or "elbv2:ModifyListener".
//
// Requests are routed by the credential scope of the SigV4 Authorization header
// (the signature itself is not verified) and by Action / X-Amz-Target (Route 53:
// by method and path).
package awstest
