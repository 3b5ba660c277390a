// SPDX-License-Identifier: Apache-2.0

package iam

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage"
)

// Config is what an [Authorizer] is built from.
type Config struct {
	// Store holds the policies and groups. Required.
	Store storage.Store
	// Signer authenticates the stored records (*keystore.Keystore).
	// Required.
	Signer Signer
	// Exists returns nil if the key ring, crypto key or import job named
	// exists, a NOT_FOUND *kmserr.Error if it does not, or another error.
	// It must not authorize (the Authorizer has already). It is never
	// called for projects, which always exist. Required.
	Exists func(ctx context.Context, name string) error
	// Auditor records each change of a policy or group; nil records
	// nothing. An error from it fails the call (after the change).
	Auditor kms.Auditor
	// Logger; slog.Default() if nil.
	Logger *slog.Logger
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// CacheSize bounds the number of policies (present or absent) cached
	// in memory; 0 means 100,000.
	CacheSize int
	// CacheTTL is how long a cached policy or group index is trusted
	// before it is read again: it bounds how long a change made by another
	// server on the same storage takes to apply here (changes made through
	// this Authorizer apply at once). 0 means one minute; a negative value
	// means forever (a single server).
	CacheTTL time.Duration
}

// Authorizer decides from IAM policies whether an app may do something,
// and serves the IAM methods (GetIamPolicy, SetIamPolicy,
// TestIamPermissions) and the groups of apps. Safe for concurrent use.
//
// A policy on a project, a key ring, a crypto key or an import job applies
// to it and to everything under it: the permissions of an app on a crypto
// key are the union of what the policies of the key, its key ring and its
// project grant it, directly ("app:NAME") or through a group ("group:NAME")
// it is in. Locations and versions have no policies, as in Cloud KMS.
type Authorizer struct {
	rs     records
	exists func(ctx context.Context, name string) error
	audit  kms.Auditor
	log    *slog.Logger
	now    func() time.Time
	ttl    time.Duration // <0: forever

	cache  *policyCache
	groups atomic.Pointer[groupIndex] // nil until first read
	// groupsMu serializes group index reloads and invalidations, so that
	// a reload that read storage before a group change cannot store its
	// index after that change dropped the index.
	groupsMu sync.Mutex
}

var _ kms.Authorizer = (*Authorizer)(nil)

// New returns an Authorizer over cfg. It fails if a required field is
// missing.
func New(cfg Config) (*Authorizer, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("iam: Config.Store is nil")
	case cfg.Signer == nil:
		return nil, errors.New("iam: Config.Signer is nil")
	case cfg.Exists == nil:
		return nil, errors.New("iam: Config.Exists is nil")
	}
	a := &Authorizer{
		rs:     records{store: cfg.Store, signer: cfg.Signer},
		exists: cfg.Exists,
		audit:  cfg.Auditor,
		log:    cfg.Logger,
		now:    cfg.Now,
		ttl:    cfg.CacheTTL,
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.ttl == 0 {
		a.ttl = time.Minute
	}
	size := cfg.CacheSize
	if size <= 0 {
		size = 100_000
	}
	a.cache = newPolicyCache(size)
	return a, nil
}

// Authorize implements kms.Authorizer. It returns UNAUTHENTICATED if ctx
// has no caller, nil for the built-in admin, nil if some policy on res or
// above it grants perm to the calling app or to a group the app is in, and
// otherwise the PERMISSION_DENIED error of [Denied]. It reads policies only,
// never the resource, so a refusal says nothing about whether res exists.
// A policy that cannot be read fails the call (UNAVAILABLE, or INTERNAL for
// a record that fails its integrity check): it never allows.
//
// With the policies cached it reads no storage and does not allocate.
func (a *Authorizer) Authorize(ctx context.Context, perm string, res resource.Name) error {
	c := kms.CallerFrom(ctx)
	if c == nil {
		return kmserr.Unauthenticated("the request has no valid credential")
	}
	if c.Admin {
		return nil
	}
	ok, err := a.holds(ctx, c.App, perm, res)
	if err != nil {
		return err
	}
	if !ok {
		return Denied(perm, res)
	}
	return nil
}

// holds reports whether app holds perm on res through the policies of res
// and its ancestors.
func (a *Authorizer) holds(ctx context.Context, app, perm string, res resource.Name) (bool, error) {
	need := roles.permRoles[perm]
	if app == "" || need == 0 {
		return false, nil
	}
	now := a.now().UnixNano()
	gi, err := a.groupIndex(ctx, now)
	if err != nil {
		return false, err
	}
	groups := gi.byApp[app]
	for n := res; n.Kind != resource.KindInvalid; n = n.Parent() {
		key, ok := policyKey(n)
		if !ok {
			continue
		}
		p, err := a.compiled(ctx, key, now)
		if err != nil {
			return false, err
		}
		if p.grants(app, groups)&need != 0 {
			return true, nil
		}
	}
	return false, nil
}

// policyKey returns the canonical name under which n's policy is cached,
// and false for kinds that have no policy (locations, versions).
func policyKey(n resource.Name) (resource.Name, bool) {
	switch n.Kind {
	case resource.KindProject:
		return resource.Name{Kind: n.Kind, Project: n.Project}, true
	case resource.KindKeyRing:
		return resource.Name{Kind: n.Kind, Project: n.Project, Location: n.Location, KeyRing: n.KeyRing}, true
	case resource.KindCryptoKey:
		return resource.Name{Kind: n.Kind, Project: n.Project, Location: n.Location, KeyRing: n.KeyRing, CryptoKey: n.CryptoKey}, true
	case resource.KindImportJob:
		return resource.Name{Kind: n.Kind, Project: n.Project, Location: n.Location, KeyRing: n.KeyRing, ImportJob: n.ImportJob}, true
	}
	return resource.Name{}, false
}

// compiledPolicy is a policy as Authorize reads it: the mask of roles each
// app and each group holds.
type compiledPolicy struct {
	apps   map[string]uint64
	groups map[string]uint64
}

// grants returns the roles that app holds, directly or through groups.
// A nil policy (none stored) grants nothing.
func (p *compiledPolicy) grants(app string, groups []string) uint64 {
	if p == nil {
		return 0
	}
	m := p.apps[app]
	if len(p.groups) > 0 {
		for _, g := range groups {
			m |= p.groups[g]
		}
	}
	return m
}

// compile turns a stored policy into its masks. Bindings of roles that the
// table does not know (a role removed since it was bound) grant nothing.
func compile(p *Policy) *compiledPolicy {
	if len(p.Bindings) == 0 {
		return nil
	}
	c := &compiledPolicy{apps: map[string]uint64{}, groups: map[string]uint64{}}
	for _, b := range p.Bindings {
		bit := roles.bit[b.Role]
		if bit == 0 {
			continue
		}
		for _, m := range b.Members {
			if name, ok := strings.CutPrefix(m, appPrefix); ok {
				c.apps[name] |= bit
			} else if name, ok := strings.CutPrefix(m, groupPrefix); ok {
				c.groups[name] |= bit
			}
		}
	}
	return c
}

// compiled returns the compiled policy of key (nil if it has none), from
// the cache or else from storage. now is in Unix nanoseconds.
func (a *Authorizer) compiled(ctx context.Context, key resource.Name, now int64) (*compiledPolicy, error) {
	if p, ok := a.cache.get(key, now); ok {
		return p, nil
	}
	gen := a.cache.gen.Load()
	name := key.String()
	p, _, _, err := a.rs.readPolicy(ctx, a.rs.store, name)
	if err != nil {
		var ke *kmserr.Error
		if errors.As(err, &ke) && ke.Code == codes.DataLoss {
			a.log.Error("IAM policy failed its integrity check; denying", "resource", name, "err", err)
			return nil, kmserr.Internal(err, "cannot evaluate the IAM policy")
		}
		return nil, err
	}
	c := compile(p)
	a.cache.put(key, c, gen, a.expiry(now))
	return c, nil
}

// expiry returns when an entry cached at now must be read again.
func (a *Authorizer) expiry(now int64) int64 {
	if a.ttl < 0 {
		return 1<<63 - 1
	}
	return now + int64(a.ttl)
}

// policyCache is a bounded map of compiled policies by resource name,
// absent ones included (as nil), so that the hot path reads no storage.
//
// Consistency, as in the core's cache: a writer bumps gen after it commits
// and then drops the entry; a reader notes gen before it reads storage and
// caches what it read only if gen has not moved since, so that a policy
// read before a write is never cached after that write's invalidation.
type policyCache struct {
	gen  atomic.Uint64
	mu   sync.RWMutex
	m    map[resource.Name]cacheEntry
	size int
}

type cacheEntry struct {
	p   *compiledPolicy
	exp int64 // Unix nanoseconds
}

func newPolicyCache(size int) *policyCache {
	return &policyCache{m: make(map[resource.Name]cacheEntry), size: size}
}

func (c *policyCache) get(key resource.Name, now int64) (*compiledPolicy, bool) {
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	if !ok || now >= e.exp {
		return nil, false
	}
	return e.p, true
}

func (c *policyCache) put(key resource.Name, p *compiledPolicy, gen uint64, exp int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return // a write happened meanwhile: what we read may be stale
	}
	if _, ok := c.m[key]; !ok && len(c.m) >= c.size {
		// Evict one entry. Map iteration starts at a random place, which
		// makes this a random eviction: cheap, and fair enough for a
		// cache whose misses cost one storage read.
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[key] = cacheEntry{p: p, exp: exp}
}

func (c *policyCache) invalidate(key resource.Name) {
	c.gen.Add(1)
	c.mu.Lock()
	delete(c.m, key)
	c.mu.Unlock()
}

func (c *policyCache) invalidateAll() {
	c.gen.Add(1)
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}
