package topics

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
)

// MaxInvalidationBytes bounds one message of the invalidations topic (1
// MiB): a write of many keys, or of large keys, announces them in several
// messages, each far under the topic's max.message.bytes, whatever the
// broker's default.
const MaxInvalidationBytes = 1 << 20

// Invalidations encodes keys as invalidation messages of at most
// MaxInvalidationBytes each, in order; a key larger than that on its own
// (which no store accepts) still gets a message of its own. No keys give no
// messages.
func Invalidations(keys []*featurev1.InvalidatedKey) ([][]byte, error) {
	return splitInvalidations(keys, MaxInvalidationBytes)
}

func splitInvalidations(keys []*featurev1.InvalidatedKey, limit int) ([][]byte, error) {
	var (
		out   [][]byte
		start int
		size  int
	)
	cut := func(end int) error {
		b, err := proto.Marshal(&featurev1.Invalidation{Keys: keys[start:end]})
		if err != nil {
			return fmt.Errorf("topics: marshal invalidation: %w", err)
		}
		out = append(out, b)
		start, size = end, 0
		return nil
	}
	for i, k := range keys {
		// Field 1, length-delimited: a tag byte, the length, the key.
		n := proto.Size(k)
		n += 1 + protowire.SizeVarint(uint64(n))
		if size > 0 && size+n > limit {
			if err := cut(i); err != nil {
				return nil, err
			}
		}
		size += n
	}
	if start < len(keys) {
		if err := cut(len(keys)); err != nil {
			return nil, err
		}
	}
	return out, nil
}
