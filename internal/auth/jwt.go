// SPDX-License-Identifier: Apache-2.0

package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/kmserr"
)

// JWT rules, as Google applies them to self-signed JWTs and to the JWT
// bearer grant (RFC 7523): at most an hour of lifetime, a minute of clock
// skew either way.
const (
	maxJWTLifetime = time.Hour
	jwtSkew        = 60 * time.Second
	// maxTokenLen bounds the bearer tokens we parse at all; a JWT of the
	// official clients is under 1 KiB.
	maxTokenLen = 8 << 10
)

// Scopes accepted in a JWT's scope claim: one of them must be present
// (unless the JWT is addressed to this server by aud).
var acceptedScopes = map[string]bool{
	"https://www.googleapis.com/auth/cloud-platform": true,
	"https://www.googleapis.com/auth/cloudkms":       true,
}

// jwtClaims are the claims Custos reads. Other claims are ignored.
type jwtClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.Audience     `json:"aud"`
	Expiry    *jwt.NumericDate `json:"exp"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	Scope     scopeClaim       `json:"scope"`
}

// scopeClaim is a space-separated string of scopes (RFC 8693 §4.2), or,
// leniently, a JSON array of them.
type scopeClaim []string

func (s *scopeClaim) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		*s = strings.Fields(str)
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("scope is neither a string nor an array of strings")
	}
	*s = list
	return nil
}

func (s scopeClaim) accepted() bool {
	for _, v := range s {
		if acceptedScopes[v] {
			return true
		}
	}
	return false
}

// jwtUse says what a JWT is presented for.
type jwtUse int

const (
	// useBearer: sent as the bearer token of an API call (the official
	// clients' "self-signed JWT"). iss = sub = client_email; aud empty or
	// this server or Cloud KMS; an accepted scope unless aud names us.
	useBearer jwtUse = iota
	// useAssertion: the assertion of the JWT bearer grant at the token
	// endpoint. iss = client_email, sub absent or the same; aud = token_uri.
	useAssertion
)

// ErrInvalidScope marks (with errors.Is) an assertion refused because it
// asks for no scope Custos serves; the token endpoint answers invalid_scope.
var ErrInvalidScope = errors.New("auth: the assertion asks for no accepted scope")

// looksLikeJWT reports whether s has the shape of a JWS compact
// serialization: three dot-separated parts of base64url characters (the
// last may be empty, as with alg none, which is refused later with a
// clear message).
func looksLikeJWT(s string) bool {
	if strings.Count(s, ".") != 2 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// canonicalJWT reports whether every part of a compact JWS is canonical
// unpadded base64url. go-jose decodes leniently (unused trailing bits may
// be set), so without this check one signed JWT has several spellings;
// with it, a token authenticates only as its signer wrote it, which keeps
// the verified-token cache to one entry per JWT.
func canonicalJWT(s string) bool {
	for part := range strings.SplitSeq(s, ".") {
		if _, err := base64.RawURLEncoding.Strict().DecodeString(part); err != nil {
			return false
		}
	}
	return true
}

func unauthenticated(format string, args ...any) error {
	return kmserr.Unauthenticated(format, args...)
}

// verifyJWT checks a JWT signed by an app's service-account key, and the
// key's and app's state. It returns the key and the token's expiry. Every
// refusal is UNAUTHENTICATED, except storage faults (UNAVAILABLE) and
// tampered records (DATA_LOSS). The key's revocation and the app's state
// are only told to a caller whose signature verified.
func (a *Apps) verifyJWT(ctx context.Context, token string, use jwtUse) (*liveKey, *App, time.Time, error) {
	if len(token) > maxTokenLen {
		return nil, nil, time.Time{}, unauthenticated("the bearer token is too long")
	}
	if !looksLikeJWT(token) || !canonicalJWT(token) {
		return nil, nil, time.Time{}, unauthenticated("the JWT is malformed (three canonical base64url parts expected)")
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, nil, time.Time{}, unauthenticated("the JWT is malformed or not signed with RS256 (the only algorithm accepted)")
	}
	if len(tok.Headers) != 1 {
		return nil, nil, time.Time{}, unauthenticated("the JWT must have one signature")
	}
	kid := tok.Headers[0].KeyID
	if !validKeyID(kid) {
		return nil, nil, time.Time{}, unauthenticated("the JWT's kid is not the private_key_id of a Custos service-account key")
	}
	key, err := a.cachedKey(ctx, kid)
	if kmserr.Code(err) == codes.NotFound || err == nil && key.Type != FormatGoogleJSON {
		return nil, nil, time.Time{}, unauthenticated("the JWT's kid names no service-account key (unknown, or its app was deleted)")
	}
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	var c jwtClaims
	if err := tok.Claims(key.pub, &c); err != nil {
		if errors.Is(err, jose.ErrCryptoFailure) {
			return nil, nil, time.Time{}, unauthenticated("the JWT's signature does not verify with the key its kid names")
		}
		return nil, nil, time.Time{}, unauthenticated("the JWT's claims are malformed")
	}
	exp, err := a.checkClaims(&c, key, use)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	app, err := a.checkState(ctx, key, "service-account key")
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	return key, app, exp, nil
}

// checkClaims applies the claim rules of use; it returns the expiry.
func (a *Apps) checkClaims(c *jwtClaims, key *liveKey, use jwtUse) (time.Time, error) {
	if c.Issuer != key.ClientEmail {
		return time.Time{}, unauthenticated("the JWT's iss is not the client_email of its key")
	}
	switch use {
	case useBearer:
		if c.Subject != key.ClientEmail {
			return time.Time{}, unauthenticated("the JWT's sub is not the client_email of its key")
		}
	case useAssertion:
		if c.Subject != "" && c.Subject != key.ClientEmail {
			return time.Time{}, unauthenticated("the JWT's sub must be absent or the client_email of its key (no impersonation)")
		}
	}
	if c.Expiry == nil || c.IssuedAt == nil {
		return time.Time{}, unauthenticated("the JWT must have iat and exp claims")
	}
	now := a.now()
	iat, exp := c.IssuedAt.Time(), c.Expiry.Time()
	switch {
	case !exp.After(iat):
		return time.Time{}, unauthenticated("the JWT expires before it is issued")
	case exp.Sub(iat) > maxJWTLifetime:
		return time.Time{}, unauthenticated("the JWT's lifetime (exp - iat) exceeds one hour")
	case iat.After(now.Add(jwtSkew)):
		return time.Time{}, unauthenticated("the JWT is issued in the future (check the client's clock)")
	case c.NotBefore != nil && c.NotBefore.Time().After(now.Add(jwtSkew)):
		return time.Time{}, unauthenticated("the JWT is not valid yet (nbf)")
	case !now.Before(exp.Add(jwtSkew)):
		return time.Time{}, unauthenticated("the JWT has expired")
	}

	var aud []string
	for _, v := range c.Audience {
		if v != "" {
			aud = append(aud, v)
		}
	}
	switch use {
	case useBearer:
		// A JWT addressed elsewhere was meant for another service: refuse
		// it even with a good scope, so that it cannot be replayed here.
		for _, v := range aud {
			if !a.audiences[v] {
				return time.Time{}, unauthenticated("the JWT's aud is neither this server nor Cloud KMS")
			}
		}
		if len(aud) == 0 && !c.Scope.accepted() {
			return time.Time{}, unauthenticated("the JWT has neither a cloud-platform or cloudkms scope nor an aud naming this server")
		}
	case useAssertion:
		if len(aud) != 1 || !a.tokenURLs[aud[0]] {
			return time.Time{}, unauthenticated("the assertion's aud is not this server's token_uri")
		}
		if !c.Scope.accepted() {
			return time.Time{}, &kmserr.Error{Code: codes.Unauthenticated, Msg: "the assertion requests neither the cloud-platform nor the cloudkms scope", Err: ErrInvalidScope}
		}
	}
	return exp, nil
}

// checkState refuses a revoked key or a disabled or deleted app. It reads
// the in-memory cache, so that it is cheap enough for every request.
func (a *Apps) checkState(ctx context.Context, key *liveKey, what string) (*App, error) {
	if key.Revoked {
		return nil, unauthenticated("the %s was revoked", what)
	}
	app, err := a.cachedApp(ctx, key.App)
	if kmserr.Code(err) == codes.NotFound {
		return nil, unauthenticated("the app of this credential was deleted")
	}
	if err != nil {
		return nil, err
	}
	if app.Disabled {
		return nil, unauthenticated("app %s is disabled", app.Name)
	}
	return app, nil
}
