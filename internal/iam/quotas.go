// SPDX-License-Identifier: Apache-2.0

package iam

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage"
)

// MaxRPM is the largest quota that can be set, in requests per minute.
const MaxRPM = 100_000_000

// Quota is a request rate limit on an app ("app:NAME") or on a project
// ("projects/P"), in requests per minute.
type Quota struct {
	Target string `json:"target"`
	RPM    int    `json:"rpm"`
}

// QuotasConfig is what [NewQuotas] builds Quotas from.
type QuotasConfig struct {
	// Store holds the quotas. Required.
	Store storage.Store
	// Signer authenticates the stored records (*keystore.Keystore). Required.
	Signer Signer
	// Auditor records each change ("SetQuota"); nil records nothing.
	Auditor kms.Auditor
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Quotas limits the rate of requests per app and per project with token
// buckets: a bucket of rpm tokens (at least 1) refilled at rpm/60 tokens per
// second; each request takes one token from its app's bucket and one from
// its project's, or is refused RESOURCE_EXHAUSTED with the time after which
// a token will be there. Nothing is limited unless a quota is set, and the
// built-in admin is never limited. Safe for concurrent use.
//
// Quotas are stored and read into memory by [NewQuotas] and [Quotas.Reload];
// [Quotas.Allow] reads no storage. Each server keeps its own buckets: with
// several servers on one storage, each allows up to the quota.
type Quotas struct {
	rs    records
	audit kms.Auditor
	now   func() time.Time

	active   atomic.Int32  // number of buckets; 0 makes Allow free
	gen      atomic.Uint64 // moves after each Set commits, for Reload
	mu       sync.Mutex    // guards the maps and the buckets in them
	apps     map[string]*bucket
	projects map[string]*bucket
}

// bucket is one token bucket.
type bucket struct {
	rpm    int
	tokens float64
	last   time.Time
}

// Storage of quotas.
const (
	kindQuota   storage.Kind = "quota"
	quotaParent              = "quota"
)

func quotaRecordName(target string) string { return "quota/" + target }

// NewQuotas reads the stored quotas and returns Quotas that enforce them.
func NewQuotas(ctx context.Context, cfg QuotasConfig) (*Quotas, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("iam: QuotasConfig.Store is nil")
	case cfg.Signer == nil:
		return nil, errors.New("iam: QuotasConfig.Signer is nil")
	}
	q := &Quotas{
		rs:       records{store: cfg.Store, signer: cfg.Signer},
		audit:    cfg.Auditor,
		now:      cfg.Now,
		apps:     map[string]*bucket{},
		projects: map[string]*bucket{},
	}
	if q.now == nil {
		q.now = time.Now
	}
	if err := q.Reload(ctx); err != nil {
		return nil, err
	}
	return q, nil
}

// Reload reads the stored quotas again (to see changes made by another
// server). Buckets whose quota did not change keep their tokens.
func (q *Quotas) Reload(ctx context.Context) error {
	var stored []Quota
	for {
		gen := q.gen.Load()
		var err error
		if stored, err = q.read(ctx); err != nil {
			return err
		}
		q.mu.Lock()
		if q.gen.Load() == gen {
			break // still holding mu
		}
		// A Set committed while we read: what we read may predate it.
		q.mu.Unlock()
	}
	defer q.mu.Unlock()
	now := q.now()
	apps, projects := map[string]*bucket{}, map[string]*bucket{}
	for _, s := range stored {
		m, old, key := apps, q.apps, ""
		if name, ok := strings.CutPrefix(s.Target, appPrefix); ok {
			key = name
		} else {
			m, old, key = projects, q.projects, strings.TrimPrefix(s.Target, "projects/")
		}
		if b, ok := old[key]; ok && b.rpm == s.RPM {
			m[key] = b
		} else {
			m[key] = newBucket(s.RPM, now)
		}
	}
	q.apps, q.projects = apps, projects
	q.active.Store(int32(len(apps) + len(projects)))
	return nil
}

func (q *Quotas) read(ctx context.Context) ([]Quota, error) {
	var out []Quota
	err := eachRecord(ctx, q.rs.store, kindQuota, quotaParent, func(r storage.Record) error {
		var s Quota
		if err := q.rs.decode(r, kindQuota, &s); err != nil {
			return err
		}
		if r.Name != quotaRecordName(s.Target) {
			return kmserr.DataLoss(nil, "stored record %s holds the quota of %s", r.Name, s.Target)
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

func newBucket(rpm int, now time.Time) *bucket {
	return &bucket{rpm: rpm, tokens: float64(burst(rpm)), last: now}
}

func burst(rpm int) int { return max(rpm, 1) }

// parseTarget checks a quota target: "app:NAME" or "projects/P".
func parseTarget(target string) error {
	if name, ok := strings.CutPrefix(target, appPrefix); ok && validName(name) {
		return nil
	}
	if _, err := resource.ParseKind(target, resource.KindProject); err == nil {
		return nil
	}
	return kmserr.InvalidArgument("target", "%q is not a quota target: want app:NAME or projects/PROJECT", target)
}

// Set sets the quota of target ("app:NAME" or "projects/P") to rpm
// requests per minute, or removes it if rpm is 0. Only the admin may call
// it. It returns INVALID_ARGUMENT for a bad target or an rpm outside
// [0, MaxRPM], and records a "SetQuota" admin event whatever the outcome. The new quota applies
// at once on this server, with a full bucket.
func (q *Quotas) Set(ctx context.Context, target string, rpm int) error {
	err := q.set(ctx, target, rpm)
	e := kms.Event{Method: "SetQuota", Resource: target, Err: err, Details: map[string]string{"rpm": fmt.Sprint(rpm)}}
	return recordEvent(ctx, q.audit, e, err)
}

func (q *Quotas) set(ctx context.Context, target string, rpm int) error {
	if err := requireAdmin(ctx, "manage quotas"); err != nil {
		return err
	}
	if err := parseTarget(target); err != nil {
		return err
	}
	if rpm < 0 || rpm > MaxRPM {
		return kmserr.InvalidArgument("rpm", "must be between 0 (no quota) and %d", MaxRPM)
	}
	var err error
	if rpm == 0 {
		err = q.rs.store.Update(ctx, func(tx storage.Tx) error { return tx.Delete(ctx, quotaRecordName(target)) })
	} else {
		var rec storage.Record
		if rec, err = q.rs.encode(kindQuota, quotaRecordName(target), quotaParent, Quota{Target: target, RPM: rpm}); err != nil {
			return err
		}
		err = q.rs.store.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, rec) })
	}
	if err != nil {
		return storeErr(err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.gen.Add(1)
	m, key := q.apps, strings.TrimPrefix(target, appPrefix)
	if strings.HasPrefix(target, "projects/") {
		m, key = q.projects, strings.TrimPrefix(target, "projects/")
	}
	if rpm == 0 {
		delete(m, key)
	} else {
		m[key] = newBucket(rpm, q.now())
	}
	q.active.Store(int32(len(q.apps) + len(q.projects)))
	return nil
}

// Get returns the quota of target, or NOT_FOUND if it has none. Only the
// admin may call it. It answers from memory.
func (q *Quotas) Get(ctx context.Context, target string) (Quota, error) {
	if err := requireAdmin(ctx, "read quotas"); err != nil {
		return Quota{}, err
	}
	if err := parseTarget(target); err != nil {
		return Quota{}, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	m, key := q.apps, strings.TrimPrefix(target, appPrefix)
	if strings.HasPrefix(target, "projects/") {
		m, key = q.projects, strings.TrimPrefix(target, "projects/")
	}
	b, ok := m[key]
	if !ok {
		return Quota{}, kmserr.NotFound("%s has no quota", target)
	}
	return Quota{Target: target, RPM: b.rpm}, nil
}

// List returns every quota, sorted by target. Only the admin may call it.
// It answers from memory.
func (q *Quotas) List(ctx context.Context) ([]Quota, error) {
	if err := requireAdmin(ctx, "read quotas"); err != nil {
		return nil, err
	}
	q.mu.Lock()
	out := make([]Quota, 0, len(q.apps)+len(q.projects))
	for name, b := range q.apps {
		out = append(out, Quota{Target: appPrefix + name, RPM: b.rpm})
	}
	for p, b := range q.projects {
		out = append(out, Quota{Target: "projects/" + p, RPM: b.rpm})
	}
	q.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	return out, nil
}

// Allow takes one token from the bucket of the caller's app and one from
// that of res's project, or neither if either is empty: then it returns a
// *[QuotaError] (RESOURCE_EXHAUSTED) that says when to retry. It returns
// nil for a nil caller, for the admin, and when no quota applies. It reads
// no storage and does not allocate unless it refuses.
func (q *Quotas) Allow(c *kms.Caller, res resource.Name) error {
	if c == nil || c.Admin || q.active.Load() == 0 {
		return nil
	}
	now := q.now()
	q.mu.Lock()
	var ab, pb *bucket
	if c.App != "" {
		ab = q.apps[c.App]
	}
	if res.Project != "" {
		pb = q.projects[res.Project]
	}
	aw, pw := ab.refill(now), pb.refill(now)
	if aw == 0 && pw == 0 {
		ab.take()
		pb.take()
		q.mu.Unlock()
		return nil
	}
	q.mu.Unlock()
	if aw >= pw {
		return quotaExceeded(appPrefix+c.App, ab.rpm, aw)
	}
	return quotaExceeded("projects/"+res.Project, pb.rpm, pw)
}

// refill adds the tokens earned since the last call and returns 0 if a
// token is there, or else how long until one is. A nil bucket (no quota)
// always has one.
func (b *bucket) refill(now time.Time) time.Duration {
	if b == nil {
		return 0
	}
	rate := float64(b.rpm) / 60 // tokens per second
	if el := now.Sub(b.last); el > 0 {
		b.tokens = math.Min(float64(burst(b.rpm)), b.tokens+el.Seconds()*rate)
		b.last = now
	}
	if b.tokens >= 1 {
		return 0
	}
	return max(time.Duration(math.Ceil((1-b.tokens)/rate*float64(time.Second))), time.Nanosecond)
}

func (b *bucket) take() {
	if b != nil {
		b.tokens--
	}
}

func quotaExceeded(subject string, rpm int, wait time.Duration) *QuotaError {
	return &QuotaError{
		Err: kmserr.ResourceExhausted("Quota exceeded: %s is limited to %d requests per minute; retry after %v.",
			subject, rpm, wait.Round(time.Millisecond)),
		Subject:    subject,
		RetryDelay: wait,
	}
}

// QuotaError is the RESOURCE_EXHAUSTED error of a request over quota. It
// wraps the *kmserr.Error that carries its code and message, so that
// errors.As finds that too; its own GRPCStatus adds a google.rpc.RetryInfo
// detail with RetryDelay and a google.rpc.QuotaFailure naming Subject.
// An adapter that converts errors must keep it whole to keep the details
// (see [RetryAfter]).
type QuotaError struct {
	Err *kmserr.Error
	// Subject is the quota exceeded: "app:NAME" or "projects/P".
	Subject string
	// RetryDelay is how long until the request would be allowed.
	RetryDelay time.Duration
}

func (e *QuotaError) Error() string { return e.Err.Error() }

// Unwrap returns the *kmserr.Error.
func (e *QuotaError) Unwrap() error { return e.Err }

// GRPCStatus returns RESOURCE_EXHAUSTED with the message and the RetryInfo
// and QuotaFailure details.
func (e *QuotaError) GRPCStatus() *status.Status {
	st := status.New(codes.ResourceExhausted, e.Err.Msg)
	ds, err := st.WithDetails(
		&errdetails.RetryInfo{RetryDelay: durationpb.New(e.RetryDelay)},
		&errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{
			Subject: e.Subject, Description: "requests per minute",
		}}},
	)
	if err != nil {
		// Unreachable: both details are registered messages that marshal.
		return st
	}
	return ds
}

// RetryAfter returns the retry delay of a request refused for its quota
// (err is or wraps a *QuotaError), for an HTTP Retry-After header.
func RetryAfter(err error) (time.Duration, bool) {
	var qe *QuotaError
	if errors.As(err, &qe) {
		return qe.RetryDelay, true
	}
	return 0, false
}

// WithQuotas returns an authorizer that checks a's decision first and then,
// if a allows, takes the caller's quota from q (see [Quotas.Allow]). A
// refused request therefore never spends quota. A nil q returns a.
func WithQuotas(a kms.Authorizer, q *Quotas) kms.Authorizer {
	if q == nil {
		return a
	}
	return quotaAuthorizer{a: a, q: q}
}

type quotaAuthorizer struct {
	a kms.Authorizer
	q *Quotas
}

var _ kms.Authorizer = quotaAuthorizer{}

func (qa quotaAuthorizer) Authorize(ctx context.Context, perm string, res resource.Name) error {
	if err := qa.a.Authorize(ctx, perm, res); err != nil {
		return err
	}
	return qa.q.Allow(kms.CallerFrom(ctx), res)
}
