// agent_metrics.go: the metrics miniconsul emits, under Consul's names
// (https://developer.hashicorp.com/consul/docs/reference/agent/telemetry),
// as handles made once from the registry (agent_telemetry.go) and kept by
// the subsystem that updates them: the drivers, never the pure cores
// (raft.go and swim.go know nothing of them).
//
//	raftMetrics    raft_node.go, raft_snapshot.go: the Raft driver loop
//	gossipMetrics  swim_node.go: the gossip driver loop, per pool
//	agentMetrics   server.go (applies, RPCs served), rpc_forward.go (a
//	               client's RPCs), http.go (queries, api.http), dns.go,
//	               server_leader.go; its gauges are sampled by collect at
//	               the end of each interval
//
// Every handle method is a no-op on a nil handle, and a nil registry makes
// nil handles, so the cores' tests build drivers without one.
//
// Concurrency: the handles are set when their holder is made and only
// read after; updating them is the registry's business.
package main

import (
	"time"
)

// raftMetrics are hashicorp/raft's metrics that miniconsul's driver has.
type raftMetrics struct {
	apply           *metricCounter // raft.apply: commands proposed on the leader
	commitTime      *metricSample  // raft.commitTime: proposal to commit, on the leader
	fsmApply        *metricSample  // raft.fsm.apply: one command applied to the store
	stateLeader     *metricCounter // raft.state.leader: this server became leader
	stateCandidate  *metricCounter // raft.state.candidate: it started an election
	lastContact     *metricSample  // raft.leader.lastContact: the leader's time between a follower's answers
	snapshotCreate  *metricSample  // raft.snapshot.create: the store's snapshot taken
	snapshotPersist *metricSample  // raft.snapshot.persist: written to storage
	snapshotTake    *metricSample  // raft.snapshot.takeSnapshot: both
	fsmRestore      *metricSample  // raft.fsm.restore: a snapshot from the leader installed
}

func newRaftMetrics(t *telemetry) *raftMetrics {
	return &raftMetrics{
		apply: t.counter("raft.apply"), commitTime: t.sample("raft.commitTime"), fsmApply: t.sample("raft.fsm.apply"),
		stateLeader: t.counter("raft.state.leader"), stateCandidate: t.counter("raft.state.candidate"),
		lastContact:    t.sample("raft.leader.lastContact"),
		snapshotCreate: t.sample("raft.snapshot.create"), snapshotPersist: t.sample("raft.snapshot.persist"),
		snapshotTake: t.sample("raft.snapshot.takeSnapshot"), fsmRestore: t.sample("raft.fsm.restore"),
	}
}

// gossipMetrics are Serf's and memberlist's, labelled by network as
// Consul's (lan, wan).
type gossipMetrics struct {
	join, failed, left, flap *metricCounter // serf.member.*
	gossip                   *metricSample  // memberlist.gossip: a tick that sent gossip
	probeNode                *metricSample  // memberlist.probeNode: a probe, sent to acknowledged
	healthScore              *metricGauge   // memberlist.health.score: Lifeguard's local health
}

func newGossipMetrics(t *telemetry, network string) *gossipMetrics {
	l := metricLabel{"network", network}
	return &gossipMetrics{
		join: t.counter("serf.member.join", l), failed: t.counter("serf.member.failed", l),
		left: t.counter("serf.member.left", l), flap: t.counter("serf.member.flap", l),
		gossip: t.sample("memberlist.gossip", l), probeNode: t.sample("memberlist.probeNode", l),
		healthScore: t.gauge("memberlist.health.score", l),
	}
}

// serfFlapTimeout: a member that joins again within this long of failing
// flapped (Serf's FlapTimeout).
const serfFlapTimeout = 60 * time.Second

// agentMetrics are the rest: the servers' endpoints, RPC, DNS, the leader.
type agentMetrics struct {
	kvsApply, txnApply, catalogRegister, catalogDeregister, sessionApply *metricSample
	rpcRequest, rpcQuery, clientRPC                                      *metricCounter
	leaderReconcile                                                      *metricSample
	// Sampled by collect.
	raftLastIndex, raftAppliedIndex, isLeader, autopilotHealthy, failureTolerance *metricGauge
}

func newAgentMetrics(t *telemetry) *agentMetrics {
	return &agentMetrics{
		kvsApply: t.sample("kvs.apply"), txnApply: t.sample("txn.apply"),
		catalogRegister: t.sample("catalog.register"), catalogDeregister: t.sample("catalog.deregister"),
		sessionApply: t.sample("session.apply"),
		rpcRequest:   t.counter("rpc.request"), rpcQuery: t.counter("rpc.query"), clientRPC: t.counter("client.rpc"),
		leaderReconcile: t.sample("leader.reconcile"),
		raftLastIndex:   t.gauge("raft.last_index"), raftAppliedIndex: t.gauge("raft.applied_index"),
		isLeader: t.gauge("server.isLeader"), autopilotHealthy: t.gauge("autopilot.healthy"),
		failureTolerance: t.gauge("autopilot.failure_tolerance"),
	}
}

// applyOf is the sample a command of that type is measured in, as Consul's
// endpoints measure their Apply (KVS.Apply, Txn.Apply, Catalog.Register…);
// nil for the others.
func (m *agentMetrics) applyOf(t commandType) *metricSample {
	switch t {
	case cmdKV:
		return m.kvsApply
	case cmdTxn:
		return m.txnApply
	case cmdRegister:
		return m.catalogRegister
	case cmdDeregister:
		return m.catalogDeregister
	case cmdSession:
		return m.sessionApply
	}
	return nil
}

// collectMetrics samples the agent's gauges, at the end of each interval.
func (a *Agent) collectMetrics() {
	m := a.metrics
	if a.raft == nil {
		return
	}
	st := a.raft.raftStatus()
	m.raftLastIndex.setValue(float64(st.LastIndex))
	m.raftAppliedIndex.setValue(float64(a.raft.appliedPub.Load()))
	leader := 0.0
	if st.Role == roleLeader {
		leader = 1
	}
	m.isLeader.setValue(leader)
	if s := a.autopilot.currentState(); s != nil { // the leader's only, as Consul's
		healthy := 0.0
		if s.Healthy {
			healthy = 1
		}
		m.autopilotHealthy.setValue(healthy)
		m.failureTolerance.setValue(float64(s.FailureTolerance))
	}
}
