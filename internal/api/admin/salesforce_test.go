// SPDX-License-Identifier: Apache-2.0

package admin_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/custos-kms/custos/internal/api/admin"
	"github.com/custos-kms/custos/internal/auth"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/storage/sqlite/sqlitetest"
)

// sfAuthn accepts one API key, of app:exporter.
type sfAuthn struct{}

const sfAPIKey = "custos_ak_exporter_secret"

func (sfAuthn) Authenticate(_ context.Context, req auth.Request) (*kms.Caller, error) {
	if req.Token == sfAPIKey {
		return &kms.Caller{Principal: "app:exporter", App: "exporter", AuthMethod: auth.MethodAPIKey}, nil
	}
	return nil, kmserr.Unauthenticated("the API key is unknown")
}

func TestSalesforceRoutes(t *testing.T) {
	st, ks := sqlitetest.Open(t, 5)
	au := &byokAudit{}
	svc := kms.New(kms.Config{Store: st, Keystore: ks, Authorizer: byokAuthz{}, Auditor: au})
	h := admin.New(iamRouteAuthenticate)
	fetch := admin.RegisterSalesforce(h, admin.SalesforceConfig{
		Store: st, Signer: ks, KMS: svc, Authenticator: sfAuthn{}, Auditor: au, PublicURL: "https://kms.example.com",
	})
	mux := http.NewServeMux()
	mux.Handle("/admin/", h)
	mux.Handle(admin.SalesforcePath, fetch)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "sfdc"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))

	call := func(t *testing.T, method, path, token, body string) (int, map[string]any) {
		t.Helper()
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, srv.URL+path, r)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("%s %s: answer %q is not JSON", method, path, data)
		}
		return resp.StatusCode, out
	}
	body, _ := json.Marshal(map[string]string{"name": "fle", "certificate": certPEM})

	// Only the admin manages keys.
	for _, tok := range []string{"app:exporter", ""} {
		if code, out := call(t, "POST", "/admin/v1/salesforce/keys", tok, string(body)); code != 403 && code != 401 {
			t.Errorf("create by %q = %d %v, want 401 or 403", tok, code, out)
		}
	}
	for _, tc := range []struct{ name, body string }{
		{"unknown field", `{"name":"fle","certificate":"x","extra":1}`},
		{"no name", `{"certificate":` + string(mustJSON(certPEM)) + `}`},
		{"no certificate", `{"name":"fle"}`},
		{"not a certificate", `{"name":"fle","certificate":"hello"}`},
	} {
		if code, out := call(t, "POST", "/admin/v1/salesforce/keys", "admin", tc.body); code != 400 {
			t.Errorf("create with %s = %d %v, want 400", tc.name, code, out)
		}
	}

	code, k := call(t, "POST", "/admin/v1/salesforce/keys", "admin", string(body))
	if code != 200 {
		t.Fatalf("create = %d %v", code, k)
	}
	kid, _ := k["kid"].(string)
	for _, f := range []string{"kid", "name", "cryptoKeyVersion", "certificate", "certificateSha256", "certificateSubject", "certificateNotAfter", "rsaBits", "createTime", "endpoint"} {
		if _, ok := k[f]; !ok {
			t.Errorf("the key lacks %q: %v", f, k)
		}
	}
	if k["endpoint"] != "https://kms.example.com/salesforce/v1/keys" {
		t.Errorf("endpoint = %v", k["endpoint"])
	}
	if code, out := call(t, "POST", "/admin/v1/salesforce/keys", "admin", string(body)); code != 409 {
		t.Errorf("create again = %d %v, want 409", code, out)
	}
	for _, id := range []string{kid, "fle"} {
		if code, out := call(t, "GET", "/admin/v1/salesforce/keys/"+id, "admin", ""); code != 200 || out["kid"] != kid {
			t.Errorf("get %s = %d %v", id, code, out)
		}
	}
	if code, out := call(t, "GET", "/admin/v1/salesforce/keys", "admin", ""); code != 200 || len(out["keys"].([]any)) != 1 {
		t.Errorf("list = %d %v", code, out)
	}
	if code, out := call(t, "GET", "/admin/v1/salesforce/keys", "app:exporter", ""); code != 403 {
		t.Errorf("list by an app = %d %v, want 403", code, out)
	}

	// The returned handler serves Salesforce's callout (the authorizer
	// lets app:exporter export anything).
	req, _ := http.NewRequest("GET", srv.URL+"/salesforce/v1/keys/"+kid, nil)
	req.SetBasicAuth("exporter", sfAPIKey)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct{ KID, JWE string }
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 || got.KID != kid {
		t.Fatalf("fetch = %d %+v %v", resp.StatusCode, got, err)
	}
	obj, err := jose.ParseEncrypted(got.JWE, []jose.KeyAlgorithm{jose.RSA_OAEP}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		t.Fatal(err)
	}
	if dek, err := obj.Decrypt(priv); err != nil || len(dek) != 32 {
		t.Errorf("the JWE holds %d bytes (%v), want a 32-byte DEK", len(dek), err)
	}

	if code, out := call(t, "DELETE", "/admin/v1/salesforce/keys/fle", "admin", ""); code != 200 || len(out) != 0 {
		t.Errorf("delete = %d %v, want 200 {}", code, out)
	}
	if code, out := call(t, "GET", "/admin/v1/salesforce/keys/"+kid, "admin", ""); code != 404 {
		t.Errorf("get after delete = %d %v, want 404", code, out)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
