// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestVersionStateChanges(t *testing.T) {
	v := `{"name":"` + testVersion + `","state":"DISABLED"}`
	tests := []struct {
		verb       string
		wantMethod string
		wantPath   string
		wantQuery  url.Values
		wantBody   map[string]any
	}{
		{"enable", "PATCH", "/v1/" + testVersion, url.Values{"updateMask": {"state"}}, map[string]any{"state": "ENABLED"}},
		{"disable", "PATCH", "/v1/" + testVersion, url.Values{"updateMask": {"state"}}, map[string]any{"state": "DISABLED"}},
		{"destroy", "POST", "/v1/" + testVersion + ":destroy", url.Values{}, map[string]any{}},
		{"restore", "POST", "/v1/" + testVersion + ":restore", url.Values{}, map[string]any{}},
		{"get", "GET", "/v1/" + testVersion, url.Values{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.verb, func(t *testing.T) {
			srv := newFakeServer(t, map[string]func(request) reply{tc.wantMethod + " " + tc.wantPath: ok(v)})
			runCLI(t, srv.srv.URL, "", "versions", tc.verb, testVersion).mustSucceed(t)
			req := srv.last()
			if diff := cmp.Diff(tc.wantQuery, req.Query); diff != "" {
				t.Errorf("query (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantBody, req.Body); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVersionsList(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{
		"GET /v1/" + testKey + "/cryptoKeyVersions": ok(`{"cryptoKeyVersions":[
			{"name":"` + testKey + `/cryptoKeyVersions/1","state":"ENABLED","algorithm":"GOOGLE_SYMMETRIC_ENCRYPTION","protectionLevel":"SOFTWARE","createTime":"2025-01-02T03:04:05Z"},
			{"name":"` + testKey + `/cryptoKeyVersions/2","state":"DESTROY_SCHEDULED","algorithm":"GOOGLE_SYMMETRIC_ENCRYPTION"}
		]}`),
	})
	r := runCLI(t, srv.srv.URL, "", "versions", "list", testKey, "--view", "full", "--filter", "state=ENABLED", "--order-by", "name desc").mustSucceed(t)
	want := `NAME                                                                 STATE               ALGORITHM                     PROTECTION   CREATED
projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1   ENABLED             GOOGLE_SYMMETRIC_ENCRYPTION   SOFTWARE     2025-01-02T03:04:05Z
projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/2   DESTROY_SCHEDULED   GOOGLE_SYMMETRIC_ENCRYPTION   -            -
`
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	wantQuery := url.Values{"view": {"FULL"}, "filter": {"state=ENABLED"}, "orderBy": {"name desc"}}
	if diff := cmp.Diff(wantQuery, srv.last().Query); diff != "" {
		t.Errorf("query (-want +got):\n%s", diff)
	}

	if r := runCLI(t, srv.srv.URL, "", "versions", "list", testKey, "--view", "SOME"); r.code != 2 {
		t.Errorf("--view SOME: exit %d, want 2", r.code)
	}
}

func TestVersionTextOutput(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{
		"GET /v1/" + testVersion: ok(`{"name":"` + testVersion + `","state":"DESTROY_SCHEDULED","algorithm":"EC_SIGN_P256_SHA256",
			"protectionLevel":"HSM","createTime":"2025-01-02T03:04:05Z","destroyTime":"2025-01-03T03:04:05Z","externalKeyUri":"https://ekm/k"}`),
	})
	r := runCLI(t, srv.srv.URL, "", "versions", "get", testVersion).mustSucceed(t)
	want := `Name:              ` + testVersion + `
State:             DESTROY_SCHEDULED
Algorithm:         EC_SIGN_P256_SHA256
Protection level:  HSM
Created:           2025-01-02T03:04:05Z
Destroy time:      2025-01-03T03:04:05Z
externalKeyUri:    https://ekm/k
`
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("text (-want +got):\n%s", diff)
	}
}

func TestKeyRings(t *testing.T) {
	ringJSON := `{"name":"` + testRing + `","createTime":"2025-01-02T03:04:05Z"}`
	srv := newFakeServer(t, map[string]func(request) reply{
		"POST /v1/projects/p/locations/l/keyRings": ok(ringJSON),
		"GET /v1/projects/p/locations/l/keyRings":  ok(`{"keyRings":[` + ringJSON + `],"totalSize":1}`),
		"GET /v1/" + testRing:                      ok(ringJSON),
	})
	r := runCLI(t, srv.srv.URL, "", "keyrings", "create", testRing).mustSucceed(t)
	if r.stdout != "Name:     "+testRing+"\nCreated:  2025-01-02T03:04:05Z\n" {
		t.Errorf("create text = %q", r.stdout)
	}
	if diff := cmp.Diff(url.Values{"keyRingId": {"r"}}, srv.last().Query); diff != "" {
		t.Errorf("create query (-want +got):\n%s", diff)
	}
	r = runCLI(t, srv.srv.URL, "", "keyrings", "list", "projects/p/locations/l", "-o", "json").mustSucceed(t)
	want := "[\n  {\n    \"name\": \"" + testRing + "\",\n    \"createTime\": \"2025-01-02T03:04:05Z\"\n  }\n]\n"
	if r.stdout != want {
		t.Errorf("list json = %q, want %q", r.stdout, want)
	}
	r = runCLI(t, srv.srv.URL, "", "keyrings", "get", testRing, "-o", "json").mustSucceed(t)
	if r.stdout != "{\n  \"name\": \""+testRing+"\",\n  \"createTime\": \"2025-01-02T03:04:05Z\"\n}\n" {
		t.Errorf("get json = %q", r.stdout)
	}
}
