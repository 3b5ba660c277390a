// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const testRing = "projects/p/locations/l/keyRings/r"

func TestKeysCreateRequest(t *testing.T) {
	defer func(f func() time.Time) { now = f }(now)
	now = func() time.Time { return time.Date(2030, 1, 1, 0, 0, 0, 5, time.UTC) }
	tests := []struct {
		name      string
		args      []string
		wantBody  map[string]any
		wantQuery url.Values
	}{
		{
			name: "defaults to a symmetric key",
			wantBody: map[string]any{
				"purpose":         "ENCRYPT_DECRYPT",
				"versionTemplate": map[string]any{"algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION"},
			},
			wantQuery: url.Values{"cryptoKeyId": {"k"}},
		},
		{
			name: "purpose picks the default algorithm",
			args: []string{"--purpose", "asymmetric_sign"},
			wantBody: map[string]any{
				"purpose":         "ASYMMETRIC_SIGN",
				"versionTemplate": map[string]any{"algorithm": "EC_SIGN_P256_SHA256"},
			},
			wantQuery: url.Values{"cryptoKeyId": {"k"}},
		},
		{
			name: "algorithm implies the purpose",
			args: []string{"--algorithm", "HMAC_SHA512"},
			wantBody: map[string]any{
				"purpose":         "MAC",
				"versionTemplate": map[string]any{"algorithm": "HMAC_SHA512"},
			},
			wantQuery: url.Values{"cryptoKeyId": {"k"}},
		},
		{
			name: "raw key defaults to AES_256_GCM",
			args: []string{"--purpose", "RAW_ENCRYPT_DECRYPT", "--protection-level", "HSM"},
			wantBody: map[string]any{
				"purpose":         "RAW_ENCRYPT_DECRYPT",
				"versionTemplate": map[string]any{"algorithm": "AES_256_GCM", "protectionLevel": "HSM"},
			},
			wantQuery: url.Values{"cryptoKeyId": {"k"}},
		},
		{
			name: "durations, times and labels",
			args: []string{
				"--rotation-period", "720h", "--next-rotation-time", "2030-01-02T03:04:05Z",
				"--destroy-scheduled-duration", "90s", "--labels", "team=pay, env=prod",
			},
			wantBody: map[string]any{
				"purpose":                  "ENCRYPT_DECRYPT",
				"versionTemplate":          map[string]any{"algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION"},
				"rotationPeriod":           "2592000s",
				"nextRotationTime":         "2030-01-02T03:04:05Z",
				"destroyScheduledDuration": "90s",
				"labels":                   map[string]any{"team": "pay", "env": "prod"},
			},
			wantQuery: url.Values{"cryptoKeyId": {"k"}},
		},
		{
			name: "rotation period alone schedules the first rotation one period from now",
			args: []string{"--rotation-period", "24h"},
			wantBody: map[string]any{
				"purpose":          "ENCRYPT_DECRYPT",
				"versionTemplate":  map[string]any{"algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION"},
				"rotationPeriod":   "86400s",
				"nextRotationTime": "2030-01-02T00:00:00Z",
			},
			wantQuery: url.Values{"cryptoKeyId": {"k"}},
		},
		{
			name: "skip initial version and exportable",
			args: []string{"--skip-initial-version", "--exportable"},
			wantBody: map[string]any{
				"purpose":         "ENCRYPT_DECRYPT",
				"versionTemplate": map[string]any{"algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION"},
			},
			wantQuery: url.Values{"cryptoKeyId": {"k"}, "skipInitialVersionCreation": {"true"}, "exportable": {"true"}},
		},
		{
			name: "import only implies skipping the initial version",
			args: []string{"--import-only"},
			wantBody: map[string]any{
				"purpose":         "ENCRYPT_DECRYPT",
				"versionTemplate": map[string]any{"algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION"},
				"importOnly":      true,
			},
			wantQuery: url.Values{"cryptoKeyId": {"k"}, "skipInitialVersionCreation": {"true"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer(t, map[string]func(request) reply{
				"POST /v1/" + testRing + "/cryptoKeys": ok(`{"name":"` + testKey + `","purpose":"ENCRYPT_DECRYPT"}`),
			})
			args := append([]string{"keys", "create", testKey}, tc.args...)
			runCLI(t, srv.srv.URL, "", args...).mustSucceed(t)
			req := srv.last()
			if diff := cmp.Diff(tc.wantBody, req.Body); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantQuery, req.Query); diff != "" {
				t.Errorf("query mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKeysCreateUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"unknown algorithm", []string{"--algorithm", "ROT13"}},
		{"unspecified purpose", []string{"--purpose", "CRYPTO_KEY_PURPOSE_UNSPECIFIED"}},
		{"bad protection level", []string{"--protection-level", "VAULT"}},
		{"bad duration", []string{"--rotation-period", "a month"}},
		{"negative duration", []string{"--rotation-period", "-1h"}},
		{"bad time", []string{"--next-rotation-time", "tomorrow"}},
		{"bad labels", []string{"--labels", "team"}},
		{"duplicate label", []string{"--labels", "a=1,a=2"}},
		{"key ring name instead of key", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := testKey
			if tc.args == nil {
				name = testRing
			}
			r := runCLI(t, "http://127.0.0.1:1", "", append([]string{"keys", "create", name}, tc.args...)...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2; stderr:\n%s", r.code, r.stderr)
			}
		})
	}
}

func TestKeysUpdateMask(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantMask string
		wantBody map[string]any
	}{
		{"rotation period", []string{"--rotation-period", "24h"}, "rotationPeriod",
			map[string]any{"rotationPeriod": "86400s"}},
		{"rotation period and next time", []string{"--next-rotation-time", "2030-01-01T00:00:00Z", "--rotation-period", "48h"},
			"rotationPeriod,nextRotationTime",
			map[string]any{"rotationPeriod": "172800s", "nextRotationTime": "2030-01-01T00:00:00Z"}},
		{"remove rotation schedule", []string{"--remove-rotation-schedule"}, "rotationPeriod,nextRotationTime", map[string]any{}},
		{"labels", []string{"--labels", "a=1"}, "labels", map[string]any{"labels": map[string]any{"a": "1"}}},
		{"clear labels", []string{"--clear-labels"}, "labels", map[string]any{}},
		{"default algorithm", []string{"--default-algorithm", "GOOGLE_SYMMETRIC_ENCRYPTION"}, "versionTemplate.algorithm",
			map[string]any{"versionTemplate": map[string]any{"algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION"}}},
		{"everything", []string{"--rotation-period", "1h", "--labels", "x=y", "--default-algorithm", "AES_256_GCM"},
			"rotationPeriod,labels,versionTemplate.algorithm",
			map[string]any{"rotationPeriod": "3600s", "labels": map[string]any{"x": "y"},
				"versionTemplate": map[string]any{"algorithm": "AES_256_GCM"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer(t, map[string]func(request) reply{"PATCH /v1/" + testKey: ok(`{"name":"` + testKey + `"}`)})
			runCLI(t, srv.srv.URL, "", append([]string{"keys", "update", testKey}, tc.args...)...).mustSucceed(t)
			req := srv.last()
			if got := req.Query.Get("updateMask"); got != tc.wantMask {
				t.Errorf("updateMask = %q, want %q", got, tc.wantMask)
			}
			if diff := cmp.Diff(tc.wantBody, req.Body); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKeysUpdateUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"nothing to update", nil},
		{"remove and set rotation", []string{"--remove-rotation-schedule", "--rotation-period", "1h"}},
		{"clear and set labels", []string{"--clear-labels", "--labels", "a=b"}},
		{"bad algorithm", []string{"--default-algorithm", "NOPE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, "http://127.0.0.1:1", "", append([]string{"keys", "update", testKey}, tc.args...)...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2; stderr:\n%s", r.code, r.stderr)
			}
		})
	}
}

func TestKeysRotate(t *testing.T) {
	newVersion := `{"name":"` + testKey + `/cryptoKeyVersions/2","state":"ENABLED","algorithm":"GOOGLE_SYMMETRIC_ENCRYPTION"}`
	tests := []struct {
		name        string
		purpose     string
		args        []string
		wantPrimary bool
	}{
		{"symmetric key becomes primary", "ENCRYPT_DECRYPT", nil, true},
		{"--no-primary", "ENCRYPT_DECRYPT", []string{"--no-primary"}, false},
		{"signing keys have no primary", "ASYMMETRIC_SIGN", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeServer(t, map[string]func(request) reply{
				"GET /v1/" + testKey:                            ok(`{"name":"` + testKey + `","purpose":"` + tc.purpose + `"}`),
				"POST /v1/" + testKey + "/cryptoKeyVersions":    ok(newVersion),
				"POST /v1/" + testKey + ":updatePrimaryVersion": ok(`{"name":"` + testKey + `"}`),
			})
			r := runCLI(t, srv.srv.URL, "", append([]string{"keys", "rotate", testKey, "-o", "json"}, tc.args...)...).mustSucceed(t)
			if r.stdout != "{\n  \"name\": \""+testKey+"/cryptoKeyVersions/2\",\n  \"state\": \"ENABLED\",\n  \"algorithm\": \"GOOGLE_SYMMETRIC_ENCRYPTION\"\n}\n" {
				t.Errorf("stdout = %q, want the new version", r.stdout)
			}
			var primary *request
			for _, req := range srv.requests() {
				if strings.HasSuffix(req.Path, ":updatePrimaryVersion") {
					primary = &req
				}
			}
			if (primary != nil) != tc.wantPrimary {
				t.Fatalf("updatePrimaryVersion called = %v, want %v", primary != nil, tc.wantPrimary)
			}
			if primary != nil {
				if diff := cmp.Diff(map[string]any{"cryptoKeyVersionId": "2"}, primary.Body); diff != "" {
					t.Errorf("updatePrimaryVersion body (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestKeysSetPrimary(t *testing.T) {
	for _, arg := range []string{"3", testKey + "/cryptoKeyVersions/3"} {
		srv := newFakeServer(t, map[string]func(request) reply{
			"POST /v1/" + testKey + ":updatePrimaryVersion": ok(`{"name":"` + testKey + `"}`),
		})
		runCLI(t, srv.srv.URL, "", "keys", "set-primary", testKey, arg).mustSucceed(t)
		if diff := cmp.Diff(map[string]any{"cryptoKeyVersionId": "3"}, srv.last().Body); diff != "" {
			t.Errorf("set-primary %s: body (-want +got):\n%s", arg, diff)
		}
	}
}

func TestKeyTextOutput(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{
		"GET /v1/" + testKey: ok(`{
			"name": "` + testKey + `",
			"primary": {"name": "` + testKey + `/cryptoKeyVersions/1", "state": "ENABLED"},
			"purpose": "ENCRYPT_DECRYPT",
			"createTime": "2025-01-02T03:04:05.123Z",
			"rotationPeriod": "2592000s",
			"versionTemplate": {"algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION", "protectionLevel": "SOFTWARE"},
			"labels": {"team": "pay", "env": "prod"},
			"exportable": true
		}`),
	})
	r := runCLI(t, srv.srv.URL, "", "keys", "get", testKey).mustSucceed(t)
	want := `Name:              ` + testKey + `
Purpose:           ENCRYPT_DECRYPT
Algorithm:         GOOGLE_SYMMETRIC_ENCRYPTION
Protection level:  SOFTWARE
Primary version:   ` + testKey + `/cryptoKeyVersions/1 (ENABLED)
Rotation period:   720h0m0s
Labels:            env=prod,team=pay
Created:           2025-01-02T03:04:05Z
exportable:        true
`
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("text output mismatch (-want +got):\n%s", diff)
	}

	// JSON keeps the server's object, extension field included.
	r = runCLI(t, srv.srv.URL, "", "keys", "get", testKey, "-o", "json").mustSucceed(t)
	if !strings.Contains(r.stdout, `"exportable": true`) || !strings.HasPrefix(r.stdout, "{\n  \"name\"") {
		t.Errorf("json output = %s", r.stdout)
	}
}

func TestKeysListTable(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{
		"GET /v1/" + testRing + "/cryptoKeys": ok(`{"cryptoKeys":[
			{"name":"` + testRing + `/cryptoKeys/a","purpose":"ENCRYPT_DECRYPT","primary":{"name":"` + testRing + `/cryptoKeys/a/cryptoKeyVersions/4"},
			 "versionTemplate":{"algorithm":"GOOGLE_SYMMETRIC_ENCRYPTION"},"createTime":"2025-01-02T03:04:05Z"},
			{"name":"` + testRing + `/cryptoKeys/sig","purpose":"ASYMMETRIC_SIGN","versionTemplate":{"algorithm":"EC_SIGN_P256_SHA256"}}
		]}`),
	})
	r := runCLI(t, srv.srv.URL, "", "keys", "list", testRing).mustSucceed(t)
	want := `NAME                                               PURPOSE           ALGORITHM                     PRIMARY   CREATED
projects/p/locations/l/keyRings/r/cryptoKeys/a     ENCRYPT_DECRYPT   GOOGLE_SYMMETRIC_ENCRYPTION   4         2025-01-02T03:04:05Z
projects/p/locations/l/keyRings/r/cryptoKeys/sig   ASYMMETRIC_SIGN   EC_SIGN_P256_SHA256           -         -
`
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("table mismatch (-want +got):\n%s", diff)
	}
}

func TestEmptyListJSONIsAnArray(t *testing.T) {
	srv := newFakeServer(t, map[string]func(request) reply{"GET /v1/" + testRing + "/cryptoKeys": ok(`{}`)})
	r := runCLI(t, srv.srv.URL, "", "keys", "list", testRing, "-o", "json").mustSucceed(t)
	if r.stdout != "[]\n" {
		t.Errorf("stdout = %q, want []", r.stdout)
	}
	r = runCLI(t, srv.srv.URL, "", "keys", "list", testRing).mustSucceed(t)
	if r.stdout != "" || !strings.Contains(r.stderr, "no keys in") {
		t.Errorf("text: stdout %q, stderr %q; want a note on stderr only", r.stdout, r.stderr)
	}
}
