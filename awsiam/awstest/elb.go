package awstest

import (
	"crypto/x509"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

type regionState struct {
	name      string
	acm       []*acmCert
	classic   []*classicLB
	albs      []*alb
	listeners []*listener
	tgs       []*targetGroup
}

func (s *Server) region(name string) *regionState {
	rs := s.regions[name]
	if rs == nil {
		rs = &regionState{name: name}
		s.regions[name] = rs
	}
	return rs
}

type classicListener struct {
	protocol, instanceProtocol string
	port, instancePort         int
	certID                     string
	policies                   []string
}

type classicPolicy struct {
	name, typ string
	attrs     [][2]string
}

type classicLB struct {
	name     string
	dns      string
	created  time.Time
	listen   []*classicListener
	policies []*classicPolicy
}

func (lb *classicLB) arn(region, account string) string {
	return "arn:aws:elasticloadbalancing:" + region + ":" + account + ":loadbalancer/" + lb.name
}

func (lb *classicLB) listener(port int) *classicListener {
	return find(lb.listen, func(l *classicListener) bool { return l.port == port })
}

func (lb *classicLB) policy(name string) *classicPolicy {
	return find(lb.policies, func(p *classicPolicy) bool { return p.name == name })
}

func init() {
	handlers["elb"] = map[string]handlerFunc{
		"CreateLoadBalancer":                    (*Server).elbCreate,
		"DescribeLoadBalancers":                 (*Server).elbDescribe,
		"SetLoadBalancerListenerSSLCertificate": (*Server).elbSetCert,
		"CreateAppCookieStickinessPolicy":       (*Server).elbCreateAppCookie,
		"CreateLBCookieStickinessPolicy":        (*Server).elbCreateLBCookie,
		"SetLoadBalancerPoliciesOfListener":     (*Server).elbSetPolicies,
		"DescribeLoadBalancerPolicies":          (*Server).elbDescribePolicies,
		"DeleteLoadBalancerPolicy":              (*Server).elbDeletePolicy,
	}
}

func (rs *regionState) classicByName(name string) *classicLB {
	return find(rs.classic, func(lb *classicLB) bool { return lb.name == name })
}

func (s *Server) classicLB(r *request) (*classicLB, *apiError) {
	if e := required(r.form, "LoadBalancerName"); e != nil {
		return nil, e
	}
	name := formGet(r.form, "LoadBalancerName")
	if lb := s.region(r.region).classicByName(name); lb != nil {
		return lb, nil
	}
	return nil, badRequest("LoadBalancerNotFound", "There is no ACTIVE Load Balancer named '%s'", name)
}

// certificateUsable reports CertificateNotFound unless arn names a certificate
// that exists in IAM or in the region's ACM and has propagated.
func (s *Server) certificateUsable(region, arn, message string) *apiError {
	notFound := badRequest("CertificateNotFound", message, arn)
	switch {
	case strings.HasPrefix(arn, "arn:aws:iam::"):
		c := s.iamCertByARN(arn)
		if c == nil || !visible(c.visibleAt) {
			return notFound
		}
	case strings.HasPrefix(arn, "arn:aws:acm:"+region+":"):
		c := s.region(region).acmCert(arn)
		if c == nil || !visible(c.visibleAt) || !s.ready(c) {
			return notFound
		}
	default:
		return notFound
	}
	return nil
}

// certificateLeaf is the leaf of the IAM or ACM certificate arn, or nil.
func (s *Server) certificateLeaf(region, arn string) *x509.Certificate {
	if c := s.iamCertByARN(arn); c != nil {
		return c.leaf
	}
	if c := s.region(region).acmCert(arn); c != nil {
		return c.leaf
	}
	return nil
}

const classicCertNotFound = "Server Certificate not found for the key: %s"

// invalidConfiguration is classic Elastic Load Balancing's
// InvalidConfigurationRequest, which its API reference gives HTTP status 409
// (SetLoadBalancerListenerSSLCertificate, SetLoadBalancerPoliciesOfListener,
// CreateLoadBalancerListeners, DeleteLoadBalancerPolicy…); ELBv2's is 400.
func invalidConfiguration(format string, a ...any) *apiError {
	return errorf(http.StatusConflict, "InvalidConfigurationRequest", format, a...)
}

// DefaultClassicSSLPolicy is the predefined security policy a classic HTTPS or
// SSL listener gets when it is created without one: "If you do not specify a
// security policy ... Elastic Load Balancing associates the default predefined
// security policy, ELBSecurityPolicy-2016-08" (Classic Load Balancers guide,
// "SSL negotiation configurations for Classic Load Balancers").
const DefaultClassicSSLPolicy = "ELBSecurityPolicy-2016-08"

// defaultSSLPolicy binds DefaultClassicSSLPolicy to an HTTPS or SSL listener
// that has no SSL negotiation policy, creating the policy on lb first.
func (lb *classicLB) defaultSSLPolicy(l *classicListener) {
	if l.protocol != "HTTPS" && l.protocol != "SSL" {
		return
	}
	for _, n := range l.policies {
		if p := lb.policy(n); p != nil && p.typ == "SSLNegotiationPolicyType" {
			return
		}
	}
	if lb.policy(DefaultClassicSSLPolicy) == nil {
		lb.policies = append(lb.policies, &classicPolicy{name: DefaultClassicSSLPolicy, typ: "SSLNegotiationPolicyType",
			attrs: [][2]string{{"Reference-Security-Policy", DefaultClassicSSLPolicy}}})
	}
	l.policies = append(l.policies, DefaultClassicSSLPolicy)
}

func (s *Server) elbCreate(r *request) (any, *apiError) {
	if e := required(r.form, "LoadBalancerName"); e != nil {
		return nil, e
	}
	name := formGet(r.form, "LoadBalancerName")
	rs := s.region(r.region)
	if rs.classicByName(name) != nil {
		return nil, badRequest("DuplicateLoadBalancerName", "Load Balancer named '%s' already exists", name)
	}
	lb := &classicLB{name: name, created: time.Now(),
		dns: name + "-" + strconv.Itoa(1000000+len(rs.classic)) + "." + r.region + ".elb.amazonaws.com"}
	for _, m := range formStructs(r.form, "Listeners", "Protocol", "LoadBalancerPort", "InstanceProtocol", "InstancePort", "SSLCertificateId") {
		port, err1 := strconv.Atoi(m["LoadBalancerPort"])
		iport, err2 := strconv.Atoi(m["InstancePort"])
		if err1 != nil || err2 != nil {
			return nil, badRequest("ValidationError", "listener ports must be integers")
		}
		proto := strings.ToUpper(m["Protocol"])
		l := &classicListener{protocol: proto, port: port, instancePort: iport,
			instanceProtocol: strings.ToUpper(m["InstanceProtocol"]), certID: m["SSLCertificateId"]}
		if l.instanceProtocol == "" {
			l.instanceProtocol = proto
		}
		if proto == "HTTPS" || proto == "SSL" {
			if e := s.certificateUsable(r.region, l.certID, classicCertNotFound); e != nil {
				return nil, e
			}
		}
		if lb.listener(port) != nil {
			return nil, badRequest("DuplicateListener", "a listener already exists on port %d", port)
		}
		lb.listen = append(lb.listen, l)
		lb.defaultSSLPolicy(l)
	}
	if len(lb.listen) == 0 {
		return nil, badRequest("ValidationError", "at least one listener is required")
	}
	rs.classic = append(rs.classic, lb)
	return result{tx("DNSName", lb.dns)}, nil
}

func (s *Server) elbDescribe(r *request) (any, *apiError) {
	rs := s.region(r.region)
	names, _ := formList(r.form, "LoadBalancerNames")
	var lbs []*classicLB
	if len(names) > 0 {
		var e *apiError
		lbs, e = lookupAll(names, func(n string) *classicLB {
			return findLast(rs.classic, func(lb *classicLB) bool { return lb.name == n })
		}, func(n string) *apiError {
			return badRequest("LoadBalancerNotFound", "There is no ACTIVE Load Balancer named '%s'", n)
		})
		if e != nil {
			return nil, e
		}
	} else {
		lbs = append(lbs, rs.classic...)
		sort.Slice(lbs, func(i, j int) bool { return lbs[i].name < lbs[j].name })
	}
	return elbPage(r.form, lbs, "LoadBalancerDescriptions", func(lb *classicLB) node { return s.describeClassic(r.region, lb) })
}

func (s *Server) describeClassic(region string, lb *classicLB) node {
	var ls []node
	for _, l := range lb.listen {
		lk := []node{tx("Protocol", l.protocol), integer("LoadBalancerPort", l.port),
			tx("InstanceProtocol", l.instanceProtocol), integer("InstancePort", l.instancePort)}
		if l.certID != "" {
			lk = append(lk, tx("SSLCertificateId", l.certID))
		}
		ls = append(ls, mem(el("Listener", lk...), strList("PolicyNames", l.policies)))
	}
	var app, lbc []node
	var other []string
	for _, p := range lb.policies {
		switch p.typ {
		case "AppCookieStickinessPolicyType":
			app = append(app, mem(tx("PolicyName", p.name), tx("CookieName", p.attr("CookieName"))))
		case "LBCookieStickinessPolicyType":
			kids := []node{tx("PolicyName", p.name)}
			if v := p.attr("CookieExpirationPeriod"); v != "" {
				kids = append(kids, tx("CookieExpirationPeriod", v))
			}
			lbc = append(lbc, mem(kids...))
		default:
			other = append(other, p.name)
		}
	}
	return mem(
		tx("LoadBalancerName", lb.name),
		tx("DNSName", lb.dns),
		tx("CanonicalHostedZoneName", lb.dns),
		tx("CanonicalHostedZoneNameID", "Z35SXDOTRQ7X7K"),
		list("ListenerDescriptions", ls),
		el("Policies", list("AppCookieStickinessPolicies", app), list("LBCookieStickinessPolicies", lbc), strList("OtherPolicies", other)),
		strList("AvailabilityZones", []string{region + "a", region + "b"}),
		ts("CreatedTime", lb.created),
		tx("Scheme", "internet-facing"),
	)
}

func (p *classicPolicy) attr(name string) string {
	for _, a := range p.attrs {
		if a[0] == name {
			return a[1]
		}
	}
	return ""
}

func (s *Server) classicListener(r *request, lb *classicLB) (*classicListener, *apiError) {
	if e := required(r.form, "LoadBalancerPort"); e != nil {
		return nil, e
	}
	port, err := strconv.Atoi(formGet(r.form, "LoadBalancerPort"))
	if err != nil {
		return nil, badRequest("ValidationError", "LoadBalancerPort must be an integer")
	}
	l := lb.listener(port)
	if l == nil {
		return nil, badRequest("ListenerNotFound", "There is no listener for LoadBalancer %s on port %d", lb.name, port)
	}
	return l, nil
}

func (s *Server) elbSetCert(r *request) (any, *apiError) {
	lb, e := s.classicLB(r)
	if e != nil {
		return nil, e
	}
	if e := required(r.form, "SSLCertificateId"); e != nil {
		return nil, e
	}
	l, e := s.classicListener(r, lb)
	if e != nil {
		return nil, e
	}
	if l.protocol != "HTTPS" && l.protocol != "SSL" {
		return nil, invalidConfiguration("the listener on port %d uses %s; a certificate needs HTTPS or SSL", l.port, l.protocol)
	}
	arn := formGet(r.form, "SSLCertificateId")
	if e := s.certificateUsable(r.region, arn, classicCertNotFound); e != nil {
		return nil, e
	}
	l.certID = arn
	return result{}, nil
}

var policyNameOK = func(n string) bool {
	if n == "" || len(n) > 255 {
		return false
	}
	for _, c := range n {
		if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func (s *Server) addPolicy(r *request, p *classicPolicy) (any, *apiError) {
	lb, e := s.classicLB(r)
	if e != nil {
		return nil, e
	}
	if !policyNameOK(p.name) {
		return nil, badRequest("ValidationError", "policy name %q must be 1-255 letters, digits and hyphens", p.name)
	}
	if lb.policy(p.name) != nil {
		return nil, badRequest("DuplicatePolicyName", "Policy with name %s already exists for load balancer %s", p.name, lb.name)
	}
	if len(lb.policies) >= 50 {
		return nil, badRequest("TooManyPolicies", "too many policies")
	}
	lb.policies = append(lb.policies, p)
	return result{}, nil
}

func (s *Server) elbCreateAppCookie(r *request) (any, *apiError) {
	if e := required(r.form, "LoadBalancerName", "PolicyName", "CookieName"); e != nil {
		return nil, e
	}
	return s.addPolicy(r, &classicPolicy{name: formGet(r.form, "PolicyName"), typ: "AppCookieStickinessPolicyType",
		attrs: [][2]string{{"CookieName", formGet(r.form, "CookieName")}}})
}

func (s *Server) elbCreateLBCookie(r *request) (any, *apiError) {
	if e := required(r.form, "LoadBalancerName", "PolicyName"); e != nil {
		return nil, e
	}
	p := &classicPolicy{name: formGet(r.form, "PolicyName"), typ: "LBCookieStickinessPolicyType"}
	if v := formGet(r.form, "CookieExpirationPeriod"); v != "" {
		p.attrs = [][2]string{{"CookieExpirationPeriod", v}}
	}
	return s.addPolicy(r, p)
}

func (s *Server) elbSetPolicies(r *request) (any, *apiError) {
	lb, e := s.classicLB(r)
	if e != nil {
		return nil, e
	}
	l, e := s.classicListener(r, lb)
	if e != nil {
		return nil, e
	}
	names, present := formList(r.form, "PolicyNames")
	if !present {
		return nil, badRequest("ValidationError", "1 validation error detected: Value null at 'policyNames' failed to satisfy constraint: Member must not be null")
	}
	sticky := 0
	for _, n := range names {
		p := lb.policy(n)
		if p == nil {
			return nil, badRequest("PolicyNotFound", "There is no policy with name %s for load balancer %s", n, lb.name)
		}
		if strings.HasSuffix(p.typ, "CookieStickinessPolicyType") {
			sticky++
		}
	}
	if sticky > 1 {
		return nil, invalidConfiguration("a listener can have only one stickiness policy")
	}
	// "You can use sticky sessions for only HTTP/HTTPS load balancer listeners"
	// (Classic Load Balancers guide, "Configure sticky sessions").
	if sticky > 0 && l.protocol != "HTTP" && l.protocol != "HTTPS" {
		return nil, invalidConfiguration("Stickiness policies can only be set on HTTP or HTTPS listeners; the listener on port %d uses %s", l.port, l.protocol)
	}
	l.policies = append([]string{}, names...)
	return result{}, nil
}

func (s *Server) elbDescribePolicies(r *request) (any, *apiError) {
	names, _ := formList(r.form, "PolicyNames")
	var pols []*classicPolicy
	if formGet(r.form, "LoadBalancerName") != "" {
		lb, e := s.classicLB(r)
		if e != nil {
			return nil, e
		}
		if len(names) == 0 {
			pols = lb.policies
		}
		for _, n := range names {
			p := lb.policy(n)
			if p == nil {
				return nil, badRequest("PolicyNotFound", "There is no policy with name %s for load balancer %s", n, lb.name)
			}
			pols = append(pols, p)
		}
	}
	items := make([]node, 0, len(pols))
	for _, p := range pols {
		attrs := make([]node, 0, len(p.attrs))
		for _, a := range p.attrs {
			attrs = append(attrs, mem(tx("AttributeName", a[0]), tx("AttributeValue", a[1])))
		}
		items = append(items, mem(tx("PolicyName", p.name), tx("PolicyTypeName", p.typ), list("PolicyAttributeDescriptions", attrs)))
	}
	return result{list("PolicyDescriptions", items)}, nil
}

func (s *Server) elbDeletePolicy(r *request) (any, *apiError) {
	lb, e := s.classicLB(r)
	if e != nil {
		return nil, e
	}
	if e := required(r.form, "PolicyName"); e != nil {
		return nil, e
	}
	name := formGet(r.form, "PolicyName")
	for _, l := range lb.listen {
		for _, p := range l.policies {
			if p == name {
				return nil, invalidConfiguration("policy %s is in use by the listener on port %d", name, l.port)
			}
		}
	}
	for i, p := range lb.policies {
		if p.name == name {
			lb.policies = append(lb.policies[:i], lb.policies[i+1:]...)
			break
		}
	}
	return result{}, nil
}

// usersOf lists the load balancers (by ARN) whose listeners use the certificate.
func (s *Server) usersOf(certARN string) []string {
	var users []string
	regions := make([]string, 0, len(s.regions))
	for name := range s.regions {
		regions = append(regions, name)
	}
	sort.Strings(regions)
	for _, name := range regions {
		rs := s.regions[name]
		for _, lb := range rs.classic {
			for _, l := range lb.listen {
				if l.certID == certARN {
					users = append(users, lb.arn(name, s.opts.AccountID))
					break
				}
			}
		}
		for _, l := range rs.listeners {
			if l.cert == certARN || contains(l.sni, certARN) {
				users = append(users, l.lbARN)
			}
		}
	}
	return dedupe(users)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func dedupe(in []string) []string {
	var out []string
	for _, v := range in {
		if !contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
