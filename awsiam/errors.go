package awsiam

import (
	"errors"
	"fmt"
)

// Sentinel errors, for errors.Is.
var (
	// ErrKeyMismatch: the private key is not the key of the certificate.
	ErrKeyMismatch = errors.New("private key does not match the certificate")
	// ErrExpired: the certificate is expired (or not yet valid).
	ErrExpired = errors.New("certificate outside its validity period")
	// ErrChainOrder: the chain does not lead from the leaf up, each certificate
	// issued by the next.
	ErrChainOrder = errors.New("certificate chain out of order")
	// ErrUnsupportedKey: the target does not take this key type or size.
	ErrUnsupportedKey = errors.New("key type not accepted by the target")
	// ErrKeyTooLarge: the PEM private key is larger than AWS accepts.
	ErrKeyTooLarge = errors.New("private key too large")
	// ErrInvalidName: a certificate name IAM would refuse.
	ErrInvalidName = errors.New("invalid certificate name")
	// ErrNameTaken: a different certificate already has the name.
	ErrNameTaken = errors.New("name already used by a different certificate")
	// ErrCertificateNotFound: no certificate with that name or ARN.
	ErrCertificateNotFound = errors.New("certificate not found")
	// ErrListenerNotFound: no such load balancer or listener.
	ErrListenerNotFound = errors.New("listener not found")
	// ErrPropagation: the load balancer still answered CertificateNotFound when the
	// wait ran out.
	ErrPropagation = errors.New("certificate propagation did not finish")
	// ErrNotConfirmed: reading the listener back did not show the certificate.
	ErrNotConfirmed = errors.New("listener does not show the certificate")
	// ErrNotSecure: the listener speaks neither HTTPS, SSL nor TLS and takes no
	// certificate.
	ErrNotSecure = errors.New("listener takes no certificate")
	// ErrStickiness: application-cookie stickiness cannot be set on this listener.
	ErrStickiness = errors.New("cannot set stickiness")

	// Refusals: what AWS would refuse, found before anything is changed.

	// ErrNotFQDN: ALB and NLB listeners refuse a certificate whose domain name
	// is not fully qualified (AWS: UnsupportedCertificate).
	ErrNotFQDN = errors.New("certificate has no fully qualified domain name")
	// ErrReimport: ACM refuses to re-import this certificate into that ARN
	// (another key type or size, Key Usage or Extended Key Usage values
	// dropped, tags given).
	ErrReimport = errors.New("ACM cannot re-import this certificate over the one it holds")
	// ErrTooManyCertificates: the load balancer would exceed its quota of
	// certificates besides the default ones (AWS: TooManyCertificates).
	ErrTooManyCertificates = errors.New("too many certificates for the load balancer")
	// ErrInvalidPath: an IAM path IAM would refuse (AWS: ValidationError).
	ErrInvalidPath = errors.New("invalid IAM path")
	// ErrNoRegion: no AWS region was configured.
	ErrNoRegion = errors.New("no AWS region")
	// ErrInvalidListener: a listener name or ARN that cannot be read.
	ErrInvalidListener = errors.New("invalid listener")
	// ErrNotForTarget: an option of the other store (IAM or ACM).
	ErrNotForTarget = errors.New("option not for this certificate store")
	// ErrACMOnlyKey: a key type ACM takes and IAM does not (EC P-521).
	ErrACMOnlyKey = fmt.Errorf("key type accepted by ACM only: %w", ErrUnsupportedKey)
	// ErrWrongRegion: an ARN of another region than the clients'.
	ErrWrongRegion = errors.New("resource in another region")
)

// Lineage errors, for errors.Is.
var (
	// ErrInvalidLineage: a lineage name the tags cannot hold.
	ErrInvalidLineage = errors.New("invalid lineage name")
	// ErrLineageAmbiguous: the targets serve certificates of several lineages and
	// none was named.
	ErrLineageAmbiguous = errors.New("targets belong to several lineages")
	// ErrTooManyTags: the lineage record would exceed the tags AWS allows on a
	// certificate.
	ErrTooManyTags = errors.New("too many tags on the certificate")
	// ErrNoPredecessor: no record or upload tells what a listener served before.
	ErrNoPredecessor = errors.New("no previous certificate to go back to")
)
