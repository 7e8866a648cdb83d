package cmdutil

import (
	"bytes"
	"testing"
)

func TestWarningLogger(t *testing.T) {
	var b bytes.Buffer
	log := WarningLogger(&b, "certup").With("region", "eu-west-1")
	log.Info("not shown", "arn", "x")
	log.Debug("not shown either")
	log.Warn("certificate still in use somewhere, left alone", "arn", "arn:aws:iam::1:server-certificate/a")
	log.Error("plain")
	want := "certup: warning: certificate still in use somewhere, left alone (region=eu-west-1, arn=arn:aws:iam::1:server-certificate/a)\n" +
		"certup: warning: plain (region=eu-west-1)\n"
	if b.String() != want {
		t.Errorf("got:\n%swant:\n%s", b.String(), want)
	}
}
