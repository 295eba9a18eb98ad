// ui_cluster_test.go: the live teaching view in a real browser: headless
// Chromium (Debian's chromium; skipped, saying so, when it is absent)
// loads /ui/cluster from a follower of a 3-server cluster and shows the
// leader; after a leadership transfer, it shows the new one, and the
// follower's timeline. Screenshots are kept as artifacts outside git, in
// $MINICONSUL_ARTIFACTS or else <tmp>/miniconsul-artifacts.
package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// clusterViewBrowser finds the browser, or skips the test.
func clusterViewBrowser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Skip("headless Chromium not found (Debian: apt-get install chromium): the browser test of /ui/cluster is skipped")
	return ""
}

// clusterViewArtifacts is the directory screenshots are kept in.
func clusterViewArtifacts(t *testing.T) string {
	dir := os.Getenv("MINICONSUL_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "miniconsul-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browseClusterView runs headless Chromium on url for a few seconds of the page's
// (virtual) time, and returns the DOM it built; with shot, it also saves
// a screenshot there. The page polls (?wait=0): a headless browser's
// virtual time stands still while a blocking query is open.
func browseClusterView(t *testing.T, browser, url, shot string) string {
	t.Helper()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + chromiumProfile(t),
		"--window-size=1400,1300", "--virtual-time-budget=3000"}
	if shot != "" {
		args = append(args, "--screenshot="+shot)
	} else {
		args = append(args, "--dump-dom")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := chromiumCommand(ctx, browser, append(args, url)...)
	out, err := cmd.Output()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // helpers that outlived it
	}
	if err != nil {
		t.Fatalf("chromium %s: %v", url, err)
	}
	return string(out)
}

var clusterViewLeader = regexp.MustCompile(`id="servers" class="cards" data-leader="([^"]*)"`)

func TestUIClusterViewInChromium(t *testing.T) {
	t.Parallel()
	browser := clusterViewBrowser(t)
	c := startTestClusterWith(t, 3, func(cfg *Config) { cfg.EnableDebug = true })
	leader := c.waitLeader(15 * time.Second)
	page := c.follower(leader)
	url := page.base + "/ui/cluster?wait=0"
	for _, asset := range []string{"/ui/cluster", "/ui/cluster.js", "/ui/cluster.css"} {
		if r := page.do("GET", asset, ""); r.code != http.StatusOK || len(r.body) < 500 {
			t.Fatalf("GET %s: %d, %d bytes", asset, r.code, len(r.body))
		}
	}

	shown := func() string {
		m := clusterViewLeader.FindStringSubmatch(browseClusterView(t, browser, url, ""))
		if m == nil {
			return ""
		}
		return m[1]
	}
	first := c.agents[leader].cfg.NodeName
	eventually(t, 60*time.Second, "the page shows the leader "+first, func() (bool, string) {
		got := shown()
		return got == first, "shows " + got
	})
	dir := clusterViewArtifacts(t)
	browseClusterView(t, browser, url, filepath.Join(dir, "cluster-before-transfer.png"))

	c.agents[leader].must("POST", "/v1/operator/raft/transfer-leader", "", nil)
	eventually(t, 60*time.Second, "the page shows another leader", func() (bool, string) {
		got := shown()
		return got != "" && got != first, "shows " + got
	})
	dom := browseClusterView(t, browser, url, "")
	if !strings.Contains(dom, `data-type="follower"`) || !strings.Contains(dom, `data-role="leader"`) ||
		!strings.Contains(dom, "Raft §5.2") {
		t.Fatalf("the page after the transfer lacks the timeline or the cards:\n%s", dom)
	}
	browseClusterView(t, browser, url, filepath.Join(dir, "cluster-after-transfer.png"))
	t.Logf("screenshots in %s", dir)
}
