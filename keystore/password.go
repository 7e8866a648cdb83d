package keystore

import (
	"bytes"
	"fmt"
	"os"
)

// ReadPasswordFile reads a keystore password from a file, as keytool's -storepass:file
// does: the first line; one trailing newline (LF or CRLF) is not part of the password.
func ReadPasswordFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading password file: %w", err)
	}
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		data = data[:i]
	}
	return bytes.TrimSuffix(data, []byte("\r")), nil
}
