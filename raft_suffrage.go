// raft_suffrage.go: who votes in a Raft configuration. A server may be a
// non-voting member (raftServer.NonVoter): the leader replicates the log to
// it, but the core counts only voters in its quorums (commit, elections,
// read index, lease, check-quorum), and only a voter campaigns. A new
// server catches up this way before autopilot promotes it (dissertation
// §4.2.1; server_autopilot.go).
//
// Part of the pure consensus core (raft.go). Concurrency: none; methods of
// a configuration value.
package main

import "slices"

// hasVoter: id is a voting member.
func (c raftConfiguration) hasVoter(id string) bool {
	return slices.ContainsFunc(c.Servers, func(s raftServer) bool { return s.ID == id && !s.NonVoter })
}

// voters counts the voting members.
func (c raftConfiguration) voters() int {
	n := 0
	for _, s := range c.Servers {
		if !s.NonVoter {
			n++
		}
	}
	return n
}
