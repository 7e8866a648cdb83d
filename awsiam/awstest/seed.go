package awstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keybridge/keybridge/internal/awsrules"
)

// The functions in this file seed and inspect state directly, without HTTP; they
// are not counted as calls.

// ClassicListener describes a classic ELB listener to seed.
type ClassicListener struct {
	Protocol         string // HTTP, HTTPS, TCP, SSL
	Port             int
	InstanceProtocol string // default: Protocol
	InstancePort     int
	CertificateARN   string // for HTTPS/SSL; may be empty when seeding
	Policies         []string
}

// AddClassicELB creates a classic load balancer in region.
func (s *Server) AddClassicELB(region, name string, listeners ...ClassicListener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.region(region)
	for _, lb := range rs.classic {
		if lb.name == name {
			return fmt.Errorf("classic load balancer %q already exists in %s", name, region)
		}
	}
	lb := &classicLB{name: name, created: time.Now(), dns: name + "-1234567890." + region + ".elb.amazonaws.com"}
	for _, l := range listeners {
		if lb.listener(l.Port) != nil {
			return fmt.Errorf("duplicate listener port %d", l.Port)
		}
		ip := l.InstanceProtocol
		if ip == "" {
			ip = l.Protocol
		}
		cl := &classicListener{protocol: strings.ToUpper(l.Protocol), port: l.Port,
			instanceProtocol: strings.ToUpper(ip), instancePort: l.InstancePort, certID: l.CertificateARN,
			policies: append([]string(nil), l.Policies...)}
		lb.listen = append(lb.listen, cl)
		if l.Policies == nil {
			lb.defaultSSLPolicy(cl) // as CreateLoadBalancer does
		}
	}
	rs.classic = append(rs.classic, lb)
	return nil
}

// AddClassicPolicy creates a policy of any type (for example an
// SSLNegotiationPolicyType policy) on a classic load balancer.
func (s *Server) AddClassicPolicy(region, lbName, policyName, policyType string, attrs ...[2]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	lb := s.findClassic(region, lbName)
	if lb == nil {
		return fmt.Errorf("no classic load balancer %q in %s", lbName, region)
	}
	if lb.policy(policyName) != nil {
		return fmt.Errorf("policy %q exists", policyName)
	}
	lb.policies = append(lb.policies, &classicPolicy{name: policyName, typ: policyType, attrs: attrs})
	return nil
}

// SetClassicListenerPolicies replaces the policies of a classic listener.
func (s *Server) SetClassicListenerPolicies(region, lbName string, port int, policies ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	lb := s.findClassic(region, lbName)
	if lb == nil {
		return fmt.Errorf("no classic load balancer %q in %s", lbName, region)
	}
	l := lb.listener(port)
	if l == nil {
		return fmt.Errorf("no listener on port %d", port)
	}
	for _, p := range policies {
		if lb.policy(p) == nil {
			return fmt.Errorf("no policy %q", p)
		}
	}
	l.policies = append([]string(nil), policies...)
	return nil
}

func (s *Server) findClassic(region, name string) *classicLB {
	return s.region(region).classicByName(name)
}

// AddALB creates an application load balancer and returns its ARN.
func (s *Server) AddALB(region, name string) string {
	return s.addV2(region, name, "application", "app")
}

// AddNLB creates a network load balancer and returns its ARN.
func (s *Server) AddNLB(region, name string) string { return s.addV2(region, name, "network", "net") }

func (s *Server) addV2(region, name, typ, short string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.region(region)
	lb := &alb{
		arn:     "arn:aws:elasticloadbalancing:" + region + ":" + s.opts.AccountID + ":loadbalancer/" + short + "/" + name + "/" + randomHex(16),
		name:    name,
		typ:     typ,
		dns:     name + "-" + randomHex(10) + "." + region + ".elb.amazonaws.com",
		created: time.Now(),
	}
	rs.albs = append(rs.albs, lb)
	return lb.arn
}

// AddTargetGroup creates a target group (protocol HTTP, HTTPS, TCP, TLS…) and
// returns its ARN.
func (s *Server) AddTargetGroup(region, name, protocol string, port int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	protocol = strings.ToUpper(protocol)
	tg := &targetGroup{
		arn:      "arn:aws:elasticloadbalancing:" + region + ":" + s.opts.AccountID + ":targetgroup/" + name + "/" + randomHex(16),
		name:     name,
		protocol: protocol,
		port:     port,
		attrs:    defaultTargetGroupAttrs(protocol),
	}
	rs := s.region(region)
	rs.tgs = append(rs.tgs, tg)
	return tg.arn
}

// Listener describes an ALB/NLB listener to seed.
type Listener struct {
	Protocol        string // HTTP, HTTPS, TCP, TLS
	Port            int
	CertificateARN  string   // default certificate
	SNI             []string // additional certificates
	TargetGroupARNs []string // default forward action
}

// AddListener creates a listener on the load balancer lbARN and returns its ARN.
func (s *Server) AddListener(region, lbARN string, l Listener) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.region(region)
	lb := rs.alb(lbARN)
	if lb == nil {
		return "", fmt.Errorf("no load balancer %s in %s", lbARN, region)
	}
	for _, x := range rs.listeners {
		if x.lbARN == lbARN && x.port == l.Port {
			return "", fmt.Errorf("duplicate listener port %d", l.Port)
		}
	}
	if err := rs.forwardTo(lbARN, l.TargetGroupARNs); err != nil {
		return "", err
	}
	rest := strings.TrimPrefix(lb.arn[strings.Index(lb.arn, ":loadbalancer/"):], ":loadbalancer/")
	ln := &listener{
		arn:          "arn:aws:elasticloadbalancing:" + region + ":" + s.opts.AccountID + ":listener/" + rest + "/" + randomHex(16),
		lbARN:        lbARN,
		protocol:     strings.ToUpper(l.Protocol),
		port:         l.Port,
		cert:         l.CertificateARN,
		sni:          append([]string(nil), l.SNI...),
		targetGroups: append([]string(nil), l.TargetGroupARNs...),
	}
	if secure(ln.protocol) {
		ln.sslPolicy = "ELBSecurityPolicy-2016-08"
	}
	rs.listeners = append(rs.listeners, ln)
	return ln.arn, nil
}

// forwardTo records that the load balancer lbARN forwards to the target groups
// tgARNs, which must exist.
func (rs *regionState) forwardTo(lbARN string, tgARNs []string) error {
	for _, a := range tgARNs {
		tg := rs.targetGroup(a)
		if tg == nil {
			return fmt.Errorf("no target group %s in %s", a, rs.name)
		}
		if !contains(tg.lbARNs, lbARN) {
			tg.lbARNs = append(tg.lbARNs, lbARN)
		}
	}
	return nil
}

// AddRule adds a rule to an ALB listener that forwards requests for hosts to the
// target groups tgARNs, and returns its ARN.
func (s *Server) AddRule(region, listenerARN string, priority int, hosts []string, tgARNs ...string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.region(region)
	l := rs.listener(listenerARN)
	if l == nil {
		return "", fmt.Errorf("no listener %s in %s", listenerARN, region)
	}
	for _, ru := range l.rules {
		if ru.priority == priority {
			return "", fmt.Errorf("listener %s has a rule of priority %d", listenerARN, priority)
		}
	}
	if err := rs.forwardTo(l.lbARN, tgARNs); err != nil {
		return "", err
	}
	ru := &rule{arn: strings.Replace(l.arn, ":listener/", ":listener-rule/", 1) + "/" + randomHex(16), priority: priority,
		hosts: append([]string(nil), hosts...), targetGroups: append([]string(nil), tgARNs...)}
	l.rules = append(l.rules, ru)
	return ru.arn, nil
}

// UploadServerCertificate stores an IAM server certificate directly (checked as
// the API checks it, visible to the load-balancer APIs at once) and returns its
// ARN.
func (s *Server) UploadServerCertificate(name, path, certPEM, keyPEM, chainPEM string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if path == "" {
		path = "/"
	}
	if !iamNameRE.MatchString(name) || !awsrules.ValidIAMPath(path) {
		return "", fmt.Errorf("invalid name %q or path %q", name, path)
	}
	if s.iamCerts[strings.ToLower(name)] != nil {
		return "", fmt.Errorf("server certificate %q exists", name)
	}
	leaf, _, problem, _ := checkMaterial(certPEM, keyPEM, chainPEM, iamKeyAlgorithms)
	if problem != "" {
		return "", errors.New(problem)
	}
	now := time.Now()
	c := &serverCert{name: name, path: path, id: "ASCA" + randomUpper(17),
		arn:  "arn:aws:iam::" + s.opts.AccountID + ":server-certificate" + path + name,
		body: strings.TrimSpace(certPEM), chain: strings.TrimSpace(chainPEM), leaf: leaf,
		uploaded: now, visibleAt: now}
	s.iamCerts[strings.ToLower(name)] = c
	return c.arn, nil
}

// ImportACMCertificate stores an ACM certificate in region directly and returns
// its ARN.
func (s *Server) ImportACMCertificate(region, certPEM, keyPEM, chainPEM string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	leaf, _, problem, _ := checkMaterial(certPEM, keyPEM, chainPEM, acmKeyAlgorithms)
	if problem != "" {
		return "", errors.New(problem)
	}
	now := time.Now()
	c := &acmCert{arn: "arn:aws:acm:" + region + ":" + s.opts.AccountID + ":certificate/" + newRequestID(),
		body: strings.TrimSpace(certPEM), chain: strings.TrimSpace(chainPEM), leaf: leaf,
		keyAlg: keyAlgorithm(leaf.PublicKey), imported: now, visibleAt: now}
	rs := s.region(region)
	rs.acm = append(rs.acm, c)
	return c.arn, nil
}

// ClassicListenerState is what a classic listener looks like now.
type ClassicListenerState struct {
	Protocol       string
	Port           int
	CertificateARN string
	Policies       []string
}

// ClassicListenerOf reports the listener on port of a classic load balancer.
func (s *Server) ClassicListenerOf(region, lbName string, port int) (ClassicListenerState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lb := s.findClassic(region, lbName)
	if lb == nil {
		return ClassicListenerState{}, false
	}
	l := lb.listener(port)
	if l == nil {
		return ClassicListenerState{}, false
	}
	return ClassicListenerState{Protocol: l.protocol, Port: l.port, CertificateARN: l.certID,
		Policies: append([]string(nil), l.policies...)}, true
}

// ClassicPolicy reports a policy of a classic load balancer: its type and
// attributes.
func (s *Server) ClassicPolicy(region, lbName, policyName string) (typ string, attrs map[string]string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lb := s.findClassic(region, lbName)
	if lb == nil {
		return "", nil, false
	}
	p := lb.policy(policyName)
	if p == nil {
		return "", nil, false
	}
	attrs = map[string]string{}
	for _, a := range p.attrs {
		attrs[a[0]] = a[1]
	}
	return p.typ, attrs, true
}

// ListenerCertificates reports the default and SNI certificates of an ALB/NLB
// listener.
func (s *Server) ListenerCertificates(region, listenerARN string) (def string, sni []string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.region(region).listener(listenerARN)
	if l == nil {
		return "", nil, false
	}
	return l.cert, append([]string(nil), l.sni...), true
}

// TargetGroupAttributes reports the attributes of a target group.
func (s *Server) TargetGroupAttributes(region, tgARN string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	tg := s.region(region).targetGroup(tgARN)
	if tg == nil {
		return nil
	}
	out := map[string]string{}
	for _, a := range tg.attrs {
		out[a[0]] = a[1]
	}
	return out
}

// ServerCertificate is an IAM server certificate as stored.
type ServerCertificate struct {
	Name, Path, ARN, Body, Chain string
	Expiration                   time.Time
	Tags                         map[string]string
}

// ServerCertificates lists the IAM server certificates by name.
func (s *Server) ServerCertificates() []ServerCertificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ServerCertificate
	for _, c := range s.iamCerts {
		tags := map[string]string{}
		for _, t := range c.tags {
			tags[t.Key] = t.Value
		}
		out = append(out, ServerCertificate{Name: c.name, Path: c.path, ARN: c.arn, Body: c.body, Chain: c.chain,
			Expiration: c.leaf.NotAfter, Tags: tags})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ACMCertificate is an ACM certificate as stored.
type ACMCertificate struct {
	ARN, Body, Chain string
	Tags             map[string]string
}

// ACMCertificates lists the ACM certificates of a region in import order.
func (s *Server) ACMCertificates(region string) []ACMCertificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ACMCertificate
	for _, c := range s.region(region).acm {
		tags := map[string]string{}
		for _, t := range c.tags {
			tags[t.Key] = t.Value
		}
		out = append(out, ACMCertificate{ARN: c.arn, Body: c.body, Chain: c.chain, Tags: tags})
	}
	return out
}

// Demo names what SeedDemo created.
type Demo struct {
	Region         string
	ClassicELB     string // classic load balancer name (HTTP 80, HTTPS 443)
	ALBARN         string
	ListenerARN    string // HTTPS 443 listener of the ALB
	TargetGroupARN string
	PlaceholderARN string // IAM certificate the HTTPS listeners start with
}

// SeedDemo creates, in region, what the WSO2 HA layout has in front of it: a
// classic ELB "wso2-elb" (HTTP 80 → 9763, HTTPS 443 → 9443) and an ALB
// "wso2-alb" whose HTTPS 443 listener forwards to the HTTPS target group
// "wso2-carbon"; both HTTPS listeners start with a self-signed placeholder
// certificate "awstest-placeholder" in IAM.
func (s *Server) SeedDemo(region string) (Demo, error) {
	certPEM, keyPEM, err := selfSigned("placeholder.invalid", 365*24*time.Hour)
	if err != nil {
		return Demo{}, err
	}
	d := Demo{Region: region, ClassicELB: "wso2-elb"}
	if d.PlaceholderARN, err = s.UploadServerCertificate("awstest-placeholder", "/", certPEM, keyPEM, ""); err != nil {
		return Demo{}, err
	}
	if err := s.AddClassicELB(region, d.ClassicELB,
		ClassicListener{Protocol: "HTTP", Port: 80, InstancePort: 9763},
		ClassicListener{Protocol: "HTTPS", Port: 443, InstanceProtocol: "HTTPS", InstancePort: 9443, CertificateARN: d.PlaceholderARN},
	); err != nil {
		return Demo{}, err
	}
	d.ALBARN = s.AddALB(region, "wso2-alb")
	d.TargetGroupARN = s.AddTargetGroup(region, "wso2-carbon", "HTTPS", 9443)
	d.ListenerARN, err = s.AddListener(region, d.ALBARN, Listener{Protocol: "HTTPS", Port: 443,
		CertificateARN: d.PlaceholderARN, TargetGroupARNs: []string{d.TargetGroupARN}})
	if err != nil {
		return Demo{}, err
	}
	return d, nil
}

// selfSigned makes a throwaway P-256 certificate and key in PEM.
func selfSigned(cn string, validity time.Duration) (certPEM, keyPEM string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     []string{cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})), nil
}

// AddTags tags the IAM server certificate or ACM certificate arn directly (a
// tag with the same key is overwritten, as TagServerCertificate and
// AddTagsToCertificate do).
func (s *Server) AddTags(arn string, tags map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var list *[]tag
	if c := s.iamCertByARN(arn); c != nil {
		list = &c.tags
	}
	for _, rs := range s.regions {
		if c := rs.acmCert(arn); c != nil {
			list = &c.tags
		}
	}
	if list == nil {
		return fmt.Errorf("no certificate %s", arn)
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		i := slices.IndexFunc(*list, func(t tag) bool { return t.Key == k })
		if i >= 0 {
			(*list)[i].Value = tags[k]
		} else {
			*list = append(*list, tag{k, tags[k]})
		}
	}
	return nil
}
