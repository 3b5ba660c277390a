// SPDX-License-Identifier: Apache-2.0

package salesforce

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/api/rest"
	"github.com/custos-kms/custos/internal/auth"
	"github.com/custos-kms/custos/internal/crypto/alg"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
)

// Paths of the endpoint.
const (
	// PathPrefix is the prefix to mount [Handler] on.
	PathPrefix = "/salesforce/"
	// KeysPath is the Named Credential's URL path; Salesforce appends
	// "/KID".
	KeysPath = "/salesforce/v1/keys"
)

// ExportTarget is the target that fetches give kms.Service.ExportMaterial;
// the audit log's ExportCryptoKeyVersion entries show it.
const ExportTarget = "salesforce"

// MethodFetch is the audit log method of fetches refused before the export
// (credentials, kid, RequestIdentifier) or failed after it.
const MethodFetch = "SalesforceFetch"

// Where a RequestIdentifier is looked for (an assumption: see the package
// documentation): a path segment after the kid, this query parameter (any
// case), or this header.
const (
	RequestIdentifierParam  = "requestIdentifier"
	RequestIdentifierHeader = "RequestIdentifier"
)

// Authenticator checks a credential; *auth.Authenticator is one.
type Authenticator interface {
	Authenticate(ctx context.Context, req auth.Request) (*kms.Caller, error)
}

var _ Authenticator = (*auth.Authenticator)(nil)

// HandlerConfig is what a [Handler] is built from.
type HandlerConfig struct {
	Keys          *Keys
	KMS           KMS
	Authenticator Authenticator
	// Auditor records the fetches refused before the export; required.
	Auditor kms.Auditor
	Logger  *slog.Logger
}

// Handler serves the callouts of Salesforce's cache-only key service:
//
//	GET /salesforce/v1/keys/{kid}
//	GET /salesforce/v1/keys/{kid}/{RequestIdentifier}
//
// (a RequestIdentifier may also come as a query parameter or a header).
// It checks, in this order: the method (405), the HTTP Basic credentials
// (401), the kid (404), the RequestIdentifier (400), then exports the
// version as the app (403 if the app lacks custos.cryptoKeyVersions.export
// or the key or version cannot be exported; 404 if the Custos key is gone;
// 429 over quota). Safe for concurrent use.
//
// Every decision is in the audit log: an export, allowed or refused, as
// ExportCryptoKeyVersion with target "salesforce"; a refusal before the
// export as SalesforceFetch, except a 401 for a kid that names no key
// from a caller whose credential names nobody (anyone could fill the log
// with those; they are logged at debug level). A refusal that cannot be
// recorded is answered 503.
type Handler struct {
	cfg HandlerConfig
	log *slog.Logger
}

// NewHandler builds a Handler.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	if cfg.Keys == nil || cfg.KMS == nil || cfg.Authenticator == nil || cfg.Auditor == nil {
		return nil, errors.New("salesforce: Keys, KMS, Authenticator and Auditor are required")
	}
	h := &Handler{cfg: cfg, log: cfg.Logger}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h, nil
}

// fetch is one callout being decided, for the audit log.
type fetch struct {
	kid     string
	key     *Key
	caller  *kms.Caller // the authenticated caller, also when refused
	user    string      // the Basic username, if it has an app name's syntax
	nonce   string
	refusal string
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rid := newRequestID()
	w.Header().Set("X-Request-Id", rid)
	tail, ok := strings.CutPrefix(r.URL.Path, KeysPath+"/")
	kid, pathRI, _ := strings.Cut(tail, "/")
	if !ok || kid == "" {
		writeError(w, kmserr.NotFound("no Salesforce cache-only key resource at this path; the Named Credential's URL is {public URL}%s", KeysPath))
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeStatus(w, http.StatusMethodNotAllowed, kmserr.InvalidArgument("", "method %s is not allowed here; Salesforce fetches keys with GET", r.Method))
		return
	}
	f := &fetch{kid: kid}
	ctx := r.Context()

	// 401
	caller, user, err := h.authenticate(r, rid)
	f.caller, f.user = caller, user
	if err != nil {
		if kmserr.Code(err) == codes.Unauthenticated {
			w.Header().Set("WWW-Authenticate", `Basic realm="custos"`)
		}
		f.refusal = refusalFor(err, codes.Unauthenticated, "unauthenticated")
		// Recorded if the kid names a key or the credential named someone.
		f.key, _ = h.cfg.Keys.Resolve(ctx, kid)
		if f.key == nil && caller == nil {
			h.log.Debug("Salesforce fetch refused", "refusal", f.refusal, "client", r.RemoteAddr, "request_id", rid)
			writeError(w, err)
			return
		}
		h.refuse(w, h.auditContext(r, rid, f), f, err)
		return
	}
	actx := kms.WithCaller(ctx, caller)

	// 404
	key, err := h.cfg.Keys.Resolve(ctx, kid)
	if err != nil {
		f.refusal = refusalFor(err, codes.NotFound, "not_found")
		h.refuse(w, actx, f, err)
		return
	}
	f.key = key

	// 400
	if f.nonce, err = requestNonce(r, pathRI); err != nil {
		f.refusal = "bad_request_identifier"
		h.refuse(w, actx, f, kmserr.InvalidArgument("RequestIdentifier", "%s", strings.TrimPrefix(err.Error(), "salesforce: ")))
		return
	}
	cert, err := ParseCertificate([]byte(key.Certificate))
	if err != nil {
		f.refusal = "internal"
		h.refuse(w, actx, f, kmserr.DataLoss(err, "the stored BYOK certificate of this key cannot be read"))
		return
	}

	// 403, 404, 429: decided and recorded by the export.
	dek, _, _, err := h.cfg.KMS.ExportMaterial(actx, key.CryptoKeyVersion, kms.ExportOptions{
		Target:  ExportTarget,
		Details: map[string]string{"certificateSha256": key.CertificateSHA256},
		Accept: func(a alg.Algorithm) error {
			if a != Algorithm {
				return kmserr.FailedPrecondition("export not allowed: a Salesforce cache-only key must be %s, and %s is %s", Algorithm, key.CryptoKeyVersion, a)
			}
			return nil
		},
	})
	if err != nil {
		writeError(w, exportError(err))
		return
	}
	jwe, err := Seal(dek, cert.PublicKey.(*rsa.PublicKey), key.KID, f.nonce)
	clear(dek)
	if err != nil {
		f.refusal = "internal"
		h.refuse(w, actx, f, kmserr.Internal(err, "internal error"))
		return
	}
	body, err := json.Marshal(struct {
		KID string `json:"kid"`
		JWE string `json:"jwe"`
	}{key.KID, jwe})
	if err != nil {
		f.refusal = "internal"
		h.refuse(w, actx, f, kmserr.Internal(err, "internal error"))
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// errBadCredentials is the one answer to every wrong credential, so that
// it tells nothing of which part was wrong.
var errBadCredentials = kmserr.Unauthenticated("the credentials are not valid: the username must be the name of a Custos app and the password one of its API keys")

// authenticate checks the HTTP Basic credentials: the password must be an
// API key of the app that the username names. It returns the caller the
// password authenticated (also when it is refused: another app, the
// admin) and the username if it has the syntax of an app name, for the
// audit log. Only an API key is ever accepted: the admin token, access
// tokens and JWTs are refused, even if valid.
func (h *Handler) authenticate(r *http.Request, rid string) (*kms.Caller, string, error) {
	if r.Header.Get("Authorization") == "" {
		return nil, "", kmserr.Unauthenticated("the request has no credential: send HTTP Basic credentials, the app's name and one of its API keys")
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return nil, "", kmserr.Unauthenticated("this endpoint takes HTTP Basic credentials (the app's name and one of its API keys), not a bearer token")
	}
	if !auth.ValidAppName(user) {
		user = ""
	}
	if !strings.HasPrefix(pass, auth.APIKeyPrefix) {
		return nil, user, errBadCredentials
	}
	c, err := h.cfg.Authenticator.Authenticate(r.Context(), auth.Request{Token: pass, ClientAddr: r.RemoteAddr, RequestID: rid})
	if err != nil {
		if kmserr.Code(err) == codes.Unauthenticated {
			return nil, user, errBadCredentials
		}
		return nil, user, err
	}
	if c.Admin || c.AuthMethod != auth.MethodAPIKey || c.App == "" ||
		subtle.ConstantTimeCompare([]byte(user), []byte(c.App)) != 1 {
		return c, user, errBadCredentials
	}
	return c, user, nil
}

// auditContext is the context to record a refused authentication with:
// the caller the credential named, or an anonymous one.
func (h *Handler) auditContext(r *http.Request, rid string, f *fetch) context.Context {
	c := f.caller
	if c == nil {
		c = &kms.Caller{Principal: "anonymous", AuthMethod: "basic", ClientAddress: r.RemoteAddr, RequestID: rid}
	}
	return kms.WithCaller(r.Context(), c)
}

// refuse records a refusal and answers it; 503 if it cannot be recorded.
func (h *Handler) refuse(w http.ResponseWriter, actx context.Context, f *fetch, err error) {
	details := map[string]string{"always": "true", "kid": printable(f.kid), "refusal": f.refusal}
	res := keyRecordName(printable(f.kid))
	if f.key != nil {
		details["cryptoKeyVersion"] = f.key.CryptoKeyVersion
		details["name"] = f.key.Name
	}
	if f.user != "" {
		details["username"] = f.user
	}
	if f.nonce != "" {
		details["jti"] = f.nonce
	}
	aerr := h.cfg.Auditor.Record(actx, kms.Event{Method: MethodFetch, Resource: res, Err: err, DataAccess: true, Details: details})
	if aerr != nil {
		if kmserr.Code(aerr) != codes.Unavailable {
			aerr = kmserr.Unavailable(aerr, "the call could not be recorded in the audit log")
		}
		writeError(w, aerr)
		return
	}
	writeError(w, err)
}

// refusalFor names a refusal for the audit log: name if err has the code
// the step expects, else after the fault.
func refusalFor(err error, expected codes.Code, name string) string {
	switch kmserr.Code(err) {
	case expected:
		return name
	case codes.Unavailable, codes.Aborted, codes.DeadlineExceeded, codes.Canceled:
		return "unavailable"
	}
	return "internal"
}

// exportError maps a refused export to the status Salesforce gets: a key
// that is not exportable or a version that is not ENABLED (FAILED_PRECONDITION)
// is 403, like a missing permission.
func exportError(err error) error {
	var ke *kmserr.Error
	if errors.As(err, &ke) && ke.Code == codes.FailedPrecondition {
		return &kmserr.Error{Code: codes.PermissionDenied, Msg: ke.Msg, Err: ke.Err}
	}
	return err
}

// requestNonce finds the RequestIdentifier of a callout (the path segment
// after the kid, the query parameter, the header) and returns its nonce,
// or "" if the callout has none. Several RequestIdentifiers must give the
// same nonce.
func requestNonce(r *http.Request, pathRI string) (string, error) {
	var ris []string
	if pathRI != "" {
		ris = append(ris, pathRI)
	}
	for k, vs := range r.URL.Query() {
		if strings.EqualFold(k, RequestIdentifierParam) {
			ris = append(ris, vs...)
		}
	}
	ris = append(ris, r.Header.Values(RequestIdentifierHeader)...)
	nonce := ""
	for _, ri := range ris {
		if ri == "" {
			continue
		}
		n, err := Nonce(ri)
		if err != nil {
			return "", err
		}
		if nonce != "" && n != nonce {
			return "", errors.New("salesforce: the request carries RequestIdentifiers with different nonces")
		}
		nonce = n
	}
	return nonce, nil
}

// writeError writes err as Google's error envelope (rest.WriteError).
func writeError(w http.ResponseWriter, err error) { rest.WriteError(w, err) }

// writeStatus writes the error envelope of err under another HTTP status
// (405, which has no gRPC code).
func writeStatus(w http.ResponseWriter, status int, err error) {
	var ke *kmserr.Error
	msg := "internal error"
	if errors.As(err, &ke) {
		msg = ke.Msg
	}
	body, _ := json.Marshal(map[string]any{"error": map[string]any{"code": status, "message": msg, "status": "INVALID_ARGUMENT"}})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}

// newRequestID identifies a request in the audit log and the answer's
// X-Request-Id.
func newRequestID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
