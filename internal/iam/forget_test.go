// SPDX-License-Identifier: Apache-2.0

package iam

import (
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/auth"
	"github.com/custos-kms/custos/internal/kms"
)

// TestDeletedAppInheritsNothing: deleting an app takes it out of every
// policy and group in the same transaction, so that an app created later
// under the same name, in another project, gets none of what the deleted
// one held; the other members keep theirs.
func TestDeletedAppInheritsNothing(t *testing.T) {
	e := newEnv(t)
	apps, err := auth.NewApps(auth.AppsConfig{
		Store: e.store, Keystore: e.ks, Authorizer: e.a, Auditor: e.audit,
		PublicURL: "https://kms.example.com", Forget: e.a,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apps.CreateApp(adminCtx, auth.CreateAppRequest{Name: "billing", Project: "tenant-a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.SetGroup(adminCtx, "payments", []string{"billing", "payroll"}); err != nil {
		t.Fatal(err)
	}
	e.bind(t, ring, encrypter, "app:billing")
	e.bind(t, keyB, encrypter, "group:payments")
	e.bind(t, keyA, viewer, "app:billing", "app:payroll")
	before, err := e.a.GetIamPolicy(adminCtx, keyA)
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range []string{keyA, keyB} {
		if err := e.a.Authorize(appCtx("billing"), kms.PermUseToEncrypt, mustParse(t, res)); err != nil {
			t.Fatalf("Authorize(billing, %s) before the deletion = %v", res, err)
		}
	}

	if err := apps.DeleteApp(adminCtx, "billing"); err != nil {
		t.Fatal(err)
	}
	if _, err := apps.CreateApp(adminCtx, auth.CreateAppRequest{Name: "billing", Project: "tenant-b"}); err != nil {
		t.Fatal(err)
	}
	for _, res := range []string{keyA, keyB, ring} {
		wantCode(t, "Authorize(new billing, "+res+")", e.a.Authorize(appCtx("billing"), kms.PermUseToEncrypt, mustParse(t, res)), codes.PermissionDenied)
	}
	wantCode(t, "Authorize(new billing, get)", e.a.Authorize(appCtx("billing"), kms.PermCryptoKeysGet, mustParse(t, keyA)), codes.PermissionDenied)
	// The others keep what they held.
	if err := e.a.Authorize(appCtx("payroll"), kms.PermUseToEncrypt, mustParse(t, keyB)); err != nil {
		t.Errorf("Authorize(payroll through its group) = %v", err)
	}
	after, err := e.a.GetIamPolicy(adminCtx, keyA)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Bindings) != 1 || len(after.Bindings[0].Members) != 1 || after.Bindings[0].Members[0] != "app:payroll" || after.Etag == before.Etag {
		t.Errorf("policy of %s after the deletion = %+v (before %+v), want viewer for app:payroll alone, with a new etag", keyA, after, before)
	}
	if p, err := e.a.GetIamPolicy(adminCtx, ring); err != nil || len(p.Bindings) != 0 {
		t.Errorf("policy of %s after the deletion = %+v, %v, want no binding left", ring, p, err)
	}
	if g, err := e.a.GetGroup(adminCtx, "payments"); err != nil || len(g.Apps) != 1 || g.Apps[0] != "payroll" {
		t.Errorf("group after the deletion = %+v, %v, want payroll alone", g, err)
	}
	var details map[string]string
	for _, ev := range e.audit.all() {
		if ev.Method == "DeleteApp" {
			details = ev.Details
		}
	}
	if details["iamRecordsChanged"] != "3" {
		t.Errorf("DeleteApp audit details = %v, want iamRecordsChanged 3 (two policies, one group)", details)
	}
}
