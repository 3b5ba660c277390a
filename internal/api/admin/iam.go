// SPDX-License-Identifier: Apache-2.0

package admin

import (
	"context"
	"encoding/json"
	"io"
	"net/http"

	"cloud.google.com/go/iam/apiv1/iampb"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/custos-kms/custos/internal/iam"
	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
)

// Groups manages the groups of apps that policies can name as
// "group:NAME"; *iam.Authorizer implements it. Each method lets only the
// admin through.
type Groups interface {
	ListGroups(ctx context.Context) ([]iam.Group, error)
	GetGroup(ctx context.Context, name string) (*iam.Group, error)
	SetGroup(ctx context.Context, name string, apps []string) (*iam.Group, error)
	DeleteGroup(ctx context.Context, name string) error
}

// RegisterIAM registers the IAM routes:
//
//	GET    /admin/v1/iam/{resource...}  the policy of a project, key ring, crypto key or import job
//	PUT    /admin/v1/iam/{resource...}  set it; the body is the policy
//	GET    /admin/v1/roles              the roles and their permissions -> {"roles":[{"name","includedPermissions"}]}
//	GET    /admin/v1/groups             -> {"groups":[{"name","apps"}]}
//	GET    /admin/v1/groups/{name}      -> {"name","apps"}
//	PUT    /admin/v1/groups/{name}      create or replace: {"apps":["billing",...]}
//	DELETE /admin/v1/groups/{name}
//
// A policy is the JSON form (protojson) of google.iam.v1.Policy, as Cloud
// KMS's REST API writes it: {"version":1,"etag":"BASE64","bindings":
// [{"role":"roles/...","members":["app:NAME","group:NAME"]}]}. A PUT whose
// etag is not the current one is refused with ABORTED (HTTP 409); a PUT
// without etag overwrites. The policy routes take every resource kind so
// that clients (the CLI's iam get, set, add-binding and remove-binding) have
// one code path; the policies of key rings, keys and import jobs are the
// same ones that Cloud KMS's :getIamPolicy and :setIamPolicy serve.
//
// srv must accept project names (grpcapi.NewAdminIAMServer). Who may call
// what is srv's and groups' business: the getIamPolicy and setIamPolicy
// permissions for policies, the admin alone for groups. groups may be nil:
// then the group routes are not registered.
func RegisterIAM(h *Handler, srv iampb.IAMPolicyServer, groups Groups) {
	r := iamRoutes{srv: srv, groups: groups}
	h.Handle("GET /admin/v1/iam/{resource...}", r.getPolicy)
	h.Handle("PUT /admin/v1/iam/{resource...}", r.setPolicy)
	h.Handle("GET /admin/v1/roles", iamListRoles)
	if groups != nil {
		h.Handle("GET /admin/v1/groups", r.listGroups)
		h.Handle("GET /admin/v1/groups/{name}", r.getGroup)
		h.Handle("PUT /admin/v1/groups/{name}", r.setGroup)
		h.Handle("DELETE /admin/v1/groups/{name}", r.deleteGroup)
	}
}

type iamRoutes struct {
	srv    iampb.IAMPolicyServer
	groups Groups
}

// iamPolicyJSON writes a policy as Cloud KMS's REST API does.
func iamPolicyJSON(p *iampb.Policy) (any, error) {
	b, err := protojson.Marshal(p)
	if err != nil {
		return nil, kmserr.Internal(err, "internal error")
	}
	return json.RawMessage(b), nil
}

func (r iamRoutes) getPolicy(ctx context.Context, req *http.Request) (any, error) {
	p, err := r.srv.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: req.PathValue("resource")})
	if err != nil {
		return nil, err
	}
	return iamPolicyJSON(p)
}

func (r iamRoutes) setPolicy(ctx context.Context, req *http.Request) (any, error) {
	body, err := io.ReadAll(io.LimitReader(req.Body, MaxBody+1))
	if err != nil {
		return nil, kmserr.InvalidArgument("", "cannot read the request body")
	}
	if len(body) > MaxBody {
		return nil, kmserr.InvalidArgument("", "request body exceeds %d bytes", MaxBody)
	}
	p := new(iampb.Policy)
	if err := protojson.Unmarshal(body, p); err != nil {
		return nil, kmserr.InvalidArgument("policy", "the body is not a google.iam.v1.Policy in JSON: %v", err)
	}
	out, err := r.srv.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: req.PathValue("resource"), Policy: p})
	if err != nil {
		return nil, err
	}
	return iamPolicyJSON(out)
}

// iamRoleJSON is a role as Google's IAM API shows one.
type iamRoleJSON struct {
	Name                string   `json:"name"`
	IncludedPermissions []string `json:"includedPermissions"`
}

// iamListRoles answers the roles policies may bind. Any authenticated
// caller may read them: they are public knowledge.
func iamListRoles(ctx context.Context, _ *http.Request) (any, error) {
	if kms.CallerFrom(ctx) == nil {
		return nil, kmserr.Unauthenticated("the request has no valid credential")
	}
	var out struct {
		Roles []iamRoleJSON `json:"roles"`
	}
	for _, name := range iam.Roles() {
		out.Roles = append(out.Roles, iamRoleJSON{Name: name, IncludedPermissions: iam.Permissions(name)})
	}
	return out, nil
}

func (r iamRoutes) listGroups(ctx context.Context, _ *http.Request) (any, error) {
	gs, err := r.groups.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	if gs == nil {
		gs = []iam.Group{}
	}
	return struct {
		Groups []iam.Group `json:"groups"`
	}{gs}, nil
}

func (r iamRoutes) getGroup(ctx context.Context, req *http.Request) (any, error) {
	return r.groups.GetGroup(ctx, req.PathValue("name"))
}

func (r iamRoutes) setGroup(ctx context.Context, req *http.Request) (any, error) {
	var in struct {
		Apps []string `json:"apps"`
	}
	if err := DecodeJSON(req, &in); err != nil {
		return nil, err
	}
	return r.groups.SetGroup(ctx, req.PathValue("name"), in.Apps)
}

func (r iamRoutes) deleteGroup(ctx context.Context, req *http.Request) (any, error) {
	return nil, r.groups.DeleteGroup(ctx, req.PathValue("name"))
}
