package oidc

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice"
)

// sweepEvery bounds how often a full cache is scanned for expired entries,
// so a flood of distinct tokens costs O(1) per insert, not O(size).
const sweepEvery = time.Minute

// tokenCache remembers tokens that verified, keyed by their SHA-256, so a
// client sending the same token on every request pays for one signature
// check. It only ever holds successes; an entry is good until the token's
// exp (plus leeway) and only while the key that verified it is still in
// its issuer's set, which the caller checks on every hit.
type tokenCache struct {
	max int

	mu        sync.Mutex
	m         map[[32]byte]*cacheEntry
	nextSweep time.Time

	hits atomic.Int64 // for tests and benchmarks
}

type cacheEntry struct {
	id    *sluice.Identity
	iss   *issuer
	kid   string
	key   *key
	until time.Time
}

func newTokenCache(size int) *tokenCache {
	if size <= 0 {
		return nil
	}
	return &tokenCache{max: size, m: make(map[[32]byte]*cacheEntry)}
}

// get returns the live entry for sum, dropping it if it has expired.
func (c *tokenCache) get(sum [32]byte, now time.Time) *cacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[sum]
	if e != nil && !now.Before(e.until) {
		delete(c.m, sum)
		return nil
	}
	return e
}

func (c *tokenCache) drop(sum [32]byte) {
	c.mu.Lock()
	delete(c.m, sum)
	c.mu.Unlock()
}

// put stores e. When full it first drops expired entries (at most once per
// sweepEvery), then, if still full, an arbitrary entry: a cache miss only
// costs one signature check.
func (c *tokenCache) put(sum [32]byte, e *cacheEntry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[sum]; !ok && len(c.m) >= c.max {
		if !now.Before(c.nextSweep) {
			c.nextSweep = now.Add(sweepEvery)
			for k, old := range c.m {
				if !now.Before(old.until) {
					delete(c.m, k)
				}
			}
		}
		for k := range c.m {
			if len(c.m) < c.max {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[sum] = e
}

func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
