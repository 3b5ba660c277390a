// SPDX-License-Identifier: Apache-2.0

package admin_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/api/admin"
	"github.com/custos-kms/custos/internal/api/grpcapi"
	"github.com/custos-kms/custos/internal/iam"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage/sqlite/sqlitetest"
)

const (
	iamRouteRing = "projects/p/locations/global/keyRings/r"
	iamRouteKey  = iamRouteRing + "/cryptoKeys/k"
)

// iamRouteAuthenticate: "Bearer admin" is the admin, "Bearer app:NAME" the
// app NAME, anything else is refused.
func iamRouteAuthenticate(r *http.Request) (context.Context, error) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if tok == "admin" {
		return kms.WithCaller(r.Context(), &kms.Caller{Principal: "admin", Admin: true}), nil
	}
	if name, ok := strings.CutPrefix(tok, "app:"); ok && name != "" {
		return kms.WithCaller(r.Context(), &kms.Caller{Principal: tok, App: name}), nil
	}
	return nil, kmserr.Unauthenticated("no valid credential")
}

// iamRouteServer serves the IAM and quota routes over a real Authorizer
// and Quotas on SQLite.
func iamRouteServer(t *testing.T) (*httptest.Server, *iam.Authorizer) {
	t.Helper()
	st, ks := sqlitetest.Open(t, 2)
	a, err := iam.New(iam.Config{Store: st, Signer: ks, Exists: func(ctx context.Context, name string) error {
		if name == iamRouteRing || name == iamRouteKey {
			return nil
		}
		return kmserr.NotFound("%s not found", name)
	}})
	if err != nil {
		t.Fatal(err)
	}
	q, err := iam.NewQuotas(context.Background(), iam.QuotasConfig{Store: st, Signer: ks})
	if err != nil {
		t.Fatal(err)
	}
	h := admin.New(iamRouteAuthenticate)
	admin.RegisterIAM(h, grpcapi.NewAdminIAMServer(a), a)
	admin.RegisterQuotas(h, q)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, a
}

// iamRouteDo sends a request and returns the status code and the body
// decoded as JSON.
func iamRouteDo(t *testing.T, srv *httptest.Server, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: body %q is not a JSON object: %v", method, path, b, err)
	}
	return resp.StatusCode, out
}

// iamRouteErrStatus returns error.status of an error envelope.
func iamRouteErrStatus(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["status"].(string)
	return s
}

// TestIAMRoutesReadModifyWrite does what the CLI's add-binding does, on
// each resource kind.
func TestIAMRoutesReadModifyWrite(t *testing.T) {
	srv, _ := iamRouteServer(t)
	for _, res := range []string{"projects/p", iamRouteRing, iamRouteKey} {
		t.Run(res, func(t *testing.T) {
			code, p := iamRouteDo(t, srv, "GET", "/admin/v1/iam/"+res, "admin", "")
			if code != http.StatusOK || p["etag"] == nil || p["version"] != float64(1) {
				t.Fatalf("GET = %d %v, want 200 with version 1 and an etag", code, p)
			}
			etag := p["etag"].(string)
			body := `{"version":3,"etag":"` + etag + `","bindings":[{"role":"roles/cloudkms.viewer","members":["app:a","group:g"]}]}`
			code, set := iamRouteDo(t, srv, "PUT", "/admin/v1/iam/"+res, "admin", body)
			if code != http.StatusOK {
				t.Fatalf("PUT = %d %v", code, set)
			}
			want := []any{map[string]any{"role": "roles/cloudkms.viewer", "members": []any{"app:a", "group:g"}}}
			if diff := cmp.Diff(want, set["bindings"]); diff != "" {
				t.Errorf("PUT bindings (-want +got):\n%s", diff)
			}
			if set["etag"] == etag {
				t.Error("PUT kept the etag")
			}
			_, got := iamRouteDo(t, srv, "GET", "/admin/v1/iam/"+res, "admin", "")
			if diff := cmp.Diff(set, got); diff != "" {
				t.Errorf("GET after PUT (-put +get):\n%s", diff)
			}
			// The old etag is refused: 409 ABORTED.
			code, e := iamRouteDo(t, srv, "PUT", "/admin/v1/iam/"+res, "admin", body)
			if code != http.StatusConflict || iamRouteErrStatus(e) != "ABORTED" {
				t.Errorf("PUT with a stale etag = %d %v, want 409 ABORTED", code, e)
			}
		})
	}
}

func TestIAMRoutesErrors(t *testing.T) {
	srv, _ := iamRouteServer(t)
	tests := []struct {
		name, method, path, token, body string
		code                            int
		status                          string
	}{
		{"no credential", "GET", "/admin/v1/iam/projects/p", "", "", 401, "UNAUTHENTICATED"},
		{"app reads a project policy", "GET", "/admin/v1/iam/projects/p", "app:a", "", 403, "PERMISSION_DENIED"},
		{"app reads a missing key's policy", "GET", "/admin/v1/iam/" + iamRouteRing + "/cryptoKeys/nope", "app:a", "", 403, "PERMISSION_DENIED"},
		{"admin reads a missing key's policy", "GET", "/admin/v1/iam/" + iamRouteRing + "/cryptoKeys/nope", "admin", "", 404, "NOT_FOUND"},
		{"version", "GET", "/admin/v1/iam/" + iamRouteKey + "/cryptoKeyVersions/1", "admin", "", 400, "INVALID_ARGUMENT"},
		{"not JSON", "PUT", "/admin/v1/iam/" + iamRouteKey, "admin", "{", 400, "INVALID_ARGUMENT"},
		{"unknown field", "PUT", "/admin/v1/iam/" + iamRouteKey, "admin", `{"owner":"me"}`, 400, "INVALID_ARGUMENT"},
		{"unknown role", "PUT", "/admin/v1/iam/" + iamRouteKey, "admin", `{"bindings":[{"role":"roles/owner","members":["app:a"]}]}`, 400, "INVALID_ARGUMENT"},
		{"condition", "PUT", "/admin/v1/iam/" + iamRouteKey, "admin", `{"bindings":[{"role":"roles/cloudkms.viewer","members":["app:a"],"condition":{"expression":"true"}}]}`, 400, "INVALID_ARGUMENT"},
		{"bad member", "PUT", "/admin/v1/iam/" + iamRouteKey, "admin", `{"bindings":[{"role":"roles/cloudkms.viewer","members":["serviceAccount:x"]}]}`, 400, "INVALID_ARGUMENT"},
		{"app sets a group", "PUT", "/admin/v1/groups/g", "app:a", `{"apps":["a"]}`, 403, "PERMISSION_DENIED"},
		{"missing group", "GET", "/admin/v1/groups/nope", "admin", "", 404, "NOT_FOUND"},
		{"bad group body", "PUT", "/admin/v1/groups/g", "admin", `{"members":["a"]}`, 400, "INVALID_ARGUMENT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := iamRouteDo(t, srv, tc.method, tc.path, tc.token, tc.body)
			if code != tc.code || iamRouteErrStatus(body) != tc.status {
				t.Errorf("%s %s = %d %v, want %d %s", tc.method, tc.path, code, body, tc.code, tc.status)
			}
		})
	}
}

// TestIAMRoutesGrant: a policy set through the routes authorizes the app.
func TestIAMRoutesGrant(t *testing.T) {
	srv, a := iamRouteServer(t)
	code, g := iamRouteDo(t, srv, "PUT", "/admin/v1/groups/payments", "admin", `{"apps":["billing","app:refunds"]}`)
	if code != 200 || cmp.Diff([]any{"billing", "refunds"}, g["apps"]) != "" {
		t.Fatalf("PUT group = %d %v", code, g)
	}
	body := `{"bindings":[{"role":"roles/cloudkms.cryptoKeyEncrypterDecrypter","members":["group:payments"]}]}`
	if code, b := iamRouteDo(t, srv, "PUT", "/admin/v1/iam/"+iamRouteRing, "admin", body); code != 200 {
		t.Fatalf("PUT policy = %d %v", code, b)
	}
	ctx := kms.WithCaller(context.Background(), &kms.Caller{Principal: "app:refunds", App: "refunds"})
	key, _ := resource.Parse(iamRouteKey)
	if err := a.Authorize(ctx, kms.PermUseToDecrypt, key); err != nil {
		t.Errorf("Authorize(useToDecrypt) after the grant = %v", err)
	}
	// A ring admin (app) can manage the key's policy through the same route.
	body = `{"bindings":[{"role":"roles/cloudkms.admin","members":["app:keyadmin"]}]}`
	iamRouteDo(t, srv, "PUT", "/admin/v1/iam/"+iamRouteRing, "admin", body)
	if code, b := iamRouteDo(t, srv, "GET", "/admin/v1/iam/"+iamRouteKey, "app:keyadmin", ""); code != 200 {
		t.Errorf("GET key policy as ring admin = %d %v", code, b)
	}

	code, list := iamRouteDo(t, srv, "GET", "/admin/v1/groups", "admin", "")
	if code != 200 || len(list["groups"].([]any)) != 1 {
		t.Errorf("GET groups = %d %v", code, list)
	}
	if code, b := iamRouteDo(t, srv, "DELETE", "/admin/v1/groups/payments", "admin", ""); code != 200 {
		t.Errorf("DELETE group = %d %v", code, b)
	}
	if err := a.Authorize(ctx, kms.PermUseToDecrypt, key); kmserr.Code(err) != codes.PermissionDenied {
		t.Errorf("Authorize after the group is deleted = %v, want PERMISSION_DENIED", err)
	}
}

func TestIAMRoutesRoles(t *testing.T) {
	srv, _ := iamRouteServer(t)
	code, body := iamRouteDo(t, srv, "GET", "/admin/v1/roles", "app:a", "")
	if code != 200 {
		t.Fatalf("GET roles = %d %v", code, body)
	}
	roles := body["roles"].([]any)
	if len(roles) != len(iam.Roles()) {
		t.Errorf("GET roles lists %d roles, want %d", len(roles), len(iam.Roles()))
	}
	first := roles[0].(map[string]any)
	if first["name"] != iam.Roles()[0] || len(first["includedPermissions"].([]any)) == 0 {
		t.Errorf("first role = %v", first)
	}
}
