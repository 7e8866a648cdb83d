// Command probes runs the probes of internal/probes against jksproxy, nginx and
// HAProxy, each in front of the same two recording backends, and writes the outcomes
// side by side as a markdown table and as JSON. bench/probes.sh installs the peers and
// runs it; see there.
//
//	probes -jksproxy bin/jksproxy [-nginx PATH] [-haproxy PATH] [-only NAME,...] [-out bench/probes-results]
//
// Every server gets a fresh process per probe (a probe may leave a backend marked
// down), listens on 127.0.0.1 on ports picked free, has a body timeout of
// probes.BodyTimeout, a header timeout of 10 s, passive ejection at the first error
// that no health check undoes, and round robin over the two backends. Every process it
// starts is stopped by its PID.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/keybridge/keybridge/internal/probes"
	"github.com/keybridge/keybridge/keystore"
)

func main() {
	jks := flag.String("jksproxy", "bin/jksproxy", "the jksproxy `BINARY`")
	ngx := flag.String("nginx", lookPath("nginx"), "the nginx `BINARY` (empty: skip nginx)")
	hap := flag.String("haproxy", lookPath("haproxy"), "the HAProxy `BINARY` (empty: skip HAProxy)")
	only := flag.String("only", "", "run only these probes (comma-separated names)")
	out := flag.String("out", "bench/probes-results", "write `PREFIX`.md and PREFIX.json (empty: print the table only)")
	flag.Parse()
	if err := run(*jks, *ngx, *hap, *only, *out); err != nil {
		fmt.Fprintln(os.Stderr, "probes: error:", err)
		os.Exit(1)
	}
}

func lookPath(name string) string {
	for _, p := range []string{name, "/usr/sbin/" + name} {
		if f, err := exec.LookPath(p); err == nil {
			return f
		}
	}
	return ""
}

// server is one proxy under test.
type server struct {
	Name    string
	Version string
	start   startFunc
}

// startFunc makes the command that runs a server with its files in dir, in
// front of the backends b, listening for HTTP/1 on http and TLS on https.
type startFunc func(dir string, b [2]string, http, https string) (*exec.Cmd, error)

// Outcome is one probe against one server, as the JSON holds it.
type Outcome struct {
	Answer  string   `json:"answer"`
	Backend string   `json:"backend"`
	Reached int      `json:"reached"`
	Up      bool     `json:"backends_up"`
	Meets   bool     `json:"meets_jksproxy_expectation"`
	Missed  []string `json:"missed,omitempty"`
}

// Row is one probe against every server.
type Row struct {
	Probe    string             `json:"probe"`
	Proto    string             `json:"proto"`
	Why      string             `json:"why"`
	Expect   string             `json:"jksproxy_expected"`
	Own      bool               `json:"jksproxy_feature,omitempty"`
	Outcomes map[string]Outcome `json:"outcomes"`
}

func run(jks, ngx, hap, only, out string) error {
	dir, err := os.MkdirTemp("", "kb-probes-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := writeKeys(dir); err != nil {
		return err
	}
	servers := []server{{Name: "jksproxy", Version: "commit " + gitRev(), start: startJKS(jks)}}
	if ngx != "" {
		servers = append(servers, server{Name: "nginx", Version: version(ngx, "-v"), start: startNginx(ngx)})
	}
	if hap != "" {
		servers = append(servers, server{Name: "HAProxy", Version: version(hap, "-v"), start: startHAProxy(hap)})
	}
	var list []probes.Probe
	for _, p := range probes.All() {
		if only == "" || slices.Contains(strings.Split(only, ","), p.Name) {
			list = append(list, p)
		}
	}
	if len(list) == 0 {
		return fmt.Errorf("no probe named %q", only)
	}
	rows := make([]Row, len(list))
	for i, p := range list {
		rows[i] = Row{Probe: p.Name, Proto: p.Proto.String(), Why: p.Why, Expect: p.Expect.String(), Own: p.Own, Outcomes: map[string]Outcome{}}
	}
	for _, s := range servers {
		b1, err := probes.StartRecorder("b1")
		if err != nil {
			return err
		}
		b2, err := probes.StartRecorder("b2")
		if err != nil {
			b1.Close()
			return err
		}
		for i, p := range list {
			r, err := once(s, dir, p, b1, b2)
			if err != nil {
				b1.Close()
				b2.Close()
				return fmt.Errorf("%s, probe %s: %w", s.Name, p.Name, err)
			}
			missed := p.Expect.Check(r)
			rows[i].Outcomes[s.Name] = Outcome{Answer: r.Answer(), Backend: r.Backend(), Reached: len(r.Seen), Up: r.BackendsUp,
				Meets: len(missed) == 0, Missed: missed}
			fmt.Fprintf(os.Stderr, "%-8s %-24s %s; %s\n", s.Name, p.Name, r.Answer(), r.Backend())
		}
		b1.Close()
		b2.Close()
	}
	md := table(servers, rows)
	fmt.Print(md)
	if out == "" {
		return nil
	}
	js, err := json.MarshalIndent(map[string]any{"servers": versions(servers), "probes": rows}, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFile(out+".json", append(js, '\n')); err != nil {
		return err
	}
	return writeFile(out+".md", []byte(md))
}

// once starts a fresh s, runs p against it and stops it.
func once(s server, dir string, p probes.Probe, b1, b2 *probes.Recorder) (probes.Result, error) {
	ports, err := freePorts(2)
	if err != nil {
		return probes.Result{}, err
	}
	http, https := "127.0.0.1:"+ports[0], "127.0.0.1:"+ports[1]
	sdir := filepath.Join(dir, s.Name)
	if err := os.MkdirAll(sdir, 0o700); err != nil {
		return probes.Result{}, err
	}
	cmd, err := s.start(sdir, [2]string{b1.Addr, b2.Addr}, http, https)
	if err != nil {
		return probes.Result{}, err
	}
	logf, err := os.Create(filepath.Join(sdir, "log"))
	if err != nil {
		return probes.Result{}, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return probes.Result{}, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer stop(cmd, exited)
	for _, a := range []string{http, https} {
		if err := waitListening(a, exited); err != nil {
			log, _ := os.ReadFile(filepath.Join(sdir, "log"))
			return probes.Result{}, fmt.Errorf("%w\n%s", err, log)
		}
	}
	time.Sleep(100 * time.Millisecond) // HAProxy's first health checks
	return probes.Run(probes.Target{HTTP: http, HTTPS: https, Backends: []*probes.Recorder{b1, b2}}, p), nil
}

// stop sends SIGTERM to the process alone, then SIGKILL after 5 s.
func stop(cmd *exec.Cmd, exited <-chan struct{}) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

func waitListening(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("exited at start")
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("not listening on %s after 10s", addr)
}

func freePorts(n int) ([]string, error) {
	var ports []string
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		_, p, _ := net.SplitHostPort(l.Addr().String())
		ports = append(ports, p)
	}
	return ports, nil
}

// writeKeys writes the test keystore's certificate and key as PEM for nginx
// (cert.pem, key.pem) and HAProxy (both in haproxy.pem), mode 0600.
func writeKeys(dir string) error {
	pass, err := keystore.ReadPasswordFile("testdata/wso2carbon.storepass")
	if err != nil {
		return err
	}
	kp, err := keystore.LoadKeyPair("testdata/wso2carbon.jks", "", pass, nil)
	if err != nil {
		return err
	}
	key, err := kp.KeyPEM(keystore.KeyFormatDefault)
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{"cert.pem": kp.FullChainPEM(), "key.pem": key, "haproxy.pem": append(kp.FullChainPEM(), key...)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func startJKS(bin string) startFunc {
	return func(_ string, b [2]string, http, https string) (*exec.Cmd, error) {
		cmd := exec.Command(bin, "--keystore", "testdata/wso2carbon.jks", "--storepass-file", "testdata/wso2carbon.storepass",
			"--listen-https", https, "--listen-http", http,
			"--backend", "http://"+b[0], "--backend", "http://"+b[1],
			"--health-check-path", "/health", "--health-interval", "1h", "--health-fall", "1",
			"--body-timeout", probes.BodyTimeout.String(), "--access-log=false")
		cmd.Env = append(os.Environ(), "KEYSTORE_PASSWORD=")
		return cmd, nil
	}
}

// nginx as the WebSocket guide configures it (Upgrade passed on), body timeout
// as jksproxy's, header timeout jksproxy's default (10 s; nginx's own is 60 s),
// nginx's default passive ejection (max_fails=1 fail_timeout=10s).
var nginxConf = template.Must(template.New("nginx").Parse(`
{{if .Root}}user root;{{end}}
worker_processes 1;
daemon off;
master_process on;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path {{.Dir}}/body;
    proxy_temp_path {{.Dir}}/proxy;
    fastcgi_temp_path {{.Dir}}/fastcgi;
    uwsgi_temp_path {{.Dir}}/uwsgi;
    scgi_temp_path {{.Dir}}/scgi;
    client_header_timeout 10s;
    client_body_timeout {{.BodyTimeout}};
    client_max_body_size 10m;
    map $http_upgrade $connection_upgrade { default upgrade; '' close; }
    upstream backend {
        server {{index .B 0}} max_fails=1 fail_timeout=10s;
        server {{index .B 1}} max_fails=1 fail_timeout=10s;
        keepalive 16;
    }
    server {
        listen {{.HTTP}};
        listen {{.HTTPS}} ssl http2;
        ssl_certificate {{.Keys}}/cert.pem;
        ssl_certificate_key {{.Keys}}/key.pem;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }
    }
}
`))

func startNginx(bin string) startFunc {
	return fromConf(bin, nginxConf, "nginx.conf", func(conf, dir string) []string {
		return []string{"-c", conf, "-e", filepath.Join(dir, "error.log")}
	})
}

// HAProxy in HTTP mode, h2 by ALPN, the client inactivity timeout as the body
// timeout, header timeout 10 s, and passive ejection at the first layer-7
// error (observe layer7), which the hourly health check does not undo.
var haproxyConf = template.Must(template.New("haproxy").Parse(`
global
    maxconn 1000
defaults
    mode http
    option http-keep-alive
    timeout connect 2s
    timeout client {{.BodyTimeout}}
    timeout server 10s
    timeout http-request 10s
    timeout http-keep-alive 10s
frontend fe
    bind {{.HTTP}}
    bind {{.HTTPS}} ssl crt {{.Keys}}/haproxy.pem alpn h2,http/1.1
    option forwardfor
    default_backend be
backend be
    balance roundrobin
    option httpchk GET /health
    server b1 {{index .B 0}} check inter 1h observe layer7 error-limit 1 on-error mark-down
    server b2 {{index .B 1}} check inter 1h observe layer7 error-limit 1 on-error mark-down
`))

func startHAProxy(bin string) startFunc {
	return fromConf(bin, haproxyConf, "haproxy.cfg", func(conf, _ string) []string { return []string{"-db", "-f", conf} })
}

// fromConf starts bin with the configuration file tmpl makes, in the
// server's directory, from the same values for every server.
func fromConf(bin string, tmpl *template.Template, file string, args func(conf, dir string) []string) startFunc {
	return func(dir string, b [2]string, http, https string) (*exec.Cmd, error) {
		var conf bytes.Buffer
		if err := tmpl.Execute(&conf, map[string]any{"Root": os.Geteuid() == 0, "Dir": dir, "Keys": filepath.Dir(dir),
			"B": b, "HTTP": http, "HTTPS": https, "BodyTimeout": seconds(probes.BodyTimeout)}); err != nil {
			return nil, err
		}
		path := filepath.Join(dir, file)
		if err := os.WriteFile(path, conf.Bytes(), 0o600); err != nil {
			return nil, err
		}
		return exec.Command(bin, args(path, dir)...), nil
	}
}

func seconds(d time.Duration) string { return fmt.Sprintf("%ds", int(d/time.Second)) }

func version(bin string, flag string) string {
	out, _ := exec.Command(bin, flag).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

// gitRev names the checked-out commit, "+changes" when the proxy's sources differ from it.
func gitRev() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	rev := strings.TrimSpace(string(out))
	if st, _ := exec.Command("git", "status", "--porcelain", "--", "proxy", "cmd/jksproxy", "internal").Output(); len(st) > 0 {
		rev += "+changes"
	}
	return rev
}

func versions(servers []server) map[string]string {
	m := map[string]string{}
	for _, s := range servers {
		m[s.Name] = s.Version
	}
	return m
}

func writeFile(name string, data []byte) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// table renders the rows side by side, with a summary of where the peers
// agree with jksproxy and which servers meet jksproxy's expectations.
func table(servers []server, rows []Row) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Probes: jksproxy beside its peers\n\n")
	fmt.Fprintf(&b, "`bash bench/probes.sh` on %s, %s, %d cores; %s.\n\n", runtime.GOOS, runtime.Version(), runtime.NumCPU(), time.Now().UTC().Format("2006-01-02"))
	for _, s := range servers {
		fmt.Fprintf(&b, "- %s: %s\n", s.Name, s.Version)
	}
	b.WriteString("\nEach cell: what the client got; what the two backends saw (DOWN: a backend took no request afterwards, i.e. the server ejected it). ")
	b.WriteString("✓: the outcome meets jksproxy's expectation for the probe (internal/probes, asserted in `make test`).\n\n")
	b.WriteString("| summary | " + names(servers) + " |\n|---|" + strings.Repeat("---|", len(servers)) + "\n")
	// The probes of jksproxy's own route cookie are left out of the
	// comparisons: to the peers it is a cookie like any other.
	common := 0
	for _, r := range rows {
		if !r.Own {
			common++
		}
	}
	var cells []string
	for _, s := range servers {
		n := 0
		for _, r := range rows {
			if !r.Own && r.Outcomes[s.Name].Meets {
				n++
			}
		}
		cells = append(cells, fmt.Sprintf("%d/%d", n, common))
	}
	fmt.Fprintf(&b, "| meets jksproxy's expectation (all but its own cookie's probes) | %s |\n", strings.Join(cells, " | "))
	cells = cells[:0]
	for _, s := range servers {
		n, own := 0, 0
		for _, r := range rows {
			if r.Own {
				own++
				if r.Outcomes[s.Name].Meets {
					n++
				}
			}
		}
		cells = append(cells, fmt.Sprintf("%d/%d", n, own))
	}
	fmt.Fprintf(&b, "| keeps jksproxy's route cookie from the backend | %s |\n", strings.Join(cells, " | "))
	cells = cells[:0]
	for _, s := range servers {
		n := 0
		for _, r := range rows {
			if !r.Outcomes[s.Name].Up {
				n++
			}
		}
		cells = append(cells, fmt.Sprint(n))
	}
	fmt.Fprintf(&b, "| probes after which a backend was out | %s |\n", strings.Join(cells, " | "))
	cells = cells[:0]
	for _, s := range servers {
		n := 0
		for _, r := range rows {
			if !r.Own && same(r.Outcomes[s.Name], r.Outcomes["jksproxy"]) {
				n++
			}
		}
		cells = append(cells, fmt.Sprintf("%d/%d", n, common))
	}
	fmt.Fprintf(&b, "| same status, backend reach and health as jksproxy | %s |\n\n", strings.Join(cells, " | "))
	// Where the expectation tells them apart.
	for _, s := range servers[1:] {
		var better, worse []string
		for _, r := range rows {
			j, o := r.Outcomes["jksproxy"].Meets, r.Outcomes[s.Name].Meets
			switch {
			case r.Own:
			case j && !o:
				better = append(better, r.Probe)
			case o && !j:
				worse = append(worse, r.Probe)
			}
		}
		fmt.Fprintf(&b, "- jksproxy meets its expectation, %s does not (%d): %s\n", s.Name, len(better), orNone(better))
		fmt.Fprintf(&b, "- %s meets jksproxy's expectation, jksproxy does not (%d): %s\n", s.Name, len(worse), orNone(worse))
	}
	b.WriteString("\n")
	b.WriteString("| probe | jksproxy's expected outcome | " + names(servers) + " |\n|---|---|" + strings.Repeat("---|", len(servers)) + "\n")
	for _, r := range rows {
		cells = cells[:0]
		for _, s := range servers {
			o := r.Outcomes[s.Name]
			mark := ""
			if o.Meets {
				mark = "✓ "
			}
			cells = append(cells, mark+esc(o.Answer)+"; "+esc(o.Backend))
		}
		own := ""
		if r.Own {
			own = " (jksproxy's own cookie)"
		}
		fmt.Fprintf(&b, "| **%s**%s %s | %s | %s |\n", r.Probe, own, esc(r.Why), esc(r.Expect), strings.Join(cells, " | "))
	}
	return b.String()
}

// same reports whether two outcomes agree on the statuses, how many
// requests reached the backends and whether the backends stayed up.
func same(a, b Outcome) bool {
	status := func(o Outcome) string {
		f := strings.Fields(o.Answer)
		var s []string
		for _, x := range f {
			if len(x) == 3 && x[0] >= '1' && x[0] <= '5' || x == "none" || x == "reset" {
				s = append(s, x)
			}
		}
		return strings.Join(s, " ")
	}
	return status(a) == status(b) && a.Reached == b.Reached && a.Up == b.Up
}

func orNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

func names(servers []server) string {
	var n []string
	for _, s := range servers {
		n = append(n, s.Name)
	}
	return strings.Join(n, " | ")
}

func esc(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
