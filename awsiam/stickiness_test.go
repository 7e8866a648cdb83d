package awsiam_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/keybridge/keybridge/awsiam"
	"github.com/keybridge/keybridge/awsiam/awstest"
)

func TestPlanClassicStickiness(t *testing.T) {
	sticky := map[string]bool{"mine": true, "other-app": true, "lbcookie": true}
	app := map[string]bool{"mine": true, "other-app": true}
	for _, tt := range []struct {
		name    string
		current []string
		policy  string
		want    []string
		changed bool
	}{
		{"bind on a bare listener", nil, "mine", []string{"mine"}, true},
		{"bind, SSL policy kept", []string{"tls12"}, "mine", []string{"tls12", "mine"}, true},
		{"replaces an LB-cookie policy", []string{"tls12", "lbcookie"}, "mine", []string{"tls12", "mine"}, true},
		{"replaces another app-cookie policy", []string{"other-app", "tls12"}, "mine", []string{"tls12", "mine"}, true},
		{"already bound", []string{"tls12", "mine"}, "mine", []string{"tls12", "mine"}, false},
		{"already bound, first", []string{"mine", "tls12"}, "mine", []string{"mine", "tls12"}, false},
		{"remove", []string{"tls12", "mine"}, "", []string{"tls12"}, true},
		{"remove another app-cookie policy", []string{"other-app"}, "", []string{}, true},
		{"remove leaves an LB-cookie policy", []string{"lbcookie", "tls12"}, "", []string{"lbcookie", "tls12"}, false},
		{"nothing to remove", nil, "", []string{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := awsiam.PlanClassicStickiness(tt.current, sticky, app, tt.policy)
			if !slices.Equal(got.Policies, tt.want) || got.Changed != tt.changed {
				t.Errorf("got %v changed %v, want %v changed %v", got.Policies, got.Changed, tt.want, tt.changed)
			}
		})
	}
}

func TestAppCookieAttributes(t *testing.T) {
	on := map[string]string{"stickiness.enabled": "true", "stickiness.type": "app_cookie", "stickiness.app_cookie.cookie_name": "JSESSIONID"}
	for _, tt := range []struct {
		name   string
		have   map[string]string
		cookie string
		want   map[string]string
	}{
		{"set from default", map[string]string{"stickiness.enabled": "false", "stickiness.type": "lb_cookie"}, "JSESSIONID", on},
		{"already set", on, "JSESSIONID", nil},
		{"another cookie", on, "PHPSESSID", map[string]string{"stickiness.enabled": "true", "stickiness.type": "app_cookie", "stickiness.app_cookie.cookie_name": "PHPSESSID"}},
		{"remove", on, "", map[string]string{"stickiness.enabled": "false"}},
		{"remove, already off", map[string]string{"stickiness.enabled": "false", "stickiness.type": "app_cookie"}, "", nil},
		{"remove leaves lb_cookie stickiness", map[string]string{"stickiness.enabled": "true", "stickiness.type": "lb_cookie"}, "", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := awsiam.AppCookieAttributes(tt.have, tt.cookie)
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

// TestStickinessEveryWebListener: a classic ELB named without a port gets
// stickiness on its HTTP and HTTPS listeners (the WSO2 seed's 80 and 443), not
// on TCP; removing it keeps the other policies; each second run changes nothing.
func TestStickinessEveryWebListener(t *testing.T) {
	e := newEnv(t, awstest.Options{}, awsiam.Options{})
	ctx := ctx(t)
	if err := e.srv.AddClassicELB(region, "web", awstest.ClassicListener{Protocol: "HTTP", Port: 80, InstancePort: 9763},
		awstest.ClassicListener{Protocol: "HTTPS", Port: 443, InstancePort: 9443},
		awstest.ClassicListener{Protocol: "TCP", Port: 5672, InstancePort: 5672}); err != nil {
		t.Fatal(err)
	}
	all := []awsiam.Listener{{ELB: "web", Port: awsiam.AllPorts}}
	res, err := e.svc.Stickiness(ctx, all, "JSESSIONID")
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Listener.Port != 80 || res[1].Listener.Port != 443 || !res[0].Changed || !res[1].Changed {
		t.Fatalf("results = %+v %+v", res[0], res[len(res)-1])
	}
	policy := awsiam.StickinessPolicyName("JSESSIONID")
	http, _ := e.srv.ClassicListenerOf(region, "web", 80)
	https, _ := e.srv.ClassicListenerOf(region, "web", 443)
	tcp, _ := e.srv.ClassicListenerOf(region, "web", 5672)
	if strings.Join(http.Policies, ",") != policy || strings.Join(https.Policies, ",") != awstest.DefaultClassicSSLPolicy+","+policy || len(tcp.Policies) != 0 {
		t.Errorf("policies: 80 %v, 443 %v, 5672 %v", http.Policies, https.Policies, tcp.Policies)
	}
	e.srv.ResetCalls()
	if again, err := e.svc.Stickiness(ctx, all, "JSESSIONID"); err != nil || again[0].Changed || again[1].Changed || e.srv.MutatingCalls() != 0 {
		t.Errorf("second run: %v, %d mutating calls", err, e.srv.MutatingCalls())
	}
	if _, err := e.svc.Stickiness(ctx, []awsiam.Listener{{ELB: "web", Port: 5672}}, "JSESSIONID"); err == nil || !strings.Contains(err.Error(), "TCP") {
		t.Errorf("TCP listener: %v", err)
	}

	e.srv.ResetCalls()
	if _, err := e.svc.Stickiness(ctx, all, ""); err != nil {
		t.Fatal(err)
	}
	http, _ = e.srv.ClassicListenerOf(region, "web", 80)
	https, _ = e.srv.ClassicListenerOf(region, "web", 443)
	if len(http.Policies) != 0 || strings.Join(https.Policies, ",") != awstest.DefaultClassicSSLPolicy {
		t.Errorf("after removal: 80 %v, 443 %v", http.Policies, https.Policies)
	}
	e.srv.ResetCalls()
	if again, err := e.svc.Stickiness(ctx, all, ""); err != nil || again[0].Changed || e.srv.MutatingCalls() != 0 {
		t.Errorf("second removal: %v, %d mutating calls", err, e.srv.MutatingCalls())
	}
}

// TestStickinessFollowsRules: an ALB listener's rules forward to other target
// groups than its default action; all of them get stickiness.
func TestStickinessFollowsRules(t *testing.T) {
	e := newEnv(t, awstest.Options{}, awsiam.Options{})
	ctx := ctx(t)
	ln, def := seedALB(t, e.srv, "HTTPS")
	api := e.srv.AddTargetGroup(region, "api", "HTTP", 8080)
	admin := e.srv.AddTargetGroup(region, "admin", "HTTPS", 9443)
	if _, err := e.srv.AddRule(region, ln, 10, []string{"api.example.com"}, api); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.AddRule(region, ln, 20, []string{"admin.example.com"}, admin, def); err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.Stickiness(ctx, []awsiam.Listener{{ARN: ln}}, "JSESSIONID")
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || len(res[0].TargetGroups) != 3 || !res[0].Changed {
		t.Fatalf("result = %+v", res[0])
	}
	for _, tg := range []string{def, api, admin} {
		a := e.srv.TargetGroupAttributes(region, tg)
		if a["stickiness.enabled"] != "true" || a["stickiness.type"] != "app_cookie" || a["stickiness.app_cookie.cookie_name"] != "JSESSIONID" {
			t.Errorf("target group %s: %v", tg, a)
		}
	}
	e.srv.ResetCalls()
	if again, err := e.svc.Stickiness(ctx, []awsiam.Listener{{ARN: ln}}, "JSESSIONID"); err != nil || again[0].Changed || e.srv.MutatingCalls() != 0 {
		t.Errorf("second run: %v, %d mutating calls", err, e.srv.MutatingCalls())
	}
	if _, err := e.svc.Stickiness(ctx, []awsiam.Listener{{ARN: ln}}, ""); err != nil {
		t.Fatal(err)
	}
	for _, tg := range []string{def, api, admin} {
		if a := e.srv.TargetGroupAttributes(region, tg); a["stickiness.enabled"] != "false" {
			t.Errorf("target group %s after removal: %v", tg, a)
		}
	}
}
