// SPDX-License-Identifier: Apache-2.0

package admin_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/api/admin"
	"github.com/custos-kms/custos/internal/kmserr"
)

// TestDecodeJSONStrict: the admin API's bodies set security settings (a
// justification policy's allowAll, a group's members, a quota), so a body
// is read one way only. encoding/json alone takes the last of duplicate
// keys, matches field names whatever their case, and its Decoder.More
// lets a stray closing bracket after the value pass: a proxy or a policy
// check reading the body otherwise (the first key, the exact name) would
// see another setting than the one applied. Each is refused, as protojson
// refuses them for IAM policies.
func TestDecodeJSONStrict(t *testing.T) {
	type body struct {
		AllowAll     bool     `json:"allowAll"`
		AllowMissing bool     `json:"allowMissing"`
		Apps         []string `json:"apps"`
		Skipped      string   `json:"-"`
		Plain        string
	}
	tests := []struct {
		name, body string
		ok         bool
	}{
		{"fields", `{"allowAll":true,"apps":["a","b"],"Plain":"x"}`, true},
		{"empty", ``, true},
		{"empty object", ` {} `, true},
		{"null", `null`, true},
		{"nested values", `{"apps":["a"],"allowMissing":false}`, true},
		{"duplicate key", `{"allowAll":false,"allowAll":true}`, false},
		{"duplicate key, other case", `{"allowAll":false,"AllowAll":true}`, false},
		{"key in another case", `{"ALLOWALL":true}`, false},
		{"key in another case, folded", `{"allowAlL":true}`, false},
		{"untagged field in another case", `{"plain":"x"}`, false},
		{"a field named by its Go name", `{"AllowAll":true}`, false},
		{"an ignored field", `{"Skipped":"x"}`, false},
		{"unknown field", `{"allowEverything":true}`, false},
		{"trailing brace", `{"allowAll":true}}`, false},
		{"trailing bracket", `{"allowAll":true}]`, false},
		{"trailing value", `{"allowAll":true} {}`, false},
		{"trailing garbage", `{"allowAll":true}x`, false},
		{"malformed", `{"allowAll":`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v body
			err := admin.DecodeJSON(httptest.NewRequest("PUT", "/", strings.NewReader(tc.body)), &v)
			if tc.ok && err != nil {
				t.Errorf("DecodeJSON(%s) = %v, want success", tc.body, err)
			}
			if !tc.ok && kmserr.Code(err) != codes.InvalidArgument {
				t.Errorf("DecodeJSON(%s) = %v (%+v), want INVALID_ARGUMENT", tc.body, err, v)
			}
		})
	}
}

// TestJustificationPolicyDuplicateKeys: over the route, the policy a body
// with two allowAll sets is refused rather than applied.
func TestJustificationPolicyDuplicateKeys(t *testing.T) {
	srv := policyRouteServer(t)
	const path = "/admin/v1/apps/gcp/justificationPolicy"
	if code, body := iamRouteDo(t, srv, "PUT", path, "admin", `{"allowedReasons":["CUSTOMER_INITIATED_ACCESS"]}`); code != 200 {
		t.Fatalf("PUT = %d %v", code, body)
	}
	if code, body := iamRouteDo(t, srv, "PUT", path, "admin", `{"allowAll":false,"allowedReasons":[],"allowAll":true}`); code != 400 {
		t.Errorf("PUT with allowAll twice = %d %v, want 400", code, body)
	}
	if code, body := iamRouteDo(t, srv, "GET", path, "admin", ""); code != 200 || body["allowAll"] != false {
		t.Errorf("GET = %d %v, want the policy unchanged (allowAll false)", code, body)
	}
}

// FuzzDecodeJSON: no body panics the decoder, and a body it takes has one
// reading: decoded into a map, it has exactly the keys the struct has.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"allowAll":true,"apps":["a"]}`, `{"a":{"b":1,"b":2}}`, `[{}]`, `{"apps":[{"x":1}]}`, `{}}`, `{"allowAll":true,"ALLOWALL":false}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var v struct {
			AllowAll bool     `json:"allowAll"`
			Apps     []string `json:"apps"`
		}
		if admin.DecodeJSON(httptest.NewRequest("PUT", "/", strings.NewReader(body)), &v) != nil {
			return
		}
		var m map[string]any
		if json.Unmarshal([]byte(body), &m) != nil || m == nil {
			return
		}
		for k := range m {
			if k != "allowAll" && k != "apps" {
				t.Errorf("DecodeJSON took %q with the key %q", body, k)
			}
		}
		if a, ok := m["allowAll"].(bool); ok && a != v.AllowAll {
			t.Errorf("DecodeJSON read allowAll %v from %q", v.AllowAll, body)
		}
	})
}

// TestWriteJSONNoStore: no admin answer may be cached; some hold a secret
// shown once.
func TestWriteJSONNoStore(t *testing.T) {
	w := httptest.NewRecorder()
	admin.WriteJSON(w, 200, map[string]string{"apiKey": "custos_ak_x"})
	if got := w.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
}
