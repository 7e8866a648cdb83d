package awsiam

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancing"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// StickinessResult says what SetStickiness did.
type StickinessResult struct {
	Listener Listener `json:"listener"`
	Cookie   string   `json:"cookie"`
	// Policy is the classic ELB policy name.
	Policy string `json:"policy,omitempty"`
	// TargetGroups are the ALB target groups configured.
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

// SetStickiness makes the listener keep a client on one instance for as long as
// the application's session cookie (e.g. JSESSIONID) says: on a classic ELB an
// AppCookieStickinessPolicy bound to the listener's port (its other policies
// kept, another stickiness policy replaced); on an ALB app_cookie stickiness on
// the target groups the listener forwards to. What is already so is left alone.
func (s *Service) SetStickiness(ctx context.Context, l Listener, cookie string) (*StickinessResult, error) {
	if cookie == "" || strings.ContainsAny(cookie, " \t;,=\"") {
		return nil, fmt.Errorf("cookie name %q: %w", cookie, ErrStickiness)
	}
	if l.ELB != "" {
		return s.classicStickiness(ctx, l, cookie)
	}
	return s.albStickiness(ctx, l, cookie)
}

func (s *Service) classicStickiness(ctx context.Context, l Listener, cookie string) (*StickinessResult, error) {
	res := &StickinessResult{Listener: l, Cookie: cookie, Policy: StickinessPolicyName(cookie)}
	lb, ld, err := s.classicListener(ctx, l)
	if err != nil {
		return nil, err
	}
	sticky := map[string]bool{} // every stickiness policy of the load balancer
	exists := false
	if lb.Policies != nil {
		for _, p := range lb.Policies.AppCookieStickinessPolicies {
			name := aws.ToString(p.PolicyName)
			sticky[name] = true
			if name == res.Policy {
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
	if !exists {
		ran, err := s.mutate(Call{Service: "elb", Operation: "CreateAppCookieStickinessPolicy", Params: map[string]string{
			"LoadBalancerName": l.ELB, "PolicyName": res.Policy, "CookieName": cookie}}, func() error {
			_, err := s.c.ELB.CreateAppCookieStickinessPolicy(ctx, &elb.CreateAppCookieStickinessPolicyInput{
				LoadBalancerName: aws.String(l.ELB), PolicyName: aws.String(res.Policy), CookieName: aws.String(cookie)})
			if isCode(err, "DuplicatePolicyName") {
				return nil // created meanwhile; same name means same cookie
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("creating stickiness policy on classic ELB %q: %w", l.ELB, err)
		}
		res.Changed = true
		res.DryRun = !ran
	}
	if contains(ld.PolicyNames, res.Policy) {
		return res, nil
	}
	policies := []string{}
	for _, p := range ld.PolicyNames {
		if !sticky[p] {
			policies = append(policies, p)
		}
	}
	policies = append(policies, res.Policy)
	ran, err := s.mutate(Call{Service: "elb", Operation: "SetLoadBalancerPoliciesOfListener", Params: map[string]string{
		"LoadBalancerName": l.ELB, "LoadBalancerPort": strconv.Itoa(int(l.Port)), "PolicyNames": strings.Join(policies, ",")}}, func() error {
		_, err := s.c.ELB.SetLoadBalancerPoliciesOfListener(ctx, &elb.SetLoadBalancerPoliciesOfListenerInput{
			LoadBalancerName: aws.String(l.ELB), LoadBalancerPort: l.Port, PolicyNames: policies})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("binding stickiness policy to classic ELB %q port %d: %w", l.ELB, l.Port, err)
	}
	res.Changed = true
	res.DryRun = res.DryRun || !ran
	if ran {
		_, after, err := s.classicListener(ctx, l)
		if err != nil {
			return nil, fmt.Errorf("reading back %s: %w", l, err)
		}
		if !contains(after.PolicyNames, res.Policy) {
			return nil, fmt.Errorf("%s policies are %v, without %s: %w", l, after.PolicyNames, res.Policy, ErrNotConfirmed)
		}
		s.log.Info("set application-cookie stickiness", "listener", l.String(), "cookie", cookie, "policy", res.Policy)
	}
	return res, nil
}

func (s *Service) albStickiness(ctx context.Context, l Listener, cookie string) (*StickinessResult, error) {
	res := &StickinessResult{Listener: l, Cookie: cookie}
	ln, err := s.v2Listener(ctx, l.ARN)
	if err != nil {
		return nil, err
	}
	var tgARNs []string
	for _, a := range ln.DefaultActions {
		if a.TargetGroupArn != nil && !contains(tgARNs, *a.TargetGroupArn) {
			tgARNs = append(tgARNs, *a.TargetGroupArn)
		}
		if a.ForwardConfig != nil {
			for _, tg := range a.ForwardConfig.TargetGroups {
				if tg.TargetGroupArn != nil && !contains(tgARNs, *tg.TargetGroupArn) {
					tgARNs = append(tgARNs, *tg.TargetGroupArn)
				}
			}
		}
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
	want := map[string]string{
		"stickiness.enabled":                "true",
		"stickiness.type":                   "app_cookie",
		"stickiness.app_cookie.cookie_name": cookie,
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
		var attrs []elbv2types.TargetGroupAttribute
		for _, k := range []string{"stickiness.enabled", "stickiness.type", "stickiness.app_cookie.cookie_name"} {
			if have[k] != want[k] {
				attrs = append(attrs, elbv2types.TargetGroupAttribute{Key: aws.String(k), Value: aws.String(want[k])})
			}
		}
		if len(attrs) == 0 {
			continue
		}
		// Send all three together: the combination is what is validated.
		attrs = []elbv2types.TargetGroupAttribute{
			{Key: aws.String("stickiness.enabled"), Value: aws.String("true")},
			{Key: aws.String("stickiness.type"), Value: aws.String("app_cookie")},
			{Key: aws.String("stickiness.app_cookie.cookie_name"), Value: aws.String(cookie)},
		}
		ran, err := s.mutate(Call{Service: "elbv2", Operation: "ModifyTargetGroupAttributes", Params: map[string]string{
			"TargetGroupArn": arn, "stickiness.type": "app_cookie", "stickiness.app_cookie.cookie_name": cookie}}, func() error {
			_, err := s.c.ELBv2.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(arn), Attributes: attrs})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("setting stickiness on target group %s: %w", arn, err)
		}
		res.Changed = true
		res.DryRun = res.DryRun || !ran
		if ran {
			s.log.Info("set application-cookie stickiness", "target_group", arn, "cookie", cookie)
		}
	}
	return res, nil
}
