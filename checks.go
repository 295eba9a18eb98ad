// checks.go: health check definitions and the checks an agent runs itself.
//
// A check belongs to the agent of the host it watches: the agent runs it and
// sends only changes of its status to the servers (agent_local.go records each
// result and pushes the changes into the catalog). Kinds, as Consul's
// (docs: "Health checks"):
//   - TTL: the application reports in through /v1/agent/check/pass|warn|fail|
//     update; silence past the TTL means critical (a timer in agent_local.go).
//   - HTTP, TCP, UDP, gRPC, script: probed every Interval by one goroutine per
//     check (checkRunner), the first probe at a random point of the first
//     interval so that many checks spread out (Consul's lib.RandomStagger).
//     Each probe has a Timeout; the next one starts an Interval after the
//     previous ended, so probes of one check never overlap.
//   - alias: mirrors the worst status of another service's (or node's)
//     checks, from this agent's local state when the alias names no node,
//     otherwise from the catalog through Agent.nodeCatalog (agent_remote.go),
//     with blocking reads.
//
// SuccessBeforePassing, FailuresBeforeWarning and FailuresBeforeCritical
// filter the probes' results (statusThresholds, Consul's StatusHandler).
// Output is bounded by check_output_max_size (4 KiB by default) and the cut
// is marked as Consul marks it.
//
// Concurrency: a runner's goroutine owns its thresholds; stop cancels the
// context of the probe in flight and waits for the goroutine. All HTTP and
// gRPC checks of an agent share keep-alive connections through
// checkTransports (its mutex guards the transport maps). A check's
// definition never changes after it is created.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
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

// Default probe timeouts (Consul's): 30 s for scripts, 10 s for the others.
const (
	defaultCheckTimeout  = 10 * time.Second
	defaultScriptTimeout = 30 * time.Second
)

// scriptPipeGrace is how long a script check waits, once the script has
// ended, for the output pipe to close (exec.Cmd.WaitDelay).
const scriptPipeGrace = time.Second

// udpCheckPayload is the datagram a UDP check sends.
const udpCheckPayload = "Hello from Consul"

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

// validate applies Consul's rules for a check definition. Whether scripts
// may run is the agent's decision (localState.allowScript).
func (d *checkDefinition) validate() error {
	kind := d.checkType()
	if kind == "" {
		return errors.New("Check types that need an Interval or a TTL must have one: provide TTL, or HTTP, TCP, UDP, GRPC, H2PING, Args (script), DockerContainerID, OSService, AliasNode or AliasService")
	}
	if d.Status != "" && !validHealthStatus(d.Status) {
		return fmt.Errorf("Invalid check status: %q", d.Status)
	}
	if d.SuccessBeforePassing < 0 || d.FailuresBeforeWarning < 0 || d.FailuresBeforeCritical < 0 {
		return errors.New("SuccessBeforePassing, FailuresBeforeWarning and FailuresBeforeCritical must not be negative")
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

// timeout is how long one probe may take: Timeout, else Consul's default.
func (d *checkDefinition) timeout() time.Duration {
	switch {
	case d.Timeout > 0:
		return time.Duration(d.Timeout)
	case d.checkType() == "script":
		return defaultScriptTimeout
	}
	return defaultCheckTimeout
}

// --- output ---

// truncateOutput keeps the first max bytes of an output (cut on a UTF-8
// boundary) and says what was dropped, as Consul does for TTL updates:
// "<head> ... (captured 4096 of 10000 bytes)".
func truncateOutput(output string, max int) string {
	if len(output) <= max {
		return output
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(output[cut]) {
		cut--
	}
	return fmt.Sprintf("%s ... (captured %d of %d bytes)", output[:cut], cut, len(output))
}

// tailBuffer keeps the last max bytes written to it: a script's output,
// where the end (the error) matters most, as Consul's circular buffer.
// exec calls Write from one goroutine at a time when Stdout == Stderr.
type tailBuffer struct {
	max   int
	buf   []byte
	total int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.total += len(p)
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

// String is the output kept, prefixed as Consul's when some was dropped:
// "Captured 4096 of 10000 bytes\n...\n<tail>".
func (b *tailBuffer) String() string {
	tail := b.buf
	for len(tail) > 0 && !utf8.RuneStart(tail[0]) {
		tail = tail[1:]
	}
	if b.total > len(tail) {
		return fmt.Sprintf("Captured %d of %d bytes\n...\n%s", len(tail), b.total, tail)
	}
	return string(tail)
}

// --- thresholds ---

// statusThresholds is Consul's StatusHandler: a probe's result is reported
// only once it has repeated enough. A success (passing or warning) needs
// SuccessBeforePassing in a row; a failure reports warning after
// FailuresBeforeWarning in a row (default: FailuresBeforeCritical) and
// critical after FailuresBeforeCritical. Zero thresholds report every result.
type statusThresholds struct {
	successBeforePassing, failuresBeforeWarning, failuresBeforeCritical int
	successes, failures                                                 int
}

func newStatusThresholds(d *checkDefinition) *statusThresholds {
	t := &statusThresholds{
		successBeforePassing:   d.SuccessBeforePassing,
		failuresBeforeWarning:  d.FailuresBeforeWarning,
		failuresBeforeCritical: d.FailuresBeforeCritical,
	}
	if t.failuresBeforeWarning == 0 {
		t.failuresBeforeWarning = t.failuresBeforeCritical
	}
	return t
}

// filter returns the status to report for one probe's result, or false
// when the result is held back.
func (t *statusThresholds) filter(status string) (string, bool) {
	if status != healthCritical {
		t.successes++
		t.failures = 0
		return status, t.successes >= t.successBeforePassing
	}
	t.failures++
	t.successes = 0
	switch {
	case t.failures >= t.failuresBeforeCritical:
		return healthCritical, true
	case t.failures >= t.failuresBeforeWarning:
		return healthWarning, true
	}
	return "", false
}

// --- running ---

// checkRunner runs one check until stopped.
type checkRunner struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *checkRunner) stop() {
	r.cancel()
	<-r.done
}

// probeFunc probes once and returns the status and output.
type probeFunc func(ctx context.Context) (status, output string)

// startCheck starts the goroutine of a probed or alias check, reporting
// through report; it returns nil for kinds the agent does not run (TTL has
// its timer in agent_local.go; docker, h2ping and os_service are not built).
func (a *Agent) startCheck(id string, def *checkDefinition, report func(status, output string)) *checkRunner {
	var probe probeFunc
	switch def.checkType() {
	case "http":
		probe = func(ctx context.Context) (string, string) { return a.probeHTTP(ctx, def) }
	case "tcp":
		probe = func(ctx context.Context) (string, string) { return probeTCP(ctx, def) }
	case "udp":
		probe = func(ctx context.Context) (string, string) { return probeUDP(ctx, def) }
	case "grpc":
		probe = func(ctx context.Context) (string, string) { return a.probeGRPC(ctx, def) }
	case "script":
		probe = func(ctx context.Context) (string, string) { return probeScript(ctx, def, a.cfg.CheckOutputMaxSize) }
	case "alias":
	default:
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &checkRunner{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if probe == nil {
			a.runAlias(ctx, id, def, report)
			return
		}
		a.runProbes(ctx, id, def, probe, report)
	}()
	return r
}

// runProbes probes every Interval (at least CheckMinInterval, as Consul's
// MinInterval) after a random first pause within one interval.
func (a *Agent) runProbes(ctx context.Context, id string, def *checkDefinition, probe probeFunc, report func(status, output string)) {
	interval := time.Duration(def.Interval)
	if interval < a.cfg.CheckMinInterval {
		a.logger.Warn("check has an interval below the minimum", "check", id, "interval", interval, "minimum", a.cfg.CheckMinInterval)
		interval = a.cfg.CheckMinInterval
	}
	thresholds := newStatusThresholds(def)
	timer := time.NewTimer(randomStagger(interval))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		pctx, cancel := context.WithTimeout(ctx, def.timeout())
		status, output := probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if status, ok := thresholds.filter(status); ok {
			report(status, output)
		}
		timer.Reset(interval)
	}
}

// randomStagger is a random duration in [0, d) (Consul's lib.RandomStagger).
func randomStagger(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// --- probes ---

// checkTransports are the HTTP and gRPC transports an agent's checks share,
// one per distinct TLS setting, so that probes reuse kept-alive connections
// instead of dialling (and handshaking) each time.
type checkTransports struct {
	mu   sync.Mutex
	http map[checkTLS]*http.Transport // guarded by mu
	grpc map[checkTLS]*http.Transport // guarded by mu
}

// checkTLS is a check's TLS setting.
type checkTLS struct {
	useTLS     bool // gRPC only: HTTP checks take it from the URL
	skipVerify bool
	serverName string
}

func (k checkTLS) config() *tls.Config {
	return &tls.Config{InsecureSkipVerify: k.skipVerify, ServerName: k.serverName}
}

func (t *checkTransports) forHTTP(k checkTLS) *http.Transport {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr := t.http[k]; tr != nil {
		return tr
	}
	if t.http == nil {
		t.http = map[checkTLS]*http.Transport{}
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: defaultCheckTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     k.config(),
		MaxIdleConnsPerHost: 32, // many checks often probe one host
		IdleConnTimeout:     90 * time.Second,
	}
	t.http[k] = tr
	return tr
}

// forGRPC is an HTTP/2-only transport: over TLS, or over cleartext TCP
// (h2c, prior knowledge) as gRPC without TLS. Go's net/http speaks both
// (Transport.Protocols), so golang.org/x/net/http2 (which would bring in
// golang.org/x/text) is not needed.
func (t *checkTransports) forGRPC(k checkTLS) *http.Transport {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr := t.grpc[k]; tr != nil {
		return tr
	}
	if t.grpc == nil {
		t.grpc = map[checkTLS]*http.Transport{}
	}
	tr := &http.Transport{
		DialContext:     (&net.Dialer{Timeout: defaultCheckTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig: k.config(),
		IdleConnTimeout: 90 * time.Second,
		Protocols:       new(http.Protocols),
	}
	if k.useTLS {
		tr.Protocols.SetHTTP2(true)
	} else {
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	t.grpc[k] = tr
	return tr
}

// close drops the idle connections, at agent shutdown.
func (t *checkTransports) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tr := range t.http {
		tr.CloseIdleConnections()
	}
	for _, tr := range t.grpc {
		tr.CloseIdleConnections()
	}
}

// probeHTTP is Consul's HTTP check: 2xx passing, 429 warning, anything
// else (or no answer in time) critical. The output is Consul's
// "HTTP GET <url>: <status> Output: <body>", the body cut at the output limit.
func (a *Agent) probeHTTP(ctx context.Context, def *checkDefinition) (status, output string) {
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
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "text/plain, text/*, */*")
	}
	if host := req.Header.Get("Host"); host != "" {
		req.Host = host
	}
	client := http.Client{Transport: a.checkTransports.forHTTP(checkTLS{skipVerify: def.TLSSkipVerify, serverName: def.TLSServerName})}
	resp, err := client.Do(req)
	if err != nil {
		return healthCritical, err.Error()
	}
	defer resp.Body.Close()
	max := a.cfg.CheckOutputMaxSize
	body, _ := io.ReadAll(io.LimitReader(resp.Body, int64(max)+1))
	// Reading the rest of a moderate body lets the connection be reused.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	output = fmt.Sprintf("HTTP %s %s: %s", method, def.HTTP, resp.Status)
	if len(body) > 0 {
		text := string(body)
		if len(body) > max {
			cut := max
			for cut > 0 && !utf8.RuneStart(body[cut]) {
				cut--
			}
			text = fmt.Sprintf("%s ... (body cut at %d bytes)", body[:cut], cut)
		}
		output += " Output: " + text
	}
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

// probeUDP is Consul's UDP check: send a datagram, then passing on any
// reply or on silence until the timeout (UDP cannot tell a silent service
// from a dead one); critical on an error, such as the ICMP port-unreachable
// that a closed port answers (read back as "connection refused").
func probeUDP(ctx context.Context, def *checkDefinition) (status, output string) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", def.UDP)
	if err != nil {
		return healthCritical, err.Error()
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	defer context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })()
	if _, err := conn.Write([]byte(udpCheckPayload)); err != nil {
		return healthCritical, err.Error()
	}
	var ne net.Error
	if _, err := conn.Read(make([]byte, 1)); err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
		return healthCritical, err.Error()
	}
	return healthPassing, fmt.Sprintf("UDP connect %s: Success", def.UDP)
}

// probeScript is Consul's script check: run Args; exit 0 passing, 1
// warning, anything else critical. Stdout and stderr are kept together
// (the last max bytes). On timeout the script's whole process group is
// killed, so a stuck child cannot outlive it.
func probeScript(ctx context.Context, def *checkDefinition, max int) (status, output string) {
	args := def.Args
	if len(args) == 0 {
		args = def.ScriptArgs
	}
	cmd := exec.Command(args[0], args[1:]...)
	out := &tailBuffer{max: max}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A descendant that left the process group (setsid, a daemon) may hold
	// the output pipe open after the script ended: Wait gives up on it
	// after scriptPipeGrace instead of waiting for it forever.
	cmd.WaitDelay = scriptPipeGrace
	if err := cmd.Start(); err != nil {
		return healthCritical, err.Error()
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var err error
	select {
	case err = <-waited:
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-waited
		return healthCritical, fmt.Sprintf("Timed out (%s) running check", def.timeout())
	}
	if cmd.ProcessState == nil { // Wait failed before the script ended
		return healthCritical, err.Error()
	}
	switch cmd.ProcessState.ExitCode() {
	case 0:
		return healthPassing, out.String()
	case 1:
		return healthWarning, out.String()
	}
	return healthCritical, out.String()
}

// gRPC health checking protocol (grpc/grpc doc/health-checking.md): a
// unary call to grpc.health.v1.Health/Check over HTTP/2. The request and
// response messages have one field each, encoded here by hand
// (protobuf encoding: key = field<<3 | wire type).
const (
	grpcHealthPath    = "/grpc.health.v1.Health/Check"
	grpcServing       = 1 // HealthCheckResponse.ServingStatus SERVING
	grpcMaxResponse   = 1024
	protoLengthField1 = 1<<3 | 2 // field 1, length-delimited (the service name)
	protoVarintField1 = 1<<3 | 0 // field 1, varint (the status)
)

var grpcStatusNames = map[uint64]string{0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}

// probeGRPC is Consul's gRPC check: target "host:port" or
// "host:port/service"; passing when the server answers SERVING.
func (a *Agent) probeGRPC(ctx context.Context, def *checkDefinition) (status, output string) {
	addr, service, _ := strings.Cut(def.GRPC, "/")
	scheme := "http"
	if def.GRPCUseTLS {
		scheme = "https"
	}
	msg := binary.AppendUvarint([]byte{protoLengthField1}, uint64(len(service)))
	msg = append(msg, service...)
	frame := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg))) // uncompressed, length
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, scheme+"://"+addr+grpcHealthPath, bytes.NewReader(append(frame, msg...)))
	if err != nil {
		return healthCritical, err.Error()
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	req.Header.Set("User-Agent", "Consul Health Check")
	tr := a.checkTransports.forGRPC(checkTLS{useTLS: def.GRPCUseTLS, skipVerify: def.TLSSkipVerify, serverName: def.TLSServerName})
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return healthCritical, fmt.Sprintf("gRPC check %s: %v", def.GRPC, err)
	}
	defer resp.Body.Close()
	serving, readErr := readGRPCHealth(bufio.NewReader(io.LimitReader(resp.Body, grpcMaxResponse)))
	io.Copy(io.Discard, io.LimitReader(resp.Body, grpcMaxResponse)) // the trailers follow the message
	code := resp.Trailer.Get("Grpc-Status")
	if code == "" { // a "trailers-only" answer carries the status in the headers
		code = resp.Header.Get("Grpc-Status")
	}
	switch {
	case resp.StatusCode != http.StatusOK:
		return healthCritical, fmt.Sprintf("gRPC check %s: HTTP status %s", def.GRPC, resp.Status)
	case code != "0":
		return healthCritical, fmt.Sprintf("gRPC check %s: rpc error: code = %s desc = %s", def.GRPC, code, resp.Trailer.Get("Grpc-Message")+resp.Header.Get("Grpc-Message"))
	case readErr != nil:
		return healthCritical, fmt.Sprintf("gRPC check %s: %v", def.GRPC, readErr)
	case serving != grpcServing:
		name := grpcStatusNames[serving]
		if name == "" {
			name = fmt.Sprint(serving)
		}
		return healthCritical, fmt.Sprintf("gRPC %s serving status: %s", def.GRPC, name)
	}
	return healthPassing, fmt.Sprintf("gRPC check %s: success", def.GRPC)
}

// readGRPCHealth reads one length-prefixed gRPC message holding a
// HealthCheckResponse and returns its status (0, UNKNOWN, when absent).
func readGRPCHealth(r *bufio.Reader) (uint64, error) {
	var prefix [5]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return 0, fmt.Errorf("reading the response: %w", err)
	}
	if prefix[0] != 0 {
		return 0, errors.New("compressed response not supported")
	}
	size := binary.BigEndian.Uint32(prefix[1:]) // the server's word: bounded before allocating
	if size > grpcMaxResponse {
		return 0, errors.New("response too large")
	}
	msg := make([]byte, size)
	if _, err := io.ReadFull(r, msg); err != nil {
		return 0, fmt.Errorf("reading the response: %w", err)
	}
	var status uint64
	for len(msg) > 0 {
		key, n := binary.Uvarint(msg)
		if n <= 0 {
			return 0, errors.New("malformed response")
		}
		msg = msg[n:]
		switch key & 7 {
		case 0: // varint
			v, n := binary.Uvarint(msg)
			if n <= 0 {
				return 0, errors.New("malformed response")
			}
			msg = msg[n:]
			if key == protoVarintField1 {
				status = v
			}
		case 2: // length-delimited: an unknown field, skipped
			l, n := binary.Uvarint(msg)
			if n <= 0 || uint64(len(msg)-n) < l {
				return 0, errors.New("malformed response")
			}
			msg = msg[n+int(l):]
		default:
			return 0, errors.New("malformed response")
		}
	}
	return status, nil
}

// --- alias ---

// runAlias keeps an alias check at the worst status of what it mirrors.
// With no AliasNode it reads this agent's local state, woken by each local
// change; otherwise the catalog's view of AliasNode, through blocking reads
// of Agent.nodeCatalog, retried after a pause when they fail. The output
// quotes the failing check's, so it is cut at the output limit: two alias
// checks that mirror each other then settle instead of growing forever.
func (a *Agent) runAlias(ctx context.Context, id string, def *checkDefinition, reportFull func(status, output string)) {
	report := func(status, output string) {
		reportFull(status, truncateOutput(output, a.cfg.CheckOutputMaxSize))
	}
	if def.AliasNode == "" {
		for {
			changed := a.local.changes()
			checks, services := a.local.nodeView()
			report(aliasStatus(id, def, a.cfg.NodeName, checks, services))
			select {
			case <-ctx.Done():
				return
			case <-changed:
			}
		}
	}
	var index uint64
	for {
		view, err := a.nodeCatalog(ctx, def.AliasNode, index)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			report(healthCritical, fmt.Sprintf("Failed to query the alias target: %v", err))
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		index = view.Index
		report(aliasStatus(id, def, def.AliasNode, view.Checks, view.Services))
	}
}

// aliasStatus is Consul's alias rule: the worst status among the node's
// own checks and the aliased service's checks (passing when there are
// none); critical when the aliased service does not exist on the node.
// The alias check itself does not count.
func aliasStatus(self string, def *checkDefinition, node string, checks []*HealthCheck, services []*Service) (status, output string) {
	status, output = healthPassing, "No checks found."
	for _, c := range checks {
		if c.CheckID == self || c.ServiceID != "" && c.ServiceID != def.AliasService {
			continue
		}
		switch c.Status {
		case healthCritical, healthWarning:
			if status != healthCritical {
				status, output = c.Status, fmt.Sprintf("Aliased check %q failing: %s", c.Name, c.Output)
			}
		default:
			if status == healthPassing {
				output = "All checks passing."
			}
		}
	}
	if def.AliasService != "" {
		found := false
		for _, s := range services {
			found = found || s.ID == def.AliasService
		}
		if !found {
			return healthCritical, fmt.Sprintf("Service %s could not be found on node %s", def.AliasService, node)
		}
	}
	return status, output
}
