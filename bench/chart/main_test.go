package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStat(t *testing.T) {
	tests := []struct {
		name          string
		runs          []float64
		med, min, max float64
	}{
		{"one", []float64{5}, 5, 5, 5},
		{"odd", []float64{3, 1, 2}, 2, 1, 3},
		{"even", []float64{4, 1, 3, 2}, 2.5, 1, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := stat(tt.runs)
			if s.Median != tt.med || s.Min != tt.min || s.Max != tt.max {
				t.Errorf("stat(%v) = %+v, want median %v min %v max %v", tt.runs, s, tt.med, tt.min, tt.max)
			}
		})
	}
}

func TestNum(t *testing.T) {
	tests := map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -12345: "-12,345"}
	for v, want := range tests {
		if got := num(v, 0); got != want {
			t.Errorf("num(%v, 0) = %q, want %q", v, got, want)
		}
	}
	if got := num(1234.5678, 2); got != "1,234.57" {
		t.Errorf("num(1234.5678, 2) = %q", got)
	}
}

func TestTableAndSVG(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "raw.tsv")
	data := "keepalive_rps nginx 1 10000\nkeepalive_rps nginx 2 12000\nkeepalive_rps jksproxy 1 6000\nkeepalive_rps jksproxy 2 5000\n" +
		"keepalive_rps caddy 1 8800\nkeepalive_rps caddy 2 8800\n" +
		"idle_kib nginx 1 4\nidle_kib jksproxy 1 8\nkeepalive_busy nginx 1 70\nkeepalive_busy jksproxy 1 99\n"
	if err := os.WriteFile(raw, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	js := filepath.Join(dir, "out.json")
	var out strings.Builder
	if err := table([]string{"-raw", raw, "-json", js, "-note", "test"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| workload | nginx | Caddy | jksproxy | Caddy ÷ nginx | jksproxy ÷ nginx |",
		"| 11,000 (10,000–12,000) | 8,800 (8,800–8,800) | 5,500 (5,000–6,000) | 0.80× | 0.50× |",
		"| 4.0 (4.0–4.0) | – | 8.0 (8.0–8.0) | – | 2.00× |",
		"| server CPU busy during keep-alive, % of the CPUs it may use (near 100: the server was the limit) | 70 (70–70) | – | 99 (99–99) | – | – |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	var sum Summary
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if len(sum.Metrics) != 3 || sum.Metrics[0].RatioToNginx["jksproxy"] != 0.5 || sum.Note != "test" {
		t.Errorf("summary = %+v", sum)
	}
	svgPath := filepath.Join(dir, "out.svg")
	if err := svg([]string{"-in", js, "-out", svgPath}); err != nil {
		t.Fatal(err)
	}
	b, err = os.ReadFile(svgPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "<svg") || !strings.Contains(string(b), "jksproxy") || !strings.Contains(string(b), "Caddy") {
		t.Errorf("not an SVG with a legend: %.200s", b)
	}
}

func TestReadRawRejectsBadLines(t *testing.T) {
	tests := map[string]string{
		"fields": "keepalive_rps nginx 1\n",
		"value":  "keepalive_rps nginx 1 fast\n",
		"nan":    "keepalive_rps nginx 1 NaN\n",
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "raw.tsv")
			if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := readRaw(p); err == nil {
				t.Errorf("readRaw(%q) accepted it", data)
			}
		})
	}
}
