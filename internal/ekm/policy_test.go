// SPDX-License-Identifier: Apache-2.0

package ekm

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/auth"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/storage"
)

func TestPolicyNormalize(t *testing.T) {
	tests := []struct {
		name string
		in   Policy
		want Policy
		code codes.Code
	}{
		{"default", DefaultPolicy(), Policy{AllowAll: true, AllowedReasons: []string{}}, codes.OK},
		{"list sorted, deduplicated, upper-cased", Policy{AllowedReasons: []string{"google_initiated_service", "CUSTOMER_INITIATED_ACCESS", "GOOGLE_INITIATED_SERVICE"}},
			Policy{AllowedReasons: []string{"CUSTOMER_INITIATED_ACCESS", "GOOGLE_INITIATED_SERVICE"}}, codes.OK},
		{"flags kept", Policy{AllowMissing: true, AllowUnknown: true}, Policy{AllowMissing: true, AllowUnknown: true, AllowedReasons: []string{}}, codes.OK},
		{"unknown name", Policy{AllowedReasons: []string{"CUSTOMER_INITIATED_ACCESS", "NOT_A_REASON"}}, Policy{}, codes.InvalidArgument},
		{"unspecified", Policy{AllowedReasons: []string{"REASON_UNSPECIFIED"}}, Policy{}, codes.InvalidArgument},
		{"allowAll with a list", Policy{AllowAll: true, AllowedReasons: []string{"CUSTOMER_INITIATED_ACCESS"}}, Policy{}, codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.in.Normalize()
			if kmserr.Code(err) != tc.code {
				t.Fatalf("Normalize = %v, want %v", err, tc.code)
			}
			if err == nil {
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("Normalize (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestPolicyDecide(t *testing.T) {
	var (
		missing = Justification{Class: Missing}
		access  = Justification{Known, "CUSTOMER_INITIATED_ACCESS"}
		review  = Justification{Known, "GOOGLE_INITIATED_REVIEW"}
		newOne  = Justification{Unknown, "NEW_2030"}
	)
	list := Policy{AllowedReasons: []string{"CUSTOMER_INITIATED_ACCESS"}}
	tests := []struct {
		name string
		p    Policy
		j    Justification
		want Refusal
	}{
		{"default allows a known reason", DefaultPolicy(), review, ""},
		{"default refuses a missing one", DefaultPolicy(), missing, RefusedMissing},
		{"default refuses an unknown one", DefaultPolicy(), newOne, RefusedUnknown},
		{"list allows its reason", list, access, ""},
		{"list refuses another", list, review, RefusedNotAllowed},
		{"list refuses missing", list, missing, RefusedMissing},
		{"allow missing", Policy{AllowMissing: true}, missing, ""},
		{"allow missing is not allow all", Policy{AllowMissing: true}, access, RefusedNotAllowed},
		{"allow unknown", Policy{AllowUnknown: true}, newOne, ""},
		{"allow unknown is not allow missing", Policy{AllowUnknown: true}, missing, RefusedMissing},
		{"zero policy refuses all", Policy{}, access, RefusedNotAllowed},
	}
	for _, tc := range tests {
		if got := tc.p.Decide(tc.j); got != tc.want {
			t.Errorf("%s: Decide(%+v) = %q, want %q", tc.name, tc.j, got, tc.want)
		}
	}
}

func TestPolicies(t *testing.T) {
	e := newEnv(t)
	ctx := e.adminCtx
	app := e.apps.add("billing", "proj", testEmail)

	got, err := e.policies.Get(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Default || !got.AllowAll || got.AllowMissing || got.AllowUnknown {
		t.Errorf("Get of a new app = %+v, want the default policy", got)
	}
	if p, _ := e.policies.Effective(ctx, app); !cmp.Equal(p, DefaultPolicy()) {
		t.Errorf("Effective of a new app = %+v, want the default", p)
	}

	set, err := e.policies.Set(ctx, "billing", Policy{AllowedReasons: []string{"customer_initiated_access"}, AllowMissing: true})
	if err != nil {
		t.Fatalf("Set = %v", err)
	}
	want := Policy{AllowedReasons: []string{"CUSTOMER_INITIATED_ACCESS"}, AllowMissing: true}
	if set.Default || !cmp.Equal(set.Policy, want) || set.UpdateTime.IsZero() {
		t.Errorf("Set = %+v, want %+v", set, want)
	}
	if p, err := e.policies.Effective(ctx, app); err != nil || !cmp.Equal(p, want) {
		t.Errorf("Effective after Set = %+v, %v; want %+v", p, err, want)
	}
	if ev := e.audit.last(); ev.Method != "SetJustificationPolicy" || ev.Resource != "apps/billing/justificationPolicy" || ev.Err != nil {
		t.Errorf("audit = %+v, want SetJustificationPolicy on apps/billing/justificationPolicy", ev)
	}

	// An app created again under the same name starts from the default.
	again := &auth.App{Name: "billing", UID: "another-uid"}
	if p, _ := e.policies.Effective(ctx, again); !cmp.Equal(p, DefaultPolicy()) {
		t.Errorf("Effective for a new app of the same name = %+v, want the default", p)
	}

	// Refusals.
	if _, err := e.policies.Set(ctx, "billing", Policy{AllowedReasons: []string{"NOPE"}}); kmserr.Code(err) != codes.InvalidArgument {
		t.Errorf("Set with an unknown reason = %v, want INVALID_ARGUMENT", err)
	}
	if _, err := e.policies.Set(ctx, "nobody", DefaultPolicy()); kmserr.Code(err) != codes.NotFound {
		t.Errorf("Set on a missing app = %v, want NOT_FOUND", err)
	}
	appCtx := kms.WithCaller(context.Background(), &kms.Caller{Principal: "app:other", App: "other"})
	e.authz.grant("other", PermGetPolicy, "projects/proj")
	if _, err := e.policies.Set(appCtx, "billing", DefaultPolicy()); kmserr.Code(err) != codes.PermissionDenied {
		t.Errorf("Set by an app without custos.apps.update = %v, want PERMISSION_DENIED", err)
	}
	e.authz.grant("other", PermSetPolicy, "projects/proj")
	if _, err := e.policies.Set(appCtx, "billing", DefaultPolicy()); err != nil {
		t.Errorf("Set by an app with custos.apps.update = %v", err)
	}

	// A tampered record is refused, never used.
	rec, err := e.store.Get(ctx, policyRecordName("billing"))
	if err != nil {
		t.Fatal(err)
	}
	rec.Data = []byte(`{"app":"billing","appUid":"` + app.UID + `","policy":{"allowUnknown":true}}`)
	if err := e.store.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, rec) }); err != nil {
		t.Fatal(err)
	}
	e.policies.cache.Purge()
	if _, err := e.policies.Effective(ctx, app); kmserr.Code(err) != codes.DataLoss {
		t.Errorf("Effective of a tampered record = %v, want DATA_LOSS", err)
	}
}

// TestPolicyCacheFillRacingASet: a policy read from storage before a Set
// must not stay cached after it. Set's invalidation can come between the
// reader's check of the generation and its add to the cache (the hook runs
// the Set there); the old, looser policy would then be served until the
// cache's TTL, although a change is documented to apply to the next call.
func TestPolicyCacheFillRacingASet(t *testing.T) {
	e := newEnv(t)
	ctx := e.adminCtx
	app := e.apps.add("billing", "proj", testEmail)
	if _, err := e.policies.Set(ctx, "billing", Policy{AllowAll: true, AllowUnknown: true}); err != nil {
		t.Fatal(err)
	}
	e.policies.cache.Purge()

	tight := Policy{AllowedReasons: []string{"CUSTOMER_INITIATED_ACCESS"}}
	policyFillHook = func(string) {
		policyFillHook = nil
		if _, err := e.policies.Set(ctx, "billing", tight); err != nil {
			t.Errorf("Set = %v", err)
		}
	}
	defer func() { policyFillHook = nil }()
	// This read saw the old policy; it may use it once.
	if _, err := e.policies.Effective(ctx, app); err != nil {
		t.Fatal(err)
	}
	want := Policy{AllowedReasons: []string{"CUSTOMER_INITIATED_ACCESS"}}
	if p, err := e.policies.Effective(ctx, app); err != nil || !cmp.Equal(p, want) {
		t.Errorf("Effective after a Set that raced a cache fill = %+v, %v; want %+v", p, err, want)
	}
}

// TestPolicyCacheClockStepBack: CacheTTL bounds how late a change made by
// another server sharing the store is seen here. A clock stepped back (an
// NTP correction) must not make a cached policy look young for as long as
// the step.
func TestPolicyCacheClockStepBack(t *testing.T) {
	e := newEnv(t)
	ctx := e.adminCtx
	app := e.apps.add("billing", "proj", testEmail)
	clk := newClock()
	here, err := NewPolicies(PoliciesConfig{Store: e.store, Signer: e.ks, Apps: e.apps, Authorizer: e.authz, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := here.Effective(ctx, app); err != nil || !cmp.Equal(p, DefaultPolicy()) {
		t.Fatalf("Effective = %+v, %v", p, err)
	}
	// Another server tightens the policy; this one's clock steps back.
	tight := Policy{AllowedReasons: []string{"CUSTOMER_INITIATED_ACCESS"}}
	if _, err := e.policies.Set(ctx, "billing", tight); err != nil {
		t.Fatal(err)
	}
	clk.add(-time.Hour)
	if p, err := here.Effective(ctx, app); err != nil || !cmp.Equal(p, tight) {
		t.Errorf("Effective after the clock stepped back = %+v, %v; want the other server's %+v", p, err, tight)
	}
}

// TestPolicySetAuditsWhatWasAsked: the audit entry of a refused Set names
// the policy that was asked for, not an empty one.
func TestPolicySetAuditsWhatWasAsked(t *testing.T) {
	e := newEnv(t)
	e.apps.add("billing", "proj", testEmail)
	if _, err := e.policies.Set(e.adminCtx, "billing", Policy{AllowedReasons: []string{"NOPE\n"}, AllowMissing: true}); kmserr.Code(err) != codes.InvalidArgument {
		t.Fatalf("Set with an unknown reason = %v, want INVALID_ARGUMENT", err)
	}
	ev := e.audit.last()
	if ev.Method != "SetJustificationPolicy" || ev.Err == nil || ev.Details["allowedReasons"] != "NOPE?" || ev.Details["allowMissing"] != "true" {
		t.Errorf("audit of a refused Set = %+v, want the policy asked for", ev)
	}
}
