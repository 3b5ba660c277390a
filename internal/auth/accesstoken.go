// SPDX-License-Identifier: Apache-2.0

package auth

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/kmserr"
)

// AccessTokenLifetime is the lifetime of the access tokens that the token
// endpoint issues, as Google's.
const AccessTokenLifetime = time.Hour

// GrantTypeJWTBearer is the grant type of the JWT bearer flow (RFC 7523),
// the one service-account key files use.
const GrantTypeJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// AccessToken is an access token issued by the token endpoint.
type AccessToken struct {
	// Token is the bearer token (secret):
	// custos_at_<base64url(payload)>.<base64url(HMAC-SHA256)>.
	Token  Secret
	Expiry time.Time
	App    string
	KeyID  string
}

// accessPayload is the content of an access token. It is authenticated,
// not encrypted: it names the app and key, which are not secret.
type accessPayload struct {
	V   int    `json:"v"`
	App string `json:"app"`
	Kid string `json:"kid"`
	Iat int64  `json:"iat"`
	Exp int64  `json:"exp"`
}

// IssueAccessToken verifies the assertion of a JWT bearer grant (RFC 7523
// §2.1) and returns an access token for its key, valid for an hour. The
// assertion must be signed by an active service-account key of an enabled
// app, with aud = the token_uri, iss = client_email, sub absent or equal,
// a lifetime of at most an hour, and the cloud-platform or cloudkms scope.
// A refused assertion is UNAUTHENTICATED (wrapping [ErrInvalidScope] when
// only the scope is wrong); a storage fault is UNAVAILABLE.
//
// The token is self-contained, MAC'd with a key derived from the root key,
// so any node can verify it without storage; it is still refused as soon
// as its key is revoked or its app disabled or deleted.
func (a *Apps) IssueAccessToken(ctx context.Context, assertion string) (*AccessToken, error) {
	if !looksLikeJWT(assertion) {
		return nil, unauthenticated("the assertion is not a JWT")
	}
	key, app, _, err := a.verifyJWT(ctx, assertion, useAssertion)
	if err != nil {
		return nil, err
	}
	now := a.now()
	exp := now.Add(AccessTokenLifetime)
	p, err := json.Marshal(accessPayload{V: 1, App: app.Name, Kid: key.ID, Iat: now.Unix(), Exp: exp.Unix()})
	if err != nil {
		return nil, kmserr.Internal(err, "internal error")
	}
	signed := AccessTokenPrefix + base64.RawURLEncoding.EncodeToString(p)
	tok := signed + "." + base64.RawURLEncoding.EncodeToString(a.accessMAC(signed))
	return &AccessToken{Token: Secret(tok), Expiry: time.Unix(exp.Unix(), 0), App: app.Name, KeyID: key.ID}, nil
}

func (a *Apps) accessMAC(signed string) []byte {
	m := a.macPool.Get().(hash.Hash)
	m.Reset()
	io.WriteString(m, signed)
	sum := m.Sum(nil)
	a.macPool.Put(m)
	return sum
}

// authenticateAccessToken checks an access token's MAC and expiry, then its
// key's and app's state.
func (a *Apps) authenticateAccessToken(ctx context.Context, tok string) (*App, error) {
	p, err := a.openAccessToken(tok)
	if err != nil {
		return nil, err
	}
	if !a.now().Before(time.Unix(p.Exp, 0)) {
		return nil, unauthenticated("the access token has expired; fetch a new one")
	}
	key, err := a.cachedKey(ctx, p.Kid)
	if kmserr.Code(err) == codes.NotFound || err == nil && (key.App != p.App || key.Type != FormatGoogleJSON) {
		return nil, unauthenticated("the access token's service-account key no longer exists (or its app was deleted)")
	}
	if err != nil {
		return nil, err
	}
	return a.checkState(ctx, key, "service-account key of the access token")
}

var errBadAccessToken = errors.New("bad access token")

// openAccessToken verifies the MAC of an access token and decodes it.
func (a *Apps) openAccessToken(tok string) (*accessPayload, error) {
	bad := func() (*accessPayload, error) {
		return nil, &kmserr.Error{Code: codes.Unauthenticated, Msg: "the access token is not valid (not issued by this server, or altered)", Err: errBadAccessToken}
	}
	if len(tok) > maxTokenLen || !strings.HasPrefix(tok, AccessTokenPrefix) {
		return bad()
	}
	signed, mac64, ok := strings.Cut(tok, ".")
	if !ok {
		return bad()
	}
	mac, err := base64.RawURLEncoding.Strict().DecodeString(mac64)
	if err != nil || !hmac.Equal(mac, a.accessMAC(signed)) {
		return bad()
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(signed[len(AccessTokenPrefix):])
	if err != nil {
		return bad()
	}
	var p accessPayload
	if err := json.Unmarshal(raw, &p); err != nil || p.V != 1 || !validKeyID(p.Kid) || !ValidAppName(p.App) {
		// A MAC'd token we cannot read: our own bug, or a future format.
		return bad()
	}
	return &p, nil
}
