// SPDX-License-Identifier: Apache-2.0

package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/custos-kms/custos/internal/api/admin"
	"github.com/custos-kms/custos/internal/integrity"
)

func newStoreTestServer(t *testing.T, scan admin.Scanner) *httptest.Server {
	t.Helper()
	h := admin.New(auditTestAuthenticate)
	admin.RegisterStore(h, scan)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func postVerify(t *testing.T, srv *httptest.Server, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/admin/v1/store:verify", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func TestStoreVerifyRoute(t *testing.T) {
	damaged := integrity.Report{Records: 9, ProblemCount: 1, Problems: []integrity.Problem{{Name: "x", Kind: "version", Problem: "its MAC does not verify"}}}
	srv := newStoreTestServer(t, func(context.Context) (integrity.Report, error) { return damaged, nil })

	code, body := postVerify(t, srv, "admin")
	if code != http.StatusOK || body["ok"] != false || body["problemCount"] != 1.0 || body["records"] != 9.0 {
		t.Errorf("admin: %d %v, want 200 and the report", code, body)
	}
	code, body = postVerify(t, srv, "reader")
	if code != http.StatusForbidden || body["records"] != nil {
		t.Errorf("an app: %d %v, want 403 and no report", code, body)
	}

	failing := newStoreTestServer(t, func(context.Context) (integrity.Report, error) {
		return integrity.Report{}, errors.New("disk gone at /secret/path")
	})
	code, body = postVerify(t, failing, "admin")
	if code != http.StatusServiceUnavailable {
		t.Errorf("failed scan: %d %v, want 503", code, body)
	}
	if msg, _ := body["error"].(map[string]any)["message"].(string); msg == "" || strings.Contains(msg, "/secret/path") {
		t.Errorf("failed scan's message %q: want one that hides the cause", msg)
	}

	none := newStoreTestServer(t, nil)
	if code, body := postVerify(t, none, "admin"); code != http.StatusNotImplemented {
		t.Errorf("no scanner: %d %v, want 501", code, body)
	}
}
