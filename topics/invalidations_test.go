package topics

import (
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	featurev1 "github.com/ofstack/ofs/proto/ofs/feature/v1"
)

func TestSplitInvalidations(t *testing.T) {
	key := func(i, size int) *featurev1.InvalidatedKey {
		v := strconv.Itoa(i)
		return &featurev1.InvalidatedKey{Entity: "user", KeyValues: []string{v + strings.Repeat("x", size)},
			FeatureGroupIds: []uint32{7}}
	}
	for _, tc := range []struct {
		name             string
		n, size, limit   int
		wantMin, wantMax int // messages
	}{
		{"none", 0, 0, 100, 0, 0},
		{"one small", 1, 10, 1 << 20, 1, 1},
		{"fits one", 100, 10, 1 << 20, 1, 1},
		{"1000 keys of 8 KiB", 1000, 8 << 10, MaxInvalidationBytes, 8, 9},
		{"a key over the limit alone", 3, 200, 100, 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys := make([]*featurev1.InvalidatedKey, tc.n)
			for i := range keys {
				keys[i] = key(i, tc.size)
			}
			msgs, err := splitInvalidations(keys, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) < tc.wantMin || len(msgs) > tc.wantMax {
				t.Fatalf("%d messages, want %d to %d", len(msgs), tc.wantMin, tc.wantMax)
			}
			next := 0
			for i, m := range msgs {
				var inv featurev1.Invalidation
				if err := proto.Unmarshal(m, &inv); err != nil {
					t.Fatal(err)
				}
				if len(m) > tc.limit && len(inv.GetKeys()) > 1 {
					t.Errorf("message %d: %d bytes, %d keys: over the limit %d", i, len(m), len(inv.GetKeys()), tc.limit)
				}
				for _, k := range inv.GetKeys() {
					if !proto.Equal(k, keys[next]) {
						t.Fatalf("message %d: key %d out of order or changed", i, next)
					}
					next++
				}
			}
			if next != tc.n {
				t.Fatalf("%d keys in the messages, want %d", next, tc.n)
			}
		})
	}
}
