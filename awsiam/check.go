package awsiam

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keybridge/keybridge/internal/words"
)

// CheckResult says whether a certificate is valid for long enough.
type CheckResult struct {
	CertificateARN string    `json:"certificate_arn"`
	Name           string    `json:"name,omitempty"`
	Listener       *Listener `json:"listener,omitempty"`
	NotAfter       time.Time `json:"not_after"`
	DaysLeft       int       `json:"days_left"`
	Days           int       `json:"days"`
	OK             bool      `json:"ok"`
	Reason         string    `json:"reason"`
}

// Check reports whether the certificate ref (IAM name or ARN, ACM ARN) — or,
// when ref is empty, the certificate listener l serves (its default one) — is
// valid for at least days more days.
func (s *Service) Check(ctx context.Context, ref string, l *Listener, days int) (*CheckResult, error) {
	if days < 0 {
		return nil, errors.New("days must not be negative")
	}
	res := &CheckResult{Listener: l, Days: days}
	if ref == "" {
		if l == nil {
			return nil, errors.New("nothing to check: give a certificate or a listener")
		}
		certs, err := s.listenerCertificates(ctx, *l)
		if err != nil {
			return nil, err
		}
		if len(certs) == 0 || certs[0] == "" {
			return nil, fmt.Errorf("%s serves no certificate", l)
		}
		ref = certs[0]
	}
	info, err := s.Certificate(ctx, ref)
	if err != nil {
		return nil, err
	}
	now := s.now()
	res.CertificateARN, res.Name, res.NotAfter = info.ARN, info.Name, info.NotAfter
	res.DaysLeft = daysLeft(now, info.NotAfter)
	what := info.ARN
	if info.Name != "" {
		what = info.Name
	}
	if l != nil {
		what = fmt.Sprintf("%s (served by %s)", what, l)
	}
	expiry := info.NotAfter.UTC().Format(time.RFC3339)
	switch {
	case !now.Before(info.NotAfter):
		res.Reason = fmt.Sprintf("certificate %s %s (on %s)", what, words.Left(now, info.NotAfter), expiry)
	case info.NotAfter.Sub(now) < time.Duration(days)*24*time.Hour:
		res.Reason = fmt.Sprintf("certificate %s expires on %s, %s, fewer than %d", what, expiry, words.Left(now, info.NotAfter), days)
	default:
		res.OK = true
		res.Reason = fmt.Sprintf("certificate %s is valid until %s, %s", what, expiry, words.Left(now, info.NotAfter))
	}
	return res, nil
}
