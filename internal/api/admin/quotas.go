// SPDX-License-Identifier: Apache-2.0

package admin

import (
	"context"
	"net/http"

	"github.com/custos-kms/custos/internal/iam"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
)

// QuotaService manages request quotas; *iam.Quotas implements it. A target
// is "app:NAME" or "projects/PROJECT".
type QuotaService interface {
	Set(ctx context.Context, target string, rpm int) error
	Get(ctx context.Context, target string) (iam.Quota, error)
	List(ctx context.Context) ([]iam.Quota, error)
}

// RegisterQuotas registers the quota routes, for the admin only (others get
// PERMISSION_DENIED):
//
//	GET    /admin/v1/quotas            -> {"quotas":[{"target","rpm"}]}
//	GET    /admin/v1/quotas/{target}   -> {"target","rpm"}, or NOT_FOUND
//	PUT    /admin/v1/quotas/{target}   {"rpm":N} -> {"target","rpm"}; rpm 0 removes the quota
//	DELETE /admin/v1/quotas/{target}   (no error if there is none)
//
// where target is app:NAME or projects/PROJECT (the slash is part of the
// path, as in /admin/v1/quotas/projects/my-project) and rpm is requests per
// minute.
func RegisterQuotas(h *Handler, q QuotaService) {
	r := quotaRoutes{q}
	h.Handle("GET /admin/v1/quotas", r.list)
	h.Handle("GET /admin/v1/quotas/{target...}", r.get)
	h.Handle("PUT /admin/v1/quotas/{target...}", r.set)
	h.Handle("DELETE /admin/v1/quotas/{target...}", r.delete)
}

type quotaRoutes struct{ q QuotaService }

// quotaAdminOnly refuses anyone but the admin before the body is read. The
// quota service checks again; this keeps an app from learning anything
// from the validation of its request.
func quotaAdminOnly(ctx context.Context) error {
	c := kms.CallerFrom(ctx)
	if c == nil {
		return kmserr.Unauthenticated("the request has no valid credential")
	}
	if !c.Admin {
		return kmserr.PermissionDenied("only the admin may manage quotas")
	}
	return nil
}

func (r quotaRoutes) list(ctx context.Context, _ *http.Request) (any, error) {
	if err := quotaAdminOnly(ctx); err != nil {
		return nil, err
	}
	qs, err := r.q.List(ctx)
	if err != nil {
		return nil, err
	}
	if qs == nil {
		qs = []iam.Quota{}
	}
	return struct {
		Quotas []iam.Quota `json:"quotas"`
	}{qs}, nil
}

func (r quotaRoutes) get(ctx context.Context, req *http.Request) (any, error) {
	if err := quotaAdminOnly(ctx); err != nil {
		return nil, err
	}
	return r.q.Get(ctx, req.PathValue("target"))
}

// set and delete refuse a non-admin before reading the body, through
// Quotas.Set itself so that the refused attempt is in the audit log.
func (r quotaRoutes) set(ctx context.Context, req *http.Request) (any, error) {
	if quotaAdminOnly(ctx) != nil {
		return nil, r.q.Set(ctx, req.PathValue("target"), 0)
	}
	var in struct {
		RPM *int `json:"rpm"`
	}
	if err := DecodeJSON(req, &in); err != nil {
		return nil, err
	}
	if in.RPM == nil {
		return nil, kmserr.InvalidArgument("rpm", "is required (0 removes the quota)")
	}
	target := req.PathValue("target")
	if err := r.q.Set(ctx, target, *in.RPM); err != nil {
		return nil, err
	}
	return iam.Quota{Target: target, RPM: *in.RPM}, nil
}

func (r quotaRoutes) delete(ctx context.Context, req *http.Request) (any, error) {
	return nil, r.q.Set(ctx, req.PathValue("target"), 0)
}
