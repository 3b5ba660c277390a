// SPDX-License-Identifier: Apache-2.0

package auth

import (
	"context"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// BenchmarkAuthenticate measures the hot path of each credential: a cached
// JWT (no RSA, only the state check), an API key (one SHA-256), an access
// token (one HMAC), a client certificate, and, for comparison, a JWT seen
// for the first time (RSA verification).
func BenchmarkAuthenticate(b *testing.B) {
	e := newEnv(b)
	e.createApp("billing", "acme")
	apiKey, _ := e.apiKey("billing")
	sa, priv, _ := e.saKey("billing")
	now := e.clk.now()
	jwt := goClientJWT(b, priv, jose.RS256, sa.PrivateKeyID, selfSignedClaims(sa, now))
	at, err := e.apps.IssueAccessToken(e.ctx, goClientJWT(b, priv, jose.RS256, sa.PrivateKeyID, map[string]any{
		"iss": sa.ClientEmail, "aud": sa.TokenURI, "scope": "https://www.googleapis.com/auth/cloudkms",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}))
	if err != nil {
		b.Fatal(err)
	}
	certPEM, cert := clientCert(b, "billing", false, time.Now().Add(time.Hour))
	if _, err := e.apps.CreateKey(e.ctx, CreateKeyRequest{App: "billing", Format: FormatMTLS, Certificate: certPEM}); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	run := func(name string, req Request, before func()) {
		b.Run(name, func(b *testing.B) {
			if _, err := e.authn.Authenticate(ctx, req); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if before != nil {
					before()
				}
				if _, err := e.authn.Authenticate(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	run("cached-jwt", Request{Token: jwt}, nil)
	run("api-key", Request{Token: apiKey}, nil)
	run("access-token", Request{Token: string(at.Token)}, nil)
	run("mtls", Request{ClientCert: cert}, nil)
	run("admin-token", Request{Token: testAdminToken}, nil)
	run("uncached-jwt", Request{Token: jwt}, e.apps.tokens.Purge)
}
