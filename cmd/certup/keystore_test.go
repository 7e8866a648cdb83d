package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeystoreErrorsBeforePassword: a file that is not a keystore is named so without a
// password given, and a key with a password of its own is told apart from a wrong store
// password; flags stand after KEYSTORE.
func TestKeystoreErrorsBeforePassword(t *testing.T) {
	notes := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(notes, []byte("hello, not a keystore\n"), 0o644)
	r := certupWithEnv(t, testEnv(t), nil, "upload", notes, "--dry-run")
	if r.code != 1 || !strings.Contains(r.stderr, "certup: error: "+notes+": not a keystore") {
		t.Errorf("not a keystore: %s", r)
	}
	r = certupWithEnv(t, testEnv(t), nil, "upload", fixture("keypass.jks"), "--storepass-file", fixture("keypass.storepass"), "--dry-run")
	if r.code != 1 || !strings.Contains(r.stderr, `wrong key password for alias "mykey"`) || !strings.Contains(r.stderr, "certup: hint: the store password is right but the key has a password of its own: give it with --keypass-file") {
		t.Errorf("key password of its own: %s", r)
	}
}
