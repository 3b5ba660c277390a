// SPDX-License-Identifier: Apache-2.0

package iam

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/kms"
)

func TestGetIamPolicyEmpty(t *testing.T) {
	e := newEnv(t)
	for _, res := range []string{project, ring, keyA, job} {
		p, err := e.a.GetIamPolicy(adminCtx, res)
		if err != nil {
			t.Fatalf("GetIamPolicy(%s) = %v", res, err)
		}
		if p.Version != 1 || p.Etag == "" || len(p.Bindings) != 0 {
			t.Errorf("GetIamPolicy(%s) = %+v, want version 1, an etag, no bindings", res, p)
		}
	}
}

func TestSetIamPolicyNormalizes(t *testing.T) {
	e := newEnv(t)
	in := Policy{Version: 3, Bindings: []Binding{
		{Role: viewer, Members: []string{"app:b", "app:a"}},
		{Role: encrypter, Members: []string{"group:g"}},
		{Role: viewer, Members: []string{"app:a", "group:g"}},
		{Role: admin, Members: nil},
	}}
	got, err := e.a.SetIamPolicy(adminCtx, keyA, in, "")
	if err != nil {
		t.Fatalf("SetIamPolicy = %v", err)
	}
	want := []Binding{
		{Role: encrypter, Members: []string{"group:g"}},
		{Role: viewer, Members: []string{"app:a", "app:b", "group:g"}},
	}
	if diff := cmp.Diff(want, got.Bindings); diff != "" {
		t.Errorf("SetIamPolicy bindings (-want +got):\n%s", diff)
	}
	if got.Version != 1 {
		t.Errorf("SetIamPolicy version = %d, want 1 (no conditions)", got.Version)
	}
	read, err := e.a.GetIamPolicy(adminCtx, keyA)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, read); diff != "" {
		t.Errorf("GetIamPolicy after Set (-set +get):\n%s", diff)
	}
}

func TestSetIamPolicyEtag(t *testing.T) {
	e := newEnv(t)
	p0, err := e.a.GetIamPolicy(adminCtx, ring)
	if err != nil {
		t.Fatal(err)
	}
	p := Policy{Bindings: []Binding{{Role: viewer, Members: []string{"app:a"}}}}
	p1, err := e.a.SetIamPolicy(adminCtx, ring, p, p0.Etag)
	if err != nil {
		t.Fatalf("first SetIamPolicy = %v", err)
	}
	_, err = e.a.SetIamPolicy(adminCtx, ring, p, p0.Etag)
	wantCode(t, "second SetIamPolicy with the same etag", err, codes.Aborted)

	// Setting the same bindings again still makes a new etag.
	p2, err := e.a.SetIamPolicy(adminCtx, ring, p, p1.Etag)
	if err != nil {
		t.Fatalf("SetIamPolicy with the current etag = %v", err)
	}
	if p2.Etag == p1.Etag || p1.Etag == p0.Etag {
		t.Errorf("etags %s, %s, %s: want each write to make a new one", p0.Etag, p1.Etag, p2.Etag)
	}
	// No etag: overwrite blindly.
	if _, err := e.a.SetIamPolicy(adminCtx, ring, Policy{}, ""); err != nil {
		t.Errorf("SetIamPolicy without etag = %v", err)
	}
	// Etags differ per resource.
	pk, _ := e.a.GetIamPolicy(adminCtx, keyA)
	if pk.Etag == p0.Etag {
		t.Error("two resources without policy have the same etag")
	}
}

func TestSetIamPolicyValidation(t *testing.T) {
	many := make([]string, MaxMembers+1)
	for i := range many {
		many[i] = fmt.Sprintf("app:a%d", i)
	}
	tests := []struct {
		name string
		p    Policy
	}{
		{"unknown role", Policy{Bindings: []Binding{{Role: "roles/owner", Members: []string{"app:a"}}}}},
		{"user member", Policy{Bindings: []Binding{{Role: viewer, Members: []string{"user:a@example.com"}}}}},
		{"empty app name", Policy{Bindings: []Binding{{Role: viewer, Members: []string{"app:"}}}}},
		{"app name with a space", Policy{Bindings: []Binding{{Role: viewer, Members: []string{"app:a b"}}}}},
		{"allUsers", Policy{Bindings: []Binding{{Role: viewer, Members: []string{"allUsers"}}}}},
		{"version 2", Policy{Version: 2}},
		{"too many members", Policy{Bindings: []Binding{{Role: viewer, Members: many}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			_, err := e.a.SetIamPolicy(adminCtx, keyA, tc.p, "")
			wantCode(t, "SetIamPolicy", err, codes.InvalidArgument)
		})
	}
	e := newEnv(t)
	ok := Policy{Bindings: []Binding{{Role: viewer, Members: many[:MaxMembers]}}}
	if _, err := e.a.SetIamPolicy(adminCtx, keyA, ok, ""); err != nil {
		t.Errorf("SetIamPolicy with %d members = %v", MaxMembers, err)
	}
}

func TestIamResources(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		res  string
		want codes.Code
	}{
		{keyA + "/cryptoKeyVersions/1", codes.InvalidArgument},
		{loc, codes.InvalidArgument},
		{"projects/p/keyRings/r", codes.InvalidArgument},
		{"", codes.InvalidArgument},
		{loc + "/ekmConfig", codes.NotFound},
		{loc + "/ekmConnections/c", codes.NotFound},
		{ring + "/cryptoKeys/missing", codes.NotFound},
		{loc + "/keyRings/missing", codes.NotFound},
		{ring + "/importJobs/missing", codes.NotFound},
	}
	for _, tc := range tests {
		_, err := e.a.GetIamPolicy(adminCtx, tc.res)
		wantCode(t, fmt.Sprintf("GetIamPolicy(%q)", tc.res), err, tc.want)
		_, err = e.a.SetIamPolicy(adminCtx, tc.res, Policy{}, "")
		wantCode(t, fmt.Sprintf("SetIamPolicy(%q)", tc.res), err, tc.want)
	}
}

// TestIamMethodsAuthorizeFirst: without the permission, a missing resource
// and an existing one answer alike, and nothing is looked up.
func TestIamMethodsAuthorizeFirst(t *testing.T) {
	e := newEnv(t)
	e.bind(t, project, viewer, "app:v")
	calls := e.existsCalls.Load()
	for _, res := range []string{keyA, ring + "/cryptoKeys/missing", ring, project} {
		_, err := e.a.GetIamPolicy(appCtx("v"), res)
		wantCode(t, "GetIamPolicy("+res+") as a viewer", err, codes.PermissionDenied)
		_, err = e.a.SetIamPolicy(appCtx("v"), res, Policy{}, "")
		wantCode(t, "SetIamPolicy("+res+") as a viewer", err, codes.PermissionDenied)
	}
	_, err := e.a.GetIamPolicy(context.Background(), keyA)
	wantCode(t, "GetIamPolicy without caller", err, codes.Unauthenticated)
	if got := e.existsCalls.Load(); got != calls {
		t.Errorf("denied calls looked up %d resources", got-calls)
	}
}

func TestIamMethodsByRole(t *testing.T) {
	e := newEnv(t)
	e.bind(t, ring, admin, "app:keyadmin")
	ctx := appCtx("keyadmin")
	// roles/cloudkms.admin on the ring manages the policies of the ring
	// and its keys...
	for _, res := range []string{ring, keyA, job} {
		p, err := e.a.GetIamPolicy(ctx, res)
		if err != nil {
			t.Errorf("GetIamPolicy(%s) as ring admin = %v", res, err)
			continue
		}
		if _, err := e.a.SetIamPolicy(ctx, res, *p, p.Etag); err != nil {
			t.Errorf("SetIamPolicy(%s) as ring admin = %v", res, err)
		}
	}
	_, err := e.a.GetIamPolicy(ctx, ring+"/cryptoKeys/missing")
	wantCode(t, "GetIamPolicy(missing key) as ring admin", err, codes.NotFound)
	// ...but not those of another ring or of the project, which only the
	// built-in admin may read (no role grants resourcemanager.projects.*).
	for _, res := range []string{ring2, keyC, project} {
		_, err := e.a.GetIamPolicy(ctx, res)
		wantCode(t, "GetIamPolicy("+res+") as ring admin", err, codes.PermissionDenied)
	}
	e.bind(t, project, admin, "app:projadmin")
	_, err = e.a.GetIamPolicy(appCtx("projadmin"), project)
	wantCode(t, "GetIamPolicy(project) with roles/cloudkms.admin on it", err, codes.PermissionDenied)
}

func TestTestIamPermissions(t *testing.T) {
	e := newEnv(t)
	e.bind(t, ring, encrypter, "app:billing")
	e.bind(t, keyA, viewer, "app:billing")
	asked := []string{
		kms.PermUseToSign, kms.PermUseToEncrypt, kms.PermCryptoKeysGet,
		kms.PermUseToEncrypt, "cloudkms.cryptoKeys.frobnicate", PermCryptoKeysSetIamPolicy,
	}
	tests := []struct {
		name string
		ctx  context.Context
		res  string
		want []string
	}{
		{"app on key", appCtx("billing"), keyA, []string{kms.PermUseToEncrypt, kms.PermCryptoKeysGet}},
		{"app on sibling key", appCtx("billing"), keyB, []string{kms.PermUseToEncrypt}},
		{"app on other ring", appCtx("billing"), keyC, []string{}},
		{"stranger", appCtx("nobody"), keyA, []string{}},
		{"admin", adminCtx, keyA, []string{kms.PermUseToSign, kms.PermUseToEncrypt, kms.PermCryptoKeysGet, PermCryptoKeysSetIamPolicy}},
		{"missing key", appCtx("billing"), ring + "/cryptoKeys/missing", []string{}},
		{"missing key as admin", adminCtx, ring + "/cryptoKeys/missing", []string{}},
		{"EKM connection", adminCtx, loc + "/ekmConnections/c", []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.a.TestIamPermissions(tc.ctx, tc.res, asked)
			if err != nil {
				t.Fatalf("TestIamPermissions = %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("TestIamPermissions (-want +got):\n%s", diff)
			}
		})
	}
	_, err := e.a.TestIamPermissions(appCtx("billing"), keyA, []string{"cloudkms.*"})
	wantCode(t, "TestIamPermissions with a wildcard", err, codes.InvalidArgument)
	_, err = e.a.TestIamPermissions(context.Background(), keyA, asked)
	wantCode(t, "TestIamPermissions without caller", err, codes.Unauthenticated)
	_, err = e.a.TestIamPermissions(adminCtx, keyA+"/cryptoKeyVersions/1", asked)
	wantCode(t, "TestIamPermissions on a version", err, codes.InvalidArgument)
}

func TestSetIamPolicyAudit(t *testing.T) {
	e := newEnv(t)
	p := Policy{Bindings: []Binding{{Role: viewer, Members: []string{"app:a"}}}}
	if _, err := e.a.SetIamPolicy(adminCtx, keyA, p, ""); err != nil {
		t.Fatal(err)
	}
	_, denied := e.a.SetIamPolicy(appCtx("a"), keyA, p, "")
	evs := e.audit.all()
	if len(evs) != 2 {
		t.Fatalf("recorded %d events, want 2: %+v", len(evs), evs)
	}
	if ev := evs[0]; ev.Method != "SetIamPolicy" || ev.Resource != keyA || ev.Err != nil || ev.DataAccess ||
		ev.Details["bindings"] != `[{"role":"roles/cloudkms.viewer","members":["app:a"]}]` {
		t.Errorf("event = %+v, want a successful admin SetIamPolicy on %s with its bindings", ev, keyA)
	}
	if ev := evs[1]; ev.Err != denied || denied == nil {
		t.Errorf("event = %+v, want the denial %v", ev, denied)
	}

	e.audit.fail = true
	_, err := e.a.SetIamPolicy(adminCtx, keyA, p, "")
	wantCode(t, "SetIamPolicy with the audit log down", err, codes.Unavailable)
}

// TestSetIamPolicyRace: of concurrent writers holding the same etag,
// exactly one wins; the others are ABORTED.
func TestSetIamPolicyRace(t *testing.T) {
	e := newEnv(t)
	for _, etagFrom := range []string{"absent policy", "stored policy"} {
		p0, err := e.a.GetIamPolicy(adminCtx, keyB)
		if err != nil {
			t.Fatal(err)
		}
		const n = 8
		errs := make(chan error, n)
		for i := range n {
			go func() {
				p := Policy{Bindings: []Binding{{Role: viewer, Members: []string{fmt.Sprintf("app:w%d", i)}}}}
				_, err := e.a.SetIamPolicy(adminCtx, keyB, p, p0.Etag)
				errs <- err
			}()
		}
		won := 0
		for range n {
			err := <-errs
			if err == nil {
				won++
			} else {
				wantCode(t, "concurrent SetIamPolicy", err, codes.Aborted)
			}
		}
		if won != 1 {
			t.Errorf("%s: %d concurrent writers won, want 1", etagFrom, won)
		}
	}
}
