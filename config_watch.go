// config_watch.go: the `watches` configuration key, a list of Consul's
// watch definitions (https://developer.hashicorp.com/consul/docs/automate/watches),
// which the agent runs (agent_watch.go).
//
// Data flow: config.go's loader hands the key's JSON value to cfgWatches,
// which checks each definition as Consul's agent does when it starts its
// watches (prepareWatches: Consul's messages), so that a bad watch stops
// the agent, or a reload, before anything changes; the definitions of
// every file are appended to Config.Watches, kept as given (the agent
// parses them again when it starts them).
//
// Concurrency: none; it runs while the configuration loads.
package main

// cfgWatches makes the watches key: an array of objects.
func cfgWatches(field func(*Config) *[]map[string]any) configKey {
	return configKey{set: func(c *Config, v any) error {
		list, ok := v.([]any)
		if !ok {
			return cfgTypeError("array", v)
		}
		var defs []map[string]any
		for _, item := range list {
			obj, ok := item.(map[string]any)
			if !ok {
				return cfgTypeError("object", item)
			}
			defs = append(defs, obj)
		}
		if _, err := prepareWatches(defs); err != nil {
			return err
		}
		*field(c) = append(*field(c), defs...)
		return nil
	}}
}
