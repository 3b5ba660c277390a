// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const testPolicyJSON = `{"app":"gcp","allowAll":false,"allowedReasons":["CUSTOMER_INITIATED_ACCESS","GOOGLE_INITIATED_SYSTEM_OPERATION"],"allowMissing":true,"allowUnknown":false,"default":false,"updateTime":"2030-01-02T03:04:05Z"}`

func TestJustificationPolicyRequests(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantMethod string
		wantBody   map[string]any
	}{
		{
			name:       "a list, comma-separated and repeated, any case",
			args:       []string{"apps", "set-justification-policy", "gcp", "--allow", "customer_initiated_access,GOOGLE_INITIATED_SERVICE", "--allow", "THIRD_PARTY_DATA_REQUEST"},
			wantMethod: "PUT",
			wantBody: map[string]any{"allowAll": false, "allowMissing": false, "allowUnknown": false,
				"allowedReasons": []any{"CUSTOMER_INITIATED_ACCESS", "GOOGLE_INITIATED_SERVICE", "THIRD_PARTY_DATA_REQUEST"}},
		},
		{
			name:       "all, missing and unknown",
			args:       []string{"apps", "set-justification-policy", "gcp", "--allow-all", "--allow-missing", "--allow-unknown"},
			wantMethod: "PUT",
			wantBody:   map[string]any{"allowAll": true, "allowMissing": true, "allowUnknown": true, "allowedReasons": []any{}},
		},
		{
			name:       "get",
			args:       []string{"apps", "get-justification-policy", "gcp"},
			wantMethod: "GET",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer(t, map[string]func(request) reply{
				"PUT /admin/v1/apps/gcp/justificationPolicy": ok(testPolicyJSON),
				"GET /admin/v1/apps/gcp/justificationPolicy": ok(testPolicyJSON),
			})
			runCLI(t, srv.srv.URL, "", tc.args...).mustSucceed(t)
			got := srv.last()
			if got.Method != tc.wantMethod || got.Path != "/admin/v1/apps/gcp/justificationPolicy" || got.Auth != "Bearer "+testToken {
				t.Errorf("request %s %s (%s), want %s /admin/v1/apps/gcp/justificationPolicy", got.Method, got.Path, got.Auth, tc.wantMethod)
			}
			if diff := cmp.Diff(tc.wantBody, got.Body); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJustificationPolicyCommandsForApps(t *testing.T) {
	g := &globals{}
	var names []string
	for _, c := range newJustificationCmds(g) {
		names = append(names, c.Name())
	}
	if diff := cmp.Diff([]string{"set-justification-policy", "get-justification-policy"}, names); diff != "" {
		t.Errorf("newJustificationCmds (-want +got):\n%s", diff)
	}
}

func TestJustificationPolicyUsageErrors(t *testing.T) {
	srv := newFakeServer(t, nil)
	for _, args := range [][]string{
		{"apps", "set-justification-policy", "gcp"},
		{"apps", "set-justification-policy", "gcp", "--allow-missing"},
		{"apps", "set-justification-policy", "gcp", "--allow-all", "--allow", "CUSTOMER_INITIATED_ACCESS"},
		{"apps", "set-justification-policy", "Bad/Name", "--allow-all"},
		{"apps", "get-justification-policy"},
		{"apps", "get-justification-policy", "gcp", "extra"},
		{"apps", "set-justification-polcy"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := runCLI(t, srv.srv.URL, "", args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2; stderr:\n%s", r.code, r.stderr)
			}
			if len(srv.requests()) != 0 {
				t.Errorf("a usage error sent a request")
			}
		})
	}
}

func TestJustificationPolicyOutput(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{
		"GET /admin/v1/apps/gcp/justificationPolicy": ok(testPolicyJSON),
		"GET /admin/v1/apps/new/justificationPolicy": ok(`{"app":"new","allowAll":true,"allowedReasons":[],"allowMissing":false,"allowUnknown":false,"default":true}`),
		"PUT /admin/v1/apps/gcp/justificationPolicy": func(request) reply {
			return reply{status: 400, body: `{"error":{"code":400,"message":"\"NOPE\" is not a known access reason","status":"INVALID_ARGUMENT"}}`}
		},
	})
	r := runCLI(t, srv.srv.URL, "", "apps", "get-justification-policy", "gcp").mustSucceed(t)
	for _, want := range []string{"App:", "gcp", "CUSTOMER_INITIATED_ACCESS, GOOGLE_INITIATED_SYSTEM_OPERATION", "Missing justification:  allowed", "Unknown reasons:        refused"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runCLI(t, srv.srv.URL, "", "apps", "get-justification-policy", "new").mustSucceed(t)
	if !strings.Contains(r.stdout, "every known reason") || !strings.Contains(r.stdout, "no policy set") {
		t.Errorf("default policy output:\n%s", r.stdout)
	}
	r = runCLI(t, srv.srv.URL, "", "apps", "get-justification-policy", "gcp", "-o", "json").mustSucceed(t)
	if !strings.Contains(r.stdout, `"allowedReasons": [`) {
		t.Errorf("json output:\n%s", r.stdout)
	}
	r = runCLI(t, srv.srv.URL, "", "apps", "set-justification-policy", "gcp", "--allow", "NOPE")
	if r.code != 1 || !strings.Contains(r.stderr, "INVALID_ARGUMENT") {
		t.Errorf("server refusal: exit %d, stderr %s; want 1 and INVALID_ARGUMENT", r.code, r.stderr)
	}
}
