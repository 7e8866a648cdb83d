package main

import (
	"strings"
	"testing"
)

func TestSame(t *testing.T) {
	o := func(answer string, reached int, up bool) Outcome {
		return Outcome{Answer: answer, Reached: reached, Up: up}
	}
	tests := []struct {
		a, b Outcome
		want bool
	}{
		{o("400 closed", 0, true), o("400 open", 0, true), true}, // the connection is not compared
		{o("400 closed", 0, true), o("431 closed", 0, true), false},
		{o("100 200 open", 1, true), o("100 200 open after 1s", 1, true), true},
		{o("200 open", 1, true), o("200 open", 0, true), false},
		{o("none closed", 0, true), o("none closed", 0, false), false},
		{o("reset RST_STREAM PROTOCOL_ERROR open", 0, true), o("reset GOAWAY INTERNAL_ERROR closed", 0, true), true},
		{o("reset RST_STREAM PROTOCOL_ERROR open", 0, true), o("400 open", 0, true), false},
	}
	for _, tt := range tests {
		if got := same(tt.a, tt.b); got != tt.want {
			t.Errorf("same(%q, %q) = %v", tt.a.Answer, tt.b.Answer, got)
		}
	}
}

func TestTable(t *testing.T) {
	servers := []server{{Name: "jksproxy", Version: "x"}, {Name: "nginx", Version: "y"}}
	rows := []Row{
		{Probe: "a", Outcomes: map[string]Outcome{"jksproxy": {Answer: "400 closed", Up: true, Meets: true}, "nginx": {Answer: "200 open", Reached: 1, Up: true}}},
		{Probe: "b", Outcomes: map[string]Outcome{"jksproxy": {Answer: "200 open", Reached: 1, Up: true}, "nginx": {Answer: "400 closed", Up: true, Meets: true}}},
		{Probe: "c", Outcomes: map[string]Outcome{"jksproxy": {Answer: "200 open", Reached: 1, Up: true, Meets: true}, "nginx": {Answer: "200 open", Reached: 1, Up: false}}},
		{Probe: "own", Own: true, Outcomes: map[string]Outcome{"jksproxy": {Answer: "200 open", Reached: 1, Up: true, Meets: true}, "nginx": {Answer: "200 open", Reached: 1, Up: true}}},
	}
	md := table(servers, rows)
	for _, want := range []string{
		"| meets jksproxy's expectation (all but its own cookie's probes) | 2/3 | 1/3 |",
		"| keeps jksproxy's route cookie from the backend | 1/1 | 0/1 |",
		"| probes after which a backend was out | 0 | 1 |",
		"| same status, backend reach and health as jksproxy | 3/3 | 0/3 |",
		"- jksproxy meets its expectation, nginx does not (2): a, c",
		"- nginx meets jksproxy's expectation, jksproxy does not (1): b",
		"| **own** (jksproxy's own cookie) ",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
}
