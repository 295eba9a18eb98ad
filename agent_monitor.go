// agent_monitor.go: the fan-out of the agent's log to live subscribers, as
// Consul's monitor sinks: what GET /v1/agent/monitor streams.
//
// Data flow: newAgentLogger (main.go) builds the agent's logger on a
// monitorHandler, which wraps the handler that writes the agent's own log
// and owns a logHub. Each record goes to the wrapped handler (at the
// agent's level) and, formatted as Consul's hclog lines (text or JSON), to
// every subscriber whose level it reaches, whatever the agent's level: a
// monitor at debug sees debug lines of an agent logging at info, as in
// Consul. The HTTP handler (http_agent_monitor.go) finds the hub through
// the agent's logger, subscribes, and writes the lines it receives.
//
// Concurrency: the hub's subscriber set is guarded by its mutex; each
// subscriber is a buffered channel of monitorBuffer lines: a line that
// does not fit is dropped and counted (Consul drops too, and logs how many
// when the monitor ends), so a slow reader never blocks the logging
// goroutine. min, the lowest level any subscriber wants, is atomic: every
// log call reads it in Enabled.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// monitorBuffer is the lines a subscriber may fall behind (Consul's 512).
const monitorBuffer = 512

// logHub is the set of the agent's log subscribers.
type logHub struct {
	mu   sync.Mutex
	subs map[*logSubscriber]struct{}
	min  atomic.Int64 // the lowest level subscribed; math.MaxInt64 if none
}

// logSubscriber is one monitor: its level, format and buffered lines.
type logSubscriber struct {
	level   slog.Level
	json    bool
	lines   chan string
	dropped atomic.Int64
}

func newLogHub() *logHub {
	h := &logHub{subs: map[*logSubscriber]struct{}{}}
	h.min.Store(math.MaxInt64)
	return h
}

// subscribe adds a subscriber of the lines at level and above.
func (h *logHub) subscribe(level slog.Level, asJSON bool) *logSubscriber {
	s := &logSubscriber{level: level, json: asJSON, lines: make(chan string, monitorBuffer)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.setMinLocked()
	h.mu.Unlock()
	return s
}

// unsubscribe removes s and returns how many lines it dropped.
func (h *logHub) unsubscribe(s *logSubscriber) int64 {
	h.mu.Lock()
	delete(h.subs, s)
	h.setMinLocked()
	h.mu.Unlock()
	return s.dropped.Load()
}

func (h *logHub) setMinLocked() {
	lowest := int64(math.MaxInt64)
	for s := range h.subs {
		lowest = min(lowest, int64(s.level))
	}
	h.min.Store(lowest)
}

// wants says whether any subscriber takes lines at level.
func (h *logHub) wants(level slog.Level) bool {
	return int64(level) >= h.min.Load()
}

// publish offers one record to the subscribers it reaches, formatted once
// per format; a full buffer drops the line.
func (h *logHub) publish(t time.Time, level slog.Level, msg string, attrs []slog.Attr) {
	var text, js string
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if level < s.level {
			continue
		}
		var line string
		if s.json {
			if js == "" {
				js = formatMonitorJSON(t, level, msg, attrs)
			}
			line = js
		} else {
			if text == "" {
				text = formatMonitorText(t, level, msg, attrs)
			}
			line = text
		}
		select {
		case s.lines <- line:
		default:
			s.dropped.Add(1)
		}
	}
}

// monitorModule is the module name of the agent's lines: miniconsul's
// logger has one module, Consul's "agent" and its subsystems.
const monitorModule = "agent"

// monitorLevelName is a level in hclog's words.
func monitorLevelName(level slog.Level) string {
	switch {
	case level < slog.LevelDebug:
		return "trace"
	case level < slog.LevelInfo:
		return "debug"
	case level < slog.LevelWarn:
		return "info"
	case level < slog.LevelError:
		return "warn"
	}
	return "error"
}

// formatMonitorText is hclog's text line:
// 2026-12-01T23:36:17.586Z [INFO]  agent: Synced service: service=web
func formatMonitorText(t time.Time, level slog.Level, msg string, attrs []slog.Attr) string {
	var b strings.Builder
	b.WriteString(t.Format("2006-01-02T15:04:05.000Z0700"))
	fmt.Fprintf(&b, " %-7s ", "["+strings.ToUpper(monitorLevelName(level))+"]")
	b.WriteString(monitorModule + ": " + msg)
	for i, a := range attrs {
		if i == 0 {
			b.WriteString(":")
		}
		b.WriteString(" " + a.Key + "=" + quoteMonitorValue(a.Value.Resolve().String()))
	}
	b.WriteString("\n")
	return b.String()
}

// quoteMonitorValue quotes a value as hclog does when it holds anything
// outside ASCII's "-" to "~" (hclog's isNormal: a URL's "?", "=" and "<"
// stay bare; a space, a "+" or a "µ" is quoted).
func quoteMonitorValue(v string) string {
	if v == "" {
		return `""`
	}
	for _, r := range v {
		if r < '-' || r > '~' {
			return strconv.Quote(v)
		}
	}
	return v
}

// formatMonitorJSON is hclog's JSON line, keys sorted:
// {"@level":"info","@message":"…","@module":"agent","@timestamp":"…","k":"v"}
func formatMonitorJSON(t time.Time, level slog.Level, msg string, attrs []slog.Attr) string {
	m := map[string]any{
		"@level":     monitorLevelName(level),
		"@message":   msg,
		"@module":    monitorModule,
		"@timestamp": t.Format("2006-01-02T15:04:05.000000Z07:00"),
	}
	for _, a := range attrs {
		v := a.Value.Resolve()
		switch v.Kind() {
		case slog.KindString:
			m[a.Key] = v.String()
		case slog.KindInt64, slog.KindUint64, slog.KindFloat64, slog.KindBool:
			m[a.Key] = v.Any()
		default:
			if err, ok := v.Any().(error); ok {
				m[a.Key] = err.Error()
			} else {
				m[a.Key] = v.String()
			}
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		b, _ = json.Marshal(map[string]any{"@level": monitorLevelName(level), "@message": msg})
	}
	return string(b) + "\n"
}

// monitorHandler passes records to the agent's own handler and to the
// hub's subscribers. Handlers derived by WithAttrs and WithGroup share
// the hub and keep their attributes for the subscribers' lines.
type monitorHandler struct {
	base   slog.Handler
	hub    *logHub
	attrs  []slog.Attr // from WithAttrs, keys qualified by their groups
	prefix string      // the groups, "g1.g2."
}

// newMonitorHandler wraps base with a new hub.
func newMonitorHandler(base slog.Handler) *monitorHandler {
	return &monitorHandler{base: base, hub: newLogHub()}
}

// logHubOf is the hub of a logger built by newAgentLogger, nil for any
// other logger.
func logHubOf(l *slog.Logger) *logHub {
	if h, ok := l.Handler().(*monitorHandler); ok {
		return h.hub
	}
	return nil
}

func (h *monitorHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.hub.wants(level) || h.base.Enabled(ctx, level)
}

func (h *monitorHandler) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if h.base.Enabled(ctx, r.Level) {
		err = h.base.Handle(ctx, r)
	}
	if h.hub.wants(r.Level) {
		attrs := append([]slog.Attr(nil), h.attrs...)
		r.Attrs(func(a slog.Attr) bool {
			attrs = appendMonitorAttr(attrs, h.prefix, a)
			return true
		})
		h.hub.publish(r.Time, r.Level, r.Message, attrs)
	}
	return err
}

// appendMonitorAttr flattens a (a group into "group.key" attributes).
func appendMonitorAttr(attrs []slog.Attr, prefix string, a slog.Attr) []slog.Attr {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range v.Group() {
			attrs = appendMonitorAttr(attrs, p, g)
		}
		return attrs
	}
	if a.Key == "" {
		return attrs
	}
	return append(attrs, slog.Attr{Key: prefix + a.Key, Value: v})
}

func (h *monitorHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.base = h.base.WithAttrs(as)
	n.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range as {
		n.attrs = appendMonitorAttr(n.attrs, h.prefix, a)
	}
	return &n
}

func (h *monitorHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.base = h.base.WithGroup(name)
	n.prefix = h.prefix + name + "."
	return &n
}
