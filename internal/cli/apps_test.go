// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const testAppJSON = `{"name":"billing","project":"pay","googleServiceAccount":"","disabled":false,"createTime":"2030-01-02T03:04:05Z"}`

func TestAppsRequests(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantMethod string
		wantPath   string
		wantQuery  string
		wantBody   map[string]any
	}{
		{
			name:       "create with name only",
			args:       []string{"apps", "create", "billing"},
			wantMethod: "POST", wantPath: "/admin/v1/apps",
			wantBody: map[string]any{"name": "billing"},
		},
		{
			name:       "create with project and service account",
			args:       []string{"apps", "create", "billing", "--project", "pay", "--google-service-account", "sa@p.iam.gserviceaccount.com"},
			wantMethod: "POST", wantPath: "/admin/v1/apps",
			wantBody: map[string]any{"name": "billing", "project": "pay", "googleServiceAccount": "sa@p.iam.gserviceaccount.com"},
		},
		{
			name:       "list",
			args:       []string{"apps", "list"},
			wantMethod: "GET", wantPath: "/admin/v1/apps",
		},
		{
			name:       "list by project",
			args:       []string{"apps", "list", "--project", "pay"},
			wantMethod: "GET", wantPath: "/admin/v1/apps", wantQuery: "project=pay",
		},
		{
			name:       "get",
			args:       []string{"apps", "get", "billing"},
			wantMethod: "GET", wantPath: "/admin/v1/apps/billing",
		},
		{
			name:       "disable",
			args:       []string{"apps", "disable", "billing"},
			wantMethod: "POST", wantPath: "/admin/v1/apps/billing/disable",
			wantBody: map[string]any{},
		},
		{
			name:       "enable",
			args:       []string{"apps", "enable", "billing"},
			wantMethod: "POST", wantPath: "/admin/v1/apps/billing/enable",
			wantBody: map[string]any{},
		},
		{
			name:       "delete",
			args:       []string{"apps", "delete", "billing"},
			wantMethod: "DELETE", wantPath: "/admin/v1/apps/billing",
		},
		{
			name:       "keys create defaults to an API key",
			args:       []string{"apps", "keys", "create", "billing"},
			wantMethod: "POST", wantPath: "/admin/v1/apps/billing/keys",
			wantBody: map[string]any{"format": "api-key"},
		},
		{
			name:       "keys create google-json",
			args:       []string{"apps", "keys", "create", "billing", "--format", "google-json"},
			wantMethod: "POST", wantPath: "/admin/v1/apps/billing/keys",
			wantBody: map[string]any{"format": "google-json"},
		},
		{
			name:       "keys list",
			args:       []string{"apps", "keys", "list", "billing"},
			wantMethod: "GET", wantPath: "/admin/v1/apps/billing/keys",
		},
		{
			name:       "keys revoke",
			args:       []string{"apps", "keys", "revoke", "billing", "0123456789abcdef0123456789abcdef01234567"},
			wantMethod: "POST", wantPath: "/admin/v1/apps/billing/keys/0123456789abcdef0123456789abcdef01234567/revoke",
			wantBody: map[string]any{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer(t, map[string]func(request) reply{
				"POST /admin/v1/apps":                                       ok(testAppJSON),
				"GET /admin/v1/apps":                                        ok(`{"apps":[` + testAppJSON + `]}`),
				"GET /admin/v1/apps/billing":                                ok(testAppJSON),
				"POST /admin/v1/apps/billing/disable":                       ok(testAppJSON),
				"POST /admin/v1/apps/billing/enable":                        ok(testAppJSON),
				"DELETE /admin/v1/apps/billing":                             ok(`{}`),
				"GET /admin/v1/apps/billing/keys":                           ok(`{"keys":[]}`),
				"POST /admin/v1/apps/billing/keys/" + testKeyID + "/revoke": ok(`{"keyId":"` + testKeyID + `","type":"api-key","revoked":true}`),
				"POST /admin/v1/apps/billing/keys": func(r request) reply {
					if r.Body["format"] == "google-json" {
						return reply{body: testKeyFile}
					}
					return reply{body: `{"app":"billing","keyId":"k1","apiKey":"custos_ak_k1_s"}`}
				},
			})
			runCLI(t, srv.srv.URL, "", tc.args...).mustSucceed(t)
			req := srv.last()
			if req.Method != tc.wantMethod || req.Path != tc.wantPath {
				t.Errorf("request %s %s, want %s %s", req.Method, req.Path, tc.wantMethod, tc.wantPath)
			}
			if got := req.Query.Encode(); got != tc.wantQuery {
				t.Errorf("query %q, want %q", got, tc.wantQuery)
			}
			if diff := cmp.Diff(tc.wantBody, req.Body); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
			if req.Auth != "Bearer "+testToken {
				t.Errorf("Authorization = %q", req.Auth)
			}
		})
	}
}

const testKeyID = "0123456789abcdef0123456789abcdef01234567"

// testKeyFile is a service-account key file as the server answers it.
const testKeyFile = `{"type":"service_account","project_id":"pay","private_key_id":"` + testKeyID + `","private_key":"-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n","client_email":"billing@apps.custos.local","client_id":"123","token_uri":"http://127.0.0.1:8200/oauth2/token"}` + "\n"

func TestAppsKeysCreateOutput(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{
		"POST /admin/v1/apps/billing/keys": func(r request) reply {
			switch r.Body["format"] {
			case "google-json":
				return reply{body: testKeyFile}
			case "mtls":
				return reply{body: `{"app":"billing","keyId":"` + testKeyID + `","fingerprint":"ab12"}`}
			}
			// An extra field must not reach the contract's JSON.
			return reply{body: `{"app":"billing","keyId":"` + testKeyID + `","apiKey":"custos_ak_x_y","extra":1}` + "\n"}
		},
	})

	t.Run("api key alone on one line", func(t *testing.T) {
		r := runCLI(t, srv.srv.URL, "", "apps", "keys", "create", "billing").mustSucceed(t)
		if r.stdout != "custos_ak_x_y\n" {
			t.Errorf("stdout = %q, want the key alone on one line", r.stdout)
		}
		if !strings.Contains(r.stderr, testKeyID) {
			t.Errorf("stderr = %q, want a note with the key id", r.stderr)
		}
	})

	t.Run("api key as JSON is exactly app, keyId, apiKey", func(t *testing.T) {
		r := runCLI(t, srv.srv.URL, "", "apps", "keys", "create", "billing", "-o", "json").mustSucceed(t)
		want := "{\n  \"app\": \"billing\",\n  \"keyId\": \"" + testKeyID + "\",\n  \"apiKey\": \"custos_ak_x_y\"\n}\n"
		if r.stdout != want {
			t.Errorf("stdout = %q, want %q", r.stdout, want)
		}
		if r.stderr != "" {
			t.Errorf("stderr = %q, want nothing", r.stderr)
		}
	})

	t.Run("google-json prints the key file with or without --output json", func(t *testing.T) {
		text := runCLI(t, srv.srv.URL, "", "apps", "keys", "create", "billing", "--format", "google-json").mustSucceed(t)
		js := runCLI(t, srv.srv.URL, "", "apps", "keys", "create", "billing", "--format", "google-json", "-o", "json").mustSucceed(t)
		if text.stdout != js.stdout {
			t.Errorf("text and JSON output differ:\n%s\n%s", text.stdout, js.stdout)
		}
		var got, want map[string]any
		if err := json.Unmarshal([]byte(text.stdout), &got); err != nil {
			t.Fatalf("stdout is not one JSON object: %v\n%s", err, text.stdout)
		}
		json.Unmarshal([]byte(testKeyFile), &want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("key file changed (-want +got):\n%s", diff)
		}
		for _, f := range []string{"type", "project_id", "private_key_id", "private_key", "client_email", "client_id", "token_uri"} {
			if _, ok := got[f]; !ok {
				t.Errorf("key file lacks %q", f)
			}
		}
		if !strings.Contains(text.stderr, testKeyID) {
			t.Errorf("stderr = %q, want a note with the key id", text.stderr)
		}
	})

	t.Run("mtls sends the certificate", func(t *testing.T) {
		dir := t.TempDir()
		cert := filepath.Join(dir, "client.pem")
		pem := "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
		os.WriteFile(cert, []byte(pem), 0o600)
		r := runCLI(t, srv.srv.URL, "", "apps", "keys", "create", "billing", "--format", "mtls", "--cert", cert).mustSucceed(t)
		if got := srv.last().Body; got["format"] != "mtls" || got["certificate"] != pem {
			t.Errorf("body = %v, want format mtls and the certificate", got)
		}
		if !strings.Contains(r.stdout, "ab12") {
			t.Errorf("stdout = %q, want the fingerprint", r.stdout)
		}
		r = runCLI(t, srv.srv.URL, pem, "apps", "keys", "create", "billing", "--format", "mtls", "--cert", "-").mustSucceed(t)
		if got := srv.last().Body["certificate"]; got != pem {
			t.Errorf("certificate from stdin = %v", got)
		}
	})

	t.Run("an answer without a key is an error", func(t *testing.T) {
		bad := newFakeServer(t, map[string]func(request) reply{
			"POST /admin/v1/apps/billing/keys": ok(`{"app":"billing"}`),
		})
		r := runCLI(t, bad.srv.URL, "", "apps", "keys", "create", "billing")
		if r.code != 1 || r.stdout != "" {
			t.Errorf("exit %d, stdout %q; want 1 and nothing", r.code, r.stdout)
		}
	})
}

func TestAppsUsageErrors(t *testing.T) {
	srv := newFakeServer(t, nil)
	tests := [][]string{
		{"apps", "create"},
		{"apps", "create", "Billing"},
		{"apps", "create", "a/b"},
		{"apps", "create", "billing", "--project", "a/b"},
		{"apps", "create", "billing", "--google-service-account", "nobody"},
		{"apps", "get", "billing", "extra"},
		{"apps", "delete", "../x"},
		{"apps", "keys", "create", "billing", "--format", "pem"},
		{"apps", "keys", "create", "billing", "--format", "mtls"},
		{"apps", "keys", "create", "billing", "--cert", "c.pem"},
		{"apps", "keys", "revoke", "billing"},
		{"apps", "keys", "revoke", "billing", "a/b"},
		{"apps", "keys"},
	}
	for _, args := range tests {
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

func TestAppsOutput(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{
		"GET /admin/v1/apps":              ok(`{"apps":[` + testAppJSON + `,{"name":"old","disabled":true,"createTime":"2029-01-01T00:00:00Z"}]}` + "\n"),
		"GET /admin/v1/apps/billing":      ok(testAppJSON + "\n"),
		"DELETE /admin/v1/apps/billing":   ok("{}\n"),
		"GET /admin/v1/apps/billing/keys": ok(`{"keys":[{"keyId":"a1","type":"google-json","createTime":"t","revoked":false,"clientEmail":"billing@apps.custos.local"},{"keyId":"b2","type":"mtls","createTime":"t","revoked":true,"fingerprint":"ff","subject":"CN=x"}]}`),
		"GET /admin/v1/apps/nosuch": func(request) reply {
			return reply{status: 404, body: `{"error":{"code":404,"message":"app nosuch not found","status":"NOT_FOUND"}}`}
		},
		"POST /admin/v1/apps/billing/keys/a1/revoke": ok(`{"keyId":"a1","type":"google-json","revoked":true,"revokeTime":"2030-01-01T00:00:00Z"}`),
	})

	r := runCLI(t, srv.srv.URL, "", "apps", "list").mustSucceed(t)
	for _, want := range []string{"NAME", "billing", "pay", "ENABLED", "old", "DISABLED"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("apps list: stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runCLI(t, srv.srv.URL, "", "apps", "list", "-o", "json").mustSucceed(t)
	var apps []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &apps); err != nil || len(apps) != 2 {
		t.Errorf("apps list -o json: %v, %d apps:\n%s", err, len(apps), r.stdout)
	}

	r = runCLI(t, srv.srv.URL, "", "apps", "get", "billing").mustSucceed(t)
	for _, want := range []string{"Name:", "billing", "Principal:", "app:billing", "Project:", "State:", "ENABLED"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("apps get: stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runCLI(t, srv.srv.URL, "", "apps", "get", "billing", "-o", "json").mustSucceed(t)
	if !strings.HasSuffix(r.stdout, "}\n") || strings.HasSuffix(r.stdout, "\n\n") {
		t.Errorf("apps get -o json: want one object and one newline:\n%q", r.stdout)
	}

	r = runCLI(t, srv.srv.URL, "", "apps", "delete", "billing").mustSucceed(t)
	if r.stdout != "" || !strings.Contains(r.stderr, "deleted app billing") {
		t.Errorf("apps delete: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	r = runCLI(t, srv.srv.URL, "", "apps", "delete", "billing", "-o", "json").mustSucceed(t)
	if r.stdout != "{}\n" {
		t.Errorf("apps delete -o json: stdout %q, want {}", r.stdout)
	}

	r = runCLI(t, srv.srv.URL, "", "apps", "keys", "list", "billing").mustSucceed(t)
	for _, want := range []string{"KEY ID", "a1", "google-json", "ACTIVE", "billing@apps.custos.local", "b2", "REVOKED", "CN=x sha256:ff"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("keys list: stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runCLI(t, srv.srv.URL, "", "apps", "keys", "revoke", "billing", "a1").mustSucceed(t)
	if !strings.Contains(r.stdout, "REVOKED") {
		t.Errorf("keys revoke: stdout %q", r.stdout)
	}

	r = runCLI(t, srv.srv.URL, "", "apps", "get", "nosuch")
	if r.code != 1 || !strings.Contains(r.stderr, "custos: error: app nosuch not found (NOT_FOUND)") {
		t.Errorf("apps get nosuch: exit %d, stderr %q", r.code, r.stderr)
	}
}
