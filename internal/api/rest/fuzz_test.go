// SPDX-License-Identifier: Apache-2.0

package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/protobuf/proto"
)

// FuzzServeHTTP feeds arbitrary methods, URLs and bodies to the handler over
// the fakes: it must never panic, and must always answer JSON: a message
// object with 200, or the error envelope whose code is the HTTP status.
func FuzzServeHTTP(f *testing.F) {
	seeds := []struct{ method, target, body string }{
		{"POST", "/v1/" + key + ":encrypt?%24alt=json%3Benum-encoding%3Dint", `{"plaintext":"aGVsbG8=","plaintextCrc32c":"1"}`},
		{"POST", "/v1/" + version + ":encrypt", `{"plaintext":"aGk","additional_authenticated_data":null}`},
		{"GET", "/v1/" + key + "?prettyPrint=true", ""},
		{"GET", "/v1/" + keyRing + "/cryptoKeys?pageSize=2&pageToken=x&versionView=FULL", ""},
		{"GET", "/v1/" + key + "/cryptoKeyVersions?view=1&filter=a%3Db&orderBy=name+desc", ""},
		{"POST", "/v1/" + keyRing + "/cryptoKeys?cryptoKeyId=k&skipInitialVersionCreation=true&exportable=true", `{"purpose":"MAC","labels":{"a":"b"}}`},
		{"PATCH", "/v1/" + key + "?updateMask=rotationPeriod,labels", `{"rotationPeriod":"60s","nextRotationTime":"2030-01-01T00:00:00Z"}`},
		{"POST", "/v1/projects/p/locations/l/keyRings?keyRingId=r", `{}`},
		{"GET", "/v1/" + key + ":getIamPolicy?options.requestedPolicyVersion=3", ""},
		{"POST", "/v1/" + keyRing + ":testIamPermissions", `{"permissions":["a","b"]}`},
		{"GET", "/v1/projects/p/locations", ""},
		{"DELETE", "/v1/" + keyRing, ""},
		{"GET", "/v1/projects/%FF/locations/l%2F/keyRings/r:x:y", ""},
		{"POST", "/v1/" + key + ":encrypt", `{"plaintext":`},
		{"GET", "/v1/" + key + "?$alt=json;enum-encoding=int&%zz", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, []byte(s.body))
	}
	decorate := func(_ context.Context, m proto.Message) map[string]any {
		if k, ok := m.(*kmspb.CryptoKey); ok {
			return map[string]any{"externalKeyUri": k.GetName(), "name": "dropped"}
		}
		return nil
	}
	h := newHandler(f, Config{
		KMS: &fakeKMS{}, IAM: &fakeIAM{}, Locations: &fakeLocations{},
		Decorate:     decorate,
		MaxBodyBytes: 4096,
		ExtraQuery: map[string][]string{
			"google.cloud.kms.v1.KeyManagementService/CreateCryptoKey": {"exportable"},
		},
		WithQuery: func(ctx context.Context, _ string, _ url.Values) (context.Context, error) { return ctx, nil },
	})
	f.Fuzz(func(t *testing.T, method, target string, body []byte) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			// Not a request-URI: still hand it over as a decoded path,
			// as a server behind a proxy might.
			u = &url.URL{Path: target}
		}
		r := &http.Request{
			Method: method, URL: u, Header: http.Header{},
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		out := w.Body.Bytes()
		if !json.Valid(out) {
			t.Fatalf("%s %q: invalid JSON answer %q", method, target, out)
		}
		if w.Code == http.StatusOK {
			if len(out) == 0 || out[0] != '{' {
				t.Fatalf("%s %q = 200 %q, want a JSON object", method, target, out)
			}
			return
		}
		var e envelope
		if err := json.Unmarshal(out, &e); err != nil || e.Error.Code != w.Code || e.Error.Status == "" {
			t.Fatalf("%s %q = %d %q, want the error envelope", method, target, w.Code, out)
		}
	})
}
