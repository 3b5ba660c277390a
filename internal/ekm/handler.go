// SPDX-License-Identifier: Apache-2.0

package ekm

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/custos-kms/custos/internal/auth"
	"github.com/custos-kms/custos/internal/iam"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
)

// PathPrefix is where the endpoint is served; a key's URI is
// {public URL}/ekm/v0/keys/{id}.
const (
	PathPrefix = "/ekm/"
	keysPrefix = "/ekm/v0/keys/"
	infoPath   = "/ekm/v0/info"
)

// AuthMethod is the kms.Caller.AuthMethod of Cloud EKM calls.
const AuthMethod = "google-id-token"

// Keys resolves external key ids; *kms.Service implements it.
type Keys interface {
	ResolveEKM(ctx context.Context, id string, blob []byte) (*kms.EKMTarget, error)
}

var _ Keys = (*kms.Service)(nil)

// Config is what a [Handler] is built from.
type Config struct {
	Keys       Keys
	Apps       AppReader
	Authorizer kms.Authorizer // with quotas (iam.WithQuotas)
	Auditor    kms.Auditor    // required: every decision is recorded
	Policies   *Policies
	Verifier   *Verifier
	Metrics    *Metrics // nil: a new one
	Logger     *slog.Logger
	// PublicURL is the server's public base URL; key URIs are
	// PublicURL + "/ekm/v0/keys/" + id.
	PublicURL string
	// CacheDuration is the allowedCacheDuration of unwrap answers; 0
	// leaves it out, so that Google caches nothing and a revocation
	// applies to the next call.
	CacheDuration time.Duration
	// Version is the server's version, shown to authenticated callers of
	// GET {key URI}.
	Version string
	// StrangerAuditsPerMinute bounds the audit entries of calls refused
	// to Google identities that are no Custos app (see Handler); 600 if 0.
	StrangerAuditsPerMinute int
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Handler serves the Cloud EKM endpoint. Safe for concurrent use.
//
// Every call of an app is recorded in the audit log, and so are calls
// refused to Google identities that are no app, up to a budget a minute:
// anyone can have a Google-signed token, and nobody should be able to fill
// the disk with audit entries from outside. Refusals beyond the budget get
// the same answer, and are counted (custos_ekm_unaudited_refusals_total)
// and logged once a minute instead of recorded one by one.
type Handler struct {
	cfg       Config
	metrics   *Metrics
	log       *slog.Logger
	strangers strangerBudget
}

// strangerBudget counts the audited refusals of strangers in the current
// minute.
type strangerBudget struct {
	mu      sync.Mutex
	minute  int64 // Unix time / 60
	used    int
	skipped int // refusals not recorded this minute
}

// take reports whether one more refusal may be recorded at now, out of
// limit a minute, and how many went unrecorded in the minute that just
// ended (to log once) when now starts a new one.
func (b *strangerBudget) take(now time.Time, limit int) (ok bool, endedSkipped int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if m := now.Unix() / 60; m != b.minute {
		endedSkipped = b.skipped
		b.minute, b.used, b.skipped = m, 0, 0
	}
	if b.used < limit {
		b.used++
		return true, endedSkipped
	}
	b.skipped++
	return false, endedSkipped
}

// New builds a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Keys == nil || cfg.Apps == nil || cfg.Authorizer == nil || cfg.Auditor == nil || cfg.Policies == nil || cfg.Verifier == nil {
		return nil, errors.New("ekm: Keys, Apps, Authorizer, Auditor, Policies and Verifier are required")
	}
	h := &Handler{cfg: cfg, metrics: cfg.Metrics, log: cfg.Logger}
	if h.metrics == nil {
		h.metrics = NewMetrics()
	}
	if h.cfg.StrangerAuditsPerMinute <= 0 {
		h.cfg.StrangerAuditsPerMinute = 600
	}
	if h.cfg.Now == nil {
		h.cfg.Now = time.Now
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	return h, nil
}

// Metrics returns the handler's metrics.
func (h *Handler) Metrics() *Metrics { return h.metrics }

// outcome is what one request ended with, for the metrics.
type outcome struct {
	method  string
	code    int
	refusal string
	app     string
}

// ServeHTTP routes:
//
//	POST {key URI}:wrap     WrapRequest -> WrapResponse
//	POST {key URI}:unwrap   UnwrapRequest -> UnwrapResponse
//	GET  {key URI}          what Custos is and which methods the caller may use (valid token needed)
//	GET  /ekm/v0/info       what Custos is and which methods it serves (no token)
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	o := &outcome{method: "other"}
	defer func() { h.metrics.observe(o.method, o.code, time.Since(start), o.refusal, o.app) }()
	r = withRequestID(w, r)

	path := r.URL.Path
	switch {
	case path == infoPath:
		o.method = "info"
		if !allow(w, r, o, http.MethodGet, http.MethodHead) {
			return
		}
		o.code = http.StatusOK
		body, _ := json.Marshal(map[string]any{
			"service":      "Custos External Key Manager",
			"protocol":     "google.cloud.ekms.v0",
			"methods":      []string{"wrap", "unwrap"},
			"keyUriPrefix": h.cfg.PublicURL + keysPrefix,
		})
		writeJSON(w, o.code, body)
	case strings.HasPrefix(path, keysPrefix):
		id, verb, hasVerb := strings.Cut(path[len(keysPrefix):], ":")
		switch {
		case !hasVerb:
			o.method = "get"
			if allow(w, r, o, http.MethodGet, http.MethodHead) {
				h.serveKey(w, r, o, id)
			}
		case verb == "wrap" || verb == "unwrap":
			o.method = verb
			op := OpWrap
			if verb == "unwrap" {
				op = OpUnwrap
			}
			if allow(w, r, o, http.MethodPost) {
				h.serveOp(w, r, o, op, id)
			}
		default:
			// asymmetricSign, getPublicKey, destroyKey, the confidential
			// calls...: only to a caller with a valid token.
			if _, err := h.cfg.Verifier.Verify(r.Context(), bearerToken(r.Header.Get("Authorization"))); err != nil {
				h.refuse(w, o, refusalFor(err, "unauthenticated"), err)
				return
			}
			o.code = writeError(w, kmserr.Unimplemented("Custos does not implement the Cloud EKM method %q; it serves wrap and unwrap", printable(verb, 64)))
		}
	default:
		o.code = writeError(w, kmserr.NotFound("no Cloud EKM resource at this path"))
	}
}

// allow answers 405 unless the request's method is one of methods.
func allow(w http.ResponseWriter, r *http.Request, o *outcome, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	body, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code": http.StatusMethodNotAllowed, "message": "method " + r.Method + " is not allowed here", "status": "INVALID_ARGUMENT",
	}})
	o.code = http.StatusMethodNotAllowed
	writeJSON(w, o.code, body)
	return false
}

// refuse writes err and counts the refusal.
func (h *Handler) refuse(w http.ResponseWriter, o *outcome, reason string, err error) {
	o.refusal = reason
	o.code = writeError(w, err)
}

// serveKey answers GET {key URI}: 401, 404, 403 as for a call, then which
// of wrap and unwrap the caller may use now.
func (h *Handler) serveKey(w http.ResponseWriter, r *http.Request, o *outcome, id string) {
	ctx := r.Context()
	ident, err := h.cfg.Verifier.Verify(ctx, bearerToken(r.Header.Get("Authorization")))
	if err != nil {
		h.refuse(w, o, refusalFor(err, "unauthenticated"), err)
		return
	}
	// A blob that is not one resolves the key alone, whatever the state
	// of its versions.
	t, err := h.cfg.Keys.ResolveEKM(ctx, id, []byte{})
	if err != nil {
		h.refuse(w, o, refusalFor(err, "not_found"), err)
		return
	}
	app, refusal, err := h.identify(ctx, ident.Email)
	if err != nil {
		h.refuse(w, o, refusal, err)
		return
	}
	o.app = app.Name
	ctx = kms.WithCaller(ctx, caller(r, app))
	key, _ := resource.ParseKind(t.Key, resource.KindCryptoKey)
	methods := []string{}
	for _, m := range []struct{ name, perm string }{{"wrap", iam.PermEKMWrap}, {"unwrap", iam.PermEKMUnwrap}} {
		err := h.cfg.Authorizer.Authorize(ctx, m.perm, key)
		switch kmserr.Code(err) {
		case codes.OK, codes.ResourceExhausted:
			methods = append(methods, m.name)
		case codes.PermissionDenied:
		default:
			h.refuse(w, o, refusalFor(err, "unavailable"), err)
			return
		}
	}
	if len(methods) == 0 {
		h.refuse(w, o, "permission_denied", kmserr.PermissionDenied("app %s may neither wrap nor unwrap with this key (it needs roles/custos.ekmUser on it)", app.Name))
		return
	}
	_, werr := h.cfg.Keys.ResolveEKM(ctx, id, nil)
	o.code = http.StatusOK
	body, _ := json.Marshal(map[string]any{
		"service":       "Custos External Key Manager",
		"version":       h.cfg.Version,
		"protocol":      "google.cloud.ekms.v0",
		"keyUri":        h.cfg.PublicURL + keysPrefix + id,
		"methods":       methods,
		"wrapAvailable": werr == nil,
	})
	writeJSON(w, o.code, body)
}

// identify maps a verified email to an enabled app. A refusal is
// PERMISSION_DENIED; a fault reading the app is returned as it is (503 or
// 500), never as a refusal.
func (h *Handler) identify(ctx context.Context, email string) (*auth.App, string, error) {
	app, err := h.cfg.Apps.AppByGoogleEmail(ctx, email)
	if kmserr.Code(err) == codes.NotFound {
		return nil, "unknown_email", kmserr.PermissionDenied("the Google service account %s is bound to no Custos app (create one with --google-service-account)", printable(email, 254))
	}
	if err != nil {
		return nil, refusalFor(err, "unavailable"), err
	}
	if app.Disabled {
		return app, "app_disabled", kmserr.PermissionDenied("app %s is disabled", app.Name)
	}
	return app, "", nil
}

// caller is the kms.Caller of a request made by app.
func caller(r *http.Request, app *auth.App) *kms.Caller {
	return &kms.Caller{Principal: app.Principal(), App: app.Name, AuthMethod: AuthMethod,
		ClientAddress: r.RemoteAddr, RequestID: requestID(r)}
}

type requestIDKey struct{}

// withRequestID gives the request an id, sent back as X-Request-Id and
// kept in the audit log (the client's own header is not trusted).
func withRequestID(w http.ResponseWriter, r *http.Request) *http.Request {
	b := make([]byte, 12)
	rand.Read(b)
	id := base64.RawURLEncoding.EncodeToString(b)
	w.Header().Set("X-Request-Id", id)
	return r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
}

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey{}).(string)
	return id
}

// refusalFor names a refusal for the metrics by the error's code, with
// def for the code the step expects.
func refusalFor(err error, def string) string {
	switch kmserr.Code(err) {
	case codes.Unauthenticated, codes.NotFound, codes.PermissionDenied:
		return def
	case codes.Unavailable, codes.Aborted, codes.DeadlineExceeded, codes.Canceled:
		return "unavailable"
	case codes.ResourceExhausted:
		return "quota"
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return "invalid_request"
	}
	return "internal"
}

// call is one wrap or unwrap being decided, for the audit log.
type call struct {
	op      Op
	id      string
	email   string
	req     *Request
	target  *kms.EKMTarget
	app     *auth.App
	refusal string
}

// serveOp answers :wrap and :unwrap, checking in the order the contract
// fixes: 401, 404, 403, 400, 429, then 503/500 for faults met on the way.
// Every decision from the 404 check on is recorded in the audit log (a
// 401 is not: the caller is nobody, and anyone could fill the log with
// them; the metrics count them).
func (h *Handler) serveOp(w http.ResponseWriter, r *http.Request, o *outcome, op Op, id string) {
	ctx := r.Context()
	// 401
	ident, err := h.cfg.Verifier.Verify(ctx, bearerToken(r.Header.Get("Authorization")))
	if err != nil {
		h.refuse(w, o, refusalFor(err, "unauthenticated"), err)
		return
	}
	c := &call{op: op, id: id, email: ident.Email}

	// The body is read now (the version an unwrap needs is in the blob)
	// but its faults are told after 404 and 403.
	req, ctxOK, reqErr := h.readBody(r, op)
	c.req = req

	// 404: the key, and the version the call needs.
	var blob []byte // nil: the primary (wrap)
	if op == OpUnwrap {
		blob = []byte{} // not a blob: resolves the key alone, 400 later
		if req != nil && len(req.WrappedBlob) > 0 {
			blob = req.WrappedBlob
		}
	}
	// The audit principal until the app is known: the Google identity.
	actx := kms.WithCaller(ctx, &kms.Caller{Principal: "google:" + printable(ident.Email, 254), AuthMethod: AuthMethod,
		ClientAddress: r.RemoteAddr, RequestID: requestID(r)})
	t, err := h.cfg.Keys.ResolveEKM(ctx, id, blob)
	if err != nil {
		h.decide(w, actx, o, c, refusalFor(err, "not_found"), err)
		return
	}
	c.target = t

	// 403: who, whether the app may, and the justification.
	app, refusal, err := h.identify(ctx, ident.Email)
	c.app = app
	if app != nil {
		o.app = app.Name
		actx = kms.WithCaller(ctx, caller(r, app))
	}
	if err != nil {
		h.decide(w, actx, o, c, refusal, err)
		return
	}
	key, err := resource.ParseKind(t.Key, resource.KindCryptoKey)
	if err != nil {
		h.decide(w, actx, o, c, "internal", kmserr.Internal(err, "internal error"))
		return
	}
	perm := iam.PermEKMWrap
	if op == OpUnwrap {
		perm = iam.PermEKMUnwrap
	}
	// The authorizer also takes the quota: RESOURCE_EXHAUSTED means the
	// permission was granted but the quota is spent. It is told after the
	// justification and the request's validity (429 comes after 403 and
	// 400), never before.
	var quotaErr error
	switch err := h.cfg.Authorizer.Authorize(actx, perm, key); kmserr.Code(err) {
	case codes.OK:
	case codes.ResourceExhausted:
		quotaErr = err
	case codes.PermissionDenied:
		h.decide(w, actx, o, c, "permission_denied", kmserr.PermissionDenied(
			"app %s lacks %s on %s (grant it roles/custos.ekmUser on the key)", app.Name, perm, t.Key))
		return
	default:
		h.decide(w, actx, o, c, refusalFor(err, "unavailable"), err)
		return
	}
	if ctxOK {
		pol, err := h.cfg.Policies.Effective(ctx, app)
		if err != nil {
			h.decide(w, actx, o, c, refusalFor(err, "unavailable"), err)
			return
		}
		if why := pol.Decide(req.Context.Justification); why != "" {
			h.decide(w, actx, o, c, string(why), justificationError(why, req.Context.Justification, app.Name))
			return
		}
	}

	// 400: the request itself.
	if reqErr != nil {
		h.decide(w, actx, o, c, "invalid_request", reqErr)
		return
	}
	if err := checkSizes(op, req); err != nil {
		h.decide(w, actx, o, c, "invalid_request", err)
		return
	}
	var out []byte
	if op == OpUnwrap {
		// A blob that does not open is 400, which comes before 429: the
		// unwrap is tried, and its result dropped if over quota.
		pt, err := t.Unwrap(req.WrappedBlob, req.AdditionalAuthenticatedData)
		if err != nil {
			refusal := "bad_blob"
			if kmserr.Code(err) != codes.InvalidArgument {
				refusal = refusalFor(err, "internal")
			}
			h.decide(w, actx, o, c, refusal, err)
			return
		}
		out = pt
	}

	// 429
	if quotaErr != nil {
		clear(out)
		h.decide(w, actx, o, c, "quota", quotaErr)
		return
	}

	var body []byte
	if op == OpWrap {
		blob, err := t.Wrap(req.Plaintext, req.AdditionalAuthenticatedData)
		if err != nil {
			h.decide(w, actx, o, c, refusalFor(err, "internal"), err)
			return
		}
		body = wrapAnswer(blob)
	} else {
		body, err = json.Marshal(unwrapResponse{Plaintext: out, AllowedCacheDuration: durationJSON(h.cfg.CacheDuration)})
		clear(out)
		if err != nil {
			h.decide(w, actx, o, c, "internal", kmserr.Internal(err, "internal error"))
			return
		}
	}
	// Recorded before the answer leaves: no record, no answer.
	if err := h.record(actx, c, nil); err != nil {
		clear(body)
		o.refusal = "audit_failed"
		o.code = writeError(w, unavailableAudit(err))
		return
	}
	o.code = http.StatusOK
	writeJSON(w, o.code, body)
	clear(body)
}

// unavailableAudit keeps the audit log's UNAVAILABLE error (its message is
// safe) and turns anything else into one.
func unavailableAudit(err error) error {
	if kmserr.Code(err) == codes.Unavailable {
		return err
	}
	return kmserr.Unavailable(err, "the call could not be recorded in the audit log")
}

// decide records a refusal and answers it. If the audit log cannot record
// it, the answer is 503: a refusal must not be lost either, and 503 is
// never taken by Cloud KMS for a decision.
func (h *Handler) decide(w http.ResponseWriter, actx context.Context, o *outcome, c *call, refusal string, err error) {
	c.refusal = refusal
	if err != nil && h.unrecorded(actx, c) {
		h.refuse(w, o, refusal, err)
		return
	}
	if aerr := h.record(actx, c, err); aerr != nil {
		o.refusal = "audit_failed"
		o.code = writeError(w, unavailableAudit(aerr))
		return
	}
	h.refuse(w, o, refusal, err)
}

// unrecorded reports whether the refusal of c goes without an audit entry:
// its caller is no app, and this minute's budget of such entries is spent
// (see Handler).
func (h *Handler) unrecorded(ctx context.Context, c *call) bool {
	if c.app != nil {
		return false
	}
	// Before the app is identified (a 404 comes first), look it up: the
	// calls of an app are always recorded. Whether the email is an app's
	// does not depend on whether its caller is still there: with the
	// request's context, a stranger that cancels its calls would make the
	// lookup fail, and every refusal be recorded past the budget.
	if _, err := h.cfg.Apps.AppByGoogleEmail(context.WithoutCancel(ctx), c.email); kmserr.Code(err) != codes.NotFound {
		return false
	}
	ok, ended := h.strangers.take(h.cfg.Now(), h.cfg.StrangerAuditsPerMinute)
	if ended > 0 {
		h.log.Warn("ekm: refusals of Google identities that are no app went over the audit budget; counted, not recorded",
			"unrecorded", ended, "budget_per_minute", h.cfg.StrangerAuditsPerMinute)
	}
	if !ok {
		h.metrics.unrecorded()
	}
	return !ok
}

// maxDetail bounds each request-supplied value kept in the audit log.
const maxDetail = 512

// record writes the call's audit entry. The Custos key name is the
// resource when the key resolved, the key URI otherwise.
func (h *Handler) record(ctx context.Context, c *call, err error) error {
	details := make(map[string]string, 10)
	details["email"], details["decision"] = printable(c.email, 254), "allowed"
	if err != nil {
		details["decision"] = "refused"
		details["refusal"] = c.refusal
	}
	res := h.cfg.PublicURL + keysPrefix + printable(c.id, 128)
	if c.target != nil {
		res = c.target.Key
		if c.target.Version != "" {
			details["version"] = c.target.Version
		}
	}
	if c.app != nil {
		details["app"] = c.app.Name
	}
	justification := ""
	if c.req != nil {
		rc := c.req.Context
		j := rc.Justification
		justification = j.Reason
		details["justificationClass"] = j.Class.String()
		details["isKeyHealthCheck"] = strconv.FormatBool(rc.IsKeyHealthCheck)
		for _, d := range [...]struct{ k, v string }{
			{"fullResourceName", rc.FullResourceName},
			{"relativeResourceName", rc.RelativeResourceName},
			{"keyPath", c.req.KeyPath},
			{"keyUriPrefix", c.req.KeyURIPrefix},
		} {
			if d.v != "" {
				details[d.k] = printable(d.v, maxDetail)
			}
		}
	}
	return h.cfg.Auditor.Record(ctx, kms.Event{
		Method:        c.op.Method(),
		Resource:      res,
		Err:           err,
		DataAccess:    true,
		Justification: justification,
		Details:       details,
	})
}

// justificationError is the 403 of a refused justification, naming it.
func justificationError(why Refusal, j Justification, app string) error {
	switch why {
	case RefusedMissing:
		return kmserr.PermissionDenied("the request carries no access justification, and the justification policy of app %s requires one", app)
	case RefusedUnknown:
		return kmserr.PermissionDenied("the access justification %q is unknown to Custos, and the justification policy of app %s refuses unknown reasons", j.Reason, app)
	default:
		return kmserr.PermissionDenied("the access justification %s is not allowed by the justification policy of app %s", j.Reason, app)
	}
}

// readBody reads and decodes the body, bounded by MaxBody. Its errors are
// INVALID_ARGUMENT.
func (h *Handler) readBody(r *http.Request, op Op) (*Request, bool, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return nil, false, kmserr.InvalidArgument("", "cannot read the request body")
	}
	if len(body) > MaxBody {
		return nil, false, kmserr.InvalidArgument("", "the request body exceeds %d bytes", MaxBody)
	}
	req, ctxOK, err := DecodeRequest(op, body)
	clear(body)
	if err != nil {
		var re *RequestError
		if errors.As(err, &re) {
			return req, ctxOK, kmserr.InvalidArgument(re.Field, "%s", re.Error())
		}
		return req, ctxOK, kmserr.InvalidArgument("", "invalid request")
	}
	return req, ctxOK, nil
}

// checkSizes applies Cloud KMS's limits and the fields each call needs.
func checkSizes(op Op, req *Request) error {
	if len(req.AdditionalAuthenticatedData) > kms.MaxAAD {
		return kmserr.InvalidArgument("additionalAuthenticatedData", "is %d bytes; the limit is %d", len(req.AdditionalAuthenticatedData), kms.MaxAAD)
	}
	switch op {
	case OpWrap:
		if len(req.Plaintext) > kms.MaxPlaintext {
			return kmserr.InvalidArgument("plaintext", "is %d bytes; the limit is %d", len(req.Plaintext), kms.MaxPlaintext)
		}
	case OpUnwrap:
		if len(req.WrappedBlob) == 0 {
			return kmserr.InvalidArgument("wrappedBlob", "is required")
		}
		if len(req.WrappedBlob) > kms.MaxCiphertext {
			return kmserr.InvalidArgument("wrappedBlob", "is %d bytes; the limit is %d", len(req.WrappedBlob), kms.MaxCiphertext)
		}
	}
	return nil
}
