// durable.go: the one durable-write helper, shared by every layer that
// keeps a file: the Raft state file and snapshots (raft_wal.go), a staged
// restore (raft_restore.go), the node ID (agent.go), the gossip keyring
// (serf_keyring.go) and the agent's kept service and check definitions
// (agent_persist.go).
//
// Data flow: writeFileAtomic writes a file's new contents to a temp file
// beside it, fsyncs and closes it, renames it over the file and fsyncs the
// directory, so that a reader, or a crash at any point, finds the old file
// or the new one, never a mix, and the new name survives a power loss.
// syncAndClose and syncDir are its steps, for the callers that write a file
// their own way (the WAL's segments, a received snapshot) and then make it
// durable.
//
// Concurrency: none. Each call works on the files it is given; callers
// writing the same path serialize themselves (the Raft driver's goroutine,
// the keyring's and the agent's persist mutexes).
package main

import (
	"io"
	"os"
	"path/filepath"
)

// syncAndClose fsyncs and closes f, unless err already says a step before failed.
func syncAndClose(f *os.File, err error) error {
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeFileAtomic replaces path with what write produces, through the
// temp file tmp: a reader, or a crash, sees the old file or the new one,
// never a mix.
func writeFileAtomic(path, tmp string, write func(io.Writer) error) error {
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = syncAndClose(f, write(f))
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir fsyncs a directory, making the names created, renamed or
// removed in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return syncAndClose(d, nil)
}
