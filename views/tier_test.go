package views

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ofstack/ofs/schema"
)

// TestLocate: the first look-up of a key is answered by the store; the
// next by the tier each group's policy names, a group without cache by the
// store again; the blocks are those Read gives.
func TestLocate(t *testing.T) {
	store := newMemStore()
	k := key("user", "1")
	block := fp32Block(t, 4, 1, 1, 0, false)
	store.put(k, 7, block)
	store.put(k, 9, block)
	c := testCache(t, true)
	rd := c.Tiered(store).Reader(func(g uint32) schema.CachePolicy {
		switch g {
		case 7:
			return l1Only
		case 9:
			return l2Only
		}
		return noCache
	})
	groups := []uint32{7, 8, 9}
	locate := func() string {
		t.Helper()
		out, tiers, err := rd.Locate(context.Background(), k, groups)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out[0], block) || out[1] != nil || !bytes.Equal(out[2], block) {
			t.Fatalf("Locate blocks: %v", out)
		}
		names := make([]string, len(tiers))
		for i, tr := range tiers {
			names[i] = tr.String()
		}
		return "[" + strings.Join(names, " ") + "]"
	}
	if got := locate(); got != "[store store store]" {
		t.Fatalf("first Locate: tiers %s, want all from the store", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !getDisk(c, k, 9, time.Now().UnixMicro()).found { // the L2 is filled in the background
		if time.Now().After(deadline) {
			t.Fatal("the L2 was not filled within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := locate(); got != "[L1 store L2]" {
		t.Fatalf("second Locate: tiers %s, want [L1 store L2]", got)
	}
}
