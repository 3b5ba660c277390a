// SPDX-License-Identifier: Apache-2.0

package admin_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/auth/credentials"
	kms "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	jose "github.com/go-jose/go-jose/v4"
	"google.golang.org/api/option"

	"github.com/custos-kms/custos/internal/auth"
	"github.com/custos-kms/custos/internal/jwtsign"
)

// newKeyFile creates an app and a google-json key for it, through the
// admin API, and returns the key file as the API answered it.
func (e *appsEnv) newKeyFile(app string) []byte {
	e.t.Helper()
	if code, body := e.do("POST", "/admin/v1/apps", appsAdminToken, map[string]string{"name": app, "project": "acme"}); code != 200 {
		e.t.Fatalf("create app = %d %v", code, body)
	}
	code, file := e.doRaw("POST", "/admin/v1/apps/"+app+"/keys", appsAdminToken, map[string]string{"format": "google-json"})
	if code != 200 {
		e.t.Fatalf("create key = %d %s", code, file)
	}
	return file
}

// TestTokenEndpointOfficialClient: the official auth library, given the key
// file, fetches an access token from its token_uri (the JWT bearer grant),
// and Custos accepts that token.
func TestTokenEndpointOfficialClient(t *testing.T) {
	e := newAppsEnv(t)
	file := e.newKeyFile("billing")
	creds, err := credentials.DetectDefault(&credentials.DetectOptions{
		CredentialsJSON: file,
		Scopes:          []string{"https://www.googleapis.com/auth/cloudkms"},
	})
	if err != nil {
		t.Fatalf("DetectDefault = %v", err)
	}
	tok, err := creds.Token(context.Background())
	if err != nil {
		t.Fatalf("Token (from %s/oauth2/token) = %v", e.srv.URL, err)
	}
	if !strings.HasPrefix(tok.Value, auth.AccessTokenPrefix) || tok.Type != "Bearer" || time.Until(tok.Expiry) < 59*time.Minute {
		t.Fatalf("Token = type %q, expiry %v, value prefix %q", tok.Type, tok.Expiry, tok.Value[:10])
	}
	c, err := e.authn.Authenticate(context.Background(), auth.Request{Token: tok.Value})
	if err != nil {
		t.Fatalf("Authenticate(access token) = %v", err)
	}
	if c.Principal != "app:billing" || c.AuthMethod != auth.MethodOAuth2Token || c.App != "billing" {
		t.Errorf("Authenticate(access token) = %+v", c)
	}
	// Through HTTP: authenticated, without permission on the admin API.
	if code, _ := e.do("GET", "/admin/v1/apps", tok.Value, nil); code != 403 {
		t.Errorf("GET /admin/v1/apps with the access token = %d, want 403", code)
	}
}

// TestOfficialKMSRESTClient: the official Cloud KMS REST client, given only
// the key file and the endpoint, authenticates to Custos unmodified (it
// uses the token endpoint), and revoking the key refuses it at once.
func TestOfficialKMSRESTClient(t *testing.T) {
	e := newAppsEnv(t)
	const ring = "projects/acme/locations/global/keyRings/ring"
	e.handleKMS("GET /v1/"+ring, `{"name":"`+ring+`","createTime":"2026-01-01T00:00:00Z"}`)
	file := e.newKeyFile("billing")
	ctx := context.Background()
	client, err := kms.NewKeyManagementRESTClient(ctx,
		option.WithEndpoint(e.srv.URL),
		option.WithAuthCredentialsJSON(option.ServiceAccount, file))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	kr, err := client.GetKeyRing(ctx, &kmspb.GetKeyRingRequest{Name: ring})
	if err != nil {
		t.Fatalf("GetKeyRing = %v", err)
	}
	if kr.GetName() != ring {
		t.Errorf("GetKeyRing = %v", kr)
	}
	e.mu.Lock()
	seen := e.seen
	e.mu.Unlock()
	if len(seen) != 1 || seen[0].Principal != "app:billing" {
		t.Fatalf("callers seen = %+v", seen)
	}
	// The REST client does not enable self-signed JWTs: it uses token_uri.
	if seen[0].AuthMethod != auth.MethodOAuth2Token {
		t.Errorf("the REST client authenticated with %s, want %s", seen[0].AuthMethod, auth.MethodOAuth2Token)
	}

	var f auth.ServiceAccountKey
	json.Unmarshal(file, &f)
	if _, err := e.apps.RevokeKey(e.authCtx(), "billing", f.PrivateKeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := client.GetKeyRing(ctx, &kmspb.GetKeyRingRequest{Name: ring}); err == nil {
		t.Errorf("GetKeyRing after revoking the key succeeded")
	}
}

// assertion signs a JWT bearer grant assertion with the key file's key.
func assertion(t *testing.T, file []byte, change map[string]any) string {
	t.Helper()
	f, priv, err := auth.ParseServiceAccountKey(file)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := map[string]any{
		"iss":   f.ClientEmail,
		"scope": "https://www.googleapis.com/auth/cloud-platform",
		"aud":   f.TokenURI,
		"iat":   now.Unix(),
		"exp":   now.Add(time.Hour).Unix(),
	}
	for k, v := range change {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	tok, err := jwtsign.Sign(jose.RS256, priv, f.PrivateKeyID, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTokenEndpoint(t *testing.T) {
	e := newAppsEnv(t)
	file := e.newKeyFile("billing")
	post := func(contentType, body string) (int, http.Header, map[string]any) {
		t.Helper()
		resp, err := e.srv.Client().Post(e.srv.URL+"/oauth2/token", contentType, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("answer %q is not JSON", raw)
		}
		return resp.StatusCode, resp.Header, out
	}
	form := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	const formType = "application/x-www-form-urlencoded"

	code, hdr, out := post(formType, form("grant_type", auth.GrantTypeJWTBearer, "assertion", assertion(t, file, nil)))
	tok, _ := out["access_token"].(string)
	if code != 200 || appsKeysOf(out) != "access_token,expires_in,token_type" || out["token_type"] != "Bearer" || out["expires_in"] != 3599.0 || !strings.HasPrefix(tok, auth.AccessTokenPrefix) {
		t.Fatalf("token = %d %v", code, out)
	}
	if hdr.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", hdr.Get("Cache-Control"))
	}
	if _, err := e.authn.Authenticate(context.Background(), auth.Request{Token: tok}); err != nil {
		t.Errorf("Authenticate(issued token) = %v", err)
	}

	for _, tc := range []struct {
		name, contentType, body, want string
	}{
		{"JSON body", "application/json", `{"grant_type":"x"}`, "invalid_request"},
		{"no grant_type", formType, form("assertion", assertion(t, file, nil)), "invalid_request"},
		{"client_credentials", formType, form("grant_type", "client_credentials"), "unsupported_grant_type"},
		{"refresh_token", formType, form("grant_type", "refresh_token", "refresh_token", "x"), "unsupported_grant_type"},
		{"no assertion", formType, form("grant_type", auth.GrantTypeJWTBearer), "invalid_request"},
		{"garbage assertion", formType, form("grant_type", auth.GrantTypeJWTBearer, "assertion", "a.b.c"), "invalid_grant"},
		{"an API key as assertion", formType, form("grant_type", auth.GrantTypeJWTBearer, "assertion", "custos_ak_x"), "invalid_grant"},
		{"aud not the token URL", formType, form("grant_type", auth.GrantTypeJWTBearer, "assertion", assertion(t, file, map[string]any{"aud": e.srv.URL})), "invalid_grant"},
		{"expired", formType, form("grant_type", auth.GrantTypeJWTBearer, "assertion", assertion(t, file, map[string]any{"iat": time.Now().Add(-3 * time.Hour).Unix(), "exp": time.Now().Add(-2 * time.Hour).Unix()})), "invalid_grant"},
		{"impersonation", formType, form("grant_type", auth.GrantTypeJWTBearer, "assertion", assertion(t, file, map[string]any{"sub": "boss@example.com"})), "invalid_grant"},
		{"no scope", formType, form("grant_type", auth.GrantTypeJWTBearer, "assertion", assertion(t, file, map[string]any{"scope": nil})), "invalid_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, out := post(tc.contentType, tc.body)
			if code != 400 || out["error"] != tc.want {
				t.Errorf("token = %d %v, want 400 %s", code, out, tc.want)
			}
			if d, _ := out["error_description"].(string); strings.Contains(d, "eyJ") {
				t.Errorf("error_description echoes the assertion: %q", d)
			}
		})
	}

	var f auth.ServiceAccountKey
	json.Unmarshal(file, &f)
	e.apps.RevokeKey(e.authCtx(), "billing", f.PrivateKeyID)
	code, _, out = post(formType, form("grant_type", auth.GrantTypeJWTBearer, "assertion", assertion(t, file, nil)))
	if code != 400 || out["error"] != "invalid_grant" || !strings.Contains(out["error_description"].(string), "revoked") {
		t.Errorf("token with a revoked key = %d %v", code, out)
	}
	if _, err := e.authn.Authenticate(context.Background(), auth.Request{Token: tok}); err == nil {
		t.Errorf("an access token of a revoked key still authenticates")
	}
}
