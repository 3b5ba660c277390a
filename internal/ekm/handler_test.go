// SPDX-License-Identifier: Apache-2.0

package ekm

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/custos-kms/custos/internal/auth"
	"github.com/custos-kms/custos/internal/iam"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
)

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (e *env) call(t *testing.T, method, path, token, body string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		t.Fatalf("%s %s = %d with a body that is not JSON: %q", method, path, resp.StatusCode, raw)
	}
	return a
}

func (a answer) errStatus() string {
	if e, ok := a.body["error"].(map[string]any); ok {
		s, _ := e["status"].(string)
		return s
	}
	return ""
}

func (a answer) want(t *testing.T, status int, errStatus string) {
	t.Helper()
	if a.status != status || a.errStatus() != errStatus {
		t.Fatalf("answer %d %s, want %d %q", a.status, a.raw, status, errStatus)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func wrapBody(pt, aad, reason string) string {
	return `{"plaintext":"` + b64(pt) + `","additionalAuthenticatedData":"` + b64(aad) + `","keyPath":"kp",
		"additionalContext":{"fullResourceName":"//cloudkms.googleapis.com/projects/g/locations/us/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
		"relativeResourceName":"projects/g/locations/us/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
		"accessReasonContext":{"reason":` + reason + `}}}`
}

func unwrapBody(blob, aad, reason string) string {
	return `{"wrappedBlob":"` + blob + `","additionalAuthenticatedData":"` + b64(aad) + `",
		"additionalContext":{"accessReasonContext":{"reason":` + reason + `}}}`
}

const access = `"CUSTOMER_INITIATED_ACCESS"`

// setup makes a key and an app allowed to wrap and unwrap with it.
func setup(t *testing.T) (e *env, keyName, uri, tok string) {
	e = newEnv(t)
	keyName, id := e.key(t, "ring", "k")
	e.apps.add("gcp", "proj", testEmail)
	e.authz.grant("gcp", iam.PermEKMWrap, keyName)
	e.authz.grant("gcp", iam.PermEKMUnwrap, keyName)
	return e, keyName, "/ekm/v0/keys/" + id, e.token(t, strings.ToUpper(testEmail))
}

func TestWrapUnwrap(t *testing.T) {
	e, keyName, uri, tok := setup(t)
	w := e.call(t, "POST", uri+":wrap", tok, wrapBody("dek", "aad", access))
	w.want(t, 200, "")
	blob, _ := w.body["wrappedBlob"].(string)
	if blob == "" || len(w.body) != 1 {
		t.Fatalf("wrap = %s, want {\"wrappedBlob\"}", w.raw)
	}
	u := e.call(t, "POST", uri+":unwrap", tok, unwrapBody(blob, "aad", access))
	u.want(t, 200, "")
	if pt, _ := u.body["plaintext"].(string); pt != b64("dek") {
		t.Errorf("unwrap = %s, want plaintext %q", u.raw, b64("dek"))
	}
	if _, ok := u.body["allowedCacheDuration"]; ok {
		t.Errorf("unwrap = %s: allowedCacheDuration must be left out when the cache duration is 0", u.raw)
	}
	ev := e.audit.last()
	if ev.Method != "Unwrap" || ev.Resource != keyName || ev.Justification != "CUSTOMER_INITIATED_ACCESS" ||
		ev.Principal != "app:gcp" || ev.AuthMethod != AuthMethod || ev.Details["decision"] != "allowed" ||
		ev.Details["app"] != "gcp" || ev.Details["version"] != keyName+"/cryptoKeyVersions/1" || ev.RequestID == "" {
		t.Errorf("audit = %+v", ev)
	}
	if wev := e.audit.events[e.audit.count()-2]; wev.Details["relativeResourceName"] == "" || wev.Details["keyPath"] != "kp" || wev.Details["isKeyHealthCheck"] != "false" {
		t.Errorf("wrap audit details = %v", wev.Details)
	}

	// Wrong AAD, or a changed blob: 400.
	e.call(t, "POST", uri+":unwrap", tok, unwrapBody(blob, "other", access)).want(t, 400, "INVALID_ARGUMENT")
	raw, _ := base64.StdEncoding.DecodeString(blob)
	raw[len(raw)-1] ^= 1
	e.call(t, "POST", uri+":unwrap", tok, unwrapBody(base64.StdEncoding.EncodeToString(raw), "aad", access)).want(t, 400, "INVALID_ARGUMENT")

	// An Encrypt ciphertext of the same key is not an EKM blob: 400.
	ct, _, err := e.svc.Encrypt(e.adminCtx, keyName, []byte("dek"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	e.call(t, "POST", uri+":unwrap", tok, unwrapBody(base64.StdEncoding.EncodeToString(ct), "aad", access)).want(t, 400, "INVALID_ARGUMENT")
	// And Decrypt refuses the EKM blob.
	if _, _, err := e.svc.Decrypt(e.adminCtx, keyName, mustB64(t, blob), []byte("aad")); kmserr.Code(err) != 3 {
		t.Errorf("Decrypt of an EKM blob = %v, want INVALID_ARGUMENT", err)
	}

	if m := e.handler.Metrics().Snapshot(); m.Refusals["bad_blob gcp"] != 3 || m.Requests["wrap 200"] != 1 {
		t.Errorf("metrics = %+v, want 3 bad_blob refusals of app gcp and one wrap", m)
	}

	// A non-zero cache duration is answered as a proto3 Duration.
	e.handler.cfg.CacheDuration = 5 * time.Minute
	u = e.call(t, "POST", uri+":unwrap", tok, unwrapBody(blob, "aad", access))
	if u.body["allowedCacheDuration"] != "300s" {
		t.Errorf("unwrap = %s, want allowedCacheDuration 300s", u.raw)
	}
}

func mustB64(t *testing.T, s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRotationKeepsOldBlobs(t *testing.T) {
	e, keyName, uri, tok := setup(t)
	old := e.call(t, "POST", uri+":wrap", tok, wrapBody("one", "", access)).body["wrappedBlob"].(string)
	v2, err := e.svc.CreateCryptoKeyVersion(e.adminCtx, keyName, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.UpdateCryptoKeyPrimaryVersion(e.adminCtx, keyName, "2"); err != nil {
		t.Fatal(err)
	}
	w := e.call(t, "POST", uri+":wrap", tok, wrapBody("two", "", access))
	w.want(t, 200, "")
	if e.audit.last().Details["version"] != v2.Name {
		t.Errorf("wrap after rotation used %s, want %s", e.audit.last().Details["version"], v2.Name)
	}
	u := e.call(t, "POST", uri+":unwrap", tok, unwrapBody(old, "", access))
	u.want(t, 200, "")
	if u.body["plaintext"] != b64("one") {
		t.Errorf("unwrap of a blob of version 1 after rotation = %s", u.raw)
	}
	// Disabling version 1 makes its blobs 404, not version 2's.
	if _, err := e.svc.UpdateCryptoKeyVersion(e.adminCtx, keyName+"/cryptoKeyVersions/1", kms.Disabled, []string{"state"}); err != nil {
		t.Fatal(err)
	}
	e.call(t, "POST", uri+":unwrap", tok, unwrapBody(old, "", access)).want(t, 404, "NOT_FOUND")
	e.call(t, "POST", uri+":unwrap", tok, unwrapBody(w.body["wrappedBlob"].(string), "", access)).want(t, 200, "")
}

// TestOrderOfChecks sends requests that fail several checks at once and
// expects the first in the contract's order: 401, 404, 403, 400, 429.
func TestOrderOfChecks(t *testing.T) {
	e, keyName, uri, tok := setup(t)
	missingURI := "/ekm/v0/keys/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	e.apps.add("stranger", "", "stranger@example.com")
	stranger := e.token(t, "stranger@example.com")
	nobody := e.token(t, "nobody@example.com")
	bad := `{"plaintext":"***","additionalContext":{"accessReasonContext":{"reason":5}}}`
	blob := e.call(t, "POST", uri+":wrap", tok, wrapBody("x", "", access)).body["wrappedBlob"].(string)

	tests := []struct {
		name   string
		path   string
		token  string
		body   string
		status int
		code   string
	}{
		{"no token beats a missing key", missingURI + ":wrap", "", bad, 401, "UNAUTHENTICATED"},
		{"admin-like token beats a missing key", missingURI + ":wrap", "custos_admin_x", bad, 401, "UNAUTHENTICATED"},
		{"missing key beats an unknown email", missingURI + ":wrap", nobody, bad, 404, "NOT_FOUND"},
		{"unknown email beats a bad body", uri + ":wrap", nobody, bad, 403, "PERMISSION_DENIED"},
		{"no permission beats a bad body", uri + ":wrap", stranger, bad, 403, "PERMISSION_DENIED"},
		{"a bad body with a readable context", uri + ":wrap", tok, bad, 400, "INVALID_ARGUMENT"},
		{"a bad body without a justification is refused first", uri + ":wrap", tok, `{"plaintext":"***"}`, 403, "PERMISSION_DENIED"},
		{"malformed JSON is 400, never a justification 403", uri + ":wrap", tok, `{"plaintext":`, 400, "INVALID_ARGUMENT"},
		{"justification beats a bad body", uri + ":wrap", tok, `{"plaintext":"***","additionalContext":{"accessReasonContext":{"reason":"NEW_ONE"}}}`, 403, "PERMISSION_DENIED"},
		{"unwrap without a blob", uri + ":unwrap", tok, `{"additionalContext":{"accessReasonContext":{"reason":5}}}`, 400, "INVALID_ARGUMENT"},
		{"unwrap of junk", uri + ":unwrap", tok, unwrapBody(b64("junk"), "", access), 400, "INVALID_ARGUMENT"},
		{"unknown method", uri + ":asymmetricSign", tok, `{}`, 501, "UNIMPLEMENTED"},
		{"unknown method needs a token", uri + ":asymmetricSign", "", `{}`, 401, "UNAUTHENTICATED"},
		{"not a path of the endpoint", "/ekm/v1/whatever", tok, "", 404, "NOT_FOUND"},
		{"body over the limit", uri + ":wrap", tok, `{"plaintext":"` + strings.Repeat("A", MaxBody) + `"}`, 400, "INVALID_ARGUMENT"},
		{"plaintext over 64 KiB", uri + ":wrap", tok, `{"plaintext":"` + base64.StdEncoding.EncodeToString(make([]byte, 64<<10+1)) + `","additionalContext":{"accessReasonContext":{"reason":5}}}`, 400, "INVALID_ARGUMENT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.call(t, "POST", tc.path, tc.token, tc.body).want(t, tc.status, tc.code)
		})
	}

	// Quota: 429 only after 403 and 400.
	e.authz.setExhausted("gcp", true)
	e.call(t, "POST", uri+":wrap", tok, wrapBody("x", "", `"NEW_ONE"`)).want(t, 403, "PERMISSION_DENIED")
	e.call(t, "POST", uri+":wrap", tok, bad).want(t, 400, "INVALID_ARGUMENT")
	e.call(t, "POST", uri+":unwrap", tok, unwrapBody(blob, "wrong aad", access)).want(t, 400, "INVALID_ARGUMENT")
	a := e.call(t, "POST", uri+":unwrap", tok, unwrapBody(blob, "", access))
	a.want(t, 429, "RESOURCE_EXHAUSTED")
	if a.header.Get("Retry-After") != "2" || a.body["plaintext"] != nil {
		t.Errorf("429 = %v %s, want Retry-After 2 and no plaintext", a.header, a.raw)
	}
	e.authz.setExhausted("gcp", false)

	// 503 for faults, never 403.
	e.apps.fail = kmserr.Unavailable(nil, "storage unavailable")
	e.call(t, "POST", uri+":wrap", tok, wrapBody("x", "", access)).want(t, 503, "UNAVAILABLE")
	e.apps.fail = nil
	e.authz.fail = kmserr.Unavailable(nil, "storage unavailable")
	e.call(t, "POST", uri+":wrap", tok, wrapBody("x", "", access)).want(t, 503, "UNAVAILABLE")
	e.authz.fail = nil

	// Audit: a refusal and a success both need their record.
	e.audit.fail = true
	e.call(t, "POST", uri+":wrap", tok, wrapBody("x", "", access)).want(t, 503, "UNAVAILABLE")
	e.call(t, "POST", uri+":wrap", nobody, wrapBody("x", "", access)).want(t, 503, "UNAVAILABLE")
	e.audit.fail = false
	_ = keyName
}

func TestRevocationTakesEffectAtOnce(t *testing.T) {
	e, keyName, uri, tok := setup(t)
	blob := e.call(t, "POST", uri+":wrap", tok, wrapBody("x", "", access)).body["wrappedBlob"].(string)

	e.apps.setDisabled("gcp", true)
	e.call(t, "POST", uri+":unwrap", tok, unwrapBody(blob, "", access)).want(t, 403, "PERMISSION_DENIED")
	if ev := e.audit.last(); ev.Details["refusal"] != "app_disabled" || ev.Principal != "app:gcp" {
		t.Errorf("audit = %+v", ev)
	}
	e.apps.setDisabled("gcp", false)

	e.authz.revoke("gcp")
	e.call(t, "POST", uri+":unwrap", tok, unwrapBody(blob, "", access)).want(t, 403, "PERMISSION_DENIED")
	e.authz.grant("gcp", iam.PermEKMUnwrap, keyName)
	e.call(t, "POST", uri+":unwrap", tok, unwrapBody(blob, "", access)).want(t, 200, "")
	// Wrap was not granted back.
	e.call(t, "POST", uri+":wrap", tok, wrapBody("x", "", access)).want(t, 403, "PERMISSION_DENIED")
	e.authz.grant("gcp", iam.PermEKMWrap, keyName)

	v1 := keyName + "/cryptoKeyVersions/1"
	if _, err := e.svc.UpdateCryptoKeyVersion(e.adminCtx, v1, kms.Disabled, []string{"state"}); err != nil {
		t.Fatal(err)
	}
	e.call(t, "POST", uri+":unwrap", tok, unwrapBody(blob, "", access)).want(t, 404, "NOT_FOUND")
	e.call(t, "POST", uri+":wrap", tok, wrapBody("x", "", access)).want(t, 404, "NOT_FOUND")
	if ev := e.audit.last(); ev.Details["refusal"] != "not_found" || ev.Resource != keyName && !strings.Contains(ev.Resource, "/ekm/v0/keys/") {
		t.Errorf("audit = %+v", ev)
	}
	if _, err := e.svc.UpdateCryptoKeyVersion(e.adminCtx, v1, kms.Enabled, []string{"state"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.DestroyCryptoKeyVersion(e.adminCtx, v1); err != nil {
		t.Fatal(err)
	}
	e.call(t, "POST", uri+":unwrap", tok, unwrapBody(blob, "", access)).want(t, 404, "NOT_FOUND")
}

func TestJustificationPolicies(t *testing.T) {
	e, _, uri, tok := setup(t)
	type try struct {
		reason string // JSON value, "" for no accessReasonContext
		want   int
	}
	body := func(reason string) string {
		if reason == "" {
			return `{"plaintext":"eA"}`
		}
		return wrapBody("x", "", reason)
	}
	tests := []struct {
		name   string
		policy *Policy // nil: the default
		tries  []try
	}{
		{"default: every known reason, no missing, no unknown", nil, []try{
			{access, 200}, {`"GOOGLE_INITIATED_REVIEW"`, 200}, {`11`, 200}, {`"REASON_NOT_EXPECTED"`, 200},
			{"", 403}, {`null`, 403}, {`"REASON_UNSPECIFIED"`, 403}, {`0`, 403},
			{`"SOMETHING_NEW"`, 403}, {`12`, 403},
		}},
		{"a list", &Policy{AllowedReasons: []string{"CUSTOMER_INITIATED_ACCESS", "GOOGLE_INITIATED_SYSTEM_OPERATION"}}, []try{
			{access, 200}, {`6`, 200}, {`"GOOGLE_INITIATED_REVIEW"`, 403}, {`1`, 403}, {"", 403}, {`"SOMETHING_NEW"`, 403},
		}},
		{"a list, missing allowed", &Policy{AllowedReasons: []string{"CUSTOMER_INITIATED_ACCESS"}, AllowMissing: true}, []try{
			{access, 200}, {"", 200}, {`"REASON_UNSPECIFIED"`, 200}, {`2`, 403}, {`99`, 403},
		}},
		{"all, unknown allowed", &Policy{AllowAll: true, AllowUnknown: true}, []try{
			{access, 200}, {`"SOMETHING_NEW"`, 200}, {`12`, 200}, {"", 403},
		}},
		{"nothing allowed", &Policy{}, []try{
			{access, 403}, {"", 403}, {`"SOMETHING_NEW"`, 403},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := DefaultPolicy()
			if tc.policy != nil {
				p = *tc.policy
			}
			if _, err := e.policies.Set(e.adminCtx, "gcp", p); err != nil {
				t.Fatal(err)
			}
			for _, tr := range tc.tries {
				a := e.call(t, "POST", uri+":wrap", tok, body(tr.reason))
				if a.status != tr.want {
					t.Errorf("reason %s: %d %s, want %d", tr.reason, a.status, a.raw, tr.want)
					continue
				}
				ev := e.audit.last()
				if tr.want == 403 {
					msg, _ := a.body["error"].(map[string]any)["message"].(string)
					if !strings.Contains(msg, "justification") || ev.Details["decision"] != "refused" {
						t.Errorf("reason %s: message %q, audit %+v", tr.reason, msg, ev)
					}
				}
			}
		})
	}
	// The audit entry names an unknown reason as it came.
	e.call(t, "POST", uri+":wrap", tok, body(`"SOMETHING_NEW"`))
	if ev := e.audit.last(); ev.Justification != "SOMETHING_NEW" || ev.Details["justificationClass"] != "unknown" {
		t.Errorf("audit of an unknown reason = %+v", ev)
	}
}

func TestGetKeyAndInfo(t *testing.T) {
	e, keyName, uri, tok := setup(t)
	a := e.call(t, "GET", "/ekm/v0/info", "", "")
	a.want(t, 200, "")
	if a.body["keyUriPrefix"] != envPublicURL+"/ekm/v0/keys/" {
		t.Errorf("info = %s", a.raw)
	}
	e.call(t, "GET", uri, "", "").want(t, 401, "UNAUTHENTICATED")
	e.call(t, "GET", "/ekm/v0/keys/nope", tok, "").want(t, 404, "NOT_FOUND")
	e.call(t, "GET", uri, e.token(t, "nobody@example.com"), "").want(t, 403, "PERMISSION_DENIED")
	a = e.call(t, "GET", uri, tok, "")
	a.want(t, 200, "")
	if a.body["keyUri"] != envPublicURL+uri || a.body["wrapAvailable"] != true || len(a.body["methods"].([]any)) != 2 {
		t.Errorf("GET key = %s", a.raw)
	}
	if _, err := e.svc.UpdateCryptoKeyVersion(e.adminCtx, keyName+"/cryptoKeyVersions/1", kms.Disabled, []string{"state"}); err != nil {
		t.Fatal(err)
	}
	if a = e.call(t, "GET", uri, tok, ""); a.status != 200 || a.body["wrapAvailable"] != false {
		t.Errorf("GET key with its primary disabled = %s", a.raw)
	}
	a = e.call(t, "GET", uri+":wrap", tok, "")
	if a.status != 405 || a.header.Get("Allow") != "POST" {
		t.Errorf("GET :wrap = %d %v", a.status, a.header)
	}
	m := e.handler.Metrics().Snapshot()
	if m.Requests["info 200"] != 1 || m.Requests["get 200"] != 2 || m.Refusals["unknown_email "] != 1 {
		t.Errorf("metrics = %+v", m)
	}
}

// TestStrangerAuditBudget: refusals of Google identities that are no app
// are recorded up to the budget of the minute, then answered alike and
// only counted; an app's calls are always recorded, and a new minute
// starts a new budget.
func TestStrangerAuditBudget(t *testing.T) {
	e, _, uri, appTok := setup(t)
	now := time.Now()
	clock := func() time.Time { return now }
	h, err := New(Config{
		Keys: e.svc, Apps: e.apps, Authorizer: e.authz, Auditor: e.audit, Policies: e.policies,
		Verifier: e.verifier, PublicURL: envPublicURL, Logger: quiet, StrangerAuditsPerMinute: 3, Now: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	e.srv = srv
	stranger := e.token(t, "someone@attacker.iam.gserviceaccount.com")
	unknownKey := "/ekm/v0/keys/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:wrap"
	before := e.audit.count()
	for range 5 {
		e.call(t, "POST", unknownKey, stranger, wrapBody("dek", "", access)).want(t, 404, "NOT_FOUND")
		e.call(t, "POST", uri+":wrap", stranger, wrapBody("dek", "", access)).want(t, 403, "PERMISSION_DENIED")
	}
	if got := e.audit.count() - before; got != 3 {
		t.Errorf("%d audit entries for 10 refusals of a stranger, want the budget of 3", got)
	}
	if m := h.Metrics().Snapshot(); m.Unaudited != 7 {
		t.Errorf("unaudited refusals = %d, want 7", m.Unaudited)
	}
	// The app's calls, refused or not, are recorded whatever the budget.
	before = e.audit.count()
	e.call(t, "POST", unknownKey, appTok, wrapBody("dek", "", access)).want(t, 404, "NOT_FOUND")
	e.call(t, "POST", uri+":wrap", appTok, wrapBody("dek", "", access)).want(t, 200, "")
	if got := e.audit.count() - before; got != 2 {
		t.Errorf("%d audit entries for two calls of an app, want 2", got)
	}
	// A new minute, a new budget.
	now = now.Add(time.Minute)
	before = e.audit.count()
	e.call(t, "POST", unknownKey, stranger, wrapBody("dek", "", access)).want(t, 404, "NOT_FOUND")
	if got := e.audit.count() - before; got != 1 {
		t.Errorf("%d audit entries for a stranger's refusal in a new minute, want 1", got)
	}
}

// ctxApps answers as auth.Apps over a store does: a lookup made with a
// context that has ended fails, whatever the email.
type ctxApps struct{ AppReader }

func (a ctxApps) AppByGoogleEmail(ctx context.Context, email string) (*auth.App, error) {
	if err := ctx.Err(); err != nil {
		return nil, kmserr.Unavailable(err, "request cancelled")
	}
	return a.AppReader.AppByGoogleEmail(ctx, email)
}

// TestStrangerAuditBudgetCanceled: a stranger that cancels its own
// requests (closes the connection once they are sent) gets no more audit
// entries than the budget: whether an email is an app does not depend on
// whether its caller is still there.
func TestStrangerAuditBudgetCanceled(t *testing.T) {
	e, _, uri, _ := setup(t)
	now := time.Now()
	h, err := New(Config{
		Keys: e.svc, Apps: ctxApps{e.apps}, Authorizer: e.authz, Auditor: e.audit, Policies: e.policies,
		Verifier: e.verifier, PublicURL: envPublicURL, Logger: quiet, StrangerAuditsPerMinute: 1,
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	stranger := e.token(t, "someone@attacker.iam.gserviceaccount.com")
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	before := e.audit.count()
	for i := range 6 {
		path := "/ekm/v0/keys/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:wrap"
		if i%2 == 1 {
			path = uri + ":wrap"
		}
		req := httptest.NewRequest("POST", path, strings.NewReader(wrapBody("dek", "", access)))
		req.Header.Set("Authorization", "Bearer "+stranger)
		if i > 0 {
			req = req.WithContext(canceled)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	if got := e.audit.count() - before; got > 1 {
		t.Errorf("%d audit entries for the refusals of a stranger that canceled its calls, want at most the budget of 1", got)
	}
}
