// serf_wan.go: the servers' WAN gossip pool (Consul's Serf WAN pool). Every
// server of every datacenter is a member, so a server knows the servers of
// the other datacenters, whether they are alive, and their RPC addresses:
// the layer above forwards a request for another datacenter to one of them
// (dcServers), and /v1/catalog/datacenters lists what the pool knows.
//
// A server's WAN member is named <node>.<dc>, as Consul's, with the tags of
// its LAN member (role consul, dc, port = its server RPC port, id, build,
// raft_vsn, bootstrap/expect…) less the LAN's network segment. The pool
// runs on the serf_wan port (8302) with the gossip_wan timing (memberlist's
// DefaultWANConfig: probe 5 s, timeout 3 s, suspicion ×6, gossip 500 ms to
// 4; faster under -dev, as Consul's), and its own keyring,
// <data_dir>/serf/remote.keyring, seeded with the -encrypt key, as Consul's.
//
// Data flow: the gossip driver (swim_node.go over swim.go) publishes the
// membership; readers take it as last published (gossipPool.Members, an
// atomic snapshot): dcServers, datacenters and /v1/agent/members?wan. The
// pool's events are only logged (handleWANEvents): nothing goes into the
// catalog, which holds the local datacenter alone. Joining: -retry-join-wan
// addresses are tried until another member is known (retryJoin, serf_lan.go),
// and PUT /v1/agent/join/<addr>?wan joins now. As Consul's, the servers of
// a datacenter flood-join: each announces its WAN port on the LAN
// (wan_join_port), and a server joins the WAN through any server of its
// datacenter the LAN pool knows and the WAN pool does not, so one of them
// joined to the WAN is enough. A graceful leave (serf_lan.go) leaves the WAN
// pool before the LAN pool; Shutdown stops it without a leave, as a crash
// would look.
//
// Concurrency: no state beyond the pool, which the agent sets in newAgent
// and never changes; one goroutine (handleWANEvents) drains the pool's
// events and does the flood joins, one retries the join; handleLANEvents
// signals LAN changes through the one-slot wanFlood channel.
package main

import (
	"errors"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"time"
)

// wanTags are what this server announces to the WAN pool.
func (a *Agent) wanTags() map[string]string {
	tags := a.memberTags()
	delete(tags, "segment")       // network segments divide a LAN pool only
	delete(tags, "wan_join_port") // a LAN tag, for the flood joins
	return tags
}

// startWAN joins this server to the WAN pool.
func (a *Agent) startWAN() error {
	sc := swimWANConfig()
	a.cfg.GossipWAN.applyTo(&sc)
	sc.Name, sc.Tags = a.cfg.NodeName+"."+a.cfg.Datacenter, a.wanTags()
	wan, err := a.openPool("wan", "remote.keyring", sc, a.cfg.Ports.SerfWAN)
	if err != nil {
		return err
	}
	a.wanPool.Store(wan)
	// Announce the WAN port on the LAN, so the other servers of this
	// datacenter can flood-join this one.
	if err := a.lan().SetTags(a.memberTags()); err != nil {
		return err
	}
	a.wg.Go(a.handleWANEvents)
	if len(a.cfg.RetryJoinWAN) > 0 {
		a.wg.Go(func() { a.retryJoin(wan, a.cfg.RetryJoinWAN, a.cfg.Ports.SerfWAN) })
	}
	return nil
}

// handleWANEvents logs the pool's membership changes (as Consul's server
// logs Serf's member events) until the agent stops; draining them also
// keeps the driver from logging them as dropped. It flood-joins when the
// LAN side asks (floodWAN), and every reconcileInterval, which retries a
// flood join that failed.
func (a *Agent) handleWANEvents() {
	tick := time.NewTicker(reconcileInterval)
	defer tick.Stop()
	for {
		select {
		case <-a.shutdownCh:
			return
		case ev := <-a.wan().Events():
			switch ev.Type {
			case swimEventJoin, swimEventFailed, swimEventLeft, swimEventReap:
				a.logger.Info("WAN member "+ev.Type.String(), "member", ev.Member.Name, "addr", ev.Member.Addr,
					"datacenter", ev.Member.Tags["dc"])
			}
		case <-a.wanFlood:
			a.floodJoinWAN()
		case <-tick.C:
			a.floodJoinWAN()
		}
	}
}

// floodWAN asks handleWANEvents to look for servers to flood-join; it
// never blocks (handleLANEvents calls it), and a request already pending
// covers this one.
func (a *Agent) floodWAN() {
	select {
	case a.wanFlood <- struct{}{}:
	default:
	}
}

// floodJoinWAN joins the WAN pool through the servers of this datacenter
// that the LAN pool knows and the WAN pool does not, so that one server of
// a datacenter joined to the WAN brings all of them (Consul's flood joins).
func (a *Agent) floodJoinWAN() {
	if addrs := floodTargets(a.lan().Members(), a.wan().Members(), a.cfg.Datacenter); len(addrs) > 0 {
		a.logger.Info("flood-joining the WAN pool through servers of this datacenter", "addrs", addrs)
		if _, err := a.wan().Join(addrs); err != nil && !isShutdown(a.wan().stopCh) {
			a.logger.Warn("flood-joining the WAN pool failed", "addrs", addrs, "error", err)
		}
	}
}

// floodTargets: the WAN addresses (their LAN host, their wan_join_port) of
// the alive servers of dc in the LAN pool whose WAN member, <node>.<dc>,
// the WAN pool does not know.
func floodTargets(lan, wan []swimMember, dc string) []string {
	known := map[string]bool{}
	for _, m := range wan {
		known[m.Name] = true
	}
	var out []string
	for _, m := range lan {
		if m.State != swimAlive || m.Tags["role"] != "consul" || m.Tags["dc"] != dc || known[m.Name+"."+dc] {
			continue
		}
		port, err := strconv.Atoi(m.Tags["wan_join_port"])
		host, _, herr := net.SplitHostPort(m.Addr)
		if err != nil || port < 1 || port > 65535 || herr != nil {
			continue
		}
		out = append(out, net.JoinHostPort(host, strconv.Itoa(port)))
	}
	return out
}

// errWANClient: only servers are members of the WAN pool (Consul's message).
var errWANClient = errors.New("Must be a server to join WAN cluster")

// joinWAN joins the WAN pool through addrs now (/v1/agent/join?wan).
func (a *Agent) joinWAN(addrs []string) error {
	if a.wan() == nil {
		return errWANClient
	}
	for i, s := range addrs {
		addrs[i] = joinAddr(s, a.cfg.Ports.SerfWAN)
	}
	_, err := a.wan().Join(addrs)
	return err
}

// wanMembers is the WAN pool as this server sees it; none on a client.
func (a *Agent) wanMembers() []swimMember {
	if a.wan() == nil {
		return nil
	}
	return a.wan().Members()
}

// dcServers returns the RPC addresses (host:port) of the live servers of
// datacenter dc in the WAN pool, shuffled, so that requests forwarded
// there spread over its servers and a caller can try the next one when
// one fails. It is empty when the pool knows no live server of dc, for
// which Consul answers "No path to datacenter". For the local datacenter
// it lists this server too.
func (a *Agent) dcServers(dc string) []string {
	addrs := wanServerAddrs(a.wanMembers(), dc)
	rand.Shuffle(len(addrs), func(i, j int) { addrs[i], addrs[j] = addrs[j], addrs[i] })
	return addrs
}

// datacenters lists the datacenters of the servers in the WAN pool, the
// local one first (/v1/catalog/datacenters orders them by RTT instead:
// datacentersByRTT, agent_coordinate.go).
func (a *Agent) datacenters() []string {
	return knownDatacenters(a.wanMembers(), a.cfg.Datacenter)
}

// wanServer reads what a WAN member announces as a Consul server: its
// datacenter and its RPC port (Consul's metadata.IsConsulServer reads the
// same tags). ok is false for a member that is not a server or whose tags
// are malformed.
func wanServer(m swimMember) (dc string, port int, ok bool) {
	if m.Tags["role"] != "consul" || m.Tags["dc"] == "" {
		return "", 0, false
	}
	port, err := strconv.Atoi(m.Tags["port"])
	if err != nil || port < 1 || port > 65535 {
		return "", 0, false
	}
	return m.Tags["dc"], port, true
}

// wanServerAddrs: the RPC addresses of the servers of dc that are alive, in
// the members' order. A suspect counts as alive, as Serf reports it: it
// may yet refute (SWIM §4.4), and Consul routes to a server until the pool
// marks it failed or left.
func wanServerAddrs(members []swimMember, dc string) []string {
	var out []string
	for _, m := range members {
		if m.Tags["dc"] != dc || m.State == swimFailed || m.State == swimLeft {
			continue // the cheap tests first: most members are other datacenters'
		}
		_, port, ok := wanServer(m)
		if !ok {
			continue
		}
		host, _, err := net.SplitHostPort(m.Addr)
		if err != nil {
			continue
		}
		out = append(out, net.JoinHostPort(host, strconv.Itoa(port)))
	}
	return out
}

// knownDatacenters lists every datacenter with a server in the pool, the
// local one first, then the others by name.
//
// Consul documents the order as ascending by the estimated median
// round-trip time to each datacenter's servers, from network coordinates;
// the local datacenter counts as 0, and ties keep the order by name.
// miniconsul has no network coordinates yet, so every remote datacenter
// ties, which leaves the local one first and the rest by name.
//
// As Consul's, the list comes from the whole pool: a datacenter whose
// servers all failed or left stays listed until the pool reaps them
// (hashicorp/consul#5881), and forwarding there finds no live server. The
// local datacenter is always listed, even before the pool knows anyone.
func knownDatacenters(members []swimMember, local string) []string {
	out := []string{local}
	for _, m := range members {
		if dc, _, ok := wanServer(m); ok && !slices.Contains(out, dc) {
			out = append(out, dc)
		}
	}
	slices.Sort(out[1:])
	return out
}
