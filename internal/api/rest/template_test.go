// SPDX-License-Identifier: Apache-2.0

package rest

import (
	"testing"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/reflect/protoreflect"
)

func TestParseTemplate(t *testing.T) {
	lit := func(s string) segment { return segment{kind: segLiteral, lit: s} }
	star := segment{kind: segStar}
	dstar := segment{kind: segDoubleStar}
	tests := []struct {
		tmpl     string
		wantSegs []segment
		wantVars []variable
		wantVerb string
	}{{
		tmpl:     "/v1/{name=projects/*/locations/*/keyRings/*/cryptoKeys/**}:encrypt",
		wantSegs: []segment{lit("v1"), lit("projects"), star, lit("locations"), star, lit("keyRings"), star, lit("cryptoKeys"), dstar},
		wantVars: []variable{{field: "name", start: 1, end: 9}},
		wantVerb: "encrypt",
	}, {
		tmpl:     "/v1/{parent=projects/*/locations/*}/keyRings",
		wantSegs: []segment{lit("v1"), lit("projects"), star, lit("locations"), star, lit("keyRings")},
		wantVars: []variable{{field: "parent", start: 1, end: 5}},
	}, {
		tmpl:     "/v1/{crypto_key.name=projects/*/locations/*/keyRings/*/cryptoKeys/*}",
		wantSegs: []segment{lit("v1"), lit("projects"), star, lit("locations"), star, lit("keyRings"), star, lit("cryptoKeys"), star},
		wantVars: []variable{{field: "crypto_key.name", start: 1, end: 9}},
	}, {
		tmpl:     "/v1/{parent=projects/*}/cryptoKeyVersions:import",
		wantSegs: []segment{lit("v1"), lit("projects"), star, lit("cryptoKeyVersions")},
		wantVars: []variable{{field: "parent", start: 1, end: 3}},
		wantVerb: "import",
	}, {
		tmpl:     "/v1/{resource=projects/*/locations/*/ekmConfig}:getIamPolicy",
		wantSegs: []segment{lit("v1"), lit("projects"), star, lit("locations"), star, lit("ekmConfig")},
		wantVars: []variable{{field: "resource", start: 1, end: 6}},
		wantVerb: "getIamPolicy",
	}, {
		tmpl:     "/v1/shelves/{shelf}/books/{book.id}",
		wantSegs: []segment{lit("v1"), lit("shelves"), star, lit("books"), star},
		wantVars: []variable{{field: "shelf", start: 2, end: 3}, {field: "book.id", start: 4, end: 5}},
	}, {
		tmpl:     "/v1/*/**",
		wantSegs: []segment{lit("v1"), star, dstar},
	}}
	for _, tc := range tests {
		t.Run(tc.tmpl, func(t *testing.T) {
			got, err := parseTemplate(tc.tmpl)
			if err != nil {
				t.Fatalf("parseTemplate(%q): %v", tc.tmpl, err)
			}
			if diff := cmp.Diff(tc.wantSegs, got.segs, cmp.AllowUnexported(segment{})); diff != "" {
				t.Errorf("parseTemplate(%q) segments (-want +got):\n%s", tc.tmpl, diff)
			}
			if diff := cmp.Diff(tc.wantVars, got.vars, cmp.AllowUnexported(variable{})); diff != "" {
				t.Errorf("parseTemplate(%q) variables (-want +got):\n%s", tc.tmpl, diff)
			}
			if got.verb != tc.wantVerb {
				t.Errorf("parseTemplate(%q) verb = %q, want %q", tc.tmpl, got.verb, tc.wantVerb)
			}
		})
	}
}

func TestParseTemplateRefuses(t *testing.T) {
	for _, tmpl := range []string{
		"", "v1/x", "/", "/v1//x", "/v1/x/", "/v1/**/x", "/v1/{name=**}/x",
		"/v1/{name", "/v1/{name=projects/*", "/v1/{a={b}}", "/v1/{name}:", "/v1/x:a/b",
		"/v1/{na-me}", "/v1/{name}/{name}", "/v1/{.x}", "/v1/a*b", "/v1/{name=}", "/v1/x}",
	} {
		if _, err := parseTemplate(tmpl); err == nil {
			t.Errorf("parseTemplate(%q) succeeded", tmpl)
		}
	}
}

func TestMatch(t *testing.T) {
	const encrypt = "/v1/{name=projects/*/locations/*/keyRings/*/cryptoKeys/**}:encrypt"
	tests := []struct {
		tmpl, path string
		want       bool
		wantVerb   string
		wantName   string
	}{
		{encrypt, "/v1/" + key + ":encrypt", true, "encrypt", key},
		{encrypt, "/v1/" + version + ":encrypt", true, "encrypt", version},
		{encrypt, "/v1/" + keyRing + "/cryptoKeys:encrypt", false, "encrypt", ""},
		{encrypt, "/v1/" + keyRing + "/cryptoKeys/:encrypt", false, "encrypt", ""},
		{encrypt, "/v1/" + key + "//x:encrypt", false, "encrypt", ""},
		{encrypt, "/v1/projects/p%2Dq/locations/l/keyRings/r/cryptoKeys/k%20x:encrypt", true, "encrypt",
			"projects/p-q/locations/l/keyRings/r/cryptoKeys/k x"},
		{encrypt, "/v1/" + key + ":%65ncrypt", true, "encrypt", key},
		{"/v1/{name=projects/*/locations/*/keyRings/*}", "/v1/" + keyRing, true, "", keyRing},
		{"/v1/{name=projects/*/locations/*/keyRings/*}", "/v1/" + key, false, "", ""},
		{"/v1/{name=projects/*/locations/*/keyRings/*}", "/v1/projects/p/locations/l/keyrings/r", false, "", ""},
		{"/v1/{name=projects/*}/locations", "/v1/projects/p/locations", true, "", "projects/p"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			tm, err := parseTemplate(tc.tmpl)
			if err != nil {
				t.Fatal(err)
			}
			var p reqPath
			p.split(tc.path)
			got := !p.badInput && p.verb == tc.wantVerb && tm.match(&p)
			if got != tc.want {
				t.Fatalf("match(%q, %q) = %v, want %v", tc.tmpl, tc.path, got, tc.want)
			}
			if got {
				if v := tm.value(&tm.vars[0], &p); v != tc.wantName {
					t.Errorf("match(%q, %q) name = %q, want %q", tc.tmpl, tc.path, v, tc.wantName)
				}
			}
		})
	}
}

func TestOverlaps(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"/v1/{name=projects/*}", "/v1/{name=projects/*}", true},
		{"/v1/{name=projects/*}", "/v1/projects/p", true},
		{"/v1/{name=projects/*}", "/v1/folders/p", false},
		{"/v1/{name=projects/*}", "/v1/{name=projects/*}/locations", false},
		{"/v1/{name=projects/*/keys/**}", "/v1/{name=projects/*/keys/*/versions/*}", true},
		{"/v1/{name=projects/*/keys/**}", "/v1/{name=projects/*/keys}", false},
		{"/v1/{name=projects/*/keys/**}", "/v1/{name=projects/*/rings/*/x}", false},
		{"/v1/*/**", "/v1/a/b/c/d", true},
	}
	for _, tc := range tests {
		a, errA := parseTemplate(tc.a)
		b, errB := parseTemplate(tc.b)
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		if got := overlaps(a, b); got != tc.want {
			t.Errorf("overlaps(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := overlaps(b, a); got != tc.want {
			t.Errorf("overlaps(%q, %q) = %v, want %v", tc.b, tc.a, got, tc.want)
		}
	}
}

// TestCompileRefusesAmbiguity gives compile a table where two methods share
// a path.
func TestCompileRefusesAmbiguity(t *testing.T) {
	sd := kmspb.File_google_cloud_kms_v1_service_proto.Services().ByName("KeyManagementService")
	rules := func(md protoreflect.MethodDescriptor) *annotations.HttpRule {
		switch md.Name() {
		case "Encrypt":
			return embeddedRule(md)
		case "Decrypt":
			// Decrypt on the version path with Encrypt's verb: "**"
			// in Encrypt's rule matches it too.
			return &annotations.HttpRule{Body: "*", Pattern: &annotations.HttpRule_Post{
				Post: "/v1/{name=projects/*/locations/*/keyRings/*/cryptoKeys/*/cryptoKeyVersions/*}:encrypt"}}
		}
		return nil
	}
	_, err := compile([]service{{desc: sd, srv: &fakeKMS{}, handlers: handlersOf(&kmspb.KeyManagementService_ServiceDesc), rule: rules}}, nil)
	if err == nil {
		t.Fatal("compile accepted two rules that match the same path")
	}
}
