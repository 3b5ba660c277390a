// SPDX-License-Identifier: Apache-2.0

package rest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/genproto/googleapis/cloud/location"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const (
	keyRing = "projects/p/locations/l/keyRings/r"
	key     = keyRing + "/cryptoKeys/k"
	version = key + "/cryptoKeyVersions/3"
)

// newHandler builds the handler under test; cfg.KMS defaults to a fakeKMS.
func newHandler(t testing.TB, cfg Config) *handler {
	t.Helper()
	if cfg.KMS == nil {
		cfg.KMS = &fakeKMS{}
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h.(*handler)
}

// serve sends one request to h.
func serve(h http.Handler, method, target, body string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, target, rd))
	return w
}

// envelope is the error body, as a client reads it.
type envelope struct {
	Error struct {
		Code    int              `json:"code"`
		Message string           `json:"message"`
		Status  string           `json:"status"`
		Details []map[string]any `json:"details"`
	} `json:"error"`
}

func decodeError(t *testing.T, w *httptest.ResponseRecorder) envelope {
	t.Helper()
	var e envelope
	dec := json.NewDecoder(w.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body %q: %v", w.Body.String(), err)
	}
	if e.Error.Code != w.Code {
		t.Errorf("error.code = %d, HTTP status %d", e.Error.Code, w.Code)
	}
	return e
}

// fieldAt reads the string at a dotted proto field path of m.
func fieldAt(m protoreflect.Message, path string) string {
	names := strings.Split(path, ".")
	for _, n := range names[:len(names)-1] {
		m = m.Get(m.Descriptor().Fields().ByName(protoreflect.Name(n))).Message()
	}
	return m.Get(m.Descriptor().Fields().ByName(protoreflect.Name(names[len(names)-1]))).String()
}

// sampleURL fills the variables of a raw path template with made-up IDs
// ("**" gets a key version's tail) and returns the URL path and the value
// expected in each variable's field. It does not use parseTemplate, so the
// test checks the parser instead of repeating it.
func sampleURL(tmpl string) (string, map[string]string) {
	want := map[string]string{}
	var b strings.Builder
	n := 0
	id := func() string { n++; return fmt.Sprintf("id-%d", n) }
	for i := 0; i < len(tmpl); {
		if tmpl[i] != '{' {
			b.WriteByte(tmpl[i])
			i++
			continue
		}
		end := i + strings.IndexByte(tmpl[i:], '}')
		name, pat, ok := strings.Cut(tmpl[i+1:end], "=")
		if !ok {
			pat = "*"
		}
		var segs []string
		for _, s := range strings.Split(pat, "/") {
			switch s {
			case "*":
				segs = append(segs, id())
			case "**":
				segs = append(segs, id(), "cryptoKeyVersions", id())
			default:
				segs = append(segs, s)
			}
		}
		want[name] = strings.Join(segs, "/")
		b.WriteString(want[name])
		i = end + 1
	}
	return b.String(), want
}

// ruleBindings lists (HTTP method, path, body) of a rule and its additional
// bindings.
func ruleBindings(r *annotations.HttpRule) [][3]string {
	var out [][3]string
	for _, b := range append([]*annotations.HttpRule{r}, r.GetAdditionalBindings()...) {
		var m, p string
		switch x := b.GetPattern().(type) {
		case *annotations.HttpRule_Get:
			m, p = "GET", x.Get
		case *annotations.HttpRule_Post:
			m, p = "POST", x.Post
		case *annotations.HttpRule_Patch:
			m, p = "PATCH", x.Patch
		case *annotations.HttpRule_Delete:
			m, p = "DELETE", x.Delete
		case *annotations.HttpRule_Put:
			m, p = "PUT", x.Put
		}
		out = append(out, [3]string{m, p, b.GetBody()})
	}
	return out
}

// TestEveryMethodIsRouted walks the service descriptors, so that a method
// added to the protos is tested without anyone listing it: each binding of
// each method must reach that method with its path variables set.
func TestEveryMethodIsRouted(t *testing.T) {
	h := newHandler(t, Config{})
	var gotMethod string
	var gotReq proto.Message
	h.intercept = func(_ context.Context, req any, info *grpc.UnaryServerInfo, _ grpc.UnaryHandler) (any, error) {
		gotMethod, gotReq = info.FullMethod, req.(proto.Message)
		return &emptypb.Empty{}, nil
	}
	services := []struct {
		sd    protoreflect.ServiceDescriptor
		rules func(protoreflect.MethodDescriptor) *annotations.HttpRule
	}{
		{kmspb.File_google_cloud_kms_v1_service_proto.Services().ByName("KeyManagementService"), embeddedRule},
		{iampb.File_google_iam_v1_iam_policy_proto.Services().ByName("IAMPolicy"), mixinRule},
		{location.File_google_cloud_location_locations_proto.Services().ByName("Locations"), mixinRule},
	}
	tested := map[string]bool{}
	for _, s := range services {
		for i := 0; i < s.sd.Methods().Len(); i++ {
			md := s.sd.Methods().Get(i)
			rule := s.rules(md)
			if rule == nil {
				t.Errorf("%s has no HTTP rule", md.FullName())
				continue
			}
			for _, b := range ruleBindings(rule) {
				httpMethod, tmpl, body := b[0], b[1], b[2]
				path, want := sampleURL(tmpl)
				t.Run(string(md.Name())+" "+httpMethod+" "+tmpl, func(t *testing.T) {
					gotMethod, gotReq = "", nil
					reqBody := ""
					if body != "" {
						reqBody = "{}"
					}
					w := serve(h, httpMethod, path, reqBody)
					if w.Code != http.StatusOK {
						t.Fatalf("%s %s = %d %s", httpMethod, path, w.Code, w.Body)
					}
					wantMethod := "/" + string(s.sd.FullName()) + "/" + string(md.Name())
					if gotMethod != wantMethod {
						t.Errorf("%s %s called %q, want %q", httpMethod, path, gotMethod, wantMethod)
					}
					for field, v := range want {
						if got := fieldAt(gotReq.ProtoReflect(), field); got != v {
							t.Errorf("%s %s: %s = %q, want %q", httpMethod, path, field, got, v)
						}
					}
				})
				tested[string(md.FullName())] = true
			}
		}
	}
	// Every method of the served ServiceDescs was reached.
	for _, sd := range []*grpc.ServiceDesc{&kmspb.KeyManagementService_ServiceDesc, &iampb.IAMPolicy_ServiceDesc} {
		for _, m := range sd.Methods {
			if !tested[sd.ServiceName+"."+m.MethodName] {
				t.Errorf("%s/%s was not tested", sd.ServiceName, m.MethodName)
			}
		}
	}
}

// TestRequests sends requests as the official REST clients build them
// (cloud.google.com/go/kms/apiv1: $alt=json;enum-encoding=int, query
// parameters with lowerCamel names, proto3 JSON bodies) and compares the
// request the server received.
func TestRequests(t *testing.T) {
	const alt = "%24alt=json%3Benum-encoding%3Dint"
	tests := []struct {
		name       string
		method     string
		target     string
		body       string
		wantMethod string
		want       proto.Message
	}{{
		name:       "CreateKeyRing with keyRingId",
		method:     "POST",
		target:     "/v1/projects/p/locations/l/keyRings?" + alt + "&keyRingId=r",
		body:       "{}",
		wantMethod: "CreateKeyRing",
		want: &kmspb.CreateKeyRingRequest{
			Parent: "projects/p/locations/l", KeyRingId: "r", KeyRing: &kmspb.KeyRing{},
		},
	}, {
		name:   "CreateCryptoKey with cryptoKeyId and skipInitialVersionCreation",
		method: "POST",
		target: "/v1/" + keyRing + "/cryptoKeys?" + alt + "&cryptoKeyId=k&skipInitialVersionCreation=true",
		body: `{"purpose":1,"versionTemplate":{"algorithm":"GOOGLE_SYMMETRIC_ENCRYPTION","protectionLevel":"HSM"},
			"labels":{"team":"a"},"destroyScheduledDuration":"86400s"}`,
		wantMethod: "CreateCryptoKey",
		want: &kmspb.CreateCryptoKeyRequest{
			Parent: keyRing, CryptoKeyId: "k", SkipInitialVersionCreation: true,
			CryptoKey: &kmspb.CryptoKey{
				Purpose: kmspb.CryptoKey_ENCRYPT_DECRYPT,
				VersionTemplate: &kmspb.CryptoKeyVersionTemplate{
					Algorithm:       kmspb.CryptoKeyVersion_GOOGLE_SYMMETRIC_ENCRYPTION,
					ProtectionLevel: kmspb.ProtectionLevel_HSM,
				},
				Labels:                   map[string]string{"team": "a"},
				DestroyScheduledDuration: durationpb.New(86400e9),
			},
		},
	}, {
		name:       "UpdateCryptoKey with a lowerCamel updateMask, comma escaped as the Go client does",
		method:     "PATCH",
		target:     "/v1/" + key + "?" + alt + "&updateMask=rotationPeriod%2Clabels",
		body:       `{"name":"` + key + `","rotationPeriod":"3600s","labels":{"x":"y"}}`,
		wantMethod: "UpdateCryptoKey",
		want: &kmspb.UpdateCryptoKeyRequest{
			CryptoKey: &kmspb.CryptoKey{
				Name: key, Labels: map[string]string{"x": "y"},
				RotationSchedule: &kmspb.CryptoKey_RotationPeriod{RotationPeriod: durationpb.New(3600e9)},
			},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"rotation_period", "labels"}},
		},
	}, {
		name:       "UpdateCryptoKey with snake_case update_mask and no name in the body",
		method:     "PATCH",
		target:     "/v1/" + key + "?update_mask=rotation_period,next_rotation_time",
		body:       `{"rotation_period":"60s","next_rotation_time":"2030-01-02T03:04:05Z"}`,
		wantMethod: "UpdateCryptoKey",
		want: &kmspb.UpdateCryptoKeyRequest{
			CryptoKey: &kmspb.CryptoKey{
				Name:             key,
				RotationSchedule: &kmspb.CryptoKey_RotationPeriod{RotationPeriod: durationpb.New(60e9)},
				NextRotationTime: timestamppb.New(mustTime(t, "2030-01-02T03:04:05Z")),
			},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"rotation_period", "next_rotation_time"}},
		},
	}, {
		name:       "Encrypt on a key, int64 wrapper as a string",
		method:     "POST",
		target:     "/v1/" + key + ":encrypt?" + alt,
		body:       `{"name":"` + key + `","plaintext":"aGVsbG8=","additionalAuthenticatedData":"YQ==","plaintextCrc32c":"907060870"}`,
		wantMethod: "Encrypt",
		want: &kmspb.EncryptRequest{
			Name: key, Plaintext: []byte("hello"), AdditionalAuthenticatedData: []byte("a"),
			PlaintextCrc32C: wrapperspb.Int64(907060870),
		},
	}, {
		name:       "Encrypt on a version name, int64 as a number, snake_case and null fields",
		method:     "POST",
		target:     "/v1/" + version + ":encrypt",
		body:       `{"plaintext":"aGVsbG8","additional_authenticated_data":null,"plaintext_crc32c":907060870}`,
		wantMethod: "Encrypt",
		want: &kmspb.EncryptRequest{
			Name: version, Plaintext: []byte("hello"), PlaintextCrc32C: wrapperspb.Int64(907060870),
		},
	}, {
		name:       "the path wins over a name in the body",
		method:     "POST",
		target:     "/v1/" + key + ":encrypt",
		body:       `{"name":"projects/other/locations/l/keyRings/r/cryptoKeys/k","plaintext":"aGk="}`,
		wantMethod: "Encrypt",
		want:       &kmspb.EncryptRequest{Name: key, Plaintext: []byte("hi")},
	}, {
		name:       "Encrypt with an empty body",
		method:     "POST",
		target:     "/v1/" + key + ":encrypt",
		wantMethod: "Encrypt",
		want:       &kmspb.EncryptRequest{Name: key},
	}, {
		name:       "ListCryptoKeyVersions with every list parameter",
		method:     "GET",
		target:     "/v1/" + key + "/cryptoKeyVersions?" + alt + "&filter=state%3DENABLED&orderBy=name+desc&pageSize=10&pageToken=tok&view=FULL",
		wantMethod: "ListCryptoKeyVersions",
		want: &kmspb.ListCryptoKeyVersionsRequest{
			Parent: key, Filter: "state=ENABLED", OrderBy: "name desc", PageSize: 10, PageToken: "tok",
			View: kmspb.CryptoKeyVersion_FULL,
		},
	}, {
		name:       "ListCryptoKeyVersions with the view as a number and snake_case names",
		method:     "GET",
		target:     "/v1/" + key + "/cryptoKeyVersions?view=1&page_size=5&page_token=t",
		wantMethod: "ListCryptoKeyVersions",
		want: &kmspb.ListCryptoKeyVersionsRequest{
			Parent: key, PageSize: 5, PageToken: "t", View: kmspb.CryptoKeyVersion_FULL,
		},
	}, {
		name:       "ListCryptoKeys with versionView, a body on GET is ignored",
		method:     "GET",
		target:     "/v1/" + keyRing + "/cryptoKeys?versionView=FULL",
		body:       `{"not":"read"}`,
		wantMethod: "ListCryptoKeys",
		want:       &kmspb.ListCryptoKeysRequest{Parent: keyRing, VersionView: kmspb.CryptoKeyVersion_FULL},
	}, {
		name:       "percent-encoded segments are decoded",
		method:     "GET",
		target:     "/v1/projects/my%2Dproject/locations/l/keyRings/r/cryptoKeys/k%5F1",
		wantMethod: "GetCryptoKey",
		want:       &kmspb.GetCryptoKeyRequest{Name: "projects/my-project/locations/l/keyRings/r/cryptoKeys/k_1"},
	}, {
		name:       "system parameters are accepted and ignored, the Java client's raw semicolon too",
		method:     "GET",
		target:     "/v1/" + key + "?$alt=json;enum-encoding=int&prettyPrint=false&fields=name&key=AIza&access_token=x&%24callback=cb&%24.xgafv=2&quotaUser=u",
		wantMethod: "GetCryptoKey",
		want:       &kmspb.GetCryptoKeyRequest{Name: key},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeKMS{}
			h := newHandler(t, Config{KMS: f})
			w := serve(h, tc.method, tc.target, tc.body)
			if w.Code != http.StatusOK {
				t.Fatalf("%s %s = %d %s", tc.method, tc.target, w.Code, w.Body)
			}
			gotMethod, got := f.last()
			if gotMethod != tc.wantMethod {
				t.Errorf("%s %s called %s, want %s", tc.method, tc.target, gotMethod, tc.wantMethod)
			}
			if diff := cmp.Diff(tc.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("%s %s request (-want +got):\n%s", tc.method, tc.target, diff)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// TestMixins sends the IAM and Locations requests of the service config.
func TestMixins(t *testing.T) {
	iam := &fakeIAM{}
	h := newHandler(t, Config{IAM: iam, Locations: &fakeLocations{}})
	tests := []struct {
		name   string
		method string
		target string
		body   string
		want   proto.Message // IAM request received; nil for Locations
		resp   string        // a field expected in the response
	}{{
		name:   "GetIamPolicy on a key with options.requestedPolicyVersion",
		method: "GET",
		target: "/v1/" + key + ":getIamPolicy?%24alt=json%3Benum-encoding%3Dint&options.requestedPolicyVersion=3",
		want: &iampb.GetIamPolicyRequest{
			Resource: key, Options: &iampb.GetPolicyOptions{RequestedPolicyVersion: 3},
		},
		resp: "version",
	}, {
		name:   "GetIamPolicy on an import job, snake_case option",
		method: "GET",
		target: "/v1/" + keyRing + "/importJobs/j:getIamPolicy?options.requested_policy_version=1",
		want: &iampb.GetIamPolicyRequest{
			Resource: keyRing + "/importJobs/j", Options: &iampb.GetPolicyOptions{RequestedPolicyVersion: 1},
		},
		resp: "etag",
	}, {
		name:   "TestIamPermissions on a key ring",
		method: "POST",
		target: "/v1/" + keyRing + ":testIamPermissions",
		body:   `{"permissions":["cloudkms.cryptoKeys.get","cloudkms.cryptoKeys.list"]}`,
		want: &iampb.TestIamPermissionsRequest{
			Resource: keyRing, Permissions: []string{"cloudkms.cryptoKeys.get", "cloudkms.cryptoKeys.list"},
		},
		resp: "permissions",
	}, {
		name:   "ListLocations",
		method: "GET",
		target: "/v1/projects/p/locations?pageSize=10",
		resp:   "locations",
	}, {
		name:   "GetLocation",
		method: "GET",
		target: "/v1/projects/p/locations/global",
		resp:   "locationId",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iam.req = nil
			w := serve(h, tc.method, tc.target, tc.body)
			if w.Code != http.StatusOK {
				t.Fatalf("%s %s = %d %s", tc.method, tc.target, w.Code, w.Body)
			}
			if tc.want != nil {
				if diff := cmp.Diff(tc.want, iam.req, protocmp.Transform()); diff != "" {
					t.Errorf("%s %s request (-want +got):\n%s", tc.method, tc.target, diff)
				}
			}
			var obj map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &obj); err != nil || obj[tc.resp] == nil {
				t.Errorf("%s %s = %s, want a %q field", tc.method, tc.target, w.Body, tc.resp)
			}
		})
	}
}

// TestEnumEncoding checks that $alt=json;enum-encoding=int, which every
// official REST client sends, turns response enums into numbers.
func TestEnumEncoding(t *testing.T) {
	h := newHandler(t, Config{})
	tests := []struct {
		name  string
		query string
		want  any
	}{
		{"names by default", "", "ENCRYPT_DECRYPT"},
		{"plain json", "?alt=json", "ENCRYPT_DECRYPT"},
		{"numbers with enum-encoding=int", "?%24alt=json%3Benum-encoding%3Dint", float64(1)},
		{"numbers with a raw semicolon", "?$alt=json;enum-encoding=int", float64(1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(h, "GET", "/v1/"+key+tc.query, "")
			var got struct {
				Purpose any `json:"purpose"`
				Primary struct {
					State any `json:"state"`
				} `json:"primary"`
				RotationPeriod string `json:"rotationPeriod"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("GetCryptoKey%s = %s: %v", tc.query, w.Body, err)
			}
			if got.Purpose != tc.want {
				t.Errorf("GetCryptoKey%s purpose = %#v, want %#v", tc.query, got.Purpose, tc.want)
			}
			if _, isNum := tc.want.(float64); isNum != (fmt.Sprintf("%T", got.Primary.State) == "float64") {
				t.Errorf("GetCryptoKey%s primary.state = %#v, nested enums disagree", tc.query, got.Primary.State)
			}
			if got.RotationPeriod != "86400s" {
				t.Errorf("GetCryptoKey%s rotationPeriod = %q, want 86400s", tc.query, got.RotationPeriod)
			}
		})
	}
}

func TestPrettyPrint(t *testing.T) {
	h := newHandler(t, Config{})
	w := serve(h, "GET", "/v1/"+key+"?prettyPrint=true", "")
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "\n  \"") {
		t.Fatalf("prettyPrint=true = %d %q, want indented JSON", w.Code, w.Body)
	}
	var obj map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &obj); err != nil || obj["name"] != key {
		t.Errorf("prettyPrint=true = %s: %v", w.Body, err)
	}
}

func TestDecorate(t *testing.T) {
	decorate := func(_ context.Context, m proto.Message) map[string]any {
		switch m := m.(type) {
		case *kmspb.CryptoKey:
			return map[string]any{
				"externalKeyUri": "custos://" + m.GetName(),
				"purpose":        "shadowing a field is dropped",
			}
		case *kmspb.ListCryptoKeysResponse:
			return map[string]any{"custosPageNote": 7}
		}
		return nil
	}
	h := newHandler(t, Config{Decorate: decorate})

	w := serve(h, "GET", "/v1/"+key+"?prettyPrint=true", "")
	var k map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &k); err != nil {
		t.Fatalf("GetCryptoKey = %s: %v", w.Body, err)
	}
	if k["externalKeyUri"] != "custos://"+key || k["purpose"] != "ENCRYPT_DECRYPT" || k["name"] != key {
		t.Errorf("decorated GetCryptoKey = %s", w.Body)
	}

	w = serve(h, "GET", "/v1/"+keyRing+"/cryptoKeys", "")
	var list struct {
		CryptoKeys []map[string]any `json:"cryptoKeys"`
		TotalSize  float64          `json:"totalSize"`
		Note       float64          `json:"custosPageNote"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil {
		t.Fatalf("ListCryptoKeys = %s: %v", w.Body, err)
	}
	if len(list.CryptoKeys) != 2 || list.TotalSize != 2 || list.Note != 7 {
		t.Fatalf("decorated ListCryptoKeys = %s", w.Body)
	}
	for _, ck := range list.CryptoKeys {
		if ck["externalKeyUri"] != "custos://"+ck["name"].(string) || ck["purpose"] == "shadowing a field is dropped" {
			t.Errorf("decorated list element = %v", ck)
		}
	}
}

func TestExtraQuery(t *testing.T) {
	type seenKey struct{}
	var gotMethod string
	var gotParams url.Values
	f := &fakeKMS{}
	h := newHandler(t, Config{
		KMS: f,
		ExtraQuery: map[string][]string{
			"google.cloud.kms.v1.KeyManagementService/CreateCryptoKey": {"exportable"},
		},
		WithQuery: func(ctx context.Context, method string, params url.Values) (context.Context, error) {
			gotMethod, gotParams = method, params
			return context.WithValue(ctx, seenKey{}, true), nil
		},
	})
	w := serve(h, "POST", "/v1/"+keyRing+"/cryptoKeys?cryptoKeyId=k&exportable=true", `{"purpose":"ENCRYPT_DECRYPT"}`)
	if w.Code != http.StatusOK {
		t.Fatalf("CreateCryptoKey?exportable=true = %d %s", w.Code, w.Body)
	}
	if gotMethod != "google.cloud.kms.v1.KeyManagementService/CreateCryptoKey" || gotParams.Get("exportable") != "true" {
		t.Errorf("WithQuery(%q, %v)", gotMethod, gotParams)
	}
	if _, req := f.last(); req.(*kmspb.CreateCryptoKeyRequest).GetCryptoKeyId() != "k" {
		t.Errorf("CreateCryptoKey request = %v", req)
	}

	gotParams = nil
	w = serve(h, "POST", "/v1/"+keyRing+"/cryptoKeys?cryptoKeyId=k", `{}`)
	if w.Code != http.StatusOK || gotParams != nil {
		t.Errorf("without the parameter: %d, WithQuery called with %v", w.Code, gotParams)
	}

	w = serve(h, "GET", "/v1/"+key+"?exportable=true", "")
	if e := decodeError(t, w); w.Code != http.StatusBadRequest || e.Error.Status != "INVALID_ARGUMENT" {
		t.Errorf("GetCryptoKey?exportable=true = %d %s, want 400 INVALID_ARGUMENT", w.Code, e.Error.Status)
	}
}

func TestNewRefuses(t *testing.T) {
	wq := func(ctx context.Context, _ string, _ url.Values) (context.Context, error) { return ctx, nil }
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no KMS server", Config{}},
		{"ExtraQuery without WithQuery", Config{KMS: &fakeKMS{}, ExtraQuery: map[string][]string{
			"google.cloud.kms.v1.KeyManagementService/CreateCryptoKey": {"exportable"}}}},
		{"ExtraQuery on an unknown method", Config{KMS: &fakeKMS{}, WithQuery: wq, ExtraQuery: map[string][]string{
			"google.cloud.kms.v1.KeyManagementService/CreateCryptoKeys": {"exportable"}}}},
		{"ExtraQuery naming a system parameter", Config{KMS: &fakeKMS{}, WithQuery: wq, ExtraQuery: map[string][]string{
			"google.cloud.kms.v1.KeyManagementService/CreateCryptoKey": {"alt"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil {
				t.Errorf("New(%s) succeeded", tc.name)
			}
		})
	}
}
