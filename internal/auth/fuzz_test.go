// SPDX-License-Identifier: Apache-2.0

package auth

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/kmserr"
)

// fuzzEnv is an app with one credential of each kind, and the tokens that
// are valid for it.
type fuzzEnv struct {
	*env
	apiKey, jwt, accessToken, assertion string
	file                                []byte
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	e := newEnv(f)
	e.createApp("billing", "acme")
	apiKey, _ := e.apiKey("billing")
	sa, priv, file := e.saKey("billing")
	now := e.clk.now()
	jwt := goClientJWT(f, priv, jose.RS256, sa.PrivateKeyID, selfSignedClaims(sa, now))
	assertion := goClientJWT(f, priv, jose.RS256, sa.PrivateKeyID, map[string]any{
		"iss": sa.ClientEmail, "aud": sa.TokenURI, "scope": "https://www.googleapis.com/auth/cloudkms",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	at, err := e.apps.IssueAccessToken(e.ctx, assertion)
	if err != nil {
		f.Fatal(err)
	}
	return &fuzzEnv{env: e, apiKey: apiKey, jwt: jwt, accessToken: string(at.Token), assertion: assertion, file: file}
}

// FuzzAuthenticate: no bearer token panics, and none authenticates but the
// valid ones, byte for byte; every refusal is UNAUTHENTICATED.
func FuzzAuthenticate(f *testing.F) {
	e := newFuzzEnv(f)
	valid := map[string]bool{e.apiKey: true, e.jwt: true, e.accessToken: true, testAdminToken: true, e.assertion: true}
	for tok := range valid {
		f.Add(tok)
		f.Add(tok[:len(tok)-1])
		f.Add(tok + "A")
		f.Add(strings.ToUpper(tok))
	}
	parts := strings.Split(e.jwt, ".")
	for _, s := range []string{
		"", " ", "custos_ak_", "custos_at_", "custos_admin_", "a.b.c", "..", "e30.e30.", "e30.e30.e30",
		"eyJhbGciOiJub25lIn0." + parts[1] + ".",
		"eyJhbGciOiJIUzI1NiIsImtpZCI6IngifQ." + parts[1] + "." + parts[2],
		parts[0] + "." + parts[1] + "." + parts[2] + "=",
		APIKeyPrefix + strings.Repeat("0", 40) + "_",
		AccessTokenPrefix + "e30.AAAA",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := e.authn.Authenticate(context.Background(), Request{Token: tok})
		if valid[tok] {
			return
		}
		if err == nil {
			t.Fatalf("Authenticate(%q) = %+v, want a refusal", tok, c)
		}
		if got := kmserr.Code(err); got != codes.Unauthenticated {
			t.Fatalf("Authenticate(%q) = %v, want UNAUTHENTICATED", tok, err)
		}
		if len(tok) > 8 && strings.Contains(err.Error(), tok) {
			t.Fatalf("Authenticate(%q) = %v: the error echoes the token", tok, err)
		}
	})
}

// FuzzIssueAccessToken: no assertion panics, and none but the valid one
// gets a token.
func FuzzIssueAccessToken(f *testing.F) {
	e := newFuzzEnv(f)
	f.Add(e.assertion)
	f.Add(e.jwt)
	f.Add(e.assertion[:len(e.assertion)-2])
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, assertion string) {
		at, err := e.apps.IssueAccessToken(context.Background(), assertion)
		if assertion == e.assertion {
			return
		}
		if err == nil {
			t.Fatalf("IssueAccessToken(%q) = %+v, want a refusal", assertion, at)
		}
		if got := kmserr.Code(err); got != codes.Unauthenticated {
			t.Fatalf("IssueAccessToken(%q) = %v, want UNAUTHENTICATED", assertion, err)
		}
	})
}

// FuzzParseServiceAccountKey: no input panics; what parses is a
// well-formed file with an RSA-2048 key, and parses the same once
// re-encoded.
func FuzzParseServiceAccountKey(f *testing.F) {
	e := newFuzzEnv(f)
	f.Add(e.file)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"type":"service_account"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(strings.Replace(string(e.file), "PRIVATE KEY", "RSA PRIVATE KEY", -1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		sa, key, err := ParseServiceAccountKey(b)
		if err != nil {
			if sa != nil || key != nil {
				t.Fatalf("ParseServiceAccountKey: error %v with a result", err)
			}
			if strings.Contains(err.Error(), "MII") {
				t.Fatalf("the error quotes the key: %v", err)
			}
			return
		}
		if sa.Type != ServiceAccountType || key.N.BitLen() != 2048 || !validKeyID(sa.PrivateKeyID) {
			t.Fatalf("ParseServiceAccountKey accepted %+v", sa)
		}
		again, err := json.Marshal(sa)
		if err != nil {
			t.Fatal(err)
		}
		sa2, key2, err := ParseServiceAccountKey(again)
		if err != nil || *sa2 != *sa || !key2.Equal(key) {
			t.Fatalf("re-encoded file parses as %+v, %v", sa2, err)
		}
	})
}
