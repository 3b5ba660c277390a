// SPDX-License-Identifier: Apache-2.0

// Package iam decides who may do what: roles, bindings on projects, key
// rings and keys, inherited downwards. It answers from policies alone, never
// from the resources themselves, so that a refusal reveals nothing.
//
// # Roles
//
// The roles are Cloud KMS's predefined roles, with the permissions Google
// publishes for them, and two of Custos's own ([Roles], [Permissions];
// the table is in roles.go). Custom roles do not exist.
//
// # Policies
//
// A [Policy] binds roles to members, "app:NAME" or "group:NAME" (a [Group]
// of apps), on a project, a key ring, a crypto key or an import job. The
// permissions of an app on a resource are the union of what the policies of
// the resource and of each of its ancestors grant it. [Authorizer]
// implements kms.Authorizer over them and serves the IAM methods
// ([Authorizer.GetIamPolicy], [Authorizer.SetIamPolicy],
// [Authorizer.TestIamPermissions]). The built-in admin holds every
// permission and is not a member of any policy; [AdminOnly] is the
// authorizer that knows only it.
//
// # Quotas
//
// [Quotas] limits requests per minute per app and per project;
// [WithQuotas] puts it behind an authorizer, so that the core reaches it
// through kms.Authorizer. A request over quota fails with a [QuotaError].
package iam

import (
	"context"

	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
)

// AdminOnly grants every permission to the built-in admin and none to
// anyone else. It is the authorizer until policies exist.
type AdminOnly struct{}

var _ kms.Authorizer = AdminOnly{}

// Authorize implements kms.Authorizer.
func (AdminOnly) Authorize(ctx context.Context, perm string, res resource.Name) error {
	c := kms.CallerFrom(ctx)
	if c == nil {
		return kmserr.Unauthenticated("the request has no valid credential")
	}
	if c.Admin {
		return nil
	}
	return Denied(perm, res)
}

// Denied is the PERMISSION_DENIED error of Cloud KMS, worded so that it
// says nothing about whether the resource exists.
func Denied(perm string, res resource.Name) error {
	return kmserr.PermissionDenied("Permission '%s' denied on resource '%s' (or it may not exist).", perm, res.String())
}
