package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cdp is a minimal Chrome DevTools Protocol client over
// --remote-debugging-pipe: JSON messages ended by a NUL byte, chromium
// reading them on its fd 3 and writing on its fd 4. Events are skipped.
type cdp struct {
	t      *testing.T
	w      io.Writer
	r      *bufio.Reader
	nextID int
}

// startChromium starts headless chromium (skipping the test when there is
// none) and returns its DevTools client; the chromium ends with the test.
func startChromium(t *testing.T) *cdp {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (Debian's chromium package; .ci/run installs it): the UI's browser test is skipped")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a bound on a stuck browser
	toChrome, chromeIn, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	chromeOut, fromChrome, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := chromiumCommand(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir="+chromiumProfile(t),
		"--remote-debugging-pipe", "--window-size=1280,900", "--no-first-run", "about:blank")
	cmd.ExtraFiles = []*os.File{toChrome, fromChrome} // its fds 3 and 4
	if err := cmd.Start(); err != nil {
		cancel()
		t.Skipf("chromium cannot start: %v", err)
	}
	toChrome.Close()
	fromChrome.Close()
	t.Cleanup(func() {
		chromeIn.Close() // a browser whose DevTools pipe closes exits
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
		cancel() // kills the group, if it did not exit
		<-exited
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // helpers that outlived it
		chromeOut.Close()
	})
	return &cdp{t: t, w: chromeIn, r: bufio.NewReader(chromeOut)}
}

// call sends one command (to a page's session, or to the browser when
// session is "") and decodes its result into out.
func (c *cdp) call(session, method string, params, out any) {
	c.t.Helper()
	c.nextID++
	msg := map[string]any{"id": c.nextID, "method": method, "params": params}
	if session != "" {
		msg["sessionId"] = session
	}
	b, _ := json.Marshal(msg)
	if _, err := c.w.Write(append(b, 0)); err != nil {
		c.t.Fatalf("CDP %s: %v", method, err)
	}
	for {
		line, err := c.r.ReadBytes(0)
		if err != nil {
			c.t.Fatalf("CDP %s: %v", method, err)
		}
		var resp struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
			Error  *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(line[:len(line)-1], &resp); err != nil {
			c.t.Fatalf("CDP %s: %v", method, err)
		}
		if resp.ID != c.nextID {
			continue // an event
		}
		if resp.Error != nil {
			c.t.Fatalf("CDP %s: %s", method, resp.Error.Message)
		}
		if out != nil {
			if err := json.Unmarshal(resp.Result, out); err != nil {
				c.t.Fatalf("CDP %s: %v", method, err)
			}
		}
		return
	}
}

// open opens url in a new tab and returns the tab's session.
func (c *cdp) open(url string) string {
	c.t.Helper()
	var target struct{ TargetID string }
	c.call("", "Target.createTarget", map[string]any{"url": url}, &target)
	var attached struct{ SessionID string }
	c.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached)
	return attached.SessionID
}

// eval runs a JavaScript expression in the page and decodes its value.
func (c *cdp) eval(session, expr string, out any) {
	c.t.Helper()
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	c.call(session, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &res)
	if res.ExceptionDetails != nil {
		c.t.Fatalf("evaluating %s: %s %s", expr, res.ExceptionDetails.Text, res.ExceptionDetails.Exception.Description)
	}
	if out != nil && len(res.Result.Value) > 0 {
		if err := json.Unmarshal(res.Result.Value, out); err != nil {
			c.t.Fatalf("evaluating %s: %v", expr, err)
		}
	}
}

// waitFor polls a JavaScript condition until it is true.
func (c *cdp) waitFor(session, what, cond string) {
	c.t.Helper()
	eventually(c.t, 60*time.Second, what, func() (bool, string) {
		var ok bool
		var page string
		c.eval(session, "(() => { try { return !!("+cond+") } catch { return false } })()", &ok)
		c.eval(session, "location.pathname + ': ' + (document.body ? document.body.innerText.slice(0, 400) : '')", &page)
		return ok, page
	})
}

// logMetrics logs the page's weight, the bytes of the app's files (the
// page and what it loads from /ui/), and its first render: the first
// contentful paint, and the services list (its data's arrival, after which
// it renders at once), in milliseconds after the navigation began.
func (c *cdp) logMetrics(session, what string) {
	c.t.Helper()
	var m struct{ FirstPaint, Listed, Bytes, Files float64 }
	c.eval(session, `(() => {
		const all = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
		const files = all.filter(e => new URL(e.name).pathname.startsWith('/ui/'));
		const data = ['/v1/catalog/services', '/v1/health/state/any'].map(p => all.find(e => new URL(e.name).pathname === p));
		const paint = performance.getEntriesByName('first-contentful-paint')[0];
		return {FirstPaint: paint ? paint.startTime : -1, Files: files.length,
			Listed: Math.max(...data.map(e => e ? e.responseEnd : -1)),
			Bytes: files.reduce((n, e) => n + e.encodedBodySize, 0)};
	})()`, &m)
	c.t.Logf("/ui/, %s: %.0f files, %.0f bytes; first contentful paint %.0f ms, services listed %.0f ms",
		what, m.Files, m.Bytes, m.FirstPaint, m.Listed)
}

// screenshot saves the page as a PNG in dir.
func (c *cdp) screenshot(session, dir, name string) {
	c.t.Helper()
	var shot struct{ Data string }
	c.call(session, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot)
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		c.t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		c.t.Fatal(err)
	}
	c.t.Logf("screenshot: %s (%d bytes)", path, len(png))
}

// TestUIBrowser: headless Chromium loads /ui/, lists a registered service,
// creates a key through the KV page's form, and shows an API error. The
// screenshots go to $UI_SCREENSHOT_DIR (else the test's temporary
// directory); the page weight and the time to first render are logged.
func TestUIBrowser(t *testing.T) {
	t.Parallel()
	browser := startChromium(t)
	ta := startTestAgent(t, nil)
	ta.must("PUT", "/v1/agent/service/register",
		`{"Name":"web","Port":8080,"Tags":["v1","blue"],"Check":{"TTL":"30s","Notes":"the web tier"}}`, nil)
	artifacts := os.Getenv("UI_SCREENSHOT_DIR")
	if artifacts == "" {
		artifacts = t.TempDir()
	}

	page := browser.open(ta.base + "/")
	browser.waitFor(page, "the services page lists web", `document.querySelector('main a[href="/ui/dc1/services/web"]')`)
	var pathname string
	browser.eval(page, "location.pathname", &pathname)
	if pathname != "/ui/dc1/services" {
		t.Errorf("/ led to %s, want /ui/dc1/services", pathname)
	}
	browser.logMetrics(page, "cold (the browser's first page, through the redirect from /)")
	warm := browser.open(ta.base + "/ui/")
	browser.waitFor(warm, "a second tab lists web", `document.querySelector('main a[href="/ui/dc1/services/web"]')`)
	browser.logMetrics(warm, "warm (a second tab, /ui/)")
	browser.waitFor(page, "the services page shows web's check and tags",
		`document.querySelector('main').innerText.includes('1 critical') && document.querySelector('main').innerText.includes('blue')`)
	browser.screenshot(page, artifacts, "ui-services.png")

	// The service's page: its instance and check, live: a TTL pass shows up
	// without a reload (a blocking query returns).
	browser.eval(page, `document.querySelector('main a[href="/ui/dc1/services/web"]').click()`, nil)
	browser.waitFor(page, "web's page shows its check", `document.querySelector('main h2') && document.querySelector('main').innerText.includes('the web tier')`)
	ta.must("PUT", "/v1/agent/check/pass/service:web?note=all%20good", "", nil)
	browser.waitFor(page, "the check's new status and output", `document.querySelector('main').innerText.includes('all good')`)

	// Its node's page: the node's checks, services and metadata.
	browser.eval(page, `document.querySelector('main h2 a[href="/ui/dc1/nodes/node1"]').click()`, nil)
	browser.waitFor(page, "node1's page", `location.pathname === '/ui/dc1/nodes/node1' &&
		document.querySelector('main').innerText.includes('Serf Health Status') &&
		document.querySelector('main a[href="/ui/dc1/services/web"]') && document.querySelector('main').innerText.includes('consul-network-segment=')`)

	// A key created through the KV page's own form.
	browser.eval(page, `document.querySelector('nav a[data-page="kv"]').click()`, nil)
	browser.waitFor(page, "the KV page's form", `location.pathname === '/ui/dc1/kv' && document.getElementById('kv-key')`)
	browser.eval(page, `document.getElementById('kv-key').value = 'app/config';
		document.getElementById('kv-value').value = 'hello from the UI';
		document.querySelector('form button[type=submit]').click()`, nil)
	browser.waitFor(page, "the new key's page", `location.pathname === '/ui/dc1/kv/app/config/edit' && document.getElementById('kv-value').value === 'hello from the UI'`)
	if r := ta.do("GET", "/v1/kv/app/config?raw", ""); r.code != 200 || r.body != "hello from the UI" {
		t.Errorf("the key the UI created: %d %q", r.code, r.body)
	}
	browser.screenshot(page, artifacts, "ui-kv.png")

	// Edited as base64 (a check-and-set of the index the page shows), then
	// deleted (a second click confirms).
	browser.eval(page, `const mode = document.querySelector('form select');
		mode.value = 'base64'; mode.dispatchEvent(new Event('change'))`, nil)
	browser.waitFor(page, "the value as base64", `document.getElementById('kv-value').value === btoa('hello from the UI')`)
	browser.eval(page, `document.getElementById('kv-value').value = '/wA='; document.querySelector('form button[type=submit]').click()`, nil)
	eventually(t, 30*time.Second, "the UI's base64 edit", func() (bool, string) {
		r := ta.do("GET", "/v1/kv/app/config?raw", "")
		return r.body == "\xff\x00", r.body
	})
	browser.waitFor(page, "the new modify index", `document.querySelector('main dl').innerText.includes('Modify index') &&
		document.getElementById('kv-value').value === '/wA=' && document.querySelector('form select').value === 'base64'`)
	browser.eval(page, `document.querySelector('button.danger').click(); document.querySelector('button.danger').click()`, nil)
	browser.waitFor(page, "back in the app/ folder", `location.pathname === '/ui/dc1/kv/app/' && document.querySelector('main').innerText.includes('No keys here.')`)
	if r := ta.do("GET", "/v1/kv/app/config", ""); r.code != 404 {
		t.Errorf("the key the UI deleted: %d %q", r.code, r.body)
	}

	// An API error is shown with its status and body: ACLs are off here.
	browser.eval(page, `document.querySelector('nav a[data-page="acls/tokens"]').click()`, nil)
	browser.waitFor(page, "the ACL error", `document.getElementById('error').innerText.includes('401 Unauthorized: ACL support disabled')`)
	var text string
	browser.eval(page, `document.getElementById('error').innerText`, &text)
	if !strings.HasPrefix(text, "GET /v1/acl/tokens") {
		t.Errorf("the error shown: %q", text)
	}
}

// TestUIBrowserToken: with ACLs on (default deny), the pages show the
// API's 403 until a token is saved on the settings page; then every
// request carries it as X-Consul-Token: the token list loads, and an
// intention is created and deleted through the intentions page.
func TestUIBrowserToken(t *testing.T) {
	t.Parallel()
	browser := startChromium(t)
	ta := startTestAgent(t, func(cfg *Config) {
		aclOn(cfg)
		cfg.ACL.Tokens.InitialManagement = "root"
	})
	eventually(t, 30*time.Second, "the initial management token", func() bool {
		return ta.withToken("root", "GET", "/v1/acl/token/self", "").code == 200
	})

	page := browser.open(ta.base + "/ui/dc1/acls/tokens")
	browser.waitFor(page, "the anonymous token's 403", `document.getElementById('error').innerText.startsWith('GET /v1/acl/tokens?dc=dc1 → 403 Forbidden: Permission denied')`)
	browser.eval(page, `document.querySelector('nav a[href="/ui/settings"]').click()`, nil)
	browser.waitFor(page, "the settings page", `document.getElementById('token')`)
	browser.eval(page, `document.getElementById('token').value = 'root'; document.querySelector('form button[type=submit]').click()`, nil)
	browser.waitFor(page, "the token saved", `localStorage.getItem('miniconsul:token') === 'root'`)
	browser.eval(page, `document.querySelector('nav a[data-page="acls/tokens"]').click()`, nil)
	browser.waitFor(page, "the token list", `document.querySelectorAll('main tbody tr').length >= 2 && document.getElementById('error').hidden`)

	browser.eval(page, `document.querySelector('nav a[data-page="intentions"]').click()`, nil)
	browser.waitFor(page, "the intentions page", `document.getElementById('int-source')`)
	browser.eval(page, `document.getElementById('int-source').value = 'web';
		document.getElementById('int-destination').value = 'db';
		document.getElementById('int-action').value = 'deny';
		document.querySelector('form button[type=submit]').click()`, nil)
	browser.waitFor(page, "the new intention listed", `document.querySelector('main tbody') && document.querySelector('main tbody').innerText.includes('→ deny')`)
	if r := ta.withToken("root", "GET", "/v1/connect/intentions/exact?source=web&destination=db", ""); r.code != 200 || !strings.Contains(r.body, `"Action":"deny"`) {
		t.Errorf("the intention the UI created: %d %s", r.code, r.body)
	}
	browser.eval(page, `document.querySelector('main tbody button.danger').click()`, nil)
	browser.waitFor(page, "the intention gone", `document.querySelector('main').innerText.includes('No intentions.')`)
}

// chromiumCommand runs headless Chromium in a process group of its own,
// which ctx's end kills whole: the browser starts helper processes
// (zygote, renderer, utility) that would outlive a kill of the first one.
func chromiumCommand(ctx context.Context, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd
}

// chromiumProfile is a fresh user-data directory for one browser, removed
// at cleanup, after the browser's own cleanup (registered later, run
// first) has ended its processes. Its removal is retried for a while: a
// helper may still be writing there for a moment, which would fail the
// test if the directory were t.TempDir's.
func chromiumProfile(t testing.TB) string {
	dir, err := os.MkdirTemp("", "miniconsul-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 100 { // 10 s at most
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("chromium's profile %s could not be removed", dir)
	})
	return dir
}
