// store_connect.go: the catalog's mesh index: which instances can accept
// mesh (mTLS) connections for a service, so that /v1/catalog/connect,
// /v1/health/connect, ?connect=true and <service>.connect.consul are a
// prefix walk, not a scan of every service.
//
// connectNames holds, for every connect-proxy, the key
// <Proxy.DestinationServiceName> \x00 node \x00 ID, and for every
// Connect-native service <its own name> \x00 node \x00 ID (Consul's
// "connect-capable" instances: its CheckConnectServiceNodes). It is kept
// inside apply with the services table (upsertService, deleteService), and
// rebuilt from the services when a snapshot is read (store_snapshot.go).
//
// A change to the set of a destination's instances bumps connect.<name>;
// their health changes bump their own service names (store_catalog.go), so a
// blocking query watches both (connectTopics) and reports the highest index.
//
// Same concurrency rules as store.go: written only inside apply.
package main

// indexConnectPrefix names the index of a destination's mesh instances.
const indexConnectPrefix = "connect."

// connectName is the service whose mesh connections an instance accepts, or
// "" when it accepts none.
func connectName(s *Service) string {
	switch {
	case s.Kind == serviceKindConnectProxy:
		return s.Proxy.DestinationServiceName
	case s.Connect.Native:
		return s.Service
	}
	return ""
}

// reindexConnect moves an instance's connectNames entry from what old (nil
// when new) said to what s (nil when deleted) says.
func (t *txn) reindexConnect(node string, old, s *Service) {
	var oldName, newName string
	if old != nil {
		oldName = connectName(old)
	}
	if s != nil {
		newName = connectName(s)
	}
	if oldName != "" && (oldName != newName || s == nil) {
		t.st.connectNames, _ = t.st.connectNames.delete(serviceNameKey(oldName, node, old.ID))
		t.bump(indexConnectPrefix + oldName)
		if !t.connectExists(oldName) {
			t.st.indexes, _ = t.st.indexes.delete(indexConnectPrefix + oldName)
			t.bump(indexServiceExtinct)
		}
	}
	if newName != "" {
		t.st.connectNames = t.st.connectNames.set(serviceNameKey(newName, node, s.ID), serviceRef{node, s})
		t.bump(indexConnectPrefix + newName)
	}
}

func (t *txn) connectExists(name string) bool {
	found := false
	t.st.connectNames.ascendPrefix(name+"\x00", "", func(string, serviceRef) bool { found = true; return false })
	return found
}

// buildConnectNames makes the mesh index from the by-name service index.
func buildConnectNames(names map[string]serviceRef) tree[serviceRef] {
	var t tree[serviceRef]
	for _, r := range names {
		if name := connectName(r.service); name != "" {
			t = t.set(serviceNameKey(name, r.node, r.service.ID), r)
		}
	}
	return t
}

// connectInstances lists the mesh instances of a service, by node then ID.
func (st *state) connectInstances(name string) []ServiceInstance {
	var out []ServiceInstance
	st.connectNames.ascendPrefix(name+"\x00", "", func(_ string, r serviceRef) bool {
		if n := st.node(r.node); n != nil {
			out = append(out, ServiceInstance{Node: n, Service: r.service})
		}
		return true
	})
	return out
}

// connectServiceNodes lists the mesh instances of a service with their
// checks (Consul's CheckConnectServiceNodes).
func (st *state) connectServiceNodes(name string) []CheckServiceNode {
	insts := st.connectInstances(name)
	out := make([]CheckServiceNode, 0, len(insts))
	for _, in := range insts {
		out = append(out, st.withChecks(in))
	}
	return out
}

// connectTopics are what a blocking query on a service's mesh instances
// watches: the set of them, and each one's own service name.
func (st *state) connectTopics(name string) []string {
	topics := []string{indexConnectPrefix + name}
	for _, in := range st.connectInstances(name) {
		topics = append(topics, serviceIndexName(in.Service.Service))
	}
	return topics
}

// connectIndex is the index to report for a query on a service's mesh
// instances: the highest of the set's and of their service names'.
func (st *state) connectIndex(name string) uint64 {
	idx, ok := st.indexes.get(indexConnectPrefix + name)
	if !ok {
		idx = st.tableIndex(indexServiceExtinct)
	}
	for _, in := range st.connectInstances(name) {
		idx = max(idx, st.serviceIndex(in.Service.Service))
	}
	return idx
}
