package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// uiGet requests path without following redirects.
func uiGet(t *testing.T, ta *testAgent, method, path string, header http.Header) response {
	t.Helper()
	req, err := http.NewRequest(method, ta.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

// TestUIRoutes: Consul's redirects, the app's index for every /ui/ path,
// the files with their content types and caching headers, and Consul's
// answers for paths no endpoint has (checked against Consul 1.22.7).
func TestUIRoutes(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil) // -dev: the UI is on
	const index = `<script src="/ui/app.js" defer>`
	for _, tc := range []struct {
		method, path string
		code         int
		location     string // a redirect's
		contentType  string
		body         string // a part of the body
	}{
		{"GET", "/", 301, "/ui/", "text/html; charset=utf-8", `<a href="/ui/">Moved Permanently</a>`},
		{"POST", "/", 301, "/ui/", "", ""},
		{"GET", "/ui", 307, "/ui/", "text/html; charset=utf-8", `<a href="/ui/">Temporary Redirect</a>`},
		{"GET", "/ui/", 200, "", "text/html; charset=utf-8", index},
		{"GET", "/ui/dc1/services", 200, "", "text/html; charset=utf-8", index},
		{"GET", "/ui/dc1/kv/app/config/edit", 200, "", "text/html; charset=utf-8", index},
		{"GET", "/ui/assets/missing.js", 200, "", "text/html; charset=utf-8", index},
		{"GET", "/ui/index.html", 200, "", "text/html; charset=utf-8", index},
		{"GET", "/ui/app.js", 200, "", "text/javascript; charset=utf-8", "'use strict';"},
		{"GET", "/ui/style.css", 200, "", "text/css; charset=utf-8", ":root {"},
		{"GET", "/robots.txt", 200, "", "text/plain; charset=utf-8", "User-agent: *\nDisallow: /\n"},
		{"HEAD", "/ui/app.js", 200, "", "text/javascript; charset=utf-8", ""},
		{"GET", "/foo", 404, "", "text/plain; charset=utf-8",
			"Invalid URL path: if attempting to use the HTTP API, ensure the path starts with '/v1/'\n"},
		{"GET", "/v1/nope", 404, "", "text/plain; charset=utf-8", "Invalid URL path: not a recognized HTTP API endpoint\n"},
	} {
		r := uiGet(t, ta, tc.method, tc.path, nil)
		if r.code != tc.code || r.header.Get("Location") != tc.location || r.header.Get("Content-Type") != tc.contentType ||
			!strings.Contains(r.body, tc.body) {
			t.Errorf("%s %s: %d, Location %q, Content-Type %q, body %.80q; want %d, %q, %q, containing %q", tc.method, tc.path,
				r.code, r.header.Get("Location"), r.header.Get("Content-Type"), r.body, tc.code, tc.location, tc.contentType, tc.body)
		}
		if tc.code == 200 && (r.header.Get("Cache-Control") != "no-cache" || r.header.Get("ETag") == "") {
			t.Errorf("%s %s: Cache-Control %q, ETag %q: want no-cache and an ETag", tc.method, tc.path,
				r.header.Get("Cache-Control"), r.header.Get("ETag"))
		}
	}

	// A browser revalidating a file it holds gets 304 and no body.
	etag := uiGet(t, ta, "GET", "/ui/app.js", nil).header.Get("ETag")
	if r := uiGet(t, ta, "GET", "/ui/app.js", http.Header{"If-None-Match": {etag}}); r.code != 304 || r.body != "" {
		t.Errorf("revalidating app.js: %d %q, want 304 and no body", r.code, r.body)
	}
	if r := uiGet(t, ta, "GET", "/ui/app.js", http.Header{"If-None-Match": {`"stale"`}}); r.code != 200 {
		t.Errorf("app.js with a stale ETag: %d, want 200", r.code)
	}
}

// TestUIDisabled: with ui_config.enabled false, "/" says so (200, as
// Consul's) and the UI's paths are 404s.
func TestUIDisabled(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, func(c *Config) { c.UIEnabled = false })
	for _, tc := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/", 200, uiDisabledText},
		{"DELETE", "/", 200, uiDisabledText},
		{"GET", "/ui", 404, "Invalid URL path: if attempting to use the HTTP API, ensure the path starts with '/v1/'\n"},
		{"GET", "/ui/", 404, "Invalid URL path: if attempting to use the HTTP API, ensure the path starts with '/v1/'\n"},
		{"GET", "/ui/app.js", 404, "Invalid URL path: if attempting to use the HTTP API, ensure the path starts with '/v1/'\n"},
		{"GET", "/robots.txt", 404, "Invalid URL path: if attempting to use the HTTP API, ensure the path starts with '/v1/'\n"},
	} {
		if r := uiGet(t, ta, tc.method, tc.path, nil); r.code != tc.code || r.body != tc.body {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, r.code, r.body, tc.code, tc.body)
		}
	}
}

// TestUIConfig: ui_config.enabled, the legacy ui key (ui_config wins in
// one file, as Consul's builder), the -ui flag, and -dev's default.
func TestUIConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		files []string
		args  []string
		want  bool
	}{
		{"default", nil, []string{"-data-dir", "/tmp/x"}, false},
		{"dev", nil, []string{"-dev"}, true},
		{"dev, disabled", []string{`{"ui_config": {"enabled": false}}`}, []string{"-dev"}, false},
		{"ui_config", []string{`{"ui_config": {"enabled": true, "content_path": "/ui/"}}`}, []string{"-data-dir", "/tmp/x"}, true},
		{"legacy ui", []string{`{"ui": true}`}, []string{"-data-dir", "/tmp/x"}, true},
		{"ui_config beats ui", []string{`{"ui": true, "ui_config": {"enabled": false}}`}, []string{"-dev"}, false},
		{"a later file", []string{`{"ui_config": {"enabled": true}}`, `{"ui": false}`}, []string{"-data-dir", "/tmp/x"}, false},
		{"-ui", nil, []string{"-data-dir", "/tmp/x", "-ui"}, true},
		{"-ui beats files", []string{`{"ui_config": {"enabled": false}}`}, []string{"-data-dir", "/tmp/x", "-ui"}, true},
	} {
		cfg, _, err := loadConfigFixtures(t, tc.files, tc.args...)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
		} else if cfg.UIEnabled != tc.want {
			t.Errorf("%s: UIEnabled %v, want %v", tc.name, cfg.UIEnabled, tc.want)
		}
	}
	if _, _, err := loadConfigFixtures(t, []string{`{"ui_config": {"enabled": "yes"}}`}, "-dev"); err == nil ||
		!strings.Contains(err.Error(), `"ui_config.enabled"`) {
		t.Errorf("a bad ui_config.enabled: %v, want an error naming it", err)
	}
}

// TestUIAssets: every embedded file is served with a content type, so a
// file added to ui/ needs no Go change.
func TestUIAssets(t *testing.T) {
	t.Parallel()
	assets, err := loadUIAssets()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"index.html", "app.js", "style.css", "robots.txt"} {
		if a, ok := assets[name]; !ok || a.contentType == "" || len(a.body) == 0 {
			t.Errorf("%s: embedded %v, content type %q", name, ok, a.contentType)
		}
	}
}
