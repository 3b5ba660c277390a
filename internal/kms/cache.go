// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"
)

// cache holds decoded keys and versions, with a version's unsealed
// primitive, so that the hot path (encrypt, sign) reads no storage.
//
// Consistency: every write invalidates the names it touched after it commits,
// and bumps gen. A reader notes gen before it reads storage and caches what
// it read only if gen has not moved since, so a value read before a write can
// never be cached after that write's invalidation.
type cache struct {
	gen      atomic.Uint64
	keys     *lru.Cache[string, *CryptoKey]
	versions *lru.Cache[string, *liveVersion]
	// ekmIDs maps a Cloud EKM key id to its key's name. The mapping never
	// changes for a key's life, so it needs no invalidation; misses are not
	// cached (an unknown id costs a read, and proves nothing).
	ekmIDs *lru.Cache[string, string]
}

// liveVersion is a version as the hot path needs it: its metadata without the
// sealed material, and the primitive built from the material (nil unless the
// version is ENABLED: material is dropped as soon as a version leaves it).
type liveVersion struct {
	v    Version
	prim *primitive
}

func newCache(size int) *cache {
	k, _ := lru.New[string, *CryptoKey](size)
	v, _ := lru.New[string, *liveVersion](size)
	e, _ := lru.New[string, string](size)
	return &cache{keys: k, versions: v, ekmIDs: e}
}

func (c *cache) invalidate(names ...string) {
	if len(names) == 0 {
		return
	}
	c.gen.Add(1)
	for _, n := range names {
		c.keys.Remove(n)
		c.versions.Remove(n)
	}
}

// purge drops everything (a restore from backup, a barrier rotation).
func (c *cache) purge() {
	c.gen.Add(1)
	c.keys.Purge()
	c.versions.Purge()
}
