package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/keybridge/keybridge/internal/probes"
)

// TestTiers: jksproxies in two and three tiers, every one with default flags
// (plain HTTP on loopback, nothing else set), over two application servers.
// Each client's session (JSESSIONID and the proxies' route cookie) stays on
// one application server however the front tiers balance, and no response
// carries more than one route cookie.
func TestTiers(t *testing.T) {
	for _, tiers := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d tiers", tiers), func(t *testing.T) {
			apps := []*demo{startDemo(t, "app1"), startDemo(t, "app2")}
			layer := []string{apps[0].url(), apps[1].url()}
			for i := 0; i < tiers; i++ {
				n := 2
				if i == tiers-1 {
					n = 1 // the front
				}
				var next []string
				for j := 0; j < n; j++ {
					args := []string{"--listen-https", "", "--listen-http", "127.0.0.1:0", "--access-log=false"}
					for _, b := range layer {
						args = append(args, "--backend", b)
					}
					next = append(next, "http://"+startProxy(t, []string{"http"}, args...).addr("http"))
				}
				layer = next
			}
			front := layer[0]
			for c := 0; c < 4; c++ {
				jar, _ := cookiejar.New(nil)
				client := &http.Client{Jar: jar, Timeout: 5 * time.Second}
				var app, session string
				for i := 0; i < 20; i++ {
					resp, err := client.Get(front + "/")
					if err != nil {
						t.Fatalf("client %d request %d: %v", c, i, err)
					}
					body := readAll(resp)
					if resp.StatusCode != 200 {
						t.Fatalf("client %d request %d: %d %q", c, i, resp.StatusCode, body)
					}
					var routes []string
					for _, sc := range resp.Header.Values("Set-Cookie") {
						if strings.HasPrefix(sc, probes.RouteCookie+"=") {
							routes = append(routes, sc)
						}
					}
					if len(routes) > 1 {
						t.Errorf("client %d request %d: %d route cookies: %q", c, i, len(routes), routes)
					}
					if i == 0 {
						app, session = field(body, "backend"), field(body, "session")
						if len(routes) != 1 {
							t.Errorf("client %d: the first answer set %d route cookies, want 1", c, len(routes))
						}
						continue
					}
					if got, s := field(body, "backend"), field(body, "session"); got != app || s != session {
						t.Fatalf("client %d request %d went to %s session %s; the session is on %s session %s", c, i, got, s, app, session)
					}
				}
			}
		})
	}
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
