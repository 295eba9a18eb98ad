// agent_telemetry_test.go: the metrics registry and GET /v1/agent/metrics
// (JSON and Prometheus, read by a strict parser of the text exposition
// format written here), its ACL, and /debug/pprof/ with enable_debug.
package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// promSample is one line of a scrape: a series and its value.
type promSample struct {
	name   string
	labels map[string]string
	value  float64
}

// promFamilyT is one family of a scrape.
type promFamilyT struct {
	typ     string
	help    string
	samples []promSample
}

var (
	promMetricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	promLabelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// parseProm parses the Prometheus text format 0.0.4 strictly
// (https://prometheus.io/docs/instrumenting/exposition_formats/): every
// family has one HELP and one TYPE line before its samples, its samples
// are together, names and label names are valid, label values use only
// the escapes \\, \" and \n, no series appears twice, and a summary has,
// for each label set, quantile lines (0 ≤ q ≤ 1) and one _sum and one
// _count.
func parseProm(text string) (map[string]*promFamilyT, error) {
	families := map[string]*promFamilyT{}
	var cur *promFamilyT
	curName := ""
	done := map[string]bool{} // families whose samples ended
	seen := map[string]bool{}
	if text != "" && !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("the text does not end with a newline")
	}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		fail := func(format string, args ...any) error {
			return fmt.Errorf("line %d %q: %s", i+1, line, fmt.Sprintf(format, args...))
		}
		if rest, ok := strings.CutPrefix(line, "# "); ok {
			kw, rest, _ := strings.Cut(rest, " ")
			name, arg, _ := strings.Cut(rest, " ")
			if kw != "HELP" && kw != "TYPE" {
				continue // a comment
			}
			if !promMetricName.MatchString(name) {
				return nil, fail("bad metric name")
			}
			if name != curName {
				if done[name] || families[name] != nil {
					return nil, fail("family %s continued after another", name)
				}
				if cur != nil {
					done[curName] = true
				}
				cur, curName = &promFamilyT{}, name
				families[name] = cur
			}
			if len(cur.samples) > 0 {
				return nil, fail("%s after samples", kw)
			}
			switch kw {
			case "HELP":
				if cur.help != "" {
					return nil, fail("a second HELP")
				}
				cur.help = arg + " " // non-empty once seen
			case "TYPE":
				if cur.typ != "" {
					return nil, fail("a second TYPE")
				}
				switch arg {
				case "counter", "gauge", "summary", "histogram", "untyped":
				default:
					return nil, fail("unknown type %q", arg)
				}
				cur.typ = arg
			}
			continue
		}
		if line == "" {
			return nil, fail("an empty line")
		}
		s, err := parsePromSample(line)
		if err != nil {
			return nil, fail("%v", err)
		}
		if cur == nil || cur.typ == "" {
			return nil, fail("a sample before its family's TYPE")
		}
		base := curName
		if cur.typ == "summary" {
			if s.name != base && s.name != base+"_sum" && s.name != base+"_count" {
				return nil, fail("not of summary %s", base)
			}
			q, hasQ := s.labels["quantile"]
			if s.name == base {
				f, err := strconv.ParseFloat(q, 64)
				if !hasQ || err != nil || f < 0 || f > 1 {
					return nil, fail("a summary line needs a quantile in [0, 1]")
				}
			} else if hasQ {
				return nil, fail("quantile on _sum or _count")
			}
		} else if s.name != base {
			return nil, fail("not of family %s", base)
		}
		key := s.name + fmt.Sprint(sortedLabels(s.labels))
		if seen[key] {
			return nil, fail("a series twice")
		}
		seen[key] = true
		cur.samples = append(cur.samples, s)
	}
	for name, f := range families {
		if f.typ == "" || f.help == "" {
			return nil, fmt.Errorf("family %s lacks HELP or TYPE", name)
		}
		if f.typ != "summary" {
			continue
		}
		sums, counts, quantiles := map[string]int{}, map[string]int{}, map[string]int{}
		for _, s := range f.samples {
			ls := map[string]string{}
			for k, v := range s.labels {
				if k != "quantile" {
					ls[k] = v
				}
			}
			k := fmt.Sprint(sortedLabels(ls))
			switch s.name {
			case name + "_sum":
				sums[k]++
			case name + "_count":
				counts[k]++
				if s.value < 0 || s.value != math.Trunc(s.value) {
					return nil, fmt.Errorf("summary %s: count %v", name, s.value)
				}
			default:
				quantiles[k]++
			}
		}
		for k := range quantiles {
			if sums[k] != 1 || counts[k] != 1 {
				return nil, fmt.Errorf("summary %s%s: %d _sum and %d _count lines", name, k, sums[k], counts[k])
			}
		}
	}
	return families, nil
}

func sortedLabels(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// parsePromSample parses `name{l="v",...} value [timestamp]`.
func parsePromSample(line string) (promSample, error) {
	s := promSample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return s, fmt.Errorf("no value")
	}
	s.name = line[:i]
	if !promMetricName.MatchString(s.name) {
		return s, fmt.Errorf("bad metric name %q", s.name)
	}
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.IndexByte(rest, '=')
			if eq < 0 {
				return s, fmt.Errorf("a label without =")
			}
			name := rest[:eq]
			if !promLabelName.MatchString(name) || strings.HasPrefix(name, "__") {
				return s, fmt.Errorf("bad label name %q", name)
			}
			if _, dup := s.labels[name]; dup {
				return s, fmt.Errorf("label %s twice", name)
			}
			rest = rest[eq+1:]
			if !strings.HasPrefix(rest, `"`) {
				return s, fmt.Errorf("label %s: value not quoted", name)
			}
			var v strings.Builder
			j := 1
			for ; j < len(rest) && rest[j] != '"'; j++ {
				c := rest[j]
				if c == '\n' {
					return s, fmt.Errorf("a raw newline in a label value")
				}
				if c == '\\' {
					j++
					if j == len(rest) {
						return s, fmt.Errorf("an escape at the end")
					}
					switch rest[j] {
					case '\\':
						c = '\\'
					case '"':
						c = '"'
					case 'n':
						c = '\n'
					default:
						return s, fmt.Errorf("bad escape \\%c", rest[j])
					}
				}
				v.WriteByte(c)
			}
			if j == len(rest) {
				return s, fmt.Errorf("unterminated label value")
			}
			s.labels[name] = v.String()
			rest = rest[j+1:]
			if strings.HasPrefix(rest, ",") {
				rest = rest[1:]
			} else if !strings.HasPrefix(rest, "}") {
				return s, fmt.Errorf("labels not separated by commas")
			}
		}
	}
	if !strings.HasPrefix(rest, " ") {
		return s, fmt.Errorf("no space before the value")
	}
	fields := strings.Split(rest[1:], " ")
	if len(fields) > 2 || fields[0] == "" {
		return s, fmt.Errorf("bad value %q", rest)
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, fmt.Errorf("bad value %q", fields[0])
	}
	if len(fields) == 2 {
		if _, err := strconv.ParseInt(fields[1], 10, 64); err != nil {
			return s, fmt.Errorf("bad timestamp %q", fields[1])
		}
	}
	s.value = v
	return s, nil
}

func TestParsePromRejects(t *testing.T) {
	t.Parallel()
	ok := "# HELP a x\n# TYPE a counter\na 1\n# HELP s s\n# TYPE s summary\ns{quantile=\"0.5\"} NaN\ns_sum 0\ns_count 0\n"
	if _, err := parseProm(ok); err != nil {
		t.Fatalf("valid text refused: %v", err)
	}
	for _, bad := range []string{
		"a 1\n",                             // no TYPE
		"# HELP a x\n# TYPE a counter\na 1", // no final newline
		"# HELP a x\n# TYPE a counter\na{b=\"c} 1\n",                     // unterminated
		"# HELP a x\n# TYPE a counter\na{b=\"\\t\"} 1\n",                 // bad escape
		"# HELP a x\n# TYPE a counter\na{1b=\"c\"} 1\n",                  // bad label name
		"# HELP a x\n# TYPE a counter\na 1\na 2\n",                       // a series twice
		"# HELP a x\n# TYPE a counter\nb 1\n",                            // another family's sample
		"# HELP a x\n# TYPE a summary\na{quantile=\"0.5\"} 1\na_sum 1\n", // no _count
		"# HELP a x\n# TYPE a summary\na{quantile=\"2\"} 1\na_sum 1\na_count 1\n",
		"# HELP a x\n# TYPE a counter\na one\n",
		"# HELP a x\n# TYPE a counter\na 1\n# HELP b x\n# TYPE b counter\nb 1\n# HELP a x\n",
		"# HELP a-b x\n# TYPE a-b counter\na-b 1\n",
	} {
		if _, err := parseProm(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// TestTelemetryRegistry: the pure parts: an interval's aggregates as
// go-metrics reports them, names, labels in the text format.
func TestTelemetryRegistry(t *testing.T) {
	t.Parallel()
	cfg := defaultConfig()
	cfg.Telemetry.PrometheusRetentionTime = time.Minute
	tel := newTelemetry(cfg)
	host := tel.hostname
	s := tel.sample("api.http", metricLabel{"method", "GET"}, metricLabel{"path", "v1_kv_"})
	now := time.Now()
	for _, v := range []float64{1, 2, 3, 4} {
		s.observe(v, now)
	}
	c := tel.counter("raft.apply")
	c.inc()
	c.inc()
	g := tel.gauge("runtime.num_goroutines")
	g.setValue(42)
	if tel.sample("api.http", metricLabel{"method", "GET"}, metricLabel{"path", "v1_kv_"}) != s {
		t.Fatal("the same series made twice")
	}
	tel.rollover(now.Add(metricsInterval))
	sum := tel.summary()
	if len(sum.Samples) != 1 || len(sum.Counters) != 1 || len(sum.Gauges) != 1 {
		t.Fatalf("summary: %+v", sum)
	}
	got := sum.Samples[0]
	want := sampledValue{Name: "consul.api.http", Count: 4, Sum: 10, Min: 1, Max: 4, Mean: 2.5, Rate: 1,
		Stddev: math.Sqrt(5.0 / 3), Labels: map[string]string{"method": "GET", "path": "v1_kv_"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sample:\n got %+v\nwant %+v", got, want)
	}
	if c := sum.Counters[0]; c.Name != "consul.raft.apply" || c.Count != 2 || c.Sum != 2 || c.Rate != 0.2 || c.Mean != 1 {
		t.Errorf("counter: %+v", c)
	}
	wantGauge := "consul." + host + ".runtime.num_goroutines"
	if host == "" {
		wantGauge = "consul.runtime.num_goroutines"
	}
	if g := sum.Gauges[0]; g.Name != wantGauge || g.Value != 42 {
		t.Errorf("gauge: %+v, want %s", g, wantGauge)
	}
	// The next interval starts empty; the running totals stay.
	tel.rollover(now.Add(2 * metricsInterval))
	if sum := tel.summary(); len(sum.Samples)+len(sum.Counters)+len(sum.Gauges) != 0 {
		t.Errorf("an empty interval: %+v", sum)
	}
	if c.n.Load() != 2 {
		t.Errorf("counter total %d", c.n.Load())
	}

	// Label values escaped; names mapped.
	tel.sample("dns.domain_query", metricLabel{"node", "a\"b\\c\nd"}).observe(1, time.Now())
	var b strings.Builder
	w := bufio.NewWriter(&b)
	tel.writePrometheus(w, time.Now())
	w.Flush()
	fams, err := parseProm(b.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	f := fams["consul_dns_domain_query"]
	if f == nil || f.typ != "summary" || f.samples[0].labels["node"] != "a\"b\\c\nd" {
		t.Fatalf("escaped label: %+v\n%s", f, b.String())
	}
	if f := fams["consul_raft_apply"]; f == nil || f.typ != "counter" || f.samples[0].value != 2 {
		t.Errorf("counter family: %+v", f)
	}
	if promName("consul.my-host.runtime.alloc_bytes") != "consul_my_host_runtime_alloc_bytes" {
		t.Errorf("promName: %s", promName("consul.my-host.runtime.alloc_bytes"))
	}
	for _, tc := range []struct {
		q    float64
		want float64
	}{{0.5, 2}, {0.9, 4}, {0.99, 4}, {0, 1}} {
		if got := quantile([]float64{1, 2, 3, 4}, tc.q); got != tc.want {
			t.Errorf("quantile %v = %v, want %v", tc.q, got, tc.want)
		}
	}
	if !math.IsNaN(quantile(nil, 0.5)) {
		t.Error("the quantile of nothing is not NaN")
	}
}

// scrape reads ?format=prometheus and parses it strictly.
func scrape(t *testing.T, a *testAgent, token string) map[string]*promFamilyT {
	t.Helper()
	r := a.withToken(token, "GET", "/v1/agent/metrics?format=prometheus", "")
	if r.code != 200 || r.header.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("scrape: %d %v %s", r.code, r.header, r.body)
	}
	fams, err := parseProm(r.body)
	if err != nil {
		t.Fatalf("scrape: %v\n%s", err, r.body)
	}
	return fams
}

func findSample(f *promFamilyT, name string, labels map[string]string) (float64, bool) {
	if f == nil {
		return 0, false
	}
next:
	for _, s := range f.samples {
		if s.name != name {
			continue
		}
		for k, v := range labels {
			if s.labels[k] != v {
				continue next
			}
		}
		return s.value, true
	}
	return 0, false
}

// TestMetricsPrometheus: after a KV write the scrape has Consul's names,
// the Go client's go_* and process_* families, and its counters only grow.
func TestMetricsPrometheus(t *testing.T) {
	t.Parallel()
	a := startTestAgent(t, func(c *Config) { c.Telemetry.PrometheusRetentionTime = time.Minute })
	a.must("PUT", "/v1/kv/metrics/k", "v", nil)
	a.must("GET", "/v1/kv/metrics/k", "", nil)
	fams := scrape(t, a, "")
	for name, want := range map[string]map[string]string{
		"consul_raft_apply":             nil,
		"consul_raft_commitTime":        {"quantile": "0.99"},
		"consul_raft_fsm_apply":         nil,
		"consul_raft_state_leader":      nil,
		"consul_kvs_apply":              {"quantile": "0.5"},
		"consul_api_http":               {"method": "PUT", "path": "v1_kv_", "quantile": "0.9"},
		"consul_rpc_query":              nil,
		"consul_catalog_register":       nil,
		"go_goroutines":                 nil,
		"go_gc_duration_seconds":        {"quantile": "0.75"},
		"go_memstats_alloc_bytes":       nil,
		"process_cpu_seconds_total":     nil,
		"process_resident_memory_bytes": nil,
	} {
		if strings.HasPrefix(name, "process_") {
			if _, err := os.Stat("/proc/self/stat"); err != nil {
				continue // the process collector reads /proc
			}
		}
		if _, ok := findSample(fams[name], name, want); !ok {
			t.Errorf("no %s%v in the scrape", name, want)
		}
	}
	if v, ok := findSample(fams["consul_api_http"], "consul_api_http_count", map[string]string{"method": "PUT", "path": "v1_kv_"}); !ok || v != 1 {
		t.Errorf("api.http PUT v1_kv_ count %v", v)
	}
	if f := fams["consul_kvs_apply"]; f.typ != "summary" {
		t.Errorf("kvs.apply is a %s", f.typ)
	}
	// What Prometheus' scraper sends asks for the same without ?format.
	for accept, want := range map[string]bool{
		"application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1": true,
		"text/plain; version=0.4.0": true, "text/plain": false, "application/json": false, "": false,
	} {
		if got := acceptsPrometheus(accept); got != want {
			t.Errorf("acceptsPrometheus(%q) = %v", accept, got)
		}
	}

	// Counters only grow, across writes and interval boundaries.
	counters := func(fams map[string]*promFamilyT) map[string]float64 {
		out := map[string]float64{}
		for name, f := range fams {
			for _, s := range f.samples {
				if f.typ == "counter" || strings.HasSuffix(s.name, "_count") || strings.HasSuffix(s.name, "_sum") && f.typ == "summary" && !strings.HasPrefix(name, "go_") {
					out[s.name+fmt.Sprint(sortedLabels(s.labels))] = s.value
				}
			}
		}
		return out
	}
	before := counters(fams)
	for i := range 5 {
		a.must("PUT", fmt.Sprintf("/v1/kv/metrics/k%d", i), "v", nil)
	}
	after := counters(scrape(t, a, ""))
	for k, v := range before {
		if after[k] < v {
			t.Errorf("%s went down: %v → %v", k, v, after[k])
		}
	}
	if k := "consul_raft_apply[]"; after[k] < before[k]+5 {
		t.Errorf("raft.apply %v → %v after 5 writes", before[k], after[k])
	}
}

// TestMetricsJSON: go-metrics' JSON of the last finished interval, with
// Consul's shape (Points [], Labels {}) and the host name in gauges' names.
func TestMetricsJSON(t *testing.T) {
	t.Parallel()
	for _, disable := range []bool{false, true} {
		t.Run(fmt.Sprint("disable_hostname=", disable), func(t *testing.T) {
			t.Parallel()
			a := startTestAgent(t, func(c *Config) { c.Telemetry.DisableHostname = disable })
			a.must("PUT", "/v1/kv/metrics/k", "v", nil)
			var sum metricsSummary
			var raw string
			// The write shows once its interval has finished: within 20 s.
			eventually(t, 60*time.Second, "an interval with the write", func() bool {
				r := a.must("GET", "/v1/agent/metrics", "", &sum)
				raw = r.body
				for _, s := range sum.Samples {
					if s.Name == "consul.kvs.apply" && s.Count >= 1 {
						return true
					}
				}
				return false
			})
			if !strings.Contains(raw, `"Points": []`) || strings.Contains(raw, "null") || !strings.HasPrefix(raw, "{\n    \"Timestamp\": ") {
				t.Errorf("shape:\n%s", raw)
			}
			if _, err := time.Parse("2006-01-02 15:04:05 -0700 MST", sum.Timestamp); err != nil {
				t.Errorf("Timestamp %q: %v", sum.Timestamp, err)
			}
			host, _ := os.Hostname()
			want := "consul." + host + ".runtime.num_goroutines"
			if disable {
				want = "consul.runtime.num_goroutines"
			}
			found := false
			for _, g := range sum.Gauges {
				found = found || g.Name == want && g.Value > 0
			}
			if !found {
				t.Errorf("no gauge %s in %s", want, raw)
			}
			names := map[string]bool{}
			for _, s := range append(sum.Counters, sum.Samples...) {
				names[s.Name] = true
				if s.Labels == nil || s.Count < 1 || s.Min > s.Max || s.Mean < s.Min || s.Mean > s.Max {
					t.Errorf("aggregate %+v", s)
				}
			}
			for _, n := range []string{"consul.raft.apply", "consul.kvs.apply", "consul.raft.commitTime", "consul.api.http"} {
				if !names[n] {
					t.Errorf("no %s in the interval: %s", n, raw)
				}
			}
		})
	}
}

// TestMetricsPrometheusOff: without a retention time, Consul's empty 200.
func TestMetricsPrometheusOff(t *testing.T) {
	t.Parallel()
	a := startTestAgent(t, nil)
	r := a.must("GET", "/v1/agent/metrics?format=prometheus", "", nil)
	if r.body != "" || r.header.Get("X-Consul-Reason") != "Prometheus is not enabled since its retention time is not positive" ||
		r.header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("got %q %v", r.body, r.header)
	}
	a.expect("PUT", "/v1/agent/metrics", "", 405, "method PUT not allowed")
}

// TestMetricsACL: agent:read on the agent's node, as Consul's; the
// profiles need operator:read once ACLs are on, enable_debug or not.
func TestMetricsACL(t *testing.T) {
	t.Parallel()
	a := startTestAgent(t, func(c *Config) {
		aclOn(c)
		c.ACL.Tokens.InitialManagement = "root"
		c.EnableDebug = false
		c.Telemetry.PrometheusRetentionTime = time.Minute
	})
	eventually(t, 30*time.Second, "the initial management token", func() bool {
		return a.withToken("root", "GET", "/v1/acl/token/self", "").code == 200
	})
	var reader, operator ACLToken
	a.mustToken("root", "PUT", "/v1/acl/policy", `{"Name":"agent-read","Rules":"agent \"node1\" { policy = \"read\" }"}`, nil)
	a.mustToken("root", "PUT", "/v1/acl/policy", `{"Name":"op-read","Rules":"operator = \"read\""}`, nil)
	a.mustToken("root", "PUT", "/v1/acl/token", `{"Policies":[{"Name":"agent-read"}]}`, &reader)
	a.mustToken("root", "PUT", "/v1/acl/token", `{"Policies":[{"Name":"op-read"}]}`, &operator)

	a.expectToken("", "GET", "/v1/agent/metrics", "", 403,
		`Permission denied: anonymous token lacks permission 'agent:read' on "node1". The anonymous token is used implicitly when a request does not specify a token.`)
	a.expectToken(operator.SecretID, "GET", "/v1/agent/metrics?format=prometheus", "", 403, denied(operator, "agent:read", "node1"))
	a.mustToken(reader.SecretID, "GET", "/v1/agent/metrics", "", nil)
	scrape(t, a, reader.SecretID)

	for _, tc := range []struct {
		token string
		code  int
	}{{"", 403}, {reader.SecretID, 403}, {operator.SecretID, 200}, {"root", 200}} {
		if r := a.withToken(tc.token, "GET", "/debug/pprof/cmdline", ""); r.code != tc.code || tc.code == 403 && r.body != "" {
			t.Errorf("pprof with %q: %d %q, want %d", tc.token, r.code, r.body, tc.code)
		}
	}
}

// TestPprof: /debug/pprof/ only with enable_debug (on in -dev), when ACLs
// are off.
func TestPprof(t *testing.T) {
	t.Parallel()
	off := startTestAgent(t, func(c *Config) { c.EnableDebug = false })
	if r := off.do("GET", "/debug/pprof/", ""); r.code != 404 || r.body != "" {
		t.Errorf("without enable_debug: %d %q", r.code, r.body)
	}
	on := startTestAgent(t, nil) // -dev: enable_debug
	if r := on.do("GET", "/debug/pprof/", ""); r.code != 200 || !strings.Contains(r.body, "goroutine") {
		t.Errorf("index: %d %.200s", r.code, r.body)
	}
	if r := on.do("GET", "/debug/pprof/goroutine?debug=1", ""); r.code != 200 || !strings.Contains(r.body, "goroutine profile:") {
		t.Errorf("goroutine profile: %d %.200s", r.code, r.body)
	}
}

// TestTelemetryConfig: the telemetry block's keys.
func TestTelemetryConfig(t *testing.T) {
	t.Parallel()
	cfg, ignored, err := loadConfigFixtures(t, []string{
		`{"enable_debug": false, "telemetry": {"prometheus_retention_time": "30s", "disable_hostname": true, "metrics_prefix": "mc", "statsd_address": "x:1"}}`,
	}, "-dev")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Telemetry != (TelemetryConfig{30 * time.Second, true, "mc"}) || cfg.EnableDebug {
		t.Errorf("config: %+v enable_debug=%v", cfg.Telemetry, cfg.EnableDebug)
	}
	if fmt.Sprint(ignored) != "[telemetry.statsd_address]" {
		t.Errorf("ignored %v", ignored)
	}
	if _, _, err := loadConfigFixtures(t, []string{`{"telemetry": {"prometheus_retention_time": "soon"}}`}, "-dev"); err == nil ||
		!strings.Contains(err.Error(), "telemetry.prometheus_retention_time") {
		t.Errorf("bad duration: %v", err)
	}
	dev, _, _ := loadConfigFixtures(t, nil, "-dev")
	if !dev.EnableDebug || dev.Telemetry.MetricsPrefix != "consul" {
		t.Errorf("-dev: enable_debug %v, prefix %q", dev.EnableDebug, dev.Telemetry.MetricsPrefix)
	}
}

// BenchmarkTelemetryHotPath: what one request adds on the hot path, from
// many goroutines at once: its api.http sample found by route and taken,
// and a counter.
func BenchmarkTelemetryHotPath(b *testing.B) {
	tel := newTelemetry(defaultConfig())
	samples := tel.samplesBy("api.http", func(k labeledKey) []metricLabel {
		return []metricLabel{{"method", k.a}, {"path", k.b}}
	})
	c := tel.counter("rpc.query")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			start := time.Now()
			samples.get(labeledKey{"GET", kvPath}).measureSince(start)
			c.inc()
		}
	})
}

// TestMetricsCluster: in a cluster of three servers and a client, the
// gossip and Raft metrics show on the servers (joins, probes, the leader's
// contact with its followers) and a client's forwarded write is counted on
// both sides (client.rpc; rpc.request and kvs.apply on a server).
func TestMetricsCluster(t *testing.T) {
	t.Parallel()
	retain := func(c *Config) { c.Telemetry.PrometheusRetentionTime = time.Minute }
	c := startTestClusterWith(t, 3, retain)
	cl := startTestClientWith(t, "metrics-client", "127.0.0.164", func(cfg *Config) {
		cfg.RetryJoin = []string{lanAddr(t, c.agents[0].cfg.BindAddr)}
		retain(cfg)
	})
	eventually(t, 30*time.Second, "the client's write", func() bool {
		return cl.do("PUT", "/v1/kv/metrics/from-client", "v").code == 200
	})
	client := scrape(t, cl, "")
	if v, ok := findSample(client["consul_client_rpc"], "consul_client_rpc", nil); !ok || v < 1 {
		t.Errorf("client.rpc on the client: %v", v)
	}
	if _, ok := findSample(client["consul_api_http"], "consul_api_http_count", map[string]string{"method": "PUT", "path": "v1_kv_"}); !ok {
		t.Error("no api.http PUT v1_kv_ on the client")
	}
	eventually(t, 30*time.Second, "the servers' metrics", func() (bool, string) {
		var kvs, requests, contact, joins, probes float64
		for _, a := range c.agents {
			f := scrape(t, a, "")
			v, _ := findSample(f["consul_kvs_apply"], "consul_kvs_apply_count", nil)
			kvs += v
			v, _ = findSample(f["consul_rpc_request"], "consul_rpc_request", nil)
			requests += v
			v, _ = findSample(f["consul_raft_leader_lastContact"], "consul_raft_leader_lastContact_count", nil)
			contact += v
			v, _ = findSample(f["consul_serf_member_join"], "consul_serf_member_join", map[string]string{"network": "lan"})
			joins += v
			v, _ = findSample(f["consul_memberlist_probeNode"], "consul_memberlist_probeNode_count", map[string]string{"network": "lan"})
			probes += v
		}
		return kvs >= 1 && requests >= 1 && contact >= 1 && joins >= 3 && probes >= 1,
			fmt.Sprintf("kvs.apply %v, rpc.request %v, leader.lastContact %v, serf.member.join %v, probeNode %v", kvs, requests, contact, joins, probes)
	})
	// The client's request reached a server as an RPC, not an HTTP request.
	for _, a := range c.agents {
		if _, ok := findSample(scrape(t, a, "")["consul_api_http"], "consul_api_http_count", map[string]string{"method": "PUT", "path": "v1_kv_"}); ok {
			t.Errorf("server %s measured the forwarded PUT as its own HTTP request", a.cfg.NodeName)
		}
	}
}
