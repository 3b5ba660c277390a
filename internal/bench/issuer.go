// SPDX-License-Identifier: Apache-2.0

package bench

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/custos-kms/custos/internal/jwtsign"
	jose "github.com/go-jose/go-jose/v4"
)

// issuer stands in for Google's ID token issuer in the Cloud EKM
// workloads: an RSA key, its JWKS served on loopback (the server fetches
// it with --ekm-jwks-url), and ID tokens minted for the Cloud EKM service
// agent, as Google signs them.
type issuer struct {
	key *rsa.PrivateKey
	kid string // random per run: a server that cached another run's set refetches
	srv *http.Server
	url string // the JWKS URL
}

// startIssuer serves the JWKS on addr (loopback; port 0 picks one).
func startIssuer(addr string) (*issuer, error) {
	if !loopback(addr) {
		return nil, fmt.Errorf("the EKM issuer's address %s is not on loopback", addr)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 8)
	rand.Read(b)
	iss := &issuer{key: key, kid: "bench-" + hex.EncodeToString(b)}
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: iss.kid, Algorithm: "RS256", Use: "sig"}}})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("EKM issuer: %w", err)
	}
	iss.url = "http://" + ln.Addr().String() + "/certs"
	iss.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/certs" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(set)
	})}
	go func() {
		if err := iss.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			ln.Close()
		}
	}()
	return iss, nil
}

// token mints a Google-style ID token for email and aud, valid for an
// hour: Cloud KMS sends the same token until it nears its expiry, so one
// token serves a whole run (and the server verifies it once).
func (iss *issuer) token(email, aud string) (string, error) {
	now := time.Now()
	return jwtsign.Sign(jose.RS256, iss.key, iss.kid, map[string]any{
		"iss": "https://accounts.google.com", "aud": aud, "azp": "bench", "sub": "1" + hex.EncodeToString([]byte(email))[:16],
		"email": email, "email_verified": true, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
}

func (iss *issuer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	iss.srv.Shutdown(ctx)
}
