package awstest_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/keybridge/keybridge/awsiam/awstest"
)

// FuzzRequest sends arbitrary bodies to every service: the server must answer
// with an AWS response (never panic, never a status outside 200-599).
func FuzzRequest(f *testing.F) {
	f.Add("iam", "", "Action=UploadServerCertificate&Version=2010-05-08&ServerCertificateName=x&CertificateBody=-----BEGIN%20CERTIFICATE-----%0AAAAA%0A-----END%20CERTIFICATE-----&PrivateKey=x")
	f.Add("iam", "", "Action=ListServerCertificates&Version=2010-05-08&MaxItems=-1&Marker=zz")
	f.Add("elasticloadbalancing", "", "Action=SetLoadBalancerPoliciesOfListener&Version=2012-06-01&LoadBalancerName=a&LoadBalancerPort=x&PolicyNames.member.1=p")
	f.Add("elasticloadbalancing", "", "Action=CreateLoadBalancer&Version=2012-06-01&LoadBalancerName=a&Listeners.member.1.Protocol=HTTPS&Listeners.member.1.LoadBalancerPort=443&Listeners.member.1.InstancePort=1")
	f.Add("elasticloadbalancing", "", "Action=ModifyTargetGroupAttributes&Version=2015-12-01&TargetGroupArn=x&Attributes.member.1.Key=stickiness.type")
	f.Add("acm", "CertificateManager.ImportCertificate", `{"Certificate":"AAAA","PrivateKey":"AAAA"}`)
	f.Add("acm", "CertificateManager.ListCertificates", `{"NextToken":"-5","MaxItems":-1}`)
	f.Add("acm", "CertificateManager.GetCertificate", `[]`)
	f.Add("acm", "CertificateManager.ExportCertificate", `{"CertificateArn":"arn:aws:acm:us-east-1:1:certificate/x","Passphrase":"YWJj"}`)
	f.Add("acm", "CertificateManager.RequestCertificate", `{"DomainName":"a.test","Options":{"Export":"ENABLED"},"KeyAlgorithm":"EC_prime256v1"}`)
	// route53: the target is the request path; ZONE stands for the seeded zone's ID.
	f.Add("route53", "/2013-04-01/hostedzone/ZONE/rrset", `<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><Action>UPSERT</Action><ResourceRecordSet><Name>_acme-challenge.example.test</Name><Type>TXT</Type><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>"x"</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`)
	f.Add("route53", "/2013-04-01/hostedzone/ZONE/rrset", `<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><Action>DELETE</Action><ResourceRecordSet><Name>example.test</Name><Type>SOA</Type></ResourceRecordSet></Change></Changes></ChangeBatch>`)
	f.Add("route53", "/2013-04-01/hostedzone", `<CreateHostedZoneRequest><Name>..</Name><CallerReference>r</CallerReference></CreateHostedZoneRequest>`)
	srv, err := awstest.New(awstest.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer srv.Close()
	if _, err := srv.SeedDemo("us-east-1"); err != nil {
		f.Fatal(err)
	}
	zone, err := srv.AddHostedZone("example.test")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, service, target, body string) {
		path := "/"
		if service == "route53" && strings.HasPrefix(target, "/") {
			if u, err := url.ParseRequestURI(strings.ReplaceAll(target, "ZONE", zone)); err == nil {
				path = u.RequestURI()
			}
		}
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/"+service+"/aws4_request, SignedHeaders=host, Signature=x")
		req.Header.Set("X-Amz-Target", target)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code < 200 || w.Code > 599 {
			t.Fatalf("status %d", w.Code)
		}
	})
}
