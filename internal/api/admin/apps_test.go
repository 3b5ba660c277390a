// SPDX-License-Identifier: Apache-2.0

package admin_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custos-kms/custos/internal/api/admin"
	"github.com/custos-kms/custos/internal/auth"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage/sqlite/sqlitetest"
)

const appsAdminToken = "custos_admin_rest-test"

type appsAllowAdmin struct{}

func (appsAllowAdmin) Authorize(ctx context.Context, perm string, res resource.Name) error {
	if c := kms.CallerFrom(ctx); c != nil && c.Admin {
		return nil
	}
	return kmserr.PermissionDenied("Permission '%s' denied on resource '%s' (or it may not exist).", perm, res)
}

type appsEnv struct {
	t     *testing.T
	apps  *auth.Apps
	authn *auth.Authenticator
	srv   *httptest.Server
	mux   *http.ServeMux // more routes for a test (the KMS API's)
	mu    sync.Mutex
	seen  []*kms.Caller // callers of the routes added with handleKMS
}

// newAppsEnv serves the admin API and the token endpoint on an httptest
// server whose URL is the public URL, over a real SQLite store and keystore.
func newAppsEnv(t *testing.T) *appsEnv {
	t.Helper()
	e := &appsEnv{t: t, mux: http.NewServeMux()}
	e.srv = httptest.NewServer(e.mux)
	t.Cleanup(e.srv.Close)
	st, ks := sqlitetest.Open(t, 9)
	var err error
	e.apps, err = auth.NewApps(auth.AppsConfig{Store: st, Keystore: ks, Authorizer: appsAllowAdmin{}, PublicURL: e.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	e.authn = auth.NewWithApps(appsAdminToken, e.apps)
	h := admin.New(e.authenticate)
	admin.RegisterApps(h, e.apps)
	admin.RegisterToken(h, e.apps)
	e.mux.Handle("/admin/", h)
	e.mux.Handle("/oauth2/", h)
	return e
}

func (e *appsEnv) authenticate(r *http.Request) (context.Context, error) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	c, err := e.authn.Authenticate(r.Context(), auth.Request{Token: tok, ClientAddr: r.RemoteAddr})
	if err != nil {
		return nil, err
	}
	return kms.WithCaller(r.Context(), c), nil
}

// handleKMS serves a stand-in for a KMS API route: it authenticates the
// request as the real server does, records the caller, and answers body.
func (e *appsEnv) handleKMS(pattern, body string) {
	e.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		ctx, err := e.authenticate(r)
		if err != nil {
			http.Error(w, `{"error":{"code":401,"message":"unauthenticated","status":"UNAUTHENTICATED"}}`, http.StatusUnauthorized)
			return
		}
		e.mu.Lock()
		e.seen = append(e.seen, kms.CallerFrom(ctx))
		e.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	})
}

// do sends a request with the token ("" for none) and decodes the JSON
// answer into a map; it returns the status code too.
func (e *appsEnv) do(method, path, token string, body any) (int, map[string]any) {
	e.t.Helper()
	code, raw := e.doRaw(method, path, token, body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			e.t.Fatalf("%s %s: answer is not a JSON object: %q", method, path, raw)
		}
	}
	return code, out
}

func (e *appsEnv) doRaw(method, path, token string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

func appsKeysOf(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

func TestAppsREST(t *testing.T) {
	e := newAppsEnv(t)
	code, app := e.do("POST", "/admin/v1/apps", appsAdminToken, map[string]string{"name": "billing", "project": "acme", "googleServiceAccount": "ekm@p.iam.gserviceaccount.com"})
	if code != 200 || appsKeysOf(app) != "createTime,disabled,googleServiceAccount,name,project" ||
		app["name"] != "billing" || app["project"] != "acme" || app["googleServiceAccount"] != "ekm@p.iam.gserviceaccount.com" || app["disabled"] != false {
		t.Fatalf("create = %d %v", code, app)
	}
	if _, err := time.Parse(time.RFC3339Nano, app["createTime"].(string)); err != nil {
		t.Errorf("createTime %v: %v", app["createTime"], err)
	}
	e.do("POST", "/admin/v1/apps", appsAdminToken, map[string]string{"name": "loner"})

	for _, tc := range []struct {
		name, method, path, token string
		body                      any
		want                      int
	}{
		{"create again", "POST", "/admin/v1/apps", appsAdminToken, map[string]string{"name": "billing"}, 409},
		{"create with a bad name", "POST", "/admin/v1/apps", appsAdminToken, map[string]string{"name": "Bad"}, 400},
		{"create with an unknown field", "POST", "/admin/v1/apps", appsAdminToken, map[string]string{"nom": "x"}, 400},
		{"get missing", "GET", "/admin/v1/apps/missing", appsAdminToken, nil, 404},
		{"no credential", "GET", "/admin/v1/apps", "", nil, 401},
		{"bad credential", "GET", "/admin/v1/apps", "custos_ak_nope", nil, 401},
		{"unknown verb", "POST", "/admin/v1/apps/billing:explode", appsAdminToken, nil, 404},
		{"unknown key verb", "POST", "/admin/v1/apps/billing/keys/" + strings.Repeat("a", 40) + ":explode", appsAdminToken, nil, 404},
		{"key without format", "POST", "/admin/v1/apps/billing/keys", appsAdminToken, map[string]string{}, 400},
		{"key of unknown format", "POST", "/admin/v1/apps/billing/keys", appsAdminToken, map[string]string{"format": "pgp"}, 400},
		{"revoke a missing key", "POST", "/admin/v1/apps/billing/keys/" + strings.Repeat("a", 40) + "/revoke", appsAdminToken, nil, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := e.do(tc.method, tc.path, tc.token, tc.body)
			if code != tc.want {
				t.Errorf("%s %s = %d %v, want %d", tc.method, tc.path, code, body, tc.want)
			}
			if _, ok := body["error"]; !ok {
				t.Errorf("%s %s: answer %v has no error envelope", tc.method, tc.path, body)
			}
		})
	}

	code, list := e.do("GET", "/admin/v1/apps", appsAdminToken, nil)
	if apps, _ := list["apps"].([]any); code != 200 || len(apps) != 2 || apps[0].(map[string]any)["name"] != "billing" {
		t.Errorf("list = %d %v", code, list)
	}
	code, list = e.do("GET", "/admin/v1/apps?project=acme", appsAdminToken, nil)
	if apps, _ := list["apps"].([]any); code != 200 || len(apps) != 1 {
		t.Errorf("list ?project=acme = %d %v", code, list)
	}
	code, list = e.do("GET", "/admin/v1/apps?project=nobody", appsAdminToken, nil)
	if apps, ok := list["apps"].([]any); code != 200 || !ok || len(apps) != 0 {
		t.Errorf("list ?project=nobody = %d %v, want an empty list", code, list)
	}
	if code, got := e.do("GET", "/admin/v1/apps/billing", appsAdminToken, nil); code != 200 || got["createTime"] != app["createTime"] {
		t.Errorf("get = %d %v", code, got)
	}

	for _, tc := range []struct {
		path     string
		disabled bool
	}{
		{"/admin/v1/apps/billing:disable", true},
		{"/admin/v1/apps/billing/enable", false},
		{"/admin/v1/apps/billing/disable", true},
		{"/admin/v1/apps/billing:enable", false},
	} {
		if code, got := e.do("POST", tc.path, appsAdminToken, nil); code != 200 || got["disabled"] != tc.disabled {
			t.Errorf("POST %s = %d %v, want disabled %v", tc.path, code, got, tc.disabled)
		}
	}

	// Keys: each format answers its credential once.
	code, ak := e.do("POST", "/admin/v1/apps/billing/keys", appsAdminToken, map[string]string{"format": "api-key"})
	apiKey, _ := ak["apiKey"].(string)
	if code != 200 || appsKeysOf(ak) != "apiKey,app,keyId" || ak["app"] != "billing" || !strings.HasPrefix(apiKey, "custos_ak_"+ak["keyId"].(string)+"_") {
		t.Fatalf("create api-key = %d %v", code, ak)
	}
	code, file := e.do("POST", "/admin/v1/apps/billing/keys", appsAdminToken, map[string]string{"format": "google-json"})
	if code != 200 || appsKeysOf(file) != "client_email,client_id,private_key,private_key_id,project_id,token_uri,type" ||
		file["type"] != "service_account" || file["token_uri"] != e.srv.URL+"/oauth2/token" || file["client_email"] != "billing@apps.custos.local" {
		t.Fatalf("create google-json = %d %v", code, appsKeysOf(file))
	}
	fileBytes, _ := json.Marshal(file)
	if _, _, err := auth.ParseServiceAccountKey(fileBytes); err != nil {
		t.Errorf("the key file does not parse: %v", err)
	}
	certPEM := appsTestCert(t)
	code, mk := e.do("POST", "/admin/v1/apps/billing/keys", appsAdminToken, map[string]string{"format": "mtls", "certificate": string(certPEM)})
	if code != 200 || appsKeysOf(mk) != "app,fingerprint,keyId" || len(mk["fingerprint"].(string)) != 64 {
		t.Fatalf("create mtls = %d %v", code, mk)
	}
	if code, _ := e.do("POST", "/admin/v1/apps/billing/keys", appsAdminToken, map[string]string{"format": "api-key", "certificate": string(certPEM)}); code != 400 {
		t.Errorf("create api-key with a certificate = %d, want 400", code)
	}

	code, raw := e.doRaw("GET", "/admin/v1/apps/billing/keys", appsAdminToken, nil)
	if code != 200 || bytes.Contains(raw, []byte(apiKey[len(apiKey)-20:])) || bytes.Contains(raw, []byte("PRIVATE")) {
		t.Fatalf("list keys = %d %s (no secret may show)", code, raw)
	}
	var keys struct {
		Keys []map[string]any `json:"keys"`
	}
	json.Unmarshal(raw, &keys)
	if len(keys.Keys) != 3 {
		t.Fatalf("list keys = %s", raw)
	}
	wantTypes := map[string]string{ak["keyId"].(string): "api-key", file["private_key_id"].(string): "google-json", mk["keyId"].(string): "mtls"}
	for _, k := range keys.Keys {
		if wantTypes[k["keyId"].(string)] != k["type"] || k["revoked"] != false || k["createTime"] == "" {
			t.Errorf("listed key %v", k)
		}
	}

	// The API key works until it is revoked; then it is refused at once.
	if code, _ := e.do("GET", "/admin/v1/apps", apiKey, nil); code != 403 {
		t.Errorf("list apps with the app's API key = %d, want 403 (authenticated, no permission)", code)
	}
	if code, got := e.do("POST", "/admin/v1/apps/billing/keys/"+ak["keyId"].(string)+"/revoke", appsAdminToken, nil); code != 200 || got["revoked"] != true || got["revokeTime"] == "" {
		t.Errorf("revoke = %d %v", code, got)
	}
	if code, _ := e.do("GET", "/admin/v1/apps", apiKey, nil); code != 401 {
		t.Errorf("list apps with a revoked API key = %d, want 401", code)
	}
	if code, got := e.do("POST", "/admin/v1/apps/billing/keys/"+mk["keyId"].(string)+":revoke", appsAdminToken, nil); code != 200 || got["revoked"] != true {
		t.Errorf("revoke (colon form) = %d %v", code, got)
	}

	if code, got := e.do("DELETE", "/admin/v1/apps/billing", appsAdminToken, nil); code != 200 || len(got) != 0 {
		t.Errorf("delete = %d %v, want {}", code, got)
	}
	if code, _ := e.do("GET", "/admin/v1/apps/billing", appsAdminToken, nil); code != 404 {
		t.Errorf("get after delete = %d, want 404", code)
	}
	if code, _ := e.do("GET", "/admin/v1/apps/billing/keys", appsAdminToken, nil); code != 404 {
		t.Errorf("list keys after delete = %d, want 404", code)
	}
}

func appsTestCert(t *testing.T) []byte {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "billing-client"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// authCtx is the admin's context, for calls made directly on Apps.
func (e *appsEnv) authCtx() context.Context {
	c, err := e.authn.Authenticate(context.Background(), auth.Request{Token: appsAdminToken})
	if err != nil {
		e.t.Fatal(err)
	}
	return kms.WithCaller(context.Background(), c)
}
