package proxy

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/keybridge/keybridge/keystore"
)

// maxConfigFile caps the size of a configuration file.
const maxConfigFile = 1 << 20

// KeystoreSource returns a CertSource that reads the key pair of alias from
// the keystore at path (any format the keystore package reads) every time it
// is called.
func KeystoreSource(path, alias string, storePass, keyPass []byte) CertSource {
	return func() (*tls.Certificate, error) {
		kp, err := keystore.LoadKeyPair(path, alias, storePass, keyPass)
		if err != nil {
			return nil, err
		}
		c := kp.TLSCertificate()
		return &c, nil
	}
}

// TrustStorePool reads a truststore (JKS, PKCS#12, PEM, …) into a pool for
// verifying HTTPS backends. Like Java's trust managers it trusts every
// trusted-certificate entry and the certificate of every private-key entry
// (so a keystore of self-signed server certificates works as a truststore).
func TrustStorePool(path string, storePass []byte) (*x509.CertPool, error) {
	ks, err := keystore.ReadFile(path, storePass)
	if err != nil {
		return nil, fmt.Errorf("reading backend truststore: %w", err)
	}
	pool := x509.NewCertPool()
	n := 0
	for _, e := range ks.Entries {
		switch {
		case e.Kind == keystore.TrustedCertEntry:
			for _, c := range e.Chain {
				pool.AddCert(c)
				n++
			}
		case e.Kind == keystore.PrivateKeyEntry && len(e.Chain) > 0:
			pool.AddCert(e.Chain[0])
			n++
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("backend truststore %q holds no certificates", path)
	}
	return pool, nil
}

// fileConfig is the YAML configuration file.
type fileConfig struct {
	Clusters []fileCluster `yaml:"clusters"`
}

type fileCluster struct {
	Name                   string        `yaml:"name"`
	Hosts                  []string      `yaml:"hosts"`
	Balance                string        `yaml:"balance"`
	StickyCookie           string        `yaml:"sticky_cookie"`
	RouteCookie            string        `yaml:"route_cookie"`
	RequestBuffering       *bool         `yaml:"request_buffering"`
	PreserveHost           *bool         `yaml:"preserve_host"`
	Backends               []fileBackend `yaml:"backends"`
	Health                 fileHealth    `yaml:"health"`
	BackendTLS             fileTLS       `yaml:"backend_tls"`
	MaxIdleConnsPerBackend int           `yaml:"max_idle_conns_per_backend"`
	DialTimeout            time.Duration `yaml:"dial_timeout"`
	ResponseHeaderTimeout  time.Duration `yaml:"response_header_timeout"`
}

type fileBackend BackendConfig

// UnmarshalYAML takes a backend as a URL string or as {url, id}.
func (b *fileBackend) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		b.URL = n.Value
		return nil
	}
	var m struct {
		URL string `yaml:"url"`
		ID  string `yaml:"id"`
	}
	if err := n.Decode(&m); err != nil {
		return err
	}
	b.URL, b.ID = m.URL, m.ID
	return nil
}

type fileHealth struct {
	Path     string        `yaml:"path"`
	Interval time.Duration `yaml:"interval"`
	Timeout  time.Duration `yaml:"timeout"`
	Rise     int           `yaml:"rise"`
	Fall     int           `yaml:"fall"`
	Expect   string        `yaml:"expect"` // "200-399" or "200"
}

type fileTLS struct {
	Truststore         string `yaml:"truststore"`
	TruststorePassFile string `yaml:"truststore_pass_file"`
	TruststorePassEnv  string `yaml:"truststore_pass_env"`
	Insecure           bool   `yaml:"insecure"`
}

// LoadConfigFile reads the YAML cluster configuration at path. Relative
// truststore and password-file paths are relative to the file's directory.
// Passwords are never in the file itself: only the names of files or
// environment variables holding them.
func LoadConfigFile(path string) ([]ClusterConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading config %q: %w", path, err)
	}
	if len(data) > maxConfigFile {
		return nil, fmt.Errorf("config %q: larger than %d bytes", path, maxConfigFile)
	}
	ccs, err := parseConfig(data, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("config %q: %w", path, err)
	}
	return ccs, nil
}

func parseConfig(data []byte, dir string) ([]ClusterConfig, error) {
	var fc fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if len(fc.Clusters) == 0 {
		return nil, errors.New("no clusters")
	}
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	var out []ClusterConfig
	for i, c := range fc.Clusters {
		name := c.Name
		if name == "" {
			name = fmt.Sprintf("cluster%d", i+1)
		}
		cc := ClusterConfig{
			Name:                   name,
			Hosts:                  c.Hosts,
			Balance:                Balance(c.Balance),
			StickyCookie:           c.StickyCookie,
			RouteCookie:            c.RouteCookie,
			UnbufferedRequests:     c.RequestBuffering != nil && !*c.RequestBuffering,
			PreserveHost:           c.PreserveHost,
			MaxIdleConnsPerBackend: c.MaxIdleConnsPerBackend,
			DialTimeout:            c.DialTimeout,
			ResponseHeaderTimeout:  c.ResponseHeaderTimeout,
			InsecureSkipVerify:     c.BackendTLS.Insecure,
			Health: HealthConfig{
				Path: c.Health.Path, Interval: c.Health.Interval, Timeout: c.Health.Timeout,
				Rise: c.Health.Rise, Fall: c.Health.Fall,
			},
		}
		if c.Health.Expect != "" {
			lo, hi, err := parseStatusRange(c.Health.Expect)
			if err != nil {
				return nil, fmt.Errorf("cluster %q: health expect: %w", name, err)
			}
			cc.Health.ExpectMin, cc.Health.ExpectMax = lo, hi
		}
		for _, b := range c.Backends {
			cc.Backends = append(cc.Backends, BackendConfig(b))
		}
		if ts := c.BackendTLS.Truststore; ts != "" {
			if c.BackendTLS.Insecure {
				return nil, fmt.Errorf("cluster %q: backend_tls: truststore and insecure exclude each other", name)
			}
			var pass []byte
			switch {
			case c.BackendTLS.TruststorePassFile != "":
				p, err := keystore.ReadPasswordFile(rel(c.BackendTLS.TruststorePassFile))
				if err != nil {
					return nil, fmt.Errorf("cluster %q: %w", name, err)
				}
				pass = p
			case c.BackendTLS.TruststorePassEnv != "":
				v, ok := os.LookupEnv(c.BackendTLS.TruststorePassEnv)
				if !ok {
					return nil, fmt.Errorf("cluster %q: environment variable %s (truststore_pass_env) is not set", name, c.BackendTLS.TruststorePassEnv)
				}
				pass = []byte(v)
			}
			pool, err := TrustStorePool(rel(ts), pass)
			if err != nil {
				return nil, fmt.Errorf("cluster %q: %w", name, err)
			}
			cc.RootCAs = pool
		}
		out = append(out, cc)
	}
	return out, nil
}

func parseStatusRange(s string) (int, int, error) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	a, err := strconv.Atoi(strings.TrimSpace(lo))
	if err != nil {
		return 0, 0, fmt.Errorf("bad status %q", s)
	}
	b := a
	if isRange {
		if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
			return 0, 0, fmt.Errorf("bad status %q", s)
		}
	}
	if a < 100 || b > 599 || a > b {
		return 0, 0, fmt.Errorf("bad status range %q", s)
	}
	return a, b, nil
}

// ReadSessionTicketKeys reads TLS session ticket keys: one key of 32 bytes
// per line as 64 hex digits, the first one encrypting new tickets; empty
// lines and lines starting with # are skipped.
func ReadSessionTicketKeys(path string) ([][32]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading session ticket keys: %w", err)
	}
	var keys [][32]byte
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("session ticket key file %q line %d: not 64 hex digits", path, i+1)
		}
		keys = append(keys, [32]byte(b))
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("session ticket key file %q holds no key", path)
	}
	return keys, nil
}
