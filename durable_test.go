package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// writeFileAtomic replaces the file whole, and a failed write leaves the old
// one and no temp file.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	write := func(s string, err error) error {
		return writeFileAtomic(path, path+".tmp", func(w io.Writer) error {
			io.WriteString(w, s)
			return err
		})
	}
	if err := write("one", nil); err != nil {
		t.Fatal(err)
	}
	if err := write("two", nil); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := write("three", boom); err != boom {
		t.Fatalf("got %v, want the write's error", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "two" {
		t.Fatalf("file holds %q (%v), want the last complete write", b, err)
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temp file left behind: %v", err)
	}
	if err := syncDir(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("syncDir of a missing directory succeeded")
	}
}
