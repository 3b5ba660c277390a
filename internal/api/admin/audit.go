// SPDX-License-Identifier: Apache-2.0

package admin

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/custos-kms/custos/internal/api/rest"
	"github.com/custos-kms/custos/internal/audit"
	"github.com/custos-kms/custos/internal/iam"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
)

// Permissions of the audit routes (see internal/iam).
const (
	// PermAuditList lets a caller list and export the entries on a
	// resource and below it (roles/custos.auditViewer). Listing the
	// whole log, and verifying it, is for the admin only.
	PermAuditList = iam.PermAuditList
	// PermAuditConfigsGet and PermAuditConfigsUpdate let a caller read
	// and set data-access recording on a resource.
	PermAuditConfigsGet    = iam.PermAuditConfigsGet
	PermAuditConfigsUpdate = iam.PermAuditConfigsUpdate
)

// Default and largest page sizes of GET /admin/v1/audit. Export has no
// limit unless the query sets one.
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
)

// RegisterAudit registers the audit routes:
//
//	GET  /admin/v1/audit                      entries as {"entries":[...]}
//	GET  /admin/v1/audit:export               entries as JSON lines
//	POST /admin/v1/audit:verify               the audit.Report
//	GET  /admin/v1/auditConfig/{resource...}  {"resource","dataAccess"}
//	PUT  /admin/v1/auditConfig/{resource...}  body {"dataAccess": bool}
//
// List and export take the query parameters after and before (RFC 3339;
// after <= time < before), principal, resource (that resource and below),
// method, status (a gRPC code name such as PERMISSION_DENIED), afterSeq and
// limit (list: default 100, at most 1000). Without a resource they read
// the whole log and need the admin; with one, custos.audit.list on it.
// Verify needs the admin. The config routes need custos.auditConfigs.get or
// .update on the resource; every PUT is recorded ("SetAuditConfig").
func RegisterAudit(h *Handler, l *audit.Log, authz kms.Authorizer) {
	a := &auditRoutes{log: l, authz: authz}
	h.Handle("GET /admin/v1/audit", a.list)
	h.HandleRaw("GET /admin/v1/audit:export", func(w http.ResponseWriter, r *http.Request) { a.export(h, w, r) })
	h.Handle("POST /admin/v1/audit:verify", a.verify)
	h.Handle("GET /admin/v1/auditConfig/{resource...}", a.getConfig)
	h.Handle("PUT /admin/v1/auditConfig/{resource...}", a.putConfig)
}

type auditRoutes struct {
	log   *audit.Log
	authz kms.Authorizer
}

type auditListResponse struct {
	Entries []audit.Entry `json:"entries"`
}

// auditConfigJSON is the body of the config routes' answers.
type auditConfigJSON struct {
	Resource   string `json:"resource"`
	DataAccess bool   `json:"dataAccess"`
}

func (a *auditRoutes) list(ctx context.Context, r *http.Request) (any, error) {
	q, err := auditQuery(r.URL.Query(), defaultAuditLimit)
	if err != nil {
		return nil, err
	}
	if err := a.authorizeQuery(ctx, q); err != nil {
		return nil, err
	}
	entries, err := a.log.List(ctx, q)
	if err != nil {
		return nil, err
	}
	if entries == nil {
		entries = []audit.Entry{}
	}
	return auditListResponse{Entries: entries}, nil
}

// export streams the entries as JSON lines. It authenticates itself,
// since its answer is not one JSON value.
func (a *auditRoutes) export(h *Handler, w http.ResponseWriter, r *http.Request) {
	ctx, err := h.authenticate(r)
	if err != nil {
		rest.WriteError(w, err)
		return
	}
	q, err := auditQuery(r.URL.Query(), 0)
	if err == nil {
		err = a.authorizeQuery(ctx, q)
	}
	if err != nil {
		rest.WriteError(w, err)
		return
	}
	lw := &lazyWriter{w: w}
	err = a.log.Export(ctx, lw, q)
	switch {
	case err != nil && !lw.started:
		rest.WriteError(w, err)
	case err != nil:
		// The status line is sent: abort the connection, so that the
		// client sees a failed download rather than a short export it
		// could take for the whole log. net/http does not log this panic.
		panic(http.ErrAbortHandler)
	case !lw.started:
		lw.start()
	}
}

// lazyWriter sends the status and headers of an export with its first
// bytes, so that an error before them can still be answered as an error.
type lazyWriter struct {
	w       http.ResponseWriter
	started bool
}

func (lw *lazyWriter) start() {
	lw.started = true
	hdr := lw.w.Header()
	hdr.Set("Content-Type", "application/x-ndjson")
	hdr.Set("X-Content-Type-Options", "nosniff")
	lw.w.WriteHeader(http.StatusOK)
}

func (lw *lazyWriter) Write(p []byte) (int, error) {
	if !lw.started {
		lw.start()
	}
	return lw.w.Write(p)
}

func (a *auditRoutes) verify(ctx context.Context, r *http.Request) (any, error) {
	if err := requireAdmin(ctx, "verify the audit log"); err != nil {
		return nil, err
	}
	rep, err := a.log.Verify(ctx)
	if err != nil {
		return nil, kmserr.Unavailable(err, "the audit log could not be read")
	}
	return rep, nil
}

func (a *auditRoutes) getConfig(ctx context.Context, r *http.Request) (any, error) {
	n, err := auditConfigResource(r)
	if err != nil {
		return nil, err
	}
	if err := a.authz.Authorize(ctx, PermAuditConfigsGet, n); err != nil {
		return nil, err
	}
	on, err := a.log.DataAccess(ctx, n.String())
	if err != nil {
		return nil, err
	}
	return auditConfigJSON{Resource: n.String(), DataAccess: on}, nil
}

func (a *auditRoutes) putConfig(ctx context.Context, r *http.Request) (any, error) {
	n, err := auditConfigResource(r)
	if err != nil {
		return nil, err
	}
	var body struct {
		DataAccess *bool `json:"dataAccess"`
	}
	err = a.authz.Authorize(ctx, PermAuditConfigsUpdate, n)
	if err == nil {
		if err = DecodeJSON(r, &body); err == nil && body.DataAccess == nil {
			err = kmserr.InvalidArgument("dataAccess", "is required")
		}
	}
	if err != nil {
		// A refused change is admin activity too. As in the core, the
		// call's own error is what the caller hears.
		_ = a.log.Record(ctx, kms.Event{Method: "SetAuditConfig", Resource: n.String(), Err: err})
		return nil, err
	}
	// SetDataAccess records the change itself, whatever its outcome.
	if err := a.log.SetDataAccess(ctx, n.String(), *body.DataAccess); err != nil {
		return nil, err
	}
	return auditConfigJSON{Resource: n.String(), DataAccess: *body.DataAccess}, nil
}

// auditConfigResource parses the {resource...} of a config route.
func auditConfigResource(r *http.Request) (resource.Name, error) {
	s := r.PathValue("resource")
	n, err := resource.Parse(s)
	if err != nil {
		return resource.Name{}, kmserr.InvalidArgument("resource", "%q is not a valid resource name", s)
	}
	switch n.Kind {
	case resource.KindProject, resource.KindLocation, resource.KindKeyRing, resource.KindCryptoKey:
		return n, nil
	}
	return resource.Name{}, kmserr.InvalidArgument("resource", "data-access logging is set on a project, location, key ring or crypto key, not on a %s", n.Kind)
}

// authorizeQuery lets the admin read the whole log (with any resource
// filter, including names outside Cloud KMS's such as an app's), and a
// caller with custos.audit.list on a resource read the entries on it and
// below it.
func (a *auditRoutes) authorizeQuery(ctx context.Context, q audit.Query) error {
	if c := kms.CallerFrom(ctx); q.Resource == "" || c != nil && c.Admin {
		return requireAdmin(ctx, "read the whole audit log; name a resource")
	}
	n, err := resource.Parse(q.Resource)
	if err != nil {
		return kmserr.InvalidArgument("resource", "%q is not a valid resource name", q.Resource)
	}
	return a.authz.Authorize(ctx, PermAuditList, n)
}

// requireAdmin fails unless the caller is the built-in admin.
func requireAdmin(ctx context.Context, what string) error {
	c := kms.CallerFrom(ctx)
	if c == nil {
		return kmserr.Unauthenticated("the request has no valid credential")
	}
	if !c.Admin {
		return kmserr.PermissionDenied("only the admin may %s", what)
	}
	return nil
}

// auditQueryParams are the query parameters of list and export.
var auditQueryParams = map[string]bool{
	"after": true, "before": true, "principal": true, "resource": true,
	"method": true, "status": true, "afterSeq": true, "limit": true,
}

// auditQuery decodes the query parameters of list and export. defLimit is
// the limit when none is given (0: none); a list limit is at most
// maxAuditLimit.
func auditQuery(v url.Values, defLimit int) (audit.Query, error) {
	for k, vs := range v {
		if !auditQueryParams[k] {
			return audit.Query{}, kmserr.InvalidArgument(k, "unknown query parameter")
		}
		if len(vs) > 1 {
			return audit.Query{}, kmserr.InvalidArgument(k, "given more than once")
		}
	}
	q := audit.Query{
		Principal: v.Get("principal"),
		Resource:  v.Get("resource"),
		Method:    v.Get("method"),
		Status:    strings.ToUpper(v.Get("status")),
		Limit:     defLimit,
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"after", &q.After}, {"before", &q.Before}} {
		if s := v.Get(t.name); s != "" {
			tm, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return audit.Query{}, kmserr.InvalidArgument(t.name, "%q is not an RFC 3339 time", s)
			}
			*t.dst = tm
		}
	}
	if s := v.Get("afterSeq"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return audit.Query{}, kmserr.InvalidArgument("afterSeq", "%q is not a non-negative integer", s)
		}
		q.AfterSeq = n
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || defLimit > 0 && n > maxAuditLimit {
			bound := "no maximum"
			if defLimit > 0 {
				bound = "at most " + strconv.Itoa(maxAuditLimit)
			}
			return audit.Query{}, kmserr.InvalidArgument("limit", "%q is not a positive integer (%s)", s, bound)
		}
		q.Limit = n
	}
	return q, nil
}
