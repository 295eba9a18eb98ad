// store_catalog.go: the catalog tables of the state store (nodes, services,
// health checks), their commands and their reads.
//
// The catalog is Consul's: a node has services and checks; a check belongs
// to its node, or to one service on that node. Registration is an upsert of
// a node and, optionally, one service and some checks, all-or-nothing in one
// command; a record written again unchanged keeps its indexes and wakes no
// one, so that anti-entropy re-registering the same thing every minute does
// not wake every blocking query.
//
// Keys: services and checks are keyed by node \x00 ID; serviceNames is a
// second index on the services, keyed by service name \x00 node \x00 ID, so
// that all instances of a service are one prefix walk. Names containing a
// NUL byte are refused.
//
// Same concurrency rules as store.go: written only inside apply.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Node is a catalog node, in Consul's JSON shape.
type Node struct {
	ID              string
	Node            string
	Address         string
	Datacenter      string
	TaggedAddresses map[string]string
	Meta            map[string]string
	CreateIndex     uint64 `bexpr:"-"` // not selectable in ?filter, as Consul's RaftIndex
	ModifyIndex     uint64 `bexpr:"-"`
}

// Weights are an instance's DNS SRV weights when passing and when warning.
type Weights struct {
	Passing int
	Warning int
}

// ServiceAddress is one of a service's tagged addresses.
type ServiceAddress struct {
	Address string
	Port    int
}

// Service is a service instance on a node, in the shape of Consul's
// AgentService (the node it runs on is kept outside, in the keys).
type Service struct {
	Kind              string `json:",omitempty"`
	ID                string
	Service           string
	Tags              []string
	Meta              map[string]string
	Port              int
	Address           string
	TaggedAddresses   map[string]ServiceAddress `json:",omitempty"`
	Weights           Weights
	EnableTagOverride bool
	Proxy             ConnectProxyConfig // connect_service.go
	Connect           ServiceConnect
	Locality          *Locality `json:",omitempty"`
	CreateIndex       uint64    `json:",omitempty" bexpr:"-"`
	ModifyIndex       uint64    `json:",omitempty" bexpr:"-"`
}

// Locality is where a service instance runs (Consul's Locality: a cloud
// region and zone), kept and shown, not yet used for routing.
type Locality struct {
	Region string
	Zone   string
}

// Health check states.
const (
	healthPassing  = "passing"
	healthWarning  = "warning"
	healthCritical = "critical"
)

func validHealthStatus(s string) bool {
	return s == healthPassing || s == healthWarning || s == healthCritical
}

// duration is a time.Duration that reads and writes Consul's way: a Go
// duration string ("10s"), or a number of nanoseconds when read.
type duration time.Duration

func (d duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *duration) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case string:
		if x == "" {
			*d = 0
			return nil
		}
		p, err := time.ParseDuration(x)
		if err != nil {
			return fmt.Errorf("invalid duration %q", x) // Consul's wording, which clients match
		}
		*d = duration(p)
	case float64:
		*d = duration(x)
	case nil:
		*d = 0
	default:
		return fmt.Errorf("invalid duration %s", b)
	}
	return nil
}

// HealthCheckDefinition is how a check is run, as shown in the catalog.
type HealthCheckDefinition struct {
	HTTP                           string              `json:",omitempty"`
	Header                         map[string][]string `json:",omitempty"`
	Method                         string              `json:",omitempty"`
	Body                           string              `json:",omitempty"`
	TLSServerName                  string              `json:",omitempty"`
	TLSSkipVerify                  bool                `json:",omitempty"`
	TCP                            string              `json:",omitempty"`
	UDP                            string              `json:",omitempty"`
	GRPC                           string              `json:",omitempty"`
	GRPCUseTLS                     bool                `json:",omitempty"`
	Interval                       duration            `json:",omitempty"`
	Timeout                        duration            `json:",omitempty"`
	DeregisterCriticalServiceAfter duration            `json:",omitempty"`
}

// HealthCheck is a check in the catalog, in Consul's JSON shape.
type HealthCheck struct {
	Node        string
	CheckID     string
	Name        string
	Status      string
	Notes       string
	Output      string
	ServiceID   string
	ServiceName string
	ServiceTags []string
	Type        string
	ExposedPort int
	Definition  HealthCheckDefinition `bexpr:"-"`
	CreateIndex uint64                `bexpr:"-"`
	ModifyIndex uint64                `bexpr:"-"`
}

// RegisterRequest is Consul's catalog registration (PUT /v1/catalog/register).
type RegisterRequest struct {
	Datacenter      string `json:",omitempty"`
	ID              string
	Node            string
	Address         string
	TaggedAddresses map[string]string
	NodeMeta        map[string]string
	Service         *Service
	Check           *HealthCheck
	Checks          []*HealthCheck
	SkipNodeUpdate  bool
}

// DeregisterRequest removes a check, a service (and its checks), or a whole
// node (PUT /v1/catalog/deregister).
type DeregisterRequest struct {
	Datacenter string `json:",omitempty"`
	Node       string
	ServiceID  string
	CheckID    string
}

func nodeIndexName(node string) string       { return indexNodePrefix + node }
func serviceIndexName(service string) string { return indexServiceKeyPrefix + service }
func itemKey(node, id string) string         { return node + "\x00" + id }
func serviceNameKey(name, node, id string) string {
	return name + "\x00" + node + "\x00" + id
}
func serviceCheckKey(node, serviceID, checkID string) string {
	return node + "\x00" + serviceID + "\x00" + checkID
}

// setCheck stores c, a check on node, replacing old (nil: none).
func (t *txn) setCheck(node string, c, old *HealthCheck) {
	t.st.checks = t.st.checks.set(itemKey(node, c.CheckID), c)
	if old != nil && old.ServiceID != c.ServiceID {
		t.st.checksByService, _ = t.st.checksByService.delete(serviceCheckKey(node, old.ServiceID, old.CheckID))
	}
	t.st.checksByService = t.st.checksByService.set(serviceCheckKey(node, c.ServiceID, c.CheckID), c)
}

// checksOf calls fn for each check of node that belongs to serviceID (""
// for the node's own), by check ID.
func (st *state) checksOf(node, serviceID string, fn func(c *HealthCheck)) {
	st.checksByService.ascendPrefix(serviceCheckKey(node, serviceID, ""), "", func(_ string, c *HealthCheck) bool {
		fn(c)
		return true
	})
}

func checkName(what, v string) error {
	if strings.ContainsRune(v, 0) {
		return fmt.Errorf("Invalid %s %q: contains a NUL character", what, v)
	}
	return nil
}

// serviceRef is an entry of the by-name service index.
type serviceRef struct {
	node    string
	service *Service
}

// --- commands ---

func (t *txn) applyRegister(req *RegisterRequest) error {
	if req.Node == "" {
		return errors.New("Missing node name")
	}
	if err := checkName("node name", req.Node); err != nil {
		return err
	}
	_, nodeExists := t.st.nodes.get(req.Node)
	if req.Address == "" && !req.SkipNodeUpdate {
		return errors.New("Missing node address")
	}
	// SkipNodeUpdate leaves a node as it is, but a node that does not exist
	// yet is made, with the address given, even none (Consul's
	// ensureRegistrationTxn).
	if !req.SkipNodeUpdate || !nodeExists {
		t.upsertNode(&Node{
			ID: req.ID, Node: req.Node, Address: req.Address, Datacenter: req.Datacenter,
			TaggedAddresses: orEmpty(req.TaggedAddresses), Meta: orEmpty(req.NodeMeta),
		})
	}
	if req.Service != nil {
		if err := t.upsertService(req.Node, *req.Service); err != nil {
			return err
		}
	}
	checks := req.Checks
	if req.Check != nil {
		checks = append([]*HealthCheck{req.Check}, checks...)
	}
	for _, c := range checks {
		if err := t.upsertCheck(req.Node, *c); err != nil {
			return err
		}
	}
	return nil
}

func orEmpty[V any](m map[string]V) map[string]V {
	if m == nil {
		return map[string]V{}
	}
	return m
}

func (t *txn) upsertNode(n *Node) {
	old, exists := t.st.nodes.get(n.Node)
	if exists {
		n.CreateIndex, n.ModifyIndex = old.CreateIndex, old.ModifyIndex
		if reflect.DeepEqual(old, n) {
			return
		}
		n.ModifyIndex = t.index
	} else {
		n.CreateIndex, n.ModifyIndex = t.index, t.index
	}
	t.st.nodes = t.st.nodes.set(n.Node, n)
	t.bump(indexNodes, nodeIndexName(n.Node))
	// Health results embed the node: every service on it changed too.
	t.st.services.ascendPrefix(n.Node+"\x00", "", func(_ string, s *Service) bool {
		t.bump(serviceIndexName(s.Service))
		return true
	})
}

func (t *txn) upsertService(node string, s Service) error {
	if s.Service == "" {
		return errors.New("Missing service name")
	}
	if s.ID == "" {
		s.ID = s.Service
	}
	for what, v := range map[string]string{"service name": s.Service, "service ID": s.ID} {
		if err := checkName(what, v); err != nil {
			return err
		}
	}
	if s.Tags == nil {
		s.Tags = []string{}
	}
	s.Meta = orEmpty(s.Meta)
	if s.Weights == (Weights{}) {
		s.Weights = Weights{Passing: 1, Warning: 1}
	}
	key := itemKey(node, s.ID)
	old, exists := t.st.services.get(key)
	if exists {
		s.CreateIndex, s.ModifyIndex = old.CreateIndex, old.ModifyIndex
		if reflect.DeepEqual(*old, s) {
			return nil
		}
		s.ModifyIndex = t.index
		if old.Service != s.Service {
			t.removeServiceName(node, old)
		}
	} else {
		s.CreateIndex, s.ModifyIndex = t.index, t.index
	}
	stored := &s
	t.reindexConnect(node, old, stored) // old: nil when new
	t.st.services = t.st.services.set(key, stored)
	t.st.serviceNames = t.st.serviceNames.set(serviceNameKey(s.Service, node, s.ID), serviceRef{node, stored})
	t.bump(indexServices, serviceIndexName(s.Service), nodeIndexName(node))
	// The checks of this service carry its name and tags.
	var renamed []*HealthCheck
	t.st.checksOf(node, s.ID, func(c *HealthCheck) {
		if c.ServiceName != s.Service || !reflect.DeepEqual(c.ServiceTags, s.Tags) {
			renamed = append(renamed, c)
		}
	})
	for _, c := range renamed {
		u := *c
		u.ServiceName, u.ServiceTags, u.ModifyIndex = s.Service, s.Tags, t.index
		t.setCheck(node, &u, c)
		t.bump(indexChecks)
	}
	return nil
}

// removeServiceName takes an instance out of the by-name index; when it was
// the last instance of its name, the name's index entry goes and the
// extinction index records when (Consul's service extinction index).
func (t *txn) removeServiceName(node string, s *Service) {
	t.st.serviceNames, _ = t.st.serviceNames.delete(serviceNameKey(s.Service, node, s.ID))
	name := serviceIndexName(s.Service)
	t.bump(name)
	if !t.serviceExists(s.Service) {
		t.st.indexes, _ = t.st.indexes.delete(name)
		t.bump(indexServiceExtinct)
	}
}

func (t *txn) serviceExists(name string) bool {
	found := false
	t.st.serviceNames.ascendPrefix(name+"\x00", "", func(string, serviceRef) bool { found = true; return false })
	return found
}

func (t *txn) upsertCheck(node string, c HealthCheck) error {
	if c.Node == "" {
		c.Node = node
	}
	if c.Node != node {
		return fmt.Errorf("Check node %q does not match the registration's node %q", c.Node, node)
	}
	if c.CheckID == "" {
		if c.Name == "" {
			return errors.New("Missing check ID")
		}
		c.CheckID = c.Name
	}
	if err := checkName("check ID", c.CheckID); err != nil {
		return err
	}
	if c.Status == "" {
		c.Status = healthCritical
	}
	if !validHealthStatus(c.Status) {
		return fmt.Errorf("Invalid check status: %q", c.Status)
	}
	if _, ok := t.st.nodes.get(node); !ok {
		return fmt.Errorf("Missing node registration for %q", node)
	}
	c.ServiceName, c.ServiceTags = "", []string{}
	if c.ServiceID != "" {
		svc, ok := t.st.services.get(itemKey(node, c.ServiceID))
		if !ok {
			return fmt.Errorf("Unknown service ID %q for check ID %q", c.ServiceID, c.CheckID)
		}
		c.ServiceName, c.ServiceTags = svc.Service, svc.Tags
	}
	key := itemKey(node, c.CheckID)
	old, exists := t.st.checks.get(key)
	if exists {
		c.CreateIndex, c.ModifyIndex = old.CreateIndex, old.ModifyIndex
		if reflect.DeepEqual(*old, c) {
			return nil
		}
		c.ModifyIndex = t.index
		if old.ServiceID != c.ServiceID {
			t.bumpCheckOwner(node, old)
		}
	} else {
		c.CreateIndex, c.ModifyIndex = t.index, t.index
	}
	if !exists {
		old = nil
	}
	t.setCheck(node, &c, old)
	t.bumpCheckOwner(node, &c)
	if c.Status == healthCritical && (!exists || old.Status != healthCritical) {
		t.invalidateSessionsOf(node, c.CheckID) // a session lives only while its checks do
	}
	return nil
}

// bumpCheckOwner marks what a check's change affects: the checks table, its
// node, and the services whose health includes it (its own service, or every
// service on the node for a node-level check).
func (t *txn) bumpCheckOwner(node string, c *HealthCheck) {
	t.bump(indexChecks, nodeIndexName(node))
	if c.ServiceID != "" {
		if c.ServiceName != "" {
			t.bump(serviceIndexName(c.ServiceName))
		}
		return
	}
	t.st.services.ascendPrefix(node+"\x00", "", func(_ string, s *Service) bool {
		t.bump(serviceIndexName(s.Service))
		return true
	})
}

func (t *txn) applyDeregister(req *DeregisterRequest) error {
	if req.Node == "" {
		return errors.New("Missing node name")
	}
	if _, ok := t.st.nodes.get(req.Node); !ok {
		return nil // nothing to do: deregistration is idempotent
	}
	switch {
	case req.ServiceID != "":
		t.deleteService(req.Node, req.ServiceID)
	case req.CheckID != "":
		t.deleteCheck(req.Node, req.CheckID)
	default:
		t.deleteNode(req.Node)
	}
	return nil
}

func (t *txn) deleteCheck(node, checkID string) {
	key := itemKey(node, checkID)
	c, ok := t.st.checks.get(key)
	if !ok {
		return
	}
	t.st.checks, _ = t.st.checks.delete(key)
	t.st.checksByService, _ = t.st.checksByService.delete(serviceCheckKey(node, c.ServiceID, checkID))
	t.bumpCheckOwner(node, c)
	t.invalidateSessionsOf(node, checkID)
}

func (t *txn) deleteService(node, serviceID string) {
	key := itemKey(node, serviceID)
	s, ok := t.st.services.get(key)
	if !ok {
		return
	}
	var owned []string
	t.st.checksOf(node, serviceID, func(c *HealthCheck) { owned = append(owned, c.CheckID) })
	for _, id := range owned {
		t.deleteCheck(node, id)
	}
	t.st.services, _ = t.st.services.delete(key)
	t.bump(indexServices, nodeIndexName(node))
	t.removeServiceName(node, s)
	t.reindexConnect(node, s, nil)
}

func (t *txn) deleteNode(node string) {
	var ids []string
	t.st.services.ascendPrefix(node+"\x00", "", func(_ string, s *Service) bool {
		ids = append(ids, s.ID)
		return true
	})
	for _, id := range ids {
		t.deleteService(node, id)
	}
	var checks []string
	t.st.checks.ascendPrefix(node+"\x00", "", func(_ string, c *HealthCheck) bool {
		checks = append(checks, c.CheckID)
		return true
	})
	for _, id := range checks {
		t.deleteCheck(node, id)
	}
	t.invalidateSessionsOf(node, "")
	t.deleteCoordinate(node)
	t.st.nodes, _ = t.st.nodes.delete(node)
	t.bump(indexNodes, nodeIndexName(node))
	// A query on a node that is gone falls back to the nodes index, which
	// was just bumped, so the per-node entry can go.
	t.st.indexes, _ = t.st.indexes.delete(nodeIndexName(node))
}

// --- reads ---

// ServiceInstance is one instance of a service with the node it runs on.
type ServiceInstance struct {
	Node    *Node
	Service *Service
}

// CheckServiceNode is an instance with every check that decides its health:
// the node's own checks and the service's checks (Consul's shape for
// /v1/health/service).
type CheckServiceNode struct {
	Node    *Node
	Service *Service
	Checks  []*HealthCheck
}

// serviceIndex is the index to report for a query on one service: its own
// index, or the extinction index when no instance of it exists.
func (st *state) serviceIndex(name string) uint64 {
	if idx, ok := st.indexes.get(serviceIndexName(name)); ok {
		return idx
	}
	return st.tableIndex(indexServiceExtinct)
}

// nodeIndex is the index to report for a query on one node.
func (st *state) nodeIndex(name string) uint64 {
	if idx, ok := st.indexes.get(nodeIndexName(name)); ok {
		return idx
	}
	return st.tableIndex(indexNodes)
}

func (st *state) node(name string) *Node {
	n, _ := st.nodes.get(name)
	return n
}

func (st *state) nodeList() []*Node {
	var out []*Node
	st.nodes.each(func(_ string, n *Node) bool { out = append(out, n); return true })
	return out
}

// serviceTags maps every service name to the union of its instances' tags.
func (st *state) serviceTags() map[string][]string {
	out := map[string][]string{}
	st.serviceNames.each(func(_ string, r serviceRef) bool {
		s := r.service
		tags := out[s.Service]
		if tags == nil {
			tags = []string{}
		}
		for _, tag := range s.Tags {
			if !containsString(tags, tag) {
				tags = append(tags, tag)
			}
		}
		out[s.Service] = tags
		return true
	})
	return out
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// serviceInstances lists the instances of a service, by node then ID.
func (st *state) serviceInstances(name string) []ServiceInstance {
	var out []ServiceInstance
	st.serviceNames.ascendPrefix(name+"\x00", "", func(_ string, r serviceRef) bool {
		if n := st.node(r.node); n != nil {
			out = append(out, ServiceInstance{Node: n, Service: r.service})
		}
		return true
	})
	return out
}

// nodeServices lists the services on a node, by ID.
func (st *state) nodeServices(node string) []*Service {
	var out []*Service
	st.services.ascendPrefix(node+"\x00", "", func(_ string, s *Service) bool { out = append(out, s); return true })
	return out
}

// nodeChecks lists every check on a node, by ID.
func (st *state) nodeChecks(node string) []*HealthCheck {
	var out []*HealthCheck
	st.checks.ascendPrefix(node+"\x00", "", func(_ string, c *HealthCheck) bool { out = append(out, c); return true })
	return out
}

// checkServiceNodes lists the instances of a service with their checks.
func (st *state) checkServiceNodes(name string) []CheckServiceNode {
	insts := st.serviceInstances(name)
	out := make([]CheckServiceNode, 0, len(insts))
	for _, in := range insts {
		out = append(out, st.withChecks(in))
	}
	return out
}

// withChecks is an instance with the checks that decide its health: its
// node's and its own, merged by check ID (the order of the node's checks).
func (st *state) withChecks(in ServiceInstance) CheckServiceNode {
	var own []*HealthCheck
	st.checksOf(in.Node.Node, "", func(c *HealthCheck) { own = append(own, c) })
	checks := make([]*HealthCheck, 0, len(own)+1)
	st.checksOf(in.Node.Node, in.Service.ID, func(c *HealthCheck) {
		for len(own) > 0 && own[0].CheckID < c.CheckID {
			checks, own = append(checks, own[0]), own[1:]
		}
		checks = append(checks, c)
	})
	return CheckServiceNode{Node: in.Node, Service: in.Service, Checks: append(checks, own...)}
}

// serviceChecks lists the checks that belong to instances of a service.
func (st *state) serviceChecks(name string) []*HealthCheck {
	out := []*HealthCheck{}
	for _, in := range st.serviceInstances(name) {
		for _, c := range st.nodeChecks(in.Node.Node) {
			if c.ServiceID == in.Service.ID {
				out = append(out, c)
			}
		}
	}
	return out
}

// checksInState lists the checks with a status ("any" for all).
func (st *state) checksInState(status string) []*HealthCheck {
	out := []*HealthCheck{}
	st.checks.each(func(_ string, c *HealthCheck) bool {
		if status == "any" || c.Status == status {
			out = append(out, c)
		}
		return true
	})
	return out
}

// aggregateStatus is the worst status among checks: critical, then
// warning, then passing (passing when there are none).
func aggregateStatus(checks []*HealthCheck) string {
	status := healthPassing
	for _, c := range checks {
		switch c.Status {
		case healthCritical:
			return healthCritical
		case healthWarning:
			status = healthWarning
		}
	}
	return status
}
