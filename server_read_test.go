// server_read_test.go: reads that share a read index (server_read.go)
// still see every write acknowledged before they began.
package main

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSharedReadIndexSeesAcknowledgedWrites: while the leader takes a
// stream of writes, concurrent default and ?consistent reads on a follower
// (which gather into shared rounds) never return a value older than the
// last write acknowledged before the read was sent.
func TestSharedReadIndexSeesAcknowledgedWrites(t *testing.T) {
	t.Parallel()
	c := startTestCluster(t, 3)
	leader := c.waitLeader(15 * time.Second)
	follower := c.follower(leader)
	c.agents[leader].must("PUT", "/v1/kv/counter", "0", nil)
	var acked atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 8 {
		mode := []string{"", "?consistent"}[i%2]
		wg.Go(func() {
			for reads := 0; ; reads++ {
				select {
				case <-stop:
					return
				default:
				}
				before := acked.Load()
				resp, err := http.Get(follower.base + "/v1/kv/counter" + map[string]string{"": "?raw", "?consistent": "?consistent&raw"}[mode])
				if err != nil {
					t.Errorf("read %d%s: %v", reads, mode, err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				got, err := strconv.ParseInt(string(body), 10, 64)
				if resp.StatusCode != 200 || err != nil || got < before {
					t.Errorf("read %d%s after write %d acknowledged: %d %q", reads, mode, before, resp.StatusCode, body)
					return
				}
			}
		})
	}
	for i := int64(1); i <= 60; i++ {
		var ok bool
		c.agents[leader].must("PUT", "/v1/kv/counter", fmt.Sprint(i), &ok)
		if !ok {
			t.Fatalf("write %d refused", i)
		}
		acked.Store(i)
	}
	close(stop)
	wg.Wait()
}
