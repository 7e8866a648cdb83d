package awsiam

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// AllPorts, as a classic Listener's Port, stands for every HTTP and HTTPS
// listener of the load balancer (for Stickiness).
const AllPorts = 0

// StickinessResult says what Stickiness did on one listener.
type StickinessResult struct {
	Listener Listener `json:"listener"`
	// Cookie is the application's session cookie; "" when stickiness was
	// removed.
	Cookie string `json:"cookie"`
	// Policy is the classic ELB policy name.
	Policy string `json:"policy,omitempty"`
	// TargetGroups are the ALB target groups the listener forwards to, by its
	// default action and its rules.
	TargetGroups []string `json:"target_groups,omitempty"`
	Changed      bool     `json:"changed"`
	DryRun       bool     `json:"dry_run,omitempty"`
}

// StickinessPolicyName is the classic ELB policy SetStickiness creates for cookie.
func StickinessPolicyName(cookie string) string {
	var b strings.Builder
	for _, r := range cookie {
		if r < 128 && (r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return "certup-app-cookie-" + b.String()
}

// SetStickiness is Stickiness for one listener and a cookie; a classic
// listener with a port gives one result.
func (s *Service) SetStickiness(ctx context.Context, l Listener, cookie string) (*StickinessResult, error) {
	if cookie == "" {
		return nil, fmt.Errorf("no cookie name: %w", ErrStickiness)
	}
	res, err := s.Stickiness(ctx, []Listener{l}, cookie)
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// Stickiness makes each listener keep a client on one instance for as long as
// the application's session cookie (e.g. JSESSIONID) says — or, with cookie
// "", stops that. On a classic ELB it binds an AppCookieStickinessPolicy to the
// listener (its other policies kept, another stickiness policy replaced;
// removing unbinds the application-cookie policies), on the port given or,
// with Port AllPorts, on every HTTP and HTTPS listener (as the WSO2 seed does
// on 80 and 443). On an ALB it sets app_cookie stickiness on every target
// group the listener forwards to, by its default action and by its rules
// (removing turns app_cookie stickiness off). What is already so is left
// alone: a second run makes no changing call.
func (s *Service) Stickiness(ctx context.Context, ls []Listener, cookie string) ([]*StickinessResult, error) {
	if strings.ContainsAny(cookie, " \t;,=\"") || len(cookie) > 255 {
		return nil, fmt.Errorf("cookie name %q: %w", cookie, ErrStickiness)
	}
	var out []*StickinessResult
	for _, l := range ls {
		var res []*StickinessResult
		var err error
		if l.ELB != "" {
			res, err = s.classicStickiness(ctx, l, cookie)
		} else {
			res, err = s.albStickiness(ctx, l, cookie)
		}
		if err != nil {
			return out, err
		}
		out = append(out, res...)
	}
	return out, nil
}

// StickinessPlan is what one classic listener's policies are to become.
type StickinessPlan struct {
	Policies []string // the listener's policies afterwards
	Changed  bool     // they differ from now
}

// PlanClassicStickiness is the decision for one classic listener: current
// are its policies, sticky the load balancer's stickiness policies (of either
// kind), appCookie those of them that are application-cookie ones, and policy
// the policy to bind ("" to remove application-cookie stickiness). Policies
// other than stickiness ones are kept in their order; a listener takes one
// stickiness policy, so binding replaces another; removing leaves a
// load-balancer-cookie policy in place.
func PlanClassicStickiness(current []string, sticky, appCookie map[string]bool, policy string) StickinessPlan {
	var next []string
	for _, p := range current {
		switch {
		case policy != "" && sticky[p] && p != policy:
		case policy == "" && appCookie[p]:
		case p == policy:
		default:
			next = append(next, p)
		}
	}
	if policy != "" {
		next = append(next, policy)
	}
	if next == nil {
		next = []string{}
	}
	changed := !slices.Equal(next, current)
	if policy != "" && slices.Contains(current, policy) && len(current) == len(next) {
		// Bound already, in another place of the list: the order does not matter.
		changed = false
		next = current
	}
	return StickinessPlan{Policies: next, Changed: changed}
}

func (s *Service) classicStickiness(ctx context.Context, l Listener, cookie string) ([]*StickinessResult, error) {
	lb, err := s.classicLoadBalancer(ctx, l.ELB)
	if err != nil {
		return nil, err
	}
	policy := ""
	if cookie != "" {
		policy = StickinessPolicyName(cookie)
	}
	sticky, appCookie := map[string]bool{}, map[string]bool{}
	exists := false
	if lb.Policies != nil {
		for _, p := range lb.Policies.AppCookieStickinessPolicies {
			name := aws.ToString(p.PolicyName)
			sticky[name], appCookie[name] = true, true
			if name == policy {
				if aws.ToString(p.CookieName) != cookie {
					return nil, fmt.Errorf("classic ELB %q has policy %s for cookie %q, not %q: %w", l.ELB, name, aws.ToString(p.CookieName), cookie, ErrStickiness)
				}
				exists = true
			}
		}
		for _, p := range lb.Policies.LBCookieStickinessPolicies {
			sticky[aws.ToString(p.PolicyName)] = true
		}
	}
	lds, err := stickyListeners(lb, l)
	if err != nil {
		return nil, err
	}
	var out []*StickinessResult
	created := false
	for _, ld := range lds {
		port := ld.Listener.LoadBalancerPort
		res := &StickinessResult{Listener: Listener{ELB: l.ELB, Port: port}, Cookie: cookie, Policy: policy}
		out = append(out, res)
		plan := PlanClassicStickiness(ld.PolicyNames, sticky, appCookie, policy)
		if !plan.Changed {
			continue
		}
		if policy != "" && !exists && !created {
			ran, err := s.mutate(Call{Service: "elb", Operation: "CreateAppCookieStickinessPolicy", Params: map[string]string{
				"LoadBalancerName": l.ELB, "PolicyName": policy, "CookieName": cookie}}, func() error {
				_, err := s.c.ELB.CreateAppCookieStickinessPolicy(ctx, &elb.CreateAppCookieStickinessPolicyInput{
					LoadBalancerName: aws.String(l.ELB), PolicyName: aws.String(policy), CookieName: aws.String(cookie)})
				if isCode(err, "DuplicatePolicyName") {
					return nil // created meanwhile; the same name means the same cookie
				}
				return err
			})
			if err != nil {
				return out, fmt.Errorf("creating stickiness policy on classic ELB %q: %w", l.ELB, err)
			}
			created = true
			res.DryRun = !ran
		}
		ran, err := s.mutate(Call{Service: "elb", Operation: "SetLoadBalancerPoliciesOfListener", Params: map[string]string{
			"LoadBalancerName": l.ELB, "LoadBalancerPort": strconv.Itoa(int(port)), "PolicyNames": strings.Join(plan.Policies, ",")}}, func() error {
			_, err := s.c.ELB.SetLoadBalancerPoliciesOfListener(ctx, &elb.SetLoadBalancerPoliciesOfListenerInput{
				LoadBalancerName: aws.String(l.ELB), LoadBalancerPort: port, PolicyNames: plan.Policies})
			return err
		})
		if err != nil {
			return out, fmt.Errorf("setting the policies of classic ELB %q port %d: %w", l.ELB, port, err)
		}
		res.Changed = true
		res.DryRun = res.DryRun || !ran
		if ran {
			s.log.Info("set the stickiness of a listener", "listener", res.Listener.String(), "cookie", cookie, "policies", plan.Policies)
		}
	}
	if !slices.ContainsFunc(out, func(r *StickinessResult) bool { return r.Changed && !r.DryRun }) {
		return out, nil
	}
	// Read back.
	after, err := s.classicLoadBalancer(ctx, l.ELB)
	if err != nil {
		return out, fmt.Errorf("reading back classic ELB %q: %w", l.ELB, err)
	}
	for _, res := range out {
		for _, ld := range after.ListenerDescriptions {
			if ld.Listener == nil || ld.Listener.LoadBalancerPort != res.Listener.Port {
				continue
			}
			if bound := slices.Contains(ld.PolicyNames, policy); policy != "" && !bound ||
				policy == "" && slices.ContainsFunc(ld.PolicyNames, func(p string) bool { return appCookie[p] }) {
				return out, fmt.Errorf("%s policies are %v after the change: %w", res.Listener, ld.PolicyNames, ErrNotConfirmed)
			}
		}
	}
	return out, nil
}

// classicLoadBalancer describes the classic load balancer name.
func (s *Service) classicLoadBalancer(ctx context.Context, name string) (*elbtypes.LoadBalancerDescription, error) {
	out, err := s.c.ELB.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{LoadBalancerNames: []string{name}})
	if isCode(err, "LoadBalancerNotFound") {
		return nil, fmt.Errorf("classic ELB %q: %w", name, ErrListenerNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("describing classic ELB %q: %w", name, err)
	}
	if len(out.LoadBalancerDescriptions) == 0 {
		return nil, fmt.Errorf("classic ELB %q: %w", name, ErrListenerNotFound)
	}
	return &out.LoadBalancerDescriptions[0], nil
}

// stickyListeners picks the listeners of lb that l names: the one on l.Port,
// which must speak HTTP or HTTPS, or with AllPorts every HTTP and HTTPS one
// ("You can use sticky sessions for only HTTP/HTTPS load balancer listeners",
// Classic Load Balancers guide).
func stickyListeners(lb *elbtypes.LoadBalancerDescription, l Listener) ([]*elbtypes.ListenerDescription, error) {
	var out []*elbtypes.ListenerDescription
	var ports []string
	for i := range lb.ListenerDescriptions {
		ld := &lb.ListenerDescriptions[i]
		if ld.Listener == nil {
			continue
		}
		p := strings.ToUpper(aws.ToString(ld.Listener.Protocol))
		web := p == "HTTP" || p == "HTTPS"
		switch {
		case l.Port == AllPorts && web:
			out = append(out, ld)
		case ld.Listener.LoadBalancerPort == l.Port && !web:
			return nil, fmt.Errorf("classic ELB %q port %d uses %s; application-cookie stickiness needs an HTTP or HTTPS listener: %w", l.ELB, l.Port, p, ErrStickiness)
		case ld.Listener.LoadBalancerPort == l.Port:
			out = append(out, ld)
		}
		ports = append(ports, strconv.Itoa(int(ld.Listener.LoadBalancerPort)))
	}
	switch {
	case len(out) > 0:
		return out, nil
	case l.Port == AllPorts:
		return nil, fmt.Errorf("classic ELB %q has no HTTP or HTTPS listener: %w", l.ELB, ErrStickiness)
	}
	return nil, fmt.Errorf("classic ELB %q has no listener on port %d (it has %s): %w", l.ELB, l.Port, strings.Join(ports, ", "), ErrListenerNotFound)
}

// forwardTargets adds to tgs the target groups the actions forward to.
func forwardTargets(tgs []string, actions []elbv2types.Action) []string {
	for _, a := range actions {
		if a.TargetGroupArn != nil && !slices.Contains(tgs, *a.TargetGroupArn) {
			tgs = append(tgs, *a.TargetGroupArn)
		}
		if a.ForwardConfig != nil {
			for _, tg := range a.ForwardConfig.TargetGroups {
				if tg.TargetGroupArn != nil && !slices.Contains(tgs, *tg.TargetGroupArn) {
					tgs = append(tgs, *tg.TargetGroupArn)
				}
			}
		}
	}
	return tgs
}

// AppCookieAttributes are the target group attributes to send so that the
// group has app_cookie stickiness on cookie (or, with cookie "", has none),
// given its attributes now; nil when nothing is to change. The three
// stickiness attributes go together, as the combination is what AWS checks.
func AppCookieAttributes(have map[string]string, cookie string) map[string]string {
	if cookie == "" {
		if have["stickiness.enabled"] == "true" && have["stickiness.type"] == "app_cookie" {
			return map[string]string{"stickiness.enabled": "false"}
		}
		return nil
	}
	want := map[string]string{
		"stickiness.enabled":                "true",
		"stickiness.type":                   "app_cookie",
		"stickiness.app_cookie.cookie_name": cookie,
	}
	for k, v := range want {
		if have[k] != v {
			return want
		}
	}
	return nil
}

func (s *Service) albStickiness(ctx context.Context, l Listener, cookie string) ([]*StickinessResult, error) {
	res := &StickinessResult{Listener: l, Cookie: cookie}
	ln, err := s.v2Listener(ctx, l.ARN)
	if err != nil {
		return nil, err
	}
	tgARNs := forwardTargets(nil, ln.DefaultActions)
	p := elbv2.NewDescribeRulesPaginator(s.c.ELBv2, &elbv2.DescribeRulesInput{ListenerArn: aws.String(l.ARN)})
	rules := pageItems(ctx, p.HasMorePages, p.NextPage,
		func(o *elbv2.DescribeRulesOutput) []elbv2types.Rule { return o.Rules },
		"describing the rules of "+l.String())
	for ru, err := range rules {
		if err != nil {
			return nil, err
		}
		tgARNs = forwardTargets(tgARNs, ru.Actions)
	}
	if len(tgARNs) == 0 {
		return nil, fmt.Errorf("%s forwards to no target group: %w", l, ErrStickiness)
	}
	tgs, err := s.c.ELBv2.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: tgARNs})
	if err != nil {
		return nil, fmt.Errorf("describing target groups of %s: %w", l, err)
	}
	for _, tg := range tgs.TargetGroups {
		if tg.Protocol != elbv2types.ProtocolEnumHttp && tg.Protocol != elbv2types.ProtocolEnumHttps {
			return nil, fmt.Errorf("target group %s uses %s; application-cookie stickiness needs HTTP or HTTPS (an ALB): %w",
				aws.ToString(tg.TargetGroupName), tg.Protocol, ErrStickiness)
		}
	}
	for _, arn := range tgARNs {
		res.TargetGroups = append(res.TargetGroups, arn)
		cur, err := s.c.ELBv2.DescribeTargetGroupAttributes(ctx, &elbv2.DescribeTargetGroupAttributesInput{TargetGroupArn: aws.String(arn)})
		if err != nil {
			return nil, fmt.Errorf("describing attributes of target group %s: %w", arn, err)
		}
		have := map[string]string{}
		for _, a := range cur.Attributes {
			have[aws.ToString(a.Key)] = aws.ToString(a.Value)
		}
		set := AppCookieAttributes(have, cookie)
		if set == nil {
			continue
		}
		keys := make([]string, 0, len(set))
		for k := range set {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		params := map[string]string{"TargetGroupArn": arn}
		var attrs []elbv2types.TargetGroupAttribute
		for _, k := range keys {
			params[k] = set[k]
			attrs = append(attrs, elbv2types.TargetGroupAttribute{Key: aws.String(k), Value: aws.String(set[k])})
		}
		ran, err := s.mutate(Call{Service: "elbv2", Operation: "ModifyTargetGroupAttributes", Params: params}, func() error {
			_, err := s.c.ELBv2.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(arn), Attributes: attrs})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("setting the stickiness of target group %s: %w", arn, err)
		}
		res.Changed = true
		res.DryRun = res.DryRun || !ran
		if ran {
			s.log.Info("set the stickiness of a target group", "target_group", arn, "cookie", cookie)
		}
	}
	return []*StickinessResult{res}, nil
}
