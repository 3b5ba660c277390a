// SPDX-License-Identifier: Apache-2.0

package admin_test

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestQuotaRoutes(t *testing.T) {
	srv, _ := iamRouteServer(t)
	steps := []struct {
		name, method, path, token, body string
		code                            int
		want                            map[string]any // nil: only the code is checked
	}{
		{"empty list", "GET", "/admin/v1/quotas", "admin", "", 200, map[string]any{"quotas": []any{}}},
		{"set an app quota", "PUT", "/admin/v1/quotas/app:billing", "admin", `{"rpm":600}`, 200, map[string]any{"target": "app:billing", "rpm": float64(600)}},
		{"set a project quota", "PUT", "/admin/v1/quotas/projects/p", "admin", `{"rpm":6000}`, 200, map[string]any{"target": "projects/p", "rpm": float64(6000)}},
		{"get one", "GET", "/admin/v1/quotas/projects/p", "admin", "", 200, map[string]any{"target": "projects/p", "rpm": float64(6000)}},
		{"list", "GET", "/admin/v1/quotas", "admin", "", 200, map[string]any{"quotas": []any{
			map[string]any{"target": "app:billing", "rpm": float64(600)},
			map[string]any{"target": "projects/p", "rpm": float64(6000)},
		}}},
		{"delete", "DELETE", "/admin/v1/quotas/app:billing", "admin", "", 200, map[string]any{}},
		{"get deleted", "GET", "/admin/v1/quotas/app:billing", "admin", "", 404, nil},
		{"rpm 0 removes", "PUT", "/admin/v1/quotas/projects/p", "admin", `{"rpm":0}`, 200, nil},
		{"list after removals", "GET", "/admin/v1/quotas", "admin", "", 200, map[string]any{"quotas": []any{}}},
		{"missing rpm", "PUT", "/admin/v1/quotas/app:a", "admin", `{}`, 400, nil},
		{"negative rpm", "PUT", "/admin/v1/quotas/app:a", "admin", `{"rpm":-1}`, 400, nil},
		{"rpm not a number", "PUT", "/admin/v1/quotas/app:a", "admin", `{"rpm":"10"}`, 400, nil},
		{"bad target", "PUT", "/admin/v1/quotas/user:a", "admin", `{"rpm":10}`, 400, nil},
		{"app lists", "GET", "/admin/v1/quotas", "app:billing", "", 403, nil},
		{"app sets its own quota", "PUT", "/admin/v1/quotas/app:billing", "app:billing", `{"rpm":100000}`, 403, nil},
		{"app sends garbage", "PUT", "/admin/v1/quotas/app:billing", "app:billing", `{`, 403, nil},
		{"app deletes", "DELETE", "/admin/v1/quotas/app:billing", "app:billing", "", 403, nil},
		{"no credential", "GET", "/admin/v1/quotas", "", "", 401, nil},
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
			if diff := cmp.Diff(s.want, body); diff != "" {
				t.Errorf("%s: %s %s (-want +got):\n%s", s.name, s.method, s.path, diff)
			}
		}
	}
}
