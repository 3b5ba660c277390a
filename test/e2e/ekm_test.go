// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The Cloud EKM endpoint, driven as Cloud KMS drives it: POST {key URI}:wrap
// and :unwrap with a Google-signed ID token, here signed by a local issuer
// (oidc_test.go) whose JWKS the server fetches with --ekm-jwks-url.

const ekmEmail = "service-123456789@gcp-sa-ekms.iam.gserviceaccount.com"

// ekmEnv is a server with an ENCRYPT_DECRYPT key and an app "gcp" bound to
// the Cloud EKM service agent's email, holding roles/custos.ekmUser on the
// key.
type ekmEnv struct {
	s    *server
	iss  *oidcIssuer
	aud  string // the default audience: the public URL's origin
	ring string // REST path of the key ring, /v1/projects/...
	key  string // the key's resource name
	uri  string // the key's external key URI
	path string // the URI's path, /ekm/v0/keys/ID
	tok  string // a good ID token for ekmEmail
}

func newEKMEnv(t *testing.T, extraArgs ...string) *ekmEnv {
	t.Helper()
	iss := newOIDCIssuer(t)
	s := startServer(t, append([]string{"--ekm-jwks-url", iss.jwksURL()}, extraArgs...)...)
	e := &ekmEnv{s: s, iss: iss, aud: "http://" + s.restAddr, ring: "/v1/projects/gp/locations/global/keyRings/ekm"}
	e.admin(t, "POST", "/v1/projects/gp/locations/global/keyRings?keyRingId=ekm", "{}")
	e.key, e.uri = e.newKey(t, "k")
	e.path = e.uriPath(t, e.uri)
	e.admin(t, "POST", "/admin/v1/apps", `{"name":"gcp","project":"gp","googleServiceAccount":"`+ekmEmail+`"}`)
	e.bind(t, e.key, "app:gcp")
	e.tok = iss.token(t, strings.ToUpper(ekmEmail), e.aud, nil)
	return e
}

// admin sends an admin-token call and wants 200.
func (e *ekmEnv) admin(t *testing.T, method, path, body string) restResponse {
	t.Helper()
	c := restCall{method: method, path: path, body: body}
	return e.s.do(t, c).wantOK(t, c)
}

// newKey creates an ENCRYPT_DECRYPT key in the ring and returns its name
// and external key URI, read from the REST GET of the key.
func (e *ekmEnv) newKey(t *testing.T, id string) (name, uri string) {
	t.Helper()
	e.admin(t, "POST", e.ring+"/cryptoKeys?cryptoKeyId="+id, `{"purpose":"ENCRYPT_DECRYPT"}`)
	got := e.admin(t, "GET", e.ring+"/cryptoKeys/"+id, "")
	name, _ = got.field("name").(string)
	uri, _ = got.field("externalKeyUri").(string)
	if name == "" || uri == "" {
		t.Fatalf("GET key = %s, want a name and an externalKeyUri", got.raw)
	}
	return name, uri
}

// uriPath checks that a key URI is {public URL}/ekm/v0/keys/{id} with an
// id of at least 128 bits in base64url, and returns its path.
func (e *ekmEnv) uriPath(t *testing.T, uri string) string {
	t.Helper()
	id, ok := strings.CutPrefix(uri, "http://"+e.s.restAddr+"/ekm/v0/keys/")
	if !ok {
		t.Fatalf("externalKeyUri %q is not http://%s/ekm/v0/keys/ID", uri, e.s.restAddr)
	}
	if b, err := base64.RawURLEncoding.DecodeString(id); err != nil || len(b) < 16 {
		t.Fatalf("external key id %q is not base64url of at least 128 bits", id)
	}
	return "/ekm/v0/keys/" + id
}

// bind sets the key's policy to roles/custos.ekmUser for members (none:
// no binding).
func (e *ekmEnv) bind(t *testing.T, key string, members ...string) {
	t.Helper()
	body := `{"bindings":[]}`
	if len(members) > 0 {
		m, _ := json.Marshal(members)
		body = `{"bindings":[{"role":"roles/custos.ekmUser","members":` + string(m) + `}]}`
	}
	e.admin(t, "PUT", "/admin/v1/iam/"+key, body)
}

// call posts body to path:verb with token ("" for none).
func (e *ekmEnv) call(t *testing.T, path, verb, token, body string) restResponse {
	t.Helper()
	return e.s.do(t, restCall{method: "POST", path: path + ":" + verb, body: body, token: ptr(token)})
}

// want checks an answer's status and, for errors, Google's envelope.
func (r restResponse) wantEKM(t *testing.T, what string, status int, code string) restResponse {
	t.Helper()
	if status == http.StatusOK {
		if r.status != 200 {
			t.Fatalf("%s = %d %s, want 200", what, r.status, r.raw)
		}
		return r
	}
	r.wantError(t, restCall{method: "POST", path: what}, status, code)
	return r
}

func b64s(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// wrapReq is a WrapRequest body in proto3 JSON.
func wrapReq(pt, aad []byte, reason string) string {
	ctx := `"additionalContext":{"fullResourceName":"//cloudkms.googleapis.com/projects/g/locations/us/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",` +
		`"relativeResourceName":"projects/g/locations/us/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1","isKeyHealthCheck":false`
	if reason != "" {
		ctx += `,"accessReasonContext":{"reason":` + reason + `}`
	}
	return `{"plaintext":"` + b64s(pt) + `","additionalAuthenticatedData":"` + b64s(aad) + `","keyPath":"kp",` + ctx + `}}`
}

func unwrapReq(blob string, aad []byte, reason string) string {
	ctx := ""
	if reason != "" {
		ctx = `,"additionalContext":{"accessReasonContext":{"reason":` + reason + `}}`
	}
	return `{"wrappedBlob":"` + blob + `","additionalAuthenticatedData":"` + b64s(aad) + `"` + ctx + `}`
}

const reasonAccess = `"CUSTOMER_INITIATED_ACCESS"`

func (e *ekmEnv) wrap(t *testing.T, pt, aad []byte) string {
	t.Helper()
	r := e.call(t, e.path, "wrap", e.tok, wrapReq(pt, aad, reasonAccess)).wantEKM(t, "wrap", 200, "")
	blob, _ := r.field("wrappedBlob").(string)
	if blob == "" || len(r.json) != 1 {
		t.Fatalf("wrap = %s, want exactly {\"wrappedBlob\"}", r.raw)
	}
	return blob
}

func (e *ekmEnv) unwrap(t *testing.T, blob string, aad []byte) []byte {
	t.Helper()
	r := e.call(t, e.path, "unwrap", e.tok, unwrapReq(blob, aad, reasonAccess)).wantEKM(t, "unwrap", 200, "")
	pt, err := base64.StdEncoding.DecodeString(r.field("plaintext").(string))
	if err != nil {
		t.Fatalf("unwrap = %s: %v", r.raw, err)
	}
	if _, ok := r.json["allowedCacheDuration"]; ok {
		t.Errorf("unwrap = %s: allowedCacheDuration must be left out by default", r.raw)
	}
	return pt
}

// ekmAudit returns the audit entries of method (Wrap or Unwrap).
func (e *ekmEnv) ekmAudit(t *testing.T, method string) []map[string]any {
	t.Helper()
	r := e.admin(t, "GET", "/admin/v1/audit?"+url.Values{"method": {method}, "limit": {"1000"}}.Encode(), "")
	var out []map[string]any
	for _, x := range r.json["entries"].([]any) {
		out = append(out, x.(map[string]any))
	}
	return out
}

// runCLI runs the custos CLI against the server with the admin token.
func (e *ekmEnv) cli(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, custosBin, args...)
	cmd.Env = append(cmd.Environ(), "CUSTOS_ADDR=http://"+e.s.restAddr, "CUSTOS_TOKEN="+e.s.token)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return out.String() + errOut.String(), ee.ExitCode()
	}
	t.Fatalf("custos %v: %v", args, err)
	return "", -1
}

func TestEKMWrapUnwrap(t *testing.T) {
	t.Parallel()
	e := newEKMEnv(t)

	// The key URI is the externalKeyUri of custos keys get -o json too.
	out, code := e.cli(t, "keys", "get", e.key, "-o", "json")
	var k map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &k) != nil || k["externalKeyUri"] != e.uri {
		t.Errorf("custos keys get -o json = %d %s, want externalKeyUri %s", code, out, e.uri)
	}

	for _, tc := range []struct {
		name    string
		pt, aad []byte
	}{
		{"a 32-byte key with AAD", bytes.Repeat([]byte{0xfb}, 32), []byte("projects/g/keyRings/r")},
		{"no AAD", []byte("dek"), nil},
		{"64 KiB", bytes.Repeat([]byte{7}, 64<<10), bytes.Repeat([]byte{8}, 64<<10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blob := e.wrap(t, tc.pt, tc.aad)
			if got := e.unwrap(t, blob, tc.aad); !bytes.Equal(got, tc.pt) {
				t.Errorf("unwrap(wrap(%d bytes)) = %d bytes, different", len(tc.pt), len(got))
			}
		})
	}

	// Lenient parsing: snake_case names, URL-safe base64 without padding,
	// the reason as a number, nulls and unknown fields.
	pt := []byte{0xfb, 0xff, 0xfe}
	r := e.call(t, e.path, "wrap", e.tok, `{"plaintext":"`+base64.RawURLEncoding.EncodeToString(pt)+`","key_path":null,
		"additional_context":{"access_reason_context":{"reason":5},"is_key_health_check":true},"somethingNew":[1]}`).wantEKM(t, "snake_case wrap", 200, "")
	blob := r.field("wrappedBlob").(string)
	if got := e.unwrap(t, blob, nil); !bytes.Equal(got, pt) {
		t.Errorf("unwrap of a snake_case wrap = %x, want %x", got, pt)
	}

	// A wrong AAD, a changed blob, a blob of another key: 400.
	aad := []byte("aad")
	blob = e.wrap(t, []byte("dek"), aad)
	e.call(t, e.path, "unwrap", e.tok, unwrapReq(blob, []byte("other"), reasonAccess)).wantEKM(t, "unwrap with a wrong AAD", 400, "INVALID_ARGUMENT")
	raw, _ := base64.StdEncoding.DecodeString(blob)
	raw[len(raw)-3] ^= 0x40
	e.call(t, e.path, "unwrap", e.tok, unwrapReq(b64s(raw), aad, reasonAccess)).wantEKM(t, "unwrap of a changed blob", 400, "INVALID_ARGUMENT")
	otherKey, otherURI := e.newKey(t, "other")
	e.bind(t, otherKey, "app:gcp")
	e.call(t, e.uriPath(t, otherURI), "unwrap", e.tok, unwrapReq(blob, aad, reasonAccess)).wantEKM(t, "unwrap with another key", 400, "INVALID_ARGUMENT")

	// Domain separation: an Encrypt ciphertext is not an EKM blob, and
	// Decrypt refuses an EKM blob.
	enc := e.admin(t, "POST", "/v1/"+e.key+":encrypt", `{"plaintext":"`+b64s([]byte("dek"))+`","additionalAuthenticatedData":"`+b64s(aad)+`"}`)
	ct := enc.field("ciphertext").(string)
	e.call(t, e.path, "unwrap", e.tok, unwrapReq(ct, aad, reasonAccess)).wantEKM(t, "unwrap of an Encrypt ciphertext", 400, "INVALID_ARGUMENT")
	dc := restCall{method: "POST", path: "/v1/" + e.key + ":decrypt", body: `{"ciphertext":"` + blob + `","additionalAuthenticatedData":"` + b64s(aad) + `"}`}
	e.s.do(t, dc).wantError(t, dc, 400, "INVALID_ARGUMENT")

	// Rotation: wraps use the new primary, old blobs still unwrap.
	old := e.wrap(t, []byte("before rotation"), aad)
	e.admin(t, "POST", "/v1/"+e.key+"/cryptoKeyVersions", "{}")
	e.admin(t, "POST", "/v1/"+e.key+":updatePrimaryVersion", `{"cryptoKeyVersionId":"2"}`)
	blob2 := e.wrap(t, []byte("after rotation"), aad)
	if got := e.unwrap(t, old, aad); string(got) != "before rotation" {
		t.Errorf("unwrap of a version-1 blob after rotation = %q", got)
	}
	if got := e.unwrap(t, blob2, aad); string(got) != "after rotation" {
		t.Errorf("unwrap of a version-2 blob = %q", got)
	}

	// The audit log has every call, with the justification and Google's
	// names.
	wraps := e.ekmAudit(t, "Wrap")
	last := wraps[len(wraps)-1]
	details, _ := last["details"].(map[string]any)
	if last["resource"] != e.key || last["justification"] != "CUSTOMER_INITIATED_ACCESS" || last["principal"] != "app:gcp" ||
		last["status"] != "OK" || details["version"] != e.key+"/cryptoKeyVersions/2" ||
		details["relativeResourceName"] != "projects/g/locations/us/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1" ||
		details["keyPath"] != "kp" || details["app"] != "gcp" || details["decision"] != "allowed" {
		t.Errorf("last Wrap audit entry = %v", last)
	}
	refused := 0
	for _, en := range e.ekmAudit(t, "Unwrap") {
		if en["status"] == "INVALID_ARGUMENT" {
			refused++
		}
	}
	if refused < 4 {
		t.Errorf("%d refused unwraps in the audit log, want at least 4", refused)
	}

	// GET {key URI} with a token, and /ekm/v0/info without one.
	g := e.s.do(t, restCall{method: "GET", path: e.path, token: ptr(e.tok)})
	if g.status != 200 || g.field("keyUri") != e.uri || g.field("wrapAvailable") != true {
		t.Errorf("GET key URI = %d %s", g.status, g.raw)
	}
	e.s.do(t, restCall{method: "GET", path: e.path, token: ptr("")}).wantEKM(t, "GET key URI without a token", 401, "UNAUTHENTICATED")
	info := e.s.do(t, restCall{method: "GET", path: "/ekm/v0/info", token: ptr("")})
	if info.status != 200 || info.field("keyUriPrefix") != "http://"+e.s.restAddr+"/ekm/v0/keys/" {
		t.Errorf("GET /ekm/v0/info = %d %s", info.status, info.raw)
	}
}

func TestEKMTokens(t *testing.T) {
	t.Parallel()
	e := newEKMEnv(t)
	body := wrapReq([]byte("dek"), nil, reasonAccess)
	e.call(t, e.path, "wrap", e.tok, body).wantEKM(t, "good token", 200, "")
	hits := e.iss.hits.Load()

	apiKey := e.admin(t, "POST", "/admin/v1/apps/gcp/keys", `{"format":"api-key"}`).field("apiKey").(string)
	other := oidcKey(t, 1)
	past := func(c map[string]any) {
		c["iat"] = time.Now().Add(-5 * time.Minute).Unix()
		c["exp"] = time.Now().Add(55 * time.Minute).Unix()
	}
	tests := []struct {
		name  string
		token string
		want  int
		code  string
	}{
		{"audience without the port", e.iss.token(t, ekmEmail, "http://127.0.0.1", nil), 200, ""},
		{"issuer without scheme", e.iss.token(t, ekmEmail, e.aud, func(c map[string]any) { c["iss"] = "accounts.google.com" }), 200, ""},
		{"no token", "", 401, "UNAUTHENTICATED"},
		{"the admin token", e.s.token, 401, "UNAUTHENTICATED"},
		{"an app's API key", apiKey, 401, "UNAUTHENTICATED"},
		{"not a JWT", "abc.def", 401, "UNAUTHENTICATED"},
		{"expired", e.iss.token(t, ekmEmail, e.aud, func(c map[string]any) {
			c["iat"] = time.Now().Add(-3 * time.Hour).Unix()
			c["exp"] = time.Now().Add(-2 * time.Hour).Unix()
		}), 401, "UNAUTHENTICATED"},
		{"wrong audience", e.iss.token(t, ekmEmail, "https://elsewhere.example.com", nil), 401, "UNAUTHENTICATED"},
		{"wrong issuer", e.iss.token(t, ekmEmail, e.aud, func(c map[string]any) { c["iss"] = "https://issuer.example.com" }), 401, "UNAUTHENTICATED"},
		{"email not verified", e.iss.token(t, ekmEmail, e.aud, func(c map[string]any) { c["email_verified"] = false }), 401, "UNAUTHENTICATED"},
		{"no email", e.iss.token(t, ekmEmail, e.aud, func(c map[string]any) { delete(c, "email") }), 401, "UNAUTHENTICATED"},
		{"bad signature", signJWT(t, other, "k1", idClaims(ekmEmail, e.aud)), 401, "UNAUTHENTICATED"},
		{"unknown kid", signJWT(t, other, "k9", func() map[string]any { c := idClaims(ekmEmail, e.aud); past(c); return c }()), 401, "UNAUTHENTICATED"},
		{"a valid token of an email that is no app's", e.iss.token(t, "someone@example.com", e.aud, nil), 403, "PERMISSION_DENIED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call(t, e.path, "wrap", tc.token, body).wantEKM(t, tc.name, tc.want, tc.code)
			if tc.want == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}

	// A flood of tokens with made-up kids costs Google's endpoint no fetch
	// (the key set was fetched after they were issued, and refreshes are
	// rate-limited).
	before := e.iss.hits.Load()
	for i := range 30 {
		c := idClaims(ekmEmail, e.aud)
		past(c)
		e.call(t, e.path, "wrap", signJWT(t, other, "made-up-"+strconv.Itoa(i), c), body).wantEKM(t, "made-up kid", 401, "UNAUTHENTICATED")
	}
	if n := e.iss.hits.Load() - before; n > 1 {
		t.Errorf("30 unknown kids caused %d JWKS fetches, want at most 1", n)
	}
	if hits != 1 {
		t.Errorf("the first calls fetched the JWKS %d times, want 1", hits)
	}
}

func TestEKMErrorStatuses(t *testing.T) {
	t.Parallel()
	e := newEKMEnv(t)
	blob := e.wrap(t, []byte("dek"), nil)
	stranger := e.iss.token(t, "stranger@example.com", e.aud, nil)
	e.admin(t, "POST", "/admin/v1/apps", `{"name":"unbound","googleServiceAccount":"unbound@p.iam.gserviceaccount.com"}`)
	unbound := e.iss.token(t, "unbound@p.iam.gserviceaccount.com", e.aud, nil)
	missing := "/ekm/v0/keys/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	badBody := `{"plaintext":"***","additionalContext":{"accessReasonContext":{"reason":5}}}`

	tests := []struct {
		name            string
		path, verb, tok string
		body            string
		want            int
		code            string
	}{
		{"401 comes before 404", missing, "wrap", "", badBody, 401, "UNAUTHENTICATED"},
		{"404 comes before 403", missing, "unwrap", stranger, badBody, 404, "NOT_FOUND"},
		{"404 for a key id that never was", missing, "wrap", e.tok, wrapReq([]byte("x"), nil, reasonAccess), 404, "NOT_FOUND"},
		{"403 comes before 400: an email that is no app's", e.path, "wrap", stranger, badBody, 403, "PERMISSION_DENIED"},
		{"403: an app without the role", e.path, "wrap", unbound, badBody, 403, "PERMISSION_DENIED"},
		{"400: bad base64", e.path, "wrap", e.tok, badBody, 400, "INVALID_ARGUMENT"},
		{"400: malformed JSON", e.path, "wrap", e.tok, `{"plaintext":`, 400, "INVALID_ARGUMENT"},
		{"400: a field given twice", e.path, "wrap", e.tok, `{"plaintext":"eA","plain_text":"eQ","additionalContext":{"accessReasonContext":{"reason":5}}}`, 400, "INVALID_ARGUMENT"},
		{"400: no wrappedBlob", e.path, "unwrap", e.tok, `{"additionalContext":{"accessReasonContext":{"reason":5}}}`, 400, "INVALID_ARGUMENT"},
		{"400: junk blob", e.path, "unwrap", e.tok, unwrapReq(b64s([]byte("junk")), nil, reasonAccess), 400, "INVALID_ARGUMENT"},
		{"400: body too large", e.path, "wrap", e.tok, `{"plaintext":"` + strings.Repeat("A", 300<<10) + `"}`, 400, "INVALID_ARGUMENT"},
		{"501: a method Custos does not serve", e.path, "asymmetricSign", e.tok, `{}`, 501, "UNIMPLEMENTED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.call(t, tc.path, tc.verb, tc.tok, tc.body).wantEKM(t, tc.name, tc.want, tc.code)
		})
	}
	if r := e.s.do(t, restCall{method: "GET", path: e.path + ":wrap", token: ptr(e.tok)}); r.status != 405 || r.header.Get("Allow") != "POST" {
		t.Errorf("GET :wrap = %d %v, want 405 with Allow: POST", r.status, r.header)
	}

	// 429: a quota on the app, after 403 and 400.
	e.admin(t, "PUT", "/admin/v1/quotas/app:gcp", `{"rpm":1}`)
	var got429 restResponse
	for range 5 {
		got429 = e.call(t, e.path, "unwrap", e.tok, unwrapReq(blob, nil, reasonAccess))
		if got429.status == 429 {
			break
		}
	}
	got429.wantEKM(t, "unwrap over quota", 429, "RESOURCE_EXHAUSTED")
	if got429.header.Get("Retry-After") == "" || got429.field("plaintext") != nil {
		t.Errorf("429 = %v %s, want Retry-After and no plaintext", got429.header, got429.raw)
	}
	e.call(t, e.path, "wrap", e.tok, badBody).wantEKM(t, "bad body over quota", 400, "INVALID_ARGUMENT")
	e.call(t, e.path, "wrap", e.tok, wrapReq([]byte("x"), nil, `"SOMETHING_NEW"`)).wantEKM(t, "refused reason over quota", 403, "PERMISSION_DENIED")
	e.call(t, e.path, "unwrap", e.tok, unwrapReq(blob, []byte("wrong"), reasonAccess)).wantEKM(t, "wrong AAD over quota", 400, "INVALID_ARGUMENT")
	e.admin(t, "PUT", "/admin/v1/quotas/app:gcp", `{"rpm":0}`)
	e.unwrap(t, blob, nil)
}

func TestEKMJustificationPolicies(t *testing.T) {
	t.Parallel()
	e := newEKMEnv(t)
	type try struct {
		reason string // the JSON value of reason; "" for no accessReasonContext
		want   int
	}
	tests := []struct {
		name  string
		args  []string // custos apps set-justification-policy gcp ...; nil: the default policy
		tries []try
	}{
		{"default: every known reason, no missing or unknown one", nil, []try{
			{reasonAccess, 200}, {`"GOOGLE_INITIATED_SYSTEM_OPERATION"`, 200}, {`1`, 200}, {`11`, 200},
			{"", 403}, {`null`, 403}, {`"REASON_UNSPECIFIED"`, 403}, {`0`, 403},
			{`"GOOGLE_INITIATED_SOMETHING_NEW"`, 403}, {`12`, 403}, {`-3`, 403},
		}},
		{"a list", []string{"--allow", "CUSTOMER_INITIATED_ACCESS,GOOGLE_INITIATED_SYSTEM_OPERATION"}, []try{
			{reasonAccess, 200}, {`6`, 200}, {`"GOOGLE_INITIATED_REVIEW"`, 403}, {`3`, 403}, {"", 403}, {`"SOMETHING_NEW"`, 403},
		}},
		{"a list, missing allowed", []string{"--allow", "CUSTOMER_INITIATED_ACCESS", "--allow-missing"}, []try{
			{reasonAccess, 200}, {"", 200}, {`null`, 200}, {`"REASON_UNSPECIFIED"`, 200}, {`2`, 403}, {`"SOMETHING_NEW"`, 403},
		}},
		{"all, unknown allowed", []string{"--allow-all", "--allow-unknown"}, []try{
			{reasonAccess, 200}, {`"SOMETHING_NEW"`, 200}, {`99`, 200}, {"", 403},
		}},
		{"all, missing allowed", []string{"--allow-all", "--allow-missing"}, []try{
			{`"THIRD_PARTY_DATA_REQUEST"`, 200}, {"", 200}, {`"SOMETHING_NEW"`, 403},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.args != nil {
				out, code := e.cli(t, append([]string{"apps", "set-justification-policy", "gcp"}, tc.args...)...)
				if code != 0 {
					t.Fatalf("custos apps set-justification-policy = %d %s", code, out)
				}
			}
			for _, tr := range tc.tries {
				body := wrapReq([]byte("dek"), nil, tr.reason)
				r := e.call(t, e.path, "wrap", e.tok, body)
				if r.status != tr.want {
					t.Errorf("reason %s: %d %s, want %d", tr.reason, r.status, r.raw, tr.want)
					continue
				}
				if tr.want == 403 {
					r.wantEKM(t, "refused reason", 403, "PERMISSION_DENIED")
					if msg, _ := r.field("error.message").(string); !strings.Contains(msg, "justification") {
						t.Errorf("reason %s: message %q does not name the justification", tr.reason, msg)
					}
				}
			}
		})
	}

	out, code := e.cli(t, "apps", "get-justification-policy", "gcp", "-o", "json")
	var p map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &p) != nil || p["allowAll"] != true || p["allowMissing"] != true || p["default"] != false {
		t.Errorf("custos apps get-justification-policy -o json = %d %s", code, out)
	}
	if out, code := e.cli(t, "apps", "set-justification-policy", "gcp", "--allow", "NOT_A_REASON"); code != 1 || !strings.Contains(out, "INVALID_ARGUMENT") {
		t.Errorf("custos apps set-justification-policy --allow NOT_A_REASON = %d %s, want exit 1 and INVALID_ARGUMENT", code, out)
	}
	if out, code := e.cli(t, "apps", "set-justification-policy", "gcp"); code != 2 {
		t.Errorf("custos apps set-justification-policy without --allow = %d %s, want exit 2", code, out)
	}

	// The audit log keeps each refusal with its reason, whatever the
	// data-access setting.
	var unknown, missingRefused bool
	for _, en := range e.ekmAudit(t, "Wrap") {
		d, _ := en["details"].(map[string]any)
		if en["justification"] == "GOOGLE_INITIATED_SOMETHING_NEW" && en["status"] == "PERMISSION_DENIED" && d["justificationClass"] == "unknown" {
			unknown = true
		}
		if en["justification"] == "" && d["refusal"] == "justification_missing" {
			missingRefused = true
		}
	}
	if !unknown || !missingRefused {
		t.Errorf("audit: an unknown reason refused %v, a missing one refused %v; want both", unknown, missingRefused)
	}
}

func TestEKMRevocationTakesEffectOnTheNextCall(t *testing.T) {
	t.Parallel()
	e := newEKMEnv(t)
	aad := []byte("aad")
	blob := e.wrap(t, []byte("dek"), aad)
	unwrap := func(what string, want int, code string) {
		t.Helper()
		e.call(t, e.path, "unwrap", e.tok, unwrapReq(blob, aad, reasonAccess)).wantEKM(t, what, want, code)
	}
	v1 := "/v1/" + e.key + "/cryptoKeyVersions/1"

	e.admin(t, "PATCH", v1+"?updateMask=state", `{"state":"DISABLED"}`)
	unwrap("unwrap with the version disabled", 404, "NOT_FOUND")
	e.call(t, e.path, "wrap", e.tok, wrapReq([]byte("x"), nil, reasonAccess)).wantEKM(t, "wrap with the primary disabled", 404, "NOT_FOUND")
	e.admin(t, "PATCH", v1+"?updateMask=state", `{"state":"ENABLED"}`)
	unwrap("unwrap with the version enabled again", 200, "")

	e.admin(t, "POST", "/admin/v1/apps/gcp/disable", "{}")
	unwrap("unwrap with the app disabled", 403, "PERMISSION_DENIED")
	e.admin(t, "POST", "/admin/v1/apps/gcp/enable", "{}")
	unwrap("unwrap with the app enabled again", 200, "")

	e.bind(t, e.key)
	unwrap("unwrap with the binding removed", 403, "PERMISSION_DENIED")
	e.bind(t, e.key, "app:gcp")
	unwrap("unwrap with the binding back", 200, "")

	e.admin(t, "POST", v1+":destroy", "{}")
	unwrap("unwrap with the version scheduled for destruction", 404, "NOT_FOUND")
}

func TestEKMServerOptions(t *testing.T) {
	t.Parallel()
	const public = "https://ekm.example.com"
	e := newEKMEnvWith(t, public, "--public-url", public, "--ekm-audience", public, "--ekm-audience", "https://ekm.example.com:443",
		"--ekm-cache-duration", "5m")
	if !strings.HasPrefix(e.uri, public+"/ekm/v0/keys/") {
		t.Fatalf("externalKeyUri %s, want it under --public-url %s", e.uri, public)
	}
	// The URI's path works against the listener.
	blob := e.call(t, e.path, "wrap", e.tok, wrapReq([]byte("dek"), nil, reasonAccess)).wantEKM(t, "wrap", 200, "").field("wrappedBlob").(string)
	r := e.call(t, e.path, "unwrap", e.tok, unwrapReq(blob, nil, reasonAccess)).wantEKM(t, "unwrap", 200, "")
	if r.field("allowedCacheDuration") != "300s" {
		t.Errorf("unwrap = %s, want allowedCacheDuration 300s", r.raw)
	}
	e.call(t, e.path, "wrap", e.iss.token(t, ekmEmail, "https://ekm.example.com:443", nil), wrapReq([]byte("dek"), nil, reasonAccess)).wantEKM(t, "second audience", 200, "")
	e.call(t, e.path, "wrap", e.iss.token(t, ekmEmail, "http://"+e.s.restAddr, nil), wrapReq([]byte("dek"), nil, reasonAccess)).
		wantEKM(t, "the listener's origin is not an audience when --ekm-audience is set", 401, "UNAUTHENTICATED")
}

// newEKMEnvWith is newEKMEnv for a server whose public URL is not its
// listener: key URIs are under publicURL, tokens are for aud.
func newEKMEnvWith(t *testing.T, aud string, extraArgs ...string) *ekmEnv {
	t.Helper()
	iss := newOIDCIssuer(t)
	s := startServer(t, append([]string{"--ekm-jwks-url", iss.jwksURL()}, extraArgs...)...)
	e := &ekmEnv{s: s, iss: iss, aud: aud, ring: "/v1/projects/gp/locations/global/keyRings/ekm"}
	e.admin(t, "POST", "/v1/projects/gp/locations/global/keyRings?keyRingId=ekm", "{}")
	e.admin(t, "POST", e.ring+"/cryptoKeys?cryptoKeyId=k", `{"purpose":"ENCRYPT_DECRYPT"}`)
	got := e.admin(t, "GET", e.ring+"/cryptoKeys/k", "")
	e.key, _ = got.field("name").(string)
	e.uri, _ = got.field("externalKeyUri").(string)
	u, err := url.Parse(e.uri)
	if err != nil || !strings.HasPrefix(u.Path, "/ekm/v0/keys/") {
		t.Fatalf("externalKeyUri %q", e.uri)
	}
	e.path = u.Path
	e.admin(t, "POST", "/admin/v1/apps", `{"name":"gcp","googleServiceAccount":"`+ekmEmail+`"}`)
	e.bind(t, e.key, "app:gcp")
	e.tok = iss.token(t, ekmEmail, aud, nil)
	return e
}

// TestEKMJWKSUnreachable: when Google's keys cannot be fetched, a call is
// 503 (Cloud KMS retries), never 401 or 403.
func TestEKMJWKSUnreachable(t *testing.T) {
	t.Parallel()
	dead := "http://" + freePort(t) + "/certs" // nothing listens there
	iss := newOIDCIssuer(t)
	s := startServer(t, "--ekm-jwks-url", dead)
	c := restCall{method: "POST", path: "/v1/projects/gp/locations/global/keyRings?keyRingId=ekm", body: "{}"}
	s.do(t, c).wantOK(t, c)
	c = restCall{method: "POST", path: "/v1/projects/gp/locations/global/keyRings/ekm/cryptoKeys?cryptoKeyId=k", body: `{"purpose":"ENCRYPT_DECRYPT"}`}
	uri, _ := s.do(t, c).wantOK(t, c).field("externalKeyUri").(string)
	u, _ := url.Parse(uri)
	tok := iss.token(t, ekmEmail, "http://"+s.restAddr, nil)
	r := s.do(t, restCall{method: "POST", path: u.Path + ":wrap", body: wrapReq([]byte("x"), nil, reasonAccess), token: ptr(tok)})
	r.wantEKM(t, "wrap with the JWKS unreachable", 503, "UNAVAILABLE")
	if r.header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
}
