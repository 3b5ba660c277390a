// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	authcreds "cloud.google.com/go/auth/credentials"
	kms "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// kmsScope is the OAuth2 scope of Cloud KMS.
const kmsScope = "https://www.googleapis.com/auth/cloudkms"

// credPlaintext is what the credential tests encrypt.
var credPlaintext = []byte("credentials")

// credFixture is what each credential test sets up on its server: a key
// ring whose key the app under test may use, and another it may not.
type credFixture struct {
	admin httpTarget
	token string // the admin token
	app   string // the app under test
	ok    string // a key in the key ring where app is cryptoKeyEncrypterDecrypter
	other string // a key in a key ring where app has no role
}

// setupCredFixture creates the key rings and keys through REST as the admin,
// the app (home project cred), its role on the first key ring, and turns
// data-access audit on for the project so that each use records how the app
// authenticated.
func setupCredFixture(t *testing.T, h httpTarget, token, app string) *credFixture {
	t.Helper()
	f := &credFixture{admin: h, token: token, app: app}
	loc := "/v1/projects/cred/locations/global"
	for _, ring := range []string{"ok", "other"} {
		h.admin(t, token, "POST", loc+"/keyRings?keyRingId="+ring, "{}")
		h.admin(t, token, "POST", loc+"/keyRings/"+ring+"/cryptoKeys?cryptoKeyId=k", `{"purpose":"ENCRYPT_DECRYPT"}`)
	}
	f.ok = "projects/cred/locations/global/keyRings/ok/cryptoKeys/k"
	f.other = "projects/cred/locations/global/keyRings/other/cryptoKeys/k"
	h.mustCreateApp(t, token, app, "cred")
	h.mustSetPolicy(t, token, "projects/cred/locations/global/keyRings/ok", map[string][]string{
		"roles/cloudkms.cryptoKeyEncrypterDecrypter": {"app:" + app},
	})
	h.admin(t, token, "PUT", "/admin/v1/auditConfig/projects/cred", `{"dataAccess":true}`)
	return f
}

// wantAccess checks that c, calling as the app, may encrypt with the key of
// its key ring and is refused the other, and returns how the app
// authenticated for the allowed call, as the audit log says. If authMethod
// is not "", that must be it.
func (f *credFixture) wantAccess(t *testing.T, c *kms.KeyManagementClient, authMethod string) string {
	t.Helper()
	ctx := testContext(t)
	before := f.admin.auditHead(t, f.token)
	if _, err := c.Encrypt(ctx, &kmspb.EncryptRequest{Name: f.ok, Plaintext: credPlaintext}); err != nil {
		t.Fatalf("Encrypt(%s) as %s = %v, want success", f.ok, f.app, err)
	}
	_, err := c.Encrypt(ctx, &kmspb.EncryptRequest{Name: f.other, Plaintext: credPlaintext})
	wantCode(t, "Encrypt("+f.other+") as "+f.app, err, codes.PermissionDenied)
	var got []string
	for _, e := range f.admin.auditAfter(t, f.token, before) {
		if e.Method == "Encrypt" && e.Principal == "app:"+f.app && e.Resource == f.ok && e.Status == "OK" {
			got = append(got, e.AuthMethod)
		}
	}
	if len(got) != 1 {
		t.Errorf("the audit log has %d entries of Encrypt(%s) by app:%s, with data-access audit on, want 1 (auth methods %q)", len(got), f.ok, f.app, got)
		return ""
	}
	if authMethod != "" && got[0] != authMethod {
		t.Errorf("Encrypt(%s) by app:%s authenticated with %q, want %q", f.ok, f.app, got[0], authMethod)
	}
	return got[0]
}

// wantUnauthenticated checks that c's calls are refused UNAUTHENTICATED.
func (f *credFixture) wantUnauthenticated(t *testing.T, c *kms.KeyManagementClient, what string) {
	t.Helper()
	_, err := c.Encrypt(testContext(t), &kmspb.EncryptRequest{Name: f.ok, Plaintext: credPlaintext})
	wantCode(t, "Encrypt("+f.ok+") "+what, err, codes.Unauthenticated)
}

// restEncrypt encrypts over raw REST and returns the answer.
func (f *credFixture) restEncrypt(t *testing.T, h httpTarget, name, token string) httpAnswer {
	t.Helper()
	body := fmt.Sprintf(`{"plaintext":%q}`, base64.StdEncoding.EncodeToString(credPlaintext))
	return h.call(t, "POST", "/v1/"+name+":encrypt", body, token)
}

// wantAnswer checks an answer's HTTP status and, for an error, the status of
// its JSON error envelope.
func wantAnswer(t *testing.T, what string, a httpAnswer, code int, errStatus string) {
	t.Helper()
	if a.status != code || errStatus != "" && a.errorStatus() != errStatus {
		t.Errorf("%s = %d %s, want %d %s", what, a.status, a.body, code, errStatus)
	}
}

// serviceAccountFile is the part of a key file the tests read.
type serviceAccountFile struct {
	Type           string `json:"type"`
	ProjectID      string `json:"project_id"`
	PrivateKeyID   string `json:"private_key_id"`
	PrivateKey     string `json:"private_key"`
	ClientEmail    string `json:"client_email"`
	ClientID       string `json:"client_id"`
	TokenURI       string `json:"token_uri"`
	UniverseDomain string `json:"universe_domain"`
}

func parseKeyFile(t *testing.T, file []byte) (serviceAccountFile, *rsa.PrivateKey) {
	t.Helper()
	var sa serviceAccountFile
	if err := json.Unmarshal(file, &sa); err != nil {
		t.Fatalf("the key file is not JSON: %v\n%s", err, file)
	}
	block, rest := pem.Decode([]byte(sa.PrivateKey))
	if block == nil || block.Type != "PRIVATE KEY" || strings.TrimSpace(string(rest)) != "" {
		t.Fatalf("private_key is not one PEM PRIVATE KEY (PKCS#8) block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("private_key: x509.ParsePKCS8PrivateKey = %v", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("private_key is a %T, want an RSA key", k)
	}
	return sa, rk
}

// signAssertion signs a JWT-bearer assertion for the token endpoint, as
// Google's libraries do: RS256, kid, iss = client_email, aud = token_uri.
func signAssertion(t *testing.T, sa serviceAccountFile, key *rsa.PrivateKey, scope string) string {
	t.Helper()
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	now := time.Now().Unix()
	signed := enc(map[string]string{"alg": "RS256", "typ": "JWT", "kid": sa.PrivateKeyID}) + "." +
		enc(map[string]any{"iss": sa.ClientEmail, "scope": scope, "aud": sa.TokenURI, "iat": now, "exp": now + 3600})
	d := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// postToken posts a JWT-bearer grant to the token endpoint.
func postToken(t *testing.T, base, grantType, assertion string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {grantType}, "assertion": {assertion}}
	req, err := http.NewRequestWithContext(testContext(t), "POST", base+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /oauth2/token = %v", err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("POST /oauth2/token = %d with a body that is not JSON: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, m
}

const jwtBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// TestCredentials authenticates apps with each kind of credential through
// the official clients and raw HTTP: API keys, a service-account key file
// (through the OAuth2 token endpoint and as self-signed JWTs, over REST and
// over gRPC with TLS), and client certificates (mTLS).
func TestCredentials(t *testing.T) {
	t.Parallel()
	t.Run("API keys", func(t *testing.T) {
		t.Parallel()
		testAPIKeys(t)
	})
	t.Run("service-account key file over REST", func(t *testing.T) {
		t.Parallel()
		testKeyFileREST(t)
	})
	t.Run("service-account key file over gRPC with TLS", func(t *testing.T) {
		t.Parallel()
		testKeyFileGRPC(t)
	})
	t.Run("mutual TLS", func(t *testing.T) {
		t.Parallel()
		testMutualTLS(t)
	})
}

func testAPIKeys(t *testing.T) {
	s := startServer(t)
	h := s.plainTarget()
	f := setupCredFixture(t, h, s.token, "keyed")
	keyID, key := h.mustAPIKey(t, s.token, "keyed")
	if !strings.HasPrefix(key, "custos_ak_"+keyID+"_") {
		t.Errorf("API key %q does not start with custos_ak_%s_", key, keyID)
	}

	t.Run("an API key of an app with the role is allowed, and only where the role is", func(t *testing.T) {
		f.wantAccess(t, s.grpcClientAs(t, key), "api-key")
		f.wantAccess(t, s.restClientAs(t, key), "api-key")
		wantAnswer(t, "POST :encrypt with the API key", f.restEncrypt(t, h, f.ok, key), http.StatusOK, "")
		wantAnswer(t, "POST :encrypt on another key ring with the API key", f.restEncrypt(t, h, f.other, key), http.StatusForbidden, "PERMISSION_DENIED")
	})

	t.Run("no credential is UNAUTHENTICATED", func(t *testing.T) {
		wantAnswer(t, "POST :encrypt without Authorization", f.restEncrypt(t, h, f.ok, ""), http.StatusUnauthorized, "UNAUTHENTICATED")
		c, err := kms.NewKeyManagementClient(t.Context(),
			option.WithEndpoint(s.grpcAddr),
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		f.wantUnauthenticated(t, c, "over gRPC without a token")
	})

	unknown := []struct {
		name  string
		token string
	}{
		{"garbage", "garbage"},
		{"an API key with an unknown key id", "custos_ak_" + strings.Repeat("0", 40) + "_" + strings.Repeat("A", 43)},
		{"an API key with a wrong secret", key[:len(key)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(key, "AA")]},
		{"a wrong admin token", "custos_admin_wrong"},
		{"an unsigned JWT", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0."},
		{"a malformed JWT", "a.b.c"},
		{"a forged access token", "custos_at_eyJhcHAiOiJrZXllZCJ9.AAAA"},
	}
	for _, tc := range unknown {
		t.Run(tc.name+" is UNAUTHENTICATED", func(t *testing.T) {
			wantAnswer(t, "POST :encrypt with "+tc.name, f.restEncrypt(t, h, f.ok, tc.token), http.StatusUnauthorized, "UNAUTHENTICATED")
			f.wantUnauthenticated(t, s.grpcClientAs(t, tc.token), "over gRPC with "+tc.name)
		})
	}

	t.Run("a revoked API key is UNAUTHENTICATED and the app's other key still works", func(t *testing.T) {
		id2, key2 := h.mustAPIKey(t, s.token, "keyed")
		c := s.grpcClientAs(t, key2)
		f.wantAccess(t, c, "")
		h.mustRevoke(t, s.token, "keyed", id2)
		f.wantUnauthenticated(t, c, "over gRPC with a revoked API key")
		wantAnswer(t, "POST :encrypt with a revoked API key", f.restEncrypt(t, h, f.ok, key2), http.StatusUnauthorized, "UNAUTHENTICATED")
		f.wantAccess(t, s.grpcClientAs(t, key), "")
	})

	t.Run("the key of a disabled app is UNAUTHENTICATED until the app is enabled", func(t *testing.T) {
		c := s.grpcClientAs(t, key)
		h.admin(t, s.token, "POST", "/admin/v1/apps/keyed:disable", "")
		f.wantUnauthenticated(t, c, "as a disabled app")
		wantAnswer(t, "POST :encrypt as a disabled app", f.restEncrypt(t, h, f.ok, key), http.StatusUnauthorized, "UNAUTHENTICATED")
		h.admin(t, s.token, "POST", "/admin/v1/apps/keyed:enable", "")
		f.wantAccess(t, c, "")
	})

	t.Run("the key of a deleted app is UNAUTHENTICATED", func(t *testing.T) {
		h.mustCreateApp(t, s.token, "doomed", "cred")
		_, dk := h.mustAPIKey(t, s.token, "doomed")
		h.mustSetPolicy(t, s.token, "projects/cred/locations/global/keyRings/other", map[string][]string{
			"roles/cloudkms.cryptoKeyEncrypterDecrypter": {"app:doomed"},
		})
		wantAnswer(t, "POST :encrypt as app doomed", f.restEncrypt(t, h, f.other, dk), http.StatusOK, "")
		h.admin(t, s.token, "DELETE", "/admin/v1/apps/doomed", "")
		wantAnswer(t, "POST :encrypt as a deleted app", f.restEncrypt(t, h, f.other, dk), http.StatusUnauthorized, "UNAUTHENTICATED")
	})
}

func testKeyFileREST(t *testing.T) {
	s := startServer(t)
	h := s.plainTarget()
	f := setupCredFixture(t, h, s.token, "sa-rest")
	file := h.mustKeyFile(t, s.token, "sa-rest")
	sa, key := parseKeyFile(t, file)
	ctx := testContext(t)

	t.Run("the key file is in Google's service-account format", func(t *testing.T) {
		var raw map[string]any
		if err := json.Unmarshal(file, &raw); err != nil {
			t.Fatal(err)
		}
		if u, ok := raw["universe_domain"]; ok && u != "googleapis.com" {
			t.Errorf("universe_domain = %v, want none or googleapis.com", u)
		}
		if sa.Type != "service_account" || sa.ProjectID != "cred" || sa.ClientEmail == "" || sa.ClientID == "" {
			t.Errorf("key file = type %q project_id %q client_email %q client_id %q, want service_account, cred, and both set",
				sa.Type, sa.ProjectID, sa.ClientEmail, sa.ClientID)
		}
		if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(sa.PrivateKeyID) {
			t.Errorf("private_key_id = %q, want 40 hex digits", sa.PrivateKeyID)
		}
		if want := "http://" + s.restAddr + "/oauth2/token"; sa.TokenURI != want {
			t.Errorf("token_uri = %q, want %q", sa.TokenURI, want)
		}
		if key.N.BitLen() != 2048 {
			t.Errorf("private_key is RSA-%d, want RSA-2048", key.N.BitLen())
		}
	})

	tokenCreds, err := authcreds.NewCredentialsFromJSON(authcreds.ServiceAccount, file, &authcreds.DetectOptions{Scopes: []string{kmsScope}})
	if err != nil {
		t.Fatalf("credentials.NewCredentialsFromJSON(key file) = %v", err)
	}
	jwtCreds, err := authcreds.NewCredentialsFromJSON(authcreds.ServiceAccount, file, &authcreds.DetectOptions{Scopes: []string{kmsScope}, UseSelfSignedJWT: true})
	if err != nil {
		t.Fatalf("credentials.NewCredentialsFromJSON(key file, UseSelfSignedJWT) = %v", err)
	}
	restWith := func(t *testing.T, opt option.ClientOption) *kms.KeyManagementClient {
		c, err := kms.NewKeyManagementRESTClient(t.Context(), option.WithEndpoint("http://"+s.restAddr), opt)
		if err != nil {
			t.Fatalf("kms.NewKeyManagementRESTClient = %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	clients := []struct {
		name       string
		c          *kms.KeyManagementClient
		authMethod string // "" when the client library chooses
	}{
		{"REST client with credentials through the token endpoint", restWith(t, option.WithAuthCredentials(tokenCreds)), "oauth2-token"},
		{"REST client with self-signed JWT credentials", restWith(t, option.WithAuthCredentials(jwtCreds)), "service-account-jwt"},
		{"REST client given the key file as is", restWith(t, option.WithAuthCredentialsJSON(option.ServiceAccount, file)), ""},
	}
	for _, tc := range clients {
		t.Run(tc.name+" is allowed where the app's role is", func(t *testing.T) {
			if got := f.wantAccess(t, tc.c, tc.authMethod); tc.authMethod == "" {
				t.Logf("the %s authenticated with %s", tc.name, got)
			}
		})
	}

	t.Run("the token endpoint issues a token for a signed assertion", func(t *testing.T) {
		code, m := postToken(t, "http://"+s.restAddr, jwtBearer, signAssertion(t, sa, key, kmsScope))
		tok, _ := m["access_token"].(string)
		if code != http.StatusOK || tok == "" || m["token_type"] != "Bearer" {
			t.Fatalf("POST /oauth2/token = %d %v, want 200 with access_token and token_type Bearer", code, m)
		}
		if exp, _ := m["expires_in"].(float64); exp <= 0 || exp > 3600 {
			t.Errorf("expires_in = %v, want within (0, 3600]", m["expires_in"])
		}
		f.wantAccess(t, s.grpcClientAs(t, tok), "oauth2-token")
	})

	badGrants := []struct {
		name       string
		grantType  string
		assertion  string
		wantStatus int
		wantError  string
	}{
		{"a garbage assertion is invalid_grant", jwtBearer, "garbage", http.StatusBadRequest, "invalid_grant"},
		{"an assertion with a broken signature is invalid_grant", jwtBearer, signAssertion(t, sa, key, kmsScope) + "AA", http.StatusBadRequest, "invalid_grant"},
		{"another grant type is unsupported_grant_type", "client_credentials", "x", http.StatusBadRequest, "unsupported_grant_type"},
	}
	for _, tc := range badGrants {
		t.Run("token endpoint: "+tc.name, func(t *testing.T) {
			code, m := postToken(t, "http://"+s.restAddr, tc.grantType, tc.assertion)
			if code != tc.wantStatus || m["error"] != tc.wantError {
				t.Errorf("POST /oauth2/token = %d %v, want %d error %s", code, m, tc.wantStatus, tc.wantError)
			}
		})
	}

	t.Run("without the role the app is refused", func(t *testing.T) {
		_, err := clients[0].c.Decrypt(ctx, &kmspb.DecryptRequest{Name: f.other, Ciphertext: []byte("x")})
		wantCode(t, "Decrypt("+f.other+") as sa-rest", err, codes.PermissionDenied)
	})

	t.Run("after revoking the key every path is UNAUTHENTICATED", func(t *testing.T) {
		issued, m := postToken(t, "http://"+s.restAddr, jwtBearer, signAssertion(t, sa, key, kmsScope))
		tok, _ := m["access_token"].(string)
		if issued != http.StatusOK || tok == "" {
			t.Fatalf("POST /oauth2/token = %d %v, want a token", issued, m)
		}
		h.mustRevoke(t, s.token, "sa-rest", sa.PrivateKeyID)
		for _, tc := range clients {
			f.wantUnauthenticated(t, tc.c, "with the "+tc.name+" after the key was revoked")
		}
		f.wantUnauthenticated(t, s.grpcClientAs(t, tok), "with an access token issued before the key was revoked")
		code, m := postToken(t, "http://"+s.restAddr, jwtBearer, signAssertion(t, sa, key, kmsScope))
		if code != http.StatusBadRequest || m["error"] != "invalid_grant" {
			t.Errorf("POST /oauth2/token with an assertion of a revoked key = %d %v, want 400 invalid_grant", code, m)
		}
	})
}

func testKeyFileGRPC(t *testing.T) {
	ca := newTestCA(t, "custos-e2e-ca")
	s := startTLSServer(t, ca)
	h := s.tlsTarget(ca)
	f := setupCredFixture(t, h, s.token, "sa-grpc")
	file := h.mustKeyFile(t, s.token, "sa-grpc")
	sa, _ := parseKeyFile(t, file)
	if want := "https://" + s.restAddr + "/oauth2/token"; sa.TokenURI != want {
		t.Errorf("token_uri = %q, want %q", sa.TokenURI, want)
	}
	c, err := kms.NewKeyManagementClient(t.Context(),
		option.WithEndpoint(s.grpcAddr),
		option.WithAuthCredentialsJSON(option.ServiceAccount, file),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(grpccreds.NewClientTLSFromCert(ca.pool, ""))),
	)
	if err != nil {
		t.Fatalf("kms.NewKeyManagementClient(key file, TLS) = %v", err)
	}
	t.Cleanup(func() { c.Close() })

	t.Run("the gRPC client given the key file signs its own JWT and is allowed where the app's role is", func(t *testing.T) {
		f.wantAccess(t, c, "service-account-jwt")
	})
	t.Run("after revoking the key the gRPC client is UNAUTHENTICATED", func(t *testing.T) {
		h.mustRevoke(t, s.token, "sa-grpc", sa.PrivateKeyID)
		f.wantUnauthenticated(t, c, "with the key file after the key was revoked")
	})
}

func testMutualTLS(t *testing.T) {
	ca := newTestCA(t, "custos-e2e-ca")
	s := startTLSServer(t, ca)
	admin := s.tlsTarget(ca)
	f := setupCredFixture(t, admin, s.token, "mtls-app")
	certPEM, _, pair := ca.issue(t, "mtls-app", false)
	_, _, stranger := ca.issue(t, "stranger", false)

	m := admin.admin(t, s.token, "POST", "/admin/v1/apps/mtls-app/keys",
		fmt.Sprintf(`{"format":"mtls","certificate":%s}`, jsonQuote(string(certPEM))))
	keyID, _ := m["keyId"].(string)
	fp := sha256.Sum256(pair.Certificate[0])
	if m["app"] != "mtls-app" || keyID == "" || m["fingerprint"] != hex.EncodeToString(fp[:]) {
		t.Fatalf("POST /admin/v1/apps/mtls-app/keys {mtls} = %v, want app, keyId and fingerprint %x", m, fp)
	}

	grpcWithCert := func(t *testing.T, certs ...tls.Certificate) *kms.KeyManagementClient {
		c, err := kms.NewKeyManagementClient(t.Context(),
			option.WithEndpoint(s.grpcAddr),
			option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(grpccreds.NewTLS(&tls.Config{RootCAs: ca.pool, Certificates: certs}))),
		)
		if err != nil {
			t.Fatalf("kms.NewKeyManagementClient(mTLS) = %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	withCert := s.tlsTarget(ca, pair)

	t.Run("a registered client certificate authenticates as its app over REST", func(t *testing.T) {
		wantAnswer(t, "POST :encrypt with the app's certificate", f.restEncrypt(t, withCert, f.ok, ""), http.StatusOK, "")
		wantAnswer(t, "POST :encrypt on another key ring with the app's certificate", f.restEncrypt(t, withCert, f.other, ""), http.StatusForbidden, "PERMISSION_DENIED")
	})
	t.Run("a registered client certificate authenticates as its app over gRPC", func(t *testing.T) {
		f.wantAccess(t, grpcWithCert(t, pair), "mtls")
	})
	t.Run("an unregistered certificate of the same CA is UNAUTHENTICATED", func(t *testing.T) {
		wantAnswer(t, "POST :encrypt with an unregistered certificate", f.restEncrypt(t, s.tlsTarget(ca, stranger), f.ok, ""), http.StatusUnauthorized, "UNAUTHENTICATED")
		f.wantUnauthenticated(t, grpcWithCert(t, stranger), "over gRPC with an unregistered certificate")
	})
	t.Run("no certificate and no token is UNAUTHENTICATED", func(t *testing.T) {
		wantAnswer(t, "POST :encrypt over TLS without a credential", f.restEncrypt(t, admin, f.ok, ""), http.StatusUnauthorized, "UNAUTHENTICATED")
		f.wantUnauthenticated(t, grpcWithCert(t), "over gRPC with TLS and no credential")
	})
	t.Run("a bad bearer token is refused even with a registered certificate", func(t *testing.T) {
		wantAnswer(t, "POST :encrypt with the app's certificate and a bad token", f.restEncrypt(t, withCert, f.ok, "garbage"), http.StatusUnauthorized, "UNAUTHENTICATED")
	})
	t.Run("a revoked certificate is UNAUTHENTICATED", func(t *testing.T) {
		c := grpcWithCert(t, pair)
		admin.mustRevoke(t, s.token, "mtls-app", keyID)
		// A new connection for REST, so that no earlier session decides.
		wantAnswer(t, "POST :encrypt with a revoked certificate", f.restEncrypt(t, s.tlsTarget(ca, pair), f.ok, ""), http.StatusUnauthorized, "UNAUTHENTICATED")
		f.wantUnauthenticated(t, c, "over gRPC with a revoked certificate")
	})
}
