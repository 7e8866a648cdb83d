package awstest

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keybridge/keybridge/internal/awsrules"
)

type alb struct {
	arn, name, typ, dns string
	created             time.Time
}

type listener struct {
	arn, lbARN, protocol, sslPolicy string
	port                            int
	cert                            string   // default certificate
	sni                             []string // additional certificates
	targetGroups                    []string // default forward action
	rules                           []*rule  // besides the default rule
}

// rule is a listener rule other than the default one: a priority and the target
// groups its forward action sends to.
type rule struct {
	arn          string
	priority     int
	hosts        []string // host-header condition values
	targetGroups []string
}

type targetGroup struct {
	arn, name, protocol string
	port                int
	lbARNs              []string
	attrs               [][2]string
}

func (tg *targetGroup) attr(k string) string {
	for _, a := range tg.attrs {
		if a[0] == k {
			return a[1]
		}
	}
	return ""
}

func (tg *targetGroup) setAttr(k, v string) {
	for i := range tg.attrs {
		if tg.attrs[i][0] == k {
			tg.attrs[i][1] = v
			return
		}
	}
	tg.attrs = append(tg.attrs, [2]string{k, v})
}

func defaultTargetGroupAttrs(protocol string) [][2]string {
	attrs := [][2]string{
		{"deregistration_delay.timeout_seconds", "300"},
		{"stickiness.enabled", "false"},
	}
	switch protocol {
	case "HTTP", "HTTPS":
		attrs = append(attrs,
			[2]string{"stickiness.type", "lb_cookie"},
			[2]string{"stickiness.lb_cookie.duration_seconds", "86400"},
			[2]string{"stickiness.app_cookie.cookie_name", ""},
			[2]string{"stickiness.app_cookie.duration_seconds", "86400"},
			[2]string{"load_balancing.algorithm.type", "round_robin"},
			[2]string{"slow_start.duration_seconds", "0"},
		)
	default:
		attrs = append(attrs, [2]string{"stickiness.type", "source_ip"})
	}
	return attrs
}

func init() {
	handlers["elbv2"] = map[string]handlerFunc{
		"DescribeLoadBalancers":         (*Server).v2DescribeLBs,
		"DescribeListeners":             (*Server).v2DescribeListeners,
		"ModifyListener":                (*Server).v2ModifyListener,
		"AddListenerCertificates":       (*Server).v2AddCerts,
		"RemoveListenerCertificates":    (*Server).v2RemoveCerts,
		"DescribeListenerCertificates":  (*Server).v2DescribeCerts,
		"DescribeTargetGroups":          (*Server).v2DescribeTGs,
		"ModifyTargetGroupAttributes":   (*Server).v2ModifyTGAttrs,
		"DescribeTargetGroupAttributes": (*Server).v2DescribeTGAttrs,
		"DescribeRules":                 (*Server).v2DescribeRules,
	}
}

const v2CertNotFound = "Certificate '%s' not found"

func (rs *regionState) alb(arn string) *alb {
	return find(rs.albs, func(lb *alb) bool { return lb.arn == arn })
}

func (rs *regionState) listener(arn string) *listener {
	return find(rs.listeners, func(l *listener) bool { return l.arn == arn })
}

func (rs *regionState) targetGroup(arn string) *targetGroup {
	return find(rs.tgs, func(tg *targetGroup) bool { return tg.arn == arn })
}

func (s *Server) v2DescribeLBs(r *request) (any, *apiError) {
	rs := s.region(r.region)
	arns, _ := formList(r.form, "LoadBalancerArns")
	names, _ := formList(r.form, "Names")
	lbs, given, e := byARNsOrNames(arns, names, rs.albs, rs.alb, func(lb *alb) string { return lb.name },
		func(key string) *apiError {
			return badRequest("LoadBalancerNotFound", "Load balancers '[%s]' not found", key)
		})
	if e != nil {
		return nil, e
	}
	if !given {
		lbs = append(lbs, rs.albs...)
	}
	return elbPage(r.form, lbs, "LoadBalancers", func(lb *alb) node {
		return mem(
			tx("LoadBalancerArn", lb.arn),
			tx("DNSName", lb.dns),
			tx("CanonicalHostedZoneId", "Z35SXDOTRQ7X7K"),
			ts("CreatedTime", lb.created),
			tx("LoadBalancerName", lb.name),
			tx("Scheme", "internet-facing"),
			tx("VpcId", "vpc-0a1b2c3d"),
			el("State", tx("Code", "active")),
			tx("Type", lb.typ),
		)
	})
}

func (l *listener) describe() node {
	kids := []node{
		tx("ListenerArn", l.arn),
		tx("LoadBalancerArn", l.lbARN),
		integer("Port", l.port),
		tx("Protocol", l.protocol),
	}
	if l.cert != "" {
		kids = append(kids, list("Certificates", []node{mem(tx("CertificateArn", l.cert))}))
	}
	if l.sslPolicy != "" {
		kids = append(kids, tx("SslPolicy", l.sslPolicy))
	}
	kids = append(kids, forwardActions("DefaultActions", l.targetGroups))
	return mem(kids...)
}

// forwardActions is an action list that forwards to the target groups tgs: a
// TargetGroupArn for one, a ForwardConfig for several.
func forwardActions(name string, tgs []string) node {
	var actions []node
	if len(tgs) == 1 {
		actions = append(actions, mem(tx("Type", "forward"), tx("TargetGroupArn", tgs[0]), integer("Order", 1)))
	} else if len(tgs) > 1 {
		var weighted []node
		for _, a := range tgs {
			weighted = append(weighted, mem(tx("TargetGroupArn", a), integer("Weight", 1)))
		}
		actions = append(actions, mem(tx("Type", "forward"), el("ForwardConfig", list("TargetGroups", weighted)), integer("Order", 1)))
	}
	return list(name, actions)
}

// v2DescribeRules lists a listener's rules, the default rule last, as
// DescribeRules does (ListenerArn or RuleArns; see the API reference's
// DescribeRules: errors ListenerNotFound and RuleNotFound, both HTTP 400).
func (s *Server) v2DescribeRules(r *request) (any, *apiError) {
	rs := s.region(r.region)
	arns, _ := formList(r.form, "RuleArns")
	lnARN := formGet(r.form, "ListenerArn")
	describe := func(ru *rule) node {
		var conds []node
		if len(ru.hosts) > 0 {
			conds = append(conds, mem(tx("Field", "host-header"), el("HostHeaderConfig", strList("Values", ru.hosts))))
		}
		return mem(tx("RuleArn", ru.arn), tx("Priority", strconv.Itoa(ru.priority)), list("Conditions", conds),
			forwardActions("Actions", ru.targetGroups), boolean("IsDefault", false))
	}
	var items []node
	switch {
	case lnARN != "" && len(arns) > 0:
		return nil, badRequest("ValidationError", "Listener ARN and rule ARNs cannot be specified at the same time")
	case lnARN != "":
		l := rs.listener(lnARN)
		if l == nil {
			return nil, listenersNotFound(lnARN)
		}
		rules := append([]*rule(nil), l.rules...)
		sort.Slice(rules, func(i, j int) bool { return rules[i].priority < rules[j].priority })
		for _, ru := range rules {
			items = append(items, describe(ru))
		}
		items = append(items, mem(tx("RuleArn", strings.Replace(l.arn, ":listener/", ":listener-rule/", 1)+"/default"),
			tx("Priority", "default"), list("Conditions", nil), forwardActions("Actions", l.targetGroups), boolean("IsDefault", true)))
	case len(arns) > 0:
		for _, a := range arns {
			var found *rule
			for _, l := range rs.listeners {
				if ru := find(l.rules, func(ru *rule) bool { return ru.arn == a }); ru != nil {
					found = ru
				}
			}
			if found == nil {
				return nil, badRequest("RuleNotFound", "One or more rules not found")
			}
			items = append(items, describe(found))
		}
	default:
		return nil, badRequest("ValidationError", "You must specify either listener ARN or rule ARNs")
	}
	return elbPage(r.form, items, "Rules", func(n node) node { return n })
}

func (s *Server) v2DescribeListeners(r *request) (any, *apiError) {
	rs := s.region(r.region)
	arns, _ := formList(r.form, "ListenerArns")
	lbARN := formGet(r.form, "LoadBalancerArn")
	var ls []*listener
	switch {
	case len(arns) > 0:
		var e *apiError
		ls, e = lookupAll(arns, rs.listener, listenersNotFound)
		if e != nil {
			return nil, e
		}
	case lbARN != "":
		if rs.alb(lbARN) == nil {
			return nil, badRequest("LoadBalancerNotFound", "One or more load balancers not found")
		}
		for _, l := range rs.listeners {
			if l.lbARN == lbARN {
				ls = append(ls, l)
			}
		}
	default:
		return nil, badRequest("ValidationError", "You must specify either listener ARNs or a load balancer ARN")
	}
	return elbPage(r.form, ls, "Listeners", (*listener).describe)
}

func listenersNotFound(string) *apiError {
	return badRequest("ListenerNotFound", "One or more listeners not found")
}

func (s *Server) v2Listener(r *request) (*listener, *apiError) {
	if e := required(r.form, "ListenerArn"); e != nil {
		return nil, e
	}
	arn := formGet(r.form, "ListenerArn")
	l := s.region(r.region).listener(arn)
	if l == nil {
		return nil, listenersNotFound(arn)
	}
	return l, nil
}

func secure(protocol string) bool { return protocol == "HTTPS" || protocol == "TLS" }

func (s *Server) v2ModifyListener(r *request) (any, *apiError) {
	l, e := s.v2Listener(r)
	if e != nil {
		return nil, e
	}
	certs := formStructs(r.form, "Certificates", "CertificateArn")
	protocol := l.protocol
	if p := formGet(r.form, "Protocol"); p != "" {
		protocol = strings.ToUpper(p)
	}
	if len(certs) > 1 {
		return nil, badRequest("TooManyCertificates", "You can specify only one default certificate")
	}
	newCert := l.cert
	if len(certs) == 1 {
		if !secure(protocol) {
			return nil, badRequest("InvalidConfigurationRequest", "Certificates can only be set on HTTPS or TLS listeners")
		}
		if e := s.certificateUsable(r.region, certs[0]["CertificateArn"], v2CertNotFound); e != nil {
			return nil, e
		}
		if e := s.v2CertificateSupported(r.region, certs[0]["CertificateArn"]); e != nil {
			return nil, e
		}
		newCert = certs[0]["CertificateArn"]
	}
	if secure(protocol) && newCert == "" {
		return nil, badRequest("CertificateNotFound", "A certificate must be specified for %s listeners", protocol)
	}
	if p := formGet(r.form, "Port"); p != "" {
		port, err := strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return nil, badRequest("ValidationError", "invalid port %q", p)
		}
		l.port = port
	}
	if sp := formGet(r.form, "SslPolicy"); sp != "" {
		l.sslPolicy = sp
	}
	l.protocol, l.cert = protocol, newCert
	return result{list("Listeners", []node{l.describe()})}, nil
}

// v2ListenerCerts is the request's listener and its Certificates list, which
// must not be empty.
func (s *Server) v2ListenerCerts(r *request) (*listener, []map[string]string, *apiError) {
	l, e := s.v2Listener(r)
	if e != nil {
		return nil, nil, e
	}
	certs := formStructs(r.form, "Certificates", "CertificateArn")
	if len(certs) == 0 {
		return nil, nil, badRequest("ValidationError", "Certificates must not be empty")
	}
	return l, certs, nil
}

func (s *Server) v2AddCerts(r *request) (any, *apiError) {
	l, certs, e := s.v2ListenerCerts(r)
	if e != nil {
		return nil, e
	}
	if !secure(l.protocol) {
		return nil, badRequest("InvalidConfigurationRequest", "Certificates can only be added to HTTPS or TLS listeners")
	}
	for _, c := range certs {
		if e := s.certificateUsable(r.region, c["CertificateArn"], v2CertNotFound); e != nil {
			return nil, e
		}
		if e := s.v2CertificateSupported(r.region, c["CertificateArn"]); e != nil {
			return nil, e
		}
	}
	// The quota is per load balancer, over all its listeners, default
	// certificates excluded ("Certificates per Application Load Balancer
	// (excluding default certificates): 25", and the same for Network Load
	// Balancers, in the guides' quota pages); AddListenerCertificates answers
	// TooManyCertificates, HTTP 400, past it.
	used := 0
	for _, x := range s.region(r.region).listeners {
		if x.lbARN == l.lbARN {
			used += len(x.sni)
		}
	}
	var added []string
	for _, c := range certs {
		if a := c["CertificateArn"]; !contains(l.sni, a) && !contains(added, a) {
			added = append(added, a)
		}
	}
	if used+len(added) > MaxCertificatesPerLoadBalancer {
		return nil, badRequest("TooManyCertificates", "You've reached the limit on the number of certificates per load balancer")
	}
	l.sni = append(l.sni, added...)
	var out []node
	for _, c := range certs {
		out = append(out, mem(tx("CertificateArn", c["CertificateArn"]), boolean("IsDefault", false)))
	}
	return result{list("Certificates", out)}, nil
}

// MaxCertificatesPerLoadBalancer is the default quota of certificates on an
// ALB or NLB besides its listeners' default certificates.
const MaxCertificatesPerLoadBalancer = 25

// v2CertificateSupported answers UnsupportedCertificate (HTTP 400) for a
// certificate whose domain name is not fully qualified. The Application and
// Network Load Balancer guides ("SSL certificates for your Application Load
// Balancer", "Server certificates for your Network Load Balancer") say "You must
// specify a fully qualified domain name (FQDN) for your certificate, such as
// www.example.com or an apex domain name such as example.com"; the API refuses
// other certificates at ModifyListener, CreateListener and
// AddListenerCertificates with this code and message (as reported, e.g., in
// aws-samples/aws-secure-environment-accelerator#990 and medplum/medplum#5804).
func (s *Server) v2CertificateSupported(region, arn string) *apiError {
	leaf := s.certificateLeaf(region, arn)
	if leaf != nil && !awsrules.IsFQDN(awsrules.Of(leaf)) {
		return errorf(http.StatusBadRequest, "UnsupportedCertificate",
			"The certificate '%s' must have a fully-qualified domain name, a supported signature, and a supported key size.", arn)
	}
	return nil
}

func (s *Server) v2RemoveCerts(r *request) (any, *apiError) {
	l, certs, e := s.v2ListenerCerts(r)
	if e != nil {
		return nil, e
	}
	for _, c := range certs {
		a := c["CertificateArn"]
		if a == l.cert && !contains(l.sni, a) {
			return nil, badRequest("OperationNotPermitted", "The default certificate cannot be removed from a listener")
		}
	}
	for _, c := range certs {
		var kept []string
		for _, a := range l.sni {
			if a != c["CertificateArn"] {
				kept = append(kept, a)
			}
		}
		l.sni = kept
	}
	return result{}, nil
}

func (s *Server) v2DescribeCerts(r *request) (any, *apiError) {
	l, e := s.v2Listener(r)
	if e != nil {
		return nil, e
	}
	var items []node
	if l.cert != "" {
		items = append(items, mem(tx("CertificateArn", l.cert), boolean("IsDefault", true)))
	}
	for _, a := range l.sni {
		items = append(items, mem(tx("CertificateArn", a), boolean("IsDefault", false)))
	}
	return elbPage(r.form, items, "Certificates", func(n node) node { return n })
}

func (tg *targetGroup) describe() node {
	return mem(
		tx("TargetGroupArn", tg.arn),
		tx("TargetGroupName", tg.name),
		tx("Protocol", tg.protocol),
		integer("Port", tg.port),
		tx("VpcId", "vpc-0a1b2c3d"),
		tx("TargetType", "instance"),
		strList("LoadBalancerArns", tg.lbARNs),
	)
}

func (s *Server) v2DescribeTGs(r *request) (any, *apiError) {
	rs := s.region(r.region)
	arns, _ := formList(r.form, "TargetGroupArns")
	names, _ := formList(r.form, "Names")
	lbARN := formGet(r.form, "LoadBalancerArn")
	tgs, given, e := byARNsOrNames(arns, names, rs.tgs, rs.targetGroup, func(tg *targetGroup) string { return tg.name },
		func(string) *apiError {
			return badRequest("TargetGroupNotFound", "One or more target groups not found")
		})
	if e != nil {
		return nil, e
	}
	switch {
	case given:
	case lbARN != "":
		if rs.alb(lbARN) == nil {
			return nil, badRequest("LoadBalancerNotFound", "One or more load balancers not found")
		}
		for _, tg := range rs.tgs {
			if contains(tg.lbARNs, lbARN) {
				tgs = append(tgs, tg)
			}
		}
	default:
		tgs = append(tgs, rs.tgs...)
	}
	sort.SliceStable(tgs, func(i, j int) bool { return tgs[i].name < tgs[j].name })
	items := make([]node, 0, len(tgs))
	for _, tg := range tgs {
		items = append(items, tg.describe())
	}
	return result{list("TargetGroups", items)}, nil
}

func (s *Server) v2TargetGroup(r *request) (*targetGroup, *apiError) {
	if e := required(r.form, "TargetGroupArn"); e != nil {
		return nil, e
	}
	tg := s.region(r.region).targetGroup(formGet(r.form, "TargetGroupArn"))
	if tg == nil {
		return nil, badRequest("TargetGroupNotFound", "One or more target groups not found")
	}
	return tg, nil
}

func attrNodes(attrs [][2]string) node {
	items := make([]node, 0, len(attrs))
	for _, a := range attrs {
		items = append(items, mem(tx("Key", a[0]), tx("Value", a[1])))
	}
	return list("Attributes", items)
}

func (s *Server) v2ModifyTGAttrs(r *request) (any, *apiError) {
	tg, e := s.v2TargetGroup(r)
	if e != nil {
		return nil, e
	}
	attrs := formStructs(r.form, "Attributes", "Key", "Value")
	if len(attrs) == 0 {
		return nil, badRequest("ValidationError", "Attributes must not be empty")
	}
	// Validate the result before changing anything.
	next := &targetGroup{protocol: tg.protocol, attrs: append([][2]string(nil), tg.attrs...)}
	for _, a := range attrs {
		k, v := a["Key"], a["Value"]
		known := false
		for _, d := range defaultTargetGroupAttrs(tg.protocol) {
			if d[0] == k {
				known = true
			}
		}
		if !known {
			return nil, badRequest("InvalidConfigurationRequest", "The attribute '%s' is not supported for target groups with the %s protocol", k, tg.protocol)
		}
		next.setAttr(k, v)
	}
	if en := next.attr("stickiness.enabled"); en != "true" && en != "false" {
		return nil, badRequest("InvalidConfigurationRequest", "stickiness.enabled must be true or false")
	}
	switch typ := next.attr("stickiness.type"); typ {
	case "lb_cookie", "app_cookie":
		if tg.protocol != "HTTP" && tg.protocol != "HTTPS" {
			return nil, badRequest("InvalidConfigurationRequest", "Stickiness type '%s' is not supported for target groups with the %s protocol", typ, tg.protocol)
		}
		if typ == "app_cookie" && next.attr("stickiness.enabled") == "true" {
			name := next.attr("stickiness.app_cookie.cookie_name")
			if name == "" || strings.HasPrefix(strings.ToUpper(name), "AWSALB") || len(name) > 255 {
				return nil, badRequest("InvalidConfigurationRequest", "stickiness.app_cookie.cookie_name must be set to a cookie name not starting with AWSALB")
			}
		}
	case "source_ip":
		if tg.protocol == "HTTP" || tg.protocol == "HTTPS" {
			return nil, badRequest("InvalidConfigurationRequest", "Stickiness type 'source_ip' is not supported for target groups with the %s protocol", tg.protocol)
		}
	default:
		return nil, badRequest("InvalidConfigurationRequest", "unknown stickiness type '%s'", typ)
	}
	for _, k := range []string{"stickiness.app_cookie.duration_seconds", "stickiness.lb_cookie.duration_seconds"} {
		if v := next.attr(k); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 604800 {
				return nil, badRequest("InvalidConfigurationRequest", "%s must be between 1 and 604800", k)
			}
		}
	}
	tg.attrs = next.attrs
	return result{attrNodes(tg.attrs)}, nil
}

func (s *Server) v2DescribeTGAttrs(r *request) (any, *apiError) {
	tg, e := s.v2TargetGroup(r)
	if e != nil {
		return nil, e
	}
	return result{attrNodes(tg.attrs)}, nil
}
