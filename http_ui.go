// http_ui.go: the web UI's files and the agent's root path, as Consul's
// (agent/http.go's Index and agent/uiserver): with ui_config.enabled (or
// -ui, on under -dev), "/" answers 301 to /ui/, "/ui" 307 to /ui/ (the
// mux's own redirect for a subtree, as in Consul), /robots.txt Consul's
// "Disallow: /", a file of the ui/ directory by its name under /ui/, a
// page ui/<name>.html at /ui/<name>, and any other /ui/ path the
// single-page app's index.html, whose script routes by the path. With the
// UI off, "/" answers 200 with Consul's "UI disabled" text and /ui/ paths
// 404. Any other path no endpoint claims is a 404 with Consul's "Invalid
// URL path" text.
//
// Data flow: the files are embedded in the binary (go:embed of ui/, so a
// new file there needs no Go change) and read once, when the agent's HTTP
// API is built, into uiAssets: each file's bytes, content type (by
// extension) and ETag (a hash of its bytes). A request is answered from
// memory with http.ServeContent, which honours If-None-Match (304), HEAD
// and ranges. The files are not fingerprinted (there is no build step), so
// every answer says Cache-Control: no-cache: a browser keeps the file but
// revalidates it, and an agent upgraded with a new UI is seen at once.
// The app itself (ui/app.js) talks only to the public HTTP API.
//
// Concurrency: uiAssets is built before the server starts and only read.
package main

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed ui
var uiFiles embed.FS

// uiContentPath is where the UI is served (Consul's default content_path).
const uiContentPath = "/ui/"

// uiDisabledText is Consul's answer to "/" when the UI is off.
const uiDisabledText = "Consul Agent: UI disabled. To enable, set ui_config.enabled=true in the agent configuration and restart."

// uiContentTypes are the types of the UI's own kinds of file, fixed here:
// mime.TypeByExtension reads the host's mime.types, which may say
// application/javascript, or nothing. Other extensions fall back to it.
var uiContentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".txt":  "text/plain; charset=utf-8",
	".json": "application/json",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/vnd.microsoft.icon",
}

// uiAsset is one embedded file, ready to serve.
type uiAsset struct {
	body        []byte
	contentType string
	etag        string
}

// uiAssets maps a file's path inside ui/ ("app.js") to its asset.
type uiAssets map[string]uiAsset

// loadUIAssets reads every embedded file of ui/.
func loadUIAssets() (uiAssets, error) {
	assets := uiAssets{}
	err := fs.WalkDir(uiFiles, "ui", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := uiFiles.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ctype, ok := uiContentTypes[path.Ext(p)]
		if !ok {
			ctype = cmp.Or(mime.TypeByExtension(path.Ext(p)), "application/octet-stream")
		}
		assets[strings.TrimPrefix(p, "ui/")] = uiAsset{
			body:        body,
			contentType: ctype,
			etag:        `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`,
		}
		return nil
	})
	if _, ok := assets["index.html"]; err == nil && !ok {
		err = fmt.Errorf("ui/index.html is not embedded")
	}
	return assets, err
}

// registerUI adds the root handler and, when the UI is enabled, the UI's.
func (h *httpAPI) registerUI() {
	enabled := h.a.cfg.UIEnabled
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { uiIndex(w, r, enabled) })
	if !enabled {
		return
	}
	assets, err := loadUIAssets()
	if err != nil {
		panic(err) // the binary was built without its UI files: a build error, not a runtime one
	}
	h.mux.Handle("/robots.txt", assets)
	h.mux.Handle(uiContentPath, http.StripPrefix(uiContentPath, assets))
}

// uiIndex answers the paths no endpoint claims, as Consul's Index handler.
func uiIndex(w http.ResponseWriter, r *http.Request, enabled bool) {
	switch {
	case r.URL.Path != "/":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		if strings.Contains(r.URL.Path, "/v1/") {
			fmt.Fprintln(w, "Invalid URL path: not a recognized HTTP API endpoint")
		} else {
			fmt.Fprintln(w, "Invalid URL path: if attempting to use the HTTP API, ensure the path starts with '/v1/'")
		}
	case !enabled:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, uiDisabledText)
	default:
		http.Redirect(w, r, uiContentPath, http.StatusMovedPermanently)
	}
}

// ServeHTTP serves a file of ui/ by its path below /ui/ (robots.txt at
// /robots.txt), else the page <path>.html, else index.html: the app's
// routes (/ui/dc1/kv/app/) are paths of the single-page app, as Consul's.
func (assets uiAssets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	asset, ok := assets[name]
	if !ok {
		asset, ok = assets[name+".html"]
	}
	if !ok {
		asset = assets["index.html"]
	}
	w.Header().Set("Content-Type", asset.contentType)
	w.Header().Set("ETag", asset.etag)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(asset.body))
}
