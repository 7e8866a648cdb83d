package main

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keybridge/keybridge/internal/demoapp"
	"github.com/keybridge/keybridge/internal/testkit"
)

// binPath is the jksproxy binary built once by TestMain.
var binPath string

func TestMain(m *testing.M) { testkit.BuildMain(m, "jksproxy", &binPath) }

func testdata(name string) string { return testkit.Testdata(name) }

type expected = testkit.Fixture

func expectedFor(t *testing.T, file string) expected { return testkit.FixtureFor(t, file) }

func fp(der []byte) string {
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:])
}

// lockedBuffer collects a process's log lines.
type lockedBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *lockedBuffer) add(l string) {
	b.mu.Lock()
	b.lines = append(b.lines, l)
	b.mu.Unlock()
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

// proxyProc is a running jksproxy.
type proxyProc struct {
	t     *testing.T
	cmd   *exec.Cmd
	mu    sync.Mutex
	addrs map[string]string
	logs  *lockedBuffer
	done  chan struct{}
	err   error
}

// startProxy runs the binary with args plus --log-json and waits until the
// listeners named in want listen.
func startProxy(t *testing.T, want []string, args ...string) *proxyProc {
	t.Helper()
	return startProxyAs(t, want, nil, binPath, append(os.Environ(), "KEYSTORE_PASSWORD="), args...) // never prompt
}

// startProxyAs is startProxy for the program bin started through the command
// wrapper (nil: none), which ends by executing bin with its arguments, in the
// environment env.
func startProxyAs(t *testing.T, want, wrapper []string, bin string, env []string, args ...string) *proxyProc {
	t.Helper()
	argv := append(append(append([]string(nil), wrapper...), bin, "--log-json"), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proxyProc{t: t, cmd: cmd, addrs: map[string]string{}, logs: &lockedBuffer{}, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.logs.add(line)
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "listening" {
				name, _ := m["listener"].(string)
				addr, _ := m["addr"].(string)
				p.mu.Lock()
				p.addrs[name] = addr
				p.mu.Unlock()
				listening <- name
			}
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("jksproxy %s logs:\n%s", strings.Join(args, " "), tail(p.logs.String(), 40))
		}
	})
	seen := map[string]bool{}
	deadline := time.After(10 * time.Second)
	for len(seen) < len(want) {
		select {
		case n := <-listening:
			seen[n] = true
		case <-p.done:
			t.Fatalf("jksproxy exited: %v\n%s", p.err, p.logs.String())
		case <-deadline:
			t.Fatalf("jksproxy did not listen:\n%s", p.logs.String())
		}
	}
	return p
}

func tail(s string, n int) string {
	l := strings.Split(s, "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func (p *proxyProc) addr(name string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addrs[name]
}

func (p *proxyProc) signal(s os.Signal) {
	if err := p.cmd.Process.Signal(s); err != nil {
		p.t.Fatal(err)
	}
}

// stop sends SIGTERM and waits for the exit.
func (p *proxyProc) stop() error {
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("jksproxy did not stop on SIGTERM")
	}
}

// demo is an in-process demo backend that can be killed and restarted on
// the same address.
type demo struct {
	name string
	addr string
	mu   sync.Mutex
	srv  *http.Server
}

func startDemo(t *testing.T, name string) *demo {
	t.Helper()
	d := &demo{name: name, addr: "127.0.0.1:0"}
	d.start(t)
	t.Cleanup(d.kill)
	return d
}

func (d *demo) start(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port may linger for a moment after kill
		if ln, err = net.Listen("tcp", d.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("demo backend %s: %v", d.name, err)
	}
	d.addr = ln.Addr().String()
	srv := &http.Server{Handler: demoapp.New(d.name), ReadHeaderTimeout: 5 * time.Second}
	d.mu.Lock()
	d.srv = srv
	d.mu.Unlock()
	go srv.Serve(ln)
}

// kill closes the listener and every connection: new connections are refused.
func (d *demo) kill() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.srv != nil {
		d.srv.Close()
		d.srv = nil
	}
}

func (d *demo) url() string { return "http://" + d.addr }

// field returns the value of key=value in a demo backend answer.
func field(body, key string) string {
	for _, f := range strings.Fields(body) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

func do(c *http.Client, method, u string, body io.Reader) (int, string, error) {
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return 0, "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func insecureTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true} //nolint:gosec // test client, the test checks the certificate itself
}

// waitFor polls cond every 20ms until it holds or timeout passes.
var waitFor = testkit.WaitFor

func healthz(addr string) int {
	c := &http.Client{Timeout: 2 * time.Second}
	code, _, err := do(c, "GET", "http://"+addr+"/healthz", nil)
	if err != nil {
		return 0
	}
	return code
}

// fastArgs are the flags every test proxy gets: loopback, quick checks.
func fastArgs(extra ...string) []string {
	return append([]string{
		"--listen-http", "127.0.0.1:0",
		"--health-check-path", "/health", "--health-interval", "100ms", "--health-timeout", "500ms",
		"--health-rise", "1", "--health-fall", "1",
	}, extra...)
}

func keystoreArgs(file string) []string {
	return []string{"--keystore", testdata(file), "--storepass-file", testdata(strings.TrimSuffix(file, filepath.Ext(file)) + ".storepass"),
		"--listen-https", "127.0.0.1:0"}
}
