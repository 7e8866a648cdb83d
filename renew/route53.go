package renew

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/go-acme/lego/v5/challenge/dns01"
	"github.com/miekg/dns"
)

// Route53API is the part of the Route 53 client this package uses.
type Route53API interface {
	ListHostedZonesByName(ctx context.Context, in *route53.ListHostedZonesByNameInput, optFns ...func(*route53.Options)) (*route53.ListHostedZonesByNameOutput, error)
	ChangeResourceRecordSets(ctx context.Context, in *route53.ChangeResourceRecordSetsInput, optFns ...func(*route53.Options)) (*route53.ChangeResourceRecordSetsOutput, error)
	GetChange(ctx context.Context, in *route53.GetChangeInput, optFns ...func(*route53.Options)) (*route53.GetChangeOutput, error)
}

var _ Route53API = (*route53.Client)(nil)

// challengeTTL is the TTL of the challenge TXT records.
const challengeTTL = 60

// dnsProvider answers DNS-01 challenges in Route 53: it writes the TXT record
// (UPSERT, every value of the name in one set, since a wildcard and its base
// name share _acme-challenge), waits until Route 53 reports the change INSYNC
// and the resolvers answer the value, and removes the value afterwards (lego
// calls CleanUp also when validation fails; Close removes what is left).
type dnsProvider struct {
	r53       Route53API
	zoneID    string // fixed zone, or "" to find it by name
	resolvers []string
	timeout   time.Duration
	interval  time.Duration
	log       *slog.Logger

	mu      sync.Mutex
	present map[string][]string // fqdn → values written
	zones   map[string]string   // fqdn → zone ID
}

func (p *dnsProvider) Timeout() (timeout, interval time.Duration) { return p.timeout, p.interval }

// Present writes the challenge record for domain.
func (p *dnsProvider) Present(ctx context.Context, domain, token, keyAuth string) error {
	info := dns01.GetChallengeInfo(ctx, domain, keyAuth)
	fqdn := strings.ToLower(info.EffectiveFQDN)
	zoneID, err := p.zoneFor(ctx, fqdn)
	if err != nil {
		return err
	}
	p.mu.Lock()
	values := append(slices.Clone(p.present[fqdn]), info.Value)
	p.mu.Unlock()
	id, status, err := p.change(ctx, zoneID, r53types.ChangeActionUpsert, fqdn, values)
	if err != nil {
		return err
	}
	// Written: from here on CleanUp or Close removes it, whatever happens next.
	p.mu.Lock()
	p.present[fqdn] = values
	p.zones[fqdn] = zoneID
	p.mu.Unlock()
	return p.waitInsync(ctx, id, fqdn, status)
}

// CleanUp removes the challenge value of domain.
func (p *dnsProvider) CleanUp(ctx context.Context, domain, token, keyAuth string) error {
	info := dns01.GetChallengeInfo(ctx, domain, keyAuth)
	fqdn := strings.ToLower(info.EffectiveFQDN)
	p.mu.Lock()
	values := p.present[fqdn]
	zoneID := p.zones[fqdn]
	p.mu.Unlock()
	if zoneID == "" {
		return nil
	}
	rest := slices.DeleteFunc(slices.Clone(values), func(v string) bool { return v == info.Value })
	if err := p.replace(ctx, zoneID, fqdn, values, rest); err != nil {
		return err
	}
	p.mu.Lock()
	if len(rest) == 0 {
		delete(p.present, fqdn)
	} else {
		p.present[fqdn] = rest
	}
	p.mu.Unlock()
	return nil
}

// Close removes every record still present (a run stopped between Present and
// CleanUp), with its own time limit so that a cancelled run still cleans up.
func (p *dnsProvider) Close() error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(context.Background()), 30*time.Second)
	defer cancel()
	p.mu.Lock()
	left := p.present
	p.present = map[string][]string{}
	p.mu.Unlock()
	var errs []error
	for fqdn, values := range left {
		if err := p.replace(ctx, p.zones[fqdn], fqdn, values, nil); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// replace swaps the set's values old for rest (DELETE when rest is empty:
// Route 53 deletes a set only given its exact current values).
func (p *dnsProvider) replace(ctx context.Context, zoneID, fqdn string, old, rest []string) error {
	action, values := r53types.ChangeActionDelete, old
	if len(rest) > 0 {
		action, values = r53types.ChangeActionUpsert, rest
	}
	_, _, err := p.change(ctx, zoneID, action, fqdn, values)
	return err
}

// change sends one change and returns its ID and status.
func (p *dnsProvider) change(ctx context.Context, zoneID string, action r53types.ChangeAction, fqdn string, values []string) (string, r53types.ChangeStatus, error) {
	rrs := make([]r53types.ResourceRecord, 0, len(values))
	for _, v := range values {
		rrs = append(rrs, r53types.ResourceRecord{Value: aws.String(`"` + v + `"`)})
	}
	out, err := p.r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(zoneID),
		ChangeBatch: &r53types.ChangeBatch{
			Comment: aws.String("keybridge ACME DNS-01 challenge"),
			Changes: []r53types.Change{{Action: action, ResourceRecordSet: &r53types.ResourceRecordSet{
				Name: aws.String(fqdn), Type: r53types.RRTypeTxt, TTL: aws.Int64(challengeTTL), ResourceRecords: rrs,
			}}},
		},
	})
	if err != nil {
		return "", "", fmt.Errorf("route 53 %s of TXT %s in zone %s: %w", action, fqdn, zoneID, err)
	}
	p.log.Debug("route 53 change", "action", string(action), "name", fqdn, "zone", zoneID, "change", aws.ToString(out.ChangeInfo.Id))
	return aws.ToString(out.ChangeInfo.Id), out.ChangeInfo.Status, nil
}

// waitInsync polls GetChange until the change has reached every Route 53 name
// server, or the propagation timeout passes.
func (p *dnsProvider) waitInsync(ctx context.Context, id, fqdn string, status r53types.ChangeStatus) error {
	deadline := time.Now().Add(p.timeout)
	for status != r53types.ChangeStatusInsync {
		if time.Now().After(deadline) {
			return fmt.Errorf("TXT %s: route 53 change %s still %s after %s: %w", fqdn, id, status, p.timeout, ErrDNSNotVisible)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(p.interval):
		}
		out, err := p.r53.GetChange(ctx, &route53.GetChangeInput{Id: aws.String(id)})
		if err != nil {
			return fmt.Errorf("route 53 change %s: %w", id, err)
		}
		status = out.ChangeInfo.Status
	}
	return nil
}

// zoneFor returns the hosted zone that holds fqdn: the given one, or the zone
// with the longest name that fqdn ends in.
func (p *dnsProvider) zoneFor(ctx context.Context, fqdn string) (string, error) {
	if p.zoneID != "" {
		return p.zoneID, nil
	}
	var zones []hostedZone
	// ListHostedZonesByName lists from DNSName on in reversed-label order; the
	// candidates are the name's suffixes, so ask for each, most specific first.
	for name := range dns01.DomainsSeq(fqdn) {
		out, err := p.r53.ListHostedZonesByName(ctx, &route53.ListHostedZonesByNameInput{DNSName: aws.String(name), MaxItems: aws.Int32(1)})
		if err != nil {
			return "", fmt.Errorf("finding the hosted zone of %s: %w", fqdn, err)
		}
		for _, z := range out.HostedZones {
			zones = append(zones, hostedZone{
				ID:      strings.TrimPrefix(aws.ToString(z.Id), "/hostedzone/"),
				Name:    aws.ToString(z.Name),
				Private: z.Config != nil && z.Config.PrivateZone,
			})
		}
		if id, ok := longestZone(fqdn, zones); ok {
			return id, nil
		}
	}
	return "", fmt.Errorf("%s: no public Route 53 hosted zone holds this name: %w", strings.TrimSuffix(fqdn, "."), ErrZoneNotFound)
}

type hostedZone struct {
	ID, Name string
	Private  bool
}

// longestZone picks, among zones, the public zone with the longest name that
// fqdn is in (the apex or below).
func longestZone(fqdn string, zones []hostedZone) (string, bool) {
	fqdn = dns.Fqdn(strings.ToLower(fqdn))
	best, bestLen := "", -1
	for _, z := range zones {
		name := dns.Fqdn(strings.ToLower(z.Name))
		if z.Private || (fqdn != name && !strings.HasSuffix(fqdn, "."+name)) {
			continue
		}
		if len(name) > bestLen {
			best, bestLen = z.ID, len(name)
		}
	}
	return best, bestLen >= 0
}

// visible is the DNS-01 pre-check: every resolver answers value among fqdn's
// TXT records. A resolver that fails to answer counts as not seeing it.
func (p *dnsProvider) visible(ctx context.Context, fqdn, value string) (bool, error) {
	for _, r := range p.resolvers {
		ok, err := resolverHas(ctx, r, fqdn, value)
		if err != nil || !ok {
			why := "does not answer it yet"
			if err != nil {
				why = err.Error()
			}
			return false, fmt.Errorf("TXT %s at resolver %s: %s: %w", strings.TrimSuffix(fqdn, "."), r, why, ErrDNSNotVisible)
		}
	}
	return true, nil
}

func resolverHas(ctx context.Context, resolver, fqdn, value string) (bool, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(fqdn), dns.TypeTXT)
	m.RecursionDesired = true
	c := &dns.Client{Timeout: 3 * time.Second}
	in, _, err := c.ExchangeContext(ctx, m, resolver)
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, m, resolver)
	}
	if err != nil {
		return false, err
	}
	for _, rr := range in.Answer {
		if txt, ok := rr.(*dns.TXT); ok && strings.Join(txt.Txt, "") == value {
			return true, nil
		}
	}
	return false, nil
}

// systemResolvers are the name servers of /etc/resolv.conf.
func systemResolvers() ([]string, error) {
	cfg, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return nil, fmt.Errorf("reading the system's resolvers: %w", err)
	}
	out := make([]string, 0, len(cfg.Servers))
	for _, s := range cfg.Servers {
		out = append(out, withPort(s, cfg.Port))
	}
	return out, nil
}

func withPort(host, port string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}
