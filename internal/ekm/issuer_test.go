// SPDX-License-Identifier: Apache-2.0

package ekm

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

// issuer is a local stand-in for Google's ID token issuer: RSA keys, a
// JWKS served by httptest, and tokens minted with go-jose.
type issuer struct {
	srv  *httptest.Server
	hits atomic.Int64

	mu        sync.Mutex
	keys      map[string]*rsa.PrivateKey // published
	down      bool                       // answer 500
	hang      chan struct{}              // if set, answer only once it is closed (or the client gives up)
	cacheCtrl string
}

var (
	keyOnce   sync.Once
	testKeys  []*rsa.PrivateKey
	keysError error
)

// rsaKeys returns n RSA-2048 keys, generated once per test binary.
func rsaKeys(t testing.TB, n int) []*rsa.PrivateKey {
	t.Helper()
	keyOnce.Do(func() {
		for range 4 {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				keysError = err
				return
			}
			testKeys = append(testKeys, k)
		}
	})
	if keysError != nil {
		t.Fatal(keysError)
	}
	return testKeys[:n]
}

func newIssuer(t testing.TB) *issuer {
	t.Helper()
	iss := &issuer{keys: map[string]*rsa.PrivateKey{"k1": rsaKeys(t, 1)[0]}}
	iss.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		iss.hits.Add(1)
		iss.mu.Lock()
		hang := iss.hang
		iss.mu.Unlock()
		if hang != nil {
			select {
			case <-hang:
			case <-r.Context().Done():
				return
			}
		}
		iss.mu.Lock()
		defer iss.mu.Unlock()
		if iss.down {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		var set jose.JSONWebKeySet
		for kid, k := range iss.keys {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"})
		}
		if iss.cacheCtrl != "" {
			w.Header().Set("Cache-Control", iss.cacheCtrl)
		}
		json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(iss.srv.Close)
	return iss
}

func (iss *issuer) url() string { return iss.srv.URL + "/certs" }

func (iss *issuer) publish(kid string, k *rsa.PrivateKey) {
	iss.mu.Lock()
	iss.keys[kid] = k
	iss.mu.Unlock()
}

// setHang makes the endpoint hang until the returned function is called
// (it is also called when the test ends).
func (iss *issuer) setHang(t testing.TB) (release func()) {
	ch := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	t.Cleanup(release)
	iss.mu.Lock()
	iss.hang = ch
	iss.mu.Unlock()
	return release
}

func (iss *issuer) setDown(down bool) {
	iss.mu.Lock()
	iss.down = down
	iss.mu.Unlock()
}

// claims are the claims of a test token; zero fields are left out.
type claims map[string]any

// googleClaims returns the claims of a good token for email at now.
func googleClaims(email, aud string, now time.Time) claims {
	return claims{
		"iss":            "https://accounts.google.com",
		"aud":            aud,
		"sub":            "1234567890",
		"email":          email,
		"email_verified": true,
		"iat":            now.Unix(),
		"exp":            now.Add(time.Hour).Unix(),
	}
}

// mint signs c with key under kid, RS256.
func mint(t testing.TB, key *rsa.PrivateKey, kid string, c claims) string {
	t.Helper()
	return mintAlg(t, jose.RS256, key, kid, c)
}

func mintAlg(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, c claims) string {
	t.Helper()
	s, err := jwtsign.Sign(alg, key, kid, c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// token mints a good token with the issuer's k1.
func (iss *issuer) token(t testing.TB, email, aud string, now time.Time) string {
	iss.mu.Lock()
	k := iss.keys["k1"]
	iss.mu.Unlock()
	return mint(t, k, "k1", googleClaims(email, aud, now))
}
