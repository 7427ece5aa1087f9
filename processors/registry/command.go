package registry

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	registryv1 "github.com/ofstack/ofs/proto/ofs/registry/v1"
)

// Command reads one message of the registry topic as the processor does:
// a command that does not decode is an error, and one keyed otherwise than
// Key gives ErrWrongKey (with the command, to answer it). A replay folds
// the registry topic with the same rule, so that the registry it rebuilds
// at any offset is the one the processor held there.
func Command(key string, value []byte) (*registryv1.Command, error) {
	cmd := new(registryv1.Command)
	if err := proto.Unmarshal(value, cmd); err != nil {
		return nil, fmt.Errorf("registry: command does not decode: %w", err)
	}
	if key != Key {
		return cmd, fmt.Errorf("%w: message key %q", ErrWrongKey, key)
	}
	return cmd, nil
}
