// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custos-kms/custos/internal/jwtsign"
	jose "github.com/go-jose/go-jose/v4"
)

// oidcIssuer stands in for Google's ID token issuer: its own RSA keys, a
// JWKS served on loopback by httptest, and tokens minted with go-jose.
type oidcIssuer struct {
	srv  *httptest.Server
	hits atomic.Int64 // JWKS fetches

	mu   sync.Mutex
	keys map[string]*rsa.PrivateKey // published, by kid
}

var (
	oidcKeysOnce sync.Once
	oidcKeys     []*rsa.PrivateKey
	oidcKeysErr  error
)

// oidcKey returns the i-th of a few RSA-2048 keys made once per run.
func oidcKey(t *testing.T, i int) *rsa.PrivateKey {
	t.Helper()
	oidcKeysOnce.Do(func() {
		for range 3 {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				oidcKeysErr = err
				return
			}
			oidcKeys = append(oidcKeys, k)
		}
	})
	if oidcKeysErr != nil {
		t.Fatal(oidcKeysErr)
	}
	return oidcKeys[i]
}

// newOIDCIssuer starts an issuer publishing one key, "k1".
func newOIDCIssuer(t *testing.T) *oidcIssuer {
	t.Helper()
	iss := &oidcIssuer{keys: map[string]*rsa.PrivateKey{"k1": oidcKey(t, 0)}}
	iss.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/certs" {
			http.NotFound(w, r)
			return
		}
		iss.hits.Add(1)
		iss.mu.Lock()
		defer iss.mu.Unlock()
		var set jose.JSONWebKeySet
		for kid, k := range iss.keys {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"})
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(iss.srv.Close)
	return iss
}

// jwksURL is the value of --ekm-jwks-url.
func (iss *oidcIssuer) jwksURL() string { return iss.srv.URL + "/certs" }

// idClaims returns the claims of a good Google ID token for email and aud,
// issued now.
func idClaims(email, aud string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss":            "https://accounts.google.com",
		"aud":            aud,
		"azp":            "1234567890",
		"sub":            "1234567890",
		"email":          email,
		"email_verified": true,
		"iat":            now.Unix(),
		"exp":            now.Add(time.Hour).Unix(),
	}
}

// sign mints an RS256 JWT of claims with key under kid.
func signJWT(t *testing.T, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	s, err := jwtsign.Sign(jose.RS256, key, kid, claims)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// token mints a good token for email and aud with the issuer's k1;
// edit, if not nil, changes the claims first.
func (iss *oidcIssuer) token(t *testing.T, email, aud string, edit func(c map[string]any)) string {
	t.Helper()
	c := idClaims(email, aud)
	if edit != nil {
		edit(c)
	}
	iss.mu.Lock()
	k := iss.keys["k1"]
	iss.mu.Unlock()
	return signJWT(t, k, "k1", c)
}
