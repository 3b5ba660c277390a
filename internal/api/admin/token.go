// SPDX-License-Identifier: Apache-2.0

package admin

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/auth"
	"github.com/custos-kms/custos/internal/kmserr"
)

// maxTokenForm bounds the body of a token request; an assertion is ~1 KiB.
const maxTokenForm = 64 << 10

// RegisterToken registers the OAuth2 token endpoint, POST /oauth2/token,
// that the token_uri of Custos's service-account key files names. It serves
// the JWT bearer grant of RFC 7523 as Google's token endpoint does: a
// form-encoded grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer and
// an assertion signed by the key, answered with
// {"access_token","token_type":"Bearer","expires_in"}. Errors follow
// RFC 6749 §5.2: 400 {"error":"invalid_request"|"unsupported_grant_type"|
// "invalid_grant"|"invalid_scope","error_description"}; a storage fault is
// 503 temporarily_unavailable, anything else 500 server_error.
//
// The endpoint needs no other credential: the assertion is one. The access
// token is secret; the answer forbids caching it.
func RegisterToken(h *Handler, a *auth.Apps) {
	h.HandleRaw("POST "+auth.TokenPath, func(w http.ResponseWriter, r *http.Request) {
		serveToken(w, r, a)
	})
}

func serveToken(w http.ResponseWriter, r *http.Request, a *auth.Apps) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenForm)
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the form cannot be read")
		return
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case auth.GrantTypeJWTBearer:
	case "":
		oauthError(w, http.StatusBadRequest, "invalid_request", "grant_type is missing")
		return
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "only "+auth.GrantTypeJWTBearer+" is supported")
		return
	}
	assertion := r.PostForm.Get("assertion")
	if assertion == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "assertion is missing")
		return
	}
	tok, err := a.IssueAccessToken(r.Context(), assertion)
	if err != nil {
		var ke *kmserr.Error
		msg := ""
		if errors.As(err, &ke) {
			msg = ke.Msg // safe for the caller by contract
		}
		switch {
		case errors.Is(err, auth.ErrInvalidScope):
			oauthError(w, http.StatusBadRequest, "invalid_scope", msg)
		case kmserr.Code(err) == codes.Unauthenticated:
			oauthError(w, http.StatusBadRequest, "invalid_grant", msg)
		case kmserr.Code(err) == codes.Unavailable:
			oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "try again later")
		default:
			oauthError(w, http.StatusInternalServerError, "server_error", "internal error")
		}
		return
	}
	// The token was just issued for AccessTokenLifetime from the second
	// it was issued in; answer a second less, as Google does, so that a
	// client never holds it past its expiry.
	expiresIn := int64(auth.AccessTokenLifetime/time.Second) - 1
	WriteJSON(w, http.StatusOK, struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}{string(tok.Token), "Bearer", expiresIn})
}

// oauthError writes an RFC 6749 §5.2 error answer.
func oauthError(w http.ResponseWriter, code int, kind, desc string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{kind, desc})
}
