// connect_spiffe.go: the identities of the service mesh ("Connect").
//
// Every certificate the built-in CA issues names exactly one identity, as
// a SPIFFE ID in its URI SAN (the SPIFFE standard, X.509-SVID §2):
//
//	spiffe://<trust-domain>                                   the CA itself (the root's only SAN)
//	spiffe://<trust-domain>/ns/<ns>/dc/<dc>/svc/<service>     a service (a leaf)
//
// The trust domain is "<cluster-id>.consul", the cluster ID a UUID the
// first leader generates and keeps in the state store. The CA builds these
// when it signs (connect_ca.go); the agent's authorize endpoint and the
// built-in proxy parse the client certificate's URI to learn who is
// calling, and match it against intentions.
//
// Pure values: no state, no concurrency.
package main

import (
	"fmt"
	"net/url"
	"strings"
)

// spiffeService is the identity of a service instance's leaf certificate.
type spiffeService struct {
	TrustDomain string // "<cluster-id>.consul"
	Namespace   string // "default": namespaces are Consul Enterprise's
	Datacenter  string
	Service     string
}

// URI is the SPIFFE ID as it appears in the certificate's URI SAN.
func (id spiffeService) URI() *url.URL {
	return &url.URL{Scheme: "spiffe", Host: id.TrustDomain,
		Path: fmt.Sprintf("/ns/%s/dc/%s/svc/%s", id.Namespace, id.Datacenter, id.Service)}
}

func (id spiffeService) String() string { return id.URI().String() }

// spiffeTrustDomainURI is the CA's own identity: the trust domain alone.
func spiffeTrustDomainURI(trustDomain string) *url.URL {
	return &url.URL{Scheme: "spiffe", Host: trustDomain}
}

// parseSpiffeService reads a service's SPIFFE ID; anything else (another
// scheme, an agent's or the CA's ID, a partition path, extra segments) is
// an error naming the URI, as Consul's "not a valid Connect identifier".
func parseSpiffeService(raw string) (spiffeService, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "spiffe" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return spiffeService{}, fmt.Errorf("%q is not a valid Connect identifier", raw)
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(parts) != 6 || parts[0] != "ns" || parts[2] != "dc" || parts[4] != "svc" ||
		parts[1] == "" || parts[3] == "" || parts[5] == "" {
		return spiffeService{}, fmt.Errorf("%q is not a valid Connect identifier", raw)
	}
	return spiffeService{TrustDomain: u.Host, Namespace: parts[1], Datacenter: parts[3], Service: parts[5]}, nil
}
