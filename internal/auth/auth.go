// SPDX-License-Identifier: Apache-2.0

// Package auth turns the credential of a request into a [kms.Caller]. It
// knows the built-in admin token; apps and their credentials come next.
//
// Tokens are compared by their SHA-256 digest in constant time, so that the
// comparison leaks nothing about the expected token.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"

	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
)

// AdminPrincipal is the principal name of the built-in admin.
const AdminPrincipal = "admin"

// NewAdminToken returns a fresh admin token: a prefix that secret scanners
// can match, and 256 random bits.
func NewAdminToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "custos_admin_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// Authenticator checks bearer tokens. Safe for concurrent use.
type Authenticator struct {
	adminHash [32]byte
}

// New returns an authenticator that accepts adminToken as the built-in admin.
func New(adminToken string) *Authenticator {
	return &Authenticator{adminHash: sha256.Sum256([]byte(adminToken))}
}

// Request is what a request offers to prove who sent it.
type Request struct {
	// Token is the bearer token ("" if none).
	Token string
	// ClientAddr is the peer's address, for the audit log.
	ClientAddr string
	// ClientCert is the verified TLS client certificate (mTLS), or nil.
	ClientCert *x509.Certificate
	// RequestID identifies the request in logs and the audit log.
	RequestID string
}

// Authenticate returns the caller of a request, or UNAUTHENTICATED.
func (a *Authenticator) Authenticate(ctx context.Context, req Request) (*kms.Caller, error) {
	token, clientAddr := req.Token, req.ClientAddr
	if token == "" {
		return nil, kmserr.Unauthenticated("the request has no credential: send Authorization: Bearer <token>")
	}
	h := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(h[:], a.adminHash[:]) == 1 {
		return &kms.Caller{Principal: AdminPrincipal, AuthMethod: "admin-token", Admin: true, ClientAddress: clientAddr, RequestID: req.RequestID}, nil
	}
	return nil, kmserr.Unauthenticated("the credential is not valid")
}
