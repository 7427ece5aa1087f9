package views

import (
	"context"

	"github.com/ofstack/ofs/schema"
)

// Tier names where a Locate found a block: the L1, the L2 or the store.
type Tier uint8

// The tiers, in the order a read tries them.
const (
	TierStore Tier = iota
	TierL1
	TierL2
)

func (t Tier) String() string {
	switch t {
	case TierL1:
		return "L1"
	case TierL2:
		return "L2"
	}
	return "store"
}

// Locate reads the groups of one key as Read does (and fills the tiers as
// Read would), and says which tier answered each group: a block (or a
// cached miss) in the L1, else in the L2, else the store. It is for people
// looking a key up (the console), not for serving: Read does not pay for it.
// A fill between the tiers' lookups and the store read may be reported as
// the store.
func (r *TieredReader) Locate(ctx context.Context, key Key, groups []uint32) ([][]byte, []Tier, error) {
	c := r.t.c
	policies := make([]schema.CachePolicy, len(groups))
	for j, g := range groups {
		policies[j] = r.policy(g)
	}
	out := make([][]byte, len(groups))
	tiers := make([]Tier, len(groups))
	if len(groups) == 0 {
		return out, tiers, nil
	}
	if err := checkKeys([]Key{key}); err != nil {
		return nil, nil, err
	}
	now := c.now().UnixMicro()
	h := c.hashKey(key)
	if c.mem != nil {
		c.mem.lookup(h, key, groups, policies, now, out)
		for j := range out {
			if out[j] != nil {
				tiers[j] = TierL1
			}
		}
	}
	var rest []int
	var buf []byte
	for j, g := range groups {
		if out[j] != nil {
			continue
		}
		if c.disk != nil && policies[j].L2 {
			if hit := c.disk.get(hashGroup(h, g), key, g, now, &buf); hit.found {
				out[j], tiers[j] = hit.block, TierL2
				if out[j] == nil {
					out[j] = absent
				}
				continue
			}
		}
		rest = append(rest, j)
	}
	if len(rest) > 0 {
		gs := make([]uint32, len(rest))
		ps := make([]schema.CachePolicy, len(rest))
		for n, j := range rest {
			gs[n], ps[n] = groups[j], policies[j]
		}
		blocks, err := r.t.Read(ctx, []Key{key}, gs, ps)
		if err != nil {
			return nil, nil, err
		}
		for n, j := range rest {
			out[j] = blocks[n]
		}
	}
	for j, b := range out {
		if len(b) == 0 {
			out[j] = nil
		}
	}
	return out, tiers, nil
}
