package proxy_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/keybridge/keybridge/proxy"
)

// Run serves a keystore on :8443 in front of two application servers, with
// JSESSIONID stickiness, until SIGTERM; SIGHUP reloads the keystore.
func ExampleRun() {
	storePass := []byte(os.Getenv("KEYSTORE_PASSWORD"))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	err := proxy.Run(ctx, proxy.Config{
		ListenHTTPS: ":8443",
		ListenHTTP:  ":8080",
		Admin:       "127.0.0.1:9090",
		Certificate: proxy.KeystoreSource("wso2carbon.jks", "", storePass, nil),
		WatchFile:   "wso2carbon.jks",
		Reload:      hup,
		DrainDelay:  15 * time.Second,
		Clusters: []proxy.ClusterConfig{{
			Name:     "carbon",
			Hosts:    []string{"*"},
			Backends: []proxy.BackendConfig{{URL: "http://10.0.0.11:9763"}, {URL: "http://10.0.0.12:9763"}},
			Health:   proxy.HealthConfig{Path: "/carbon/admin/login.jsp"},
		}},
	}, slog.Default())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}

func ExampleLoadConfigFile() {
	clusters, err := proxy.LoadConfigFile("jksproxy.yaml")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	for _, c := range clusters {
		fmt.Println(c.Name, c.Hosts, len(c.Backends))
	}
}
