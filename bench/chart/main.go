// Command chart turns the raw figures of bench/proxy.sh into its markdown table and a
// JSON summary, and that summary into a chart of grouped bars (ratios to nginx):
//
//	chart table -raw RAW.tsv [-json OUT.json] [-note TEXT]   markdown on stdout
//	chart svg -in OUT.json -out results.svg
//
// RAW.tsv holds one measurement per line: workload-metric, server, round, value.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// metricDef describes one row of the table, in table order.
type metricDef struct {
	ID, Label, Short, Unit string
	LowerBetter            bool
	Decimals               int
}

var metricDefs = []metricDef{
	{"keepalive_rps", "keep-alive HTTPS req/s (wrk -t2 -c64, HTTP/1.1)", "keep-alive\nreq/s", "req/s", false, 0},
	{"keepalive_p99_ms", "keep-alive p99 latency", "keep-alive\np99", "ms", true, 2},
	{"keepalive_cpu_us", "proxy CPU per keep-alive request", "CPU per\nrequest", "µs", true, 1},
	{"full_rsa_hs", "full handshakes/s, RSA-2048, no resumption", "full\nRSA-2048", "conn/s", false, 0},
	{"full_rsa_cpu_us", "proxy CPU per full RSA-2048 connection", "CPU per\nRSA conn", "µs", true, 0},
	{"full_ec_hs", "full handshakes/s, ECDSA P-256, no resumption", "full\nECDSA", "conn/s", false, 0},
	{"full_ec_cpu_us", "proxy CPU per full ECDSA P-256 connection", "CPU per\nECDSA conn", "µs", true, 0},
	{"resumed_hs", "resumed handshakes/s (tickets, RSA cert)", "resumed", "conn/s", false, 0},
	{"resumed_cpu_us", "proxy CPU per resumed connection", "CPU per\nresumed", "µs", true, 0},
	{"idle_kib", "RSS per idle TLS connection (all held at once)", "RSS per\nidle conn", "KiB", true, 1},
	{"idle_h2_kib", "RSS per idle HTTP/2 connection (all held at once)", "RSS per\nidle h2 conn", "KiB", true, 1},
	{"h2_rps", "HTTP/2 req/s (h2load)", "HTTP/2\nreq/s", "req/s", false, 0},
	{"h2_cpu_us", "proxy CPU per HTTP/2 request", "CPU per\nh2 request", "µs", true, 1},
	// How busy the server's CPUs were, which tells server-bound runs from client-bound
	// ones; no ratio, not charted.
	{"keepalive_busy", "server CPU busy during keep-alive", "", "%", false, 0},
	{"full_rsa_busy", "server CPU busy during full RSA-2048", "", "%", false, 0},
	{"full_ec_busy", "server CPU busy during full ECDSA P-256", "", "%", false, 0},
	{"resumed_busy", "server CPU busy during resumed", "", "%", false, 0},
	{"h2_busy", "server CPU busy during HTTP/2", "", "%", false, 0},
}

func isBusy(id string) bool { return strings.HasSuffix(id, "_busy") }

var serverOrder = []string{"nginx", "haproxy", "caddy", "jksproxy"}

var serverNames = map[string]string{"nginx": "nginx", "haproxy": "HAProxy", "caddy": "Caddy", "jksproxy": "jksproxy"}

// Stat is one server's figures for one metric over the rounds.
type Stat struct {
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Runs   []float64 `json:"runs"`
}

// Metric is one table row.
type Metric struct {
	ID           string             `json:"id"`
	Label        string             `json:"label"`
	Unit         string             `json:"unit"`
	LowerBetter  bool               `json:"lower_is_better"`
	Values       map[string]Stat    `json:"values"`
	RatioToNginx map[string]float64 `json:"ratio_to_nginx,omitempty"`
}

// Summary is what bench/proxy.sh writes for the chart.
type Summary struct {
	Note    string   `json:"note,omitempty"`
	Servers []string `json:"servers"`
	Metrics []Metric `json:"metrics"`
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "table":
		err = table(os.Args[2:], os.Stdout)
	case "svg":
		err = svg(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "chart: error: %v\n", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: chart table -raw RAW.tsv [-json OUT.json] [-note TEXT] | chart svg -in OUT.json -out FILE.svg")
	os.Exit(2)
}

func readRaw(path string) (map[string]map[string][]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]map[string][]float64{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 4 {
			return nil, fmt.Errorf("%s:%d: want metric server round value", path, line)
		}
		v, err := strconv.ParseFloat(fields[3], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%s:%d: bad value %q", path, line, fields[3])
		}
		if out[fields[0]] == nil {
			out[fields[0]] = map[string][]float64{}
		}
		out[fields[0]][fields[1]] = append(out[fields[0]][fields[1]], v)
	}
	return out, sc.Err()
}

func stat(runs []float64) Stat {
	s := slices.Clone(runs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stat{Median: med, Min: s[0], Max: s[len(s)-1], Runs: runs}
}

func summarize(raw map[string]map[string][]float64) Summary {
	var sum Summary
	seen := map[string]bool{}
	for _, def := range metricDefs {
		byServer := raw[def.ID]
		if len(byServer) == 0 {
			continue
		}
		m := Metric{ID: def.ID, Label: def.Label, Unit: def.Unit, LowerBetter: def.LowerBetter, Values: map[string]Stat{}}
		for srv, runs := range byServer {
			m.Values[srv] = stat(runs)
			seen[srv] = true
		}
		if ng, ok := m.Values["nginx"]; ok && ng.Median > 0 {
			m.RatioToNginx = map[string]float64{}
			for srv, st := range m.Values {
				if srv != "nginx" {
					m.RatioToNginx[srv] = st.Median / ng.Median
				}
			}
		}
		sum.Metrics = append(sum.Metrics, m)
	}
	for _, s := range serverOrder {
		if seen[s] {
			sum.Servers = append(sum.Servers, s)
		}
	}
	return sum
}

func num(v float64, decimals int) string {
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	// Thousands separators on the integer part.
	intPart, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	intPart = strings.TrimPrefix(intPart, "-")
	var b strings.Builder
	for i, r := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	out := b.String()
	if neg {
		out = "-" + out
	}
	if frac != "" {
		out += "." + frac
	}
	return out
}

func table(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("table", flag.ExitOnError)
	rawPath := fs.String("raw", "", "raw measurements (metric server round value per line)")
	jsonPath := fs.String("json", "", "also write the summary as JSON to this file")
	note := fs.String("note", "", "a line kept in the JSON summary (machine, settings)")
	_ = fs.Parse(args)
	if *rawPath == "" {
		usage()
	}
	raw, err := readRaw(*rawPath)
	if err != nil {
		return err
	}
	sum := summarize(raw)
	sum.Note = *note
	if len(sum.Metrics) == 0 {
		return errors.New("no measurements")
	}
	hasNginx := slices.Contains(sum.Servers, "nginx")
	fmt.Fprint(w, "| workload |")
	for _, s := range sum.Servers {
		fmt.Fprintf(w, " %s |", serverNames[s])
	}
	if hasNginx {
		for _, s := range sum.Servers {
			if s != "nginx" {
				fmt.Fprintf(w, " %s ÷ nginx |", serverNames[s])
			}
		}
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, "|---|")
	for range sum.Servers {
		fmt.Fprint(w, "---:|")
	}
	if hasNginx {
		for range len(sum.Servers) - 1 {
			fmt.Fprint(w, "---:|")
		}
	}
	fmt.Fprintln(w)
	defs := map[string]metricDef{}
	for _, d := range metricDefs {
		defs[d.ID] = d
	}
	for _, m := range sum.Metrics {
		d := defs[m.ID]
		dir := "higher is better"
		if d.LowerBetter {
			dir = "lower is better"
		}
		if isBusy(m.ID) {
			fmt.Fprintf(w, "| %s, %s of the CPUs it may use (near 100: the server was the limit) |", d.Label, d.Unit)
		} else {
			fmt.Fprintf(w, "| %s, %s (%s) |", d.Label, d.Unit, dir)
		}
		for _, s := range sum.Servers {
			st, ok := m.Values[s]
			if !ok {
				fmt.Fprint(w, " – |")
				continue
			}
			fmt.Fprintf(w, " %s (%s–%s) |", num(st.Median, d.Decimals), num(st.Min, d.Decimals), num(st.Max, d.Decimals))
		}
		if hasNginx {
			for _, s := range sum.Servers {
				if s == "nginx" {
					continue
				}
				if r, ok := m.RatioToNginx[s]; ok && !isBusy(m.ID) {
					fmt.Fprintf(w, " %.2f× |", r)
				} else {
					fmt.Fprint(w, " – |")
				}
			}
		}
		fmt.Fprintln(w)
	}
	if *jsonPath != "" {
		data, err := json.MarshalIndent(sum, "", "  ")
		if err != nil {
			return err
		}
		tmp := *jsonPath + ".tmp"
		if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, *jsonPath); err != nil {
			return err
		}
	}
	return nil
}

var colors = map[string]color.Color{
	"haproxy":  color.RGBA{R: 0x4c, G: 0x72, B: 0xb0, A: 0xff},
	"caddy":    color.RGBA{R: 0x55, G: 0xa8, B: 0x68, A: 0xff},
	"jksproxy": color.RGBA{R: 0xdd, G: 0x84, B: 0x52, A: 0xff},
}

// svg draws, per workload, one bar per server other than nginx: how it does relative to
// nginx, oriented so that above 1 is better (for lower-is-better metrics nginx ÷ server).
func svg(args []string) error {
	fs := flag.NewFlagSet("svg", flag.ExitOnError)
	in := fs.String("in", "", "summary JSON from chart table -json")
	out := fs.String("out", "", "SVG (or .png) file to write")
	_ = fs.Parse(args)
	if *in == "" || *out == "" {
		usage()
	}
	data, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	var sum Summary
	if err := json.Unmarshal(data, &sum); err != nil {
		return fmt.Errorf("reading %s: %w", *in, err)
	}
	shorts := map[string]string{}
	for _, d := range metricDefs {
		shorts[d.ID] = d.Short
	}
	var metrics []Metric
	for _, m := range sum.Metrics {
		if len(m.RatioToNginx) > 0 && !isBusy(m.ID) {
			metrics = append(metrics, m)
		}
	}
	if len(metrics) == 0 {
		return errors.New("no ratios to nginx to draw")
	}
	var others []string
	for _, s := range sum.Servers {
		if s != "nginx" {
			others = append(others, s)
		}
	}
	p := plot.New()
	p.Title.Text = "Relative to nginx in the same run (1 = nginx; above 1 = better)"
	p.Y.Label.Text = "× nginx"
	p.Y.Min = 0
	var labels []string
	for _, m := range metrics {
		l := shorts[m.ID]
		if l == "" {
			l = m.ID
		}
		labels = append(labels, l)
	}
	width := vg.Points(20)
	maxY := 1.2
	for i, s := range others {
		vals := make(plotter.Values, len(metrics))
		for j, m := range metrics {
			r := m.RatioToNginx[s]
			if m.LowerBetter && r > 0 {
				r = 1 / r
			}
			vals[j] = r
			maxY = math.Max(maxY, r*1.4)
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return err
		}
		bars.LineStyle.Width = 0
		if c, ok := colors[s]; ok {
			bars.Color = c
		}
		bars.Offset = width * vg.Length(float64(i)-float64(len(others)-1)/2)
		p.Add(bars)
		p.Legend.Add(serverNames[s], bars)
	}
	p.Y.Max = maxY
	one := plotter.NewFunction(func(float64) float64 { return 1 })
	one.Color = color.Gray{Y: 0x40}
	one.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(one)
	p.Legend.Add("nginx", one)
	p.Legend.Top = true
	p.Legend.Left = false
	p.NominalX(labels...)
	p.X.Tick.Label.Font.Size = vg.Points(8)
	p.Add(plotter.NewGrid())
	if sum.Note != "" {
		p.X.Label.Text = sum.Note
		p.X.Label.TextStyle.Font.Size = vg.Points(8)
	}
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.Legend.Padding = vg.Points(2)
	return p.Save(vg.Length(float64(len(metrics))*1.1+1)*vg.Inch, 4.5*vg.Inch, *out)
}
