// SPDX-License-Identifier: Apache-2.0

package ekm

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/auth"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage"
	"github.com/custos-kms/custos/internal/storage/signed"
)

// Policy is an app's Key Access Justifications policy: which justifications
// its Cloud EKM calls may carry. The zero Policy refuses everything; see
// [DefaultPolicy] for what an app without one gets.
type Policy struct {
	// AllowAll allows every known reason; AllowedReasons must then be
	// empty.
	AllowAll bool `json:"allowAll"`
	// AllowedReasons are the known reasons allowed (canonical names).
	AllowedReasons []string `json:"allowedReasons"`
	// AllowMissing allows a call without a justification.
	AllowMissing bool `json:"allowMissing"`
	// AllowUnknown allows a reason that Custos does not know.
	AllowUnknown bool `json:"allowUnknown"`
}

// DefaultPolicy is the policy of an app that has none set: every known
// reason, no missing or unknown one.
func DefaultPolicy() Policy { return Policy{AllowAll: true, AllowedReasons: []string{}} }

// Normalize checks p and returns it with canonical, sorted, unique reason
// names. Names are compared without regard to case. It returns an
// INVALID_ARGUMENT error for an unknown name, REASON_UNSPECIFIED (use
// allowMissing), or reasons listed with allowAll.
func (p Policy) Normalize() (Policy, error) {
	out := Policy{AllowAll: p.AllowAll, AllowMissing: p.AllowMissing, AllowUnknown: p.AllowUnknown, AllowedReasons: []string{}}
	if p.AllowAll && len(p.AllowedReasons) > 0 {
		return Policy{}, kmserr.InvalidArgument("allowedReasons", "must be empty when allowAll is true")
	}
	for _, r := range p.AllowedReasons {
		up := strings.ToUpper(strings.TrimSpace(r))
		switch {
		case up == unspecified:
			return Policy{}, kmserr.InvalidArgument("allowedReasons", "REASON_UNSPECIFIED is not a reason: set allowMissing to allow calls without a justification")
		case !IsKnownReason(up):
			return Policy{}, kmserr.InvalidArgument("allowedReasons", "%q is not a known access reason; known reasons are %s", printable(r, 64), strings.Join(KnownReasons(), ", "))
		}
		out.AllowedReasons = append(out.AllowedReasons, up)
	}
	slices.Sort(out.AllowedReasons)
	out.AllowedReasons = slices.Compact(out.AllowedReasons)
	return out, nil
}

// Refusal says why a justification was refused ("" if it was allowed).
type Refusal string

const (
	RefusedMissing    Refusal = "justification_missing"
	RefusedUnknown    Refusal = "justification_unknown"
	RefusedNotAllowed Refusal = "justification_not_allowed"
)

// Decide returns "" if p allows j, or why not.
func (p Policy) Decide(j Justification) Refusal {
	switch j.Class {
	case Missing:
		if p.AllowMissing {
			return ""
		}
		return RefusedMissing
	case Known:
		if p.AllowAll || slices.Contains(p.AllowedReasons, j.Reason) {
			return ""
		}
		return RefusedNotAllowed
	default:
		if p.AllowUnknown {
			return ""
		}
		return RefusedUnknown
	}
}

// StoredPolicy is an app's policy as stored and shown.
type StoredPolicy struct {
	App    string `json:"app"`
	Policy        // inline
	// Default is true when the app has no policy of its own (DefaultPolicy).
	Default    bool      `json:"default"`
	UpdateTime time.Time `json:"updateTime,omitzero"`
}

// policyRecord is the stored form. AppUID ties it to one app: an app
// deleted and created again under the same name gets a new UID and so
// starts from the default policy, not from its predecessor's.
type policyRecord struct {
	App        string    `json:"app"`
	AppUID     string    `json:"appUid"`
	Policy     Policy    `json:"policy"`
	UpdateTime time.Time `json:"updateTime"`
}

// Storage of policies.
const (
	// KindPolicy is the storage kind of policy records.
	KindPolicy   storage.Kind = "ekmpolicy"
	policyParent              = "ekmpolicy"
)

func policyRecordName(app string) string { return "ekmpolicy/" + app }

// Signer authenticates stored records; *keystore.Keystore is one.
type Signer interface {
	// Sign sets r.MAC.
	Sign(r *storage.Record)
	// Verify returns an error unless r.MAC authenticates r.
	Verify(r storage.Record) error
}

// AppReader reads apps; *auth.Apps implements it. GetApp authorizes its
// caller (custos.apps.get); AppByGoogleEmail does not.
type AppReader interface {
	GetApp(ctx context.Context, name string) (*auth.App, error)
	AppByGoogleEmail(ctx context.Context, email string) (*auth.App, error)
}

var _ AppReader = (*auth.Apps)(nil)

// PoliciesConfig is what [Policies] is built from.
type PoliciesConfig struct {
	Store      storage.Store
	Signer     Signer
	Apps       AppReader
	Authorizer kms.Authorizer
	Auditor    kms.Auditor // nil: changes not recorded
	Now        func() time.Time
	// CacheTTL bounds how late a change made by another server sharing
	// the store is seen here (changes made here apply at once); 5 s if 0.
	CacheTTL time.Duration
	// CacheSize bounds the policies cached; 10 000 if 0.
	CacheSize int
}

// Policies stores the justification policies of apps, as records of kind
// "ekmpolicy" signed by the keystore, and caches them. Safe for concurrent
// use.
//
// Policies are per app, not per key: the key's owner says which reasons
// each Google project (one service agent, one app) may use. A per-key
// restriction is what Cloud KMS's own keyAccessJustificationsPolicy on the
// Google-side key already expresses.
type Policies struct {
	store storage.Store
	sign  Signer
	apps  AppReader
	authz kms.Authorizer
	audit kms.Auditor
	now   func() time.Time
	ttl   time.Duration

	gen   atomic.Uint64 // moves on every change made here
	cache *lru.Cache[string, cachedPolicy]
}

type cachedPolicy struct {
	rec    *policyRecord // nil: none stored
	readAt time.Time
}

// NewPolicies builds a Policies.
func NewPolicies(cfg PoliciesConfig) (*Policies, error) {
	if cfg.Store == nil || cfg.Signer == nil || cfg.Apps == nil || cfg.Authorizer == nil {
		return nil, errors.New("ekm: Store, Signer, Apps and Authorizer are required")
	}
	p := &Policies{store: cfg.Store, sign: cfg.Signer, apps: cfg.Apps, authz: cfg.Authorizer, audit: cfg.Auditor, now: cfg.Now, ttl: cfg.CacheTTL}
	if p.now == nil {
		p.now = time.Now
	}
	if p.ttl <= 0 {
		p.ttl = 5 * time.Second
	}
	size := cfg.CacheSize
	if size <= 0 {
		size = 10_000
	}
	p.cache, _ = lru.New[string, cachedPolicy](size)
	return p, nil
}

// Effective returns the policy that applies to app's calls now: its own,
// or [DefaultPolicy]. It does not authorize (it serves the EKM endpoint,
// after the caller was identified). A storage fault is UNAVAILABLE and a
// tampered record DATA_LOSS: never a refusal.
func (p *Policies) Effective(ctx context.Context, app *auth.App) (Policy, error) {
	rec, err := p.cached(ctx, app.Name)
	if err != nil {
		return Policy{}, err
	}
	if rec == nil || rec.AppUID != app.UID {
		return DefaultPolicy(), nil
	}
	return rec.Policy, nil
}

func (p *Policies) cached(ctx context.Context, name string) (*policyRecord, error) {
	now := p.now()
	// An entry from the future (the clock stepped back) is read again.
	if c, ok := p.cache.Get(name); ok && now.Sub(c.readAt) < p.ttl && !now.Before(c.readAt) {
		return c.rec, nil
	}
	gen := p.gen.Load()
	rec, _, err := p.read(ctx, p.store, name)
	if err != nil {
		return nil, err
	}
	p.fill(gen, name, cachedPolicy{rec: rec, readAt: now})
	return rec, nil
}

// policyFillHook, if set, runs in fill between the check of gen and the
// add (tests use it to run a Set there).
var policyFillHook func(name string)

// fill caches c under name, read from storage when gen was gen, unless a
// Set has invalidated the cache since. A Set whose invalidation comes
// between the check of gen and the add has already removed name, so the
// add is undone if gen moved meanwhile: a Set either sees the entry (and
// removes it) or bumps gen before the second check.
func (p *Policies) fill(gen uint64, name string, c cachedPolicy) {
	if p.gen.Load() != gen {
		return
	}
	if policyFillHook != nil {
		policyFillHook(name)
	}
	p.cache.Add(name, c)
	if p.gen.Load() != gen {
		p.cache.Remove(name)
	}
}

// read returns the stored policy of app (nil if none) and its record.
func (p *Policies) read(ctx context.Context, rd storage.Reader, app string) (*policyRecord, storage.Record, error) {
	r, err := rd.Get(ctx, policyRecordName(app))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, storage.Record{}, nil
	}
	if err != nil {
		return nil, r, storeErr(err)
	}
	rec := new(policyRecord)
	if err := signed.Decode(p.sign, r, KindPolicy, rec); err != nil {
		return nil, r, err
	}
	if rec.App != app {
		return nil, r, kmserr.DataLoss(nil, "stored record %s holds the policy of app %s", r.Name, rec.App)
	}
	return rec, r, nil
}

// storeErr converts a storage error: transient faults are UNAVAILABLE.
func storeErr(err error) error {
	if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrExists) {
		return kmserr.Aborted("the policy was changed concurrently; retry")
	}
	return signed.Err(err, "policy", "")
}

// Permissions of the policy methods, on the app's home project.
const (
	PermGetPolicy = auth.PermAppsGet
	PermSetPolicy = auth.PermAppsUpdate
)

// Get returns app's justification policy. The caller needs
// custos.apps.get on the app's project (checked by reading the app).
func (p *Policies) Get(ctx context.Context, appName string) (*StoredPolicy, error) {
	app, err := p.apps.GetApp(ctx, appName)
	if err != nil {
		return nil, err
	}
	rec, _, err := p.read(ctx, p.store, app.Name)
	if err != nil {
		return nil, err
	}
	return shown(app, rec), nil
}

func shown(app *auth.App, rec *policyRecord) *StoredPolicy {
	if rec == nil || rec.AppUID != app.UID {
		return &StoredPolicy{App: app.Name, Policy: DefaultPolicy(), Default: true}
	}
	return &StoredPolicy{App: app.Name, Policy: rec.Policy, UpdateTime: rec.UpdateTime}
}

// Set replaces app's justification policy. The caller needs custos.apps.get
// (to read the app) and custos.apps.update on the app's home project
// (projects/_ for an app without one); the built-in admin has both. The
// change applies to the next call on this server at once. It is recorded
// in the audit log as "SetJustificationPolicy".
func (p *Policies) Set(ctx context.Context, appName string, pol Policy) (*StoredPolicy, error) {
	app, err := p.apps.GetApp(ctx, appName)
	if err != nil {
		return nil, err
	}
	res := "apps/" + app.Name + "/justificationPolicy"
	project := app.Project
	if project == "" {
		project = auth.NoProject
	}
	// The audit entry names the policy asked for: the normalized one, or
	// the request as it came (bounded, printable) when it is refused.
	norm, nerr := pol.Normalize()
	if nerr == nil {
		pol = norm
	}
	details := map[string]string{"app": app.Name, "allowAll": boolStr(pol.AllowAll),
		"allowedReasons": printable(strings.Join(pol.AllowedReasons, ","), maxDetail), "allowMissing": boolStr(pol.AllowMissing),
		"allowUnknown": boolStr(pol.AllowUnknown)}
	if err := p.authz.Authorize(ctx, PermSetPolicy, resource.Name{Kind: resource.KindProject, Project: project}); err != nil {
		if kmserr.Code(err) == codes.PermissionDenied {
			err = kmserr.PermissionDenied("Permission '%s' denied on resource '%s' (or it may not exist).", PermSetPolicy, res)
		}
		p.record(ctx, res, details, err)
		return nil, err
	}
	if nerr != nil {
		p.record(ctx, res, details, nerr)
		return nil, nerr
	}
	rec := &policyRecord{App: app.Name, AppUID: app.UID, Policy: pol, UpdateTime: p.now().UTC()}
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, kmserr.Internal(err, "internal error")
	}
	r := storage.Record{Kind: KindPolicy, Name: policyRecordName(app.Name), Parent: policyParent, Data: data}
	p.sign.Sign(&r)
	err = p.store.Update(ctx, func(tx storage.Tx) error {
		return tx.Put(ctx, r)
	})
	if err != nil {
		err = storeErr(err)
	} else {
		p.gen.Add(1)
		p.cache.Remove(app.Name)
	}
	if aerr := p.record(ctx, res, details, err); aerr != nil && err == nil {
		return nil, aerr
	}
	if err != nil {
		return nil, err
	}
	return shown(app, rec), nil
}

func (p *Policies) record(ctx context.Context, res string, details map[string]string, err error) error {
	if p.audit == nil {
		return nil
	}
	return p.audit.Record(ctx, kms.Event{Method: "SetJustificationPolicy", Resource: res, Err: err, Details: details})
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
