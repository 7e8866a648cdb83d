// Package cmdutil is the command-line plumbing shared by jks2pem, certup and jksproxy:
// where passwords come from, how files are written safely, how results are printed and
// how errors reach the terminal with a hint and an exit code.
package cmdutil
