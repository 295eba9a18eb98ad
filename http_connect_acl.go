// http_connect_acl.go: ACL enforcement of the mesh endpoints: config
// entries, intentions, the CA, leaf certificates and authorize.
//
// The permissions are Consul 1.22.7's (agent/structs/config_entry*.go
// CanRead/CanWrite, agent/consul/intention_endpoint.go,
// connect_ca_endpoint.go, agent/agent_endpoint.go), checked against the
// real binary:
//
//	config entry        read                     write (PUT, DELETE)
//	  proxy-defaults    anyone                   operator:write or mesh:write
//	  service-defaults  service:read on its name service:write on its name
//	  service-intentions intention:read on it    intention:write on it
//	GET /v1/config/<kind>                  filtered by the read rule, marked
//	GET /v1/connect/intentions             filtered: intention:read on the
//	                                       source or the destination
//	GET …/intentions/exact                 the same; one not readable is "not found"
//	PUT/DELETE …/intentions/exact          intention:write on the destination,
//	                                       else Consul's bare "Permission denied"
//	GET …/intentions/match                 intention:read on every name
//	GET …/intentions/check                 service:read on the destination
//	POST /v1/agent/connect/authorize       service:write on the target
//	GET /v1/agent/connect/ca/leaf/<svc>    service:write on the service
//	GET/PUT /v1/connect/ca/configuration   operator:write (reading it too)
//	GET /v1/connect/ca/roots               none
//
// A service rule's intentions level is its `intentions` field, or read
// when the rule grants read or write (acl_authorizer.go's compile).
//
// Concurrency: none; an aclAuthz is immutable.
package main

// configEntryRead reports whether the token may read one config entry.
func (z *aclAuthz) configEntryRead(kind, name string) bool {
	switch kind {
	case kindServiceDefaults:
		return z.allows(aclResService, aclRead, name)
	case kindServiceIntentions:
		return z.allows(aclResIntention, aclRead, name)
	}
	return true // proxy-defaults: anyone
}

// configEntryReadErr is configEntryRead as Consul's 403.
func (z *aclAuthz) configEntryReadErr(kind, name string) error {
	if z.configEntryRead(kind, name) {
		return nil
	}
	if kind == kindServiceIntentions {
		return z.denied(aclResIntention, aclRead, name)
	}
	return z.denied(aclResService, aclRead, name)
}

// configEntryWrite is the permission to write or delete one config entry.
func (z *aclAuthz) configEntryWrite(kind, name string) error {
	switch kind {
	case kindServiceDefaults:
		return z.require(aclResService, aclWrite, name)
	case kindServiceIntentions:
		return z.require(aclResIntention, aclWrite, name)
	}
	if z.allows(aclResOperator, aclWrite, "") {
		return nil
	}
	return z.require(aclResMesh, aclWrite, "")
}

// intentionRead: an intention is readable with intention:read on its
// source or on its destination (Consul's Intention.CanRead).
func (z *aclAuthz) intentionRead(x *Intention) bool {
	return z.allows(aclResIntention, aclRead, x.SourceName) || z.allows(aclResIntention, aclRead, x.DestinationName)
}
