// Package examples holds the example files of the repository, embedded so
// that `ofs dev` can apply the example registry without a checkout.
package examples

import _ "embed"

// Registry is examples/registry.yaml.
//
//go:embed registry.yaml
var Registry []byte
