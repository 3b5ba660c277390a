// SPDX-License-Identifier: Apache-2.0

package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"google.golang.org/grpc/codes"
)

// TestJWTAccepted: JWTs as the official clients sign them authenticate.
func TestJWTAccepted(t *testing.T) {
	e := newEnv(t)
	e.createApp("billing", "acme")
	f, priv, _ := e.saKey("billing")
	now := e.clk.now()
	for _, tc := range []struct {
		name   string
		change map[string]any // claims to set (nil value: delete)
	}{
		{"Go client: scope, empty aud", nil},
		{"no aud claim", map[string]any{"aud": nil}},
		{"cloudkms scope only", map[string]any{"scope": "https://www.googleapis.com/auth/cloudkms"}},
		{"scope as an array", map[string]any{"scope": []string{"https://www.googleapis.com/auth/cloud-platform"}}},
		{"aud Cloud KMS, no scope", map[string]any{"scope": nil, "aud": "https://cloudkms.googleapis.com/"}},
		{"aud Cloud KMS without slash", map[string]any{"scope": nil, "aud": "https://cloudkms.googleapis.com"}},
		{"aud the public URL", map[string]any{"scope": nil, "aud": testURL}},
		{"aud the public URL with slash", map[string]any{"scope": nil, "aud": testURL + "/"}},
		{"aud another base URL", map[string]any{"scope": nil, "aud": "http://127.0.0.1:8200"}},
		{"aud and scope", map[string]any{"aud": "https://cloudkms.googleapis.com/"}},
		{"iat 50 s ahead (skew)", map[string]any{"iat": now.Add(50 * time.Second).Unix(), "exp": now.Add(50*time.Second + time.Hour).Unix()}},
		{"expired 50 s ago (skew)", map[string]any{"iat": now.Add(-time.Hour - 50*time.Second).Unix(), "exp": now.Add(-50 * time.Second).Unix()}},
		{"exactly an hour", map[string]any{"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(59 * time.Minute).Unix()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			claims := selfSignedClaims(f, now)
			for k, v := range tc.change {
				if v == nil {
					delete(claims, k)
				} else {
					claims[k] = v
				}
			}
			c, err := e.authenticate(goClientJWT(t, priv, jose.RS256, f.PrivateKeyID, claims))
			if err != nil {
				t.Fatalf("Authenticate = %v", err)
			}
			if c.Principal != "app:billing" || c.App != "billing" || c.AuthMethod != MethodServiceAccountJWT || c.Admin || c.RequestID != "req-1" {
				t.Errorf("Authenticate = %+v", c)
			}
		})
	}
}

// TestJWTRefused: every way a JWT can be wrong is UNAUTHENTICATED.
func TestJWTRefused(t *testing.T) {
	e := newEnv(t)
	e.createApp("billing", "acme")
	e.createApp("other", "")
	f, priv, _ := e.saKey("billing")
	otherFile, otherPriv, _ := e.saKey("other")
	apiKey, apiKeyInfo := e.apiKey("billing")
	_ = apiKey
	now := e.clk.now()
	strangerKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := func() []byte {
		der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}()
	good := func(change map[string]any) map[string]any {
		c := selfSignedClaims(f, now)
		for k, v := range change {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	sign := func(change map[string]any) string {
		return goClientJWT(t, priv, jose.RS256, f.PrivateKeyID, good(change))
	}
	b64 := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	valid := sign(nil)
	parts := strings.Split(valid, ".")

	for _, tc := range []struct {
		name  string
		token string
	}{
		{"expired", sign(map[string]any{"iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()})},
		{"expired 61 s ago", sign(map[string]any{"iat": now.Add(-time.Hour - 61*time.Second).Unix(), "exp": now.Add(-61 * time.Second).Unix()})},
		{"exp - iat > 3600", sign(map[string]any{"exp": now.Add(time.Hour + time.Second).Unix()})},
		{"exp before iat", sign(map[string]any{"exp": now.Add(-time.Second).Unix()})},
		{"no exp", sign(map[string]any{"exp": nil})},
		{"no iat", sign(map[string]any{"iat": nil})},
		{"issued in the future", sign(map[string]any{"iat": now.Add(2 * time.Minute).Unix(), "exp": now.Add(time.Hour).Unix()})},
		{"nbf in the future", sign(map[string]any{"nbf": now.Add(2 * time.Minute).Unix()})},
		{"unknown kid", goClientJWT(t, priv, jose.RS256, strings.Repeat("0", 40), good(nil))},
		{"no kid", goClientJWT(t, priv, jose.RS256, "", good(nil))},
		{"kid of an API key", goClientJWT(t, priv, jose.RS256, apiKeyInfo.ID, good(nil))},
		{"kid of another app's key", goClientJWT(t, priv, jose.RS256, otherFile.PrivateKeyID, good(nil))},
		{"another app's key, this app's email", goClientJWT(t, otherPriv, jose.RS256, otherFile.PrivateKeyID, good(nil))},
		{"wrong iss", sign(map[string]any{"iss": otherFile.ClientEmail})},
		{"wrong sub", sign(map[string]any{"sub": otherFile.ClientEmail})},
		{"no sub", sign(map[string]any{"sub": nil})},
		{"no scope, no aud", sign(map[string]any{"scope": nil})},
		{"no scope and wrong aud", sign(map[string]any{"scope": nil, "aud": "https://storage.googleapis.com/"})},
		{"good scope but foreign aud", sign(map[string]any{"aud": "https://storage.googleapis.com/"})},
		{"aud the token endpoint", sign(map[string]any{"scope": nil, "aud": testURL + "/oauth2/token"})},
		{"other scope", sign(map[string]any{"scope": "https://www.googleapis.com/auth/devstorage.read_only"})},
		{"scope not a string", sign(map[string]any{"scope": 42})},
		{"HS256 with the public key as secret", goClientJWT(t, pubPEM, jose.HS256, f.PrivateKeyID, good(nil))},
		{"RS512", goClientJWT(t, priv, jose.RS512, f.PrivateKeyID, good(nil))},
		{"PS256", goClientJWT(t, priv, jose.PS256, f.PrivateKeyID, good(nil))},
		{"alg none", b64(map[string]string{"alg": "none", "typ": "JWT", "kid": f.PrivateKeyID}) + "." + parts[1] + "."},
		{"alg none with the signature", b64(map[string]string{"alg": "none", "kid": f.PrivateKeyID}) + "." + parts[1] + "." + parts[2]},
		{"signed by a stranger", goClientJWT(t, strangerKey, jose.RS256, f.PrivateKeyID, good(nil))},
		{"payload changed", parts[0] + "." + b64(good(map[string]any{"sub": "x"})) + "." + parts[2]},
		{"signature cut", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-4]},
		{"no signature", parts[0] + "." + parts[1] + "."},
		{"non-canonical base64 in the signature", nonCanonical(t, valid)},
		{"four parts", valid + ".x"},
		{"padding", valid + "=="},
		{"too long", parts[0] + "." + strings.Repeat("A", maxTokenLen) + "." + parts[2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.authenticate(tc.token)
			wantCode(t, "Authenticate", err, codes.Unauthenticated)
			if strings.Contains(err.Error(), parts[2][:20]) {
				t.Errorf("the error echoes the token: %v", err)
			}
		})
	}
	if _, err := e.authenticate(valid); err != nil {
		t.Fatalf("Authenticate(valid) = %v", err)
	}

	// State refusals, each told only after the signature verified.
	for _, tc := range []struct {
		name   string
		before func()
		after  func()
		want   string
	}{
		{"revoked key", func() { e.apps.RevokeKey(e.ctx, "billing", f.PrivateKeyID) }, nil, "revoked"},
		{"disabled app", func() { e.apps.DisableApp(e.ctx, "other") }, func() { e.apps.EnableApp(e.ctx, "other") }, "disabled"},
		{"deleted app", func() { e.apps.DeleteApp(e.ctx, "other") }, nil, "deleted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, file := priv, f
			if tc.name != "revoked key" {
				key, file = otherPriv, otherFile
			}
			tok := goClientJWT(t, key, jose.RS256, file.PrivateKeyID, selfSignedClaims(file, now))
			tc.before()
			_, err := e.authenticate(tok)
			wantCode(t, "Authenticate", err, codes.Unauthenticated)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Authenticate = %v, want a message that says %q", err, tc.want)
			}
			if tc.after != nil {
				tc.after()
			}
		})
	}
}

// TestCachedJWT: a verified JWT is served from the cache, yet revoking its
// key, disabling or deleting its app refuses it at once, and it expires.
func TestCachedJWT(t *testing.T) {
	e := newEnv(t)
	e.createApp("billing", "")
	f, priv, _ := e.saKey("billing")
	tok := goClientJWT(t, priv, jose.RS256, f.PrivateKeyID, selfSignedClaims(f, e.clk.now()))
	mustAuth := func(what string) {
		t.Helper()
		if _, err := e.authenticate(tok); err != nil {
			t.Fatalf("%s: Authenticate = %v", what, err)
		}
	}
	mustFail := func(what string) {
		t.Helper()
		_, err := e.authenticate(tok)
		wantCode(t, what+": Authenticate", err, codes.Unauthenticated)
	}
	mustAuth("first use")
	if e.apps.tokens.Len() != 1 {
		t.Fatalf("verified tokens cached = %d, want 1", e.apps.tokens.Len())
	}
	mustAuth("cached")

	e.apps.DisableApp(e.ctx, "billing")
	mustFail("app disabled")
	e.apps.EnableApp(e.ctx, "billing")
	mustAuth("app enabled again")

	e.clk.add(time.Hour + 59*time.Second)
	mustAuth("59 s after exp")
	e.clk.add(time.Second)
	mustFail("60 s after exp")

	e.clk.add(-time.Hour - time.Minute)
	mustAuth("back in time")
	e.apps.RevokeKey(e.ctx, "billing", f.PrivateKeyID)
	mustFail("key revoked")

	f2, priv2, _ := e.saKey("billing")
	tok = goClientJWT(t, priv2, jose.RS256, f2.PrivateKeyID, selfSignedClaims(f2, e.clk.now()))
	mustAuth("new key")
	e.apps.DeleteApp(e.ctx, "billing")
	mustFail("app deleted")
	e.createApp("billing", "")
	mustFail("app re-created under the same name")
}

// TestCacheTTL: a change made behind the cache's back (another node) is
// seen once the entry is older than the TTL.
func TestCacheTTL(t *testing.T) {
	e := newEnv(t)
	e.createApp("billing", "")
	key, _ := e.apiKey("billing")
	if _, err := e.authenticate(key); err != nil {
		t.Fatal(err)
	}
	// Another node disables the app: same store, another Apps.
	other, err := NewApps(AppsConfig{Store: e.store, Keystore: e.ks, Authorizer: allowAdmin{}, Now: e.clk.now, PublicURL: testURL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.DisableApp(e.ctx, "billing"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.authenticate(key); err != nil {
		t.Errorf("Authenticate within the TTL = %v, want the cached state", err)
	}
	e.clk.add(5 * time.Second)
	_, err = e.authenticate(key)
	wantCode(t, "Authenticate after the TTL", err, codes.Unauthenticated)
}

func TestAccessToken(t *testing.T) {
	e := newEnv(t)
	e.createApp("billing", "")
	f, priv, _ := e.saKey("billing")
	now := e.clk.now()
	// The assertion of the Go client's 2LO flow: iss, scope, aud =
	// token_uri, no sub, iat 10 s in the past.
	assertion := func(change map[string]any) string {
		c := map[string]any{
			"iss":   f.ClientEmail,
			"scope": "https://www.googleapis.com/auth/cloudkms",
			"aud":   f.TokenURI,
			"iat":   now.Add(-10 * time.Second).Unix(),
			"exp":   now.Add(-10*time.Second + time.Hour).Unix(),
		}
		for k, v := range change {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return goClientJWT(t, priv, jose.RS256, f.PrivateKeyID, c)
	}
	at, err := e.apps.IssueAccessToken(e.ctx, assertion(nil))
	if err != nil {
		t.Fatalf("IssueAccessToken = %v", err)
	}
	tok := string(at.Token)
	if !strings.HasPrefix(tok, AccessTokenPrefix) || at.App != "billing" || at.KeyID != f.PrivateKeyID || !at.Expiry.Equal(now.Add(time.Hour)) {
		t.Errorf("IssueAccessToken = %+v", at)
	}
	c, err := e.authenticate(tok)
	if err != nil || c.Principal != "app:billing" || c.AuthMethod != MethodOAuth2Token {
		t.Fatalf("Authenticate(access token) = %+v, %v", c, err)
	}
	if at, err := e.apps.IssueAccessToken(e.ctx, assertion(map[string]any{"sub": f.ClientEmail})); err != nil || at == nil {
		t.Errorf("IssueAccessToken(sub = iss) = %v", err)
	}
	if _, err := e.apps.IssueAccessToken(e.ctx, assertion(map[string]any{"aud": "http://127.0.0.1:8200/oauth2/token"})); err != nil {
		t.Errorf("IssueAccessToken(aud = other base URL's token URL) = %v", err)
	}

	for _, tc := range []struct {
		name      string
		assertion string
		scope     bool
	}{
		{"aud not the token URL", assertion(map[string]any{"aud": testURL}), false},
		{"aud Google's token URL", assertion(map[string]any{"aud": "https://oauth2.googleapis.com/token"}), false},
		{"no aud", assertion(map[string]any{"aud": nil}), false},
		{"sub another account (impersonation)", assertion(map[string]any{"sub": "someone@example.com"}), false},
		{"expired", assertion(map[string]any{"iat": now.Add(-3 * time.Hour).Unix(), "exp": now.Add(-2 * time.Hour).Unix()}), false},
		{"lifetime over an hour", assertion(map[string]any{"exp": now.Add(2 * time.Hour).Unix()}), false},
		{"not a JWT", "hello", false},
		{"an API key", APIKeyPrefix + strings.Repeat("a", 40) + "_x", false},
		{"no scope", assertion(map[string]any{"scope": nil}), true},
		{"other scope", assertion(map[string]any{"scope": "openid"}), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.apps.IssueAccessToken(e.ctx, tc.assertion)
			wantCode(t, "IssueAccessToken", err, codes.Unauthenticated)
			if got := errorsIsScope(err); got != tc.scope {
				t.Errorf("errors.Is(err, ErrInvalidScope) = %v, want %v", got, tc.scope)
			}
		})
	}

	p, mac, _ := strings.Cut(tok[len(AccessTokenPrefix):], ".")
	forged := func(payload accessPayload) string {
		b, _ := json.Marshal(payload)
		return AccessTokenPrefix + base64.RawURLEncoding.EncodeToString(b) + "." + mac
	}
	for _, tc := range []struct{ name, token string }{
		{"MAC flipped", tok[:len(tok)-2] + flip(tok[len(tok)-2]) + tok[len(tok)-1:]},
		{"no MAC", AccessTokenPrefix + p},
		{"other app in the payload", forged(accessPayload{V: 1, App: "other", Kid: f.PrivateKeyID, Exp: now.Add(time.Hour).Unix()})},
		{"later exp in the payload", forged(accessPayload{V: 1, App: "billing", Kid: f.PrivateKeyID, Exp: now.Add(100 * time.Hour).Unix()})},
		{"prefix only", AccessTokenPrefix},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.authenticate(tc.token)
			wantCode(t, "Authenticate", err, codes.Unauthenticated)
		})
	}

	// A token MAC'd under another root key is refused.
	other := newEnv(t)
	_, err = other.authenticate(tok)
	wantCode(t, "Authenticate(token of another server)", err, codes.Unauthenticated)

	e.apps.DisableApp(e.ctx, "billing")
	_, err = e.authenticate(tok)
	wantCode(t, "Authenticate(access token, app disabled)", err, codes.Unauthenticated)
	_, err = e.apps.IssueAccessToken(e.ctx, assertion(nil))
	wantCode(t, "IssueAccessToken(app disabled)", err, codes.Unauthenticated)
	e.apps.EnableApp(e.ctx, "billing")
	if _, err := e.authenticate(tok); err != nil {
		t.Fatalf("Authenticate(access token, app enabled again) = %v", err)
	}
	e.clk.add(time.Hour)
	_, err = e.authenticate(tok)
	wantCode(t, "Authenticate(expired access token)", err, codes.Unauthenticated)
	e.clk.add(-time.Hour)
	e.apps.RevokeKey(e.ctx, "billing", f.PrivateKeyID)
	_, err = e.authenticate(tok)
	wantCode(t, "Authenticate(access token, key revoked)", err, codes.Unauthenticated)
	_, err = e.apps.IssueAccessToken(e.ctx, assertion(nil))
	wantCode(t, "IssueAccessToken(key revoked)", err, codes.Unauthenticated)
}

// nonCanonical respells the signature of a JWT with the unused low bits of
// its last base64url character set: a lenient decoder reads the same bytes.
func nonCanonical(t *testing.T, tok string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.LastIndexByte(tok, '.')
	sig := tok[i+1:]
	if len(sig)%4 != 2 {
		t.Fatalf("signature of %d characters: want 4n+2, with 4 unused bits", len(sig))
	}
	last := strings.IndexByte(alphabet, sig[len(sig)-1])
	out := tok[:len(tok)-1] + string(alphabet[last|0x0f])
	a, _ := base64.RawURLEncoding.DecodeString(sig)
	b, err := base64.RawURLEncoding.DecodeString(out[i+1:])
	if err != nil || string(a) != string(b) || out == tok {
		t.Fatalf("the respelled signature does not decode to the same bytes")
	}
	return out
}
