// agent_telemetry.go: the agent's metrics registry, Consul's telemetry
// (https://developer.hashicorp.com/consul/docs/agent/telemetry) without a
// third-party library.
//
// Subsystems hold handles (metricCounter, metricSample, metricGauge), made
// once when the subsystem starts, and update them on their hot paths; the
// names are Consul's ("raft.apply", "api.http" with its labels), and the
// prefix (telemetry.metrics_prefix, "consul") and, for gauges, the host
// name (unless telemetry.disable_hostname) are added when they are read, as
// go-metrics does. Two views read them (http_agent_metrics.go):
//
//   - the JSON of go-metrics' in-memory sink: the last *finished* interval
//     of 10 s (its counters and samples aggregated to count, sum, min, max,
//     mean, stddev and rate per second; the gauges set in it), which the
//     telemetry loop rolls over at each 10 s boundary of the wall clock;
//   - the Prometheus text format, live: counters as their running totals,
//     gauges as their last value, samples as summaries (quantiles 0.5, 0.9
//     and 0.99 of the last 10 s, as go-metrics' Prometheus sink's MaxAge,
//     and the running _sum and _count); series not updated within
//     telemetry.prometheus_retention_time are left out.
//
// Concurrency. The series table (t.mu) is locked only to make a handle and
// to read the table; updates never touch it. A counter is one atomic add
// to its running total, which only grows (Consul's counters here are all
// increments of 1, so an interval's count is its sum, its min, max and
// mean 1, its stddev 0). A gauge is an atomic store of the float's bits. A
// sample takes its series' own mutex (held for a few arithmetic
// operations, contended only by updates of the same series). Retention
// costs an atomic load of the interval number, and a store once per
// interval, never a clock read. The telemetry loop is the only writer of
// the finished interval and of the counters' rollover marks, which t.mu
// guards.
package main

import (
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// metricsInterval is go-metrics' in-memory sink interval in Consul.
const metricsInterval = 10 * time.Second

// sampleWindow bounds the observations a sample keeps for its quantiles:
// the most recent ones within the last metricsInterval.
const sampleWindow = 1024

// metricLabel is one label of a series, as go-metrics' Label.
type metricLabel struct{ Name, Value string }

type metricKind int

const (
	kindGauge metricKind = iota
	kindCounter
	kindSample
)

// telemetry is the agent's registry.
type telemetry struct {
	prefix    string        // telemetry.metrics_prefix
	hostname  string        // put in gauges' names; "" with disable_hostname
	retention time.Duration // telemetry.prometheus_retention_time; 0: no Prometheus output

	epoch atomic.Int64 // the number of the current interval (unix time / 10 s)

	mu       sync.Mutex
	series   map[string]metricSeries // by kind, name and labels
	finished *metricsSummary         // the last finished interval
	start    time.Time               // the current interval's start
}

// metricSeries is what the registry keeps of one series.
type metricSeries interface {
	meta() *seriesMeta
}

type seriesMeta struct {
	kind    metricKind
	name    string // Consul's, without prefix and host: "raft.apply"
	labels  []metricLabel
	touched atomic.Int64 // the epoch of the last update (retention)
}

func (m *seriesMeta) meta() *seriesMeta { return m }

// touch marks the series updated in the current interval.
func (m *seriesMeta) touch(epoch *atomic.Int64) {
	if e := epoch.Load(); m.touched.Load() != e {
		m.touched.Store(e)
	}
}

// metricCounter counts events: n only grows (Prometheus reads it); an
// interval's count is how much it grew since the last rollover.
type metricCounter struct {
	seriesMeta
	epoch  *atomic.Int64
	n      atomic.Int64
	rolled int64 // n at the last rollover; guarded by the registry's mu
}

func (c *metricCounter) inc() {
	if c == nil {
		return
	}
	c.n.Add(1)
	c.touch(c.epoch)
}

// metricGauge holds the last value set.
type metricGauge struct {
	seriesMeta
	epoch *atomic.Int64
	bits  atomic.Uint64
	set   atomic.Bool // set in the current interval
}

func (g *metricGauge) setValue(v float64) {
	if g == nil {
		return
	}
	g.bits.Store(math.Float64bits(v))
	g.set.Store(true)
	g.touch(g.epoch)
}

func (g *metricGauge) value() float64 { return math.Float64frombits(g.bits.Load()) }

// metricSample aggregates observations (durations in milliseconds, as
// go-metrics' MeasureSince).
type metricSample struct {
	seriesMeta
	epoch *atomic.Int64

	mu         sync.Mutex
	cur        aggregate // the interval in progress
	totalSum   float64   // all intervals', for Prometheus' _sum
	totalCount uint64
	recent     [sampleWindow]observation // a ring, for the quantiles
	next       int
}

type observation struct {
	v  float64
	at int64 // unix nanoseconds
}

// aggregate is an interval's statistics of a counter or a sample.
type aggregate struct {
	count      uint64
	sum, sumSq float64
	min, max   float64
}

func (a *aggregate) add(v float64) {
	if a.count == 0 || v < a.min {
		a.min = v
	}
	if a.count == 0 || v > a.max {
		a.max = v
	}
	a.count++
	a.sum += v
	a.sumSq += v * v
}

// observe adds one observation taken at now.
func (s *metricSample) observe(v float64, now time.Time) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.cur.add(v)
	s.totalSum += v
	s.totalCount++
	s.recent[s.next] = observation{v, now.UnixNano()}
	s.next = (s.next + 1) % sampleWindow
	s.mu.Unlock()
	s.touch(s.epoch)
}

// measureSince observes the time since start, in milliseconds.
func (s *metricSample) measureSince(start time.Time) {
	if s == nil {
		return
	}
	now := time.Now()
	s.observe(float64(now.Sub(start))/float64(time.Millisecond), now)
}

func newTelemetry(cfg *Config) *telemetry {
	t := &telemetry{prefix: cfg.Telemetry.MetricsPrefix, retention: cfg.Telemetry.PrometheusRetentionTime,
		series: map[string]metricSeries{}}
	if !cfg.Telemetry.DisableHostname {
		t.hostname, _ = os.Hostname()
	}
	now := time.Now()
	t.start = now.Truncate(metricsInterval)
	t.epoch.Store(t.start.Unix() / int64(metricsInterval/time.Second))
	t.finished = &metricsSummary{Timestamp: t.start.UTC().Add(-metricsInterval).String(),
		Gauges: []gaugeValue{}, Points: []struct{}{}, Counters: []sampledValue{}, Samples: []sampledValue{}}
	return t
}

// seriesKey identifies a series; labels are kept in the order given.
func seriesKey(kind metricKind, name string, labels []metricLabel) string {
	var b strings.Builder
	b.WriteByte(byte('0' + kind))
	b.WriteString(name)
	for _, l := range labels {
		b.WriteByte(0)
		b.WriteString(l.Name)
		b.WriteByte(0)
		b.WriteString(l.Value)
	}
	return b.String()
}

// handle returns the series of that kind, name and labels, made by mk the
// first time.
func handle[T metricSeries](t *telemetry, kind metricKind, name string, labels []metricLabel, mk func() T) T {
	if t == nil {
		var none T
		return none
	}
	key := seriesKey(kind, name, labels)
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.series[key]; ok {
		return s.(T)
	}
	s := mk()
	m := s.meta()
	m.kind, m.name, m.labels = kind, name, slices.Clone(labels)
	t.series[key] = s
	return s
}

func (t *telemetry) counter(name string, labels ...metricLabel) *metricCounter {
	return handle(t, kindCounter, name, labels, func() *metricCounter {
		return &metricCounter{epoch: &t.epoch}
	})
}

func (t *telemetry) gauge(name string, labels ...metricLabel) *metricGauge {
	return handle(t, kindGauge, name, labels, func() *metricGauge {
		return &metricGauge{epoch: &t.epoch}
	})
}

func (t *telemetry) sample(name string, labels ...metricLabel) *metricSample {
	return handle(t, kindSample, name, labels, func() *metricSample {
		return &metricSample{epoch: &t.epoch}
	})
}

// labeledSamples is a family of samples by one label value, made on first
// use (api.http by path, memberlist.gossip by network): a read-locked map
// lookup, no string building.
type labeledSamples struct {
	t      *telemetry
	name   string
	labels func(k labeledKey) []metricLabel
	mu     sync.RWMutex
	byKey  map[labeledKey]*metricSample
}

type labeledKey struct{ a, b string }

func (t *telemetry) samplesBy(name string, labels func(labeledKey) []metricLabel) *labeledSamples {
	if t == nil {
		return nil
	}
	return &labeledSamples{t: t, name: name, labels: labels, byKey: map[labeledKey]*metricSample{}}
}

func (l *labeledSamples) get(k labeledKey) *metricSample {
	if l == nil {
		return nil
	}
	l.mu.RLock()
	s := l.byKey[k]
	l.mu.RUnlock()
	if s != nil {
		return s
	}
	s = l.t.sample(l.name, l.labels(k)...)
	l.mu.Lock()
	l.byKey[k] = s
	l.mu.Unlock()
	return s
}

// The JSON of go-metrics' in-memory sink (DisplayMetrics), as Consul answers
// GET /v1/agent/metrics.
type metricsSummary struct {
	Timestamp string
	Gauges    []gaugeValue
	Points    []struct{}
	Counters  []sampledValue
	Samples   []sampledValue
}

type gaugeValue struct {
	Name   string
	Value  float32
	Labels map[string]string
}

type sampledValue struct {
	Name   string
	Count  int
	Rate   float64
	Sum    float64
	Min    float64
	Max    float64
	Mean   float64
	Stddev float64
	Labels map[string]string
}

func labelMap(labels []metricLabel) map[string]string {
	m := make(map[string]string, len(labels))
	for _, l := range labels {
		m[l.Name] = l.Value
	}
	return m
}

// fullName is a series' name as shown: the prefix, the host name for
// gauges, the name.
func (t *telemetry) fullName(m *seriesMeta) string {
	parts := make([]string, 0, 3)
	if t.prefix != "" {
		parts = append(parts, t.prefix)
	}
	if m.kind == kindGauge && t.hostname != "" {
		parts = append(parts, t.hostname)
	}
	return strings.Join(append(parts, m.name), ".")
}

func sampledOf(name string, labels []metricLabel, a aggregate) sampledValue {
	// go-metrics keeps float32 values and reports the rate per second of
	// the interval's sum; its stddev is the sample standard deviation.
	v := sampledValue{Name: name, Count: int(a.count), Sum: f32(a.sum), Min: f32(a.min), Max: f32(a.max),
		Rate: f32(a.sum) / metricsInterval.Seconds(), Labels: labelMap(labels)}
	if a.count > 0 {
		v.Mean = f32(a.sum) / float64(a.count)
	}
	if a.count > 1 {
		v.Stddev = math.Sqrt(max(0, (a.sumSq-a.sum*a.sum/float64(a.count))/float64(a.count-1)))
	}
	return v
}

func f32(v float64) float64 { return float64(float32(v)) }

// rollover ends the interval in progress at now: its aggregates become the
// finished interval, the counters' and samples' start again.
func (t *telemetry) rollover(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	sum := &metricsSummary{Timestamp: t.start.UTC().String(),
		Gauges: []gaugeValue{}, Points: []struct{}{}, Counters: []sampledValue{}, Samples: []sampledValue{}}
	for _, s := range t.series {
		switch s := s.(type) {
		case *metricCounter:
			total := s.n.Load()
			n := total - s.rolled
			s.rolled = total
			if n > 0 {
				sum.Counters = append(sum.Counters, sampledOf(t.fullName(&s.seriesMeta), s.labels,
					aggregate{count: uint64(n), sum: float64(n), sumSq: float64(n), min: 1, max: 1}))
			}
		case *metricGauge:
			if s.set.Swap(false) {
				sum.Gauges = append(sum.Gauges, gaugeValue{Name: t.fullName(&s.seriesMeta), Value: float32(s.value()),
					Labels: labelMap(s.labels)})
			}
		case *metricSample:
			s.mu.Lock()
			a := s.cur
			s.cur = aggregate{}
			s.mu.Unlock()
			if a.count > 0 {
				sum.Samples = append(sum.Samples, sampledOf(t.fullName(&s.seriesMeta), s.labels, a))
			}
		}
	}
	byName := func(a, b sampledValue) int {
		return strings.Compare(a.Name+labelString(a.Labels), b.Name+labelString(b.Labels))
	}
	slices.SortFunc(sum.Counters, byName)
	slices.SortFunc(sum.Samples, byName)
	slices.SortFunc(sum.Gauges, func(a, b gaugeValue) int {
		return strings.Compare(a.Name+labelString(a.Labels), b.Name+labelString(b.Labels))
	})
	t.finished = sum
	t.start = now.Truncate(metricsInterval)
	t.epoch.Store(t.start.Unix() / int64(metricsInterval/time.Second))
}

func labelString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(";" + k + "=" + m[k])
	}
	return b.String()
}

func (t *telemetry) summary() *metricsSummary {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.finished
}

// run is the telemetry loop: at each 10 s boundary it samples the gauges
// (the runtime's and collect's) and rolls the interval over, until stop
// closes.
func (t *telemetry) run(stop <-chan struct{}, collect func()) {
	rt := newRuntimeMetrics(t)
	for {
		now := time.Now()
		timer := time.NewTimer(now.Truncate(metricsInterval).Add(metricsInterval).Sub(now))
		select {
		case <-stop:
			timer.Stop()
			return
		case now = <-timer.C:
		}
		rt.emit()
		collect()
		t.rollover(now)
	}
}

// runtimeMetrics are go-metrics' runtime gauges and its gc_pause_ns sample.
type runtimeMetrics struct {
	numGoroutines, allocBytes, sysBytes, mallocCount, freeCount, heapObjects, totalGCPause, totalGCRuns *metricGauge
	gcPause                                                                                             *metricSample
	lastNumGC                                                                                           uint32
}

func newRuntimeMetrics(t *telemetry) *runtimeMetrics {
	return &runtimeMetrics{
		numGoroutines: t.gauge("runtime.num_goroutines"), allocBytes: t.gauge("runtime.alloc_bytes"),
		sysBytes: t.gauge("runtime.sys_bytes"), mallocCount: t.gauge("runtime.malloc_count"),
		freeCount: t.gauge("runtime.free_count"), heapObjects: t.gauge("runtime.heap_objects"),
		totalGCPause: t.gauge("runtime.total_gc_pause_ns"), totalGCRuns: t.gauge("runtime.total_gc_runs"),
		gcPause: t.sample("runtime.gc_pause_ns"),
	}
}

func (r *runtimeMetrics) emit() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.numGoroutines.setValue(float64(runtime.NumGoroutine()))
	r.allocBytes.setValue(float64(ms.Alloc))
	r.sysBytes.setValue(float64(ms.Sys))
	r.mallocCount.setValue(float64(ms.Mallocs))
	r.freeCount.setValue(float64(ms.Frees))
	r.heapObjects.setValue(float64(ms.HeapObjects))
	r.totalGCPause.setValue(float64(ms.PauseTotalNs))
	r.totalGCRuns.setValue(float64(ms.NumGC))
	// Each pause since the last emit, from the ring of the last 256.
	now := time.Now()
	for i := max(r.lastNumGC, ms.NumGC-min(ms.NumGC, 256)); i < ms.NumGC; i++ {
		r.gcPause.observe(float64(ms.PauseNs[i%256]), now)
	}
	r.lastNumGC = ms.NumGC
}

// TelemetryConfig is the telemetry block.
type TelemetryConfig struct {
	PrometheusRetentionTime time.Duration // prometheus_retention_time: 0 turns ?format=prometheus off
	DisableHostname         bool          // disable_hostname: gauges' names without the host name
	MetricsPrefix           string        // metrics_prefix: "consul"
}

// cfgTelemetry is the telemetry block's keys; the sinks miniconsul does
// not have (statsd, statsite, dogstatsd, Circonus) and the filters are
// accepted and ignored.
var cfgTelemetry = cfgBlock(map[string]configKey{
	"prometheus_retention_time": cfgStore(cfgDuration, func(c *Config) *time.Duration { return &c.Telemetry.PrometheusRetentionTime }),
	"disable_hostname":          cfgStore(cfgAs[bool], func(c *Config) *bool { return &c.Telemetry.DisableHostname }),
	"metrics_prefix":            cfgStore(cfgAs[string], func(c *Config) *string { return &c.Telemetry.MetricsPrefix }),
}, "circonus_api_app", "circonus_api_token", "circonus_api_url", "circonus_broker_id",
	"circonus_broker_select_tag", "circonus_check_display_name", "circonus_check_force_metric_activation",
	"circonus_check_id", "circonus_check_instance_id", "circonus_check_search_tag", "circonus_check_tags",
	"circonus_submission_interval", "circonus_submission_url", "disable_per_tenancy_usage_metrics",
	"enable_host_metrics", "dogstatsd_addr", "dogstatsd_tags", "retry_failed_connection", "filter_default",
	"prefix_filter", "statsd_address", "statsite_address")
