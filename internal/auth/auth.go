// SPDX-License-Identifier: Apache-2.0

// Package auth turns the credential of a request into a [kms.Caller]: the
// built-in admin token, and the credentials of apps, the service identities
// managed by [Apps].
//
// # Credentials
//
// A request offers a bearer token, a verified TLS client certificate, or
// both. [Authenticator.Authenticate] dispatches a bearer token by its shape:
//
//	custos_admin_…           the built-in admin token (any token equal to it, in fact)
//	custos_ak_<keyid>_<s>    an app's API key
//	custos_at_<payload>.<m>  an access token from the OAuth2 token endpoint
//	x.y.z                    a JWT signed by an app's service-account key
//
// With no bearer token, a client certificate is looked up by its SHA-256
// fingerprint among the certificates registered to apps (mTLS). A token,
// when present, always decides: a bad token is refused even if a good
// certificate comes with it.
//
// # Secrets
//
// Custos keeps no secret of an app in storage: API keys are kept as SHA-256
// digests (they carry 256 random bits, so a plain hash is enough), the
// private key of a service-account key file is generated, handed out once
// and forgotten (only its public key is stored), and access tokens are
// self-contained, authenticated by an HMAC key derived from the root key.
// Secrets handed out are of type [Secret], which redacts itself when
// printed or logged.
//
// Tokens are compared by their SHA-256 digest in constant time, so that the
// comparison leaks nothing about the expected token.
//
// # Revocation
//
// Verified JWTs are cached until they expire, but the state of their key
// and app is checked on every request from an in-memory cache that every
// change on this node invalidates at once; other nodes see a change within
// [AppsConfig.CacheTTL].
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"sync/atomic"

	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
)

// AdminPrincipal is the principal name of the built-in admin.
const AdminPrincipal = "admin"

// Authentication methods, as [kms.Caller.AuthMethod] reports them.
const (
	MethodAdminToken        = "admin-token"
	MethodAPIKey            = "api-key"
	MethodServiceAccountJWT = "service-account-jwt"
	MethodOAuth2Token       = "oauth2-token"
	MethodMTLS              = "mtls"
)

// Token prefixes. They let secret scanners find leaked tokens and let
// [Authenticator.Authenticate] dispatch without trying every method.
const (
	AdminTokenPrefix  = "custos_admin_"
	APIKeyPrefix      = "custos_ak_"
	AccessTokenPrefix = "custos_at_"
)

// NewAdminToken returns a fresh admin token: a prefix that secret scanners
// can match, and 256 random bits.
func NewAdminToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return AdminTokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Authenticator checks the credentials of requests. Safe for concurrent use.
type Authenticator struct {
	adminHash atomic.Pointer[[32]byte] // changed by SetAdminHash
	apps      *Apps
}

// New returns an authenticator that accepts adminToken as the built-in admin
// and nothing else.
func New(adminToken string) *Authenticator {
	return NewWithApps(adminToken, nil)
}

// NewWithApps returns an authenticator that accepts adminToken as the
// built-in admin and the credentials of the apps in apps (nil: none).
func NewWithApps(adminToken string, apps *Apps) *Authenticator {
	return NewWithAdminHash(sha256.Sum256([]byte(adminToken)), apps)
}

// NewWithAdminHash is NewWithApps for a server that keeps only the SHA-256
// of the admin token (production mode), never the token itself.
func NewWithAdminHash(adminHash [32]byte, apps *Apps) *Authenticator {
	a := &Authenticator{apps: apps}
	a.SetAdminHash(adminHash)
	return a
}

// SetAdminHash makes the token whose SHA-256 is h the admin token, in
// place of the one before, for every request authenticated from now on.
func (a *Authenticator) SetAdminHash(h [32]byte) { a.adminHash.Store(&h) }

// IsAdminToken reports whether token is the admin token in force now (a
// call authenticated with it before SetAdminHash replaced it is not).
func (a *Authenticator) IsAdminToken(token string) bool {
	h := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(h[:], a.adminHash.Load()[:]) == 1
}

// Request is what a request offers to prove who sent it.
type Request struct {
	// Token is the bearer token ("" if none).
	Token string
	// ClientAddr is the peer's address, for the audit log.
	ClientAddr string
	// ClientCert is the verified TLS client certificate (mTLS), or nil.
	// The TLS layer must have verified it against the client CA: this
	// package only maps its fingerprint to an app.
	ClientCert *x509.Certificate
	// RequestID identifies the request in logs and the audit log.
	RequestID string
}

// Authenticate returns the caller of a request. A request without a
// credential, or with one that is unknown, malformed, revoked or expired, or
// whose app is disabled or deleted, gets an UNAUTHENTICATED *kmserr.Error
// whose message says which, and never contains the token. A storage failure
// while checking is UNAVAILABLE.
func (a *Authenticator) Authenticate(ctx context.Context, req Request) (*kms.Caller, error) {
	token, clientAddr := req.Token, req.ClientAddr
	if token == "" && (req.ClientCert == nil || a.apps == nil) {
		return nil, kmserr.Unauthenticated("the request has no credential: send Authorization: Bearer <token>")
	}
	var h [32]byte
	if token != "" {
		// Every token is compared with the admin token, whatever its shape,
		// so that an admin token of any form keeps working.
		h = sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(h[:], a.adminHash.Load()[:]) == 1 {
			return &kms.Caller{Principal: AdminPrincipal, AuthMethod: MethodAdminToken, Admin: true, ClientAddress: clientAddr, RequestID: req.RequestID}, nil
		}
		if a.apps == nil {
			return nil, kmserr.Unauthenticated("the credential is not valid")
		}
	}
	return a.apps.authenticate(ctx, req, h)
}
