// SPDX-License-Identifier: Apache-2.0

package grpcapi

import (
	"context"
	"encoding/base64"

	"cloud.google.com/go/iam/apiv1/iampb"

	"github.com/custos-kms/custos/internal/iam"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
)

// IAMService is what [IAMServer] serves; *iam.Authorizer implements it.
type IAMService interface {
	GetIamPolicy(ctx context.Context, res string) (*iam.Policy, error)
	SetIamPolicy(ctx context.Context, res string, p iam.Policy, etag string) (*iam.Policy, error)
	TestIamPermissions(ctx context.Context, res string, perms []string) ([]string, error)
}

// IAMServer implements the google.iam.v1.IAMPolicy mixin of Cloud KMS
// (GetIamPolicy, SetIamPolicy, TestIamPermissions) over an [IAMService].
// It only converts between iampb and package iam's types.
type IAMServer struct {
	iampb.UnimplementedIAMPolicyServer
	svc      IAMService
	projects bool
}

var _ iampb.IAMPolicyServer = (*IAMServer)(nil)

// NewIAMServer returns the IAMPolicy server of the Cloud KMS API: it serves
// key rings, crypto keys and import jobs, and refuses project names with
// INVALID_ARGUMENT, since Cloud KMS's IAMPolicy does not serve projects
// (Resource Manager does).
func NewIAMServer(svc IAMService) *IAMServer { return &IAMServer{svc: svc} }

// NewAdminIAMServer returns an IAMPolicy server that serves projects too,
// for the admin API's /admin/v1/iam routes.
func NewAdminIAMServer(svc IAMService) *IAMServer { return &IAMServer{svc: svc, projects: true} }

// checkResource refuses project names on the Cloud KMS surface.
func (s *IAMServer) checkResource(name string) error {
	if s.projects {
		return nil
	}
	if _, err := resource.ParseKind(name, resource.KindProject); err == nil {
		return kmserr.InvalidArgument("resource", "project policies are not served by Cloud KMS's IAMPolicy; use the admin API (/admin/v1/iam/%s)", name)
	}
	return nil
}

// GetIamPolicy implements iampb.IAMPolicyServer. options.requested_policy_version
// may be 0, 1 or 3; the answer is always version 1, as Custos policies have
// no conditions.
func (s *IAMServer) GetIamPolicy(ctx context.Context, req *iampb.GetIamPolicyRequest) (*iampb.Policy, error) {
	switch v := req.GetOptions().GetRequestedPolicyVersion(); v {
	case 0, 1, 3:
	default:
		return nil, kmserr.InvalidArgument("options.requested_policy_version", "must be 0, 1 or 3, not %d", v)
	}
	if err := s.checkResource(req.GetResource()); err != nil {
		return nil, err
	}
	p, err := s.svc.GetIamPolicy(ctx, req.GetResource())
	if err != nil {
		return nil, err
	}
	return policyToProto(p)
}

// SetIamPolicy implements iampb.IAMPolicyServer. The policy's etag, if set,
// must be the current one (else ABORTED). update_mask may be empty or name
// "bindings", with "etag" and "version" also allowed; conditions and
// audit_configs are INVALID_ARGUMENT.
func (s *IAMServer) SetIamPolicy(ctx context.Context, req *iampb.SetIamPolicyRequest) (*iampb.Policy, error) {
	if err := s.checkResource(req.GetResource()); err != nil {
		return nil, err
	}
	if req.GetPolicy() == nil {
		return nil, kmserr.InvalidArgument("policy", "is required")
	}
	if paths := req.GetUpdateMask().GetPaths(); len(paths) > 0 {
		hasBindings := false
		for _, p := range paths {
			switch p {
			case "bindings":
				hasBindings = true
			case "etag", "version":
			default:
				return nil, kmserr.InvalidArgument("update_mask", "cannot update %q: only bindings, etag and version", p)
			}
		}
		if !hasBindings {
			return nil, kmserr.InvalidArgument("update_mask", "must include bindings")
		}
	}
	p, etag, err := policyFromProto(req.GetPolicy())
	if err != nil {
		return nil, err
	}
	out, err := s.svc.SetIamPolicy(ctx, req.GetResource(), p, etag)
	if err != nil {
		return nil, err
	}
	return policyToProto(out)
}

// TestIamPermissions implements iampb.IAMPolicyServer.
func (s *IAMServer) TestIamPermissions(ctx context.Context, req *iampb.TestIamPermissionsRequest) (*iampb.TestIamPermissionsResponse, error) {
	if err := s.checkResource(req.GetResource()); err != nil {
		return nil, err
	}
	perms, err := s.svc.TestIamPermissions(ctx, req.GetResource(), req.GetPermissions())
	if err != nil {
		return nil, err
	}
	return &iampb.TestIamPermissionsResponse{Permissions: perms}, nil
}

// policyToProto converts a policy; its etag is standard base64 of the
// proto's etag bytes.
func policyToProto(p *iam.Policy) (*iampb.Policy, error) {
	etag, err := base64.StdEncoding.DecodeString(p.Etag)
	if err != nil {
		return nil, kmserr.Internal(err, "internal error")
	}
	out := &iampb.Policy{Version: int32(p.Version), Etag: etag}
	for _, b := range p.Bindings {
		out.Bindings = append(out.Bindings, &iampb.Binding{Role: b.Role, Members: b.Members})
	}
	return out, nil
}

// policyFromProto converts a policy being set and returns its etag.
func policyFromProto(p *iampb.Policy) (iam.Policy, string, error) {
	if len(p.GetAuditConfigs()) > 0 {
		return iam.Policy{}, "", kmserr.InvalidArgument("policy.audit_configs", "audit configs are not supported")
	}
	out := iam.Policy{Version: int(p.GetVersion())}
	for _, b := range p.GetBindings() {
		if b.GetCondition() != nil {
			return iam.Policy{}, "", kmserr.InvalidArgument("policy.bindings.condition", "conditional role bindings are not supported (role %s)", b.GetRole())
		}
		out.Bindings = append(out.Bindings, iam.Binding{Role: b.GetRole(), Members: b.GetMembers()})
	}
	var etag string
	if len(p.GetEtag()) > 0 {
		etag = base64.StdEncoding.EncodeToString(p.GetEtag())
	}
	return out, etag, nil
}
