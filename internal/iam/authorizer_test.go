// SPDX-License-Identifier: Apache-2.0

package iam

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/storage"
)

const (
	encrypter = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
	admin     = "roles/cloudkms.admin"
	viewer    = "roles/cloudkms.viewer"
)

func TestAuthorizeInheritance(t *testing.T) {
	tests := []struct {
		name    string
		bindOn  string // resource whose policy grants encrypter to app:billing
		checkOn string
		want    bool
	}{
		{"project binding reaches a key", project, keyA, true},
		{"project binding reaches a version", project, keyA + "/cryptoKeyVersions/3", true},
		{"project binding reaches another ring", project, keyC, true},
		{"project binding stops at the project", project, other, false},
		{"ring binding reaches its keys", ring, keyB, true},
		{"ring binding reaches its import jobs", ring, job, true},
		{"ring binding does not reach a sibling ring", ring, keyC, false},
		{"key binding reaches its versions", keyA, keyA + "/cryptoKeyVersions/1", true},
		{"key binding does not reach a sibling key", keyA, keyB, false},
		{"key binding does not reach its ring", keyA, ring, false},
		{"key binding does not reach its project", keyA, loc, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.bind(t, tc.bindOn, encrypter, "app:billing")
			err := e.a.Authorize(appCtx("billing"), kms.PermUseToEncrypt, mustParse(t, tc.checkOn))
			if got := err == nil; got != tc.want {
				t.Errorf("Authorize(useToEncrypt, %s) = %v, want allowed=%v", tc.checkOn, err, tc.want)
			}
			if err != nil {
				wantCode(t, "Authorize", err, codes.PermissionDenied)
			}
			// Another app gets nothing; nor does the same app for a
			// permission its role lacks.
			wantCode(t, "Authorize as another app", e.a.Authorize(appCtx("payroll"), kms.PermUseToEncrypt, mustParse(t, tc.checkOn)), codes.PermissionDenied)
			wantCode(t, "Authorize(useToSign)", e.a.Authorize(appCtx("billing"), kms.PermUseToSign, mustParse(t, tc.checkOn)), codes.PermissionDenied)
		})
	}
}

func TestAuthorizeUnion(t *testing.T) {
	e := newEnv(t)
	e.bind(t, project, viewer, "app:ops")
	e.bind(t, keyA, encrypter, "app:ops")
	for _, perm := range []string{kms.PermCryptoKeysGet, kms.PermUseToEncrypt, kms.PermUseToDecrypt} {
		if err := e.a.Authorize(appCtx("ops"), perm, mustParse(t, keyA)); err != nil {
			t.Errorf("Authorize(%s, keyA) = %v, want nil", perm, err)
		}
	}
	if err := e.a.Authorize(appCtx("ops"), kms.PermCryptoKeysGet, mustParse(t, keyB)); err != nil {
		t.Errorf("Authorize(get, keyB) = %v, want nil", err)
	}
	wantCode(t, "Authorize(useToEncrypt, keyB)", e.a.Authorize(appCtx("ops"), kms.PermUseToEncrypt, mustParse(t, keyB)), codes.PermissionDenied)
}

func TestAuthorizeCallers(t *testing.T) {
	e := newEnv(t)
	e.bind(t, project, admin, "app:ops")
	res := mustParse(t, keyA)

	wantCode(t, "Authorize without caller", e.a.Authorize(context.Background(), kms.PermCryptoKeysGet, res), codes.Unauthenticated)
	if err := e.a.Authorize(adminCtx, kms.PermUseToDecrypt, res); err != nil {
		t.Errorf("Authorize as the admin = %v, want nil", err)
	}
	// roles/cloudkms.admin manages keys but cannot use them.
	if err := e.a.Authorize(appCtx("ops"), kms.PermCryptoKeysUpdate, res); err != nil {
		t.Errorf("Authorize(update) with roles/cloudkms.admin = %v, want nil", err)
	}
	err := e.a.Authorize(appCtx("ops"), kms.PermUseToDecrypt, res)
	wantCode(t, "Authorize(useToDecrypt) with roles/cloudkms.admin", err, codes.PermissionDenied)
	want := "Permission 'cloudkms.cryptoKeyVersions.useToDecrypt' denied on resource '" + keyA + "' (or it may not exist)."
	if ke, ok := err.(*kmserr.Error); !ok || ke.Msg != want {
		t.Errorf("Authorize error = %#v, want message %q", err, want)
	}
	// A caller that is neither admin nor app holds nothing.
	noApp := kms.WithCaller(context.Background(), &kms.Caller{Principal: "someone"})
	wantCode(t, "Authorize without app", e.a.Authorize(noApp, kms.PermCryptoKeysGet, res), codes.PermissionDenied)
	// An unknown permission is held by nobody but the admin.
	wantCode(t, "Authorize(unknown)", e.a.Authorize(appCtx("ops"), "cloudkms.cryptoKeys.frobnicate", res), codes.PermissionDenied)
}

// TestAuthorizeNeverLooksUpResources: a refusal and a grant are the same
// whether the resource exists or not.
func TestAuthorizeNeverLooksUpResources(t *testing.T) {
	e := newEnv(t)
	e.bind(t, project, encrypter, "app:billing")
	calls := e.existsCalls.Load()
	missing := mustParse(t, ring+"/cryptoKeys/nope")
	if err := e.a.Authorize(appCtx("billing"), kms.PermUseToEncrypt, missing); err != nil {
		t.Errorf("Authorize on a missing key with a project grant = %v, want nil", err)
	}
	wantCode(t, "Authorize on a missing key", e.a.Authorize(appCtx("other"), kms.PermUseToEncrypt, missing), codes.PermissionDenied)
	if got := e.existsCalls.Load(); got != calls {
		t.Errorf("Authorize called Exists %d times", got-calls)
	}
}

func TestAuthorizeGroups(t *testing.T) {
	e := newEnv(t)
	if _, err := e.a.SetGroup(adminCtx, "payments", []string{"billing", "app:refunds"}); err != nil {
		t.Fatalf("SetGroup = %v", err)
	}
	e.bind(t, ring, encrypter, "group:payments")
	res := mustParse(t, keyA)
	for _, app := range []string{"billing", "refunds"} {
		if err := e.a.Authorize(appCtx(app), kms.PermUseToEncrypt, res); err != nil {
			t.Errorf("Authorize as %s (in group) = %v, want nil", app, err)
		}
	}
	wantCode(t, "Authorize as an app outside the group", e.a.Authorize(appCtx("payroll"), kms.PermUseToEncrypt, res), codes.PermissionDenied)
	// An app named like the group gets nothing from it.
	wantCode(t, "Authorize as app:payments", e.a.Authorize(appCtx("payments"), kms.PermUseToEncrypt, res), codes.PermissionDenied)

	// Changes apply at once.
	if _, err := e.a.SetGroup(adminCtx, "payments", []string{"billing"}); err != nil {
		t.Fatalf("SetGroup = %v", err)
	}
	wantCode(t, "Authorize after leaving the group", e.a.Authorize(appCtx("refunds"), kms.PermUseToEncrypt, res), codes.PermissionDenied)
	if err := e.a.DeleteGroup(adminCtx, "payments"); err != nil {
		t.Fatalf("DeleteGroup = %v", err)
	}
	wantCode(t, "Authorize after the group is deleted", e.a.Authorize(appCtx("billing"), kms.PermUseToEncrypt, res), codes.PermissionDenied)
}

// TestAuthorizeCache: a change through the Authorizer applies at once, a
// change by another server once the cache expires.
func TestAuthorizeCache(t *testing.T) {
	e := newEnv(t)
	res := mustParse(t, keyA)
	ctx := appCtx("billing")
	wantCode(t, "Authorize before any policy", e.a.Authorize(ctx, kms.PermUseToEncrypt, res), codes.PermissionDenied)
	e.bind(t, keyA, encrypter, "app:billing") // the absent policy was cached; Set invalidates it
	if err := e.a.Authorize(ctx, kms.PermUseToEncrypt, res); err != nil {
		t.Fatalf("Authorize after SetIamPolicy = %v, want nil", err)
	}

	// Another server removes the grant.
	b := e.newAuthorizer(t)
	p, err := b.GetIamPolicy(adminCtx, keyA)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.SetIamPolicy(adminCtx, keyA, Policy{}, p.Etag); err != nil {
		t.Fatal(err)
	}
	if err := e.a.Authorize(ctx, kms.PermUseToEncrypt, res); err != nil {
		t.Errorf("Authorize within the TTL = %v, want the cached grant", err)
	}
	e.clk.add(time.Minute)
	wantCode(t, "Authorize after the TTL", e.a.Authorize(ctx, kms.PermUseToEncrypt, res), codes.PermissionDenied)
}

func TestPolicyCacheBounded(t *testing.T) {
	e := newEnv(t)
	a, err := New(Config{Store: e.store, Signer: e.ks, Exists: func(context.Context, string) error { return nil }, CacheSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c", "d", "e", "f"} {
		a.Authorize(appCtx("x"), kms.PermUseToEncrypt, mustParse(t, ring+"/cryptoKeys/"+id))
	}
	if n := len(a.cache.m); n > 3 {
		t.Errorf("cache holds %d policies, want at most 3", n)
	}
}

// TestAuthorizeTamperedPolicy: a policy record changed on disk is refused,
// and the call fails closed.
func TestAuthorizeTamperedPolicy(t *testing.T) {
	e := newEnv(t)
	e.bind(t, keyA, viewer, "app:billing")
	ctx := context.Background()
	err := e.store.Update(ctx, func(tx storage.Tx) error {
		r, err := tx.Get(ctx, policyRecordName(keyA))
		if err != nil {
			return err
		}
		r.Data = []byte(`{"version":1,"etag":"x","bindings":[{"role":"roles/cloudkms.cryptoKeyEncrypterDecrypter","members":["app:billing"]}]}`)
		return tx.Put(ctx, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	a := e.newAuthorizer(t) // an empty cache
	err = a.Authorize(appCtx("billing"), kms.PermUseToEncrypt, mustParse(t, keyA))
	wantCode(t, "Authorize with a tampered policy", err, codes.Internal)
	_, err = a.GetIamPolicy(adminCtx, keyA)
	wantCode(t, "GetIamPolicy of a tampered policy", err, codes.DataLoss)
}
