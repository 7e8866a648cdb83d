package awstest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	r53types "github.com/aws/aws-sdk-go-v2/service/route53/types"
	"github.com/miekg/dns"

	"github.com/keybridge/keybridge/awsiam/awstest"
	"github.com/keybridge/keybridge/keystore"
)

func txtChange(action r53types.ChangeAction, name string, values ...string) r53types.Change {
	var rr []r53types.ResourceRecord
	for _, v := range values {
		rr = append(rr, r53types.ResourceRecord{Value: aws.String(v)})
	}
	return r53types.Change{Action: action, ResourceRecordSet: &r53types.ResourceRecordSet{
		Name: aws.String(name), Type: r53types.RRTypeTxt, TTL: aws.Int64(60), ResourceRecords: rr}}
}

// queryTXT asks the endpoint's DNS server (over udp or tcp) for name's TXT records.
func queryTXT(t *testing.T, srv *awstest.Server, network, name string) (rcode int, txt []string) {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeTXT)
	in, _, err := c.Exchange(m, srv.DNSAddr())
	if err != nil {
		t.Fatalf("DNS %s query for %s: %v", network, name, err)
	}
	for _, rr := range in.Answer {
		if r, ok := rr.(*dns.TXT); ok {
			txt = append(txt, strings.Join(r.Txt, ""))
		}
	}
	return in.Rcode, txt
}

func TestRoute53ThroughSDKAndDNS(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	c := sdkClients(srv, "eu-west-1", 1)
	ctx := context.Background()

	created, err := c.r53.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String("example.test"), CallerReference: aws.String("ref-1")})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := srv.AddHostedZone("shop.example.test.")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.r53.CreateHostedZone(ctx, &route53.CreateHostedZoneInput{Name: aws.String("other.test"), CallerReference: aws.String("ref-1")}); !isType[*r53types.HostedZoneAlreadyExists](err) {
		t.Fatalf("reused CallerReference: %v, want HostedZoneAlreadyExists", err)
	}
	zoneID := strings.TrimPrefix(*created.HostedZone.Id, "/hostedzone/")

	// ListHostedZonesByName: ordered by reversed labels, starting at dnsname.
	list, err := c.r53.ListHostedZonesByName(ctx, &route53.ListHostedZonesByNameInput{DNSName: aws.String("shop.example.test")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.HostedZones) != 1 || *list.HostedZones[0].Name != "shop.example.test." || *list.HostedZones[0].Id != "/hostedzone/"+sub {
		t.Fatalf("zones from shop.example.test: %+v", list.HostedZones)
	}
	all, err := c.r53.ListHostedZonesByName(ctx, &route53.ListHostedZonesByNameInput{MaxItems: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.HostedZones) != 1 || *all.HostedZones[0].Name != "example.test." || !all.IsTruncated || *all.NextDNSName != "shop.example.test." {
		t.Fatalf("first page: %+v truncated=%v", all.HostedZones, all.IsTruncated)
	}

	// A batch with one bad change is refused whole, with InvalidChangeBatch's messages.
	_, err = c.r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(zoneID),
		ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{
			txtChange(r53types.ChangeActionUpsert, "_acme-challenge.example.test", `"abc"`),
			txtChange(r53types.ChangeActionDelete, "missing.example.test", `"x"`),
			txtChange(r53types.ChangeActionCreate, "www.elsewhere.test", `"x"`),
		}}})
	var icb *r53types.InvalidChangeBatch
	if !errors.As(err, &icb) || len(icb.Messages) != 2 || !strings.Contains(icb.Messages[0], "but it was not found") || !strings.Contains(icb.Messages[1], "not permitted in zone example.test.") {
		t.Fatalf("bad batch: %v (%+v)", err, icb)
	}
	if sets, _ := srv.RecordSets(zoneID); len(sets) != 2 {
		t.Fatalf("a refused batch changed the zone: %+v", sets)
	}

	srv.SetRoute53Delay(400 * time.Millisecond)
	out, err := c.r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(zoneID),
		ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{txtChange(r53types.ChangeActionUpsert, "_acme-challenge.example.test", `"abc"`)}}})
	if err != nil {
		t.Fatal(err)
	}
	if out.ChangeInfo.Status != r53types.ChangeStatusPending {
		t.Fatalf("status %s, want PENDING", out.ChangeInfo.Status)
	}
	// Before INSYNC, DNS does not answer the record yet.
	if rcode, txt := queryTXT(t, srv, "udp", "_acme-challenge.example.test"); rcode != dns.RcodeNameError || txt != nil {
		t.Fatalf("before INSYNC: rcode %d txt %q, want NXDOMAIN", rcode, txt)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ch, err := c.r53.GetChange(ctx, &route53.GetChangeInput{Id: out.ChangeInfo.Id})
		if err != nil {
			t.Fatal(err)
		}
		if ch.ChangeInfo.Status == r53types.ChangeStatusInsync {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("change never INSYNC")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, network := range []string{"udp", "tcp"} {
		if rcode, txt := queryTXT(t, srv, network, "_acme-challenge.example.test."); rcode != dns.RcodeSuccess || len(txt) != 1 || txt[0] != "abc" {
			t.Fatalf("%s after INSYNC: rcode %d txt %q", network, rcode, txt)
		}
	}
	if rcode, _ := queryTXT(t, srv, "udp", "nowhere.invalid"); rcode != dns.RcodeRefused {
		t.Fatalf("name in no zone: rcode %d, want REFUSED", rcode)
	}
	srv.SetRoute53Delay(0)

	// CREATE of an existing set and DELETE with other values are refused; the exact DELETE works.
	_, err = c.r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(zoneID),
		ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{txtChange(r53types.ChangeActionCreate, "_acme-challenge.example.test", `"abc"`)}}})
	if !errors.As(err, &icb) || !strings.Contains(icb.Messages[0], "but it already exists") {
		t.Fatalf("CREATE of an existing set: %v", err)
	}
	_, err = c.r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(zoneID),
		ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{txtChange(r53types.ChangeActionDelete, "_acme-challenge.example.test", `"other"`)}}})
	if !errors.As(err, &icb) || !strings.Contains(icb.Messages[0], "do not match the current values") {
		t.Fatalf("DELETE with other values: %v", err)
	}
	_, err = c.r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(zoneID),
		ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{txtChange(r53types.ChangeActionCreate, "_acme-challenge.example.test", `unquoted`)}}})
	if !errors.As(err, &icb) || !strings.Contains(icb.Messages[0], "quotation marks") {
		t.Fatalf("unquoted TXT: %v", err)
	}
	rrs, err := c.r53.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String(zoneID),
		StartRecordName: aws.String("_acme-challenge.example.test"), StartRecordType: r53types.RRTypeTxt, MaxItems: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rrs.ResourceRecordSets) != 1 || *rrs.ResourceRecordSets[0].ResourceRecords[0].Value != `"abc"` {
		t.Fatalf("ListResourceRecordSets: %+v", rrs.ResourceRecordSets)
	}
	if _, err = c.r53.ChangeResourceRecordSets(ctx, &route53.ChangeResourceRecordSetsInput{HostedZoneId: aws.String(zoneID),
		ChangeBatch: &r53types.ChangeBatch{Changes: []r53types.Change{txtChange(r53types.ChangeActionDelete, "_acme-challenge.example.test", `"abc"`)}}}); err != nil {
		t.Fatal(err)
	}
	if rcode, _ := queryTXT(t, srv, "udp", "_acme-challenge.example.test"); rcode != dns.RcodeNameError {
		t.Fatalf("after DELETE: rcode %d, want NXDOMAIN", rcode)
	}

	if _, err := c.r53.GetChange(ctx, &route53.GetChangeInput{Id: aws.String("CNOSUCH")}); !isType[*r53types.NoSuchChange](err) {
		t.Fatalf("unknown change: %v", err)
	}
	if _, err := c.r53.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{HostedZoneId: aws.String("ZNOSUCH")}); !isType[*r53types.NoSuchHostedZone](err) {
		t.Fatalf("unknown zone: %v", err)
	}
}

func isType[T error](err error) bool {
	var target T
	return errors.As(err, &target)
}

func TestACMExport(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	c := sdkClients(srv, "eu-west-1", 1)
	ctx := context.Background()

	req, err := c.acm.RequestCertificate(ctx, &acm.RequestCertificateInput{DomainName: aws.String("app.example.test"),
		KeyAlgorithm: acmtypes.KeyAlgorithmEcPrime256v1, Options: &acmtypes.CertificateOptions{Export: acmtypes.CertificateExportEnabled}})
	if err != nil {
		t.Fatal(err)
	}
	pass := []byte("correct-horse-battery")
	out, err := c.acm.ExportCertificate(ctx, &acm.ExportCertificateInput{CertificateArn: req.CertificateArn, Passphrase: pass})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(*out.PrivateKey, "-----BEGIN ENCRYPTED PRIVATE KEY-----") {
		t.Fatalf("private key is not encrypted PKCS#8: %.40q", *out.PrivateKey)
	}
	ks, err := keystore.Parse([]byte(*out.Certificate+*out.CertificateChain+*out.PrivateKey), pass)
	if err != nil {
		t.Fatalf("decrypting the export with the passphrase: %v", err)
	}
	var kp *keystore.Entry
	for _, e := range ks.Entries {
		if e.Kind == keystore.PrivateKeyEntry {
			kp = e
		}
	}
	if kp == nil || len(kp.Chain) != 2 || kp.Chain[0].DNSNames[0] != "app.example.test" {
		t.Fatalf("export does not hold key, leaf and issuer: %+v", ks.Entries)
	}
	if _, err := keystore.Parse([]byte(*out.PrivateKey), []byte("wrong-pass")); !errors.Is(err, keystore.ErrWrongPassword) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, ok := kp.Chain[0].PublicKey.(*ecdsa.PublicKey); !ok {
		t.Fatalf("key type %T, want ECDSA", kp.Chain[0].PublicKey)
	}

	// Renewal keeps the ARN and changes the certificate.
	if err := srv.RenewACMCertificate("eu-west-1", *req.CertificateArn); err != nil {
		t.Fatal(err)
	}
	again, err := c.acm.ExportCertificate(ctx, &acm.ExportCertificateInput{CertificateArn: req.CertificateArn, Passphrase: pass})
	if err != nil || *again.Certificate == *out.Certificate {
		t.Fatalf("after renewal: err %v, same certificate %v", err, err == nil && *again.Certificate == *out.Certificate)
	}

	for _, tc := range []struct {
		name string
		arn  func() string
		pass []byte
		code string
	}{
		{"imported", func() string {
			m := newPKI(t).leaf(t, "imported.example.test", ecKey(t, elliptic.P256()))
			arn, err := srv.ImportACMCertificate("eu-west-1", m.cert, m.key, m.chain)
			if err != nil {
				t.Fatal(err)
			}
			return arn
		}, pass, "ValidationException"},
		{"not exportable", func() string {
			r, err := c.acm.RequestCertificate(ctx, &acm.RequestCertificateInput{DomainName: aws.String("x.example.test")})
			if err != nil {
				t.Fatal(err)
			}
			return *r.CertificateArn
		}, pass, "ValidationException"},
		{"not issued", func() string {
			srv.SetACMIssueDelay(-1)
			defer srv.SetACMIssueDelay(0)
			r, err := c.acm.RequestCertificate(ctx, &acm.RequestCertificateInput{DomainName: aws.String("y.example.test"),
				Options: &acmtypes.CertificateOptions{Export: acmtypes.CertificateExportEnabled}})
			if err != nil {
				t.Fatal(err)
			}
			return *r.CertificateArn
		}, pass, "RequestInProgressException"},
		{"short passphrase", func() string { return *req.CertificateArn }, []byte("abc"), "ValidationException"},
		{"passphrase with $", func() string { return *req.CertificateArn }, []byte("abc$def"), "ValidationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.acm.ExportCertificate(ctx, &acm.ExportCertificateInput{CertificateArn: aws.String(tc.arn()), Passphrase: tc.pass})
			if !isCode(err, tc.code) {
				t.Fatalf("error %v, want %s", err, tc.code)
			}
		})
	}
}
