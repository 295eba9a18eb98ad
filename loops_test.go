package main

import (
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// every calls fn on each tick and returns once stop closes; everyOrWhen
// also calls it on a kick.
func TestEvery(t *testing.T) {
	stop, kick := make(chan struct{}), make(chan struct{})
	calls := make(chan time.Time, 16)
	done := make(chan struct{})
	go func() {
		everyOrWhen(stop, time.Hour, kick, func(now time.Time) { calls <- now })
		close(done)
	}()
	kick <- struct{}{}
	select {
	case <-calls:
	case <-time.After(5 * time.Second):
		t.Fatal("a kick did not call fn")
	}
	close(stop)
	<-done

	stop = make(chan struct{})
	var n atomic.Int32
	done = make(chan struct{})
	go func() {
		every(stop, time.Millisecond, func(time.Time) {
			if n.Add(1) == 3 {
				close(stop)
			}
		})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("every did not stop")
	}
}

// acceptConns hands over each connection and returns when the listener
// closes.
func TestAcceptConns(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan net.Conn, 1)
	done := make(chan struct{})
	go func() {
		acceptConns(ln, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), "accepting", func(c net.Conn) bool {
			got <- c
			return true
		})
		close(done)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	(<-got).Close()
	ln.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("acceptConns did not return once the listener closed")
	}
}
