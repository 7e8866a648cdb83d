package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkProxyHTTP measures the proxy's hot path over loopback HTTP/1.1
// keep-alive: 1 KiB answers, no access log.
func BenchmarkProxyHTTP(b *testing.B) {
	payload := strings.Repeat("x", 1024)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, payload)
	}))
	defer backend.Close()
	cc := oneCluster(backend.URL)
	cc[0].Health.Path = "/"
	r := startServerB(b, Config{ListenHTTP: "127.0.0.1:0", Clusters: cc})
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	url := "http://" + r.addrs["http"] + "/"
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
