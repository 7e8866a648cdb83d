// Package awsiam takes a key pair from a keystore to AWS: it validates it for the
// target (IAM server certificates or ACM), uploads it under a name derived from the
// certificate so that a repeated run is a no-op, attaches it to classic ELB and
// ALB/NLB listeners while waiting out the CertificateNotFound window that follows
// an IAM upload, sets JSESSIONID-style application-cookie stickiness, lists
// certificates with the listeners that use them, and checks expiry.
//
// Rotation is a plan and an apply, over one Service per region: PlanRotation
// reads what AWS reports now (in bulk: one describe for up to 400 classic load
// balancers, one for up to 20 ALB/NLB listeners) and decides per listener to
// skip, switch or re-import in place (ACM); Rotation.Apply uploads once,
// switches a bounded number of listeners at a time (the first of each region
// alone, so only it waits out IAM propagation), reads them back, probes the TLS
// endpoint and prunes. Every step is safe to repeat: a listener only ever
// points at its old certificate or at the new one, which exists before any
// listener is switched, and AWS's refusal of a delete in use is respected.
//
// What belongs together is recorded in AWS, not inferred from names: the
// certificate a rotation moves listeners to carries, in its tags, its lineage
// and what each listener served before (Record, written before any listener
// moves). PlanRollback follows those records back to exactly what each
// listener served; a rotation's Prune deletes only certificates of its own
// lineage that no listener serves and no rollback within Keep generations
// needs.
//
// The AWS clients are small interfaces holding only the SDK methods used
// (IAMAPI, ACMAPI, ELBAPI, ELBv2API); the aws-sdk-go-v2 clients satisfy them, and
// tests point the real clients at the local endpoint of package awstest. A
// Service in dry-run mode reads what it needs, records the changing calls it would
// make (Planned) and makes none. The package never prints; it logs through the
// *slog.Logger it is given and never logs key material.
package awsiam
