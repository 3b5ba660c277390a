// SPDX-License-Identifier: Apache-2.0

// Package iam decides who may do what: roles, bindings on projects, key
// rings and keys, inherited downwards. It answers from policies alone, never
// from the resources themselves, so that a refusal reveals nothing.
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
