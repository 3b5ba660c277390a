// SPDX-License-Identifier: Apache-2.0

package auth

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/custos-kms/custos/internal/kmserr"
)

// stateCache holds decoded app, key and index records, so that checking a
// credential's state on every request reads no storage. Values are never
// mutated once cached.
//
// Consistency: every write invalidates the names it touched after it
// commits, and bumps gen. A reader notes gen before it reads storage and
// caches what it read only if gen has not moved since (checked under mu,
// which invalidate also holds), so a value read before a write is never
// cached after that write's invalidation. Entries older than ttl are read
// again, so that changes made by other nodes are seen within ttl.
type stateCache struct {
	mu      sync.Mutex
	gen     atomic.Uint64
	entries *lru.Cache[string, cacheEntry]
	ttl     time.Duration
}

type cacheEntry struct {
	v  any
	at time.Time
}

func newStateCache(size int, ttl time.Duration) *stateCache {
	c, _ := lru.New[string, cacheEntry](size)
	return &stateCache{entries: c, ttl: ttl}
}

func (c *stateCache) get(name string, now time.Time) (any, bool) {
	e, ok := c.entries.Get(name)
	if !ok || now.Sub(e.at) >= c.ttl || now.Before(e.at) {
		return nil, false
	}
	return e.v, true
}

func (c *stateCache) put(gen uint64, name string, v any, now time.Time) {
	c.mu.Lock()
	if c.gen.Load() == gen {
		c.entries.Add(name, cacheEntry{v: v, at: now})
	}
	c.mu.Unlock()
}

func (c *stateCache) invalidate(names ...string) {
	if len(names) == 0 {
		return
	}
	c.mu.Lock()
	c.gen.Add(1)
	for _, n := range names {
		c.entries.Remove(n)
	}
	c.mu.Unlock()
}

// liveKey is a key record as the hot path needs it, with its public key
// parsed once.
type liveKey struct {
	keyRecord
	pub *rsa.PublicKey // google-json keys only
}

// cachedApp returns the app, from the cache or storage.
func (a *Apps) cachedApp(ctx context.Context, name string) (*App, error) {
	now := a.now()
	rn := appRecordName(name)
	if v, ok := a.cache.get(rn, now); ok {
		return v.(*App), nil
	}
	gen := a.cache.gen.Load()
	app, _, err := a.readApp(ctx, a.store, name)
	if err != nil {
		return nil, err
	}
	a.cache.put(gen, rn, app, now)
	return app, nil
}

// cachedKey returns the key, from the cache or storage.
func (a *Apps) cachedKey(ctx context.Context, id string) (*liveKey, error) {
	now := a.now()
	rn := keyRecordName(id)
	if v, ok := a.cache.get(rn, now); ok {
		return v.(*liveKey), nil
	}
	gen := a.cache.gen.Load()
	k, _, err := a.readKey(ctx, a.store, id)
	if err != nil {
		return nil, err
	}
	lk := &liveKey{keyRecord: *k}
	if k.Type == FormatGoogleJSON {
		pub, err := x509.ParsePKIXPublicKey(k.PublicKey)
		if err != nil {
			return nil, kmserr.DataLoss(err, "stored key %s has an unreadable public key", id)
		}
		rsaPub, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, kmserr.DataLoss(nil, "stored key %s has a public key that is not RSA", id)
		}
		lk.pub = rsaPub
	}
	a.cache.put(gen, rn, lk, now)
	return lk, nil
}

// cachedIndex returns the target of an index record, from the cache or
// storage.
func (a *Apps) cachedIndex(ctx context.Context, name string) (string, error) {
	now := a.now()
	if v, ok := a.cache.get(name, now); ok {
		return v.(string), nil
	}
	gen := a.cache.gen.Load()
	target, _, err := a.readIndex(ctx, a.store, name)
	if err != nil {
		return "", err
	}
	a.cache.put(gen, name, target, now)
	return target, nil
}
