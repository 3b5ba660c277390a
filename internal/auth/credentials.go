// SPDX-License-Identifier: Apache-2.0

package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
)

// verifiedToken is a JWT that passed every check once. Until exp (plus the
// skew) only its key's and app's state is checked again.
type verifiedToken struct {
	keyID string
	exp   time.Time
}

// authenticate checks an app credential (the admin token is already
// ruled out): the bearer token if there is one, else the client
// certificate. sum is the SHA-256 of the token.
func (a *Apps) authenticate(ctx context.Context, req Request, sum [32]byte) (*kms.Caller, error) {
	var (
		app    *App
		method string
		err    error
	)
	switch tok := req.Token; {
	case tok == "":
		method = MethodMTLS
		app, err = a.authenticateCert(ctx, req)
	case strings.HasPrefix(tok, AdminTokenPrefix):
		return nil, unauthenticated("the admin token is not valid")
	case strings.HasPrefix(tok, APIKeyPrefix):
		method = MethodAPIKey
		app, err = a.authenticateAPIKey(ctx, tok, sum)
	case strings.HasPrefix(tok, AccessTokenPrefix):
		method = MethodOAuth2Token
		app, err = a.authenticateAccessToken(ctx, tok)
	case looksLikeJWT(tok):
		method = MethodServiceAccountJWT
		app, err = a.authenticateJWT(ctx, tok, sum)
	default:
		return nil, unauthenticated("the bearer token is not a Custos token or a JWT")
	}
	if err != nil {
		return nil, err
	}
	return &kms.Caller{
		Principal:     app.Principal(),
		AuthMethod:    method,
		App:           app.Name,
		ClientAddress: req.ClientAddr,
		RequestID:     req.RequestID,
	}, nil
}

// authenticateAPIKey checks custos_ak_<keyid>_<secret>: the key id finds
// the record, the SHA-256 of the whole key (sum) must match in constant
// time.
func (a *Apps) authenticateAPIKey(ctx context.Context, tok string, sum [32]byte) (*App, error) {
	id, _, ok := strings.Cut(tok[len(APIKeyPrefix):], "_")
	if !ok || !validKeyID(id) || len(tok) > maxTokenLen {
		return nil, unauthenticated("the API key is malformed")
	}
	key, err := a.cachedKey(ctx, id)
	if kmserr.Code(err) == codes.NotFound || err == nil && key.Type != FormatAPIKey {
		return nil, unauthenticated("the API key is unknown (or its app was deleted)")
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(sum[:], key.SecretHash) != 1 {
		return nil, unauthenticated("the API key is unknown (or its app was deleted)")
	}
	return a.checkState(ctx, key, "API key")
}

// authenticateJWT checks a self-signed JWT; once verified, a token is
// cached by its SHA-256 (sum) until it expires, so that later requests do
// no RSA verification, only the state check.
func (a *Apps) authenticateJWT(ctx context.Context, tok string, sum [32]byte) (*App, error) {
	if v, ok := a.tokens.Get(sum); ok {
		if !a.now().Before(v.exp.Add(jwtSkew)) {
			a.tokens.Remove(sum)
			return nil, unauthenticated("the JWT has expired")
		}
		key, err := a.cachedKey(ctx, v.keyID)
		if kmserr.Code(err) == codes.NotFound {
			a.tokens.Remove(sum)
			return nil, unauthenticated("the JWT's kid names no service-account key (unknown, or its app was deleted)")
		}
		if err != nil {
			return nil, err
		}
		return a.checkState(ctx, key, "service-account key")
	}
	key, app, exp, err := a.verifyJWT(ctx, tok, useBearer)
	if err != nil {
		return nil, err
	}
	a.tokens.Add(sum, verifiedToken{keyID: key.ID, exp: exp})
	return app, nil
}

// authenticateCert maps a verified client certificate to its app by the
// SHA-256 of its DER.
func (a *Apps) authenticateCert(ctx context.Context, req Request) (*App, error) {
	fp := sha256.Sum256(req.ClientCert.Raw)
	fpHex := hex.EncodeToString(fp[:])
	id, err := a.cachedIndex(ctx, mtlsIndexName(fpHex))
	if kmserr.Code(err) == codes.NotFound {
		return nil, unauthenticated("the client certificate is not registered to any app; send a bearer token or register the certificate")
	}
	if err != nil {
		return nil, err
	}
	key, err := a.cachedKey(ctx, id)
	if kmserr.Code(err) == codes.NotFound || err == nil && (key.Type != FormatMTLS || key.Fingerprint != fpHex) {
		return nil, unauthenticated("the client certificate is not registered to any app (its app was deleted?)")
	}
	if err != nil {
		return nil, err
	}
	// The TLS layer checked the validity period when the connection was
	// set up; a connection (gRPC, HTTP/2) may outlive the certificate.
	if a.now().After(req.ClientCert.NotAfter) {
		return nil, unauthenticated("the client certificate has expired")
	}
	return a.checkState(ctx, key, "client certificate's registration")
}
