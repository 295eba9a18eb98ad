// http_agent_metrics.go: the agent's telemetry over HTTP. GET
// /v1/agent/metrics answers the registry's last finished interval
// (agent_telemetry.go) in go-metrics' JSON, or with ?format=prometheus the
// live registry in the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/), followed
// by the go_* and process_* families Prometheus' Go client adds; both need
// agent:read on the agent's node name, as Consul's (agent_endpoint.go,
// AgentMetrics). The api.http sample of every request is taken here too
// (observeHTTP, called by httpAPI.ServeHTTP). With enable_debug,
// /debug/pprof/ serves net/http/pprof; with ACLs on it is served, without
// enable_debug too, to a token with operator:read, as Consul's handlePProf.
//
// Concurrency: none of its own; the registry has its locks.
package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
)

// registerMetrics adds /v1/agent/metrics and /debug/pprof/.
func (h *httpAPI) registerMetrics() {
	h.endpoint("/v1/agent/metrics", []string{http.MethodGet}, h.agentMetrics)
	for pattern, fn := range map[string]http.HandlerFunc{"/debug/pprof/": pprof.Index,
		"/debug/pprof/cmdline": pprof.Cmdline, "/debug/pprof/profile": pprof.Profile,
		"/debug/pprof/symbol": pprof.Symbol, "/debug/pprof/trace": pprof.Trace} {
		h.mux.Handle(pattern, h.pprofGuard(fn))
	}
	h.httpSamples = h.a.telemetry.samplesBy("api.http", func(k labeledKey) []metricLabel {
		// Consul's label: the route's pattern, "/" as "_", without the
		// leading one ("/v1/kv/" is v1_kv_).
		return []metricLabel{{"method", k.a}, {"path", strings.ReplaceAll(strings.TrimPrefix(k.b, "/"), "/", "_")}}
	})
}

// routeOf is the route that serves r where it was not served by the mux
// (forwarded to a server, or read from the cache).
func (h *httpAPI) routeOf(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, kvPath) {
		return kvPath
	}
	_, pattern := h.mux.Handler(r)
	return pattern
}

// observeHTTP takes the api.http sample of a request served by pattern
// ("" for a path no route serves, which Consul does not measure), and logs
// it at debug as Consul's "Request finished" line, a ?token= hidden (what
// a monitor at debug sees of each request). A request a client forwarded
// (served in-process by serveLocal, with no remote address) was measured
// by the client: on the server it is an RPC (rpc.request), as in Consul.
func (h *httpAPI) observeHTTP(r *http.Request, pattern string, start time.Time) {
	if pattern == "" || pattern == "/" || r.RemoteAddr == "" {
		return
	}
	h.httpSamples.get(labeledKey{r.Method, pattern}).measureSince(start)
	if h.a.logger.Enabled(r.Context(), slog.LevelDebug) {
		logURL := r.URL.String()
		for _, token := range query(r)["token"] {
			if token == "" {
				logURL += "<hidden>"
			} else {
				logURL = strings.ReplaceAll(logURL, token, "<hidden>")
			}
		}
		h.a.logger.Debug("Request finished", "method", r.Method, "url", logURL, "from", r.RemoteAddr,
			"latency", time.Since(start).String())
	}
}

func (h *httpAPI) agentMetrics(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.agentRequire(r, aclResAgent, aclRead, h.a.cfg.NodeName); err != nil {
		return nil, err
	}
	t := h.a.telemetry
	if query(r).Get("format") == "prometheus" || acceptsPrometheus(r.Header.Get("Accept")) {
		if t.retention <= 0 {
			// Consul's answer: an empty 200 that says why.
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Header().Set("X-Consul-Reason", "Prometheus is not enabled since its retention time is not positive")
			w.Header().Set("Content-Length", "0")
			return nil, nil
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		bw := bufio.NewWriter(w)
		t.writePrometheus(bw, time.Now())
		writeProcessMetrics(bw)
		return nil, bw.Flush()
	}
	b, err := json.MarshalIndent(t.summary(), "", "    ") // indented, as Consul's
	if err != nil {
		return nil, err
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(b)
	return nil, err
}

// acceptsPrometheus: a scraper's Accept header asks for the Prometheus
// output as Consul's acceptsOpenMetricsMimeType reads it: OpenMetrics, or
// text/plain with "version=0.4.0" as its first parameter (sic). Either way
// the answer is the text format 0.0.4.
func acceptsPrometheus(accept string) bool {
	for _, v := range strings.Split(accept, ",") {
		mime, params, _ := strings.Cut(v, ";")
		mime = strings.ToLower(strings.TrimSpace(mime))
		first, _, _ := strings.Cut(params, ";")
		if mime == "application/openmetrics-text" || mime == "text/plain" && strings.TrimSpace(first) == "version=0.4.0" {
			return true
		}
	}
	return false
}

// pprofGuard is Consul's rule for the profiles: not found unless
// enable_debug or ACLs are on; with ACLs, operator:read. Both refusals
// have empty bodies.
func (h *httpAPI) pprofGuard(fn http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.a.cfg.EnableDebug && !h.a.cfg.ACL.Enabled {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if z, err := h.authorize(r); err != nil || !z.allows(aclResOperator, aclRead, "") {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusForbidden)
			return
		}
		rc := http.NewResponseController(w)
		rc.SetWriteDeadline(time.Time{}) // ?seconds= of a CPU profile or trace may outlast write_timeout
		fn(w, r)
	})
}

// promFamily is one metric family of the text format.
type promFamily struct {
	name, help, typ string
	lines           []string // its samples, each a line
}

// promName maps a dotted name to a Prometheus one, as go-metrics'
// Prometheus sink: every character outside [a-zA-Z0-9_:] becomes "_".
func promName(dotted string) string {
	b := []byte(dotted)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == ':') {
			b[i] = '_'
		}
	}
	if len(b) > 0 && b[0] >= '0' && b[0] <= '9' {
		return "_" + string(b)
	}
	return string(b)
}

// promLabels renders labels sorted by name, as the Go client does, with
// extra (quantile) last; values escaped as the format says (\\, \", \n).
func promLabels(labels []metricLabel, extra ...metricLabel) string {
	if len(labels)+len(extra) == 0 {
		return ""
	}
	ls := slices.Clone(labels)
	slices.SortFunc(ls, func(a, b metricLabel) int { return strings.Compare(a.Name, b.Name) })
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range append(ls, extra...) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(promName(l.Name))
		b.WriteString(`="`)
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(l.Value))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// promFloat formats a value as the Go client does.
func promFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// quantile is the q-quantile of sorted values (nearest rank), NaN for none.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	return sorted[max(0, int(math.Ceil(q*float64(len(sorted))))-1)]
}

// writePrometheus writes the registry's families, sorted by name, leaving
// out the series not updated within the retention time.
func (t *telemetry) writePrometheus(w *bufio.Writer, now time.Time) {
	oldest := t.epoch.Load() - int64(t.retention/metricsInterval)
	t.mu.Lock()
	series := make([]metricSeries, 0, len(t.series))
	for _, s := range t.series {
		if s.meta().touched.Load() >= oldest && s.meta().touched.Load() != 0 {
			series = append(series, s)
		}
	}
	t.mu.Unlock()
	families := map[string]*promFamily{}
	for _, s := range series {
		m := s.meta()
		name := promName(t.fullName(m))
		f := families[name]
		if f == nil {
			f = &promFamily{name: name, help: name, typ: [...]string{"gauge", "counter", "summary"}[m.kind]}
			families[name] = f
		}
		switch s := s.(type) {
		case *metricGauge:
			f.lines = append(f.lines, name+promLabels(m.labels)+" "+promFloat(float64(float32(s.value()))))
		case *metricCounter:
			f.lines = append(f.lines, name+promLabels(m.labels)+" "+promFloat(float64(s.n.Load())))
		case *metricSample:
			since := now.Add(-metricsInterval).UnixNano()
			s.mu.Lock()
			var recent []float64
			for _, o := range s.recent {
				if o.at > since {
					recent = append(recent, o.v)
				}
			}
			sum, count := s.totalSum, s.totalCount
			s.mu.Unlock()
			slices.Sort(recent)
			for _, q := range []string{"0.5", "0.9", "0.99"} {
				qf, _ := strconv.ParseFloat(q, 64)
				f.lines = append(f.lines, name+promLabels(m.labels, metricLabel{"quantile", q})+" "+
					promFloat(float64(float32(quantile(recent, qf)))))
			}
			f.lines = append(f.lines, name+"_sum"+promLabels(m.labels)+" "+promFloat(float64(float32(sum))),
				name+"_count"+promLabels(m.labels)+" "+strconv.FormatUint(count, 10))
		}
	}
	writeFamilies(w, families)
}

// writeFamilies writes families sorted by name; a family's series keep
// their lines' order, sorted (a summary's lines per series stay together:
// they sort by their labels, the quantile last).
func writeFamilies(w *bufio.Writer, families map[string]*promFamily) {
	names := make([]string, 0, len(families))
	for n := range families {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		f := families[n]
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.typ)
		if f.typ == "summary" {
			sortSummaryLines(f)
		} else {
			slices.Sort(f.lines)
		}
		for _, l := range f.lines {
			w.WriteString(l)
			w.WriteByte('\n')
		}
	}
}

// sortSummaryLines orders a summary's series by their labels, keeping each
// series' lines (its quantiles, then _sum, then _count, which ends it)
// together and in order.
func sortSummaryLines(f *promFamily) {
	type block struct {
		key   string
		lines []string
	}
	var blocks []block
	var cur []string
	for _, l := range f.lines {
		cur = append(cur, l)
		if rest, ok := strings.CutPrefix(l, f.name+"_count"); ok {
			blocks = append(blocks, block{rest[:strings.LastIndexByte(rest, ' ')], cur})
			cur = nil
		}
	}
	slices.SortFunc(blocks, func(a, b block) int { return cmp.Compare(a.key, b.key) })
	f.lines = f.lines[:0:0]
	for _, b := range blocks {
		f.lines = append(f.lines, b.lines...)
	}
}

// writeProcessMetrics writes the families Prometheus' Go client registers
// by default (its Go and process collectors), under their names and help.
func writeProcessMetrics(w *bufio.Writer) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	families := map[string]*promFamily{}
	add := func(name, typ, help string, v float64) {
		families[name] = &promFamily{name: name, typ: typ, help: help, lines: []string{name + " " + promFloat(v)}}
	}
	var gc debug.GCStats
	gc.PauseQuantiles = make([]time.Duration, 5)
	debug.ReadGCStats(&gc)
	gcLines := make([]string, 0, 7)
	for i, q := range []string{"0", "0.25", "0.5", "0.75", "1"} {
		gcLines = append(gcLines, fmt.Sprintf("go_gc_duration_seconds{quantile=%q} %s", q, promFloat(gc.PauseQuantiles[i].Seconds())))
	}
	gcLines = append(gcLines, "go_gc_duration_seconds_sum "+promFloat(gc.PauseTotal.Seconds()),
		"go_gc_duration_seconds_count "+strconv.FormatInt(gc.NumGC, 10))
	families["go_gc_duration_seconds"] = &promFamily{name: "go_gc_duration_seconds", typ: "summary",
		help: "A summary of the pause duration of garbage collection cycles.", lines: gcLines}
	families["go_info"] = &promFamily{name: "go_info", typ: "gauge", help: "Information about the Go environment.",
		lines: []string{fmt.Sprintf("go_info{version=%q} 1", runtime.Version())}}
	add("go_goroutines", "gauge", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
	threads, _ := runtime.ThreadCreateProfile(nil)
	add("go_threads", "gauge", "Number of OS threads created.", float64(threads))
	add("go_memstats_alloc_bytes", "gauge", "Number of bytes allocated and still in use.", float64(ms.Alloc))
	add("go_memstats_alloc_bytes_total", "counter", "Total number of bytes allocated, even if freed.", float64(ms.TotalAlloc))
	add("go_memstats_sys_bytes", "gauge", "Number of bytes obtained from system.", float64(ms.Sys))
	add("go_memstats_mallocs_total", "counter", "Total number of mallocs.", float64(ms.Mallocs))
	add("go_memstats_frees_total", "counter", "Total number of frees.", float64(ms.Frees))
	add("go_memstats_heap_alloc_bytes", "gauge", "Number of heap bytes allocated and still in use.", float64(ms.HeapAlloc))
	add("go_memstats_heap_sys_bytes", "gauge", "Number of heap bytes obtained from system.", float64(ms.HeapSys))
	add("go_memstats_heap_idle_bytes", "gauge", "Number of heap bytes waiting to be used.", float64(ms.HeapIdle))
	add("go_memstats_heap_inuse_bytes", "gauge", "Number of heap bytes that are in use.", float64(ms.HeapInuse))
	add("go_memstats_heap_released_bytes", "gauge", "Number of heap bytes released to OS.", float64(ms.HeapReleased))
	add("go_memstats_heap_objects", "gauge", "Number of allocated objects.", float64(ms.HeapObjects))
	add("go_memstats_stack_inuse_bytes", "gauge", "Number of bytes in use by the stack allocator.", float64(ms.StackInuse))
	add("go_memstats_stack_sys_bytes", "gauge", "Number of bytes obtained from system for stack allocator.", float64(ms.StackSys))
	add("go_memstats_next_gc_bytes", "gauge", "Number of heap bytes when next garbage collection will take place.", float64(ms.NextGC))
	add("go_memstats_last_gc_time_seconds", "gauge", "Number of seconds since 1970 of last garbage collection.", float64(ms.LastGC)/1e9)
	processMetrics(add)
	writeFamilies(w, families)
}

// processMetrics adds the process collector's families, read from /proc
// (Linux; elsewhere they are left out, as the Go client does).
func processMetrics(add func(name, typ, help string, v float64)) {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return
	}
	// The fields after the command, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	if len(fields) < 22 {
		return
	}
	num := func(i int) float64 { v, _ := strconv.ParseFloat(fields[i], 64); return v }
	const userHZ = 100 // the kernel's USER_HZ, as the Go client assumes
	add("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", (num(11)+num(12))/userHZ)
	add("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", num(20))
	add("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", num(21)*float64(os.Getpagesize()))
	if boot := bootTime(); boot > 0 {
		add("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", boot+num(19)/userHZ)
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		add("process_open_fds", "gauge", "Number of open file descriptors.", float64(len(fds)))
	}
	if limits, err := os.ReadFile("/proc/self/limits"); err == nil {
		for _, line := range strings.Split(string(limits), "\n") {
			if f := strings.Fields(strings.TrimPrefix(line, "Max open files")); line != "" && len(f) >= 2 && strings.HasPrefix(line, "Max open files") {
				if v, err := strconv.ParseFloat(f[0], 64); err == nil {
					add("process_max_fds", "gauge", "Maximum number of open file descriptors.", v)
				}
			}
		}
	}
}

// bootTime is the system's boot time (btime in /proc/stat), 0 if unknown.
func bootTime() float64 {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(stat), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}
