// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeError(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   APIError
		text   string
	}{
		{
			name:   "envelope",
			status: 404,
			body:   `{"error":{"code":404,"message":"key ring \"x\" not found","status":"NOT_FOUND"}}`,
			want:   APIError{HTTPStatus: 404, Status: "NOT_FOUND", Message: `key ring "x" not found`},
			text:   `key ring "x" not found (NOT_FOUND)`,
		},
		{
			name:   "failed precondition is 400 with its own status",
			status: 400,
			body:   `{"error":{"code":400,"message":"version is disabled","status":"FAILED_PRECONDITION","details":[]}}`,
			want:   APIError{HTTPStatus: 400, Status: "FAILED_PRECONDITION", Message: "version is disabled"},
			text:   "version is disabled (FAILED_PRECONDITION)",
		},
		{
			name:   "envelope without status falls back on the HTTP code",
			status: 403,
			body:   `{"error":{"code":403,"message":"denied"}}`,
			want:   APIError{HTTPStatus: 403, Status: "PERMISSION_DENIED", Message: "denied"},
		},
		{
			name:   "plain text body",
			status: 502,
			body:   "upstream   connect\nerror",
			want:   APIError{HTTPStatus: 502, Status: "INTERNAL", Message: "upstream connect error"},
		},
		{
			name:   "empty body",
			status: 401,
			want:   APIError{HTTPStatus: 401, Status: "UNAUTHENTICATED", Message: "unauthorized"},
			text:   "unauthorized (UNAUTHENTICATED)",
		},
		{
			name:   "long body is cut",
			status: 500,
			body:   strings.Repeat("x", 500),
			want:   APIError{HTTPStatus: 500, Status: "INTERNAL", Message: strings.Repeat("x", 200) + "..."},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := decodeError(tc.status, []byte(tc.body))
			if diff := cmp.Diff(tc.want, *got); diff != "" {
				t.Errorf("decodeError(%d, %q) mismatch (-want +got):\n%s", tc.status, tc.body, diff)
			}
			if tc.text != "" && got.Error() != tc.text {
				t.Errorf("Error() = %q, want %q", got.Error(), tc.text)
			}
		})
	}
}

func TestAPIErrorHints(t *testing.T) {
	tests := []struct {
		status, hint string
	}{
		{"UNAUTHENTICATED", "check the token"},
		{"PERMISSION_DENIED", "lacks the permission"},
		{"FAILED_PRECONDITION", "custos versions list"},
	}
	for _, tc := range tests {
		t.Run(tc.status, func(t *testing.T) {
			srv := newFakeServer(t, map[string]func(request) reply{
				"GET /v1/" + testKey: func(request) reply {
					return reply{status: 400, body: `{"error":{"code":400,"message":"nope","status":"` + tc.status + `"}}`}
				},
			})
			r := runCLI(t, srv.srv.URL, "", "keys", "get", testKey)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1", r.code)
			}
			want := "custos: error: nope (" + tc.status + ")\ncustos: hint: "
			if !strings.HasPrefix(r.stderr, want) || !strings.Contains(r.stderr, tc.hint) {
				t.Errorf("stderr = %q, want prefix %q and hint %q", r.stderr, want, tc.hint)
			}
		})
	}
}

func TestListFollowsPages(t *testing.T) {
	ring := "projects/p/locations/l/keyRings/r"
	pages := map[string]string{
		"":   `{"cryptoKeys":[{"name":"a"},{"name":"b"}],"nextPageToken":"t1","totalSize":3}`,
		"t1": `{"cryptoKeys":[{"name":"c","exportable":true}],"nextPageToken":"t2"}`,
		"t2": `{}`,
	}
	srv := newFakeServer(t, map[string]func(request) reply{
		"GET /v1/" + ring + "/cryptoKeys": func(r request) reply {
			return reply{body: pages[r.Query.Get("pageToken")]}
		},
	})
	r := runCLI(t, srv.srv.URL, "", "keys", "list", ring, "-o", "json", "--filter", "purpose=MAC").mustSucceed(t)
	var got []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout is not one JSON array: %v\n%s", err, r.stdout)
	}
	want := []map[string]any{{"name": "a"}, {"name": "b"}, {"name": "c", "exportable": true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("list mismatch (-want +got):\n%s", diff)
	}
	reqs := srv.requests()
	if len(reqs) != 3 {
		t.Fatalf("saw %d requests, want 3", len(reqs))
	}
	for _, req := range reqs {
		if req.Query.Get("filter") != "purpose=MAC" {
			t.Errorf("request %v lost the filter", req.Query)
		}
	}
}

func TestListRefusesALoopingToken(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{
		"GET /v1/projects/p/locations/l/keyRings": ok(`{"keyRings":[{"name":"a"}],"nextPageToken":"same"}`),
	})
	r := runCLI(t, srv.srv.URL, "", "keyrings", "list", "projects/p/locations/l")
	if r.code != 1 || !strings.Contains(r.stderr, "repeated page token") {
		t.Fatalf("exit %d, stderr %q; want exit 1 about a repeated token", r.code, r.stderr)
	}
}

func TestClientSendsJSONAndToken(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{
		"POST /prefix/v1/projects/p/locations/l/keyRings": ok(`{"name":"projects/p/locations/l/keyRings/r"}`),
	})
	base, _ := url.Parse(srv.srv.URL + "/prefix/")
	c, err := newClient(base, "secret", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.post(context.Background(), "/v1/projects/p/locations/l/keyRings", url.Values{"keyRingId": {"r"}}, nil); err != nil {
		t.Fatal(err)
	}
	req := srv.last()
	if req.Auth != "Bearer secret" || req.Query.Get("keyRingId") != "r" || req.Body == nil {
		t.Errorf("request = %+v, want a bearer token, keyRingId=r and a {} body", req)
	}
}

func TestTransportErrorHint(t *testing.T) {
	r := runCLI(t, "http://127.0.0.1:1", "", "keys", "get", testKey)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1", r.code)
	}
	if !strings.Contains(r.stderr, "cannot reach the server at http://127.0.0.1:1") || !strings.Contains(r.stderr, "custos: hint: is a custos server running") {
		t.Errorf("stderr = %q", r.stderr)
	}
}

func TestNonJSONSuccessIsAnError(t *testing.T) {
	// Every answer of the APIs is a JSON object: anything else, even valid
	// JSON, is not printed (with --output json it would be the one value
	// on stdout) and fails the command.
	for _, body := range []string{`<html>`, `[]`, `null`, `"x"`, `1`} {
		srv := newFakeServer(t, map[string]func(request) reply{
			"GET /v1/" + testKey:         ok(body),
			"GET /admin/v1/quotas/app:q": ok(body),
		})
		for _, args := range [][]string{{"keys", "get", testKey}, {"quotas", "get", "app:q"}} {
			for _, o := range []string{"text", "json"} {
				r := runCLI(t, srv.srv.URL, "", append([]string{"-o", o}, args...)...)
				if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "not a JSON object") {
					t.Errorf("body %s, custos -o %s %v: exit %d, stdout %q, stderr %q; want exit 1 about a body that is not a JSON object", body, o, args, r.code, r.stdout, r.stderr)
				}
			}
		}
	}
}

func TestBadCACert(t *testing.T) {
	r := runCLI(t, "https://127.0.0.1:1", "", "--ca-cert", "/nonexistent/ca.pem", "keys", "get", testKey)
	if r.code != 1 || !strings.Contains(r.stderr, "reading the CA bundle") {
		t.Fatalf("exit %d, stderr %q; want exit 1 about the CA bundle", r.code, r.stderr)
	}
}

func TestCACertTrustsATLSServer(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"name":"`+testKey+`"}`)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	// Without the CA bundle the certificate is unknown.
	if r := runCLI(t, srv.URL, "", "keys", "get", testKey); r.code != 1 || !strings.Contains(r.stderr, "certificate") {
		t.Errorf("without --ca-cert: exit %d, stderr %q; want a certificate error", r.code, r.stderr)
	}
	runCLI(t, srv.URL, "", "--ca-cert", caFile, "keys", "get", testKey).mustSucceed(t)
	runEnv(t, map[string]string{envAddr: srv.URL, envToken: "t", envCACert: caFile}, "", "keys", "get", testKey).mustSucceed(t)
}

// TestRedirectNotFollowed: a redirect, here from https to plain http on the
// same host, is an error; the token and the plaintext are not sent again.
func TestRedirectNotFollowed(t *testing.T) {
	var seen []string
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("Authorization"))
		io.WriteString(w, `{"ciphertext":"Q1Q="}`)
	}))
	defer plain.Close()
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer tlsSrv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, tlsSrv.URL, "secret plaintext", "--ca-cert", ca, "encrypt", testKey)
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "does not follow redirects") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 refusing the redirect", r.code, r.stdout, r.stderr)
	}
	if len(seen) != 0 {
		t.Errorf("the plain http server got %d requests (Authorization %q)", len(seen), seen)
	}
}
