package feature

import (
	"hash/maphash"
	"sync"
	"time"
)

// MaxIdempotencyKey bounds the length of an idempotency key.
const MaxIdempotencyKey = 128

// seenKey is what a server remembers of an idempotency key: the event time
// it stamped rows without one with, and a fingerprint of the request.
type seenKey struct {
	stamp       time.Time
	fingerprint uint64
	at          time.Time
	slot        int
}

// keyCache remembers the idempotency keys of recent Persists, at most size
// of them and each for at most ttl, the oldest forgotten first.
type keyCache struct {
	mu    sync.Mutex
	size  int
	ttl   time.Duration
	seed  maphash.Seed
	byKey map[string]seenKey
	order []string // a ring in insertion order
	next  int
}

func newKeyCache(size int, ttl time.Duration) *keyCache {
	return &keyCache{size: size, ttl: ttl, seed: maphash.MakeSeed(), byKey: make(map[string]seenKey), order: make([]string, size)}
}

// fingerprint of a request's marshalled form.
func (c *keyCache) fingerprint(b []byte) uint64 { return maphash.Bytes(c.seed, b) }

// stamp returns the event time of key: the one remembered, or now on first
// sight. ok is false when the key was seen with another request.
func (c *keyCache) stamp(key string, fingerprint uint64, now time.Time) (stamp time.Time, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, seen := c.byKey[key]; seen && now.Sub(s.at) < c.ttl {
		return s.stamp, s.fingerprint == fingerprint
	}
	if old := c.order[c.next]; old != "" && c.byKey[old].slot == c.next {
		delete(c.byKey, old)
	}
	c.order[c.next] = key
	c.byKey[key] = seenKey{stamp: now, fingerprint: fingerprint, at: now, slot: c.next}
	c.next = (c.next + 1) % c.size
	return now, true
}

// validKey reports whether k is an acceptable idempotency key.
func validKey(k string) bool {
	if len(k) > MaxIdempotencyKey {
		return false
	}
	for i := range len(k) {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}
