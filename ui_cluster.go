// ui_cluster.go: serves the live teaching view, /ui/cluster: a page of
// plain HTML, CSS and JavaScript (ui/cluster.html, .js, .css), embedded in
// the binary, which shows every server's Raft state, the gossip pools, the
// agent's timeline of protocol events and the teaching controls, all from
// the endpoints of http_cluster.go, live (a blocking query on the timeline,
// the states polled once a second and at each new event).
//
// Concurrency: none; the files are read-only, embedded at build time.
package main

import (
	"embed"
	"net/http"
)

//go:embed ui/cluster.html ui/cluster.js ui/cluster.css
var clusterUIFiles embed.FS

// registerClusterUI serves the page at /ui/cluster and its two assets.
func (h *httpAPI) registerClusterUI() {
	for path, file := range map[string]string{
		"/ui/cluster":     "ui/cluster.html",
		"/ui/cluster.js":  "ui/cluster.js",
		"/ui/cluster.css": "ui/cluster.css",
	} {
		h.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				w.Header().Set("Allow", "GET, HEAD")
				writeError(w, &httpError{http.StatusMethodNotAllowed, "method " + r.Method + " not allowed"})
				return
			}
			http.ServeFileFS(w, r, clusterUIFiles, file)
		})
	}
}
