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
// one application server however the front tiers balance, no response
// carries more than one route cookie, and when that server dies the session
// moves to the other one and stays there.
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
			var last *http.Client
			var lastApp string
			for c := 0; c < 4; c++ {
				jar, _ := cookiejar.New(nil)
				last = &http.Client{Jar: jar, Timeout: 5 * time.Second}
				lastApp = followSession(t, last, front, fmt.Sprintf("client %d", c), 20)
			}
			// The application server holding the last client's session dies:
			// the session moves to the other one, once, and stays there.
			for _, a := range apps {
				if a.name == lastApp {
					a.kill()
				}
			}
			if moved := followSession(t, last, front, "after the failover", 10); moved == lastApp {
				t.Errorf("the session stayed on the killed %s", lastApp)
			}
		})
	}
}

// followSession sends n requests with client's cookies and checks that they
// reach one application server in one session, and that the first answer
// sets exactly one route cookie and none sets more; it returns the server.
func followSession(t *testing.T, client *http.Client, front, who string, n int) string {
	t.Helper()
	var app, session string
	for i := 0; i < n; i++ {
		resp, err := client.Get(front + "/")
		if err != nil {
			t.Fatalf("%s, request %d: %v", who, i, err)
		}
		body := readAll(resp)
		if resp.StatusCode != 200 {
			t.Fatalf("%s, request %d: %d %q", who, i, resp.StatusCode, body)
		}
		var routes []string
		for _, sc := range resp.Header.Values("Set-Cookie") {
			if strings.HasPrefix(sc, probes.RouteCookie+"=") {
				routes = append(routes, sc)
			}
		}
		if len(routes) > 1 {
			t.Errorf("%s, request %d: %d route cookies: %q", who, i, len(routes), routes)
		}
		if i == 0 {
			app, session = field(body, "backend"), field(body, "session")
			if len(routes) != 1 {
				t.Errorf("%s: the first answer set %d route cookies, want 1", who, len(routes))
			}
			continue
		}
		if got, s := field(body, "backend"), field(body, "session"); got != app || s != session {
			t.Fatalf("%s, request %d went to %s session %s; the session is on %s session %s", who, i, got, s, app, session)
		}
	}
	return app
}

func readAll(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
