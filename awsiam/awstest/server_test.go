package awstest_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/acm"
	acmtypes "github.com/aws/aws-sdk-go-v2/service/acm/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"

	"github.com/keybridge/keybridge/awsiam/awstest"
)

func TestIAMServerCertificates(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	c := sdkClients(srv, "eu-west-1", 1)
	p := newPKI(t)
	m := p.leaf(t, "www.example.com", nil)
	ctx := ctx(t)

	up, err := c.iam.UploadServerCertificate(ctx, &iam.UploadServerCertificateInput{
		ServerCertificateName: aws.String("www-1"),
		Path:                  aws.String("/certup/"),
		CertificateBody:       aws.String(m.cert),
		PrivateKey:            aws.String(m.key),
		CertificateChain:      aws.String(m.chain),
		Tags:                  []iamtypes.Tag{{Key: aws.String("owner"), Value: aws.String("ops")}},
	})
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	md := up.ServerCertificateMetadata
	if want := "arn:aws:iam::123456789012:server-certificate/certup/www-1"; aws.ToString(md.Arn) != want {
		t.Errorf("arn = %q, want %q", aws.ToString(md.Arn), want)
	}
	if !md.Expiration.Equal(m.leaf.NotAfter) {
		t.Errorf("expiration = %v, want %v", md.Expiration, m.leaf.NotAfter)
	}
	got, err := c.iam.GetServerCertificate(ctx, &iam.GetServerCertificateInput{ServerCertificateName: aws.String("www-1")})
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(aws.ToString(got.ServerCertificate.CertificateBody)) != strings.TrimSpace(m.cert) ||
		strings.TrimSpace(aws.ToString(got.ServerCertificate.CertificateChain)) != strings.TrimSpace(m.chain) {
		t.Error("get returned a different body or chain")
	}
	if len(got.ServerCertificate.Tags) != 1 || aws.ToString(got.ServerCertificate.Tags[0].Value) != "ops" {
		t.Errorf("tags = %+v", got.ServerCertificate.Tags)
	}

	other := p.leaf(t, "other.example.com", nil)
	mismatch := p.leaf(t, "www.example.com", nil)
	tests := []struct {
		name       string
		in         *iam.UploadServerCertificateInput
		wantTarget any
	}{
		{"duplicate name", &iam.UploadServerCertificateInput{ServerCertificateName: aws.String("WWW-1"),
			CertificateBody: aws.String(other.cert), PrivateKey: aws.String(other.key)}, new(*iamtypes.EntityAlreadyExistsException)},
		{"key mismatch", &iam.UploadServerCertificateInput{ServerCertificateName: aws.String("mismatch"),
			CertificateBody: aws.String(m.cert), PrivateKey: aws.String(mismatch.key)}, new(*iamtypes.KeyPairMismatchException)},
		{"garbage body", &iam.UploadServerCertificateInput{ServerCertificateName: aws.String("garbage"),
			CertificateBody: aws.String("hello"), PrivateKey: aws.String(m.key)}, new(*iamtypes.MalformedCertificateException)},
		{"garbage key", &iam.UploadServerCertificateInput{ServerCertificateName: aws.String("garbage"),
			CertificateBody: aws.String(m.cert), PrivateKey: aws.String("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n")}, new(*iamtypes.MalformedCertificateException)},
		{"chain out of order", &iam.UploadServerCertificateInput{ServerCertificateName: aws.String("order"),
			CertificateBody: aws.String(m.cert), PrivateKey: aws.String(m.key), CertificateChain: aws.String(p.rootPEM + p.interPEM)}, new(*iamtypes.MalformedCertificateException)},
		{"P-521 refused", func() *iam.UploadServerCertificateInput {
			x := p.leaf(t, "p521.example.com", ecKey(t, elliptic521()))
			return &iam.UploadServerCertificateInput{ServerCertificateName: aws.String("p521"),
				CertificateBody: aws.String(x.cert), PrivateKey: aws.String(x.key)}
		}(), new(*iamtypes.MalformedCertificateException)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.iam.UploadServerCertificate(ctx, tt.in)
			if err == nil {
				t.Fatal("upload succeeded, want an error")
			}
			if !errors.As(err, tt.wantTarget) {
				t.Fatalf("error %v is not %T", err, tt.wantTarget)
			}
		})
	}

	var validation smithy.APIError
	_, err = c.iam.UploadServerCertificate(ctx, &iam.UploadServerCertificateInput{ServerCertificateName: aws.String("bad name!"),
		CertificateBody: aws.String(m.cert), PrivateKey: aws.String(m.key)})
	if !errors.As(err, &validation) || validation.ErrorCode() != "ValidationError" {
		t.Errorf("bad name: %v, want ValidationError", err)
	}

	var nse *iamtypes.NoSuchEntityException
	if _, err := c.iam.GetServerCertificate(ctx, &iam.GetServerCertificateInput{ServerCertificateName: aws.String("nope")}); !errors.As(err, &nse) {
		t.Errorf("get unknown: %v, want NoSuchEntityException", err)
	}

	if _, err := srv.UploadServerCertificate("root-level", "/", other.cert, other.key, ""); err != nil {
		t.Fatal(err)
	}
	list, err := c.iam.ListServerCertificates(ctx, &iam.ListServerCertificatesInput{PathPrefix: aws.String("/certup/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.ServerCertificateMetadataList) != 1 || aws.ToString(list.ServerCertificateMetadataList[0].ServerCertificateName) != "www-1" {
		t.Errorf("list /certup/ = %+v", list.ServerCertificateMetadataList)
	}
	// Paging: two certificates, one per page.
	pager := iam.NewListServerCertificatesPaginator(c.iam, &iam.ListServerCertificatesInput{MaxItems: aws.Int32(1)})
	var names []string
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, md := range page.ServerCertificateMetadataList {
			names = append(names, aws.ToString(md.ServerCertificateName))
		}
	}
	if strings.Join(names, ",") != "root-level,www-1" {
		t.Errorf("paged names = %v", names)
	}

	// In use → DeleteConflict; after detaching → deleted.
	if err := srv.AddClassicELB("eu-west-1", "lb", awstest.ClassicListener{Protocol: "HTTPS", Port: 443, InstancePort: 9443,
		CertificateARN: aws.ToString(md.Arn)}); err != nil {
		t.Fatal(err)
	}
	var conflict *iamtypes.DeleteConflictException
	if _, err := c.iam.DeleteServerCertificate(ctx, &iam.DeleteServerCertificateInput{ServerCertificateName: aws.String("www-1")}); !errors.As(err, &conflict) {
		t.Fatalf("delete in use: %v, want DeleteConflictException", err)
	}
	if _, err := c.iam.DeleteServerCertificate(ctx, &iam.DeleteServerCertificateInput{ServerCertificateName: aws.String("root-level")}); err != nil {
		t.Fatalf("delete unused: %v", err)
	}
	if _, err := c.iam.GetServerCertificate(ctx, &iam.GetServerCertificateInput{ServerCertificateName: aws.String("root-level")}); !errors.As(err, &nse) {
		t.Errorf("deleted certificate still there: %v", err)
	}
	tags, err := c.iam.ListServerCertificateTags(ctx, &iam.ListServerCertificateTagsInput{ServerCertificateName: aws.String("www-1")})
	if err != nil || len(tags.Tags) != 1 {
		t.Errorf("list tags = %+v, %v", tags, err)
	}
}

func TestClassicELB(t *testing.T) {
	srv := newServer(t, awstest.Options{PropagationDelay: time.Hour})
	c := sdkClients(srv, "us-west-2", 1)
	p := newPKI(t)
	m := p.leaf(t, "www.example.com", rsaKey(t, 2048))
	ctx := ctx(t)

	if err := srv.AddClassicELB("us-west-2", "wso2", awstest.ClassicListener{Protocol: "HTTP", Port: 80, InstancePort: 9763},
		awstest.ClassicListener{Protocol: "HTTPS", Port: 443, InstancePort: 9443}); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddClassicPolicy("us-west-2", "wso2", "tls12", "SSLNegotiationPolicyType", [2]string{"Reference-Security-Policy", "ELBSecurityPolicy-TLS-1-2-2017-01"}); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetClassicListenerPolicies("us-west-2", "wso2", 443, "tls12"); err != nil {
		t.Fatal(err)
	}
	up, err := c.iam.UploadServerCertificate(ctx, &iam.UploadServerCertificateInput{ServerCertificateName: aws.String("www"),
		CertificateBody: aws.String(m.cert), PrivateKey: aws.String(m.key), CertificateChain: aws.String(m.chain)})
	if err != nil {
		t.Fatal(err)
	}
	arn := up.ServerCertificateMetadata.Arn
	set := &elb.SetLoadBalancerListenerSSLCertificateInput{LoadBalancerName: aws.String("wso2"), LoadBalancerPort: 443, SSLCertificateId: arn}
	var cnf *elbtypes.CertificateNotFoundException
	if _, err := c.elb.SetLoadBalancerListenerSSLCertificate(ctx, set); !errors.As(err, &cnf) {
		t.Fatalf("right after upload: %v, want CertificateNotFoundException", err)
	}
	srv.Propagate()
	if _, err := c.elb.SetLoadBalancerListenerSSLCertificate(ctx, set); err != nil {
		t.Fatalf("after propagation: %v", err)
	}
	var lnf *elbtypes.ListenerNotFoundException
	if _, err := c.elb.SetLoadBalancerListenerSSLCertificate(ctx, &elb.SetLoadBalancerListenerSSLCertificateInput{
		LoadBalancerName: aws.String("wso2"), LoadBalancerPort: 8443, SSLCertificateId: arn}); !errors.As(err, &lnf) {
		t.Errorf("unknown port: %v, want ListenerNotFoundException", err)
	}
	var lbnf *elbtypes.AccessPointNotFoundException
	if _, err := c.elb.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{"nope"}}); !errors.As(err, &lbnf) {
		t.Errorf("unknown load balancer: %v, want AccessPointNotFoundException (LoadBalancerNotFound)", err)
	}

	if _, err := c.elb.CreateAppCookieStickinessPolicy(ctx, &elb.CreateAppCookieStickinessPolicyInput{LoadBalancerName: aws.String("wso2"),
		PolicyName: aws.String("jsession"), CookieName: aws.String("JSESSIONID")}); err != nil {
		t.Fatal(err)
	}
	var dup *elbtypes.DuplicatePolicyNameException
	if _, err := c.elb.CreateAppCookieStickinessPolicy(ctx, &elb.CreateAppCookieStickinessPolicyInput{LoadBalancerName: aws.String("wso2"),
		PolicyName: aws.String("jsession"), CookieName: aws.String("JSESSIONID")}); !errors.As(err, &dup) {
		t.Errorf("duplicate policy: %v, want DuplicatePolicyNameException", err)
	}
	var pnf *elbtypes.PolicyNotFoundException
	if _, err := c.elb.SetLoadBalancerPoliciesOfListener(ctx, &elb.SetLoadBalancerPoliciesOfListenerInput{LoadBalancerName: aws.String("wso2"),
		LoadBalancerPort: 443, PolicyNames: []string{"nope"}}); !errors.As(err, &pnf) {
		t.Errorf("unknown policy: %v, want PolicyNotFoundException", err)
	}
	if _, err := c.elb.SetLoadBalancerPoliciesOfListener(ctx, &elb.SetLoadBalancerPoliciesOfListenerInput{LoadBalancerName: aws.String("wso2"),
		LoadBalancerPort: 443, PolicyNames: []string{"tls12", "jsession"}}); err != nil {
		t.Fatal(err)
	}
	// An empty list clears the policies of port 80.
	if err := srv.SetClassicListenerPolicies("us-west-2", "wso2", 80, "jsession"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.elb.SetLoadBalancerPoliciesOfListener(ctx, &elb.SetLoadBalancerPoliciesOfListenerInput{LoadBalancerName: aws.String("wso2"),
		LoadBalancerPort: 80, PolicyNames: []string{}}); err != nil {
		t.Fatal(err)
	}

	d, err := c.elb.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{"wso2"}})
	if err != nil {
		t.Fatal(err)
	}
	desc := d.LoadBalancerDescriptions[0]
	if len(desc.ListenerDescriptions) != 2 {
		t.Fatalf("listeners = %+v", desc.ListenerDescriptions)
	}
	https := desc.ListenerDescriptions[1]
	if aws.ToString(https.Listener.SSLCertificateId) != aws.ToString(arn) || https.Listener.LoadBalancerPort != 443 {
		t.Errorf("https listener = %+v", https.Listener)
	}
	if strings.Join(https.PolicyNames, ",") != "tls12,jsession" {
		t.Errorf("policies of 443 = %v", https.PolicyNames)
	}
	if len(desc.ListenerDescriptions[0].PolicyNames) != 0 {
		t.Errorf("policies of 80 = %v, want none", desc.ListenerDescriptions[0].PolicyNames)
	}
	if len(desc.Policies.AppCookieStickinessPolicies) != 1 || aws.ToString(desc.Policies.AppCookieStickinessPolicies[0].CookieName) != "JSESSIONID" {
		t.Errorf("app cookie policies = %+v", desc.Policies.AppCookieStickinessPolicies)
	}
	// The HTTPS listener was created without a security policy: it got the default one.
	if strings.Join(desc.Policies.OtherPolicies, ",") != awstest.DefaultClassicSSLPolicy+",tls12" {
		t.Errorf("other policies = %v", desc.Policies.OtherPolicies)
	}
	pd, err := c.elb.DescribeLoadBalancerPolicies(ctx, &elb.DescribeLoadBalancerPoliciesInput{LoadBalancerName: aws.String("wso2"), PolicyNames: []string{"jsession"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(pd.PolicyDescriptions) != 1 || aws.ToString(pd.PolicyDescriptions[0].PolicyTypeName) != "AppCookieStickinessPolicyType" ||
		aws.ToString(pd.PolicyDescriptions[0].PolicyAttributeDescriptions[0].AttributeValue) != "JSESSIONID" {
		t.Errorf("policy description = %+v", pd.PolicyDescriptions)
	}
	st, _ := srv.ClassicListenerOf("us-west-2", "wso2", 443)
	if st.CertificateARN != aws.ToString(arn) {
		t.Errorf("state certificate = %q", st.CertificateARN)
	}
	// Regions are separate.
	other := sdkClients(srv, "eu-central-1", 1)
	all, err := other.elb.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{})
	if err != nil || len(all.LoadBalancerDescriptions) != 0 {
		t.Errorf("eu-central-1 load balancers = %+v, %v", all, err)
	}
}

func TestELBv2(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	const region = "eu-west-1"
	c := sdkClients(srv, region, 1)
	p := newPKI(t)
	ctx := ctx(t)
	old := p.leaf(t, "old.example.com", nil)
	oldARN := uploadIAM(t, srv, "old", old)
	lbARN := srv.AddALB(region, "alb")
	tgARN := srv.AddTargetGroup(region, "web", "HTTPS", 9443)
	lnARN := addListener(t, srv, region, lbARN, awstest.Listener{Protocol: "HTTPS", Port: 443, CertificateARN: oldARN, TargetGroupARNs: []string{tgARN}})
	httpARN := addListener(t, srv, region, lbARN, awstest.Listener{Protocol: "HTTP", Port: 80, TargetGroupARNs: []string{tgARN}})
	m := p.leaf(t, "www.example.com", nil)
	imp, err := c.acm.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: []byte(m.cert), PrivateKey: []byte(m.key), CertificateChain: []byte(m.chain)})
	if err != nil {
		t.Fatal(err)
	}
	newARN := imp.CertificateArn

	if _, err := c.elbv2.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: aws.String(lnARN),
		Certificates: []elbv2types.Certificate{{CertificateArn: newARN}}}); err != nil {
		t.Fatal(err)
	}
	var cnf *elbv2types.CertificateNotFoundException
	if _, err := c.elbv2.ModifyListener(ctx, &elbv2.ModifyListenerInput{ListenerArn: aws.String(lnARN),
		Certificates: []elbv2types.Certificate{{CertificateArn: aws.String("arn:aws:iam::123456789012:server-certificate/nope")}}}); !errors.As(err, &cnf) {
		t.Errorf("unknown certificate: %v, want CertificateNotFoundException", err)
	}
	var invalid *elbv2types.InvalidConfigurationRequestException
	if _, err := c.elbv2.AddListenerCertificates(ctx, &elbv2.AddListenerCertificatesInput{ListenerArn: aws.String(httpARN),
		Certificates: []elbv2types.Certificate{{CertificateArn: newARN}}}); !isCode(err, "InvalidConfigurationRequest") {
		t.Errorf("certificate on HTTP listener: %v, want InvalidConfigurationRequest", err)
	}
	var lnf *elbv2types.ListenerNotFoundException
	if _, err := c.elbv2.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{lnARN + "x"}}); !errors.As(err, &lnf) {
		t.Errorf("unknown listener: %v, want ListenerNotFoundException", err)
	}
	if _, err := c.elbv2.AddListenerCertificates(ctx, &elbv2.AddListenerCertificatesInput{ListenerArn: aws.String(lnARN),
		Certificates: []elbv2types.Certificate{{CertificateArn: aws.String(oldARN)}}}); err != nil {
		t.Fatal(err)
	}
	lc, err := c.elbv2.DescribeListenerCertificates(ctx, &elbv2.DescribeListenerCertificatesInput{ListenerArn: aws.String(lnARN)})
	if err != nil {
		t.Fatal(err)
	}
	if len(lc.Certificates) != 2 || !aws.ToBool(lc.Certificates[0].IsDefault) || aws.ToString(lc.Certificates[0].CertificateArn) != aws.ToString(newARN) ||
		aws.ToString(lc.Certificates[1].CertificateArn) != oldARN {
		t.Errorf("listener certificates = %+v", lc.Certificates)
	}
	if _, err := c.elbv2.RemoveListenerCertificates(ctx, &elbv2.RemoveListenerCertificatesInput{ListenerArn: aws.String(lnARN),
		Certificates: []elbv2types.Certificate{{CertificateArn: aws.String(oldARN)}}}); err != nil {
		t.Fatal(err)
	}
	def, sni, _ := srv.ListenerCertificates(region, lnARN)
	if def != aws.ToString(newARN) || len(sni) != 0 {
		t.Errorf("state: default %q sni %v", def, sni)
	}
	dl, err := c.elbv2.DescribeListeners(ctx, &elbv2.DescribeListenersInput{LoadBalancerArn: aws.String(lbARN)})
	if err != nil {
		t.Fatal(err)
	}
	if len(dl.Listeners) != 2 || aws.ToString(dl.Listeners[0].DefaultActions[0].TargetGroupArn) != tgARN ||
		aws.ToString(dl.Listeners[0].Certificates[0].CertificateArn) != aws.ToString(newARN) {
		t.Errorf("listeners = %+v", dl.Listeners)
	}
	lbs, err := c.elbv2.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{Names: []string{"alb"}})
	if err != nil || len(lbs.LoadBalancers) != 1 || lbs.LoadBalancers[0].Type != elbv2types.LoadBalancerTypeEnumApplication {
		t.Errorf("describe load balancers = %+v, %v", lbs, err)
	}
	tgs, err := c.elbv2.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{LoadBalancerArn: aws.String(lbARN)})
	if err != nil || len(tgs.TargetGroups) != 1 || aws.ToString(tgs.TargetGroups[0].TargetGroupArn) != tgARN {
		t.Errorf("target groups = %+v, %v", tgs, err)
	}

	if _, err := c.elbv2.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(tgARN),
		Attributes: []elbv2types.TargetGroupAttribute{
			{Key: aws.String("stickiness.enabled"), Value: aws.String("true")},
			{Key: aws.String("stickiness.type"), Value: aws.String("app_cookie")},
		}}); !errors.As(err, &invalid) {
		t.Errorf("app_cookie without a cookie name: %v, want InvalidConfigurationRequestException", err)
	}
	out, err := c.elbv2.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(tgARN),
		Attributes: []elbv2types.TargetGroupAttribute{
			{Key: aws.String("stickiness.enabled"), Value: aws.String("true")},
			{Key: aws.String("stickiness.type"), Value: aws.String("app_cookie")},
			{Key: aws.String("stickiness.app_cookie.cookie_name"), Value: aws.String("JSESSIONID")},
		}})
	if err != nil {
		t.Fatal(err)
	}
	attrs := map[string]string{}
	for _, a := range out.Attributes {
		attrs[aws.ToString(a.Key)] = aws.ToString(a.Value)
	}
	if attrs["stickiness.type"] != "app_cookie" || attrs["stickiness.app_cookie.cookie_name"] != "JSESSIONID" {
		t.Errorf("attributes = %v", attrs)
	}
	var acmInUse *acmtypes.ResourceInUseException
	if _, err := c.acm.DeleteCertificate(ctx, &acm.DeleteCertificateInput{CertificateArn: newARN}); !errors.As(err, &acmInUse) {
		t.Errorf("delete ACM certificate in use: %v, want ResourceInUseException", err)
	}
	var tgnf *elbv2types.TargetGroupNotFoundException
	if _, err := c.elbv2.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(tgARN + "x")}); !errors.As(err, &tgnf) {
		t.Errorf("unknown target group: %v, want TargetGroupNotFoundException", err)
	}
}

func TestACM(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	const region = "ap-southeast-2"
	c := sdkClients(srv, region, 1)
	p := newPKI(t)
	ctx := ctx(t)
	rsaM := p.leaf(t, "rsa.example.com", rsaKey(t, 2048))
	ecM := p.leaf(t, "ec.example.com", ecKey(t, elliptic521()))

	imp, err := c.acm.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: []byte(rsaM.cert), PrivateKey: []byte(rsaM.key),
		CertificateChain: []byte(rsaM.chain), Tags: []acmtypes.Tag{{Key: aws.String("Name"), Value: aws.String("rsa")}}})
	if err != nil {
		t.Fatal(err)
	}
	arn := imp.CertificateArn
	if !strings.HasPrefix(aws.ToString(arn), "arn:aws:acm:"+region+":123456789012:certificate/") {
		t.Errorf("arn = %s", aws.ToString(arn))
	}
	if _, err := c.acm.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: []byte(ecM.cert), PrivateKey: []byte(ecM.key)}); err != nil {
		t.Fatalf("P-521 import: %v", err)
	}
	// Re-import keeps the ARN.
	renewed := p.leaf(t, "rsa.example.com", rsaKey(t, 2048))
	re, err := c.acm.ImportCertificate(ctx, &acm.ImportCertificateInput{CertificateArn: arn, Certificate: []byte(renewed.cert), PrivateKey: []byte(renewed.key)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(re.CertificateArn) != aws.ToString(arn) {
		t.Errorf("re-import arn = %s, want %s", aws.ToString(re.CertificateArn), aws.ToString(arn))
	}
	got, err := c.acm.GetCertificate(ctx, &acm.GetCertificateInput{CertificateArn: arn})
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(aws.ToString(got.Certificate)) != strings.TrimSpace(renewed.cert) {
		t.Error("GetCertificate did not return the re-imported certificate")
	}
	d, err := c.acm.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: arn})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Certificate.NotAfter.Equal(renewed.leaf.NotAfter) || d.Certificate.KeyAlgorithm != acmtypes.KeyAlgorithmRsa2048 ||
		aws.ToString(d.Certificate.DomainName) != "rsa.example.com" || d.Certificate.Type != acmtypes.CertificateTypeImported {
		t.Errorf("describe = %+v", d.Certificate)
	}
	// Without a key-type filter ACM lists RSA_1024 and RSA_2048 only.
	l, err := c.acm.ListCertificates(ctx, &acm.ListCertificatesInput{})
	if err != nil || len(l.CertificateSummaryList) != 1 {
		t.Errorf("default list = %+v, %v", l, err)
	}
	l, err = c.acm.ListCertificates(ctx, &acm.ListCertificatesInput{Includes: &acmtypes.Filters{KeyTypes: []acmtypes.KeyAlgorithm{
		acmtypes.KeyAlgorithmRsa2048, acmtypes.KeyAlgorithmEcSecp521r1}}})
	if err != nil || len(l.CertificateSummaryList) != 2 {
		t.Errorf("filtered list = %+v, %v", l, err)
	}

	tests := []struct {
		name   string
		in     *acm.ImportCertificateInput
		target any
	}{
		{"mismatch", &acm.ImportCertificateInput{Certificate: []byte(rsaM.cert), PrivateKey: []byte(ecM.key)}, new(*acmtypes.ValidationException)},
		{"garbage", &acm.ImportCertificateInput{Certificate: []byte("garbage"), PrivateKey: []byte(ecM.key)}, new(*acmtypes.ValidationException)},
		{"unknown arn", &acm.ImportCertificateInput{CertificateArn: aws.String("arn:aws:acm:" + region + ":123456789012:certificate/none"),
			Certificate: []byte(rsaM.cert), PrivateKey: []byte(rsaM.key)}, new(*acmtypes.ResourceNotFoundException)},
		{"tags on re-import", &acm.ImportCertificateInput{CertificateArn: arn, Certificate: []byte(rsaM.cert), PrivateKey: []byte(rsaM.key),
			Tags: []acmtypes.Tag{{Key: aws.String("a")}}}, new(*acmtypes.InvalidParameterException)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.acm.ImportCertificate(ctx, tt.in)
			if !errors.As(err, tt.target) {
				t.Fatalf("error %v, want %T", err, tt.target)
			}
		})
	}
	var invArn *acmtypes.InvalidArnException
	if _, err := c.acm.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: aws.String("not-an-arn")}); !errors.As(err, &invArn) {
		t.Errorf("describe bad arn: %v, want InvalidArnException", err)
	}
	if _, err := c.acm.DeleteCertificate(ctx, &acm.DeleteCertificateInput{CertificateArn: arn}); err != nil {
		t.Fatal(err)
	}
	var rnf *acmtypes.ResourceNotFoundException
	if _, err := c.acm.DescribeCertificate(ctx, &acm.DescribeCertificateInput{CertificateArn: arn}); !errors.As(err, &rnf) {
		t.Errorf("describe deleted: %v, want ResourceNotFoundException", err)
	}
}

func TestFaultsThrottlingAndCounts(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	ctx := ctx(t)
	noRetry := sdkClients(srv, "us-east-1", 1)
	retrying := sdkClients(srv, "us-east-1", 5)
	list := func(c clients) error {
		_, err := c.iam.ListServerCertificates(ctx, &iam.ListServerCertificatesInput{})
		return err
	}

	t.Run("throttling is retried by the SDK", func(t *testing.T) {
		srv.ResetCalls()
		srv.Throttle("iam:ListServerCertificates", 2)
		if err := list(retrying); err != nil {
			t.Fatalf("list with retries: %v", err)
		}
		if n := srv.Calls("iam:ListServerCertificates"); n != 3 {
			t.Errorf("calls = %d, want 3 (two throttled, one ok)", n)
		}
	})
	t.Run("throttling error code", func(t *testing.T) {
		srv.Throttle("iam:ListServerCertificates", 1)
		var ae smithy.APIError
		if err := list(noRetry); !errors.As(err, &ae) || ae.ErrorCode() != "Throttling" {
			t.Fatalf("error = %v, want Throttling", err)
		}
		if err := list(noRetry); err != nil {
			t.Fatalf("second call after fail-once: %v", err)
		}
	})
	t.Run("ACM throttling", func(t *testing.T) {
		srv.Throttle("acm:ListCertificates", 1)
		var te *acmtypes.ThrottlingException
		if _, err := noRetry.acm.ListCertificates(ctx, &acm.ListCertificatesInput{}); !errors.As(err, &te) {
			t.Fatalf("error = %v, want ThrottlingException", err)
		}
	})
	t.Run("fail always with a chosen code, then removed", func(t *testing.T) {
		remove := srv.Inject(awstest.Fault{Op: "elb:*", Code: "LoadBalancerNotFound"})
		for range 3 {
			var nf *elbtypes.AccessPointNotFoundException
			if _, err := retrying.elb.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{}); !errors.As(err, &nf) {
				t.Fatalf("error = %v, want LoadBalancerNotFound", err)
			}
		}
		remove()
		if _, err := retrying.elb.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{}); err != nil {
			t.Fatalf("after removing the fault: %v", err)
		}
	})
	t.Run("server failure N times is retried", func(t *testing.T) {
		srv.ResetCalls()
		srv.Inject(awstest.Fault{Op: "elbv2:DescribeLoadBalancers", Times: 2})
		if _, err := retrying.elbv2.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{}); err != nil {
			t.Fatalf("error = %v", err)
		}
		if n := srv.Calls("elbv2:DescribeLoadBalancers"); n != 3 {
			t.Errorf("calls = %d, want 3", n)
		}
	})
	t.Run("skip then fail", func(t *testing.T) {
		srv.Inject(awstest.Fault{Op: "iam:ListServerCertificates", Skip: 1, Times: 1, Code: "ServiceFailure"})
		if err := list(noRetry); err != nil {
			t.Fatalf("first call: %v", err)
		}
		var sf *iamtypes.ServiceFailureException
		if err := list(noRetry); !errors.As(err, &sf) {
			t.Fatalf("second call: %v, want ServiceFailureException", err)
		}
	})
	t.Run("latency", func(t *testing.T) {
		srv.SetLatency("iam:ListServerCertificates", 100*time.Millisecond)
		defer srv.SetLatency("iam:ListServerCertificates", 0)
		start := time.Now()
		if err := list(noRetry); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Errorf("call took %v, want at least the injected 100ms", d)
		}
	})
	t.Run("counts", func(t *testing.T) {
		srv.ResetCalls()
		p := newPKI(t)
		m := p.leaf(t, "count.example.com", nil)
		_ = list(noRetry)
		_, _ = noRetry.iam.UploadServerCertificate(ctx, &iam.UploadServerCertificateInput{ServerCertificateName: aws.String("c"),
			CertificateBody: aws.String(m.cert), PrivateKey: aws.String(m.key)})
		_, _ = noRetry.iam.UploadServerCertificate(ctx, &iam.UploadServerCertificateInput{ServerCertificateName: aws.String("c"),
			CertificateBody: aws.String(m.cert), PrivateKey: aws.String(m.key)}) // EntityAlreadyExists, still counted
		if srv.Calls("iam:UploadServerCertificate") != 2 || srv.Calls("*") != 3 || srv.MutatingCalls() != 2 {
			t.Errorf("calls: upload %d, total %d, mutating %d", srv.Calls("iam:UploadServerCertificate"), srv.Calls("*"), srv.MutatingCalls())
		}
		if log := srv.CallLog(); len(log) != 3 || log[0] != "iam:ListServerCertificates" {
			t.Errorf("call log = %v", log)
		}
	})
}

func TestBadRequests(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	tests := []struct {
		name       string
		auth, body string
		target     string
		wantStatus int
		wantCode   string
	}{
		{"no signature", "", "Action=ListServerCertificates&Version=2010-05-08", "", http.StatusForbidden, "MissingAuthenticationToken"},
		{"unknown action", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=x",
			"Action=CreateUser&Version=2010-05-08", "", http.StatusBadRequest, "InvalidAction"},
		{"unknown ELB version", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/elasticloadbalancing/aws4_request, SignedHeaders=host, Signature=x",
			"Action=DescribeLoadBalancers&Version=2001-01-01", "", http.StatusBadRequest, "InvalidParameterValue"},
		{"ACM garbage JSON", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/acm/aws4_request, SignedHeaders=host, Signature=x",
			"{not json", "CertificateManager.ImportCertificate", http.StatusBadRequest, "SerializationException"},
		{"other service", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x",
			"", "", http.StatusBadRequest, "UnrecognizedClientException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/", strings.NewReader(tt.body))
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			if tt.target != "" {
				req.Header.Set("X-Amz-Target", tt.target)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b strings.Builder
			_, _ = io.Copy(&b, resp.Body)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(b.String(), tt.wantCode) {
				t.Errorf("status %d body %s, want %d %s", resp.StatusCode, b.String(), tt.wantStatus, tt.wantCode)
			}
		})
	}
}

func TestSeedDemo(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	d, err := srv.SeedDemo("us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	c := sdkClients(srv, "us-east-1", 1)
	ctx := ctx(t)
	lbs, err := c.elb.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{d.ClassicELB}})
	if err != nil || len(lbs.LoadBalancerDescriptions[0].ListenerDescriptions) != 2 {
		t.Fatalf("classic ELB = %+v, %v", lbs, err)
	}
	ls, err := c.elbv2.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{d.ListenerARN}})
	if err != nil || aws.ToString(ls.Listeners[0].Certificates[0].CertificateArn) != d.PlaceholderARN {
		t.Fatalf("listener = %+v, %v", ls, err)
	}
	if len(srv.ServerCertificates()) != 1 {
		t.Errorf("server certificates = %+v", srv.ServerCertificates())
	}
}

func isCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

func TestEveryMutatingOperationIsServed(t *testing.T) {
	served := map[string]bool{}
	for _, op := range awstest.Operations() {
		served[op] = true
	}
	for _, op := range []string{"iam:UploadServerCertificate", "iam:DeleteServerCertificate", "iam:TagServerCertificate",
		"iam:UntagServerCertificate", "acm:ImportCertificate", "acm:DeleteCertificate", "acm:AddTagsToCertificate",
		"elb:CreateLoadBalancer", "elb:SetLoadBalancerListenerSSLCertificate", "elb:CreateAppCookieStickinessPolicy",
		"elb:CreateLBCookieStickinessPolicy", "elb:SetLoadBalancerPoliciesOfListener", "elb:DeleteLoadBalancerPolicy",
		"elbv2:ModifyListener", "elbv2:AddListenerCertificates", "elbv2:RemoveListenerCertificates", "elbv2:ModifyTargetGroupAttributes",
		"acm:RequestCertificate", "route53:CreateHostedZone", "route53:ChangeResourceRecordSets"} {
		if !served[op] || !awstest.IsMutating(op) {
			t.Errorf("%s: served %v, mutating %v", op, served[op], awstest.IsMutating(op))
		}
	}
	for _, op := range []string{"iam:GetServerCertificate", "elb:DescribeLoadBalancers", "elbv2:DescribeListeners", "acm:ListCertificates", "acm:ExportCertificate", "route53:GetChange", "route53:ListHostedZonesByName", "route53:ListResourceRecordSets"} {
		if !served[op] || awstest.IsMutating(op) {
			t.Errorf("%s: served %v, mutating %v", op, served[op], awstest.IsMutating(op))
		}
	}
}

func TestACMTags(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	c := sdkClients(srv, "us-east-1", 1)
	ctx := ctx(t)
	m := newPKI(t).leaf(t, "tags.example.com", nil)
	imp, err := c.acm.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: []byte(m.cert), PrivateKey: []byte(m.key),
		Tags: []acmtypes.Tag{{Key: aws.String("a"), Value: aws.String("1")}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.acm.AddTagsToCertificate(ctx, &acm.AddTagsToCertificateInput{CertificateArn: imp.CertificateArn,
		Tags: []acmtypes.Tag{{Key: aws.String("a"), Value: aws.String("2")}, {Key: aws.String("b"), Value: aws.String("3")}}}); err != nil {
		t.Fatal(err)
	}
	out, err := c.acm.ListTagsForCertificate(ctx, &acm.ListTagsForCertificateInput{CertificateArn: imp.CertificateArn})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tg := range out.Tags {
		got[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if len(got) != 2 || got["a"] != "2" || got["b"] != "3" {
		t.Errorf("tags = %v", got)
	}
}

// TestTagCharacters: IAM and ACM refuse tag keys and values outside
// [\p{L}\p{Z}\p{N}_.:/=+\-@] (a comma, for one), and ACM the "aws:" prefix;
// TagServerCertificate overwrites a key it already has.
func TestTagCharacters(t *testing.T) {
	srv := newServer(t, awstest.Options{})
	c := sdkClients(srv, "us-east-1", 1)
	ctx := ctx(t)
	m := newPKI(t).leaf(t, "tags.example.com", nil)
	if _, err := c.iam.UploadServerCertificate(ctx, &iam.UploadServerCertificateInput{ServerCertificateName: aws.String("t"),
		CertificateBody: aws.String(m.cert), PrivateKey: aws.String(m.key), CertificateChain: aws.String(m.chain),
		Tags: []iamtypes.Tag{{Key: aws.String("certup:lineage:shop"), Value: aws.String("1")}}}); err != nil {
		t.Fatal(err)
	}
	var inv *iamtypes.InvalidInputException
	if _, err := c.iam.TagServerCertificate(ctx, &iam.TagServerCertificateInput{ServerCertificateName: aws.String("t"),
		Tags: []iamtypes.Tag{{Key: aws.String("a,b"), Value: aws.String("1")}}}); !errors.As(err, &inv) {
		t.Errorf("comma in a key: %v", err)
	}
	if _, err := c.iam.TagServerCertificate(ctx, &iam.TagServerCertificateInput{ServerCertificateName: aws.String("t"),
		Tags: []iamtypes.Tag{{Key: aws.String("Team"), Value: aws.String("1")}, {Key: aws.String("team"), Value: aws.String("2")}}}); !errors.As(err, &inv) {
		t.Errorf("keys differing in case only: %v", err)
	}
	if _, err := c.iam.TagServerCertificate(ctx, &iam.TagServerCertificateInput{ServerCertificateName: aws.String("t"),
		Tags: []iamtypes.Tag{{Key: aws.String("certup:lineage:shop"), Value: aws.String("2")}, {Key: aws.String("e"), Value: aws.String("")}}}); err != nil {
		t.Fatal(err)
	}
	out, err := c.iam.ListServerCertificateTags(ctx, &iam.ListServerCertificateTagsInput{ServerCertificateName: aws.String("t")})
	if err != nil || len(out.Tags) != 2 || aws.ToString(out.Tags[0].Value) != "2" {
		t.Errorf("tags %+v, %v", out, err)
	}
	imp, err := c.acm.ImportCertificate(ctx, &acm.ImportCertificateInput{Certificate: []byte(m.cert), PrivateKey: []byte(m.key)})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"aws:x", "a,b"} {
		if _, err := c.acm.AddTagsToCertificate(ctx, &acm.AddTagsToCertificateInput{CertificateArn: imp.CertificateArn,
			Tags: []acmtypes.Tag{{Key: aws.String(key), Value: aws.String("1")}}}); err == nil {
			t.Errorf("ACM took tag key %q", key)
		}
	}
}
