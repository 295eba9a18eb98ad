// agent_restore.go: PUT /v1/snapshot, a snapshot of any size the store can
// hold restored from any agent, never held whole in memory on its way.
//
// Data flow:
//
//	HTTP body → spoolSnapshot: streamed to a file in data_dir/snapshot-restore
//	  (openSpoolDir), checked as it arrives, up to
//	  limits.snapshot_restore_max_size: the magic first (a body that is not a
//	  snapshot is refused at its first bytes), then on the leader every
//	  record, read into the state it will install (readSnapshot), on any
//	  other agent the trailing SHA-256 only, in constant memory (checkSnapshot)
//	→ on the leader: raftNode.restoreUserSnapshot (raft_restore.go) installs
//	  the file as the Raft snapshot, and the state already read from it
//	→ on a follower, or a client agent: pushSnapshot sends the file in
//	  snapshotChunkSize pieces, one "Snapshot.Restore" call each, to the
//	  leader (from a client: to its server), whose receiveSnapshotChunk
//	  feeds them through a pipe to its own spoolSnapshot, and on the last
//	  one restores from its own spool, as if the body had come to it.
//
// Errors are Consul's where the formats allow: anything that is not a
// valid snapshot is a 500 "failed to read snapshot file: …" (a Consul
// snapshot, a gzip stream, is named as such), a body over the limit a 413.
//
// Concurrency: a restore runs on its request's goroutine. An upload being
// received is owned by the chunk calls, which the sender makes one at a
// time (u.mu serializes them anyway), and by its spooling goroutine; the
// set of uploads is guarded by snapshotUploads.mu. An upload that hears
// nothing for snapshotUploadIdle is aborted and its file removed.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

const (
	rpcSnapshotRestore = "Snapshot.Restore"
	// snapshotUploadIdle: how long an upload waits for its next chunk.
	snapshotUploadIdle = time.Minute
	// maxSnapshotUploads bounds the restores being uploaded at once (each
	// a spool file and, on the leader, a state being built): a restore is
	// exclusive anyway, and a retry may overlap an abandoned attempt.
	maxSnapshotUploads = 2
)

// errConsulSnapshot: what a Consul snapshot (a gzip stream) gets.
var errConsulSnapshot = fmt.Errorf("%w: a gzip stream, as Consul's snapshots are; miniconsul restores only its own (GET /v1/snapshot)", errCorruptSnapshot)

// spoolReader counts what a body gives, stops it at the limit, keeps its
// first bytes, and keeps the error that ended it, which readSnapshot only
// sees as "truncated".
type spoolReader struct {
	r        io.Reader
	n, limit int64
	head     []byte
	err      error
}

func (s *spoolReader) Read(p []byte) (int, error) {
	if s.n >= s.limit {
		// At the limit: only the end of the body may follow.
		var probe [1]byte
		k, err := s.r.Read(probe[:])
		if k == 0 && err != nil {
			return 0, err
		}
		s.err = &httpError{http.StatusRequestEntityTooLarge,
			fmt.Sprintf("snapshot larger than limits.snapshot_restore_max_size (%d bytes)", s.limit)}
		return 0, s.err
	}
	k, err := s.r.Read(p[:min(int64(len(p)), s.limit-s.n)])
	s.n += int64(k)
	if len(s.head) < 2 {
		s.head = append(s.head, p[:min(k, 2-len(s.head))]...)
	}
	if err != nil && err != io.EOF {
		s.err = err
	}
	return k, err
}

// spoolSnapshot streams r into a new file in dir, checking it as a
// snapshot on the way, and returns the file's path and, with parse, the
// state it holds (without: its checksum only, in constant memory, for an
// agent that passes it on). On any error the file is gone.
func spoolSnapshot(r io.Reader, dir string, limit int64, parse bool) (path string, st *state, err error) {
	f, err := os.CreateTemp(dir, "restore-*.snap")
	if err != nil {
		return "", nil, err
	}
	sr := &spoolReader{r: r, limit: limit}
	if parse {
		st, err = readSnapshot(io.TeeReader(sr, f))
	} else {
		err = checkSnapshot(io.TeeReader(sr, f))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		switch {
		case sr.err != nil:
			return "", nil, sr.err
		case bytes.Equal(sr.head, []byte{0x1f, 0x8b}):
			err = errConsulSnapshot
		}
		return "", nil, fmt.Errorf("failed to read snapshot file: %w", err)
	}
	return f.Name(), st, nil
}

// openSpoolDir prepares the directory restores and received snapshots are
// written to: data_dir/snapshot-restore, on the file system of the Raft
// storage (a finished file is renamed into it), emptied of what a crash
// left there; without a data dir, a temp dir of the agent's own, removed
// at shutdown.
func openSpoolDir(cfg *Config) (string, error) {
	if cfg.DevMode || cfg.DataDir == "" {
		return os.MkdirTemp("", "miniconsul-spool-")
	}
	dir := filepath.Join(cfg.DataDir, "snapshot-restore")
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	return dir, os.MkdirAll(dir, 0o700)
}

// restoreSnapshot replaces the state with the snapshot r streams (PUT
// /v1/snapshot): all or nothing, from any agent.
func (a *Agent) restoreSnapshot(ctx context.Context, r io.Reader) error {
	path, st, err := spoolSnapshot(r, a.spool, int64(a.cfg.SnapshotRestoreMaxSize), a.leads())
	if err != nil {
		return err
	}
	defer os.Remove(path)
	return a.restoreSpooled(ctx, path, st)
}

// leads: this agent is the leader, which installs the snapshot it spools
// (and needs its state); any other agent passes it on.
func (a *Agent) leads() bool { return a.cfg.Server && a.raft.isLeader() }

// restoreSpooled restores the checked snapshot at path, whose state is st
// (nil when it was only checked): on the leader through Raft, otherwise by
// sending it on (to the leader, or from a client to its server).
func (a *Agent) restoreSpooled(ctx context.Context, path string, st *state) error {
	if !a.cfg.Server {
		addr := a.router.pick(nil)
		if addr == "" {
			return errNoServers
		}
		return a.pushSnapshot(ctx, addr, path)
	}
	hold := time.NewTimer(rpcHoldTimeout)
	defer hold.Stop()
	for {
		changed := a.raft.changed()
		if a.raft.isLeader() {
			err := a.restoreLocal(ctx, path, st)
			if !errors.Is(err, errNotLeader) && !errors.Is(err, errTransferring) {
				return err
			}
		} else if addr := a.raft.leaderAddr(); addr != "" && addr != a.serverAddr() {
			return a.pushSnapshot(ctx, addr, path)
		}
		select {
		case <-changed:
		case <-time.After(50 * time.Millisecond): // the leader is stepping down, and we may not know yet
		case <-hold.C:
			return errNoLeader
		case <-ctx.Done():
			return ctx.Err()
		case <-a.shutdownCh:
			return errRaftStopped
		}
	}
}

// restoreLocal is the leader's part: install, then, since the restored
// state was written elsewhere, rebuild what the leader keeps beside it.
func (a *Agent) restoreLocal(ctx context.Context, path string, st *state) error {
	start := time.Now()
	f, size, err := openSpooled(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if st == nil { // it became the leader after the snapshot was spooled
		if st, err = readSnapshot(f); err != nil {
			return fmt.Errorf("failed to read snapshot file: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, snapshotTimeout(size))
	defer cancel()
	index, err := a.raft.restoreUserSnapshot(ctx, path, st)
	if err != nil {
		return err
	}
	a.logger.Info("restored state from a snapshot; a quorum holds it", "index", index,
		"duration", time.Since(start).Round(time.Millisecond))
	a.sessions.clearAll()
	a.sessions.rebuild()
	a.reconcileAll() // the pool's members and their serfHealth, as they are now
	// The restored catalog may lack this agent's own registrations: put them
	// back, as anti-entropy would.
	return a.syncSelf()
}

// openSpooled opens the spooled snapshot at path, with its size.
func openSpooled(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// pushSnapshot sends the snapshot file at path to the server at addr in
// chunks, each one "Snapshot.Restore" call, and returns that server's
// answer to the last, which comes once it has restored it.
func (a *Agent) pushSnapshot(ctx context.Context, addr, path string) error {
	f, size, err := openSpooled(path)
	if err != nil {
		return err
	}
	defer f.Close()
	a.logger.Info("sending the snapshot to restore to a server", "server", addr, "bytes", size)
	id, buf := newUUID(), make([]byte, snapshotChunkSize)
	for offset := uint64(0); ; {
		k, err := io.ReadFull(f, buf)
		last := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !last {
			return err
		}
		c := snapshotUploadChunk{ID: id, Offset: offset, Last: last, Data: buf[:k]}
		callCtx, cancel := context.WithTimeout(ctx, snapshotTimeout(size))
		_, err = a.pool.call(callCtx, addr, rpcSnapshotRestore, c.encode())
		cancel()
		if err != nil {
			return fmt.Errorf("sending the snapshot to %s: %w", addr, remoteError(err))
		}
		if last {
			return nil
		}
		offset += uint64(k)
	}
}

// snapshotUploadChunk is one "Snapshot.Restore" call: a piece of the
// snapshot upload ID at Offset; Last ends it.
//
//	uvarint offset, byte last (0 or 1), bytes id, bytes data
type snapshotUploadChunk struct {
	ID     string
	Offset uint64
	Last   bool
	Data   []byte
}

func (c *snapshotUploadChunk) encode() []byte {
	b := make([]byte, 0, len(c.Data)+64)
	b = appendUvarints(b, c.Offset)
	last := byte(0)
	if c.Last {
		last = 1
	}
	b = append(b, last)
	b = appendString(b, c.ID)
	return appendBytes(b, c.Data)
}

func decodeSnapshotUploadChunk(p []byte) (snapshotUploadChunk, error) {
	r := newFrameReader(p)
	c := snapshotUploadChunk{Offset: r.uvarint()}
	last := r.byte()
	c.ID, c.Data = string(r.bytes()), r.bytes()
	c.Last = last == 1
	if r.err == nil && (last > 1 || len(r.b) > 0 || c.ID == "") {
		r.err = errors.New("bad flag, empty id or trailing bytes")
	}
	if r.err != nil {
		return c, fmt.Errorf("snapshot chunk: %w", r.err)
	}
	return c, nil
}

// snapshotUploads are the uploads a server is receiving, by ID.
type snapshotUploads struct {
	mu sync.Mutex
	m  map[string]*snapshotUpload
}

// snapshotUpload is one: its chunks go through pw to the goroutine that
// spools them, which sets path, st and err and closes done.
type snapshotUpload struct {
	mu     sync.Mutex // one chunk at a time
	offset uint64     // the next chunk's
	pw     *io.PipeWriter
	idle   *time.Timer
	done   chan struct{}
	path   string
	st     *state
	err    error
}

// receiveSnapshotChunk serves "Snapshot.Restore": the first chunk starts an
// upload, the last one restores it (see the file comment).
func (a *Agent) receiveSnapshotChunk(ctx context.Context, body []byte) error {
	c, err := decodeSnapshotUploadChunk(body)
	if err != nil {
		return err
	}
	a.uploads.mu.Lock()
	u := a.uploads.m[c.ID]
	if u == nil && c.Offset == 0 && len(a.uploads.m) >= maxSnapshotUploads {
		a.uploads.mu.Unlock()
		return fmt.Errorf("snapshot upload %s refused: %d restores are being uploaded already", c.ID, maxSnapshotUploads)
	}
	if u == nil && c.Offset == 0 {
		u = a.startUpload(c.ID)
		if a.uploads.m == nil {
			a.uploads.m = map[string]*snapshotUpload{}
		}
		a.uploads.m[c.ID] = u
	}
	a.uploads.mu.Unlock()
	if u == nil {
		return fmt.Errorf("snapshot upload %s: no such upload (it failed, or was abandoned)", c.ID)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if c.Offset != u.offset {
		why := fmt.Errorf("chunk at offset %d, expected %d", c.Offset, u.offset)
		a.abortUpload(c.ID, u, why)
		return fmt.Errorf("snapshot upload %s: %w", c.ID, why)
	}
	u.idle.Reset(snapshotUploadIdle)
	if _, err := u.pw.Write(c.Data); err != nil {
		<-u.done
		a.forgetUpload(c.ID, u)
		if u.err != nil {
			return u.err
		}
		return err
	}
	u.offset += uint64(len(c.Data))
	if !c.Last {
		return nil
	}
	u.pw.Close()
	<-u.done
	if !a.forgetUpload(c.ID, u) {
		return fmt.Errorf("snapshot upload %s: aborted while it ended (no chunk for %v)", c.ID, snapshotUploadIdle)
	}
	if u.err != nil {
		return u.err
	}
	defer os.Remove(u.path)
	return a.restoreSpooled(ctx, u.path, u.st)
}

// startUpload starts spooling an upload's chunks as they come.
func (a *Agent) startUpload(id string) *snapshotUpload {
	pr, pw := io.Pipe()
	u := &snapshotUpload{pw: pw, done: make(chan struct{})}
	u.idle = time.AfterFunc(snapshotUploadIdle, func() {
		a.abortUpload(id, u, fmt.Errorf("no chunk for %v", snapshotUploadIdle))
	})
	go func() {
		defer close(u.done)
		u.path, u.st, u.err = spoolSnapshot(pr, a.spool, int64(a.cfg.SnapshotRestoreMaxSize), a.leads())
		if u.err != nil {
			pr.CloseWithError(u.err) // the chunk being written fails with it
		} else {
			pr.CloseWithError(errors.New("data after the end of the snapshot"))
		}
	}()
	return u
}

// abortUpload ends an upload that will not complete; its spool goes.
// Whoever forgets the upload first owns its end: an abort that comes too
// late (the last chunk is being restored) does nothing.
func (a *Agent) abortUpload(id string, u *snapshotUpload, why error) {
	if !a.forgetUpload(id, u) {
		return
	}
	a.logger.Warn("snapshot upload aborted", "upload", id, "error", why)
	u.pw.CloseWithError(fmt.Errorf("snapshot upload aborted: %w", why))
	go func() {
		<-u.done
		if u.err == nil {
			os.Remove(u.path)
		}
	}()
}

// forgetUpload takes the upload out of the table, and says whether this
// call did.
func (a *Agent) forgetUpload(id string, u *snapshotUpload) bool {
	u.idle.Stop()
	a.uploads.mu.Lock()
	defer a.uploads.mu.Unlock()
	if a.uploads.m[id] != u {
		return false
	}
	delete(a.uploads.m, id)
	return true
}
