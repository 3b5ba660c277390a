// SPDX-License-Identifier: Apache-2.0

package salesforce_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/salesforce"
	"github.com/custos-kms/custos/internal/storage"
	"github.com/custos-kms/custos/internal/storage/signed"
)

// open decrypts a fetched answer with the certificate's private key, as
// Salesforce does, and returns the DEK and the protected header.
func (e *env) open(t *testing.T, resp *http.Response, kid string) ([]byte, map[string]string) {
	t.Helper()
	body, st, msg := answer(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("fetch = %d %s %s, want 200", resp.StatusCode, st, msg)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	var out map[string]string
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("answer %q: %v", body, err)
	}
	if len(out) != 2 || out["kid"] != kid || out["jwe"] == "" {
		t.Fatalf("answer = %v, want exactly {kid: %s, jwe}", out, kid)
	}
	obj, err := jose.ParseEncrypted(out["jwe"], []jose.KeyAlgorithm{jose.RSA_OAEP}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		t.Fatalf("jose.ParseEncrypted = %v", err)
	}
	dek, err := obj.Decrypt(e.priv)
	if err != nil {
		t.Fatalf("Decrypt = %v", err)
	}
	h, err := salesforce.ProtectedHeader(out["jwe"])
	if err != nil {
		t.Fatal(err)
	}
	return dek, h
}

func TestFetch(t *testing.T) {
	e := newEnv(t)
	k := e.create(t, "fle", "")
	e.authz.allow(strings.TrimSuffix(k.CryptoKeyVersion, "/cryptoKeyVersions/1"))
	n := e.audit.len()

	dek, h := e.open(t, e.get(t, keyPath(k.KID), "sf", keySF), k.KID)
	if want := e.material(t, k.CryptoKeyVersion); len(dek) != 32 || !bytes.Equal(dek, want) {
		t.Errorf("the JWE carries %d bytes that are not the key's material", len(dek))
	}
	if diff := cmp.Diff(map[string]string{"alg": "RSA-OAEP", "enc": "A256GCM", "kid": k.KID}, h); diff != "" {
		t.Errorf("protected header (-want +got):\n%s", diff)
	}
	evs := e.audit.since(n)
	if len(evs) < 1 || evs[0].Method != "ExportCryptoKeyVersion" || evs[0].Err != nil || evs[0].Resource != k.CryptoKeyVersion ||
		evs[0].Details["target"] != "salesforce" || evs[0].Details["always"] != "true" || evs[0].Details["test:principal"] != "app:sf" ||
		evs[0].Details["certificateSha256"] != k.CertificateSHA256 || len(k.CertificateSHA256) != 64 {
		t.Errorf("audit = %+v, want an ExportCryptoKeyVersion OK by app:sf with target salesforce", evs)
	}
	// Two fetches: the same DEK under fresh content encryption keys.
	dek2, _ := e.open(t, e.get(t, keyPath(k.KID), "sf", keySF), k.KID)
	if !bytes.Equal(dek, dek2) {
		t.Error("two fetches gave different DEKs")
	}
}

func TestFetchReplayDetection(t *testing.T) {
	e := newEnv(t)
	k := e.create(t, "fle", "")
	e.authz.allow(strings.TrimSuffix(k.CryptoKeyVersion, "/cryptoKeyVersions/1"))
	const nonce = "e5ab58fd2ced013f2a46d5c8144dd439"
	ri := k.KID + nonce

	tests := []struct {
		name   string
		path   string
		header []string
	}{
		{"path segment", keyPath(k.KID) + "/" + ri, nil},
		{"path segment of the nonce alone", keyPath(k.KID) + "/" + nonce, nil},
		{"query parameter", keyPath(k.KID) + "?requestIdentifier=" + url.QueryEscape(ri), nil},
		{"query parameter in another case", keyPath(k.KID) + "?RequestIdentifier=" + url.QueryEscape(ri), nil},
		{"header", keyPath(k.KID), []string{"RequestIdentifier", ri}},
		{"header in lower case", keyPath(k.KID), []string{"requestidentifier", "x-" + ri}},
		{"path and header agreeing", keyPath(k.KID) + "/" + ri, []string{"RequestIdentifier", nonce}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dek, h := e.open(t, e.get(t, tc.path, "sf", keySF, tc.header...), k.KID)
			want := map[string]string{"alg": "RSA-OAEP", "enc": "A256GCM", "kid": k.KID, "jti": nonce}
			if diff := cmp.Diff(want, h); diff != "" {
				t.Errorf("protected header (-want +got):\n%s", diff)
			}
			if len(dek) != 32 {
				t.Errorf("DEK of %d bytes", len(dek))
			}
		})
	}

	bad := []struct {
		name   string
		path   string
		header []string
	}{
		{"no nonce at the end", keyPath(k.KID) + "/" + nonce + "-x", nil},
		{"upper-case nonce", keyPath(k.KID) + "/" + strings.ToUpper(nonce), nil},
		{"too short", keyPath(k.KID) + "?requestIdentifier=abc", nil},
		{"two nonces that differ", keyPath(k.KID) + "/" + ri, []string{"RequestIdentifier", strings.Repeat("0", 32)}},
		{"too long", keyPath(k.KID), []string{"RequestIdentifier", strings.Repeat("a", 600)}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			n := e.audit.len()
			resp := e.get(t, tc.path, "sf", keySF, tc.header...)
			if _, st, _ := answer(t, resp); resp.StatusCode != http.StatusBadRequest || st != "INVALID_ARGUMENT" {
				t.Errorf("fetch = %d %s, want 400 INVALID_ARGUMENT", resp.StatusCode, st)
			}
			evs := e.audit.since(n)
			if len(evs) != 1 || evs[0].Method != salesforce.MethodFetch || kmserr.Code(evs[0].Err) != codes.InvalidArgument {
				t.Errorf("audit = %+v, want one SalesforceFetch INVALID_ARGUMENT", evs)
			}
		})
	}
}

func TestFetchCredentials(t *testing.T) {
	e := newEnv(t)
	k := e.create(t, "fle", "")
	e.authz.allow(strings.TrimSuffix(k.CryptoKeyVersion, "/cryptoKeyVersions/1"))

	tests := []struct {
		name      string
		set       func(r *http.Request)
		audited   bool
		principal string // of the audit entry
	}{
		{"no credential", func(r *http.Request) {}, true, "anonymous"},
		{"bearer API key", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+keySF) }, true, "anonymous"},
		{"wrong password", func(r *http.Request) { r.SetBasicAuth("sf", "custos_ak_sf_wrong") }, true, "anonymous"},
		{"another app's API key", func(r *http.Request) { r.SetBasicAuth("sf", keyOther) }, true, "app:other"},
		{"the app's key under another name", func(r *http.Request) { r.SetBasicAuth("other", keySF) }, true, "app:sf"},
		{"the admin token", func(r *http.Request) { r.SetBasicAuth("sf", "custos_admin_c2VjcmV0") }, true, "anonymous"},
		{"the admin token with an API key's shape", func(r *http.Request) { r.SetBasicAuth("sf", keyAdmin) }, true, "admin"},
		{"a credential that is not an API key", func(r *http.Request) { r.SetBasicAuth("sf", keyJWT) }, true, "app:sf"},
		{"an access token", func(r *http.Request) { r.SetBasicAuth("sf", "custos_at_abc.def") }, true, "anonymous"},
		{"empty username", func(r *http.Request) { r.SetBasicAuth("", keySF) }, true, "app:sf"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := e.audit.len()
			req, _ := http.NewRequest(http.MethodGet, e.srv.URL+keyPath(k.KID), nil)
			tc.set(req)
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, st, _ := answer(t, resp)
			if resp.StatusCode != http.StatusUnauthorized || st != "UNAUTHENTICATED" {
				t.Errorf("fetch = %d %s, want 401 UNAUTHENTICATED", resp.StatusCode, st)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != `Basic realm="custos"` {
				t.Errorf("WWW-Authenticate = %q", got)
			}
			for _, secret := range []string{keySF, keyOther, keyAdmin, "custos_admin_c2VjcmV0", "custos_ak_sf_wrong"} {
				if bytes.Contains(body, []byte(secret)) {
					t.Errorf("the answer %q echoes a credential", body)
				}
			}
			evs := e.audit.since(n)
			if !tc.audited {
				if len(evs) != 0 {
					t.Errorf("audit = %+v, want nothing", evs)
				}
				return
			}
			if len(evs) != 1 || evs[0].Method != salesforce.MethodFetch || kmserr.Code(evs[0].Err) != codes.Unauthenticated ||
				evs[0].Details["test:principal"] != tc.principal || evs[0].Details["kid"] != k.KID {
				t.Errorf("audit = %+v, want one SalesforceFetch UNAUTHENTICATED by %s", evs, tc.principal)
			}
		})
	}
	for _, tok := range e.authn.tokens() {
		if !strings.HasPrefix(tok, "custos_ak_") {
			t.Errorf("the authenticator was asked about %q, which is not an API key", tok)
		}
	}

	// A refusal for a kid that names nothing, by nobody, is not recorded.
	n := e.audit.len()
	resp := e.get(t, keyPath("982c375b-f46b-4423-8c2d-4d1a69152a0b"), "sf", "custos_ak_sf_wrong")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("fetch of an unknown kid with a bad key = %d, want 401", resp.StatusCode)
	}
	if evs := e.audit.since(n); len(evs) != 0 {
		t.Errorf("audit = %+v, want nothing", evs)
	}
	// The same with the username of a real app's key is recorded.
	resp = e.get(t, keyPath("982c375b-f46b-4423-8c2d-4d1a69152a0b"), "sf", keyOther)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("fetch with another app's key = %d, want 401", resp.StatusCode)
	}
	if evs := e.audit.since(n); len(evs) != 1 || evs[0].Details["username"] != "sf" || evs[0].Details["test:principal"] != "app:other" {
		t.Errorf("audit = %+v, want one entry by app:other claiming sf", evs)
	}
}

func TestFetchRefusals(t *testing.T) {
	e := newEnv(t)
	ok := e.create(t, "fle", "")
	okKey := strings.TrimSuffix(ok.CryptoKeyVersion, "/cryptoKeyVersions/1")
	e.authz.allow(okKey)
	noRole := e.create(t, "no-role", "")
	disabled := e.create(t, "disabled", e.rawKey(t, "disabled", true))
	e.authz.allow(ring + "/cryptoKeys/disabled")
	if _, err := e.svc.UpdateCryptoKeyVersion(e.admin, disabled.CryptoKeyVersion, kms.Disabled, []string{"state"}); err != nil {
		t.Fatal(err)
	}
	// A record for a key that is not exportable cannot be made through
	// Keys; write one as a tampering admin with storage access could.
	plain := e.rawKey(t, "plain", false)
	e.authz.allow(plain)
	notExportable := *ok
	notExportable.KID, notExportable.Name, notExportable.CryptoKeyVersion, notExportable.Endpoint = "11111111-2222-4333-8444-555555555555", "plain", plain+"/cryptoKeyVersions/1", ""
	writeRecord(t, e, &notExportable)

	tests := []struct {
		name   string
		path   string
		status int
		code   string
		method string // of the audit entry
	}{
		{"unknown kid", keyPath("982c375b-f46b-4423-8c2d-4d1a69152a0b"), 404, "NOT_FOUND", salesforce.MethodFetch},
		{"kid with characters Salesforce does not allow", keyPath("a%20b"), 404, "NOT_FOUND", salesforce.MethodFetch},
		{"app without the export permission", keyPath(noRole.KID), 403, "PERMISSION_DENIED", "ExportCryptoKeyVersion"},
		{"disabled version", keyPath(disabled.KID), 403, "PERMISSION_DENIED", "ExportCryptoKeyVersion"},
		{"key not exportable", keyPath(notExportable.KID), 403, "PERMISSION_DENIED", "ExportCryptoKeyVersion"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := e.audit.len()
			resp := e.get(t, tc.path, "sf", keySF)
			if _, st, msg := answer(t, resp); resp.StatusCode != tc.status || st != tc.code {
				t.Errorf("fetch = %d %s (%s), want %d %s", resp.StatusCode, st, msg, tc.status, tc.code)
			}
			evs := e.audit.since(n)
			if len(evs) != 1 || evs[0].Method != tc.method || evs[0].Err == nil || evs[0].Details["test:principal"] != "app:sf" {
				t.Errorf("audit = %+v, want one refused %s by app:sf", evs, tc.method)
			}
		})
	}

	// Other methods and paths.
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequest(m, e.srv.URL+keyPath(ok.KID), nil)
		req.SetBasicAuth("sf", keySF)
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET" {
			t.Errorf("%s = %d (Allow %q), want 405 with Allow: GET", m, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
	for _, p := range []string{"/salesforce/", salesforce.KeysPath, salesforce.KeysPath + "/", "/salesforce/v2/keys/" + ok.KID} {
		if resp := e.get(t, p, "sf", keySF); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, resp.StatusCode)
		}
	}

	// A refusal that cannot be recorded is 503, and so is a fetch.
	e.audit.mu.Lock()
	e.audit.fail = true
	e.audit.mu.Unlock()
	for _, p := range []string{keyPath("982c375b-f46b-4423-8c2d-4d1a69152a0b"), keyPath(ok.KID)} {
		resp := e.get(t, p, "sf", keySF)
		if body, st, _ := answer(t, resp); resp.StatusCode != http.StatusServiceUnavailable || st != "UNAVAILABLE" || bytes.Contains(body, []byte("jwe")) {
			t.Errorf("GET %s without audit = %d %s, want 503 UNAVAILABLE", p, resp.StatusCode, st)
		}
	}
}

// writeRecord stores k directly, signed, as Keys would.
func writeRecord(t *testing.T, e *env, k *salesforce.Key) {
	t.Helper()
	rec, err := signed.Encode(e.ks, salesforce.KindKey, "salesforce/keys/"+k.KID, "salesforce/keys", 0, k)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Update(t.Context(), func(tx storage.Tx) error { return tx.Create(t.Context(), rec) }); err != nil {
		t.Fatal(err)
	}
}
