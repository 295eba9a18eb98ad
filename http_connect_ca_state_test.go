package main

import (
	"strings"
	"testing"
)

// TestConnectCAProviderState: the built-in provider's State is null until
// a configuration carries test_state (string values kept); a later change
// without one keeps it, as Consul 1.22.7 answers (its Go client's
// TestAPI_ConnectCAConfig_get_set).
func TestConnectCAProviderState(t *testing.T) {
	t.Parallel()
	ta := startTestAgent(t, nil)
	if r := ta.must("GET", "/v1/connect/ca/configuration", "", nil); !strings.Contains(r.body, `"State":null`) {
		t.Fatalf("initial: %s", r.body)
	}
	ta.must("PUT", "/v1/connect/ca/configuration",
		`{"Provider":"consul","Config":{"LeafCertTTL":"72h","IntermediateCertTTL":"7200h","test_state":{"foo":"bar","n":1}}}`, nil)
	var conf CAConfiguration
	ta.must("GET", "/v1/connect/ca/configuration", "", &conf)
	if len(conf.State) != 1 || conf.State["foo"] != "bar" || conf.Config["IntermediateCertTTL"] != "7200h" {
		t.Fatalf("after test_state: %+v", conf)
	}
	ta.must("PUT", "/v1/connect/ca/configuration", `{"Provider":"consul","Config":{"LeafCertTTL":"48h"}}`, nil)
	conf = CAConfiguration{}
	ta.must("GET", "/v1/connect/ca/configuration", "", &conf)
	if conf.State["foo"] != "bar" || conf.Config["LeafCertTTL"] != "48h" {
		t.Fatalf("after a change without test_state: %+v", conf)
	}
}
