// SPDX-License-Identifier: Apache-2.0

package admin_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custos-kms/custos/internal/api/admin"
	"github.com/custos-kms/custos/internal/audit"
	"github.com/custos-kms/custos/internal/keystore"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage/sqlite"
)

const (
	auditTestRing  = "projects/p/locations/l/keyRings/r"
	auditTestKey   = auditTestRing + "/cryptoKeys/k"
	auditTestOther = "projects/p/locations/l/keyRings/other"
)

// auditTestAuthenticate is a fake authentication: "Bearer admin" is the
// admin, "Bearer reader" an app, anything else is refused.
func auditTestAuthenticate(r *http.Request) (context.Context, error) {
	switch r.Header.Get("Authorization") {
	case "Bearer admin":
		return kms.WithCaller(r.Context(), &kms.Caller{Principal: "admin", AuthMethod: "admin-token", Admin: true, RequestID: "req-admin"}), nil
	case "Bearer reader":
		return kms.WithCaller(r.Context(), &kms.Caller{Principal: "app:reader", AuthMethod: "api-key", App: "reader"}), nil
	}
	return nil, kmserr.Unauthenticated("no valid credential")
}

// auditTestAuthz grants the admin everything, and the reader the audit
// permissions on auditTestRing and below.
type auditTestAuthz struct{}

func (auditTestAuthz) Authorize(ctx context.Context, perm string, res resource.Name) error {
	c := kms.CallerFrom(ctx)
	if c == nil {
		return kmserr.Unauthenticated("no caller")
	}
	if c.Admin {
		return nil
	}
	s := res.String()
	if (perm == admin.PermAuditList || perm == admin.PermAuditConfigsGet) && (s == auditTestRing || strings.HasPrefix(s, auditTestRing+"/")) {
		return nil
	}
	return kmserr.PermissionDenied("Permission '%s' denied on resource '%s' (or it may not exist).", perm, s)
}

func newAuditTestServer(t *testing.T) (*httptest.Server, *audit.Log) {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	root := make([]byte, 32)
	rand.Read(root)
	ks, err := keystore.Open(ctx, store, root)
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(ctx, store, ks, ks.Derive(audit.ChainKeyInfo, 32), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	for _, ev := range []kms.Event{
		{Method: "CreateKeyRing", Resource: "projects/p/locations/l"},
		{Method: "CreateCryptoKey", Resource: auditTestRing},
		{Method: "UpdateCryptoKey", Resource: auditTestKey, Err: kmserr.PermissionDenied("no")},
		{Method: "CreateCryptoKey", Resource: auditTestOther},
	} {
		if err := l.Record(kms.WithCaller(ctx, &kms.Caller{Principal: "admin", Admin: true}), ev); err != nil {
			t.Fatal(err)
		}
	}
	h := admin.New(auditTestAuthenticate)
	admin.RegisterAudit(h, l, auditTestAuthz{})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, l
}

func auditTestDo(t *testing.T, srv *httptest.Server, method, path, token, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// auditTestStatus is the "status" of an error envelope ("" if none).
func auditTestStatus(b []byte) string {
	var env struct {
		Error struct {
			Status string `json:"status"`
		} `json:"error"`
	}
	json.Unmarshal(b, &env)
	return env.Error.Status
}

func TestAuditListRoute(t *testing.T) {
	srv, _ := newAuditTestServer(t)
	tests := []struct {
		name       string
		token      string
		query      string
		wantStatus string // gRPC code name; "OK" for success
		wantSeqs   []int64
	}{
		{"admin lists the whole log", "admin", "", "OK", []int64{1, 2, 3, 4}},
		{"admin filters by status", "admin", "?status=PERMISSION_DENIED", "OK", []int64{3}},
		{"status is case-insensitive", "admin", "?status=permission_denied", "OK", []int64{3}},
		{"admin pages with afterSeq and limit", "admin", "?afterSeq=1&limit=2", "OK", []int64{2, 3}},
		{"time window", "admin", "?after=2000-01-01T00:00:00Z&before=2999-01-01T00:00:00Z&method=CreateCryptoKey", "OK", []int64{2, 4}},
		{"reader lists its key ring", "reader", "?resource=" + auditTestRing, "OK", []int64{2, 3}},
		{"reader lists its key", "reader", "?resource=" + auditTestKey, "OK", []int64{3}},
		{"reader may not list the whole log", "reader", "", "PERMISSION_DENIED", nil},
		{"reader may not list another key ring", "reader", "?resource=" + auditTestOther, "PERMISSION_DENIED", nil},
		{"no credential", "", "", "UNAUTHENTICATED", nil},
		{"reader names a bad resource", "reader", "?resource=nope", "INVALID_ARGUMENT", nil},
		{"admin may filter on any name", "admin", "?resource=apps/billing", "OK", nil},
		{"bad time", "admin", "?after=yesterday", "INVALID_ARGUMENT", nil},
		{"bad afterSeq", "admin", "?afterSeq=-1", "INVALID_ARGUMENT", nil},
		{"limit zero", "admin", "?limit=0", "INVALID_ARGUMENT", nil},
		{"limit too large", "admin", "?limit=5000", "INVALID_ARGUMENT", nil},
		{"unknown parameter", "admin", "?principle=admin", "INVALID_ARGUMENT", nil},
		{"repeated parameter", "admin", "?method=a&method=b", "INVALID_ARGUMENT", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := auditTestDo(t, srv, "GET", "/admin/v1/audit"+tc.query, tc.token, "")
			if tc.wantStatus != "OK" {
				if got := auditTestStatus(b); got != tc.wantStatus {
					t.Errorf("GET %s = %d %s, want %s", tc.query, resp.StatusCode, b, tc.wantStatus)
				}
				return
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s = %d %s", tc.query, resp.StatusCode, b)
			}
			var out struct {
				Entries []audit.Entry `json:"entries"`
			}
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatal(err)
			}
			var seqs []int64
			for _, e := range out.Entries {
				seqs = append(seqs, e.Seq)
			}
			if !equalSeqs(seqs, tc.wantSeqs) {
				t.Errorf("GET %s = seqs %v, want %v", tc.query, seqs, tc.wantSeqs)
			}
		})
	}
	t.Run("empty result is an empty list", func(t *testing.T) {
		_, b := auditTestDo(t, srv, "GET", "/admin/v1/audit?principal=nobody", "admin", "")
		if !strings.Contains(string(b), `"entries":[]`) {
			t.Errorf("body = %s, want an empty entries list", b)
		}
	})
}

func equalSeqs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestAuditExportRoute(t *testing.T) {
	srv, _ := newAuditTestServer(t)
	tests := []struct {
		name       string
		token      string
		query      string
		wantStatus string
		wantLines  int
	}{
		{"admin exports everything", "admin", "", "OK", 4},
		{"admin exports with a filter", "admin", "?method=CreateCryptoKey", "OK", 2},
		{"reader exports its key ring", "reader", "?resource=" + auditTestRing, "OK", 2},
		{"nothing to export", "admin", "?principal=nobody", "OK", 0},
		{"reader may not export the whole log", "reader", "", "PERMISSION_DENIED", 0},
		{"no credential", "", "", "UNAUTHENTICATED", 0},
		{"bad parameter", "admin", "?limit=x", "INVALID_ARGUMENT", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := auditTestDo(t, srv, "GET", "/admin/v1/audit:export"+tc.query, tc.token, "")
			if tc.wantStatus != "OK" {
				if got := auditTestStatus(b); got != tc.wantStatus {
					t.Errorf("export = %d %s, want %s", resp.StatusCode, b, tc.wantStatus)
				}
				return
			}
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
				t.Fatalf("export = %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			n := 0
			sc := bufio.NewScanner(strings.NewReader(string(b)))
			for sc.Scan() {
				var m map[string]any
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
					t.Fatalf("line %q: %v", sc.Text(), err)
				}
				for _, k := range []string{"seq", "time", "principal", "authMethod", "method", "resource", "status", "requestId", "clientAddress", "justification"} {
					if _, ok := m[k]; !ok {
						t.Errorf("line %q lacks %q", sc.Text(), k)
					}
				}
				n++
			}
			if n != tc.wantLines {
				t.Errorf("export has %d lines, want %d", n, tc.wantLines)
			}
		})
	}
}

func TestAuditVerifyRoute(t *testing.T) {
	srv, _ := newAuditTestServer(t)
	resp, b := auditTestDo(t, srv, "POST", "/admin/v1/audit:verify", "admin", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("verify = %d %s", resp.StatusCode, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"entries": float64(4), "ok": true, "firstBadSeq": float64(0), "problem": ""}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("verify answer %s: %q = %v, want %v", b, k, m[k], v)
		}
	}
	for _, tc := range []struct{ token, want string }{{"reader", "PERMISSION_DENIED"}, {"", "UNAUTHENTICATED"}} {
		if _, b := auditTestDo(t, srv, "POST", "/admin/v1/audit:verify", tc.token, ""); auditTestStatus(b) != tc.want {
			t.Errorf("verify as %q = %s, want %s", tc.token, b, tc.want)
		}
	}
}

func TestAuditConfigRoutes(t *testing.T) {
	srv, l := newAuditTestServer(t)
	steps := []struct {
		name       string
		method     string
		resource   string
		token      string
		body       string
		wantStatus string
		wantOn     bool
	}{
		{"default is off", "GET", auditTestKey, "admin", "", "OK", false},
		{"admin turns the project on", "PUT", "projects/p", "admin", `{"dataAccess":true}`, "OK", true},
		{"the key inherits it", "GET", auditTestKey, "admin", "", "OK", true},
		{"admin turns the key off", "PUT", auditTestKey, "admin", `{"dataAccess":false}`, "OK", false},
		{"the key's own setting wins", "GET", auditTestKey, "reader", "", "OK", false},
		{"the ring still inherits", "GET", auditTestRing, "reader", "", "OK", true},
		{"reader may not read another ring", "GET", auditTestOther, "reader", "", "PERMISSION_DENIED", false},
		{"reader may not set", "PUT", auditTestKey, "reader", `{"dataAccess":true}`, "PERMISSION_DENIED", false},
		{"body required", "PUT", auditTestKey, "admin", ``, "INVALID_ARGUMENT", false},
		{"unknown field", "PUT", auditTestKey, "admin", `{"dataAccess":true,"x":1}`, "INVALID_ARGUMENT", false},
		{"wrong type", "PUT", auditTestKey, "admin", `{"dataAccess":"yes"}`, "INVALID_ARGUMENT", false},
		{"not on a version", "PUT", auditTestKey + "/cryptoKeyVersions/1", "admin", `{"dataAccess":true}`, "INVALID_ARGUMENT", false},
		{"not on garbage", "GET", "projects", "admin", "", "INVALID_ARGUMENT", false},
		{"no credential", "GET", auditTestKey, "", "", "UNAUTHENTICATED", false},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			resp, b := auditTestDo(t, srv, s.method, "/admin/v1/auditConfig/"+s.resource, s.token, s.body)
			if s.wantStatus != "OK" {
				if got := auditTestStatus(b); got != s.wantStatus {
					t.Errorf("%s %s = %d %s, want %s", s.method, s.resource, resp.StatusCode, b, s.wantStatus)
				}
				return
			}
			var got struct {
				Resource   string `json:"resource"`
				DataAccess bool   `json:"dataAccess"`
			}
			if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &got) != nil {
				t.Fatalf("%s %s = %d %s", s.method, s.resource, resp.StatusCode, b)
			}
			if got.Resource != s.resource || got.DataAccess != s.wantOn {
				t.Errorf("%s %s = %+v, want dataAccess %v", s.method, s.resource, got, s.wantOn)
			}
		})
	}
	t.Run("changes and refusals are recorded", func(t *testing.T) {
		got, err := l.List(context.Background(), audit.Query{Method: "SetAuditConfig"})
		if err != nil {
			t.Fatal(err)
		}
		var summary []string
		for _, e := range got {
			summary = append(summary, e.Principal+" "+e.Resource+" "+e.Status)
		}
		want := []string{
			"admin projects/p OK",
			"admin " + auditTestKey + " OK",
			"app:reader " + auditTestKey + " PERMISSION_DENIED",
			"admin " + auditTestKey + " INVALID_ARGUMENT",
			"admin " + auditTestKey + " INVALID_ARGUMENT",
			"admin " + auditTestKey + " INVALID_ARGUMENT",
		}
		if strings.Join(summary, "\n") != strings.Join(want, "\n") {
			t.Errorf("SetAuditConfig entries:\n%s\nwant:\n%s", strings.Join(summary, "\n"), strings.Join(want, "\n"))
		}
	})
}
