package proxy

import (
	"crypto/tls"
	"log/slog"
	"sync"

	"github.com/keybridge/keybridge/internal/osslrsa"
)

// OpenSSLSigner returns a CertSource whose RSA keys sign through OpenSSL's
// libcrypto (RSA-2048 signatures about four times faster than Go's, which
// doubles full RSA handshakes per core) when the program is built with cgo and -tags openssl;
// in other builds it returns src itself. A key OpenSSL cannot take is logged
// and served with Go's signer, as without the tag.
func OpenSSLSigner(src CertSource, log *slog.Logger) CertSource {
	if !osslrsa.Enabled {
		return src
	}
	var once sync.Once
	return func() (*tls.Certificate, error) {
		c, err := src()
		if err != nil || c == nil {
			return c, err
		}
		w, err := osslrsa.Wrap(*c)
		if err != nil {
			log.Warn("RSA signatures stay with Go", "err", err)
			return c, nil
		}
		if w.PrivateKey != c.PrivateKey {
			once.Do(func() { log.Info("RSA signatures by OpenSSL", "version", osslrsa.Version()) })
		}
		return &w, nil
	}
}
