// SPDX-License-Identifier: Apache-2.0

package iam

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
)

func newQuotas(t testing.TB, e *env) *Quotas {
	t.Helper()
	q, err := NewQuotas(context.Background(), QuotasConfig{Store: e.store, Signer: e.ks, Auditor: e.audit, Now: e.clk.now})
	if err != nil {
		t.Fatalf("NewQuotas = %v", err)
	}
	return q
}

func app(name string) *kms.Caller { return &kms.Caller{Principal: "app:" + name, App: name} }

// allowN calls Allow n times and returns how many were allowed.
func allowN(q *Quotas, c *kms.Caller, res resource.Name, n int) int {
	ok := 0
	for range n {
		if q.Allow(c, res) == nil {
			ok++
		}
	}
	return ok
}

func TestQuotaTokenBucket(t *testing.T) {
	e := newEnv(t)
	q := newQuotas(t, e)
	res := mustParse(t, keyA)
	if err := q.Set(adminCtx, "app:billing", 60); err != nil {
		t.Fatalf("Set = %v", err)
	}
	// Burst: rpm requests at once.
	if got := allowN(q, app("billing"), res, 100); got != 60 {
		t.Errorf("allowed %d of 100 at once, want 60 (the burst)", got)
	}
	err := q.Allow(app("billing"), res)
	if d, ok := RetryAfter(err); !ok || d != time.Second {
		t.Errorf("RetryAfter(%v) = %v, %v; want 1s, true", err, d, ok)
	}
	// Refill: 1 per second.
	e.clk.add(500 * time.Millisecond)
	if d, _ := RetryAfter(q.Allow(app("billing"), res)); d != 500*time.Millisecond {
		t.Errorf("retry delay after 0.5s = %v, want 0.5s", d)
	}
	e.clk.add(500 * time.Millisecond)
	if got := allowN(q, app("billing"), res, 5); got != 1 {
		t.Errorf("allowed %d after 1s, want 1", got)
	}
	e.clk.add(time.Hour) // refills to the burst, not beyond
	if got := allowN(q, app("billing"), res, 100); got != 60 {
		t.Errorf("allowed %d after an hour, want 60", got)
	}
	// Other apps and the admin are not limited.
	if got := allowN(q, app("payroll"), res, 100); got != 100 {
		t.Errorf("allowed %d for an app without quota, want 100", got)
	}
	if got := allowN(q, &kms.Caller{Admin: true}, res, 100); got != 100 {
		t.Errorf("allowed %d for the admin, want 100", got)
	}
}

func TestQuotaSmallRPM(t *testing.T) {
	e := newEnv(t)
	q := newQuotas(t, e)
	res := mustParse(t, keyA)
	if err := q.Set(adminCtx, "app:slow", 1); err != nil {
		t.Fatal(err)
	}
	if err := q.Allow(app("slow"), res); err != nil {
		t.Fatalf("first Allow = %v", err)
	}
	if d, _ := RetryAfter(q.Allow(app("slow"), res)); d != time.Minute {
		t.Errorf("retry delay = %v, want 1m", d)
	}
}

func TestQuotaProject(t *testing.T) {
	e := newEnv(t)
	q := newQuotas(t, e)
	if err := q.Set(adminCtx, "projects/p", 10); err != nil {
		t.Fatal(err)
	}
	if err := q.Set(adminCtx, "app:a", 100); err != nil {
		t.Fatal(err)
	}
	inP, inQ := mustParse(t, keyA), mustParse(t, other)
	// The project's quota is shared by every app.
	if got := allowN(q, app("a"), inP, 5) + allowN(q, app("b"), inP, 10); got != 10 {
		t.Errorf("allowed %d in project p, want 10", got)
	}
	// A refusal by the project spends nothing of the app's quota.
	if got := allowN(q, app("a"), inQ, 200); got != 95 {
		t.Errorf("allowed %d for app a in project q, want 95 (100 less the 5 it used)", got)
	}
	err := q.Allow(app("b"), inP)
	var qe *QuotaError
	if !errors.As(err, &qe) || qe.Subject != "projects/p" {
		t.Errorf("Allow over the project quota = %v, want a QuotaError on projects/p", err)
	}
	// A location-level call counts against its project.
	wantCode(t, "Allow on the location", q.Allow(app("c"), mustParse(t, loc)), codes.ResourceExhausted)
}

func TestQuotaError(t *testing.T) {
	e := newEnv(t)
	q := newQuotas(t, e)
	if err := q.Set(adminCtx, "app:a", 1); err != nil {
		t.Fatal(err)
	}
	res := mustParse(t, keyA)
	q.Allow(app("a"), res)
	err := q.Allow(app("a"), res)

	var ke *kmserr.Error
	if !errors.As(err, &ke) || ke.Code != codes.ResourceExhausted {
		t.Fatalf("errors.As(%v, *kmserr.Error) = %v, want a RESOURCE_EXHAUSTED kmserr.Error", err, ke)
	}
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.ResourceExhausted {
		t.Fatalf("status.FromError(%v) = %v, %v", err, st, ok)
	}
	var ri *errdetails.RetryInfo
	var qf *errdetails.QuotaFailure
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.RetryInfo:
			ri = d
		case *errdetails.QuotaFailure:
			qf = d
		}
	}
	if ri == nil || ri.GetRetryDelay().AsDuration() != time.Minute {
		t.Errorf("RetryInfo = %v, want a 60s delay", ri)
	}
	if qf == nil || len(qf.GetViolations()) != 1 || qf.GetViolations()[0].GetSubject() != "app:a" {
		t.Errorf("QuotaFailure = %v, want one violation on app:a", qf)
	}
	if _, ok := RetryAfter(kmserr.PermissionDenied("no")); ok {
		t.Error("RetryAfter(PERMISSION_DENIED) = true")
	}
}

func TestQuotaAdmin(t *testing.T) {
	e := newEnv(t)
	q := newQuotas(t, e)
	for _, tc := range []struct {
		target string
		rpm    int
		want   codes.Code
	}{
		{"app:a", 10, codes.OK},
		{"projects/p", 600, codes.OK},
		{"projects/x", 0, codes.OK}, // removing what is not there
		{"app:", 10, codes.InvalidArgument},
		{"user:a", 10, codes.InvalidArgument},
		{"projects/p/locations/global", 10, codes.InvalidArgument},
		{"app:a", -1, codes.InvalidArgument},
		{"app:a", MaxRPM + 1, codes.InvalidArgument},
	} {
		wantCode(t, "Set("+tc.target+")", q.Set(adminCtx, tc.target, tc.rpm), tc.want)
	}
	wantCode(t, "Set as an app", q.Set(appCtx("a"), "app:a", 0), codes.PermissionDenied)
	_, err := q.List(appCtx("a"))
	wantCode(t, "List as an app", err, codes.PermissionDenied)
	_, err = q.Get(context.Background(), "app:a")
	wantCode(t, "Get without caller", err, codes.Unauthenticated)

	want := []Quota{{Target: "app:a", RPM: 10}, {Target: "projects/p", RPM: 600}}
	got, err := q.List(adminCtx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	// Persisted: another server sees them.
	got, _ = newQuotas(t, e).List(adminCtx)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List on a new Quotas (-want +got):\n%s", diff)
	}
	if g, err := q.Get(adminCtx, "projects/p"); err != nil || g.RPM != 600 {
		t.Errorf("Get(projects/p) = %+v, %v", g, err)
	}
	// 0 removes.
	if err := q.Set(adminCtx, "app:a", 0); err != nil {
		t.Fatal(err)
	}
	_, err = q.Get(adminCtx, "app:a")
	wantCode(t, "Get after removal", err, codes.NotFound)
	got, _ = newQuotas(t, e).List(adminCtx)
	if diff := cmp.Diff(want[1:], got); diff != "" {
		t.Errorf("List on a new Quotas after removal (-want +got):\n%s", diff)
	}
}

func TestQuotaReload(t *testing.T) {
	e := newEnv(t)
	q1, q2 := newQuotas(t, e), newQuotas(t, e)
	res := mustParse(t, keyA)
	if err := q1.Set(adminCtx, "app:a", 2); err != nil {
		t.Fatal(err)
	}
	if got := allowN(q2, app("a"), res, 5); got != 5 {
		t.Errorf("other server before Reload allowed %d, want 5", got)
	}
	if err := q2.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := allowN(q2, app("a"), res, 5); got != 2 {
		t.Errorf("other server after Reload allowed %d, want 2", got)
	}
	// Reloading an unchanged quota keeps the bucket's state.
	if err := q2.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := allowN(q2, app("a"), res, 5); got != 0 {
		t.Errorf("after a second Reload allowed %d, want 0 (the bucket is empty)", got)
	}
}

func TestWithQuotas(t *testing.T) {
	e := newEnv(t)
	q := newQuotas(t, e)
	if err := q.Set(adminCtx, "app:billing", 2); err != nil {
		t.Fatal(err)
	}
	e.bind(t, keyA, encrypter, "app:billing")
	az := WithQuotas(e.a, q)
	ctx := appCtx("billing")
	// Denied calls spend no quota.
	for range 5 {
		wantCode(t, "Authorize(useToSign)", az.Authorize(ctx, kms.PermUseToSign, mustParse(t, keyA)), codes.PermissionDenied)
	}
	for i := range 2 {
		if err := az.Authorize(ctx, kms.PermUseToEncrypt, mustParse(t, keyA)); err != nil {
			t.Errorf("Authorize #%d = %v", i, err)
		}
	}
	wantCode(t, "Authorize over quota", az.Authorize(ctx, kms.PermUseToEncrypt, mustParse(t, keyA)), codes.ResourceExhausted)
	for range 5 {
		if err := az.Authorize(adminCtx, kms.PermUseToEncrypt, mustParse(t, keyA)); err != nil {
			t.Errorf("Authorize as the admin = %v", err)
		}
	}
	if WithQuotas(e.a, nil) != kms.Authorizer(e.a) {
		t.Error("WithQuotas(a, nil) != a")
	}
}
