// SPDX-License-Identifier: Apache-2.0

// Package kms is the core of Custos: key rings, crypto keys, versions and
// every operation on them, on the Google Cloud KMS v1 model. Every API
// surface (gRPC, REST, CLI through REST, Cloud EKM) is a thin adapter over
// [Service]; none of them holds logic that another needs.
//
// # Calls
//
// Each method authorizes first, through [Authorizer], before it looks
// anything up, so that a caller without the permission learns nothing about
// whether the resource exists. Then it validates, acts, and reports the
// outcome to [Auditor]. Errors are *kmserr.Error values carrying a gRPC code.
//
// # Material
//
// Key material leaves storage only through the keystore, which unseals it;
// unsealed material is held in a bounded cache of ready-to-use primitives,
// dropped as soon as the version changes.
package kms

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage"
)

// Caller is who makes a call, as the adapters authenticated them.
type Caller struct {
	// Principal names the caller, e.g. "admin" or "app:billing".
	Principal string
	// AuthMethod says how they authenticated ("admin-token", "api-key", ...).
	AuthMethod string
	// Admin is the built-in owner: every permission on every resource.
	Admin bool
	// App is the app's name when an app calls ("" for the admin).
	App string
	// RequestID and ClientAddress identify the request for the audit log.
	RequestID     string
	ClientAddress string
}

type callerKey struct{}

// WithCaller returns a context carrying the caller of a request.
func WithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller of the request, or nil.
func CallerFrom(ctx context.Context) *Caller {
	c, _ := ctx.Value(callerKey{}).(*Caller)
	return c
}

// Authorizer decides whether the caller in ctx holds permission on the
// resource. It must not look the resource up: it answers from policies only,
// so that a denial reveals nothing. It returns a PERMISSION_DENIED or
// UNAUTHENTICATED *kmserr.Error, or nil.
type Authorizer interface {
	Authorize(ctx context.Context, permission string, res resource.Name) error
}

// Event is one call as the audit log records it.
type Event struct {
	Method   string // as Cloud KMS names it, e.g. "CreateCryptoKey"
	Resource string
	Err      error // nil on success
	// DataAccess is true for uses of key material (encrypt, sign, ...),
	// false for admin activity (creates, updates, state changes).
	DataAccess bool
	// Justification is the access justification of a Cloud EKM call.
	Justification string
	// Details holds other facts worth keeping (Google resource names of an
	// EKM call, the app's policy decision, ...). Never secrets. The
	// auditor may keep the map after Record returns: make a new one for
	// each event.
	Details map[string]string
}

// Auditor records every call. An error from Record fails the call, so that
// nothing happens unrecorded (fail closed).
type Auditor interface {
	Record(ctx context.Context, e Event) error
}

// Config is what a Service is built from.
type Config struct {
	Store      storage.Store
	Keystore   *keystore.Keystore
	Authorizer Authorizer
	Auditor    Auditor // nil: nothing recorded
	Logger     *slog.Logger
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// MinRotationPeriod and MinDestroyDuration are the lower bounds of
	// rotation_period and destroy_scheduled_duration: 24 h as in Cloud KMS,
	// lowered only by the dev flag --dev-allow-short-durations.
	MinRotationPeriod  time.Duration
	MinDestroyDuration time.Duration
	// CacheSize bounds the number of keys and versions cached in memory.
	CacheSize int
	// MaxEncryptions bounds the AES-GCM encryptions of one key version
	// (DefaultMaxEncryptions if 0; tests lower it): a key whose primary
	// reaches it is rotated.
	MaxEncryptions int64
	// Observe, if set, is told the method, outcome and duration of every
	// call (metrics).
	Observe func(method string, code codes.Code, d time.Duration)
}

// Service is the core. Safe for concurrent use.
type Service struct {
	store   storage.Store
	ks      *keystore.Keystore
	authz   Authorizer
	audit   Auditor
	log     *slog.Logger
	now     func() time.Time
	minRot  time.Duration
	minDest time.Duration
	maxEnc  int64
	// budgets, budgetDropped, epochMu and epochs: see usage.go.
	budgets       *lru.Cache[string, *usage]
	budgetDropped atomic.Bool // a budget was dropped from budgets
	epochMu       sync.Mutex
	epochs        int64
	cache         *cache
	fpKey         []byte
	observe       func(method string, code codes.Code, d time.Duration)
	// scrubAfter is when (Unix nanoseconds) the scheduler asks the store
	// again to scrub, after a scrub failed; 0 when none is pending.
	scrubAfter atomic.Int64
}

// DefaultDestroyScheduledDuration is the destroy_scheduled_duration of a key
// created without one. Cloud KMS now defaults to 30 days; Custos keeps 24 h.
const DefaultDestroyScheduledDuration = 24 * time.Hour

// New builds a Service.
func New(cfg Config) *Service {
	s := &Service{
		store:   cfg.Store,
		ks:      cfg.Keystore,
		authz:   cfg.Authorizer,
		audit:   cfg.Auditor,
		log:     cfg.Logger,
		now:     cfg.Now,
		minRot:  cfg.MinRotationPeriod,
		minDest: cfg.MinDestroyDuration,
		maxEnc:  cfg.MaxEncryptions,
		observe: cfg.Observe,
	}
	if s.maxEnc <= 0 {
		s.maxEnc = DefaultMaxEncryptions
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.minRot == 0 {
		s.minRot = 24 * time.Hour
	}
	if s.minDest == 0 {
		s.minDest = 24 * time.Hour
	}
	size := cfg.CacheSize
	if size <= 0 {
		size = 100_000
	}
	s.cache = newCache(size)
	s.budgets, _ = lru.NewWithEvict(size, func(string, *usage) { s.budgetDropped.Store(true) })
	s.fpKey = cfg.Keystore.Derive("custos material fingerprint v1", 32)
	s.store = &sealGuard{Store: cfg.Store, s: s} // see Reseal
	return s
}

// call runs the common frame of every method: authorize on res, run fn, and
// record the outcome. data says whether the call reads or uses keys (audited
// where data-access audit is on) rather than changing them (always audited).
// fn's error is returned as is (it is already a *kmserr.Error).
func (s *Service) call(ctx context.Context, method, perm string, res resource.Name, data bool, fn func() error) error {
	return s.callFor(ctx, method, perm, res, data, nil, fn)
}

// callFor is call for methods that create a resource: the audit entry names
// *target (the new resource, known once fn ran) when it is set, not res.
func (s *Service) callFor(ctx context.Context, method, perm string, res resource.Name, data bool, target *string, fn func() error) (err error) {
	if s.observe != nil {
		start := time.Now()
		defer func() { s.observe(method, kmserr.Code(err), time.Since(start)) }()
	}
	if err := s.authz.Authorize(ctx, perm, res); err != nil {
		s.record(ctx, method, res.String(), data, err)
		return err
	}
	err = fn()
	name := res.String()
	if target != nil && *target != "" {
		name = *target
	}
	if aerr := s.record(ctx, method, name, data, err); aerr != nil && err == nil {
		return aerr
	}
	return err
}

func (s *Service) record(ctx context.Context, method, res string, data bool, err error) error {
	if s.audit == nil {
		return nil
	}
	return s.audit.Record(ctx, Event{Method: method, Resource: res, Err: err, DataAccess: data})
}
