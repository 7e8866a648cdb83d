package renew

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	"github.com/aws/smithy-go"

	"github.com/keybridge/keybridge/keystore"
)

// ACMExportAPI is the part of the ACM client this package uses.
type ACMExportAPI interface {
	ExportCertificate(ctx context.Context, in *acm.ExportCertificateInput, optFns ...func(*acm.Options)) (*acm.ExportCertificateOutput, error)
}

var _ ACMExportAPI = (*acm.Client)(nil)

// exportACM exports the certificate arn with a random passphrase held in
// memory only, and decrypts its key in memory. It returns the key and the
// chain, leaf first.
func exportACM(ctx context.Context, c ACMExportAPI, arn string) (crypto.Signer, []*x509.Certificate, error) {
	// 32 hex digits: within ACM's 4-128 ASCII characters, none of #, $ or %.
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return nil, nil, err
	}
	pass := []byte(hex.EncodeToString(raw))
	out, err := c.ExportCertificate(ctx, &acm.ExportCertificateInput{CertificateArn: aws.String(arn), Passphrase: pass})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			switch ae.ErrorCode() {
			case "RequestInProgressException":
				return nil, nil, fmt.Errorf("exporting %s from ACM: %w: %s", arn, ErrNotIssued, ae.ErrorMessage())
			case "ValidationException":
				return nil, nil, fmt.Errorf("exporting %s from ACM: %w: %s", arn, ErrNotExportable, ae.ErrorMessage())
			}
		}
		return nil, nil, fmt.Errorf("exporting %s from ACM: %w", arn, err)
	}
	bundle := aws.ToString(out.Certificate) + "\n" + aws.ToString(out.CertificateChain) + "\n" + aws.ToString(out.PrivateKey)
	ks, err := keystore.Parse([]byte(bundle), pass)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the certificate ACM exported for %s: %w", arn, err)
	}
	for _, e := range ks.Entries {
		if e.Kind != keystore.PrivateKeyEntry {
			continue
		}
		key, err := e.PrivateKey(pass)
		if err != nil {
			return nil, nil, fmt.Errorf("decrypting the key ACM exported for %s: %w", arn, err)
		}
		return key, e.Chain, nil
	}
	return nil, nil, fmt.Errorf("ACM's export of %s holds no private key matching the certificate", arn)
}
