package main

import (
	"strings"
	"testing"

	"github.com/keybridge/keybridge/internal/cmdutil"
)

func TestFlagsAfterPositional(t *testing.T) {
	app := newApp()
	tests := []struct{ in, want string }{
		{"certup upload ks.jks --name n --acm", "certup upload --name n --acm -- ks.jks"},
		{"certup upload --name=n ks.jks --tag a=b", "certup upload --name=n --tag a=b -- ks.jks"},
		{"certup deploy ks.jks --elb a --elb b:8443 --dry-run", "certup deploy --elb a --elb b:8443 --dry-run -- ks.jks"},
		{"certup upload --storepass-file p -- -odd.jks", "certup upload --storepass-file p -- -odd.jks"},
		{"certup list --json", "certup list --json"},
		{"certup nosuch ks --x", "certup nosuch ks --x"},
		{"certup", "certup"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := strings.Join(cmdutil.Interspersed(app, strings.Fields(tt.in)), " ")
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
