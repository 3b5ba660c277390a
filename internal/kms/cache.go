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
// it read only if gen has not moved since, checked again after the add (see
// fill), so a value read before a write can never stay cached after that
// write's invalidation.
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
	// budget is the version's budget of AES-GCM encryptions, once known
	// (Service.budget), so that a cache hit needs no second lookup.
	budget atomic.Pointer[usage]
}

func newCache(size int) *cache {
	k, _ := lru.New[string, *CryptoKey](size)
	v, _ := lru.New[string, *liveVersion](size)
	e, _ := lru.New[string, string](size)
	return &cache{keys: k, versions: v, ekmIDs: e}
}

// fillHook, if set, runs in fill between the check of gen and the add
// (tests use it to run a write there).
var fillHook func(name string)

// fill caches v under name, read from storage when gen was gen, unless a
// write has invalidated the cache since. A write whose invalidation comes
// between the check of gen and the add has already removed name, so the
// add is undone if gen moved meanwhile: an invalidation either sees the
// entry (and removes it) or bumps gen before the second check.
func fill[V any](c *cache, l *lru.Cache[string, V], gen uint64, name string, v V) {
	if c.gen.Load() != gen {
		return
	}
	if fillHook != nil {
		fillHook(name)
	}
	l.Add(name, v)
	if c.gen.Load() != gen {
		l.Remove(name)
	}
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
