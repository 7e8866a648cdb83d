// Package renew makes a keystore alias hold a fresh certificate and key: from
// ACM (an exportable certificate, exported with a passphrase held in memory
// only) or from an ACME CA (RFC 8555, through the lego library) with the DNS-01
// challenge answered in Route 53. The result is written in place with
// keystore.Merge (every other entry kept, owner and mode kept, atomic), and
// nothing is written on any error or when the alias already holds that
// certificate.
//
// When to renew is decided by ACME Renewal Information (RFC 9773) where the CA
// offers it for the current certificate, otherwise when a third of the
// certificate's lifetime remains (or a given number of days).
//
// Route 53 is reached through the same aws.Config as the rest of keybridge, so
// an endpoint override (awsiam/awstest) works for it too.
package renew
