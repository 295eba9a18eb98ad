// http_agent_monitor.go: GET /v1/agent/monitor, the agent's log streamed
// as it happens, as Consul's: ?loglevel (trace, debug, info, warn, err or
// error, any case; default info) and ?logjson choose the lines and their
// format; an unknown level answers 400 "Unknown log level: x".
//
// Data flow: the handler subscribes to the agent's log hub
// (agent_monitor.go), answers 200 with no content type (as Consul), and
// writes each line it receives, flushing every 200ms, until the client
// goes away or the agent shuts down; then it unsubscribes and, if lines
// were dropped for a slow reader, logs how many, as Consul does.
//
// Concurrency: one goroutine per request (net/http's); the hub's buffer
// decouples it from the goroutines that log.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// monitorFlushEvery is how long written lines may wait for a flush
// (Consul's 200ms).
const monitorFlushEvery = 200 * time.Millisecond

// monitorWriteTimeout: a monitor whose client takes no bytes for this long
// is ended (its lines are dropped meanwhile, never the agent's logging).
const monitorWriteTimeout = 30 * time.Second

// monitorLevel maps a monitor's ?loglevel to slog's; ok is false for a
// level Consul does not know.
func monitorLevel(s string) (slog.Level, bool) {
	switch strings.ToUpper(s) {
	case "TRACE":
		return levelTrace, true
	case "DEBUG":
		return slog.LevelDebug, true
	case "INFO":
		return slog.LevelInfo, true
	case "WARN":
		return slog.LevelWarn, true
	case "ERR", "ERROR":
		return slog.LevelError, true
	}
	return 0, false
}

func (h *httpAPI) agentMonitor(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := h.agentRequire(r, aclResAgent, aclRead, h.a.cfg.NodeName); err != nil {
		return nil, err
	}
	q := query(r)
	name := q.Get("loglevel")
	if name == "" {
		name = "INFO"
	}
	_, asJSON := q["logjson"]
	level, ok := monitorLevel(name)
	if !ok {
		return nil, &httpError{http.StatusBadRequest, fmt.Sprintf("Unknown log level: %s", name)}
	}
	hub := logHubOf(h.a.logger)
	if hub == nil {
		return nil, fmt.Errorf("Streaming not supported: this agent's logger has no monitor")
	}
	sub := hub.subscribe(level, asJSON)
	defer func() {
		if dropped := hub.unsubscribe(sub); dropped > 0 {
			h.a.logger.Warn("Dropped logs during monitor request", "dropped_count", dropped)
		}
	}()
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{}) // a stream outlasts http_config's write timeout
	w.Header()["Content-Type"] = nil // no content type, as Consul's answer: not sniffed
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return nil, nil // the answer has begun: nothing more to say
	}
	ticker := time.NewTicker(monitorFlushEvery)
	defer ticker.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil, nil
		case <-h.a.shutdownCh:
			rc.Flush()
			return nil, nil
		case line := <-sub.lines:
			// A client that stops reading, with its connection open, must not
			// hold this handler for ever once the send buffer is full.
			rc.SetWriteDeadline(time.Now().Add(monitorWriteTimeout))
			if _, err := io.WriteString(w, line); err != nil {
				return nil, nil
			}
		case <-ticker.C:
			rc.SetWriteDeadline(time.Now().Add(monitorWriteTimeout))
			if err := rc.Flush(); err != nil {
				return nil, nil
			}
		}
	}
}
