// SPDX-License-Identifier: Apache-2.0

package auth_test

import (
	"context"

	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
)

// The official client is imported as kms in client_test.go; the core's
// context helpers live here, so that the two names never meet in a file.

func withCaller(ctx context.Context, c *kms.Caller) context.Context { return kms.WithCaller(ctx, c) }

func kmsCallerFrom(ctx context.Context) string {
	c := kms.CallerFrom(ctx)
	if c == nil {
		return ""
	}
	return c.Principal + " " + c.AuthMethod
}

// adminOnly lets the admin do anything, anyone else nothing.
type adminOnly struct{}

func (adminOnly) Authorize(ctx context.Context, perm string, res resource.Name) error {
	if c := kms.CallerFrom(ctx); c != nil && c.Admin {
		return nil
	}
	return kmserr.PermissionDenied("Permission '%s' denied on resource '%s' (or it may not exist).", perm, res)
}
