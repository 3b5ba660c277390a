// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestQuotas(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{
		"PUT /admin/v1/quotas/app:billing":  ok(`{"target":"app:billing","rpm":60}` + "\n"),
		"PUT /admin/v1/quotas/projects/pay": ok(`{"target":"projects/pay","rpm":6000}`),
		"GET /admin/v1/quotas":              ok(`{"quotas":[{"target":"app:billing","rpm":60},{"target":"projects/pay","rpm":6000}]}`),
		"GET /admin/v1/quotas/app:billing":  ok(`{"target":"app:billing","rpm":60}`),
		"GET /admin/v1/quotas/app:nobody": func(request) reply {
			return reply{status: 404, body: `{"error":{"code":404,"message":"app:nobody has no quota","status":"NOT_FOUND"}}`}
		},
		"DELETE /admin/v1/quotas/projects/pay": ok(`{}`),
	})

	r := runCLI(t, srv.srv.URL, "", "quotas", "set", "app:billing", "--rpm", "60").mustSucceed(t)
	if diff := cmp.Diff(map[string]any{"rpm": float64(60)}, srv.last().Body); diff != "" {
		t.Errorf("set body (-want +got):\n%s", diff)
	}
	if !strings.Contains(r.stdout, "Requests per minute:  60") {
		t.Errorf("set: stdout %q", r.stdout)
	}
	runCLI(t, srv.srv.URL, "", "quotas", "set", "app:billing", "--rpm", "0").mustSucceed(t)
	if diff := cmp.Diff(map[string]any{"rpm": float64(0)}, srv.last().Body); diff != "" {
		t.Errorf("set --rpm 0 body (-want +got):\n%s", diff)
	}
	r = runCLI(t, srv.srv.URL, "", "quotas", "set", "projects/pay", "--rpm", "6000", "-o", "json").mustSucceed(t)
	if req := srv.last(); req.Path != "/admin/v1/quotas/projects/pay" {
		t.Errorf("set projects/pay: path %s", req.Path)
	}
	if r.stdout != "{\n  \"target\": \"projects/pay\",\n  \"rpm\": 6000\n}\n" {
		t.Errorf("set -o json: stdout %q", r.stdout)
	}

	r = runCLI(t, srv.srv.URL, "", "quotas", "list").mustSucceed(t)
	for _, want := range []string{"TARGET", "RPM", "app:billing", "60", "projects/pay", "6000"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("list: stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runCLI(t, srv.srv.URL, "", "quotas", "list", "-o", "json").mustSucceed(t)
	if !strings.HasPrefix(r.stdout, "[\n") {
		t.Errorf("list -o json: stdout %q, want an array", r.stdout)
	}
	runCLI(t, srv.srv.URL, "", "quotas", "get", "app:billing").mustSucceed(t)
	r = runCLI(t, srv.srv.URL, "", "quotas", "get", "app:nobody")
	if r.code != 1 || !strings.Contains(r.stderr, "(NOT_FOUND)") {
		t.Errorf("get missing: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCLI(t, srv.srv.URL, "", "quotas", "delete", "projects/pay").mustSucceed(t)
	if req := srv.last(); req.Method != "DELETE" || req.Path != "/admin/v1/quotas/projects/pay" {
		t.Errorf("delete sent %s %s", req.Method, req.Path)
	}
	if !strings.Contains(r.stderr, "removed the quota of projects/pay") {
		t.Errorf("delete: stderr %q", r.stderr)
	}

	n := len(srv.requests())
	for _, args := range [][]string{
		{"quotas", "set", "app:billing"},
		{"quotas", "set", "app:billing", "--rpm", "-1"},
		{"quotas", "set", "app:billing", "--rpm", "100000001"},
		{"quotas", "set", "app:billing", "--rpm", "many"},
		{"quotas", "set", "billing", "--rpm", "1"},
		{"quotas", "set", "app:Bad", "--rpm", "1"},
		{"quotas", "get", "projects/p/locations/l"},
		{"quotas", "delete"},
	} {
		if r := runCLI(t, srv.srv.URL, "", args...); r.code != 2 {
			t.Errorf("custos %s: exit %d, want 2", strings.Join(args, " "), r.code)
		}
	}
	if len(srv.requests()) != n {
		t.Errorf("usage errors sent requests")
	}
}
