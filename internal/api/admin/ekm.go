// SPDX-License-Identifier: Apache-2.0

package admin

import (
	"context"
	"net/http"

	"github.com/custos-kms/custos/internal/ekm"
)

// JustificationPolicies reads and sets the Key Access Justifications
// policies of apps; *ekm.Policies implements it. Each method authorizes
// its caller: reading needs custos.apps.get on the app's home project,
// setting also custos.apps.update (the built-in admin has both).
type JustificationPolicies interface {
	Get(ctx context.Context, app string) (*ekm.StoredPolicy, error)
	Set(ctx context.Context, app string, p ekm.Policy) (*ekm.StoredPolicy, error)
}

var _ JustificationPolicies = (*ekm.Policies)(nil)

// RegisterJustificationPolicies registers the routes of apps' Cloud EKM
// justification policies:
//
//	GET /admin/v1/apps/{name}/justificationPolicy
//	PUT /admin/v1/apps/{name}/justificationPolicy   {"allowedReasons":[...],"allowAll":bool,"allowMissing":bool,"allowUnknown":bool}
//
// Both answer {"app","allowAll","allowedReasons","allowMissing",
// "allowUnknown","default","updateTime"}, where default is true for an app
// that has no policy of its own (every known reason, no missing or unknown
// one). allowedReasons are google.cloud.kms.v1.AccessReason names; an
// unknown name, REASON_UNSPECIFIED, or a list with allowAll is refused
// with INVALID_ARGUMENT. A PUT replaces the whole policy: a field left out
// is false (or empty).
func RegisterJustificationPolicies(h *Handler, p JustificationPolicies) {
	r := policyRoutes{p}
	h.Handle("GET /admin/v1/apps/{name}/justificationPolicy", r.get)
	h.Handle("PUT /admin/v1/apps/{name}/justificationPolicy", r.set)
}

type policyRoutes struct{ p JustificationPolicies }

func (r policyRoutes) get(ctx context.Context, req *http.Request) (any, error) {
	return r.p.Get(ctx, req.PathValue("name"))
}

func (r policyRoutes) set(ctx context.Context, req *http.Request) (any, error) {
	var body struct {
		AllowedReasons []string `json:"allowedReasons"`
		AllowAll       bool     `json:"allowAll"`
		AllowMissing   bool     `json:"allowMissing"`
		AllowUnknown   bool     `json:"allowUnknown"`
	}
	if err := DecodeJSON(req, &body); err != nil {
		return nil, err
	}
	return r.p.Set(ctx, req.PathValue("name"), ekm.Policy{
		AllowAll:       body.AllowAll,
		AllowedReasons: body.AllowedReasons,
		AllowMissing:   body.AllowMissing,
		AllowUnknown:   body.AllowUnknown,
	})
}
