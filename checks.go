// checks.go: health check definitions and the checks an agent runs itself.
//
// A check belongs to the agent of the host it watches: the agent runs it and
// sends only changes of its status to the servers (local.go pushes them
// into the catalog). Kinds, as Consul's: TTL (the application reports in
// through /v1/agent/check/pass|warn|fail|update; silence past the TTL means
// critical), HTTP and TCP (probed every Interval).
//
// Definitions of other kinds (script, UDP, gRPC, alias, …) are accepted and
// validated as Consul does, and keep their initial status: running them
// comes with the client-agent work.
//
// Concurrency: each running check is one goroutine (HTTP, TCP) or one timer
// (TTL) that reports results through localState.setCheckStatus; stop ends
// them. A check's definition never changes after it is created.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// checkDefinition is a check as registered through the agent API, alone
// (/v1/agent/check/register) or in a service (Consul's CheckDefinition and
// AgentServiceCheck).
type checkDefinition struct {
	ID                             string
	CheckID                        string
	Name                           string
	Notes                          string
	ServiceID                      string
	Status                         string
	TTL                            duration
	HTTP                           string
	Header                         map[string][]string
	Method                         string
	Body                           string
	TLSServerName                  string
	TLSSkipVerify                  bool
	TCP                            string
	UDP                            string
	GRPC                           string
	GRPCUseTLS                     bool
	Args                           []string
	ScriptArgs                     []string
	DockerContainerID              string
	Shell                          string
	H2PING                         string
	OSService                      string
	AliasNode                      string
	AliasService                   string
	Interval                       duration
	Timeout                        duration
	DeregisterCriticalServiceAfter duration
	SuccessBeforePassing           int
	FailuresBeforeCritical         int
	FailuresBeforeWarning          int
}

// ttlExpiredOutput is a TTL check's output once its TTL passed in silence.
const ttlExpiredOutput = "TTL expired"

// checkType names the kind of a definition, as Consul's Type field.
func (d *checkDefinition) checkType() string {
	switch {
	case d.TTL > 0:
		return "ttl"
	case d.HTTP != "":
		return "http"
	case d.TCP != "":
		return "tcp"
	case d.UDP != "":
		return "udp"
	case d.GRPC != "":
		return "grpc"
	case d.H2PING != "":
		return "h2ping"
	case d.DockerContainerID != "":
		return "docker"
	case len(d.Args) > 0 || len(d.ScriptArgs) > 0:
		return "script"
	case d.OSService != "":
		return "os_service"
	case d.AliasNode != "" || d.AliasService != "":
		return "alias"
	}
	return ""
}

// validate applies Consul's rules for a check definition.
func (d *checkDefinition) validate(scriptsEnabled bool) error {
	kind := d.checkType()
	if kind == "" {
		return errors.New("Check types that need an Interval or a TTL must have one: provide TTL, or HTTP, TCP, UDP, GRPC, H2PING, Args (script), DockerContainerID, OSService, AliasNode or AliasService")
	}
	if d.Status != "" && !validHealthStatus(d.Status) {
		return fmt.Errorf("Invalid check status: %q", d.Status)
	}
	if kind == "alias" {
		if d.Interval > 0 || d.TTL > 0 {
			return errors.New("Interval and TTL must not be set for Alias checks")
		}
		return nil
	}
	if kind != "ttl" && d.Interval <= 0 {
		return errors.New("Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or GRPC checks")
	}
	if kind == "script" && !scriptsEnabled {
		return errors.New("Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or 'enable_local_script_checks' to true")
	}
	if d.Timeout < 0 {
		return errors.New("Timeout must not be negative")
	}
	return nil
}

// catalogDefinition is how the catalog shows the definition.
func (d *checkDefinition) catalogDefinition() HealthCheckDefinition {
	return HealthCheckDefinition{
		HTTP: d.HTTP, Header: d.Header, Method: d.Method, Body: d.Body,
		TLSServerName: d.TLSServerName, TLSSkipVerify: d.TLSSkipVerify,
		TCP: d.TCP, UDP: d.UDP, GRPC: d.GRPC, GRPCUseTLS: d.GRPCUseTLS,
		Interval: d.Interval, Timeout: d.Timeout,
		DeregisterCriticalServiceAfter: d.DeregisterCriticalServiceAfter,
	}
}

// timeout is how long one probe may take: Timeout, else 10 s as Consul,
// and never more than the interval.
func (d *checkDefinition) timeout() time.Duration {
	t := time.Duration(d.Timeout)
	if t <= 0 {
		t = 10 * time.Second
	}
	return min(t, time.Duration(d.Interval))
}

// checkRunner runs one check until stopped.
type checkRunner struct {
	id     string
	def    *checkDefinition
	report func(id, status, output string)
	stopCh chan struct{}
	done   chan struct{}
}

// startCheck runs an HTTP or TCP check in its own goroutine; it returns nil
// for kinds that are not probed by the agent.
func startCheck(id string, def *checkDefinition, report func(id, status, output string)) *checkRunner {
	kind := def.checkType()
	if kind != "http" && kind != "tcp" {
		return nil
	}
	r := &checkRunner{id: id, def: def, report: report, stopCh: make(chan struct{}), done: make(chan struct{})}
	go r.run(kind)
	return r
}

func (r *checkRunner) stop() {
	close(r.stopCh)
	<-r.done
}

func (r *checkRunner) run(kind string) {
	defer close(r.done)
	interval := time.Duration(r.def.Interval)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), r.def.timeout())
		go func() { // a stop cancels a probe in flight
			select {
			case <-r.stopCh:
				cancel()
			case <-ctx.Done():
			}
		}()
		var status, output string
		if kind == "http" {
			status, output = probeHTTP(ctx, r.def)
		} else {
			status, output = probeTCP(ctx, r.def)
		}
		cancel()
		select {
		case <-r.stopCh:
			return
		default:
		}
		r.report(r.id, status, output)
		select {
		case <-r.stopCh:
			return
		case <-tick.C:
		}
	}
}

// probeHTTP is Consul's HTTP check: 2xx passing, 429 warning, anything
// else (or no answer in time) critical. The output holds the status line
// and the start of the body.
func probeHTTP(ctx context.Context, def *checkDefinition) (status, output string) {
	method := def.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, def.HTTP, strings.NewReader(def.Body))
	if err != nil {
		return healthCritical, err.Error()
	}
	for k, vs := range def.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "Consul Health Check")
	}
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: def.TLSSkipVerify, ServerName: def.TLSServerName},
		DisableKeepAlives: true,
	}}
	resp, err := client.Do(req)
	if err != nil {
		return healthCritical, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	output = fmt.Sprintf("HTTP %s %s: %s Output: %s", method, def.HTTP, resp.Status, body)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return healthPassing, output
	case resp.StatusCode == http.StatusTooManyRequests:
		return healthWarning, output
	}
	return healthCritical, output
}

// probeTCP is Consul's TCP check: passing when a connection opens.
func probeTCP(ctx context.Context, def *checkDefinition) (status, output string) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", def.TCP)
	if err != nil {
		return healthCritical, err.Error()
	}
	conn.Close()
	return healthPassing, fmt.Sprintf("TCP connect %s: Success", def.TCP)
}
