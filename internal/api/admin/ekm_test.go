// SPDX-License-Identifier: Apache-2.0

package admin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/custos-kms/custos/internal/api/admin"
	"github.com/custos-kms/custos/internal/auth"
	"github.com/custos-kms/custos/internal/ekm"
	"github.com/custos-kms/custos/internal/iam"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/storage/sqlite/sqlitetest"
)

// policyRouteServer serves the justification policy routes over real
// apps, IAM policies and policy storage on SQLite, with one EKM app,
// "gcp", in project p.
func policyRouteServer(t *testing.T) *httptest.Server {
	t.Helper()
	st, ks := sqlitetest.Open(t, 4)
	authz, err := iam.New(iam.Config{Store: st, Signer: ks, Exists: func(context.Context, string) error { return kmserr.NotFound("none") }})
	if err != nil {
		t.Fatal(err)
	}
	apps, err := auth.NewApps(auth.AppsConfig{Store: st, Keystore: ks, Authorizer: authz, PublicURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	adminCtx := kms.WithCaller(context.Background(), &kms.Caller{Principal: "admin", Admin: true})
	if _, err := apps.CreateApp(adminCtx, auth.CreateAppRequest{Name: "gcp", Project: "p", GoogleServiceAccount: "service-1@gcp-sa-ekms.iam.gserviceaccount.com"}); err != nil {
		t.Fatal(err)
	}
	pols, err := ekm.NewPolicies(ekm.PoliciesConfig{Store: st, Signer: ks, Apps: apps, Authorizer: authz})
	if err != nil {
		t.Fatal(err)
	}
	h := admin.New(iamRouteAuthenticate)
	admin.RegisterJustificationPolicies(h, pols)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestJustificationPolicyRoutes(t *testing.T) {
	srv := policyRouteServer(t)
	const path = "/admin/v1/apps/gcp/justificationPolicy"
	defaultPolicy := map[string]any{"app": "gcp", "allowAll": true, "allowedReasons": []any{}, "allowMissing": false, "allowUnknown": false, "default": true}
	steps := []struct {
		name, method, path, token, body string
		code                            int
		want                            map[string]any // nil: only the code is checked
	}{
		{"default", "GET", path, "admin", "", 200, defaultPolicy},
		{"a list with missing allowed", "PUT", path, "admin", `{"allowedReasons":["GOOGLE_INITIATED_SERVICE","customer_initiated_access"],"allowMissing":true}`, 200, nil},
		{"get it", "GET", path, "admin", "", 200, map[string]any{"app": "gcp", "allowAll": false,
			"allowedReasons": []any{"CUSTOMER_INITIATED_ACCESS", "GOOGLE_INITIATED_SERVICE"}, "allowMissing": true, "allowUnknown": false, "default": false}},
		{"allow all and unknown", "PUT", path, "admin", `{"allowAll":true,"allowUnknown":true}`, 200, nil},
		{"unknown reason", "PUT", path, "admin", `{"allowedReasons":["NOT_A_REASON"]}`, 400, nil},
		{"unspecified", "PUT", path, "admin", `{"allowedReasons":["REASON_UNSPECIFIED"]}`, 400, nil},
		{"all and a list", "PUT", path, "admin", `{"allowAll":true,"allowedReasons":["CUSTOMER_INITIATED_ACCESS"]}`, 400, nil},
		{"unknown field", "PUT", path, "admin", `{"allowEverything":true}`, 400, nil},
		{"missing app", "GET", "/admin/v1/apps/nobody/justificationPolicy", "admin", "", 404, nil},
		{"missing app put", "PUT", "/admin/v1/apps/nobody/justificationPolicy", "admin", `{}`, 404, nil},
		{"an app without permission reads", "GET", path, "app:other", "", 403, nil},
		{"an app without permission sets", "PUT", path, "app:other", `{"allowAll":true}`, 403, nil},
		{"no credential", "GET", path, "", "", 401, nil},
	}
	for _, s := range steps {
		code, body := iamRouteDo(t, srv, s.method, s.path, s.token, s.body)
		if code != s.code {
			t.Errorf("%s: %s %s = %d %v, want %d", s.name, s.method, s.path, code, body, s.code)
			continue
		}
		if code != http.StatusOK && iamRouteErrStatus(body) == "" {
			t.Errorf("%s: answer %v is not an error envelope", s.name, body)
		}
		if s.want != nil {
			delete(body, "updateTime")
			if diff := cmp.Diff(s.want, body); diff != "" {
				t.Errorf("%s: %s %s (-want +got):\n%s", s.name, s.method, s.path, diff)
			}
		}
	}
	if code, body := iamRouteDo(t, srv, "GET", path, "admin", ""); code != 200 || body["updateTime"] == nil || body["allowUnknown"] != true {
		t.Errorf("GET after PUT = %d %v, want an updateTime and allowUnknown", code, body)
	}
}
